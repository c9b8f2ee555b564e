"""Chapter 00's strategy exercise: the checker runs a learner's ask/tell class through the NAS loop on a toy space,
accepts the reference, calls the untouched stub not attempted, and rejects plausible wrong strategies.
(The chapter's other exercises are tested in test_exercises.py.)"""

import math
import random

import pytest

from nascourse.bench import Benchmark
from nascourse.exercises import ch00
from nascourse.exercises.core import FAILED, NOT_ATTEMPTED, PASSED
from nascourse.loop import run_search
from nascourse.strategies import RandomSearch, Strategy

exercise = ch00.hill_climbing


class Stub(Strategy):
    """The notebook's cell as the learner first sees it."""

    def __init__(self, space, seed=0, start=10):
        super().__init__(space, seed)
        self.start, self.told, self.best, self.best_accuracy = start, 0, None, float("-inf")

    def ask(self):
        raise NotImplementedError

    def tell(self, architecture, result):
        raise NotImplementedError


def test_reference_passes_and_stub_is_not_attempted(capsys):
    assert exercise.evaluate(exercise.reference).status == PASSED
    assert exercise.evaluate(Stub).status == NOT_ATTEMPTED
    assert exercise.check(Stub) is exercise.reference
    assert "not attempted" in capsys.readouterr().out


def test_a_correct_class_is_returned_for_the_rest_of_the_notebook(capsys):
    class Mine(Stub):
        def ask(self):
            if self.best is not None and self.told >= self.start:
                return self.space.mutate(self.best, self.rng)
            return self.space.sample(self.rng)

        def tell(self, architecture, result):
            self.told += 1
            if not math.isnan(result.accuracy) and result.accuracy > self.best_accuracy:
                self.best, self.best_accuracy = architecture, result.accuracy

    assert exercise.check(Mine) is Mine
    assert "passed" in capsys.readouterr().out


class Reference(Stub):
    ask = ch00._HillClimbing.ask
    tell = ch00._HillClimbing.tell


class MutatesTheLastProposal(Reference):
    """A random walk: each proposal is a mutation of the previous one, however it scored."""

    def ask(self):
        if self.told < self.start:
            self.last = self.space.sample(self.rng)
        else:
            self.last = self.space.mutate(self.last, self.rng)
        return self.last


class ReplacesTheBestOnTies(Reference):
    def tell(self, architecture, result):
        self.told += 1
        if result.accuracy >= self.best_accuracy:
            self.best, self.best_accuracy = architecture, result.accuracy


class NeverMutates(Reference):
    def ask(self):
        return self.space.sample(self.rng)


class OneRandomStartTooMany(Reference):
    def ask(self):
        if self.told <= self.start or self.best is None:
            return self.space.sample(self.rng)
        return self.space.mutate(self.best, self.rng)


class KeepsTheFirstResultWhateverItIs(Reference):
    """Takes the first result as the best even when it diverged (NaN), and NaN then blocks every later one."""

    def tell(self, architecture, result):
        self.told += 1
        if self.best is None or result.accuracy > self.best_accuracy:
            self.best, self.best_accuracy = architecture, result.accuracy


class UsesTheGlobalRandomModule(Reference):
    """Right idea, but its randomness is not the strategy's seeded rng: a seed no longer repeats the search."""

    def ask(self):
        if self.told < self.start or self.best is None:
            return self.space.sample(random)
        return self.space.mutate(self.best, random)


@pytest.mark.parametrize("wrong", [MutatesTheLastProposal, ReplacesTheBestOnTies, NeverMutates, OneRandomStartTooMany,
                                   KeepsTheFirstResultWhateverItIs, UsesTheGlobalRandomModule],
                         ids=lambda c: c.__name__)
def test_plausible_wrong_strategies_are_rejected_with_a_hint(wrong):
    random.seed(0)
    result = exercise.evaluate(wrong)
    assert result.status == FAILED and "hint:" in result.message


def test_a_broken_class_is_reported_not_raised():
    class Broken(Stub):
        def ask(self):
            return self.space.sample()  # forgot the rng

    result = exercise.evaluate(Broken)
    assert result.status == FAILED and "TypeError" in result.message


def test_the_reference_runs_through_run_search_on_the_benchmark():
    bench = Benchmark.load()
    history = run_search(bench.space, exercise.reference(bench.space, seed=0, start=5), bench.evaluator(), trials=30,
                         progress=False)
    proposals = [bench.space.decode(t.architecture) for t in history]
    # after the random start, every proposal differs from an earlier, better-or-equal proposal in one edge
    for t in range(5, 30):
        best = max(history.trials[:t], key=lambda trial: trial.accuracy)
        changed = sum(a != b for a, b in zip(proposals[t].operations, bench.space.decode(best.architecture).operations))
        assert changed == 1
    # and it is a real strategy of the loop: a seed repeats it, random search with that seed proposes otherwise
    again = run_search(bench.space, exercise.reference(bench.space, seed=0, start=5), bench.evaluator(), trials=30,
                       progress=False)
    assert [t.architecture for t in again] == [t.architecture for t in history]
    plain = run_search(bench.space, RandomSearch(bench.space, seed=0), bench.evaluator(), trials=30, progress=False)
    assert [t.architecture for t in plain][:5] == [t.architecture for t in history][:5]
    assert [t.architecture for t in plain] != [t.architecture for t in history]
