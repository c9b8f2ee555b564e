"""Specification of ``python -m nascourse search``: any strategy on any space it fits, in a run folder that
survives being interrupted.

Table-lookup searches take milliseconds, so the resume tests use them; one relaxation search runs the
documented ``--strategy darts --dataset cifar10 --profile full`` command end to end on stand-in CIFAR-10
files (tests/fake_cifar.py) with a few images and one epoch; one sampling search trains tiny candidates.
"""

from __future__ import annotations

import importlib.util
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from fake_cifar import write_fake_cifar10
from nascourse.cli import main
from nascourse.bench import Benchmark
from nascourse import registry
from nascourse.loop import History
from nascourse.spaces.darts_genotype import Genotype

pytestmark = pytest.mark.filterwarnings("ignore:.*holding out a tenth")  # the stand-in CIFAR-10 is small

LOOKUPS = ["search", "--dataset", "bench", "--trials", "40", "--seed", "3", "--device", "cpu"]
DOCUMENTED = ["search", "--strategy", "darts", "--dataset", "cifar10", "--profile", "full"]


@pytest.fixture(scope="module")
def fake_root(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("cifar")
    write_fake_cifar10(root)
    return root


def _one_line_error(capsys) -> str:
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "\n" not in err and "Traceback" not in err, err
    return err


def _summary(stdout: str) -> str:
    lines = [line for line in stdout.splitlines() if line.startswith("summary:")]
    assert len(lines) == 1, stdout
    return lines[0]


# ----------------------------------------------------------------------------------------- the documented run
def test_the_documented_darts_search_on_cifar10_runs_end_to_end(fake_root, tmp_path):
    run_dir = tmp_path / "darts"
    done = subprocess.run([sys.executable, "-m", "nascourse", *DOCUMENTED, "--data", str(fake_root), "--epochs", "1",
                           "--train-subset", "32", "--batch-size", "16", "--device", "cpu", "--threads", "1",
                           "--run-dir", str(run_dir)], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    assert {"config.json", "checkpoint.pt", "snapshots.json", "genotype.txt", "best.txt", "summary.json"} <= \
        {p.name for p in run_dir.iterdir()}
    settings = json.loads((run_dir / "config.json").read_text())["settings"]
    # the full profile's search network (DARTS: 8 cells, C = 16), with the options given on top
    assert (settings["method"], settings["dataset"], settings["cells"], settings["channels"]) == ("darts", "cifar10", 8, 16)
    assert (settings["epochs"], settings["train_subset"], settings["batch_size"]) == (1, 32, 16)
    best = (run_dir / "best.txt").read_text().splitlines()
    assert best[0] == (run_dir / "genotype.txt").read_text().strip() and best[1].startswith("#")
    Genotype.parse(best[0])  # a genotype `train --genotype` can read
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["strategy"] == "darts" and summary["architecture"] == best[0] and summary["epochs"] == 1
    assert "darts on cifar10 (darts space), 1 epochs" in _summary(done.stdout)


# ----------------------------------------------------------------------------------------- sampling searches
@pytest.fixture(scope="module")
def lookup_runs(tmp_path_factory) -> dict[str, Path]:
    runs = {}
    for strategy in ("regularized", "reinforce"):
        runs[strategy] = tmp_path_factory.mktemp(strategy) / "run"
        assert main([*LOOKUPS, "--strategy", strategy, "--run-dir", str(runs[strategy])]) == 0
    return runs


def test_a_lookup_search_writes_its_log_best_architecture_and_summary(lookup_runs):
    run_dir = lookup_runs["regularized"]
    assert sorted(p.name for p in run_dir.iterdir()) == ["best.txt", "config.json", "history.jsonl", "summary.json"]
    settings = json.loads((run_dir / "config.json").read_text())["settings"]
    assert (settings["strategy"], settings["space"], settings["trials"], settings["population"]) == \
        ("regularized", "benchmark", 40, 20)
    history = History.load(run_dir / "history.jsonl")
    best = history.best()
    assert len(history) == 40 and (run_dir / "best.txt").read_text().splitlines()[0] == best.architecture
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["accuracy"] == best.accuracy and summary["trials"] == 40
    assert summary["benchmark_test_accuracy"] == pytest.approx(Benchmark.load().mean_accuracy(best.architecture, "test"))


@pytest.mark.parametrize("strategy", ["regularized", "reinforce"])
def test_a_search_cut_short_and_resumed_ends_with_the_same_history(lookup_runs, strategy, tmp_path, capsys):
    finished = lookup_runs[strategy]
    run_dir = tmp_path / "cut"
    run_dir.mkdir()
    shutil.copy(finished / "config.json", run_dir)
    lines = (finished / "history.jsonl").read_text().splitlines(keepends=True)
    # killed while writing trial 18: 17 whole lines and half of the next one
    (run_dir / "history.jsonl").write_text("".join(lines[:17]) + lines[17][: len(lines[17]) // 2])
    assert main(["search", "--run-dir", str(run_dir), "--resume"]) == 0  # everything else from config.json
    assert (run_dir / "history.jsonl").read_text() == (finished / "history.jsonl").read_text()
    assert (run_dir / "best.txt").read_text() == (finished / "best.txt").read_text()
    assert "40 trials" in _summary(capsys.readouterr().out)


def test_a_search_that_trains_its_candidates_runs_end_to_end(tmp_path, capsys):
    run_dir = tmp_path / "evolution"
    assert main(["search", "--strategy", "evolution", "--space", "chain", "--dataset", "digits", "--trials", "3",
                 "--epochs", "1", "--train-subset", "64", "--population", "2", "--device", "cpu",
                 "--run-dir", str(run_dir)]) == 0
    history = History.load(run_dir / "history.jsonl")
    assert len(history) == 3 and all(t.cost_epochs == 1 for t in history)
    assert "evolution on digits (chain space), 3 trials" in _summary(capsys.readouterr().out)


# ----------------------------------------------------------------------------------------- bad input
@pytest.mark.parametrize("arguments, code, words", [
    (["--strategy", "genet", "--space", "chain"], 2, ["genet cannot search the chain space", "Valid combinations"]),
    (["--strategy", "qlearning", "--space", "darts"], 2, ["qlearning cannot search the darts space"]),
    (["--strategy", "random", "--space", "chain", "--dataset", "bench"], 2, ["--space benchmark"]),
    (["--strategy", "pdarts", "--space", "benchmark"], 2, ["pdarts cannot search the benchmark space"]),
    (["--strategy", "darts", "--trials", "5"], 2, ["--trials", "sampling strategies"]),
    (["--strategy", "random", "--order", "2"], 2, ["--order", "relaxation methods"]),
    ([], 2, ["Choose a strategy"]),
])
def test_impossible_combinations_are_one_line_errors(arguments, code, words, tmp_path, capsys):
    assert main(["search", *arguments, "--run-dir", str(tmp_path / "run")]) == code
    message = _one_line_error(capsys)
    assert all(word in message for word in words), message
    assert not (tmp_path / "run").exists(), "nothing was started"


def test_every_strategy_has_its_spaces_listed_in_the_help(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["search", "--help"])
    assert exit_.value.code == 0
    text = capsys.readouterr().out
    runnable = [e for e in registry.strategies() if e.kind in ("sampling", "relaxation")]
    lines = text.splitlines()
    for entry in runnable:  # each method's line names the spaces it searches, as the registry declares them
        line = next(line for line in lines if line.startswith(f"  {entry.name} "))
        assert entry.summary in line and line.endswith(", ".join(entry.spaces)), line
    for word in ("chain", "genet", "benchmark", "history.jsonl", "best.txt", "summary.json",
                 "--resume", "--ray", "--strategy darts --dataset cifar10 --profile full"):
        assert word in text, word


@pytest.mark.parametrize("strategy", ["random", "darts"])
def test_a_missing_dataset_is_a_one_line_error_with_exit_code_1(strategy, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("NASCOURSE_OFFLINE", "1")
    assert main(["search", "--strategy", strategy, "--dataset", "cifar10", "--data", str(tmp_path / "empty"),
                 "--device", "cpu", "--run-dir", str(tmp_path / "run")]) == 1
    assert "'cifar10' is not on this machine" in _one_line_error(capsys)


def test_a_finished_search_is_neither_overwritten_nor_resumed_with_other_settings(lookup_runs, capsys):
    run_dir = lookup_runs["regularized"]
    before = (run_dir / "history.jsonl").read_bytes()
    assert main([*LOOKUPS, "--strategy", "regularized", "--run-dir", str(run_dir)]) == 2
    assert "already holds a search" in _one_line_error(capsys)
    assert main(["search", "--run-dir", str(run_dir), "--resume", "--trials", "50"]) == 2
    assert "other settings" in _one_line_error(capsys)
    assert main(["search", "--strategy", "darts", "--run-dir", str(run_dir), "--resume"]) == 2
    _one_line_error(capsys)
    assert (run_dir / "history.jsonl").read_bytes() == before


def test_a_corrupt_relaxation_checkpoint_is_a_one_line_error(tmp_path, capsys):
    run_dir = tmp_path / "darts"
    common = ["--space", "benchmark", "--epochs", "1", "--train-subset", "64", "--device", "cpu"]
    assert main(["search", "--strategy", "gdas", *common, "--run-dir", str(run_dir)]) == 0
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["strategy"] == "gdas" and "benchmark_test_accuracy" in summary
    capsys.readouterr()
    (run_dir / "checkpoint.pt").write_bytes(b"\x00" * 100)
    assert main(["search", "--run-dir", str(run_dir), "--resume"]) == 2
    assert "Cannot read the checkpoint" in _one_line_error(capsys)


@pytest.mark.skipif(importlib.util.find_spec("ray") is not None, reason="Ray is installed: --ray would start it")
def test_ray_without_ray_installed_says_how_to_install_it(tmp_path, capsys):
    assert main([*LOOKUPS, "--strategy", "random", "--ray", "--run-dir", str(tmp_path / "run")]) == 1
    assert "pip install" in _one_line_error(capsys)


@pytest.mark.parametrize("option, address", [(["--ray"], None), (["--ray", "auto"], "auto")])
def test_ray_is_given_the_search_its_batch_its_cluster_and_the_log(option, address, tmp_path, monkeypatch, capsys):
    parallel = pytest.importorskip("nascourse.parallel")
    from nascourse.loop import run_search

    calls = []

    def run_search_ray(space, strategy, evaluator, trials, *, batch, address, log_path, progress, description):
        calls.append({"trials": trials, "batch": batch, "address": address, "log_path": log_path,
                      "lookup_seed": evaluator.seed})
        return run_search(space, strategy, evaluator, trials, log_path=log_path, progress=False)

    monkeypatch.setattr(parallel, "run_search_ray", run_search_ray)
    run_dir = tmp_path / "ray"
    assert main([*LOOKUPS, "--strategy", "random", *option, "--batch", "4", "--run-dir", str(run_dir)]) == 0
    # every Ray task gets its own copy of the evaluator: it looks up one fixed trained seed, not a drawn one
    assert calls == [{"trials": 40, "batch": 4, "address": address, "log_path": run_dir / "history.jsonl",
                      "lookup_seed": Benchmark.load().seeds[3 % len(Benchmark.load().seeds)]}]
    assert len(History.load(run_dir / "history.jsonl")) == 40 and "40 trials" in _summary(capsys.readouterr().out)


def test_bench_query_prints_a_cell_per_seed_and_on_average(capsys):
    cell = "|conv3x3~0|+|skip~0|conv3x3~1|+|skip~0|none~1|conv3x3~2|"
    assert main(["bench", "query", cell]) == 0
    out = capsys.readouterr().out
    bench = Benchmark.load()
    assert all(f"seed {seed}: after epoch {bench.protocol.epochs}" in out for seed in bench.seeds)
    assert f"test {bench.mean_accuracy(cell, 'test'):.4f}" in _summary(out)
    assert main(["bench", "query", "not-a-cell"]) == 2
    assert "cell string" in _one_line_error(capsys)
