"""``python -m nascourse search``: any strategy of the course on any space it fits, in a run folder that survives a
kill. The strategies and the spaces each fits come from ``nascourse.registry``.

* sampling strategies (chapters 00-02) go through ``run_search`` (or ``nascourse.parallel.run_search_ray``
  with ``--ray``): every finished trial is appended to ``history.jsonl``, and ``--resume`` replays it into
  the strategy and goes on;
* the relaxation methods (chapter 03) train a supernet with a checkpoint after every epoch (``relaxation.py``).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from .. import registry
from ..bench import Benchmark, BenchmarkError, BenchmarkEvaluator
from ..evaluation import TrainingEvaluator
from ..loop import History, run_search
from ..profile import PROFILES, Profile, seed_everything
from ..strategies import WeightInheritingEvaluator
from .relaxation import (RELAXATION_ONLY, TABLE, add_relaxation_options, check_space, relaxation_methods,
                         search_by_relaxation, write_best)
from .run_folder import (RunError, add_run_folder_options, add_run_options, merge_settings, prepare_run, profile_of, run_guarded, saved_settings,
                         write_json)

# the settings of a sampling search (its config.json)
SEARCH_SETTINGS = ("strategy", "space", "dataset", "profile", "trials", "epochs", "batch_size", "train_subset",
                   "population", "cells", "channels", "seed", "batch")


def _strategy_table() -> str:
    entries = [e for e in registry.strategies() if e.kind in ("sampling", "relaxation")]
    width = max(len(e.summary) for e in entries)
    return "\n".join(f"  {e.name:<12} {e.summary:<{width}}  {', '.join(e.spaces)}" for e in entries)


def _space_table() -> str:
    return "\n".join(f"  {e.name:<12} {e.summary}" for e in registry.SPACES.values())


def _profile_line(profile: Profile) -> str:
    return (f"  {profile.name}: {profile.dataset}, {profile.search_trials} candidates of {profile.epochs} epochs "
            f"({profile.table_trials} for table lookups), populations of {profile.population} "
            f"({profile.table_population} for lookups);\n"
            f"  {' ' * len(profile.name)}  relaxations: {profile.cells} cells, C={profile.cell_channels}, "
            f"{profile.relaxation_epochs} epochs, batch {profile.relaxation_batch_size}")


def search_description() -> str:
    """The help of ``search``, its tables read from the registry and the profiles."""
    return SEARCH_DESCRIPTION.format(strategies=_strategy_table(), spaces=_space_table(), profiles="\n".join(
        _profile_line(profile) for profile in PROFILES.values()))


SEARCH_DESCRIPTION = """\
Search for an architecture with any strategy of the course and keep everything in --run-dir.

strategies and the spaces they search (--space; default: the first space listed; benchmark with
--dataset bench):
{strategies}

