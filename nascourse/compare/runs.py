"""What a search returns, as the comparison sees it (chapter 06).

Every search becomes a ``Run``: the (cost, returned cell) pairs at which the returned cell changes. A ``History``
of an ask/tell search, a DARTS-family search's epoch snapshots and a weight-sharing search's checkpoints all
convert to one, so every method is read off the same grid of budgets (``returned_on_grid``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Sequence

import numpy as np

from ..bench.table import Benchmark
from ..loop import History

__all__ = ["Run", "returned_on_grid"]


@dataclass
class Run:
    """One search, as the comparison sees it: the cell it would return after each amount of training seconds.

    ``seconds[i]`` is the cost at which ``architectures[i]`` became the returned cell (increasing); ``spent`` is
    what the whole search cost. Before ``seconds[0]`` the search has nothing to return."""

    method: str
    seed: int
    seconds: list[float]
    architectures: list[str]
    spent: float
    trials: int = 0  # candidates evaluated (ask/tell searches); epochs or checkpoints for supernet searches
    extra: dict = field(default_factory=dict)  # method-specific facts (e.g. the per-epoch cells of a DARTS run)

    def __post_init__(self) -> None:
        if len(self.seconds) != len(self.architectures):
            raise ValueError("A Run needs one returned architecture per cost point.")
        if any(b < a for a, b in zip(self.seconds, self.seconds[1:])):
            raise ValueError("A Run's cost points must not decrease.")

    @classmethod
    def from_history(cls, method: str, seed: int, history: History, cost: str = "seconds") -> "Run":
        """The best-by-validation cell after each trial that improved it (failed and partial trials never do).

        ``cost``: ``"seconds"`` (the trials' recorded training seconds) or ``"trials"`` (candidates evaluated: the
        unit on NAS-Bench-201, where every query is one full 200-epoch training)."""
        if cost not in ("seconds", "trials"):
            raise ValueError(f"cost must be 'seconds' or 'trials', got {cost!r}.")
        seconds, architectures, best = [], [], -math.inf
        for number, trial in enumerate(history, start=1):
            if trial.ok and trial.accuracy > best:
                best = trial.accuracy
                seconds.append(trial.cumulative_seconds if cost == "seconds" else float(number))
                architectures.append(trial.architecture)
        spent = (history[-1].cumulative_seconds if cost == "seconds" else float(len(history))) if len(history) else 0.0
        return cls(method, seed, seconds, architectures, spent, trials=len(history))

    @classmethod
    def from_points(cls, method: str, seed: int, points: Sequence[tuple[float, str]], **extra) -> "Run":
        """From (cost so far, cell returned at that cost) pairs, e.g. a supernet's cell after every epoch."""
        points = list(points)
        return cls(method, seed, [float(s) for s, _ in points], [a for _, a in points],
                   float(points[-1][0]) if points else 0.0, trials=len(points), extra=dict(extra))

    def returned_at(self, budget: float) -> str | None:
        """The cell this search returns when stopped after ``budget`` training seconds (None: nothing yet)."""
        index = int(np.searchsorted(self.seconds, budget, side="right")) - 1
        return self.architectures[index] if index >= 0 else None


def returned_on_grid(runs: Sequence[Run], bench: Benchmark, grid: Sequence[float], split: str = "test") -> np.ndarray:
    """(runs, budgets): the benchmark's mean accuracy (over its seeds) of the cell each run returns at each
    budget; NaN where a run has nothing to return yet."""
    values = np.full((len(runs), len(grid)), np.nan)
    for i, run in enumerate(runs):
        for j, budget in enumerate(grid):
            architecture = run.returned_at(budget)
            if architecture is not None:
                values[i, j] = bench.mean_accuracy(architecture, split)
    return values
