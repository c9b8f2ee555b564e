"""Command line of the course.

* ``python -m nascourse search --strategy S --run-dir DIR`` runs any search of the course (random,
  reinforce, qlearning, evolution, regularized, genet; darts, gdas, pcdarts, idarts, pdarts) on any
  space it fits, logging every trial or checkpointing every epoch; ``--resume`` continues it
  (``cli_search``);
* ``python -m nascourse train --genotype G --run-dir DIR`` trains a cell at paper scale (DARTS's
  evaluation with Cutout), checkpointing every epoch (``cli_train``);
* ``python -m nascourse darts --run-dir DIR`` is the older name of ``search`` for the relaxations;
* ``python -m nascourse doctor`` checks that a machine is ready for the course;
* ``python -m nascourse bench build|info`` builds or inspects the tabular benchmark;
  ``bench nb201-convert`` writes NAS-Bench-201's compact CSVs from its official release, ``bench nb201-info``
  summarises them (``nascourse.bench.nb201``).
"""

from __future__ import annotations

import argparse
import importlib
import platform
import shutil
import subprocess
import sys
from pathlib import Path

from .cli_search import _pdarts_stages, add_darts_parser, add_search_parser, darts_command, search_command  # noqa: F401
from .cli_train import add_train_parser, train_command

PACKAGES = ("torch", "torchvision", "numpy", "sklearn", "scipy", "matplotlib", "tqdm", "ipywidgets", "jupyterlab", "nbval")


def _version(module: str) -> str:
    try:
        return getattr(importlib.import_module(module), "__version__", "installed")
    except Exception:  # a missing or broken package is what doctor exists to report
        return "MISSING"


def _kernel_imports_library() -> str:
    """Ask the Jupyter kernel that notebooks use (python3) whether it can import nascourse."""
    try:
        from jupyter_client.kernelspec import KernelSpecManager

        spec = KernelSpecManager().get_kernel_spec("python3")
    except Exception as error:
        return f"no python3 Jupyter kernel found ({error}); run `python -m ipykernel install --user`"
    python = spec.argv[0]
    if python in {"python", "python3"}:
        python = shutil.which(python) or sys.executable
    check = subprocess.run([python, "-c", "import nascourse"], capture_output=True, text=True, timeout=120)
    if check.returncode == 0:
        return f"yes ({python})"
    return f"NO: {python} cannot import nascourse; run `pip install -r requirements.txt` in that environment"


def doctor(data_root: str | None) -> int:
    from .data import available_offline, default_data_root
    from .profile import get_profile, select_device

    print(f"python        {platform.python_version()} ({sys.executable})")
    for name in PACKAGES:
        print(f"{name:<13} {_version(name)}")
    ray = _version("ray")  # optional: parallel evaluation (pip install -e ".[ray]")
    print(f"{'ray':<13} " + ('not installed (optional: pip install -e ".[ray]")' if ray == "MISSING" else ray))
    problems = []
    try:
        profile = get_profile()
        print(f"profile       {profile.name}: {profile.description}")
    except ValueError as error:
        problems.append(str(error))
    try:
        device = select_device()
        detail = ""
        if device.type == "cuda":
            import torch

            detail = f" ({torch.cuda.get_device_name(device)})"
        print(f"device        {device}{detail}")
    except (ValueError, RuntimeError) as error:
        problems.append(str(error))
    root = Path(data_root) if data_root is not None else default_data_root()
    offline = available_offline(root)
    print(f"datasets      in {root.resolve()}: " + ", ".join(
        f"{name} {'yes' if ok else 'no (needs a download)'}" for name, ok in offline.items()
    ))
    kernel = _kernel_imports_library()
    print(f"kernel        notebooks' kernel imports nascourse: {kernel}")
    if kernel.startswith(("NO", "no ")):
        problems.append(kernel)
    if any(_version(name) == "MISSING" for name in PACKAGES):
        problems.append("some packages are missing: run `pip install -r requirements.txt`")
    for problem in problems:
        print(f"PROBLEM: {problem}")
    print("all good" if not problems else f"{len(problems)} problem(s) found")
    return 1 if problems else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m nascourse", formatter_class=argparse.RawDescriptionHelpFormatter,
        description="The nascourse command line: searches and trainings that survive being interrupted.",
        epilog="examples:\n"
               "  python -m nascourse doctor\n"
               "  python -m nascourse search --strategy regularized --dataset bench --run-dir runs/re\n"
               "  python -m nascourse search --strategy darts --dataset cifar10 --profile full --run-dir runs/darts\n"
               "  python -m nascourse train --genotype runs/darts/best.txt --profile full --run-dir runs/eval\n"
               "  python -m nascourse train --run-dir runs/eval --resume\n"
               "`python -m nascourse COMMAND --help` explains each command.")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    add_search_parser(commands)
    add_train_parser(commands)
    doctor_parser = commands.add_parser(
        "doctor", help="print versions, device, profile, offline datasets, and whether notebooks can import nascourse"
    )
    doctor_parser.add_argument(
        "--data", default=None, help="dataset folder (default: $NASCOURSE_DATA, else the course's data/)"
    )
    bench = commands.add_parser("bench", help="build or inspect the course's tabular benchmark")
    bench_commands = bench.add_subparsers(dest="bench_command", required=True, metavar="ACTION")
    build = bench_commands.add_parser(
        "build", help="train every unique architecture (resumable: run it again to continue an interrupted build)"
    )
    build.add_argument("--out", default=None, help="final file (default: data/bench/cell201-digits.json.gz)")
    build.add_argument("--workers", type=int, default=None, help="worker processes (default: one per core)")
    build.add_argument("--limit", type=int, default=None, help="stop after this many new jobs (a trial run)")
    build.add_argument("--operations", nargs="+", default=None, help="operation set (default: the five of the space)")
    build.add_argument("--epochs", type=int, default=None, help="training epochs per architecture")
    build.add_argument("--channels", type=int, default=None, help="channels of the first stage")
    build.add_argument("--seeds", type=int, nargs="+", default=None, help="training seeds")
    info = bench_commands.add_parser("info", help="print what a benchmark file holds: spread, seed-to-seed Spearman")
    info.add_argument("--path", default=None, help="benchmark file (default: the shipped one)")
    query = bench_commands.add_parser(
        "query", help="look a cell up: its accuracies, training time and size, per trained seed and on average",
        description="Look a cell up in the benchmark, e.g. "
                    "python -m nascourse bench query '|conv3x3~0|+|skip~0|conv3x3~1|+|skip~0|none~1|conv3x3~2|'")
    query.add_argument("architecture", help="the cell's string (any equivalent form)")
    query.add_argument("--epoch", type=int, default=None, help="after this many training epochs (default: the last)")
    query.add_argument("--path", default=None, help="benchmark file (default: the shipped one)")
    convert = bench_commands.add_parser(
        "nb201-convert", help="write NAS-Bench-201's compact CSVs from its official release (needs the nb201 extra)")
    convert.add_argument("--release", required=True, help="the release file, e.g. NAS-Bench-201-v1_1-096897.pth")
    convert.add_argument("--out", required=True, help="folder for the CSVs (then: export NASCOURSE_NB201=FOLDER)")
    nb201_info = bench_commands.add_parser("nb201-info", help="summarise NAS-Bench-201's table of one dataset")
    nb201_info.add_argument("--path", default=None, help="folder of the CSVs or one CSV (default: $NASCOURSE_NB201)")
    nb201_info.add_argument("--dataset", default="cifar10", help="cifar10 (cifar10-valid), cifar100 or ImageNet16-120")
    add_darts_parser(commands)
    args = parser.parse_args(argv)
    if args.command == "doctor":
        return doctor(args.data)
    if args.command == "bench":
        return _bench(args)
    if args.command == "search":
        return search_command(args)
    if args.command == "train":
        return train_command(args)
    if args.command == "darts":
        return darts_command(args)
    return 2


