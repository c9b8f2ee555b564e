"""Exercises of chapter 00, "The NAS loop": reference solutions and their checks.

Read the references only after trying: they are the answers.
"""

from __future__ import annotations

import itertools
import math
import random
from typing import Any, Callable

from ..loop import EvaluationResult
from ..strategies.base import Strategy
from .core import Case, CheckResult, Exercise

__all__ = ["count_chain_architectures", "conv_parameters", "best_so_far", "random_search", "hill_climbing"]


# 1. The size of a chain space -------------------------------------------------------------
def _count_chain_architectures(choices_per_layer: int, max_layers: int, skip_connections: bool) -> int:
    total = 0
    for depth in range(1, max_layers + 1):
        skip_bits = depth * (depth - 1) // 2 if skip_connections else 0  # layer i may skip from k = 0..i-2
        total += choices_per_layer**depth * 2**skip_bits
    return total


count_chain_architectures = Exercise(
    "count_chain_architectures",
    _count_chain_architectures,
    [
        Case("one layer with 3 choices, no skips", (3, 1, False)),
        Case("up to 3 layers with 4 choices, no skips (Eq. 1)", (4, 3, False)),
        Case("up to 3 layers with 2 choices, with skips (Eq. 2)", (2, 3, True)),
        Case("up to 5 layers with 13 choices, with skips", (13, 5, True)),
    ],
    hint="Sum over every depth L from 1 to max_layers. With skips, layer i may also read any z^(k) "
    "with k < i-1: count how many such (k, i) pairs a chain of L layers has; each is on or off.",
)


# 2. Parameters of a convolution ------------------------------------------------------------
def _conv_parameters(in_channels: int, out_channels: int, kernel_size: int, bias: bool) -> int:
    return out_channels * in_channels * kernel_size * kernel_size + (out_channels if bias else 0)


conv_parameters = Exercise(
    "conv_parameters",
    _conv_parameters,
    [
        Case("a 3x3 convolution, 1 -> 8 channels, with bias", (1, 8, 3, True)),
        Case("a 1x1 convolution, 16 -> 32 channels, no bias", (16, 32, 1, False)),
        Case("a 5x5 convolution, 8 -> 16 channels, no bias", (8, 16, 5, False)),
    ],
    hint="Every output channel has one k x k filter per input channel, plus one bias if bias=True. "
    "Check yourself with sum(p.numel() for p in torch.nn.Conv2d(...).parameters()).",
)


# 3. The anytime curve ------------------------------------------------------------------------
def _best_so_far(accuracies: list[float]) -> list[float]:
    return list(itertools.accumulate(accuracies, max))


best_so_far = Exercise(
    "best_so_far",
    _best_so_far,
    [
        Case("an increasing run", ([0.1, 0.2, 0.3],)),
        Case("a run that finds its best early", ([0.5, 0.9, 0.4, 0.7],)),
        Case("a single trial", ([0.42],)),
        Case("an empty history", ([],)),
    ],
    hint="Element t is the highest accuracy among trials 0..t, in the order they were run (do not sort).",
)


# 4. The loop itself ----------------------------------------------------------------------------
def _random_search(sample: Callable[[], Any], evaluate: Callable[[Any], float], trials: int) -> tuple[Any, float]:
    best_architecture, best_accuracy = None, float("-inf")
    for _ in range(trials):
        architecture = sample()
        accuracy = evaluate(architecture)
        if accuracy > best_accuracy:  # strict: the first of equally good candidates is kept
            best_architecture, best_accuracy = architecture, accuracy
    return best_architecture, best_accuracy


def _proposals(*architectures: str) -> Callable[[], tuple]:
    """Arguments for one case: a fresh sampler that proposes ``architectures`` in order, and a scorer."""
    scores = {"conv3x3:8": 0.61, "conv5x5:16": 0.83, "maxpool3x3": 0.12, "conv1x1:32": 0.83, "avgpool3x3": 0.3}

    def make() -> tuple:
        queue = iter(architectures)
        return (lambda: next(queue), scores.__getitem__, len(architectures))

    return make


random_search = Exercise(
    "random_search",
    _random_search,
    [
        Case("the best candidate comes in the middle", _proposals("conv3x3:8", "conv5x5:16", "maxpool3x3")),
        Case("the best candidate comes first", _proposals("conv5x5:16", "avgpool3x3", "conv3x3:8")),
        Case("two candidates tie: keep the first", _proposals("maxpool3x3", "conv5x5:16", "conv1x1:32")),
        Case("a single trial", _proposals("avgpool3x3")),
    ],
    hint="Ask `sample()` for a candidate exactly `trials` times, score each with `evaluate`, and remember "
    "the best so far (a later candidate replaces it only when strictly better). Return (architecture, accuracy).",
)


