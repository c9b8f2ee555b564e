"""``python -m nascourse search --strategy darts|gdas|pcdarts|idarts|pdarts`` (and its older name ``darts``):
the continuous relaxations of chapter 03, one supernet trained with a checkpoint after every epoch."""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import asdict
from pathlib import Path

from .. import registry
from ..bench import Benchmark, BenchmarkError
from ..bench.build import Protocol
from ..profile import seed_everything
from ..relaxation import Cell201Supernet, Supernet
from ..relaxation.mixing import METHODS, mixing_rule
from ..relaxation.search import CheckpointError, SearchConfig, pdarts_search, relaxation_search
from .run_folder import RunError, add_run_folder_options, add_run_options, merge_settings, prepare_run, profile_of, run_guarded, write_json

TABLE = "bench"  # --dataset bench: evaluate by looking the cell up in the course benchmark
SETTINGS = ("method", "order", "space", "dataset", "train_subset", "cells", "channels", "epochs", "batch_size",
            "warmup_epochs", "seed")
RELAXATION_ONLY = ("order", "warmup_epochs")  # options of the relaxations alone
SAMPLING_ONLY = ("trials", "population", "batch")  # options of the sampling strategies alone


def relaxation_methods() -> tuple[str, ...]:
    return tuple(entry.name for entry in registry.strategies(kind="relaxation"))


DARTS_DESCRIPTION = """\
Run a continuous-relaxation architecture search (chapter 03) and keep everything in --run-dir:
  config.json      the settings of the search
  checkpoint.pt    the whole search state after the last finished epoch (P-DARTS: checkpoint-stageK.pt)
  snapshots.json   per epoch: losses, supernet accuracies, operation strengths, the derived cell
  genotype.txt     the cell derived at the end (Eq. 5)
  best.txt         the same cell, with its accuracy on a comment line; summary.json: the result

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
(`python -m nascourse search --strategy METHOD` runs the same searches.)
"""


def add_relaxation_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--order", type=int, choices=(1, 2), default=None,
                        help="relaxations: architecture gradient, 1 first order, 2 second order (default: 1)")
    parser.add_argument("--warmup-epochs", type=int, default=None,
                        help="relaxations: epochs that train only the weights "
                             "(default: PC-DARTS 30%%, P-DARTS 40%% of --epochs, else 0)")



