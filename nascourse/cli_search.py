"""``python -m nascourse search`` and ``python -m nascourse darts``: architecture searches from the command line.

``search`` runs any strategy of the course on any space it fits, in a run folder that survives a kill:

* sampling strategies (chapters 00-02) go through ``run_search`` (or ``nascourse.parallel.run_search_ray``
  with ``--ray``): every finished trial is appended to ``history.jsonl``, and ``--resume`` replays it into
  the strategy and goes on;
* the relaxation methods (chapter 03: darts, gdas, pcdarts, idarts, pdarts) train a supernet with a
  checkpoint after every epoch; ``darts`` is the older name of the same command.
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import asdict
from pathlib import Path

from .cli_common import (RunError, choose_device, guard_run_folder, merge_settings, run_guarded, saved_settings,
                         write_json)

# ------------------------------------------------------------------------------------ what fits what
SAMPLING_STRATEGIES = {
    "random": "random search",
    "reinforce": "NAS-RL's REINFORCE controller",
    "qlearning": "MetaQNN's Q-learning",
    "evolution": "Large-scale Evolution",
    "regularized": "regularized (aging) evolution",
    "genet": "GeNet's genetic algorithm",
}
DARTS_METHODS = ("darts", "gdas", "pcdarts", "idarts", "pdarts")
STRATEGIES = (*SAMPLING_STRATEGIES, *DARTS_METHODS)
SPACES = ("chain", "genet", "darts", "benchmark")
# Which spaces each strategy can search. NAS-RL and MetaQNN need a space that is a sequence of decisions
# (vocabulary, token_choices): the chain, GeNet's codes and the benchmark's cells; DARTS's cell space has
# none. GeNet evolves fixed-length bit strings: its own codes, or the benchmark's cells coded 2 bits per
# edge. The relaxations need a supernet of the space; P-DARTS deepens DARTS's Supernet.
VALID_SPACES = {
    "random": SPACES,
    "reinforce": ("chain", "genet", "benchmark"),
    "qlearning": ("chain", "genet", "benchmark"),
    "evolution": SPACES,
    "regularized": SPACES,
    "genet": ("genet", "benchmark"),
    "darts": ("darts", "benchmark"),
    "gdas": ("darts", "benchmark"),
    "pcdarts": ("darts", "benchmark"),
    "idarts": ("darts", "benchmark"),
    "pdarts": ("darts",),
}
TABLE = "bench"  # --dataset bench: evaluate by looking the cell up in the course benchmark

# ------------------------------------------------------------------------------------ relaxation budgets
# full: DARTS's CIFAR-10 search (8 cells, C = 16, 50 epochs, batch 64), and P-DARTS's (stages of 5, 11,
# 17 cells, 25 epochs each); quick: minutes on a 2-core CPU.
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
# the settings of a sampling search (its config.json)
SEARCH_SETTINGS = ("strategy", "space", "dataset", "profile", "trials", "epochs", "batch_size", "train_subset",
                   "population", "cells", "channels", "seed", "batch")
RELAXATION_ONLY = ("order", "warmup_epochs")
SAMPLING_ONLY = ("trials", "population", "batch")

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

SEARCH_DESCRIPTION = """\
Search for an architecture with any strategy of the course and keep everything in --run-dir.

strategies and the spaces they search (--space; default: genet for genet, darts for the
relaxations, else chain; benchmark with --dataset bench):
  random       random search                         chain, genet, darts, benchmark
  reinforce    NAS-RL (REINFORCE, LSTM controller)   chain, genet, benchmark
  qlearning    MetaQNN (Q-learning, replay)          chain, genet, benchmark
  evolution    Large-scale Evolution                 chain, genet, darts, benchmark
  regularized  regularized (aging) evolution         chain, genet, darts, benchmark
  genet        GeNet (genetic algorithm on bits)     genet, benchmark
  darts gdas pcdarts idarts
               continuous relaxation (chapter 03)    darts, benchmark
  pdarts       P-DARTS (three deepening stages)      darts

