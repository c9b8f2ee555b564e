"""Exercises of chapter 06, "Comparing NAS methods fairly": reference solutions and their checks.

Read the references only after trying: they are the answers.
"""

from __future__ import annotations

import math
import random
from functools import lru_cache
from typing import Any, Callable, Sequence

import numpy as np

from ..bench import Benchmark
from .core import Case, Exercise

__all__ = ["returned_cell", "holm_adjust", "hill_climb_proposal", "paired_bootstrap"]


# 1. What a search returns when it is stopped -----------------------------------------------------------
def _returned_cell(seconds: Sequence[float], architectures: Sequence[Any], budget: float) -> Any:
    returned = None
    for cost, architecture in zip(seconds, architectures):
        if cost > budget:  # the costs increase: every later point is past the budget too
            break
        returned = architecture  # a later point at or within the budget replaces the earlier one
    return returned


_SECONDS = [1.5, 4.0, 7.25, 12.0]
_CELLS = ["cell A", "cell B", "cell C", "cell D"]

returned_cell = Exercise(
    "returned_cell",
    _returned_cell,
    [
        Case("a budget between two cost points", (_SECONDS, _CELLS, 5.0)),
        Case("a budget exactly on a cost point: that cell is finished", (_SECONDS, _CELLS, 7.25)),
        Case("a budget before the first cost point: nothing to return yet", (_SECONDS, _CELLS, 1.0)),
        Case("a budget past the last cost point", (_SECONDS, _CELLS, 100.0)),
        Case("a budget exactly on the first cost point", (_SECONDS, _CELLS, 1.5)),
        Case("two points at the same cost: the later one is what the search returns",
             ([1.0, 3.0, 3.0, 6.0], ["cell A", "cell B", "cell C", "cell D"], 3.0)),
        Case("a search that has returned nothing at all", ([], [], 10.0)),
    ],
    hint="seconds[i] is the cost at which architectures[i] became the cell the search hands over, and the costs never "
    "decrease. Walk through the points in order and keep the LAST architecture whose cost is at most the budget "
    "(cost <= budget: a candidate finished exactly at the budget counts). Return None when even the first cost is "
    "above the budget.",
)


# 2. Holm's correction for comparing many methods with one baseline ------------------------------------------
def _holm_adjust(p_values: Sequence[float]) -> list[float]:
    m = len(p_values)
    order = sorted(range(m), key=lambda k: p_values[k])  # positions, smallest p first (stable on ties)
    adjusted = [0.0] * m
    running = 0.0
    for i, position in enumerate(order):
        running = max(running, (m - i) * p_values[position])  # never below a smaller p-value's adjustment
        adjusted[position] = min(1.0, running)
    return adjusted


holm_adjust = Exercise(
    "holm_adjust",
    _holm_adjust,
    [
        Case("three methods, already sorted", ([0.001, 0.02, 0.04],)),
        Case("three methods, unsorted: answer in the input order", ([0.01, 0.04, 0.03],)),
        Case("a tie between two p-values", ([0.02, 0.02, 0.5, 0.01],)),
        Case("adjusted values that would exceed 1", ([0.65, 0.01, 0.6],)),
        Case("a single comparison: nothing to correct", ([0.2],)),
        Case("six methods against random search", ([0.003, 0.2, 0.012, 0.9, 0.04, 0.011],)),
    ],
    hint="Sort the p-values ascending but remember where each came from. With m p-values, the i-th smallest (i = 0, "
    "1, ...) is multiplied by m - i (not all by m: that is Bonferroni). Take the running maximum along the sorted "
    "order, so a larger p-value never gets a smaller adjusted value than a smaller one, cap every value at 1, and "
    "write each adjusted value back at its original position.",
)


# 3. The ask of a hill-climbing strategy ------------------------------------------------------------------------
def _hill_climb_proposal(space: Any, tells: Sequence[tuple[Any, float]], rng: random.Random) -> Any:
    """Random cells for the first five trials; then a mutation of the best cell so far (the first on ties).
    A failed trial (NaN accuracy) is never the best; if every trial failed, keep sampling."""
    best, best_accuracy = None, -math.inf
    for architecture, accuracy in tells:
        if not math.isnan(accuracy) and accuracy > best_accuracy:  # strict: a tie keeps the earlier cell
            best, best_accuracy = architecture, accuracy
    if len(tells) < 5 or best is None:
        return space.sample(rng)
    return space.mutate(best, rng)


@lru_cache(maxsize=1)
def _benchmark_space():
    """The course benchmark's cell space, loaded on first use (not when the exercises are imported)."""
    return Benchmark.load().space


