"""The NAS loop: strategy asks, evaluator scores, history records with cumulative cost."""

import json
import math

import numpy as np
import pytest

from nascourse import EvaluationResult, History, RandomSearch, run_search
from nascourse.spaces import ChainSpace


class LengthScore:
    """A stand-in evaluator with a known optimum: deeper chains score higher; costs one second each."""

    def __init__(self):
        self.calls = 0

    def __call__(self, architecture):
        self.calls += 1
        return EvaluationResult(accuracy=len(architecture) / 10, cost_seconds=1.0, cost_epochs=2.0, parameters=10)


def result(accuracy, status="ok"):
    return EvaluationResult(accuracy=accuracy, cost_seconds=0.5, cost_epochs=1.0, parameters=1, status=status)


def test_history_accumulates_cost_and_tracks_the_best():
    history = History()
    for accuracy in (0.3, 0.7, 0.5):
        history.add("arch", result(accuracy))
    assert [t.cumulative_seconds for t in history] == [0.5, 1.0, 1.5]
    assert history.best().accuracy == 0.7
    spent, best = history.anytime("epochs")
    assert spent.tolist() == [1.0, 2.0, 3.0] and best.tolist() == [0.3, 0.7, 0.7]


def test_failed_trials_cost_compute_but_never_win():
    history = History()
    history.add("a", result(math.nan, status="diverged"))
    history.add("b", result(0.4))
    spent, best = history.anytime("seconds")
    assert spent.tolist() == [0.5, 1.0]
    assert np.isnan(best[0]) and best[1] == 0.4
    assert history.best().architecture == "b"


def test_best_of_an_empty_history_explains_itself():
    with pytest.raises(ValueError, match="No successful trial"):
        History().best()


def test_unknown_cost_unit_is_rejected():
    with pytest.raises(ValueError, match="cost must be one of"):
        History().anytime("dollars")


def test_run_search_evaluates_the_requested_number_of_trials():
    space = ChainSpace()
    evaluator = LengthScore()
    history = run_search(space, RandomSearch(space, seed=0), evaluator, trials=12, progress=False)
    assert len(history) == evaluator.calls == 12
    assert history.best().accuracy == max(t.accuracy for t in history)


def test_random_search_with_the_same_seed_proposes_the_same_architectures():
    space = ChainSpace(skip_connections=True)
    runs = [run_search(space, RandomSearch(space, seed=4), LengthScore(), 8, progress=False) for _ in range(2)]
    assert [t.architecture for t in runs[0]] == [t.architecture for t in runs[1]]


def test_an_interrupted_search_resumes_without_redoing_finished_trials(tmp_path):
    space = ChainSpace(skip_connections=True)
    log = tmp_path / "search.jsonl"
    uninterrupted = run_search(space, RandomSearch(space, seed=1), LengthScore(), 10, progress=False)

    run_search(space, RandomSearch(space, seed=1), LengthScore(), 4, log_path=log, progress=False)  # "killed" here
    with open(log, "a") as file:
        file.write('{"index": 4, "archit')  # a trial that was being written when the process died
    evaluator = LengthScore()
    resumed = run_search(space, RandomSearch(space, seed=1), evaluator, 10, log_path=log, progress=False)

    assert evaluator.calls == 6  # only the unfinished trials ran
    assert [t.architecture for t in resumed] == [t.architecture for t in uninterrupted]
    assert len(History.load(log)) == 10


def test_resuming_from_another_searchs_log_is_a_clear_error(tmp_path):
    space = ChainSpace(skip_connections=True)
    log = tmp_path / "search.jsonl"
    run_search(space, RandomSearch(space, seed=1), LengthScore(), 3, log_path=log, progress=False)
    with pytest.raises(ValueError, match="belongs to another search"):
        run_search(space, RandomSearch(space, seed=2), LengthScore(), 5, log_path=log, progress=False)


def test_a_file_that_is_not_a_history_is_rejected(tmp_path):
    path = tmp_path / "other.jsonl"
    path.write_text(json.dumps({"hello": 1}) + "\n" + json.dumps({"hello": 2}) + "\n")
    with pytest.raises(ValueError, match="not a trial record"):
        History.load(path)


def test_trials_must_be_positive():
    space = ChainSpace()
    with pytest.raises(ValueError, match="trials must be a positive integer"):
        run_search(space, RandomSearch(space), LengthScore(), 0, progress=False)