# 5. Your own strategy: hill climbing, as ask and tell -------------------------------------------
class _HillClimbing(Strategy):
    """Propose ``start`` random architectures, then each time a mutation of the best architecture seen so far."""

    def __init__(self, space, seed: int = 0, start: int = 10):
        super().__init__(space, seed)
        self.start = start
        self.told = 0  # results received so far
        self.best, self.best_accuracy = None, float("-inf")

    def ask(self) -> Any:
        if self.told < self.start or self.best is None:
            return self.space.sample(self.rng)
        return self.space.mutate(self.best, self.rng)

    def tell(self, architecture: Any, result: EvaluationResult) -> None:
        self.told += 1
        if result.accuracy > self.best_accuracy:  # strict: a tie keeps the earlier best; NaN is never greater
            self.best, self.best_accuracy = architecture, result.accuracy


class _Ring:
    """A toy space for the checks: architectures are the numbers 0..size-1 on a ring, a mutation steps one to
    the left or the right. Its scores are given per architecture (NaN: a candidate whose training diverged)."""

    name = "a ring of numbered architectures"

    def __init__(self, size: int):
        self.size = size

    def sample(self, rng: random.Random) -> int:
        return rng.randrange(self.size)

    def mutate(self, architecture: int, rng: random.Random) -> int:
        return (architecture + rng.choice((-1, 1))) % self.size


def _proposals(strategy_class: Callable, size: int, score: Callable[[int], float], trials: int, seed: int,
               start: int) -> list[int]:
    """Run ``strategy_class`` through the NAS loop on the toy space: what it proposed, in order."""
    strategy = strategy_class(_Ring(size), seed, start)  # positional: (space, seed, start)
    proposed = []
    for _ in range(trials):
        architecture = strategy.ask()
        accuracy = score(architecture)
        status = "diverged" if math.isnan(accuracy) else "ok"
        strategy.tell(architecture, EvaluationResult(accuracy, cost_seconds=1.0, cost_epochs=1.0, parameters=0,
                                                     status=status))
        proposed.append(architecture)
    return proposed


def _peak(architecture: int) -> float:
    return 1 - abs(architecture - 20) / 40


def _plateau(architecture: int) -> float:
    return min(architecture, 24) // 6 / 10  # 0, 0.1, 0.2, 0.3 on runs of six architectures, 0.4 from 24 on


def _diverging(architecture: int) -> float:
    return math.nan if architecture < 12 else _peak(architecture)


class StrategyExercise(Exercise):
    """An exercise whose answer is a ``Strategy`` class: each case runs the class's ask/tell loop on a toy space
    (``_proposals``) and compares what it proposed, in order, with what the reference strategy proposed."""

    def evaluate(self, candidate: Callable) -> CheckResult:
        def run(*args: Any) -> list:
            return _proposals(candidate, *args)

        def reference(*args: Any) -> list:
            return _proposals(self.reference, *args)

        return Exercise(self.name, reference, self.cases, self.hint).evaluate(run)


hill_climbing = StrategyExercise(
    "hill_climbing",
    _HillClimbing,
    [
        Case("a single peak: three random starts, then climbing", (40, _peak, 16, 0, 3)),
        Case("start = 1: mutations from the second proposal on", (40, _peak, 12, 5, 1)),
        Case("plateaus: an equally good mutant does not replace the best", (40, _plateau, 30, 2, 4)),
        Case("diverged candidates (NaN) are never the best", (40, _diverging, 20, 1, 3)),
        Case("fewer trials than random starts: pure random search", (40, _peak, 5, 3, 10)),
    ],
    hint="ask: while fewer than self.start results have been told (or nothing is best yet), return "
    "self.space.sample(self.rng); afterwards return self.space.mutate(self.best, self.rng) -- always from the BEST "
    "so far, not from the last proposal, and with self.rng (a seed must repeat a search). tell: count the result "
    "(self.told += 1) and replace self.best, self.best_accuracy only when result.accuracy is strictly higher "
    "(a tie keeps the earlier one; a diverged candidate's accuracy is NaN, which is never higher).",
)