spaces: chain = layer chains (chapter 00-01), genet = GeNet's binary codes, darts = DARTS's
normal+reduction cells (--cells, --channels set the network), benchmark = the course benchmark's
NAS-Bench-201-style cells.

evaluation: every candidate is trained from scratch for --epochs and ranked by validation
accuracy; with --dataset bench (the default for --space benchmark) it is looked up in the
course's tabular benchmark instead, in milliseconds, and the table's test accuracy of the best
cell is reported too. Relaxation methods train one supernet for --epochs (see `darts --help`).

--profile quick (default: $NASCOURSE_PROFILE, else quick): digits, 20 candidates of 6 epochs
(150 for table lookups), populations of 4 (20 for lookups); full: CIFAR-10, 100 candidates of
20 epochs (500 lookups), populations of 20; relaxations: DARTS's CIFAR-10 search (8 cells, C=16,
50 epochs, batch 64). Any option given explicitly wins.

the run folder:
  config.json     the settings (--resume reads them: no other option is needed)
  history.jsonl   one line per evaluated candidate (sampling strategies), appended as it finishes
  checkpoint.pt   the supernet's state after the last finished epoch (relaxations), snapshots.json
  best.txt        the best architecture on its first line (a genotype for `train --genotype FILE`)
  summary.json    what the search returned: the architecture, its accuracy, the cost

