"""The tabular benchmark: a resumable build, a checked file, fast lookups, and an evaluator for the NAS loop."""

import gzip
import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from nascourse import RandomSearch, run_search
from nascourse.bench import Benchmark, BenchmarkError, Protocol, build_benchmark
from nascourse.bench.build import partial_path
from nascourse.stats import spearman

TINY = Protocol(operations=("none", "conv3x3"), channels=4, epochs=2, seeds=(0, 1))  # 2^6 cells, 14 unique
TINY_FLAGS = ["--operations", "none", "conv3x3", "--channels", "4", "--epochs", "2"]


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    path = tmp_path_factory.mktemp("bench") / "tiny.json.gz"
    assert build_benchmark(path, TINY, workers=2, progress=False) == path
    return Benchmark.load(path), path


def test_every_unique_architecture_is_in_the_table_once(tiny):
    benchmark, _ = tiny
    unique = [str(a) for a in TINY.space().unique_architectures()]
    assert benchmark.architectures == unique
    assert benchmark.val_accuracy.shape == (len(unique), 2, 2)


def test_equivalent_forms_find_the_same_row(tiny):
    benchmark, _ = tiny
    space = TINY.space()
    for raw in space.enumerate():
        assert benchmark.row(raw) == benchmark.row(space.canonical(raw))


def test_a_query_returns_the_recorded_curve_point(tiny):
    benchmark, _ = tiny
    architecture = benchmark.architectures[-1]
    first, last = benchmark.query(architecture, epoch=1, seed=1), benchmark.query(architecture, seed=1)
    assert last.epoch == 2 and 0 <= last.val_accuracy <= 1 and 0 <= last.test_accuracy <= 1
    assert last.train_seconds >= first.train_seconds > 0
    assert last.parameters > 0 and last.flops > 0 and last.latency_ms > 0


def test_bad_queries_are_explained(tiny):
    benchmark, _ = tiny
    with pytest.raises(ValueError, match="epoch must lie in 1..2"):
        benchmark.query(benchmark.architectures[0], epoch=3)
    with pytest.raises(ValueError, match="trained seeds"):
        benchmark.query(benchmark.architectures[0], seed=7)
    with pytest.raises(ValueError):
        benchmark.query("|conv9x9~0|+|none~0|none~1|+|none~0|none~1|none~2|")


def test_the_evaluator_runs_a_search_in_training_seconds(tiny):
    benchmark, _ = tiny
    space = benchmark.space
    history = run_search(space, RandomSearch(space, seed=0), benchmark.evaluator(seed=0), trials=20, progress=False)
    expected = sum(benchmark.query(t.architecture, seed=0).train_seconds for t in history)
    assert history.trials[-1].cumulative_seconds == pytest.approx(expected)
    assert history.best().accuracy == max(benchmark.query(t.architecture, seed=0).val_accuracy for t in history)


def test_a_corrupted_file_is_refused(tiny, tmp_path):
    _, path = tiny
    with gzip.open(path, "rt") as file:
        content = json.load(file)
    content["payload"]["entries"][0]["parameters"] += 1
    broken = tmp_path / "broken.json.gz"
    with gzip.open(broken, "wt") as file:
        json.dump(content, file)
    with pytest.raises(BenchmarkError, match="corrupted"):
        Benchmark.load(broken)
    truncated = tmp_path / "truncated.json.gz"
    truncated.write_bytes(path.read_bytes()[:100])
    with pytest.raises(BenchmarkError, match="not a readable benchmark"):
        Benchmark.load(truncated)
    with pytest.raises(BenchmarkError, match="No benchmark file"):
        Benchmark.load(tmp_path / "missing.json.gz")


def test_resuming_with_another_protocol_is_refused(tiny):
    _, path = tiny
    with pytest.raises(ValueError, match="another protocol"):
        build_benchmark(path, Protocol(operations=TINY.operations, channels=8, epochs=2), workers=1, progress=False)


def test_more_seeds_extend_a_build_without_retraining(tiny, tmp_path):
    _, path = tiny
    extended = tmp_path / "tiny.json.gz"
    partial_path(extended).write_text(partial_path(path).read_text())
    more = Protocol(operations=TINY.operations, channels=TINY.channels, epochs=TINY.epochs, seeds=(0, 1, 2))
    assert build_benchmark(extended, more, workers=2, progress=False) == extended
    jobs = [json.loads(line) for line in partial_path(extended).read_text().splitlines() if '"architecture"' in line]
    assert len(jobs) == 3 * len(TINY.space().unique_architectures())  # seeds 0 and 1 were not trained again
    benchmark = Benchmark.load(extended)
    assert benchmark.seeds == [0, 1, 2] and benchmark.val_accuracy.shape[1] == 3
    assert -1 <= benchmark.seed_spearman() <= 1 and -1 <= benchmark.split_half_spearman() <= 1
    with pytest.raises(ValueError, match="another protocol"):  # fewer seeds than were built is not an extension
        build_benchmark(extended, replace(more, seeds=(0,)), workers=1, progress=False)


