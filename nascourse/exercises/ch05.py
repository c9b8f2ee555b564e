"""Exercises of chapter 05, "Incomplete training": reference solutions and their checks.

Read the references only after trying: they are the answers.
"""

from __future__ import annotations

import itertools
import math
import random
from collections import Counter
from typing import Callable, Sequence

import numpy as np
import torch

from .core import Case, CheckResult, Exercise

__all__ = ["kendall_tau_b", "top_k_hit_rate", "recalibrated_statistics", "successive_halving_round",
           "extrapolate_ilog2"]


# 1. Kendall's tau-b by hand ------------------------------------------------------------------------
def _kendall_tau_b(a: Sequence[float], b: Sequence[float]) -> float:
    concordant_minus_discordant = untied_a = untied_b = 0
    for i in range(len(a)):
        for j in range(i + 1, len(a)):
            sign_a = (a[i] > a[j]) - (a[i] < a[j])  # +1, 0 (tie) or -1
            sign_b = (b[i] > b[j]) - (b[i] < b[j])
            concordant_minus_discordant += sign_a * sign_b  # a pair tied on either side adds 0
            untied_a += sign_a != 0
            untied_b += sign_b != 0
    return concordant_minus_discordant / math.sqrt(untied_a * untied_b)


kendall_tau_b = Exercise(
    "kendall_tau_b",
    _kendall_tau_b,
    [
        Case("the same order", ([0.1, 0.5, 0.3, 0.9], [1.0, 3.0, 2.0, 4.0])),
        Case("the reversed order", ([1, 2, 3, 4, 5], [5, 4, 3, 2, 1])),
        Case("no ties, mixed", ([0.91, 0.95, 0.88, 0.97, 0.93], [0.80, 0.90, 0.85, 0.70, 0.95])),
        Case("ties in the estimate (two paths score the same)", ([0.5, 0.5, 0.7, 0.2, 0.7], [0.90, 0.94, 0.96, 0.85, 0.93])),
        Case("ties on both sides", ([1, 1, 2, 2, 3, 3], [1, 2, 1, 3, 3, 3])),
    ],
    hint="Loop over all pairs i < j. sign_a = sign(a[i] - a[j]), sign_b likewise; add sign_a * sign_b (concordant "
    "+1, discordant -1, tied on either side 0). tau-b divides by sqrt(n_0 - n_a) * sqrt(n_0 - n_b): the numbers of "
    "pairs NOT tied in a and NOT tied in b. Dividing by all n(n-1)/2 pairs is tau-a, which shrinks under ties.",
)


# 2. The top-k hit rate --------------------------------------------------------------------------------
def _top_k_hit_rate(estimate: Sequence[float], truth: Sequence[float], k: int) -> float:
    best_by_estimate = set(np.argsort(-np.asarray(estimate, dtype=float), kind="stable")[:k].tolist())
    best_by_truth = set(np.argsort(-np.asarray(truth, dtype=float), kind="stable")[:k].tolist())
    return len(best_by_estimate & best_by_truth) / k


top_k_hit_rate = Exercise(
    "top_k_hit_rate",
    _top_k_hit_rate,
    [
        Case("a perfect estimate", ([0.2, 0.9, 0.5, 0.7], [0.3, 0.8, 0.4, 0.6], 2)),
        Case("one of the two best found", ([0.9, 0.1, 0.8, 0.3, 0.2], [0.5, 0.9, 0.8, 0.4, 0.1], 2)),
        Case("a reversed estimate", ([5.0, 4.0, 3.0, 2.0, 1.0, 0.0], [0.0, 1.0, 2.0, 3.0, 4.0, 5.0], 3)),
        Case("k = 1: is the estimate's favourite the true best?", ([0.3, 0.6, 0.5], [0.1, 0.2, 0.9], 1)),
        Case("ten candidates, the top three", ([0.1, 0.9, 0.3, 0.8, 0.5, 0.2, 0.7, 0.4, 0.6, 0.0],
                                             [0.2, 0.7, 0.1, 0.9, 0.3, 0.6, 0.8, 0.0, 0.5, 0.4], 3)),
    ],
    hint="Take the indices of the k HIGHEST values of the estimate and the k highest of the truth (higher is "
    "better on both sides), and return the size of their intersection divided by k (not by n).",
)


