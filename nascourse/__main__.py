"""Command line of the course.

* ``python -m nascourse doctor`` checks that a machine is ready for the course;
* ``python -m nascourse bench build|info`` builds or inspects the tabular benchmark;
* ``python -m nascourse darts --run-dir DIR`` runs a relaxation search (chapter 03: DARTS, GDAS,
  PC-DARTS, I-DARTS, P-DARTS) with a checkpoint after every epoch; ``--resume`` continues it.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import platform
import shutil
import subprocess
import sys
from pathlib import Path

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
    parser = argparse.ArgumentParser(prog="python -m nascourse", description="The nascourse command line.")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
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
    _add_darts_parser(commands)
    args = parser.parse_args(argv)
    if args.command == "doctor":
        return doctor(args.data)
    if args.command == "bench":
        return _bench(args)
    if args.command == "darts":
        return _darts(args)
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


# ------------------------------------------------------------------------------------ darts
DARTS_METHODS = ("darts", "gdas", "pcdarts", "idarts", "pdarts")
# Budgets by profile. full: DARTS's CIFAR-10 search (8 cells, C = 16, 50 epochs, batch 64), and
# P-DARTS's (stages of 5, 11, 17 cells, 25 epochs each); quick: minutes on a 2-core CPU.
DARTS_DEFAULTS = {
    "quick": {"dataset": "digits", "cells": 5, "channels": 8, "epochs": 4, "batch_size": 64},
    "full": {"dataset": "cifar10", "cells": 8, "channels": 16, "epochs": 50, "batch_size": 64},
}
PDARTS_DEFAULTS = {"quick": {"cells": 5, "epochs": 4}, "full": {"cells": 17, "epochs": 25}}
# The fraction of the epochs that train the weights alone before alpha moves (PC-DARTS: 15 of 50;
# P-DARTS: 10 of 25 per stage); DARTS, GDAS and I-DARTS update alpha from the first step.
WARMUP_FRACTION = {"pcdarts": 0.3, "pdarts": 0.4}
SETTINGS = ("method", "order", "space", "dataset", "train_subset", "cells", "channels", "epochs", "batch_size",
            "warmup_epochs", "seed")

DARTS_DESCRIPTION = """\
Run a continuous-relaxation architecture search (chapter 03) and keep everything in --run-dir:
  config.json      the settings of the search
  checkpoint.pt    the whole search state after the last finished epoch (P-DARTS: checkpoint-stageK.pt)
  snapshots.json   per epoch: losses, supernet accuracies, operation strengths, the derived cell
  genotype.txt     the cell derived at the end (Eq. 5)

--space darts searches DARTS's cell space with the Supernet (normal and reduction cell; --cells is
the number of cells). --space benchmark searches the course benchmark's cell space with
Cell201Supernet (--cells is the number of cells per stage; the benchmark's skeleton has 1) and
looks the derived cell up in the benchmark, which gives its true accuracy.

--profile full (default: $NASCOURSE_PROFILE, else quick) gives DARTS's CIFAR-10 search: 8 cells,
C=16, 50 epochs, batch 64, half of the training set for the weights and half for alpha; quick
gives digits, 5 cells, C=8, 4 epochs. Any option given explicitly wins.

--method pdarts runs P-DARTS's three stages of growing depth (--cells is the depth of the last
stage, e.g. 5, 11, 17 cells for --cells 17; 8, 5, 3 operations per edge; skip dropout 0, 0.4, 0.7;
at most 2 skip connections in the final normal cell); --epochs is per stage. Each stage has its own
checkpoint, so --resume continues inside the stage that was interrupted.