def _climb_case(accuracies: Sequence[float], seed: int) -> Callable[[], tuple]:
    """``tells`` of fixed cells with these accuracies, and a fresh generator: every call gives equal arguments."""

    def make() -> tuple:
        space = _benchmark_space()
        cells = random.Random(1000 + seed)
        tells = [(space.sample(cells), accuracy) for accuracy in accuracies]
        return space, tells, random.Random(seed)

    return make


_NAN = float("nan")

hill_climb_proposal = Exercise(
    "hill_climb_proposal",
    _hill_climb_proposal,
    [
        Case("no trial yet: a random cell", _climb_case([], 0)),
        Case("four trials: still a random cell", _climb_case([0.91, 0.95, 0.90, 0.93], 1)),
        Case("five trials: mutate the best (the second)", _climb_case([0.91, 0.95, 0.90, 0.93, 0.92], 2)),
        Case("the latest trial is not the best", _climb_case([0.90, 0.96, 0.94, 0.93, 0.92, 0.95, 0.89], 3)),
        Case("a tie for the best: the first of the two", _climb_case([0.90, 0.94, 0.92, 0.94, 0.91, 0.93], 4)),
        Case("the first trial failed (NaN)", _climb_case([_NAN, 0.93, 0.95, 0.92, 0.94, 0.90], 5)),
        Case("a failed trial among good ones", _climb_case([0.92, 0.93, _NAN, 0.96, 0.91, _NAN, 0.95], 6)),
    ],
    hint="While len(tells) < 5 return space.sample(rng); after that find the (architecture, accuracy) pair with the "
    "HIGHEST accuracy (the first one on ties, and a NaN accuracy never wins: max() does not skip NaN for you) and "
    "return space.mutate(best_architecture, rng). Draw from rng only through those two calls, once per ask, so "
    "your random draws match the checker's.",
)


# 4. The paired bootstrap interval of a difference to random search ---------------------------------------------
def _paired_bootstrap(ours: Sequence[float], baseline: Sequence[float], resamples: int,
                      rng: np.random.Generator) -> tuple[float, float]:
    """95% percentile-bootstrap interval of the mean per-seed difference ``ours - baseline`` (runs paired by seed)."""
    differences = np.asarray(ours, dtype=float) - np.asarray(baseline, dtype=float)  # one difference per seed
    n = len(differences)
    picks = rng.integers(0, n, size=(resamples, n))  # resample SEEDS with replacement: a pair stays a pair
    means = differences[picks].mean(axis=1)
    low, high = np.quantile(means, [0.025, 0.975])
    return float(low), float(high)


def _bootstrap_case(ours: Sequence[float], baseline: Sequence[float], seed: int,
                    resamples: int = 2000) -> Callable[[], tuple]:
    """Fresh arguments on every call: the generator must start from the same state for the learner and the checker."""
    return lambda: (list(ours), list(baseline), resamples, np.random.default_rng(seed))


_RS = [0.902, 0.915, 0.897, 0.921, 0.908, 0.911, 0.894, 0.917, 0.905, 0.912]
_RE = [0.906, 0.917, 0.903, 0.920, 0.915, 0.913, 0.899, 0.921, 0.904, 0.918]

paired_bootstrap = Exercise(
    "paired_bootstrap",
    _paired_bootstrap,
    [
        Case("ten seeds, a method a little ahead of random search", _bootstrap_case(_RE, _RS, 0)),
        Case("the same runs, another generator", _bootstrap_case(_RE, _RS, 7)),
        Case("identical cells on every seed: the interval is [0, 0]", _bootstrap_case(_RS, _RS, 1)),
        Case("a method that is behind, five seeds", _bootstrap_case([0.88, 0.90, 0.87, 0.91, 0.89],
                                                                    [0.90, 0.91, 0.90, 0.92, 0.90], 2)),
        Case("a large seed-to-seed spread shared by both methods", _bootstrap_case(
            [0.80, 0.95, 0.85, 0.92, 0.70, 0.90], [0.79, 0.94, 0.83, 0.92, 0.69, 0.88], 3, resamples=500)),
    ],
    hint="Subtract first: d = ours - baseline, one difference per seed (np.asarray both). Then draw ALL the resampled "
    "seed indices in one call, picks = rng.integers(0, n, size=(resamples, n)) — with replacement, and the same "
    "indices for both methods, which is what subtracting first gives you — take d[picks].mean(axis=1), and return the "
    "2.5 % and 97.5 % quantiles of those means (np.quantile) as a tuple of two floats. Resampling each method on its "
    "own ignores the pairing and gives a wider interval.",
)