# 3. BatchNorm recalibration -----------------------------------------------------------------------------
def _recalibrated_statistics(batches: Sequence[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
    means = torch.stack([x.mean(dim=(0, 2, 3)) for x in batches])  # (batches, C)
    variances = torch.stack([x.transpose(0, 1).flatten(1).var(dim=1, unbiased=True) for x in batches])  # (batches, C)
    return means.mean(dim=0), variances.mean(dim=0)  # momentum=None: every batch counts once, whatever its size


def _batches_case(seed: int, sizes: Sequence[int], channels: int, shifts: Sequence[float]) -> Callable[[], tuple]:
    def make() -> tuple:
        generator = torch.Generator().manual_seed(seed)
        return ([torch.randn(size, channels, 3, 3, generator=generator, dtype=torch.float64) * (1 + i) + shift
                 for i, (size, shift) in enumerate(zip(sizes, shifts))],)

    return make


recalibrated_statistics = Exercise(
    "recalibrated_statistics",
    _recalibrated_statistics,
    [
        Case("one batch", _batches_case(0, [8], 2, [0.0])),
        Case("two batches of the same size, different means", _batches_case(1, [6, 6], 3, [0.0, 2.0])),
        Case("three batches of different sizes", _batches_case(2, [4, 10, 2], 2, [1.0, -1.0, 0.5])),
    ],
    hint="Each batch x has shape (B, C, H, W). For every batch compute the per-channel mean and the per-channel "
    "UNBIASED variance (over the B*H*W values of the channel, divided by B*H*W - 1): that is what BatchNorm stores. "
    "With momentum=None the running statistics are the plain average of these per-batch values, each batch "
    "counting once: not the statistics of all the data pooled together, and not an exponential average.",
)


# 3b. FairNAS's strict fairness (chapter 05a) ------------------------------------------------------------------
def _fair_step(operations: Sequence[str], edges: int, rng: random.Random) -> list[tuple[str, ...]]:
    orders = [rng.sample(list(operations), len(operations)) for _ in range(edges)]  # one random order per edge
    return [tuple(order[k] for order in orders) for k in range(len(operations))]  # path k: k-th of every edge


def _fairness_properties(sampler: Callable, operations: Sequence[str], edges: int, steps: int) -> dict[str, bool]:
    """What a FairNAS step must satisfy, judged over ``steps`` calls with one seeded generator: a random answer is
    judged by its distribution, not by one draw. Each share must lie within 5 standard errors of its target."""
    m, rng = len(operations), random.Random(0)
    draws = [sampler(list(operations), edges, rng) for _ in range(steps)]
    shaped = all(len(step) == m and all(len(path) == edges and set(path) <= set(operations) for path in step)
                 for step in draws)
    result = {"m paths of one operation per edge": shaped}
    if not shaped:
        return result

    def near(count: int, share: float) -> bool:
        return abs(count / steps - share) <= 5 * math.sqrt(share * (1 - share) / steps) + 1e-12

    result["every operation once per edge and step"] = all(
        sorted(path[e] for path in step) == sorted(operations) for step in draws for e in range(edges))
    result["each path's operation uniform on every edge"] = all(
        near(sum(step[k][e] == op for step in draws), 1 / m) for k in range(m) for e in range(edges) for op in operations)
    if edges > 1:
        pairs = Counter((step[0][0], step[0][1]) for step in draws)
        result["edges drawn independently"] = all(near(pairs[(a, b)], 1 / m ** 2) for a in operations for b in operations)
    if m <= 4:
        orders = Counter(tuple(path[0] for path in step) for step in draws)
        result["every order of an edge's operations equally likely"] = all(
            near(orders[order], 1 / math.factorial(m)) for order in itertools.permutations(operations))
    return result


class SamplerExercise(Exercise):
    """An exercise whose answer draws at random: each case runs the sampler many times with a seeded generator and
    compares the properties its draws have (``_fairness_properties``) with those of the reference's draws."""

    def evaluate(self, candidate: Callable) -> CheckResult:
        def judged(reference: Callable) -> Callable:
            def run(operations: Sequence[str], edges: int, steps: int) -> dict[str, bool] | None:
                if reference(list(operations), edges, random.Random(1)) is None:
                    return None  # a body of `pass`: not attempted
                return _fairness_properties(reference, operations, edges, steps)

            return run

        return Exercise(self.name, judged(self.reference), self.cases, self.hint).evaluate(judged(candidate))


fair_step = SamplerExercise(
    "fair_step",
    _fair_step,
    [
        Case("the benchmark's cell: four operations, six edges", (("none", "skip", "conv3x3", "avgpool3x3"), 6, 3000)),
        Case("three operations, two edges", (("conv3x3", "skip", "avgpool3x3"), 2, 3000)),
        Case("five operations, three edges", (("a", "b", "c", "d", "e"), 3, 3000)),
    ],
    hint="For EVERY edge draw its own random order of all m operations (rng.sample(operations, m) or rng.shuffle on "
    "a copy), independently of the other edges; then path k takes the k-th operation of every edge's order. Return "
    "the m paths (a list of m tuples of `edges` operations each), not the orders. Drawing each path's operations "
    "independently repeats operations; one order for all edges ties the edges together; a rotation by a random "
    "offset reaches only m of the m! orders.",
)

__all__ += ["fair_step"]


# 4. One round of successive halving ------------------------------------------------------------------------
def _successive_halving_round(accuracies: Sequence[float], eta: int) -> list[int]:
    keep = len(accuracies) // eta
    ranked = [-math.inf if math.isnan(a) else a for a in accuracies]  # a diverged run ranks last
    order = sorted(range(len(accuracies)), key=lambda i: -ranked[i])  # stable: ties keep the earlier candidate
    return order[:keep]


successive_halving_round = Exercise(
    "successive_halving_round",
    _successive_halving_round,
    [
        Case("nine candidates, eta = 3", ([0.61, 0.90, 0.75, 0.40, 0.88, 0.93, 0.70, 0.81, 0.55], 3)),
        Case("four candidates, eta = 2", ([0.5, 0.7, 0.6, 0.9], 2)),
        Case("eight candidates, eta = 3: keep floor(8 / 3)", ([0.2, 0.8, 0.6, 0.9, 0.1, 0.7, 0.3, 0.5], 3)),
        Case("a tie: the earlier candidate goes on", ([0.7, 0.9, 0.8, 0.9, 0.8, 0.6], 3)),
        Case("a diverged run (NaN) never survives", ([float("nan"), 0.3, 0.2, 0.1], 2)),
        Case("too few to keep anyone", ([0.9, 0.8], 3)),
    ],
    hint="Keep floor(n / eta) candidates (n // eta), the ones with the HIGHEST accuracy, and return their indices "
    "best first. Ties keep the earlier candidate (Python's sorted is stable); a NaN accuracy (a diverged run) "
    "must rank below every number: replace it by -inf before sorting.",
)


# 5. Extrapolating a learning curve with one family -----------------------------------------------------------
def _extrapolate_ilog2(accuracies: Sequence[float], target_epoch: float) -> float:
    y = np.asarray(accuracies, dtype=float)
    x = np.arange(1, len(y) + 1, dtype=float)
    design = np.stack([np.ones_like(x), -1.0 / np.log(x + 1.0)], axis=1)  # y = c * 1 + a * (-1 / log(x + 1))
    (c, a), *_ = np.linalg.lstsq(design, y, rcond=None)
    return float(c - a / math.log(target_epoch + 1.0))


def _ilog2_curve(c: float, a: float, epochs: int, noise: float, seed: int) -> list[float]:
    x = np.arange(1, epochs + 1, dtype=float)
    return (c - a / np.log(x + 1.0) + noise * np.random.default_rng(seed).normal(size=epochs)).tolist()


extrapolate_ilog2 = Exercise(
    "extrapolate_ilog2",
    _extrapolate_ilog2,
    [
        Case("an exact ilog2 curve, 4 epochs seen, predict epoch 20", (_ilog2_curve(0.95, 0.3, 4, 0.0, 0), 20)),
        Case("two epochs seen: the line passes through both points", ([0.55, 0.7], 10)),
        Case("a noisy curve, 6 epochs seen, predict epoch 30", (_ilog2_curve(0.9, 0.4, 6, 0.01, 1), 30)),
        Case("a curve that has flattened, predict epoch 12", ([0.80, 0.90, 0.93, 0.95, 0.955], 12)),
    ],
    hint="ilog2 is y = c - a / log(x + 1) with x = 1, 2, ..., n the epochs (not 0, 1, ...). It is LINEAR in (c, a): "
    "regress y on the columns [1, -1 / log(x + 1)] by least squares (np.linalg.lstsq), then evaluate "
    "c - a / log(target_epoch + 1). The natural log is what the family is written with.",
)


# 6. Hyperband's brackets (chapter 05b) ---------------------------------------------------------------------------
def _hyperband_brackets(max_budget: int, eta: int) -> list[list[tuple[int, int]]]:
    s_max = 0
    while eta ** (s_max + 1) <= max_budget:  # floor(log_eta R) with integers: log(243) / log(3) = 4.999...
        s_max += 1
    total = (s_max + 1) * max_budget  # B
    brackets = []
    for s in range(s_max, -1, -1):
        n = math.ceil(total / max_budget * eta ** s / (s + 1))
        r = max_budget // eta ** s
        brackets.append([(n // eta ** i, r * eta ** i) for i in range(s + 1)])
    return brackets


hyperband_brackets = Exercise(
    "hyperband_brackets",
    _hyperband_brackets,
    [
        Case("the course benchmark: R = 3, eta = 3", (3, 3)),
        Case("Li et al.'s Table 1: R = 81, eta = 3", (81, 3)),
        Case("R = 9, eta = 3", (9, 3)),
        Case("R = 16, eta = 2", (16, 2)),
        Case("R = 243, eta = 3 (s_max = 5: floor of a float logarithm gives 4)", (243, 3)),
    ],
    hint="s_max = floor(log_eta R): count it with integers (the largest s with eta^s <= R), since "
    "math.log(243) / math.log(3) = 4.999... B = (s_max + 1) * R. For s = s_max down to 0 (the most aggressive "
    "bracket first): n = ceil(B / R * eta^s / (s + 1)) (ceil, not floor), r = R / eta^s, and rung i = 0..s trains "
    "floor(n / eta^i) candidates for r * eta^i units. Return one list of (n_i, r_i) pairs per bracket.",
)


# 7. The NASWOT score from the ReLU codes (chapter 05b) ----------------------------------------------------------
def _naswot_score(codes: np.ndarray) -> float:
    c = np.asarray(codes, dtype=float)  # (B, N_A): 1 where a ReLU is on for that input
    kernel = c @ c.T + (1 - c) @ (1 - c).T  # units on which inputs i and j agree = N_A - Hamming distance
    sign, logdet = np.linalg.slogdet(kernel)
    return float(logdet) if sign > 0 else float("-inf")


def _codes(seed: int, inputs: int, units: int, on: float) -> Callable[[], tuple]:
    def make() -> tuple:
        return ((np.random.default_rng(seed).random((inputs, units)) < on).astype(int),)

    return make


naswot_score = Exercise(
    "naswot_score",
    _naswot_score,
    [
        Case("three inputs, eight units", ([[1, 0, 1, 1, 0, 0, 1, 0], [0, 0, 1, 1, 1, 0, 1, 1],
                                            [1, 1, 0, 1, 0, 0, 0, 0]],)),
        Case("a minibatch of 6 inputs, 40 units, half of them on", _codes(0, 6, 40, 0.5)),
        Case("mostly switched off (20 % on)", _codes(1, 5, 30, 0.2)),
        Case("mostly switched on (80 % on): agreement counts units off too", _codes(2, 5, 30, 0.8)),
        Case("two inputs with the same code: the kernel is singular", ([[1, 0, 1, 0], [1, 0, 1, 0], [0, 1, 1, 0]],)),
    ],
    hint="codes is (B, N_A), 0/1: which of the N_A ReLUs each input switches on. K_H[i, j] = N_A - d_H(c_i, c_j) is "
    "the number of units on which inputs i and j AGREE, both on or both off: c @ c.T + (1 - c) @ (1 - c).T (not the "
    "Hamming distance itself, and not c @ c.T alone, which counts only the units both switch on). Return "
    "log|det K_H| (np.linalg.slogdet), and -inf when the determinant is 0 (two inputs with the same code).",
)

__all__ += ["hyperband_brackets", "naswot_score"]
