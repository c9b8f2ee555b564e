"""``import nascourse`` gives a notebook the names the chapters use, and the command line runs as a module."""

import subprocess
import sys

import nascourse


def test_every_exported_name_exists():
    missing = [name for name in nascourse.__all__ if not hasattr(nascourse, name)]
    assert not missing, f"nascourse.__all__ names {missing}, which `import nascourse` does not define"


def test_the_names_used_from_chapter_00_on_are_exported():
    for name in ("setup", "load_dataset", "ChainSpace", "Cell201Space", "Benchmark", "BenchmarkEvaluator",
                 "BenchmarkError", "RandomSearch", "run_search", "History", "plot_anytime"):
        assert name in nascourse.__all__, name


def test_the_command_line_runs_as_a_module():
    done = subprocess.run([sys.executable, "-m", "nascourse", "--help"], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    for command in ("search", "train", "doctor", "bench", "darts"):
        assert command in done.stdout, command
