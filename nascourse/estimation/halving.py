"""Give promising candidates more training: successive halving, Hyperband and early stopping.

Survey Sec. 3.4.2: "the model training with no potential will be terminated as soon as possible,
instead of waiting for its convergence to save resources for new exploration ... For candidate
architectures with no potential, training can be terminated early, and for more promising
architectures, more adequate training can be obtained." Hyperband [89] (Li, Jamieson, DeSalvo,
Rostamizadeh & Talwalkar, 2017) is the survey's reference for doing this by a fixed schedule.

**Successive halving** (Jamieson & Talwalkar, 2016; Li et al.'s Algorithm 1, inner loop): train
n candidates for r epochs, keep the best 1/eta, train those eta times longer, and so on:

    rung i = 0..s:   n_i = floor(n eta^-i) candidates,  r_i = r eta^i epochs,  keep floor(n_i / eta)

**Hyperband** hedges over how aggressive to be. With R the maximum budget (in units of the
minimum one), s_max = floor(log_eta R) and B = (s_max + 1) R, it runs one successive halving
per bracket s = s_max, ..., 0 with

    n = ceil(B / R * eta^s / (s + 1)),   r = R eta^-s

from many candidates on tiny budgets (s = s_max) to few candidates trained fully (s = 0, random
search). ``hyperband_brackets(81, 3)`` reproduces Table 1 of Li et al.

**On the course benchmark** every cell has a curve of 3 epochs only, so the budgets are 1 and
3 epochs with eta = 3: s_max = 1, B = 6 epochs-worth; bracket 1 trains 3 cells for 1 epoch and
the best one for 3; bracket 0 trains 2 cells for 3 epochs. That is a very shallow Hyperband (a
2-epoch budget would need eta = 1.5, and epochs are whole numbers). Note also that the table's
runs use a cosine learning-rate schedule over 3 epochs, so "epoch 1" is the first third of a
3-epoch run, exactly what a candidate stopped after 1 epoch would have reached.

**Costs and the history.** A budgeted evaluator is any ``(architecture, epochs) ->
EvaluationResult``; ``TableTraining`` is the benchmark's one. Promoting a candidate continues
its training run (as Li et al. allow when training can be resumed), so it costs only the extra
epochs. Every evaluation is recorded in a ``History`` with its cost in recorded training seconds,
the same units as ``run_search``. A result at less than the maximum budget is recorded with
status ``"stopped at epoch e of E"``: it costs compute but never counts as "found" in the
anytime curve or in ``Benchmark.returned_accuracy``, which therefore only see fully trained
candidates, as for random search.
"""

from __future__ import annotations

import math
import random
import statistics
from dataclasses import dataclass, replace
from typing import Any, Callable, Sequence

from ..bench.table import Benchmark, BenchmarkEvaluator
from ..loop import EvaluationResult, History
from ..spaces.base import SearchSpace
from .curves import should_terminate

__all__ = ["BudgetedEvaluator", "TableTraining", "Rung", "successive_halving_rungs", "hyperband_brackets",
           "SuccessiveHalving", "Hyperband", "MedianStoppingRule", "ExtrapolationRule", "early_stopping_search"]

BudgetedEvaluator = Callable[[Any, int], EvaluationResult]  # (architecture, epochs) -> result after that many epochs


class TableTraining:
    """Train on the benchmark for a number of epochs, continuing a cell's run when asked for more.

    A request for more epochs than the cell's latest run has reached continues that run (same
    seed of the table) and costs only the training seconds of the extra epochs: a promoted
    candidate is resumed, not retrained. A request for no more epochs than that is a new
    proposal of the cell and starts a new run (a seed drawn from this object's own generator),
    paid in full, as ``BenchmarkEvaluator`` pays for every proposal. With ``resume=False`` every
    request starts a new run.
    """

    def __init__(self, bench: Benchmark, rng_seed: int = 0, resume: bool = True):
        self.bench, self.resume = bench, resume
        self.rng = random.Random(rng_seed)
        self.runs: dict[int, tuple[int, int]] = {}  # table row -> (seed, epochs trained) of its latest run

    def __call__(self, architecture: Any, epochs: int) -> EvaluationResult:
        last = self.bench.protocol.epochs
        if not isinstance(epochs, int) or not 1 <= epochs <= last:
            raise ValueError(f"The benchmark recorded epochs 1..{last}; cannot train for {epochs!r} epochs.")
        row = self.bench.row(architecture)
        seed, trained = self.runs.get(row, (None, 0))
        if not (self.resume and seed is not None and epochs > trained):
            seed, trained = self.rng.choice(self.bench.seeds), 0  # a new run from scratch
        result = BenchmarkEvaluator(self.bench, epochs=epochs, seed=seed)(architecture)
        already = self.bench.train_seconds[row, self.bench.seeds.index(seed), trained - 1] if trained else 0.0
        self.runs[row] = (seed, epochs)
        return replace(result, cost_seconds=float(result.cost_seconds - already), cost_epochs=float(epochs - trained))


