"""``python -m nascourse train``: the final training of a cell at paper scale, resumable after any interruption.

It trains a genotype (a published cell, the text of one, or the genotype file of a search run) with
``nascourse.final_training.train_final``: DARTS's evaluation recipe with Cutout (survey Table 1's
"+ Cutout" rows), a checkpoint after every epoch, and ``--resume`` to continue.
"""

from __future__ import annotations

import argparse
import json
import re
import time
from dataclasses import asdict, fields
from pathlib import Path

from ..final_training import CheckpointError, FinalTrainingConfig, train_final
from ..spaces.base import ArchitectureError
from ..spaces.darts_genotype import Genotype
from ..spaces.darts_published import PUBLISHED
from .run_folder import RunError, add_run_folder_options, add_run_options, merge_settings, prepare_run, profile_of, run_guarded, write_json

TRAIN_DESCRIPTION = """\
Train a cell from scratch the way survey Table 1's "+ Cutout" rows were trained (DARTS's evaluation):
the genotype stacked into --cells cells of --channels initial channels, with the auxiliary head
(loss weight 0.4) and drop-path rising linearly from 0 to 0.2; SGD, momentum 0.9, learning rate
0.025 cosine to 0, weight decay 3e-4, gradients clipped at 5; Cutout (and on CIFAR-10 random
crop and flip).
It trains on the training and validation images together and measures the test split after every
epoch (a report, never used to choose anything); the result is the last epoch's test accuracy.

--genotype is one of
  a published cell:   DARTS_V2 (= "DARTS (2nd order)"), DARTS_V1, PC_DARTS, NASNet, AmoebaNet, ENAS
  a genotype's text:  "Genotype(normal=[...], normal_concat=[...], reduce=[...], reduce_concat=[...])"
  a file:             genotype.txt or best.txt of a search run (its first line), or the run folder

--profile full (default: $NASCOURSE_PROFILE, else quick): CIFAR-10, 20 cells, C=36, 600 epochs,
batch 96, Cutout 16 (DARTS's setting; days of a GPU). quick: the digits, 5 cells, C=8, 10 epochs,
batch 64, Cutout 4 (about a minute of a CPU). Any option given explicitly wins.

the run folder:
  config.json     the settings (--resume reads them: no other option is needed)
  checkpoint.pt   everything after the last finished epoch (model, optimizer, schedule, random states)
  curve.json      per epoch: training loss, test accuracy, learning rate, drop-path, seconds
  final.json      the result: test accuracy, parameters (auxiliary head excluded), epochs, time

An interrupted training continues with --resume; on the CPU it ends exactly as an uninterrupted one.

examples:
  python -m nascourse train --genotype DARTS_V2 --profile full --run-dir runs/darts-v2
  python -m nascourse train --genotype runs/darts/best.txt --profile full --run-dir runs/found
  python -m nascourse train --run-dir runs/darts-v2 --resume
"""

OPTIONS = ("dataset", "train_subset", "epochs", "batch_size", "cells", "channels", "cutout", "drop_path",
           "auxiliary_weight", "seed")
# short names of the published cells (the names code repositories use)
ALIASES = {"dartsv1": "DARTS (1st order)", "dartsv2": "DARTS (2nd order)", "darts": "DARTS (2nd order)",
           "pcdarts": "PC-DARTS", "pcdartscifar": "PC-DARTS", "nasnet": "NASNet-A", "amoebanet": "AmoebaNet-A"}