spaces (--cells and --channels set the darts space's network):
{spaces}

evaluation: every candidate is trained from scratch for --epochs and ranked by validation
accuracy; with --dataset bench (the default for --space benchmark) it is looked up in the
course's tabular benchmark instead, in milliseconds, and the table's test accuracy of the best
cell is reported too. Relaxation methods train one supernet for --epochs (see `darts --help`).

--profile (default: $NASCOURSE_PROFILE, else quick) sets the budgets; any option given explicitly wins:
{profiles}

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


def _strategy_names() -> tuple[str, ...]:
    return tuple(entry.name for entry in registry.strategies() if entry.kind in ("sampling", "relaxation"))


def add_search_parser(commands) -> None:
    search = commands.add_parser(
        "search", help=f"search with any strategy ({', '.join(_strategy_names())}) on any space it fits; resumable",
        description=search_description(), formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    search.add_argument("--strategy", choices=_strategy_names(), default=None, metavar="STRATEGY",
                        help="how to search (see above); with --resume it is read from config.json")
    search.add_argument("--space", choices=tuple(registry.SPACES), default=None, help="what to search (see above)")
    search.add_argument("--dataset", default=None,
                        help="digits, mnist, fashion_mnist, cifar10, or bench (table lookups) (default: by profile)")
    add_run_folder_options(search, "the log, checkpoint and results")
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
    add_relaxation_options(search)
    search.add_argument("--ray", nargs="?", const="local", default=None, metavar="ADDRESS",
                        help="evaluate candidates in parallel with Ray (no ADDRESS: a local Ray; 'auto' or "
                             "'ray://host:10001': a cluster)")
    search.add_argument("--batch", type=int, default=None, metavar="K",
                        help="with --ray: candidates evaluated at once (default: the cluster's cores)")
    add_run_options(search)


# ------------------------------------------------------------------------------------ the command
def search_command(args: argparse.Namespace) -> int:
    return run_guarded(_search_main, args, "trial or epoch")


def _search_main(args: argparse.Namespace) -> int:
    run_dir = Path(args.run_dir)
    saved = saved_settings(args.resume, run_dir)
    strategy = args.strategy
    if strategy is None and saved is not None:
        strategy = saved.get("strategy", saved.get("method"))
    if strategy is None:
        raise RunError("Choose a strategy: --strategy " + "|".join(_strategy_names()) + " (with --resume it is read "
                       f"from {run_dir / 'config.json'}, which is not there).", code=2)
    if strategy in relaxation_methods():
        return search_by_relaxation(args, strategy, run_dir)
    return _search_by_sampling(args, strategy)


def sampling_defaults(strategy: str, given: dict, profile: Profile) -> dict:
    """A sampling search's settings where no option gives them: the profile's budgets, the strategy's first
    space (the benchmark's cells with --dataset bench)."""
    space = given.get("space")
    dataset = given.get("dataset")
    if space is None:
        space = "benchmark" if dataset == TABLE else registry.strategy(strategy).spaces[0]
    if dataset is None:
        dataset = TABLE if space == "benchmark" else profile.dataset
    lookups = dataset == TABLE
    return {
        "strategy": strategy, "space": space, "dataset": dataset, "profile": profile.name,
        "trials": profile.table_trials if lookups else profile.search_trials,
        "epochs": None if lookups else profile.epochs,  # lookups: the table's last epoch
        "batch_size": None if lookups else profile.batch_size,
        "learning_rate": None if lookups else profile.learning_rate,
        "train_subset": None,
        "population": profile.table_population if lookups else profile.population,
        "cells": profile.cells, "channels": profile.cell_channels,  # the darts space's network (DARTS: 8 x 16)
        "channel_choices": list(profile.channel_choices), "max_layers": profile.max_layers,
        "seed": 0, "batch": None,
    }


def _sampling_settings(args: argparse.Namespace, strategy: str, saved: dict | None, run_dir: Path) -> dict:
    misplaced = [f"--{key.replace('_', '-')}" for key in RELAXATION_ONLY if getattr(args, key) is not None]
    if misplaced:
        raise RunError(f"{', '.join(misplaced)} belong to the relaxation methods ({', '.join(relaxation_methods())}); "
                       f"{strategy} samples candidates. Leave them out.", code=2)
    given = {key: getattr(args, key) for key in SEARCH_SETTINGS if getattr(args, key, None) is not None}
    given["strategy"] = strategy
    if saved is not None and "strategy" not in saved:
        raise RunError(f"{run_dir} holds a {saved.get('method', 'different')} search, not a {strategy} one; "
                       "choose another --run-dir.", code=2)
    settings = merge_settings(given, saved, lambda: sampling_defaults(strategy, given, profile_of(args.profile)),
                              run_dir)
    check_space(strategy, settings["space"])
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


def build_space(settings: dict):
    """The space of the settings, with the strategy's own space options (MetaQNN's chains have no skips)."""
    entry = registry.strategy(settings["strategy"])
    return registry.space(settings["space"]).build({**settings, **entry.space_options})


def build_strategy(settings: dict, space, weight_inheritance: bool):
    entry = registry.strategy(settings["strategy"])
    return entry.build(space, trials=settings["trials"], seed=settings["seed"], population=settings["population"],
                       weight_inheritance=weight_inheritance)


def _search_by_sampling(args: argparse.Namespace, strategy_name: str) -> int:
    run = prepare_run(args, ["history.jsonl"], "search",
                      lambda saved: _sampling_settings(args, strategy_name, saved, Path(args.run_dir)))
    settings, run_dir = run.settings, run.folder
    seed_everything(settings["seed"])
    lookups = settings["dataset"] == TABLE
    space = build_space(settings)
    bench = None
    if lookups:
        try:
            bench = Benchmark.load()
        except BenchmarkError as error:
            raise RunError(str(error)) from None
        if args.ray:  # every Ray task works on its own copy of the evaluator: one fixed trained seed for all
            evaluator = BenchmarkEvaluator(bench, seed=bench.seeds[settings["seed"] % len(bench.seeds)])
        else:  # a trained seed drawn per lookup, as a fresh training run would land on one of them
            evaluator = BenchmarkEvaluator(bench, rng_seed=settings["seed"])
        strategy = build_strategy(settings, space, weight_inheritance=False)
    else:
        data = run.load_data(args.data)
        budget = dict(epochs=settings["epochs"], batch_size=settings["batch_size"],
                      learning_rate=settings["learning_rate"], seed=settings["seed"])
        inherit = strategy_name == "evolution" and not args.ray  # Ray's copies cannot pass weights on
        strategy = build_strategy(settings, space, weight_inheritance=inherit)
        if inherit:
            evaluator = WeightInheritingEvaluator(space, data, strategy, **budget)
        else:
            evaluator = TrainingEvaluator(space, data, **budget)
    run.start("search")

    log_path = run_dir / "history.jsonl"
    if lookups and not args.ray and log_path.exists():
        # A resumed search replays its finished trials without looking them up again, but the evaluator draws
        # one trained seed per lookup from its own generator: make the draws those lookups made, so that the
        # trials after the resume get the seeds they would have got without the interruption.
        for _ in range(min(len(History.load(log_path)), settings["trials"])):
            evaluator.rng.choice(bench.seeds)
    description = f"{registry.strategy(strategy_name).summary} ({settings['space']}, {settings['dataset']})"
    started = time.perf_counter()
    try:
        if args.ray:
            try:
                from ..parallel import run_search_ray  # needs Ray, an optional extra
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
    write_best(run_dir, best.architecture, f"# {strategy_name} on {settings['dataset']}: validation accuracy "
                                            f"{best.accuracy:.4f}, trial {best.index + 1} of {len(history)}")
    cost = "recorded training time" if lookups else "of training"
    print(f"best: {best.architecture}")
    print(f"summary: {strategy_name} on {settings['dataset']} ({settings['space']} space), {len(history)} trials, "
          f"{summary['cost_seconds']:.1f} s {cost} ({wall:.1f} s in this run); {outcome}; best in "
          f"{run_dir / 'best.txt'}")
    return 0
