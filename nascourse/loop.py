"""The NAS loop of survey Fig. 1: a strategy proposes, an evaluator ranks, the result feeds back.

    search space --sample--> strategy --ask--> candidate --evaluate--> result --tell--> strategy
                                                                          |
                                                                       history  (best so far vs. cost)

Every method of the course runs through ``run_search`` with the same ``EvaluationResult``
record and the same ``History``, so every anytime plot is drawn the same way and methods
can be compared on one footing.

A search that is given a ``log_path`` appends each finished trial to that file (one JSON
line each). Run the same search again with the same file and it resumes: finished trials
are replayed into the strategy, not trained again, and the search goes on from there.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, Iterator, Protocol

import numpy as np

from .spaces.base import SearchSpace

__all__ = ["EvaluationResult", "Trial", "History", "Evaluator", "run_search"]


@dataclass
class EvaluationResult:
    """What an evaluator says about one architecture: the one record every evaluator returns."""

    accuracy: float  # validation accuracy in [0, 1]; NaN when the candidate failed
    cost_seconds: float  # compute spent on this candidate (wall time of its training)
    cost_epochs: float  # compute in training epochs: a machine-independent unit
    parameters: int
    status: str = "ok"  # "ok", or why it failed ("diverged")
    curve: list[dict] = field(default_factory=list)  # learning curve: epoch, train_loss, val_accuracy, seconds


@dataclass
class Trial:
    """One evaluated candidate, numbered in the order the search proposed it."""

    index: int
    architecture: str
    accuracy: float
    cost_seconds: float
    cost_epochs: float
    parameters: int
    status: str
    cumulative_seconds: float
    cumulative_epochs: float
    curve: list[dict] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.status == "ok" and not math.isnan(self.accuracy)

    def result(self) -> EvaluationResult:
        return EvaluationResult(
            self.accuracy, self.cost_seconds, self.cost_epochs, self.parameters, self.status, self.curve
        )


class History:
    """The trials of a search in order, with cumulative cost; optionally mirrored to a JSON-lines file."""

    COSTS = ("seconds", "epochs", "trials")

    def __init__(self, trials: list[Trial] | None = None, log_path: str | Path | None = None):
        self.trials: list[Trial] = list(trials or [])
        self.log_path = Path(log_path) if log_path is not None else None

    def __len__(self) -> int:
        return len(self.trials)

    def __iter__(self) -> Iterator[Trial]:
        return iter(self.trials)

    def __getitem__(self, index: int) -> Trial:
        return self.trials[index]

    def __repr__(self) -> str:
        if not self.trials:
            return "History(no trials)"
        best = self.best()
        return (
            f"History({len(self)} trials, {self.trials[-1].cumulative_seconds:.1f} s, "
            f"best {best.accuracy:.3f}: {best.architecture})"
        )

    def add(self, architecture: str, result: EvaluationResult) -> Trial:
        """Record a finished evaluation (and append it to the log file, if any)."""
        previous_seconds = self.trials[-1].cumulative_seconds if self.trials else 0.0
        previous_epochs = self.trials[-1].cumulative_epochs if self.trials else 0.0
        trial = Trial(
            index=len(self.trials),
            architecture=architecture,
            accuracy=float(result.accuracy),
            cost_seconds=float(result.cost_seconds),
            cost_epochs=float(result.cost_epochs),
            parameters=int(result.parameters),
            status=result.status,
            cumulative_seconds=previous_seconds + float(result.cost_seconds),
            cumulative_epochs=previous_epochs + float(result.cost_epochs),
            curve=list(result.curve),
        )
        self.trials.append(trial)
        if self.log_path is not None:
            self._append(trial)
        return trial

    def _append(self, trial: Trial) -> None:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log_path, "a", encoding="utf-8") as log:
            log.write(json.dumps(asdict(trial)) + "\n")
            log.flush()
            os.fsync(log.fileno())  # a finished trial survives a crash right after it

    @classmethod
    def load(cls, path: str | Path) -> "History":
        """Read a history written by a search's ``log_path``. A half-written last line is ignored."""
        path = Path(path)
        names = {f.name for f in fields(Trial)}
        trials = []
        lines = path.read_text(encoding="utf-8").splitlines() if path.exists() else []
        for number, line in enumerate(lines, start=1):
            try:
                record = json.loads(line)
            except json.JSONDecodeError:
                if number == len(lines):  # interrupted mid-write: that trial did not finish
                    break
                raise ValueError(f"{path}, line {number}, is not a JSON trial record; is this a history file?")
            if not isinstance(record, dict) or set(record) != names:
                raise ValueError(f"{path}, line {number}, is not a trial record of nascourse's History.")
            trials.append(Trial(**record))
        history = cls(trials)
        if len(trials) < len(lines):  # rewrite without the broken tail, so later appends stay valid
            path.write_text("".join(json.dumps(asdict(t)) + "\n" for t in trials), encoding="utf-8")
        history.log_path = path
        return history

    # -- reading results ---------------------------------------------------------------
    def successful(self) -> list[Trial]:
        return [t for t in self.trials if t.ok]

    def best(self) -> Trial:
        """The trial with the highest validation accuracy (the first one on ties)."""
        ok = self.successful()
        if not ok:
            raise ValueError("No successful trial yet: every candidate failed or the search has not run.")
        return max(ok, key=lambda t: t.accuracy)

    def accuracies(self) -> np.ndarray:
        return np.array([t.accuracy for t in self.trials], dtype=float)

    def anytime(self, cost: str = "seconds") -> tuple[np.ndarray, np.ndarray]:
        """The anytime curve: (cumulative cost after each trial, best accuracy found so far).

        ``cost`` is "seconds" (wall time), "epochs" (training epochs) or "trials".
        Failed trials cost compute but never raise the best; before the first success it is NaN.
        """
        if cost not in self.COSTS:
            raise ValueError(f"cost must be one of {self.COSTS}, got {cost!r}.")
        if cost == "trials":
            spent = np.arange(1, len(self.trials) + 1, dtype=float)
        else:
            spent = np.array([getattr(t, f"cumulative_{cost}") for t in self.trials], dtype=float)
        accuracies = np.where([t.ok for t in self.trials], self.accuracies(), -np.inf)
        best = np.maximum.accumulate(accuracies) if len(accuracies) else accuracies
        return spent, np.where(np.isfinite(best), best, np.nan)


