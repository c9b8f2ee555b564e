"""Parallel evaluation on Ray: the same trials as the sequential loop, failures recorded, lost workers retried.

Runs on a local Ray instance with 2 CPUs. Skipped when Ray is not installed, except in CI
(NASCOURSE_REQUIRE_RAY=1), where a missing Ray is a failure.
"""

import logging
import math
import os
import sys
from dataclasses import asdict

import pytest

if os.environ.get("NASCOURSE_REQUIRE_RAY") == "1":
    import ray  # CI installs nascourse[ray]: without it this module must fail, not skip
else:
    ray = pytest.importorskip("ray")

import nascourse
from nascourse import (ChainSpace, EvaluationResult, History, LargeScaleEvolution, RandomSearch, RegularizedEvolution,
                       TrainingEvaluator, run_search)
from nascourse.bench import Benchmark
from nascourse.parallel import run_search_ray


class LengthScore:
    """A cheap deterministic evaluator: longer chains score higher. Picklable, so Ray workers can run it."""

    def __call__(self, architecture):
        return EvaluationResult(accuracy=len(architecture) / 10, cost_seconds=1.0, cost_epochs=1.0,
                                parameters=len(architecture))


class FailsOn(LengthScore):
    """Raises for one architecture, as a candidate that runs out of memory would."""

    def __init__(self, victim):
        self.victim = victim

    def __call__(self, architecture):
        if str(architecture) == self.victim:
            raise ValueError(f"no memory left for {self.victim}")
        return super().__call__(architecture)