An interrupted search continues with --resume: finished candidates are replayed into the
strategy (not trained again) and the search goes on; on the CPU with the same seed it ends as an
uninterrupted one (evolution with weight inheritance excepted: parents' weights are not saved).
--ray [ADDRESS] evaluates --batch candidates at a time as Ray tasks (ADDRESS: a cluster, e.g.
auto; none: a local Ray on this machine's cores).

examples:
  python -m nascourse search --strategy regularized --dataset bench --run-dir runs/re
  python -m nascourse search --strategy darts --dataset cifar10 --profile full --run-dir runs/darts
  python -m nascourse search --run-dir runs/darts --resume
"""


def _add_relaxation_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--order", type=int, choices=(1, 2), default=None,
                        help="relaxations: architecture gradient, 1 first order, 2 second order (default: 1)")
    parser.add_argument("--warmup-epochs", type=int, default=None,
                        help="relaxations: epochs that train only the weights "
                             "(default: PC-DARTS 30%%, P-DARTS 40%% of --epochs, else 0)")


def _add_common_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--seed", type=int, default=None, help="seed of the search (default: 0)")
    parser.add_argument("--device", default=None,
                        help="auto, cpu, cuda, cuda:N, mps (default: $NASCOURSE_DEVICE, else auto)")
    parser.add_argument("--threads", type=int, default=None, help="CPU threads for torch (default: torch's choice)")
    parser.add_argument("--data", default=None, help="dataset folder (default: $NASCOURSE_DATA, else the course's data/)")


def add_darts_parser(commands) -> None:
    darts = commands.add_parser(
        "darts", help="run a DARTS-family search (darts, gdas, pcdarts, idarts, pdarts) with checkpoints",
        description=DARTS_DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    darts.add_argument("--run-dir", required=True, metavar="DIR", help="folder for the checkpoint and the results")
    darts.add_argument("--resume", action="store_true", help="continue the search whose checkpoint is in --run-dir")
    darts.add_argument("--method", choices=DARTS_METHODS, default=None, help="relaxation method (default: darts)")
    darts.add_argument("--space", choices=("darts", "benchmark"), default=None,
                       help="darts: DARTS's cell space; benchmark: the course benchmark's cells (default: darts)")
    darts.add_argument("--profile", choices=("quick", "full"), default=None,
                       help="budget defaults (default: $NASCOURSE_PROFILE, else quick)")
    darts.add_argument("--dataset", default=None, help="digits, mnist, fashion_mnist, cifar10 (default: by profile)")
    darts.add_argument("--train-subset", type=int, default=None, metavar="N",
                       help="use only N training images (half for w, half for alpha), for a trial run (default: all)")
    darts.add_argument("--cells", type=int, default=None, help="cells of the supernet (see above) (default: by profile)")
    darts.add_argument("--channels", type=int, default=None, help="channels C of the first cells (default: by profile)")
    darts.add_argument("--epochs", type=int, default=None, help="search epochs (P-DARTS: per stage) (default: by profile)")
    darts.add_argument("--batch-size", type=int, default=None, help="batch size of both steps (default: 64)")
    _add_relaxation_options(darts)
    _add_common_options(darts)


def add_search_parser(commands) -> None:
    search = commands.add_parser(
        "search", help="search with any strategy (random, reinforce, qlearning, evolution, regularized, genet, "
                       "darts, gdas, pcdarts, idarts, pdarts) on any space it fits; resumable",
        description=SEARCH_DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    search.add_argument("--strategy", choices=STRATEGIES, default=None, metavar="STRATEGY",
                        help="how to search (see above); with --resume it is read from config.json")
    search.add_argument("--space", choices=SPACES, default=None, help="what to search (see above)")
    search.add_argument("--dataset", default=None,
                        help="digits, mnist, fashion_mnist, cifar10, or bench (table lookups) (default: by profile)")
    search.add_argument("--profile", choices=("quick", "full"), default=None,
                        help="budget defaults (default: $NASCOURSE_PROFILE, else quick)")
    search.add_argument("--run-dir", required=True, metavar="DIR", help="folder for the log, checkpoint and results")
    search.add_argument("--resume", action="store_true", help="continue the search in --run-dir")
    search.add_argument("--trials", type=int, default=None, metavar="N", help="candidates to evaluate (default: by profile)")
    search.add_argument("--epochs", type=int, default=None,
                        help="training epochs per candidate, or of the supernet (default: by profile)")
    search.add_argument("--batch-size", type=int, default=None, help="training batch size (default: by profile)")
    search.add_argument("--train-subset", type=int, default=None, metavar="N",
                        help="use only N training images, for a trial run (default: all)")
    search.add_argument("--population", type=int, default=None,
                        help="population of evolution, regularized evolution and GeNet (default: by profile)")
    search.add_argument("--cells", type=int, default=None,
                        help="cells of the darts space's network or of the supernet (default: by profile)")
    search.add_argument("--channels", type=int, default=None, help="channels C of the first cells (default: by profile)")
    _add_relaxation_options(search)
    search.add_argument("--ray", nargs="?", const="local", default=None, metavar="ADDRESS",
                        help="evaluate candidates in parallel with Ray (no ADDRESS: a local Ray; 'auto' or "
                             "'ray://host:10001': a cluster)")
    search.add_argument("--batch", type=int, default=None, metavar="K",
                        help="with --ray: candidates evaluated at once (default: the cluster's cores)")
    _add_common_options(search)


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
        from .profile import get_profile

        try:
            profile = get_profile(args.profile).name
        except ValueError as error:
            raise RunError(str(error)) from None
        values = {"method": "darts", "order": 1, "space": "darts", "seed": 0, "train_subset": None,
                  **DARTS_DEFAULTS[profile]}
        if given.get("method") == "pdarts":
            values.update(PDARTS_DEFAULTS[profile])
        if given.get("space") == "benchmark":
            from .bench.build import Protocol

            protocol = Protocol()  # the supernet has the skeleton the benchmark's cells were trained in
            values.update(dataset=protocol.dataset, cells=protocol.cells_per_stage, channels=protocol.channels)
        return values

    settings = merge_settings(given, saved, defaults, run_dir)
    settings.setdefault("warmup_epochs", int(WARMUP_FRACTION.get(settings["method"], 0.0) * settings["epochs"]))
    if settings["method"] == "pdarts" and settings["space"] != "darts":
        raise RunError("--method pdarts deepens and prunes the DARTS Supernet between stages; use --space darts.")
    for key in ("cells", "channels", "epochs", "batch_size", "train_subset"):
        if settings[key] is not None and settings[key] < 1:
            raise RunError(f"--{key.replace('_', '-')} must be positive, got {settings[key]}.")
    return settings


def _pdarts_stages(cells: int) -> list[tuple[int, int, float]]:
    """P-DARTS's (cells, operations kept per edge, skip dropout) per stage, the last stage ``cells`` deep.

    The paper's 5, 11, 17 cells for ``cells`` = 17; shallower searches scale the depths down (at least 3)."""
    first = max(3, round(cells * 5 / 17))
    last = max(cells, first)
    return [(first, 8, 0.0), ((first + last) // 2, 5, 0.4), (last, 3, 0.7)]


def run_relaxation(args: argparse.Namespace) -> dict:
    """Run (or resume) a relaxation search in ``args.run_dir``; returns what it found, and its summary line."""
    import torch

    from .data import DatasetUnavailableError, load_dataset
    from .profile import seed_everything
    from .relaxation import Cell201Supernet, Supernet
    from .relaxation.search import CheckpointError, SearchConfig, pdarts_search, relaxation_search

    run_dir = Path(args.run_dir)
    guard_run_folder(run_dir, args.resume, ["checkpoint*.pt"], "search")
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    saved = saved_settings(args.resume, run_dir)
    settings = _darts_settings(args, saved, run_dir)
    device = choose_device(args.device, saved, run_dir)
    settings["device"] = str(device)
    try:
        data = load_dataset(settings["dataset"], root=args.data, device=device, train_subset=settings["train_subset"])
    except (ValueError, DatasetUnavailableError) as error:
        raise RunError(str(error)) from None
    try:
        config = SearchConfig(epochs=settings["epochs"], batch_size=settings["batch_size"], order=settings["order"],
                              warmup_epochs=settings["warmup_epochs"])
    except ValueError as error:
        raise RunError(str(error)) from None
    run_dir.mkdir(parents=True, exist_ok=True)
    write_json(run_dir / "config.json", {"command": "search", "settings": settings, "torch": torch.__version__})

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
            stages = pdarts_search(data, _pdarts_stages(settings["cells"]), config, channels=settings["channels"],
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
    from .bench import Benchmark, BenchmarkError

    try:
        bench = Benchmark.load()
    except BenchmarkError as error:
        return {"text": f"no benchmark lookup ({error})"}
    test, val = bench.mean_accuracy(architecture, "test"), bench.mean_accuracy(architecture, "val")
    note = "" if dataset in (TABLE, bench.protocol.dataset) else f" (the benchmark was trained on {bench.protocol.dataset})"
    return {"benchmark_test_accuracy": test, "benchmark_val_accuracy": val,
            "text": f"benchmark accuracy: test {test:.3f}, validation {val:.3f}{note}"}


# ------------------------------------------------------------------------------------ search
def search_command(args: argparse.Namespace) -> int:
    return run_guarded(_search_main, args, "trial or epoch")


def _search_main(args: argparse.Namespace) -> int:
    run_dir = Path(args.run_dir)
    saved = saved_settings(args.resume, run_dir)
    strategy = args.strategy
    if strategy is None and saved is not None:
        strategy = saved.get("strategy", saved.get("method"))
    if strategy is None:
        raise RunError("Choose a strategy: --strategy " + "|".join(STRATEGIES) + " (with --resume it is read from "
                       f"{run_dir / 'config.json'}, which is not there).", code=2)
    if strategy in DARTS_METHODS:
        return _search_by_relaxation(args, strategy, run_dir)
    return _search_by_sampling(args, strategy, saved, run_dir)


def _check_space(strategy: str, space: str) -> None:
    if space not in VALID_SPACES[strategy]:
        combos = "; ".join(f"{s}: {', '.join(spaces)}" for s, spaces in VALID_SPACES.items())
        raise RunError(f"--strategy {strategy} cannot search the {space} space; it searches "
                       f"{', '.join(VALID_SPACES[strategy])}. Valid combinations: {combos}.", code=2)


def _search_by_relaxation(args: argparse.Namespace, method: str, run_dir: Path) -> int:
    misplaced = [f"--{key}" for key in SAMPLING_ONLY if getattr(args, key) is not None] + (["--ray"] if args.ray else [])
    if misplaced:
        raise RunError(f"{', '.join(misplaced)} belong to sampling strategies; {method} trains one supernet for "
                       "--epochs. Leave them out.", code=2)
    if args.dataset == TABLE:
        raise RunError(f"{method} trains a supernet on images, so --dataset bench (table lookups) does not apply; "
                       "use --space benchmark with a dataset (default: the benchmark's own), and the derived cell "
                       "is looked up in the table at the end.", code=2)
    _check_space(method, args.space or "darts")
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
    _write_best(run_dir, outcome["architecture"], f"# {settings['method']} on {settings['dataset']}: {label} "
                                                  f"{accuracy:.4f}")
    summary = {"command": "search", "strategy": settings["method"], "space": settings["space"],
               "dataset": settings["dataset"], "epochs": outcome["epochs"], "architecture": outcome["architecture"],
               "accuracy": accuracy, "accuracy_meaning": label, "search_seconds": outcome["seconds"]}
    summary.update({k: outcome[k] for k in ("benchmark_test_accuracy", "benchmark_val_accuracy") if k in outcome})
    write_json(run_dir / "summary.json", summary)
    print(f"derived cell: {outcome['architecture']}")
    print(outcome["line"])


def _write_best(run_dir: Path, architecture: str, comment: str) -> None:
    temporary = run_dir / "best.txt.tmp"
    temporary.write_text(f"{architecture}\n{comment}\n")
    temporary.replace(run_dir / "best.txt")


def _sampling_defaults(strategy: str, given: dict, profile_name: str | None) -> dict:
    from .profile import get_profile

    try:
        profile = get_profile(profile_name)
    except ValueError as error:
        raise RunError(str(error)) from None
    space = given.get("space")
    dataset = given.get("dataset")
    if space is None:
        space = "benchmark" if dataset == TABLE else ("genet" if strategy == "genet" else "chain")
    if dataset is None:
        dataset = TABLE if space == "benchmark" else profile.dataset
    lookups = dataset == TABLE
    full = profile.name == "full"
    return {
        "strategy": strategy, "space": space, "dataset": dataset, "profile": profile.name,
        "trials": (500 if full else 150) if lookups else profile.search_trials,
        "epochs": None if lookups else profile.epochs,  # lookups: the table's last epoch
        "batch_size": None if lookups else profile.batch_size,
        "learning_rate": None if lookups else profile.learning_rate,
        "train_subset": None,
        "population": 20 if (lookups or full) else 4,
        "cells": 8 if full else 5, "channels": 16 if full else 8,  # the darts space's network (DARTS: 8 x 16)
        "channel_choices": list(profile.channel_choices), "max_layers": profile.max_layers,
        "seed": 0, "batch": None,
    }


def _sampling_settings(args: argparse.Namespace, strategy: str, saved: dict | None, run_dir: Path) -> dict:
    misplaced = [f"--{key.replace('_', '-')}" for key in RELAXATION_ONLY if getattr(args, key) is not None]
    if misplaced:
        raise RunError(f"{', '.join(misplaced)} belong to the relaxation methods ({', '.join(DARTS_METHODS)}); "
                       f"{strategy} samples candidates. Leave them out.", code=2)
    given = {key: getattr(args, key) for key in SEARCH_SETTINGS if getattr(args, key, None) is not None}
    given["strategy"] = strategy
    if saved is not None and "strategy" not in saved:
        raise RunError(f"{run_dir} holds a {saved.get('method', 'different')} search, not a {strategy} one; "
                       "choose another --run-dir.", code=2)
    settings = merge_settings(given, saved, lambda: _sampling_defaults(strategy, given, args.profile), run_dir)
    _check_space(strategy, settings["space"])
    if settings["dataset"] == TABLE and settings["space"] != "benchmark":
        raise RunError(f"--dataset bench looks cells up in the course benchmark, which holds only its own cell space; "
                       f"use --space benchmark (not {settings['space']}), or train candidates on a dataset "
                       "(--dataset digits, mnist, fashion_mnist, cifar10).", code=2)
    for key in ("trials", "epochs", "batch_size", "train_subset", "cells", "channels", "batch"):
        if settings.get(key) is not None and settings[key] < 1:
            raise RunError(f"--{key.replace('_', '-')} must be positive, got {settings[key]}.", code=2)
    if settings["population"] < 2:
        raise RunError(f"--population must be at least 2 (a tournament needs two), got {settings['population']}.",
                       code=2)
    if settings["cells"] < 3:
        raise RunError(f"--cells must be at least 3 (two reductions and a normal cell), got {settings['cells']}.",
                       code=2)
    return settings


def _build_space(settings: dict):
    from .spaces import ChainSpace, DartsCellSpace, GeNetSpace, Skeleton

    name = settings["space"]
    if name == "chain":  # MetaQNN's paper chains have no skips (Eq. 1); the others search Eq. 2
        return ChainSpace(channel_choices=tuple(settings["channel_choices"]), max_layers=settings["max_layers"],
                          skip_connections=settings["strategy"] != "qlearning")
    if name == "genet":  # GeNet's MNIST stages (3, 4 nodes) at the profile's two smallest widths
        return GeNetSpace(nodes_per_stage=(3, 4), channels=tuple(settings["channel_choices"][:2]))
    if name == "darts":
        return DartsCellSpace(skeleton=Skeleton(cells=settings["cells"], channels=settings["channels"]))
    from .bench.build import Protocol

    return Protocol().space()  # the benchmark's cells, as the table holds them


def _build_strategy(settings: dict, space, weight_inheritance: bool):
    from .strategies import GeNet, LargeScaleEvolution, MetaQNN, NASRL, RandomSearch, RegularizedEvolution

    name, seed, population = settings["strategy"], settings["seed"], settings["population"]
    if name == "random":
        return RandomSearch(space, seed=seed)
    if name == "reinforce":
        return NASRL(space, seed=seed)
    if name == "qlearning":
        return MetaQNN(space, trials=settings["trials"], seed=seed)
    if name == "evolution":
        initial = "simplest" if settings["space"] != "darts" else "random"  # DARTS's space names no simplest cell
        return LargeScaleEvolution(space, population_size=population, initial=initial,
                                   weight_inheritance=weight_inheritance, seed=seed)
    if name == "regularized":  # Real et al.'s P = 100, S = 25 scaled: S = P / 4 (chapter 02: 20 and 5)
        return RegularizedEvolution(space, population_size=population, sample_size=max(2, population // 4), seed=seed)
    return GeNet(space, population_size=population, seed=seed)


def _search_by_sampling(args: argparse.Namespace, strategy_name: str, saved: dict | None, run_dir: Path) -> int:
    import torch

    from .loop import run_search
    from .profile import seed_everything

    guard_run_folder(run_dir, args.resume, ["history.jsonl"], "search")
    settings = _sampling_settings(args, strategy_name, saved, run_dir)
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    lookups = settings["dataset"] == TABLE
    device = choose_device(args.device, saved, run_dir)
    settings["device"] = str(device)
    seed_everything(settings["seed"])
    space = _build_space(settings)
    bench = None
    if lookups:
        from .bench import Benchmark, BenchmarkError, BenchmarkEvaluator

        try:
            bench = Benchmark.load()
        except BenchmarkError as error:
            raise RunError(str(error)) from None
        if args.ray:  # every Ray task works on its own copy of the evaluator: one fixed trained seed for all
            evaluator = BenchmarkEvaluator(bench, seed=bench.seeds[settings["seed"] % len(bench.seeds)])
        else:  # a trained seed drawn per lookup, as a fresh training run would land on one of them
            evaluator = BenchmarkEvaluator(bench, rng_seed=settings["seed"])
        strategy = _build_strategy(settings, space, weight_inheritance=False)
    else:
        from .data import DatasetUnavailableError, load_dataset
        from .evaluation import TrainingEvaluator
        from .strategies import WeightInheritingEvaluator

        try:
            data = load_dataset(settings["dataset"], root=args.data, device=device,
                                train_subset=settings["train_subset"])
        except (ValueError, DatasetUnavailableError) as error:
            raise RunError(str(error)) from None
        budget = dict(epochs=settings["epochs"], batch_size=settings["batch_size"],
                      learning_rate=settings["learning_rate"], seed=settings["seed"])
        inherit = strategy_name == "evolution" and not args.ray  # Ray's copies cannot pass weights on
        strategy = _build_strategy(settings, space, weight_inheritance=inherit)
        if inherit:
            evaluator = WeightInheritingEvaluator(space, data, strategy, **budget)
        else:
            evaluator = TrainingEvaluator(space, data, **budget)
    run_dir.mkdir(parents=True, exist_ok=True)
    write_json(run_dir / "config.json", {"command": "search", "settings": settings, "torch": torch.__version__})

    log_path = run_dir / "history.jsonl"
    if lookups and not args.ray and log_path.exists():
        # A resumed search replays its finished trials without looking them up again, but the evaluator draws
        # one trained seed per lookup from its own generator: make the draws those lookups made, so that the
        # trials after the resume get the seeds they would have got without the interruption.
        from .loop import History

        for _ in range(min(len(History.load(log_path)), settings["trials"])):
            evaluator.rng.choice(bench.seeds)
    description = f"{SAMPLING_STRATEGIES[strategy_name]} ({settings['space']}, {settings['dataset']})"
    started = time.perf_counter()
    try:
        if args.ray:
            try:
                from .parallel import run_search_ray
            except ImportError as error:
                raise RunError(f"--ray needs nascourse.parallel and Ray: {error}") from None
            history = run_search_ray(space, strategy, evaluator, settings["trials"], batch=settings["batch"],
                                     address=None if args.ray == "local" else args.ray, log_path=log_path,
                                     progress=True, description=description)
        else:
            history = run_search(space, strategy, evaluator, settings["trials"], log_path=log_path, progress=True,
                                 description=description)
    except ImportError as error:  # Ray is an optional extra
        raise RunError(str(error)) from None
    except ValueError as error:  # a log of another search, a strategy that cannot take batches...
        raise RunError(str(error), code=2) from None
    wall = time.perf_counter() - started
    try:
        best = history.best()
    except ValueError:
        raise RunError(f"No candidate finished successfully in {len(history)} trials (all diverged or failed); "
                       f"see {log_path}.") from None
    summary = {"command": "search", "strategy": strategy_name, "space": settings["space"],
               "dataset": settings["dataset"], "trials": len(history), "architecture": best.architecture,
               "accuracy": best.accuracy, "accuracy_meaning": "validation accuracy", "best_trial": best.index,
               "parameters": best.parameters, "cost_seconds": history.trials[-1].cumulative_seconds,
               "cost_epochs": history.trials[-1].cumulative_epochs, "wall_seconds_this_run": wall}
    outcome = f"best validation accuracy {best.accuracy:.3f} (trial {best.index + 1})"
    if bench is not None:
        summary["benchmark_test_accuracy"] = bench.mean_accuracy(best.architecture, "test")
        summary["benchmark_val_accuracy"] = bench.mean_accuracy(best.architecture, "val")
        outcome += f", table test accuracy {summary['benchmark_test_accuracy']:.3f} (mean of its seeds)"
    write_json(run_dir / "summary.json", summary)
    _write_best(run_dir, best.architecture, f"# {strategy_name} on {settings['dataset']}: validation accuracy "
                                            f"{best.accuracy:.4f}, trial {best.index + 1} of {len(history)}")
    cost = "recorded training time" if lookups else "of training"
    print(f"best: {best.architecture}")
    print(f"summary: {strategy_name} on {settings['dataset']} ({settings['space']} space), {len(history)} trials, "
          f"{summary['cost_seconds']:.1f} s {cost} ({wall:.1f} s in this run); {outcome}; best in "
          f"{run_dir / 'best.txt'}")
    return 0
