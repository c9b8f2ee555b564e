"""``python -m nascourse darts``: a relaxation search from the command line that survives being killed.

The searches here are tiny (the benchmark's cell space on the digits, a few epochs, one thread) so
that the whole file runs in well under a minute on a shared 2-core machine.
"""

import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

import nascourse
from nascourse.bench import Benchmark
from nascourse.cli import main
from nascourse.cli.relaxation import pdarts_stages
from nascourse.relaxation.search import SearchConfig, pdarts_search

EPOCHS = 3
SEARCH = ["darts", "--space", "benchmark", "--method", "darts", "--dataset", "digits", "--epochs", str(EPOCHS),
          "--batch-size", "64", "--seed", "3", "--device", "cpu", "--threads", "1"]


@pytest.fixture(scope="module", autouse=True)
def restore_threads():
    threads = torch.get_num_threads()
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory) -> Path:
    """An uninterrupted search, the reference for the interrupted one."""
    run_dir = tmp_path_factory.mktemp("uninterrupted")
    assert main(SEARCH + ["--run-dir", str(run_dir)]) == 0
    return run_dir


def _without_timing(snapshots: list[dict]) -> list[dict]:
    return [{key: value for key, value in snapshot.items() if key != "seconds"} for snapshot in snapshots]


def test_a_search_writes_its_settings_snapshots_and_cell(finished_run, capsys):
    settings = json.loads((finished_run / "config.json").read_text())["settings"]
    assert settings["method"] == "darts" and settings["space"] == "benchmark" and settings["epochs"] == EPOCHS
    snapshots = json.loads((finished_run / "snapshots.json").read_text())
    assert [s["epoch"] for s in snapshots] == list(range(1, EPOCHS + 1))
    genotype = (finished_run / "genotype.txt").read_text().strip()
    assert genotype == snapshots[-1]["architecture"]
    assert Benchmark.load().row(genotype) >= 0  # a cell of the benchmark's space


def test_a_killed_search_resumed_ends_exactly_like_the_uninterrupted_one(finished_run, tmp_path):
    run_dir = tmp_path / "interrupted"
    command = [sys.executable, "-m", "nascourse", *SEARCH, "--run-dir", str(run_dir)]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 120
        while not (run_dir / "checkpoint.pt").exists():  # the first epoch has been saved
            assert process.poll() is None, "the search ended before it could be interrupted"
            assert time.monotonic() < deadline, "no checkpoint after two minutes"
            time.sleep(0.01)
        process.kill()  # SIGKILL: no clean-up, as a power cut or an out-of-memory kill
    finally:
        process.kill()
        process.wait()
    saved = torch.load(run_dir / "checkpoint.pt", weights_only=True)
    assert 1 <= len(saved["snapshots"]) < EPOCHS, "the kill came too late to interrupt the search"

    assert main(["darts", "--run-dir", str(run_dir), "--resume"]) == 0  # settings come from config.json
    assert (run_dir / "genotype.txt").read_text() == (finished_run / "genotype.txt").read_text()
    resumed = json.loads((run_dir / "snapshots.json").read_text())
    uninterrupted = json.loads((finished_run / "snapshots.json").read_text())
    assert _without_timing(resumed) == _without_timing(uninterrupted)


def test_an_existing_checkpoint_without_resume_is_refused(finished_run, capsys):
    before = (finished_run / "checkpoint.pt").read_bytes()
    assert main(SEARCH + ["--run-dir", str(finished_run)]) == 2
    message = capsys.readouterr().err
    assert "already holds a search" in message and "--resume" in message and "another --run-dir" in message
    assert (finished_run / "checkpoint.pt").read_bytes() == before  # nothing was overwritten


def test_a_corrupt_checkpoint_gives_a_clear_error_and_exit_code_2(finished_run, tmp_path, capsys):
    run_dir = tmp_path / "corrupt"
    shutil.copytree(finished_run, run_dir)
    checkpoint = run_dir / "checkpoint.pt"
    checkpoint.write_bytes(checkpoint.read_bytes()[:1000])  # a file cut short
    assert main(["darts", "--run-dir", str(run_dir), "--resume"]) == 2  # returned, not raised: no traceback
    message = capsys.readouterr().err
    assert message.startswith("error: Cannot read the checkpoint") and "corrupt" in message


def test_resuming_with_other_settings_is_refused(finished_run, capsys):
    assert main(["darts", "--run-dir", str(finished_run), "--resume", "--epochs", str(EPOCHS + 1)]) == 2
    assert "other settings" in capsys.readouterr().err


def test_pdarts_from_the_command_line_is_the_librarys_pdarts_search(tmp_path):
    run_dir = tmp_path / "pdarts"
    assert main(["darts", "--method", "pdarts", "--run-dir", str(run_dir), "--cells", "3", "--channels", "4",
                 "--epochs", "1", "--batch-size", "64", "--train-subset", "128", "--threads", "1",
                 "--device", "cpu"]) == 0
    assert sorted(p.name for p in run_dir.glob("checkpoint*.pt")) == [f"checkpoint-stage{k}.pt" for k in (1, 2, 3)]
    data = nascourse.load_dataset("digits", train_subset=128)
    stages = pdarts_search(data, pdarts_stages(3), SearchConfig(epochs=1, batch_size=64), channels=4, seed=0,
                           max_skips=2, progress=False)
    assert (run_dir / "genotype.txt").read_text().strip() == stages[-1][1].architecture
    assert [s["stage"] for s in json.loads((run_dir / "snapshots.json").read_text())] == [1, 2, 3]


def test_pdarts_stages_follow_the_paper_and_scale_down():
    assert pdarts_stages(17) == [(5, 8, 0.0), (11, 5, 0.4), (17, 3, 0.7)]
    assert pdarts_stages(5) == [(3, 8, 0.0), (4, 5, 0.4), (5, 3, 0.7)]


def test_help_names_every_method_and_the_run_folder(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["darts", "--help"])
    assert exit_.value.code == 0
    text = capsys.readouterr().out
    for word in ("--run-dir", "--resume", "--profile", "darts,gdas,pcdarts,idarts,pdarts", "checkpoint.pt"):
        assert word in text


def test_gdas_with_the_second_order_gradient_is_refused_before_anything_starts(tmp_path, capsys):
    run_dir = tmp_path / "gdas2"
    assert main(["search", "--strategy", "gdas", "--order", "2", "--run-dir", str(run_dir)]) == 2
    message = capsys.readouterr().err
    assert "--order 2 does not apply to gdas" in message and "--order 1" in message
    assert not (run_dir / "checkpoint.pt").exists()