@dataclass(frozen=True)
class Rung:
    """One round of successive halving: train ``candidates`` candidates for ``epochs`` epochs."""

    candidates: int
    epochs: int


def _check_eta(eta: int) -> None:
    if not isinstance(eta, int) or eta < 2:
        raise ValueError(f"eta must be an integer >= 2 (the fraction 1/eta survives each rung); got {eta!r}.")


def _levels(ratio: int, eta: int) -> int:
    """s = floor(log_eta ratio), counted with integers so that log(81)/log(3) = 3.9999... cannot bite."""
    s = 0
    while eta ** (s + 1) <= ratio:
        s += 1
    return s


def successive_halving_rungs(candidates: int, min_epochs: int, max_epochs: int, eta: int = 3) -> list[Rung]:
    """The rungs of successive halving from ``min_epochs`` up to ``max_epochs`` = min_epochs * eta^s."""
    _check_eta(eta)
    if not isinstance(candidates, int) or candidates < 1:
        raise ValueError(f"candidates must be a positive integer; got {candidates!r}.")
    if not (isinstance(min_epochs, int) and isinstance(max_epochs, int)) or not 1 <= min_epochs <= max_epochs:
        raise ValueError(f"Need whole epochs with 1 <= min_epochs <= max_epochs; got {min_epochs!r}, {max_epochs!r}.")
    s = _levels(max_epochs // min_epochs, eta)
    if min_epochs * eta ** s != max_epochs:
        raise ValueError(f"max_epochs must be min_epochs * eta^s so that the last rung trains fully; "
                         f"{max_epochs} is not {min_epochs} * {eta}^s (try max_epochs={min_epochs * eta ** s}).")
    return [Rung(candidates // eta ** i, min_epochs * eta ** i) for i in range(s + 1)]


@dataclass(frozen=True)
class Bracket:
    """One bracket of Hyperband: a successive halving with its own trade-off between n and r."""

    s: int
    rungs: tuple[Rung, ...]


def hyperband_brackets(max_epochs: int, eta: int = 3, min_epochs: int = 1) -> list[Bracket]:
    """Li et al.'s brackets for maximum budget R = max_epochs / min_epochs (a power of eta), s = s_max..0."""
    _check_eta(eta)
    if not (isinstance(min_epochs, int) and isinstance(max_epochs, int)) or not 1 <= min_epochs <= max_epochs \
            or max_epochs % min_epochs:
        raise ValueError(f"Need whole epochs with max_epochs a multiple of min_epochs >= 1; got {max_epochs!r}, "
                         f"{min_epochs!r}.")
    R = max_epochs // min_epochs
    s_max = _levels(R, eta)
    if eta ** s_max != R:
        raise ValueError(f"R = max_epochs / min_epochs = {R} must be a power of eta = {eta} so that every rung "
                         f"trains whole epochs (try max_epochs={min_epochs * eta ** s_max}).")
    budget = (s_max + 1) * R  # B: each bracket spends about this much, in units of the minimum budget
    brackets = []
    for s in range(s_max, -1, -1):
        n = math.ceil(budget / R * eta ** s / (s + 1))
        r = R // eta ** s  # in units of min_epochs
        brackets.append(Bracket(s, tuple(Rung(n // eta ** i, min_epochs * r * eta ** i) for i in range(s + 1))))
    return brackets


def _stopped(result: EvaluationResult, epochs: int, max_epochs: int) -> EvaluationResult:
    """A result below the full budget: it costs compute but is not a finished candidate."""
    if epochs >= max_epochs or result.status != "ok":
        return result
    return replace(result, status=f"stopped at epoch {epochs} of {max_epochs}")


def _distinct_sample(space: SearchSpace, rng: random.Random, count: int) -> list[Any]:
    """``count`` architectures drawn uniformly, no two equivalent: a bracket trains each cell once."""
    key = getattr(space, "canonical", lambda a: a)
    chosen, seen = [], set()
    for _ in range(100 * count + 1000):
        architecture = space.sample(rng)
        if str(key(architecture)) not in seen:
            seen.add(str(key(architecture)))
            chosen.append(architecture)
            if len(chosen) == count:
                return chosen
    raise ValueError(f"Could not draw {count} distinct architectures from {space.name}; ask for fewer.")


def _run_rungs(space: SearchSpace, evaluator: BudgetedEvaluator, architectures: list[Any], rungs: Sequence[Rung],
               eta: int, history: History, max_seconds: float | None) -> list[Any]:
    """Successive halving over ``rungs``; every evaluation goes into ``history``. Returns the final survivors."""
    max_epochs = rungs[-1].epochs
    survivors = list(architectures)
    for i, rung in enumerate(rungs):
        results = []
        for architecture in survivors:
            if max_seconds is not None and history.trials and history.trials[-1].cumulative_seconds >= max_seconds:
                return survivors
            result = _stopped(evaluator(architecture, rung.epochs), rung.epochs, max_epochs)
            history.add(space.encode(architecture), result)
            # a stopped result is ranked by its accuracy all the same: that is what the rung compares
            results.append(result.accuracy if not math.isnan(result.accuracy) else -math.inf)
        if i + 1 < len(rungs):
            keep = len(survivors) // eta
            # stable sort: among equal accuracies the earlier candidate stays (a fixed, documented rule)
            order = sorted(range(len(survivors)), key=lambda j: -results[j])
            survivors = [survivors[j] for j in order[:keep]]
    return survivors


class SuccessiveHalving:
    """Successive halving of ``candidates`` random architectures from ``min_epochs`` to ``max_epochs``."""

    def __init__(self, space: SearchSpace, candidates: int, min_epochs: int = 1, max_epochs: int = 3, eta: int = 3,
                 seed: int = 0):
        self.space, self.eta, self.seed = space, eta, seed
        self.rungs = successive_halving_rungs(candidates, min_epochs, max_epochs, eta)
        self.rng = random.Random(seed)

    def run(self, evaluator: BudgetedEvaluator, architectures: Sequence[Any] | None = None,
            history: History | None = None) -> History:
        """Run the rungs; ``architectures`` (as many as ``candidates``) replaces the random draw."""
        if architectures is None:
            architectures = _distinct_sample(self.space, self.rng, self.rungs[0].candidates)
        elif len(architectures) != self.rungs[0].candidates:
            raise ValueError(f"Give exactly {self.rungs[0].candidates} architectures; got {len(architectures)}.")
        history = history if history is not None else History()
        self.survivors = _run_rungs(self.space, evaluator, list(architectures), self.rungs, self.eta, history, None)
        return history


class Hyperband:
    """Hyperband over budgets ``min_epochs`` .. ``max_epochs``: its brackets, repeated while budget remains."""

    def __init__(self, space: SearchSpace, max_epochs: int = 3, eta: int = 3, min_epochs: int = 1, seed: int = 0):
        self.space, self.eta, self.seed = space, eta, seed
        self.brackets = hyperband_brackets(max_epochs, eta, min_epochs)
        self.rng = random.Random(seed)

    def run(self, evaluator: BudgetedEvaluator, max_seconds: float | None = None, iterations: int = 1) -> History:
        """Run all brackets ``iterations`` times, or, with ``max_seconds``, until that much recorded training
        time is spent (then the last bracket stops where the budget ran out)."""
        if max_seconds is None and (not isinstance(iterations, int) or iterations < 1):
            raise ValueError(f"iterations must be a positive integer; got {iterations!r}.")
        if max_seconds is not None and not max_seconds > 0:
            raise ValueError(f"max_seconds must be positive; got {max_seconds}.")
        history = History()
        iteration = 0
        while True:
            for bracket in self.brackets:
                architectures = _distinct_sample(self.space, self.rng, bracket.rungs[0].candidates)
                _run_rungs(self.space, evaluator, architectures, bracket.rungs, self.eta, history, max_seconds)
                if max_seconds is not None and history.trials and history.trials[-1].cumulative_seconds >= max_seconds:
                    return history
            iteration += 1
            if max_seconds is None and iteration >= iterations:
                return history


# --- early stopping inside random search --------------------------------------------------------------

class MedianStoppingRule:
    """Stop a run whose accuracy at epoch e is below the median accuracy at epoch e of the runs seen before.

    After Golovin et al. (2017, Google Vizier)'s median stopping rule, simplified: it compares the
    accuracy at the decision epoch itself rather than running averages of the curve. The first
    ``warmup`` runs always continue, so that the median means something."""

    def __init__(self, warmup: int = 5):
        if warmup < 1:
            raise ValueError(f"warmup must be at least 1; got {warmup}.")
        self.warmup = warmup

    def __call__(self, curve: Sequence[float], seen: Sequence[Sequence[float]], best_so_far: float | None) -> bool:
        epoch = len(curve)
        earlier = [c[epoch - 1] for c in seen if len(c) >= epoch and not math.isnan(c[epoch - 1])]
        if len(earlier) < self.warmup:
            return False
        return curve[-1] < statistics.median(earlier)


class ExtrapolationRule:
    """Domhan et al.'s rule (``curves.should_terminate``): stop when P(y(target) > best so far) < threshold.

    ``noise_std`` is the observation noise of one accuracy; on the benchmark the seed-to-seed spread
    after the last epoch is about 0.012, and a partial curve of 2 points can only be fitted with
    a known noise level (and only by the 2-parameter family, ilog2). Before any run has finished,
    or when no family can fit the curve, the run continues."""

    def __init__(self, target_epoch: int, threshold: float = 0.05, noise_std: float | None = 0.012,
                 families: Sequence[str] | None = None):
        self.target_epoch, self.threshold, self.noise_std, self.families = target_epoch, threshold, noise_std, families

    def __call__(self, curve: Sequence[float], seen: Sequence[Sequence[float]], best_so_far: float | None) -> bool:
        if best_so_far is None:
            return False
        try:
            return should_terminate(curve, best_so_far, self.target_epoch, self.threshold, self.families,
                                    self.noise_std)
        except ValueError:  # too few points for every family: no evidence, keep training
            return False


StoppingRule = Callable[[Sequence[float], Sequence[Sequence[float]], "float | None"], bool]


def _curve_of(result: EvaluationResult) -> list[float]:
    return [float(point["val_accuracy"]) for point in result.curve] if result.curve else [result.accuracy]


def early_stopping_search(space: SearchSpace, evaluator: BudgetedEvaluator, trials: int, rule: StoppingRule,
                          decision_epochs: Sequence[int] = (1,), max_epochs: int = 3, seed: int = 0) -> History:
    """Random search that trains each candidate up to each of ``decision_epochs`` in turn and asks ``rule``
    whether to stop there; candidates never stopped are trained to ``max_epochs``.

    ``rule(curve, seen, best_so_far) -> bool`` gets the candidate's accuracies after epochs 1..e,
    the curves of earlier candidates, and the best fully trained accuracy so far (None before
    the first). One trial per candidate, costing all the epochs it trained. Candidates are drawn
    as ``RandomSearch(space, seed)`` draws them, so a search with a rule that never stops is that
    random search.
    """
    if not isinstance(trials, int) or trials < 1:
        raise ValueError(f"trials must be a positive integer, got {trials!r}.")
    epochs = sorted(set(decision_epochs))
    if not epochs or epochs[0] < 1 or epochs[-1] >= max_epochs:
        raise ValueError(f"decision_epochs must lie in 1..{max_epochs - 1}; got {list(decision_epochs)}.")
    rng = random.Random(seed)
    history, seen, best = History(), [], None
    for _ in range(trials):
        architecture = space.sample(rng)
        seconds = spent_epochs = 0.0
        result = None
        for epoch in epochs + [max_epochs]:
            result = evaluator(architecture, epoch)
            seconds, spent_epochs = seconds + result.cost_seconds, spent_epochs + result.cost_epochs
            if epoch < max_epochs and rule(_curve_of(result), seen, best):
                result = _stopped(result, epoch, max_epochs)
                break
        seen.append(_curve_of(result))
        result = replace(result, cost_seconds=seconds, cost_epochs=spent_epochs)
        history.add(space.encode(architecture), result)
        if result.status == "ok" and not math.isnan(result.accuracy):
            best = result.accuracy if best is None else max(best, result.accuracy)
    return history