An interrupted search continues with --resume (same folder; settings not given are read from its
config.json). Without --resume a folder that already holds a checkpoint is refused.
"""


def _add_darts_parser(commands) -> None:
    darts = commands.add_parser(
        "darts", help="run a DARTS-family search (darts, gdas, pcdarts, idarts, pdarts) with checkpoints",
        description=DARTS_DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    darts.add_argument("--run-dir", required=True, metavar="DIR", help="folder for the checkpoint and the results")
    darts.add_argument("--resume", action="store_true", help="continue the search whose checkpoint is in --run-dir")
    darts.add_argument("--method", choices=DARTS_METHODS, default=None, help="relaxation method (default: darts)")
    darts.add_argument("--order", type=int, choices=(1, 2), default=None,
                       help="architecture gradient: 1 first order, 2 second order (finite differences) (default: 1)")
    darts.add_argument("--space", choices=("darts", "benchmark"), default=None,
                       help="darts: DARTS's cell space; benchmark: the course benchmark's cells (default: darts)")
    darts.add_argument("--profile", choices=("quick", "full"), default=None,
                       help="budget defaults (default: $NASCOURSE_PROFILE, else quick)")
    darts.add_argument("--dataset", default=None, help="digits, mnist, fashion_mnist, cifar10 (default: by profile)")
    darts.add_argument("--train-subset", type=int, default=None, metavar="N",
                       help="use only N training images (half for w, half for alpha), for a trial run (default: all)")
    darts.add_argument("--cells", type=int, default=None,
                       help="cells of the supernet (see above) (default: by profile)")
    darts.add_argument("--channels", type=int, default=None,
                       help="channels C of the first cells (default: by profile)")
    darts.add_argument("--epochs", type=int, default=None,
                       help="search epochs (P-DARTS: per stage) (default: by profile)")
    darts.add_argument("--batch-size", type=int, default=None, help="batch size of both steps (default: 64)")
    darts.add_argument("--warmup-epochs", type=int, default=None,
                       help="epochs that train only the weights "
                            "(default: PC-DARTS 30%%, P-DARTS 40%% of --epochs, else 0)")
    darts.add_argument("--seed", type=int, default=None, help="seed of the search (default: 0)")
    darts.add_argument("--device", default=None,
                       help="auto, cpu, cuda, cuda:N, mps (default: $NASCOURSE_DEVICE, else auto)")
    darts.add_argument("--threads", type=int, default=None, help="CPU threads for torch (default: torch's choice)")
    darts.add_argument("--data", default=None,
                       help="dataset folder (default: $NASCOURSE_DATA, else the course's data/)")


class _RunError(Exception):
    """A problem the user can fix; printed as one line, no traceback."""

    def __init__(self, message: str, code: int = 1):
        super().__init__(message)
        self.code = code


def _write_json(path: Path, content) -> None:
    temporary = path.with_name(path.name + ".tmp")
    temporary.write_text(json.dumps(content, indent=1) + "\n")
    os.replace(temporary, path)  # a reader never sees half a file, even after a kill


def _saved_settings(args: argparse.Namespace, run_dir: Path) -> dict | None:
    """With --resume, the settings in the run folder's config.json (None without one)."""
    saved_file = run_dir / "config.json"
    if not (args.resume and saved_file.exists()):
        return None
    try:
        return json.loads(saved_file.read_text())["settings"]
    except (json.JSONDecodeError, KeyError, TypeError) as error:
        raise _RunError(f"{saved_file} is not readable ({type(error).__name__}: {error}); restore it or choose "
                        "another --run-dir.", code=2) from None