def add_darts_parser(commands) -> None:
    darts = commands.add_parser(
        "darts", help="run a DARTS-family search (darts, gdas, pcdarts, idarts, pdarts) with checkpoints",
        description=DARTS_DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_run_folder_options(darts, "the checkpoint and the results")
    darts.add_argument("--method", choices=relaxation_methods(), default=None, help="relaxation method (default: darts)")
    darts.add_argument("--space", choices=("darts", "benchmark"), default=None,
                       help="darts: DARTS's cell space; benchmark: the course benchmark's cells (default: darts)")
    darts.add_argument("--dataset", default=None, help="digits, mnist, fashion_mnist, cifar10 (default: by profile)")
    darts.add_argument("--train-subset", type=int, default=None, metavar="N",
                       help="use only N training images (half for w, half for alpha), for a trial run (default: all)")
    darts.add_argument("--cells", type=int, default=None, help="cells of the supernet (see above) (default: by profile)")
    darts.add_argument("--channels", type=int, default=None, help="channels C of the first cells (default: by profile)")
    darts.add_argument("--epochs", type=int, default=None, help="search epochs (P-DARTS: per stage) (default: by profile)")
    darts.add_argument("--batch-size", type=int, default=None, help="batch size of both steps (default: 64)")
    add_relaxation_options(darts)
    add_run_options(darts)



# ------------------------------------------------------------------------------------ darts (relaxations)
def darts_command(args: argparse.Namespace) -> int:
    return run_guarded(_darts_main, args, "epoch")


def _darts_main(args: argparse.Namespace) -> int:
    _finish_relaxation(run_relaxation(args), Path(args.run_dir))
    return 0


def _darts_settings(args: argparse.Namespace, saved: dict | None, run_dir: Path) -> dict:
    """The search's settings: given options, else (with --resume) the saved ones, else the profile's defaults."""
    given = {key: getattr(args, key) for key in SETTINGS if getattr(args, key, None) is not None}

    def defaults() -> dict:
        profile = profile_of(args.profile)
        values = {"method": "darts", "order": 1, "space": "darts", "seed": 0, "train_subset": None,
                  "dataset": profile.dataset, "cells": profile.cells, "channels": profile.cell_channels,
                  "epochs": profile.relaxation_epochs, "batch_size": profile.relaxation_batch_size}
        if given.get("method") == "pdarts":
            values.update(cells=profile.pdarts_cells, epochs=profile.pdarts_epochs)
        if given.get("space") == "benchmark":
            protocol = Protocol()  # the supernet has the skeleton the benchmark's cells were trained in
            values.update(dataset=protocol.dataset, cells=protocol.cells_per_stage, channels=protocol.channels)
        return values

    settings = merge_settings(given, saved, defaults, run_dir)
    settings.setdefault("warmup_epochs", int(registry.strategy(settings["method"]).warmup_fraction * settings["epochs"]))
    if settings["order"] == 2 and settings["method"] in METHODS and mixing_rule(settings["method"]).samples_one_path:
        raise RunError(f"--order 2 does not apply to {settings['method']}: it samples a new path in every forward "
                       "pass, so the second-order gradient's four passes would each see another network. Use --order 1 "
                       "(GDAS's paper does).", code=2)
    if settings["method"] == "pdarts" and settings["space"] != "darts":
        raise RunError("--method pdarts deepens and prunes the DARTS Supernet between stages; use --space darts.")
    for key in ("cells", "channels", "epochs", "batch_size", "train_subset"):
        if settings[key] is not None and settings[key] < 1:
            raise RunError(f"--{key.replace('_', '-')} must be positive, got {settings[key]}.")
    return settings


def pdarts_stages(cells: int) -> list[tuple[int, int, float]]:
    """P-DARTS's (cells, operations kept per edge, skip dropout) per stage, the last stage ``cells`` deep.

    The paper's 5, 11, 17 cells for ``cells`` = 17; shallower searches scale the depths down (at least 3)."""
    first = max(3, round(cells * 5 / 17))
    last = max(cells, first)
    return [(first, 8, 0.0), ((first + last) // 2, 5, 0.4), (last, 3, 0.7)]


def run_relaxation(args: argparse.Namespace) -> dict:
    """Run (or resume) a relaxation search in ``args.run_dir``; returns what it found, and its summary line."""
    run = prepare_run(args, ["checkpoint*.pt"], "search", lambda saved: _darts_settings(args, saved, Path(args.run_dir)))
    settings, device, run_dir = run.settings, run.device, run.folder
    data = run.load_data(args.data)
    try:
        config = SearchConfig(epochs=settings["epochs"], batch_size=settings["batch_size"], order=settings["order"],
                              warmup_epochs=settings["warmup_epochs"])
    except ValueError as error:
        raise RunError(str(error)) from None
    run.start("search")

    # the snapshots of earlier runs of this folder, for snapshots.json while a resumed search goes on
    snapshots_file = run_dir / "snapshots.json"
    written: list[dict] = json.loads(snapshots_file.read_text()) if args.resume and snapshots_file.exists() else []

    def record(snapshot, stage: int | None) -> None:
        entry = asdict(snapshot) if stage is None else {"stage": stage, **asdict(snapshot)}
        key = (entry.get("stage"), entry["epoch"])
        written[:] = [e for e in written if (e.get("stage"), e["epoch"]) < key] + [entry]
        write_json(snapshots_file, written)

    seed_everything(settings["seed"])
    started = time.perf_counter()
    try:
        if settings["method"] == "pdarts":
            stages = pdarts_search(data, pdarts_stages(settings["cells"]), config, channels=settings["channels"],
                                   seed=settings["seed"], device=device, checkpoint_dir=run_dir, on_epoch=record)
            results = [result for _, result in stages]
            seconds = sum(result.seconds for result in results)
            architecture = results[-1].architecture
            everything = [{"stage": i, **asdict(s)} for i, r in enumerate(results, start=1) for s in r.snapshots]
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
    except CheckpointError as error:
        raise RunError(str(error), code=2) from None
    write_json(snapshots_file, everything)  # also fills any epoch a kill left out between checkpoint and file
    (run_dir / "genotype.txt").write_text(architecture + "\n")

    outcome = {"architecture": architecture, "epochs": len(everything), "seconds": seconds,
               "final_snapshot": everything[-1]}
    text = f"genotype in {run_dir / 'genotype.txt'}"
    if settings["space"] == "benchmark":
        lookup = _benchmark_accuracy(architecture, settings["dataset"])
        outcome.update(lookup)
        text = lookup["text"]
    order = f", order {settings['order']}" if settings["order"] == 2 else ""
    outcome["settings"] = settings
    outcome["line"] = (f"summary: {settings['method']}{order} on {settings['dataset']} ({settings['space']} space), "
                       f"{outcome['epochs']} epochs, {seconds:.1f} s of search "
                       f"({time.perf_counter() - started:.1f} s in this run); {text}")
    return outcome


def _benchmark_accuracy(architecture: str, dataset: str) -> dict:
    """The cell's accuracy in the course benchmark (mean over its training seeds, last epoch)."""
    try:
        bench = Benchmark.load()
    except BenchmarkError as error:
        return {"text": f"no benchmark lookup ({error})"}
    test, val = bench.mean_accuracy(architecture, "test"), bench.mean_accuracy(architecture, "val")
    note = "" if dataset in (TABLE, bench.protocol.dataset) else f" (the benchmark was trained on {bench.protocol.dataset})"
    return {"benchmark_test_accuracy": test, "benchmark_val_accuracy": val,
            "text": f"benchmark accuracy: test {test:.3f}, validation {val:.3f}{note}"}


def search_by_relaxation(args: argparse.Namespace, method: str, run_dir: Path) -> int:
    misplaced = [f"--{key}" for key in SAMPLING_ONLY if getattr(args, key) is not None] + (["--ray"] if args.ray else [])
    if misplaced:
        raise RunError(f"{', '.join(misplaced)} belong to sampling strategies; {method} trains one supernet for "
                       "--epochs. Leave them out.", code=2)
    if args.dataset == TABLE:
        raise RunError(f"{method} trains a supernet on images, so --dataset bench (table lookups) does not apply; "
                       "use --space benchmark with a dataset (default: the benchmark's own), and the derived cell "
                       "is looked up in the table at the end.", code=2)
    check_space(method, args.space or "darts")
    relaxation_args = argparse.Namespace(**vars(args))
    relaxation_args.method = None if args.strategy is None else method  # on --resume: from config.json
    _finish_relaxation(run_relaxation(relaxation_args), run_dir)
    return 0


def _finish_relaxation(outcome: dict, run_dir: Path) -> None:
    """best.txt, summary.json and the summary line of a finished relaxation search."""
    settings = outcome["settings"]
    accuracy = outcome.get("benchmark_val_accuracy", outcome["final_snapshot"]["val_accuracy"])
    label = "validation accuracy in the benchmark" if "benchmark_val_accuracy" in outcome else \
        "supernet accuracy on the alpha half, last epoch"
    write_best(run_dir, outcome["architecture"], f"# {settings['method']} on {settings['dataset']}: {label} "
                                                  f"{accuracy:.4f}")
    summary = {"command": "search", "strategy": settings["method"], "space": settings["space"],
               "dataset": settings["dataset"], "epochs": outcome["epochs"], "architecture": outcome["architecture"],
               "accuracy": accuracy, "accuracy_meaning": label, "search_seconds": outcome["seconds"]}
    summary.update({k: outcome[k] for k in ("benchmark_test_accuracy", "benchmark_val_accuracy") if k in outcome})
    write_json(run_dir / "summary.json", summary)
    print(f"derived cell: {outcome['architecture']}")
    print(outcome["line"])




def check_space(strategy: str, space: str) -> None:
    """Refuse a strategy on a space it cannot search, listing what it can."""
    entry = registry.strategy(strategy)
    if space not in entry.spaces:
        combos = "; ".join(f"{e.name}: {', '.join(e.spaces)}" for e in registry.strategies()
                           if e.kind in ("sampling", "relaxation"))
        raise RunError(f"--strategy {strategy} cannot search the {space} space; it searches "
                       f"{', '.join(entry.spaces)}. Valid combinations: {combos}.", code=2)


def write_best(run_dir: Path, architecture: str, comment: str) -> None:
    """best.txt: the architecture on its first line (``train --genotype`` reads it), a comment on the second."""
    temporary = run_dir / "best.txt.tmp"
    temporary.write_text(f"{architecture}\n{comment}\n")
    temporary.replace(run_dir / "best.txt")