def _bench(args: argparse.Namespace) -> int:
    from dataclasses import replace

    from .bench import Benchmark, BenchmarkError, Protocol, build_benchmark
    from .bench.table import default_path

    if args.bench_command == "info":
        try:
            print(Benchmark.load(args.path).summary())
        except BenchmarkError as error:
            print(f"error: {error}", file=sys.stderr)
            return 1
        return 0
    if args.bench_command == "query":
        return _bench_query(args)
    if args.bench_command.startswith("nb201-"):
        return _nb201(args)
    chosen = {"operations": tuple(args.operations) if args.operations else None, "epochs": args.epochs,
              "channels": args.channels, "seeds": tuple(args.seeds) if args.seeds else None}
    protocol = replace(Protocol(), **{key: value for key, value in chosen.items() if value is not None})
    out = Path(args.out) if args.out else default_path()
    try:
        final = build_benchmark(out, protocol, workers=args.workers, limit=args.limit)
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    if final is None:
        print(f"not finished yet: run the same command again to continue ({out})")
        return 0
    print(Benchmark.load(final).summary())
    print(f"written: {final}")
    return 0


def _nb201(args: argparse.Namespace) -> int:
    from .bench import BenchmarkError
    from .bench.nb201 import NB201Table, convert

    try:
        if args.bench_command == "nb201-convert":
            for path in convert(args.release, args.out):
                print(f"written: {path}")
        else:
            print(NB201Table.load(args.path, args.dataset).summary())
    except (BenchmarkError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    return 0


def _bench_query(args: argparse.Namespace) -> int:
    from .bench import Benchmark, BenchmarkError

    try:
        bench = Benchmark.load(args.path)
        records = [bench.query(args.architecture, args.epoch, seed) for seed in bench.seeds]
    except BenchmarkError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    except ValueError as error:  # a malformed cell, an epoch outside the table
        print(f"error: {' '.join(str(error).split())}", file=sys.stderr)
        return 2
    first = records[0]
    print(f"{first.architecture} (canonical form): {first.parameters:,} parameters, {first.flops:,} FLOPs, "
          f"{first.latency_ms:.3f} ms")
    for record in records:
        print(f"  seed {record.seed}: after epoch {record.epoch}: validation {record.val_accuracy:.4f}, "
              f"test {record.test_accuracy:.4f}, train loss {record.train_loss:.4f}, {record.train_seconds:.2f} s")
    mean = lambda values: sum(values) / len(values)  # noqa: E731
    print(f"summary: mean of {len(records)} seeds after epoch {first.epoch}: validation "
          f"{mean([r.val_accuracy for r in records]):.4f}, test {mean([r.test_accuracy for r in records]):.4f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