def _darts_settings(args: argparse.Namespace, saved: dict | None, run_dir: Path) -> dict:
    """The search's settings: given options, else (with --resume) the saved ones, else the profile's defaults."""
    given = {key: getattr(args, key) for key in SETTINGS if getattr(args, key) is not None}
    if saved is not None:
        differing = {key: (saved.get(key), value) for key, value in given.items() if saved.get(key) != value}
        if differing:
            raise _RunError(f"{run_dir} holds a search with other settings; (saved, given) differ in {differing}. "
                            "Resume with the same settings (or none: they are read from config.json), "
                            "or choose another --run-dir.", code=2)
        settings = {**saved, **given}
    else:
        from .profile import get_profile

        try:
            profile = get_profile(args.profile).name
        except ValueError as error:
            raise _RunError(str(error)) from None
        method = given.get("method", "darts")
        space = given.get("space", "darts")
        defaults = {"method": "darts", "order": 1, "space": "darts", "seed": 0, "train_subset": None,
                    **DARTS_DEFAULTS[profile]}
        if method == "pdarts":
            defaults.update(PDARTS_DEFAULTS[profile])
        if space == "benchmark":
            from .bench.build import Protocol

            protocol = Protocol()  # the supernet has the skeleton the benchmark's cells were trained in
            defaults.update(dataset=protocol.dataset, cells=protocol.cells_per_stage, channels=protocol.channels)
        settings = {**defaults, **given}
        settings.setdefault("warmup_epochs", int(WARMUP_FRACTION.get(settings["method"], 0.0) * settings["epochs"]))
    if settings["method"] == "pdarts" and settings["space"] != "darts":
        raise _RunError("--method pdarts deepens and prunes the DARTS Supernet between stages; use --space darts.")
    for key in ("cells", "channels", "epochs", "batch_size", "train_subset"):
        if settings[key] is not None and settings[key] < 1:
            raise _RunError(f"--{key.replace('_', '-')} must be positive, got {settings[key]}.")
    return settings