class Evaluator(Protocol):
    """Anything that turns an architecture into an ``EvaluationResult``: training, a table lookup, a proxy..."""

    def __call__(self, architecture: Any) -> EvaluationResult: ...


def check_budget(trials: int, max_seconds: float | None) -> None:
    """A search's budget: a positive number of candidates, and optionally of seconds."""
    if not isinstance(trials, int) or trials < 1:
        raise ValueError(f"trials must be a positive integer, got {trials!r}.")
    if max_seconds is not None and not (isinstance(max_seconds, (int, float)) and max_seconds > 0):
        raise ValueError(f"max_seconds must be a positive number of seconds, got {max_seconds!r}.")


def replayed(trial: Trial, proposed: str, log_path: str | Path | None, asking: str = "") -> EvaluationResult:
    """Resuming from a log: the logged result of ``trial``, which the strategy, asked again, has just proposed
    (``proposed``, encoded). A strategy that proposes something else means the log belongs to another search.

    The one replay rule of ``run_search`` and ``nascourse.parallel.run_search_ray`` (``asking``: how the latter
    asks, in batches)."""
    if proposed != trial.architecture:
        raise ValueError(
            f"Cannot resume from {log_path}: trial {trial.index} there is {trial.architecture!r}, but the "
            f"strategy now proposes {proposed!r}. The log belongs to another search (space, strategy{asking} or "
            "seed); give this search a new log_path or delete the old file."
        )
    return trial.result()


def run_search(
    space: SearchSpace,
    strategy: Any,
    evaluator: Evaluator,
    trials: int,
    log_path: str | Path | None = None,
    progress: bool = True,
    description: str | None = None,
    max_seconds: float | None = None,
) -> History:
    """Run the NAS loop for ``trials`` candidates: ask, evaluate, tell, record.

    With ``max_seconds`` the search also stops as soon as its candidates have cost that many seconds in
    total (the last one may overshoot it): a budget in compute instead of a count of candidates.

    With ``log_path``, finished trials are appended to that file as they complete, and a
    search started again on an existing file replays them (the strategy is asked again and
    must propose the same architectures, which a seeded strategy does) and continues.
    """
    check_budget(trials, max_seconds)
    history = History(log_path=None)
    finished = History.load(log_path).trials if log_path is not None else []
    for trial in finished[:trials]:  # replay: rebuilds the strategy's state without training again
        result = replayed(trial, space.encode(strategy.ask()), log_path)
        history.add(trial.architecture, result)
        strategy.tell(space.decode(trial.architecture), result)
    history.log_path = Path(log_path) if log_path is not None else None

    steps: Any = range(len(history), trials)
    if progress:
        from tqdm.auto import tqdm

        steps = tqdm(steps, desc=description or type(strategy).__name__, unit="arch", initial=len(history), total=trials)
    for _ in steps:
        if max_seconds is not None and history.trials and history.trials[-1].cumulative_seconds >= max_seconds:
            break
        architecture = strategy.ask()
        result = evaluator(architecture)
        history.add(space.encode(architecture), result)
        strategy.tell(architecture, result)
        if progress and history.successful():
            steps.set_postfix(best=f"{history.best().accuracy:.3f}")
    return history