def test_a_killed_build_resumes_and_loses_nothing(tmp_path):
    out = tmp_path / "killed.json.gz"
    command = [sys.executable, "-m", "nascourse", "bench", "build", "--out", str(out), "--workers", "1", *TINY_FLAGS]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    partial = partial_path(out)
    deadline = time.time() + 120
    while time.time() < deadline:  # wait until a few jobs are written, then kill the whole build
        if partial.exists() and partial.read_text().count('"architecture"') >= 3:
            break
        time.sleep(0.2)
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    finished_before = partial.read_text().count('"architecture"')
    assert 3 <= finished_before < 2 * len(TINY.space().unique_architectures())
    assert not out.exists()

    subprocess.run(command, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    jobs = [json.loads(line) for line in partial.read_text().splitlines() if '"architecture"' in line]
    assert len(jobs) == len({(job["architecture"], job["seed"]) for job in jobs})  # nothing trained twice
    assert len(Benchmark.load(out)) == len(TINY.space().unique_architectures())


def test_spearman_matches_its_definition():
    assert spearman(np.array([1, 2, 3, 4]), np.array([10, 20, 30, 40])) == pytest.approx(1.0)
    assert spearman(np.array([1, 2, 3, 4]), np.array([4, 3, 2, 1])) == pytest.approx(-1.0)
    assert spearman(np.array([1, 1, 2]), np.array([5, 5, 9])) == pytest.approx(1.0)  # ties share ranks


def test_win_probability_counts_pairs_and_halves_ties():
    from nascourse.stats import win_probability

    assert win_probability([3, 4], [1, 2]) == 1.0
    assert win_probability([1, 2], [3, 4]) == 0.0
    assert win_probability([1, 3], [2, 2]) == 0.5  # one pair won, one lost per baseline value
    assert win_probability([2], [2]) == 0.5
    with pytest.raises(ValueError, match="at least one value"):
        win_probability([], [1])


def test_returned_accuracy_scores_the_cell_a_search_hands_over(tiny):
    benchmark, _ = tiny
    history = run_search(benchmark.space, RandomSearch(benchmark.space, seed=1), benchmark.evaluator(seed=0),
                         trials=10, progress=False)
    chosen = benchmark.row(history.best().architecture)
    assert benchmark.returned_accuracy(history) == pytest.approx(np.nanmean(benchmark.val_accuracy[chosen, :, -1]))
    first = history.trials[0]
    early = benchmark.returned_accuracy(history, budget_seconds=first.cumulative_seconds, split="test")
    assert early == pytest.approx(np.nanmean(benchmark.test_accuracy[benchmark.row(first.architecture), :, -1]))
    with pytest.raises(ValueError, match="larger budget"):
        benchmark.returned_accuracy(history, budget_seconds=0.0)


def test_returned_on_grid_is_returned_accuracy_at_each_budget_and_nan_before_the_first_trial(tiny):
    benchmark, _ = tiny
    histories = [run_search(benchmark.space, RandomSearch(benchmark.space, seed=s), benchmark.evaluator(seed=0),
                            trials=6, progress=False) for s in (1, 2)]
    first = min(h.trials[0].cumulative_seconds for h in histories)
    grid = np.array([first / 2, first, histories[0].trials[-1].cumulative_seconds])
    values = benchmark.returned_on_grid(histories, grid, split="test")
    assert values.shape == (2, 3) and np.isnan(values[:, 0]).all()
    assert values[0, 2] == pytest.approx(benchmark.returned_accuracy(histories[0], grid[2], split="test"))
    architecture = histories[0].trials[0].architecture
    assert benchmark.mean_accuracy(architecture, "test") == pytest.approx(
        np.nanmean(benchmark.test_accuracy[benchmark.row(architecture), :, -1]))


# --- the search signal's noise knob (on the course's table) ---------------------------------------------------
@pytest.fixture(scope="module")
def bench():
    return Benchmark.load()


def test_averaging_every_seed_gives_the_table_mean_at_the_cost_of_every_training(bench):
    from nascourse.bench import BenchmarkEvaluator

    architecture = bench.architectures[500]
    result = BenchmarkEvaluator(bench, average=len(bench.seeds))(architecture)
    assert result.accuracy == pytest.approx(bench.final_validation()[500])
    assert result.cost_seconds == pytest.approx(bench.train_seconds[500, :, -1].sum())
    assert result.cost_epochs == bench.protocol.epochs * len(bench.seeds)


def test_averaging_two_runs_draws_two_different_seeds(bench):
    from nascourse.bench import BenchmarkEvaluator

    evaluator = BenchmarkEvaluator(bench, average=2, rng_seed=3)
    finals = bench.val_accuracy[500, :, -1]
    pair_means = {round(float((finals[a] + finals[b]) / 2), 9) for a in range(4) for b in range(4) if a < b}
    seen = {round(evaluator(bench.architectures[500]).accuracy, 9) for _ in range(30)}
    assert seen <= pair_means and len(seen) > 1


def test_one_run_per_lookup_is_what_the_evaluator_always_did(bench):
    from nascourse.bench import BenchmarkEvaluator

    one, default = BenchmarkEvaluator(bench, rng_seed=5, average=1), BenchmarkEvaluator(bench, rng_seed=5)
    for row in (3, 200, 700):
        a, b = one(bench.architectures[row]), default(bench.architectures[row])
        assert a.accuracy == b.accuracy and a.cost_seconds == b.cost_seconds
        assert a.accuracy in set(bench.val_accuracy[row, :, -1].tolist())


@pytest.mark.parametrize("average", [0, 5, 1.5])
def test_a_noise_setting_outside_the_table_is_refused(bench, average):
    from nascourse.bench import BenchmarkEvaluator

    with pytest.raises(ValueError, match="average must be"):
        BenchmarkEvaluator(bench, average=average)