def _pdarts_stages(cells: int) -> list[tuple[int, int, float]]:
    """P-DARTS's (cells, operations kept per edge, skip dropout) per stage, the last stage ``cells`` deep.

    The paper's 5, 11, 17 cells for ``cells`` = 17; shallower searches scale the depths down (at least 3)."""
    first = max(3, round(cells * 5 / 17))
    last = max(cells, first)
    return [(first, 8, 0.0), ((first + last) // 2, 5, 0.4), (last, 3, 0.7)]


def _darts(args: argparse.Namespace) -> int:
    try:
        return _run_darts(args)
    except _RunError as error:
        print(f"error: {error}", file=sys.stderr)
        return error.code
    except KeyboardInterrupt:
        print(f"\ninterrupted: {args.run_dir} keeps the search up to its last finished epoch; "
              "continue it with the same command and --resume", file=sys.stderr)
        return 130


def _run_darts(args: argparse.Namespace) -> int:
    import time
    from dataclasses import asdict, replace

    import torch

    from .data import DatasetUnavailableError, load_dataset
    from .profile import seed_everything, select_device
    from .relaxation import Cell201Supernet, Supernet
    from .relaxation.search import CheckpointError, SearchConfig, pdarts_search, relaxation_search

    run_dir = Path(args.run_dir)
    existing = sorted(run_dir.glob("checkpoint*.pt")) if run_dir.is_dir() else []
    if existing and not args.resume:
        raise _RunError(f"{run_dir} already holds a search ({existing[0].name}). Pass --resume to continue it, "
                        "or choose another --run-dir to start a new one.", code=2)
    if args.resume and not existing:
        print(f"note: no checkpoint in {run_dir}; starting a new search there")
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    saved = _saved_settings(args, run_dir)
    settings = _darts_settings(args, saved, run_dir)
    saved_device = saved.get("device") if saved is not None else None
    try:  # a resumed search stays on its device unless told otherwise
        device = select_device(args.device if args.device is not None else saved_device)
    except (ValueError, RuntimeError) as error:
        raise _RunError(str(error)) from None
    if saved_device is not None and torch.device(saved_device).type != device.type:
        raise _RunError(f"The search in {run_dir} ran on {saved_device}; its random-number state belongs to that "
                        "kind of device. Resume it there (--device " + saved_device + ").", code=2)
    settings["device"] = str(device)
    try:
        data = load_dataset(settings["dataset"], root=args.data, device=device, train_subset=settings["train_subset"])
    except (ValueError, DatasetUnavailableError) as error:
        raise _RunError(str(error)) from None
    try:
        config = SearchConfig(epochs=settings["epochs"], batch_size=settings["batch_size"], order=settings["order"],
                              warmup_epochs=settings["warmup_epochs"])
    except ValueError as error:
        raise _RunError(str(error)) from None
    run_dir.mkdir(parents=True, exist_ok=True)
    _write_json(run_dir / "config.json", {"settings": settings, "torch": torch.__version__})

    # the snapshots of earlier runs of this folder, for snapshots.json while a resumed search goes on
    snapshots_file = run_dir / "snapshots.json"
    written: list[dict] = json.loads(snapshots_file.read_text()) if args.resume and snapshots_file.exists() else []

    def record(snapshot, stage: int | None) -> None:
        entry = asdict(snapshot) if stage is None else {"stage": stage, **asdict(snapshot)}
        key = (entry.get("stage"), entry["epoch"])
        written[:] = [e for e in written if (e.get("stage"), e["epoch"]) < key] + [entry]
        _write_json(snapshots_file, written)

    seed_everything(settings["seed"])
    started = time.perf_counter()
    try:
        if settings["method"] == "pdarts":
            stages = pdarts_search(data, _pdarts_stages(settings["cells"]), config, channels=settings["channels"],
                                   seed=settings["seed"], device=device, checkpoint_dir=run_dir, on_epoch=record)
            results = [result for _, result in stages]
            seconds = sum(result.seconds for result in results)
            architecture = results[-1].architecture
            everything = [{"stage": i, **asdict(s)} for i, r in enumerate(results, start=1) for s in r.snapshots]
            epochs = len(everything)
        else:
            if settings["space"] == "benchmark":
                model = Cell201Supernet(data.input_shape, data.num_classes, channels=settings["channels"],
                                        cells_per_stage=settings["cells"], method=settings["method"])
            else:
                model = Supernet(data.input_shape, data.num_classes, cells=settings["cells"],
                                 channels=settings["channels"], method=settings["method"])
            model = model.to(device)
            result = relaxation_search(model, data, config, seed=settings["seed"], checkpoint=run_dir / "checkpoint.pt",
                                       resume=args.resume, on_epoch=lambda s: record(s, None))
            seconds, architecture = result.seconds, result.architecture
            everything = [asdict(s) for s in result.snapshots]
            epochs = len(everything)
    except CheckpointError as error:
        raise _RunError(str(error), code=2) from None
    _write_json(snapshots_file, everything)  # also fills any epoch a kill left out between checkpoint and file
    (run_dir / "genotype.txt").write_text(architecture + "\n")

    print(f"derived cell: {architecture}")
    outcome = f"genotype in {run_dir / 'genotype.txt'}"
    if settings["space"] == "benchmark":
        outcome = _benchmark_outcome(architecture, settings["dataset"])
    order = f", order {settings['order']}" if settings["order"] == 2 else ""
    print(f"summary: {settings['method']}{order} on {settings['dataset']} ({settings['space']} space), "
          f"{epochs} epochs, {seconds:.1f} s of search ({time.perf_counter() - started:.1f} s in this run); {outcome}")
    return 0


def _benchmark_outcome(architecture: str, dataset: str) -> str:
    """The derived cell's accuracy in the course benchmark (mean over its training seeds, last epoch)."""
    import numpy as np

    from .bench import Benchmark, BenchmarkError

    try:
        bench = Benchmark.load()
    except BenchmarkError as error:
        return f"no benchmark lookup ({error})"
    row = bench.row(architecture)
    test = float(np.nanmean(bench.test_accuracy[row, :, -1]))
    val = float(np.nanmean(bench.val_accuracy[row, :, -1]))
    note = "" if dataset == bench.protocol.dataset else f" (the benchmark was trained on {bench.protocol.dataset})"
    return f"benchmark accuracy: test {test:.3f}, validation {val:.3f}{note}"


if __name__ == "__main__":
    sys.exit(main())