class KillsFirstWorker(LengthScore):
    """The first call anywhere (marked by creating a file) kills its worker process: a crash, not an exception."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __call__(self, architecture):
        try:
            os.close(os.open(self.marker, os.O_CREAT | os.O_EXCL))  # atomic: exactly one call wins
        except FileExistsError:
            return super().__call__(architecture)
        os._exit(1)


class RecordsCalls(LengthScore):
    """Appends every evaluated architecture to a file: counts evaluations across worker processes."""

    def __init__(self, path):
        self.path = str(path)

    def __call__(self, architecture):
        with open(self.path, "a") as calls:
            calls.write(f"{architecture}\n")
        return super().__call__(architecture)


@pytest.fixture(scope="module", autouse=True)
def local_ray():
    # Workers cannot import this test module (pytest put it on the path), so its evaluators travel by value,
    # as the classes of a notebook or script do anyway.
    ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])
    ray.init(num_cpus=2, include_dashboard=False, logging_level=logging.WARNING, log_to_driver=False)
    yield
    ray.shutdown()
    ray.cloudpickle.unregister_pickle_by_value(sys.modules[__name__])


@pytest.fixture(scope="module")
def table():
    return Benchmark.load()


@pytest.fixture
def chain():
    return ChainSpace(skip_connections=True)


def records(history):
    return [asdict(trial) for trial in history]


def test_random_search_gives_the_sequential_results_for_any_batch(table):
    space, evaluator = table.space, table.evaluator(seed=0)
    sequential = run_search(space, RandomSearch(space, seed=3), evaluator, 10, progress=False)
    parallel = run_search_ray(space, RandomSearch(space, seed=3), evaluator, 10, batch=2, progress=False)
    assert {(t.architecture, t.accuracy) for t in parallel} == {(t.architecture, t.accuracy) for t in sequential}
    assert records(parallel) == records(sequential)  # proposal order is kept, so even the cumulative costs agree


def test_an_adaptive_strategy_with_batch_one_is_exactly_the_sequential_search(table):
    space, evaluator = table.space, table.evaluator(seed=0)

    def evolution():
        return RegularizedEvolution(space, population_size=4, sample_size=2, seed=1)

    sequential = run_search(space, evolution(), evaluator, 12, progress=False)
    assert records(run_search_ray(space, evolution(), evaluator, 12, batch=1, progress=False)) == records(sequential)
    batched = [run_search_ray(space, evolution(), evaluator, 12, batch=3, progress=False) for _ in range(2)]
    assert records(batched[0]) == records(batched[1])  # batches: deterministic for a given seed and batch


def test_an_evaluator_that_raises_fails_its_trial_and_the_search_goes_on(chain):
    victim = str(RandomSearch(chain, seed=0).ask())
    history = run_search_ray(chain, RandomSearch(chain, seed=0), FailsOn(victim), 6, batch=2, progress=False)
    assert len(history) == 6
    failed = history[0]
    assert failed.architecture == victim and not failed.ok and math.isnan(failed.accuracy)
    assert failed.status == f"failed: ValueError: no memory left for {victim}"
    assert failed.cost_seconds == 0 and failed.cost_epochs == 0
    others = [t for t in history if t.architecture != victim]
    assert others and all(t.ok and t.accuracy == len(chain.decode(t.architecture)) / 10 for t in others)


def test_a_killed_worker_is_retried_and_with_no_retries_its_trial_is_recorded_failed(chain, tmp_path):
    retried = run_search_ray(chain, RandomSearch(chain, seed=0), KillsFirstWorker(tmp_path / "first"), 4, batch=2,
                             max_retries=1, progress=False)
    assert len(retried) == 4 and all(t.ok for t in retried)
    assert records(retried) == records(run_search(chain, RandomSearch(chain, seed=0), LengthScore(), 4, progress=False))

    lost = run_search_ray(chain, RandomSearch(chain, seed=0), KillsFirstWorker(tmp_path / "second"), 4, batch=2,
                          max_retries=0, progress=False)
    assert len(lost) == 4
    failed = [t for t in lost if not t.ok]
    assert len(failed) == 1 and failed[0].status.startswith("failed: worker lost")
    assert math.isnan(failed[0].accuracy)


def test_a_resumed_search_replays_its_log_and_evaluates_only_the_rest(chain, tmp_path):
    def evolution(seed=2):
        return RegularizedEvolution(chain, population_size=4, sample_size=2, seed=seed)

    uninterrupted = run_search_ray(chain, evolution(), LengthScore(), 8, batch=2, progress=False)
    log, calls = tmp_path / "search.jsonl", tmp_path / "calls.txt"
    run_search_ray(chain, evolution(), RecordsCalls(calls), 3, batch=2, log_path=log, progress=False)  # stopped mid-batch
    resumed = run_search_ray(chain, evolution(), RecordsCalls(calls), 8, batch=2, log_path=log, progress=False)

    assert len(calls.read_text().splitlines()) == 8  # 3 before, then only the 5 unfinished trials
    assert [(t.architecture, t.accuracy) for t in resumed] == [(t.architecture, t.accuracy) for t in uninterrupted]
    assert records(History.load(log)) == records(resumed)
    with pytest.raises(ValueError, match="belongs to another search"):
        run_search_ray(chain, evolution(seed=5), LengthScore(), 10, batch=2, log_path=log, progress=False)


def test_a_budget_in_seconds_stops_asking_new_batches(chain):
    def search(batch):  # every candidate costs 1 s; the budget is 3 s
        return run_search_ray(chain, RandomSearch(chain, seed=0), LengthScore(), 10, batch=batch, max_seconds=3,
                              progress=False)

    assert records(search(1)) == records(run_search(chain, RandomSearch(chain, seed=0), LengthScore(), 3, progress=False))
    assert len(search(2)) == 4  # the second batch started at 2 s, under the budget, and ran whole


def test_training_in_ray_workers_gives_the_sequential_accuracies():
    digits = nascourse.load_dataset("digits")
    space = ChainSpace(channel_choices=(8,), max_layers=2)
    evaluator = TrainingEvaluator(space, digits, epochs=1, batch_size=64)
    sequential = run_search(space, RandomSearch(space, seed=0), evaluator, 2, progress=False)
    parallel = run_search_ray(space, RandomSearch(space, seed=0), evaluator, 2, batch=2, progress=False)
    assert all(t.ok for t in parallel)
    assert [(t.architecture, t.accuracy, t.curve[0]["train_loss"]) for t in parallel] == \
           [(t.architecture, t.accuracy, t.curve[0]["train_loss"]) for t in sequential]


def test_an_evaluator_the_workers_cannot_load_is_a_clear_error(chain, tmp_path, monkeypatch):
    (tmp_path / "private_evaluators.py").write_text(
        "from nascourse import EvaluationResult\n\n"
        "class Constant:\n"
        "    def __call__(self, architecture):\n"
        "        return EvaluationResult(0.5, 1.0, 1.0, 1)\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))  # importable here, but not by the workers
    monkeypatch.delitem(sys.modules, "private_evaluators", raising=False)
    from private_evaluators import Constant

    with pytest.raises(RuntimeError, match="No module named 'private_evaluators'.*install nascourse and your own code"):
        run_search_ray(chain, RandomSearch(chain), Constant(), 2, batch=2, progress=False)


def test_mistakes_are_explained_before_anything_runs(chain, table, monkeypatch):
    with pytest.raises(ValueError, match="batch=1"):
        run_search_ray(chain, LargeScaleEvolution(chain), LengthScore(), 4, batch=2, progress=False)
    with pytest.raises(ValueError, match="the Ray cluster has 0"):
        run_search_ray(chain, RandomSearch(chain), LengthScore(), 2, gpus_per_trial=1, progress=False)
    with pytest.raises(ValueError, match="batch must be a positive integer"):
        run_search_ray(chain, RandomSearch(chain), LengthScore(), 2, batch=0, progress=False)
    with pytest.warns(UserWarning, match="Give it a seed"):
        run_search_ray(table.space, RandomSearch(table.space), table.evaluator(), 1, progress=False)
    monkeypatch.setitem(sys.modules, "ray", None)  # as if Ray were not installed
    with pytest.raises(ImportError, match=r'pip install "nascourse\[ray\]"'):
        run_search_ray(chain, RandomSearch(chain), LengthScore(), 2, progress=False)
