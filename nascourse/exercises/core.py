"""The exercise mechanism shared by every chapter.

In a notebook a learner fills in a function and hands it to its exercise::

    def best_so_far(accuracies):
        raise NotImplementedError  # your code here

    best_so_far = exercises.ch00.best_so_far.check(best_so_far)

``check`` runs the function on the exercise's cases and prints specific feedback: which
case failed, what was expected, what came back, and a hint. It returns the function the
rest of the notebook should use: the learner's when it passed; otherwise the reference
solution, so that a notebook with exercises left undone (or not yet right) still runs on.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable, Sequence

import numpy as np
import torch

__all__ = ["Case", "CheckResult", "Exercise", "PASSED", "NOT_ATTEMPTED", "FAILED"]

PASSED, NOT_ATTEMPTED, FAILED = "passed", "not attempted", "failed"


@dataclass
class Case:
    """One check: call the function with ``args`` (or with what ``args()`` returns, for fresh objects
    such as iterators) and compare with ``expected`` (by default: what the reference returns)."""

    description: str
    args: tuple | Callable[[], tuple]
    expected: Any = None

    def arguments(self) -> tuple:
        return self.args() if callable(self.args) else self.args


@dataclass
class CheckResult:
    status: str
    message: str

    @property
    def passed(self) -> bool:
        return self.status == PASSED

    def __str__(self) -> str:
        return self.message


def _same(got: Any, expected: Any) -> bool:
    """Equality that forgives float rounding, and compares tensors, lists, tuples and arrays elementwise."""
    if isinstance(expected, torch.Tensor):
        return (
            isinstance(got, torch.Tensor)
            and got.shape == expected.shape
            and torch.allclose(got.to(expected.dtype), expected, rtol=1e-6, atol=1e-8)
        )
    if isinstance(expected, (float, np.floating)):
        return isinstance(got, (int, float, np.number)) and math.isclose(got, expected, rel_tol=1e-6, abs_tol=1e-9)
    if isinstance(expected, (list, tuple, np.ndarray)):
        if not isinstance(got, (list, tuple, np.ndarray)) or len(got) != len(expected):
            return False
        return all(_same(g, e) for g, e in zip(got, expected))
    if isinstance(expected, (bool, np.bool_)) or isinstance(got, (bool, np.bool_)):
        return type(got) is type(expected) and got == expected
    return got == expected


class Exercise:
    """A task with a reference solution, cases, and a hint: shown when a case fails, or on request (``show_hint``).

    The reference solutions live in ``nascourse/exercises/chNN.py``, one module per chapter: read them after trying."""

    def __init__(self, name: str, reference: Callable, cases: Sequence[Case], hint: str):
        self.name = name
        self.reference = reference
        self.cases = list(cases)
        self.hint = hint

    def __repr__(self) -> str:
        return f"Exercise({self.name!r}, {len(self.cases)} cases)"

    @property
    def where(self) -> str:
        """How to reach this exercise from a notebook, e.g. ``exercises.ch00.best_so_far``."""
        return f"exercises.{self.reference.__module__.rsplit('.', 1)[-1]}.{self.name}"

    def show_hint(self) -> None:
        """Print the hint, for a learner who is stuck before trying anything."""
        print(f"hint for {self.name}: {self.hint}")

    def solution_path(self) -> str:
        """The file that holds the reference solution (read it after trying)."""
        return "nascourse/" + self.reference.__module__.split(".", 1)[1].replace(".", "/") + ".py"

    def evaluate(self, candidate: Callable) -> CheckResult:
        """Run ``candidate`` on every case, without printing; the first failing case is reported."""
        if not callable(candidate):
            return CheckResult(FAILED, f"{self.name}: expected a function, got {type(candidate).__name__}.")
        failure = None
        outputs = []
        for case in self.cases:
            expected = case.expected if case.expected is not None else self.reference(*case.arguments())
            try:
                got = candidate(*case.arguments())
            except NotImplementedError:
                return CheckResult(NOT_ATTEMPTED, f"{self.name}: not attempted.")
            except Exception as error:  # the learner's code crashed: say where, not a stack trace
                return CheckResult(
                    FAILED,
                    f"{self.name}: failed on {case.description}: raised {type(error).__name__}: {error}\n"
                    f"  hint: {self.hint}",
                )
            outputs.append(got)
            if failure is None and not _same(got, expected):
                failure = CheckResult(
                    FAILED,
                    f"{self.name}: failed on {case.description}\n  expected: {expected!r}\n"
                    f"  got:      {got!r}\n  hint: {self.hint}",
                )
        if outputs and all(output is None for output in outputs):  # a body of `pass` or `...`
            return CheckResult(NOT_ATTEMPTED, f"{self.name}: not attempted (the function returns nothing).")
        return failure or CheckResult(PASSED, f"{self.name}: passed all {len(self.cases)} checks. Well done!")

    def check(self, candidate: Callable) -> Callable:
        """Print feedback on ``candidate``; return it if it passed, else the reference so the notebook runs on."""
        result = self.evaluate(candidate)
        print(("✅ " if result.passed else "✏️  ") + result.message)
        if result.passed:
            return candidate
        if result.status == NOT_ATTEMPTED:
            print("   Using the reference solution so you can go on; come back to it whenever you like.")
            print(f"   Stuck? `{self.where}.show_hint()` prints a hint; the reference solution is in "
                  f"{self.solution_path()} (read it after trying).")
        else:
            print("   Using the reference solution for the rest of the notebook; fix yours and run this cell again.")
        return self.reference