def add_train_parser(commands) -> None:
    train = commands.add_parser(
        "train", help="train a cell at paper scale (DARTS's evaluation with Cutout) with checkpoints; resumable",
        description=TRAIN_DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    train.add_argument("--genotype", default=None, metavar="TEXT|NAME|FILE",
                       help="the cell to train (see above); with --resume it is read from config.json")
    add_run_folder_options(train, "the checkpoint and the results", "training")
    train.add_argument("--dataset", default=None, help="digits, mnist, fashion_mnist, cifar10 (default: by profile)")
    train.add_argument("--train-subset", type=int, default=None, metavar="N",
                       help="use only N training images (plus the validation images), for a trial run")
    train.add_argument("--epochs", type=int, default=None, help="training epochs (default: 600 full, 10 quick)")
    train.add_argument("--batch-size", type=int, default=None, help="batch size (default: 96 full, 64 quick)")
    train.add_argument("--cells", type=int, default=None, help="cells of the network (default: 20 full, 5 quick)")
    train.add_argument("--channels", type=int, default=None, help="initial channels C (default: 36 full, 8 quick)")
    train.add_argument("--cutout", type=int, default=None, metavar="PIXELS",
                       help="side of the Cutout square, 0 for none (default: 16 full, 4 quick)")
    train.add_argument("--drop-path", type=float, default=None, metavar="P",
                       help="drop-path probability reached at the last epoch (default: 0.2)")
    train.add_argument("--auxiliary-weight", type=float, default=None, metavar="W",
                       help="weight of the auxiliary head's loss, 0 for no head (default: 0.4)")
    add_run_options(train, "training")


def _squash(text: str) -> str:
    return re.sub(r"[^a-z0-9]", "", text.lower())


def resolve_genotype(given: str) -> tuple[str, str]:
    """``--genotype`` -> (the genotype's text, a label for it). Raises ``RunError`` saying what was wrong."""
    label, text = given, given.strip()
    names = {_squash(name): name for name in PUBLISHED} | ALIASES
    if not text.startswith("Genotype("):
        path = Path(text).expanduser()
        if path.is_dir():
            found = [path / name for name in ("genotype.txt", "best.txt") if (path / name).is_file()]
            if not found:
                raise RunError(f"{path} holds neither genotype.txt nor best.txt; give the genotype file itself.", code=2)
            path = found[0]
        if path.is_file():
            lines = [line.strip() for line in path.read_text().splitlines() if line.strip() and
                     not line.lstrip().startswith("#")]
            if not lines:
                raise RunError(f"{path} is empty; it should hold a genotype on its first line.", code=2)
            text, label = lines[0], str(path)
        elif _squash(text) in names:
            label = names[_squash(text)]
            return str(PUBLISHED[label].genotype), label
        else:
            known = ", ".join(["DARTS_V1", "DARTS_V2", "PC_DARTS", "NASNet", "AmoebaNet", "ENAS"])
            raise RunError(f"--genotype {given!r} is neither a genotype's text, nor a file, nor a published cell "
                           f"({known}).", code=2)
    try:
        return str(Genotype.parse(text)), label
    except (ArchitectureError, ValueError, SyntaxError) as error:
        raise RunError(f"--genotype from {label}: not a DARTS-space genotype ({error}). A cell of another space "
                       "(a chain, a benchmark cell) cannot be stacked into DARTS's network.", code=2) from None


def train_command(args: argparse.Namespace) -> int:
    return run_guarded(_train_main, args, "epoch")


def _settings(args: argparse.Namespace, saved: dict | None, run_dir: Path) -> dict:
    given = {key: getattr(args, key) for key in OPTIONS if getattr(args, key) is not None}
    if args.profile is not None:
        given["profile"] = args.profile
    if args.genotype is not None:
        given["genotype"], given["genotype_label"] = resolve_genotype(args.genotype)
    elif saved is None:
        raise RunError("Give the cell to train: --genotype TEXT|NAME|FILE (see --help).", code=2)
    if saved is not None and "genotype" not in saved:
        raise RunError(f"{run_dir} holds another kind of run (a search?); choose another --run-dir.", code=2)
    if saved is not None:
        given.pop("genotype_label", None)  # the same cell may be named differently: compare the genotypes

    def defaults() -> dict:
        profile = profile_of(args.profile)
        return {"profile": profile.name, "dataset": profile.dataset, "train_subset": None, "seed": 0,
                **asdict(FinalTrainingConfig.from_profile(profile))}

    settings = merge_settings(given, saved, defaults, run_dir)
    for key in ("train_subset", "seed"):
        if settings[key] is not None and settings[key] < (1 if key == "train_subset" else 0):
            raise RunError(f"--{key.replace('_', '-')} must be {'positive' if key == 'train_subset' else '>= 0'}, "
                           f"got {settings[key]}.", code=2)
    return settings


def _config(settings: dict) -> FinalTrainingConfig:
    names = {f.name for f in fields(FinalTrainingConfig)}
    try:
        return FinalTrainingConfig(**{key: value for key, value in settings.items() if key in names})
    except ValueError as error:
        raise RunError(f"{error} (see --help)", code=2) from None


def _read_curve(path: Path) -> list[dict]:
    try:
        curve = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError):
        return []  # rewritten from the checkpoint's curve at the end anyway
    return [entry for entry in curve if isinstance(entry, dict)] if isinstance(curve, list) else []


def _train_main(args: argparse.Namespace) -> int:
    run = prepare_run(args, ["checkpoint.pt"], "training", lambda saved: _settings(args, saved, Path(args.run_dir)))
    settings, run_dir, config = run.settings, run.folder, _config(run.settings)
    data = run.load_data(args.data)
    run.start("train")

    curve_file = run_dir / "curve.json"
    started = time.perf_counter()
    written: list[dict] = _read_curve(curve_file) if args.resume else []

    def record(epoch) -> None:  # curve.json grows with every epoch, so a long run can be watched
        entry = asdict(epoch)
        written[:] = [e for e in written if e.get("epoch", 0) < entry["epoch"]] + [entry]
        write_json(curve_file, written)

    try:
        result = train_final(settings["genotype"], data, config, seed=settings["seed"],
                             checkpoint=run_dir / "checkpoint.pt", resume=args.resume, progress=True,
                             on_epoch=record)
    except CheckpointError as error:
        raise RunError(str(error), code=2) from None
    write_json(curve_file, [asdict(epoch) for epoch in result.curve])  # the whole curve, resumed epochs too
    final = {"genotype": result.genotype, "label": settings.get("genotype_label", result.genotype),
             "dataset": settings["dataset"], "test_accuracy": result.test_accuracy,
             "test_error_percent": 100 * (1 - result.test_accuracy), "parameters": result.parameters,
             "epochs": result.epochs, "train_seconds": result.seconds, "diverged": result.diverged,
             "config": asdict(config)}
    write_json(run_dir / "final.json", final)
    shape = f"{config.cells} cells, C={config.channels}, cutout {config.cutout}"
    if result.diverged:
        print(f"summary: {final['label']} on {settings['dataset']} ({shape}) diverged after {result.epochs} epochs "
              "(the loss became NaN or infinite); try a smaller learning rate or another seed", flush=True)
        return 1
    print(f"summary: {final['label']} trained {result.epochs} epochs on {settings['dataset']} ({shape}): test "
          f"accuracy {result.test_accuracy:.4f} (error {final['test_error_percent']:.2f}%), "
          f"{result.parameters:,} parameters, {result.seconds:.1f} s of training "
          f"({time.perf_counter() - started:.1f} s in this run); results in {run_dir / 'final.json'}")
    return 0
