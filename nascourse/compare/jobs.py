"""The searches a comparison runs, each a job that returns a ``Run`` (chapter 06).

The course's unit of cost is the benchmark's training seconds: what the build machine recorded for a candidate's
training (CPU time of one thread). A search that trains here (a supernet) is charged the multiply-accumulates it
counts (``nascourse.compute``) at the build machine's speed (``Benchmark.seconds_for``), never the seconds it took
here, so the comparison comes out the same on any machine. On NAS-Bench-201 (``load_table("nb201-cifar10")``, ...)
budgets are counted in trials instead.

* ``table_job``: an ask/tell strategy of ``TABLE_METHODS`` (or Hyperband, or BOHB) by table lookup; ``strategy_run`` for a
  strategy of your own;
* ``relaxation_job``: a DARTS-family search (DARTS, GDAS, PC-DARTS) on the table's cell space and data;
* ``one_shot_job``: one-shot + random sampling: a supernet trained as SPOS trains it, scored at checkpoints by
  the best of sampled cells (not SPOS's evolutionary search, which is ``weight_sharing.evolutionary_search``);
  charged for its training and for its scoring (BatchNorm recalibration and validation passes).

The job functions live at module level: ``run_jobs`` pickles them by name into its worker processes.
"""

from __future__ import annotations

import math
from functools import lru_cache
from typing import Any, Sequence

import numpy as np
import torch

from .. import registry
from ..bench.nb201 import NB201Table
from ..bench.table import Benchmark, BenchmarkEvaluator
from ..data import DatasetSplits, load_dataset
from ..estimation.bohb import BOHB
from ..estimation.halving import Hyperband, TableTraining
from ..loop import run_search
from ..relaxation import Cell201Supernet
from ..relaxation.search import SearchConfig, relaxation_search
from ..weight_sharing import OneShotTrainer, ranking_quality
from .runs import Run

__all__ = ["TABLE_METHODS", "FAMILIES", "table_methods", "TABLES", "load_table", "table_data", "table_job", "strategy_run",
           "relaxation_job", "one_shot_job"]


# ------------------------------------------------------------------------------------------- the methods
# The methods come from the registry (``nascourse.registry``): each declares its label and family (survey Table 1)
# and how it is built. Hyperband is not an ask/tell strategy (it schedules partial trainings): ``table_job`` runs it.
def table_methods() -> tuple[str, ...]:
    """The labels of the methods ``table_job`` runs: every registered sampling strategy (and schedule) that can
    search the benchmark's cells, in registration order."""
    return tuple(entry.label for entry in registry.strategies(space="benchmark")
                 if entry.kind in ("sampling", "schedule"))


TABLE_METHODS = table_methods()  # as registered when nascourse.compare is imported
FAMILIES = {entry.label: entry.family for entry in registry.strategies()}


TABLES = ("digits", "nb201-cifar10", "nb201-cifar100", "nb201-ImageNet16-120")


@lru_cache(maxsize=4)
def load_table(table: str = "digits", path: str | None = None):
    """A table by name: ``"digits"``, the course's benchmark (``path``: another build of it), or
    ``"nb201-<dataset>"``, NAS-Bench-201 read from ``path`` or ``$NASCOURSE_NB201`` (``nascourse.bench.nb201``).
    On the digits a budget is in the table's training seconds; on NAS-Bench-201 in trials (every query is one full
    200-epoch training), the same for every method compared."""
    if table == "digits":
        return Benchmark.load(path)
    if table in TABLES:
        return NB201Table.load(path, dataset=table.removeprefix("nb201-"))
    raise ValueError(f"Unknown table {table!r}; choose one of {TABLES}.")


def _trial_budget(table: str) -> bool:
    return table != "digits"


@lru_cache(maxsize=2)
def table_data(path: str | None = None) -> DatasetSplits:
    """The data the course's table was trained on (its protocol's dataset and split), loaded once per process: what
    a search that trains here (a supernet) trains on, so that its cells are scored by the table fairly."""
    protocol = load_table("digits", path).protocol
    return load_dataset(protocol.dataset, split_seed=protocol.split_seed)


def table_job(method: str, seed: int, budget: float, bench_path: str | None = None, table: str = "digits",
              average: int = 1, unit: str | None = None) -> Run:
    """One search by table lookup until it has spent ``budget``.

    ``unit``: ``"seconds"`` (the table's recorded training seconds; the last trial may overshoot) or ``"trials"``
    (candidates evaluated). The digits default to seconds; NAS-Bench-201 (``table="nb201-cifar10"``, ...) has no
    recorded times and counts trials. ``average``: on the digits, the number of the table's training runs averaged
    into each lookup (the search signal's noise; ``BenchmarkEvaluator``)."""
    unit = unit or ("trials" if _trial_budget(table) else "seconds")
    if unit not in ("seconds", "trials"):
        raise ValueError(f"unit must be 'seconds' or 'trials', got {unit!r}.")
    if _trial_budget(table) and unit != "trials":
        raise ValueError(f"{table} records no training times: give its budget in trials (unit='trials').")
    bench = load_table(table, bench_path)
    space = bench.space
    methods = table_methods()
    if _trial_budget(table) and method in ("Hyperband", "GeNet genetic algorithm"):
        raise ValueError(f"{method!r} does not run on {table}: Hyperband needs learning curves (NAS-Bench-201's "
                         "compact form keeps final accuracies only) and GeNet's code has two bits per edge, room "
                         "for four operations, not five. Choose one of "
                         f"{[m for m in methods if m not in ('Hyperband', 'GeNet genetic algorithm')]}.")
    if method == "Hyperband":
        if average != 1 or unit != "seconds":
            raise ValueError("Hyperband trains candidates partially from one run's learning curve: it takes "
                             "average=1 and a budget in seconds.")
        history = Hyperband(space, max_epochs=bench.protocol.epochs, eta=3, seed=seed).run(
            TableTraining(bench, rng_seed=seed), max_seconds=budget)
        return Run.from_history(method, seed, history)
    if method == "BOHB":
        return _bohb_run(bench, seed, budget, table, average, unit)
    if method not in methods:
        raise ValueError(f"Unknown table method {method!r}; choose one of {methods}.")
    build = registry.strategy(method).build
    if unit == "trials":
        evaluator = bench.evaluator() if _trial_budget(table) else BenchmarkEvaluator(bench, rng_seed=seed,
                                                                                      average=average)
        history = run_search(space, build(space, trials=int(budget), seed=seed), evaluator, int(budget),
                             progress=False)
        return Run.from_history(method, seed, history, cost="trials")
    # MetaQNN plans its exploration schedule for the number of candidates the budget pays for, on average
    expected = max(10, math.ceil(budget / (average * float(np.nanmean(bench.train_seconds[:, :, -1])))))
    return strategy_run(method, build(space, trials=expected, seed=seed), bench, seed, budget, average)


def _bohb_run(bench: Any, seed: int, budget: float, table: str, average: int, unit: str) -> Run:
    """BOHB (``estimation.bohb``): on the digits with a budget in seconds, Hyperband's brackets over the table's
    epochs with candidates from its TPE model. Counted in whole trainings (trials, or lookups averaging several
    runs) only the full budget exists: each bracket then trains one candidate fully, and BOHB is its model alone
    (TPE-style Bayesian optimisation with a random fraction), without Hyperband's partial trainings."""
    if unit == "seconds" and average == 1:
        history = BOHB(bench.space, max_epochs=bench.protocol.epochs, eta=3, seed=seed).run(
            TableTraining(bench, rng_seed=seed), max_seconds=budget)
        return Run.from_history("BOHB", seed, history)
    lookup = bench.evaluator() if _trial_budget(table) else BenchmarkEvaluator(bench, rng_seed=seed, average=average)
    search = BOHB(bench.space, max_epochs=1, min_epochs=1, seed=seed)  # one bracket of one full training
    if unit == "trials":
        history = search.run(lambda architecture, epochs: lookup(architecture), iterations=int(budget))
        return Run.from_history("BOHB", seed, history, cost="trials")
    return Run.from_history("BOHB", seed, search.run(lambda architecture, epochs: lookup(architecture),
                                                     max_seconds=budget))


def strategy_run(method: str, strategy: Any, bench: Benchmark, seed: int, budget: float, average: int = 1) -> Run:
    """Any ask/tell ``strategy`` on the benchmark's table until it has spent ``budget`` training seconds (the last
    trial may overshoot); the table's trained seed(s) per lookup are drawn with ``seed`` (``average`` runs per
    lookup, see ``BenchmarkEvaluator``). A strategy of your own enters the comparison through this."""
    cap = max(10, math.ceil(budget / float(np.nanmin(bench.train_seconds[:, :, -1]))) + 1)  # the budget stops first
    history = run_search(bench.space, strategy, BenchmarkEvaluator(bench, rng_seed=seed, average=average), cap,
                         progress=False, max_seconds=budget)
    return Run.from_history(method, seed, history)


def relaxation_job(method: str, seed: int, epochs: int, batch_size: int = 64, init_seed: int | None = None,
                   bench_path: str | None = None) -> Run:
    """A DARTS-family search (``darts``, ``gdas``, ``pcdarts``) on the benchmark's cell space and data; the
    returned cell after each epoch is the one Eq. 5 derives then, its cost the search's counted compute so far
    in the benchmark's seconds (``Benchmark.seconds_for``); the seconds it took here are kept in ``extra``.

    ``seed`` fixes the search's randomness (which half of the training split trains alpha, the batch order,
    GDAS's Gumbel noise); ``init_seed`` (default: ``seed``) the supernet's initial weights, so the two sources
    of seed-to-seed variation can be told apart."""
    bench, data = load_table("digits", bench_path), table_data(bench_path)
    protocol = bench.protocol
    torch.manual_seed(seed if init_seed is None else init_seed)  # the supernet's initial weights
    model = Cell201Supernet(data.input_shape, data.num_classes, channels=protocol.channels,
                            cells_per_stage=protocol.cells_per_stage, method=method)
    result = relaxation_search(model, data, SearchConfig(epochs=epochs, batch_size=batch_size), seed=seed,
                               progress=False)
    names = {"darts": "DARTS", "gdas": "GDAS", "pcdarts": "PC-DARTS"}
    return Run.from_points(names.get(method, method), seed,
                           [(bench.seconds_for(s.macs), s.architecture) for s in result.snapshots],
                           init_seed=seed if init_seed is None else init_seed, local_seconds=result.seconds)


def one_shot_job(seed: int, checkpoints: Sequence[float], cells: int, bench_path: str | None = None) -> Run:
    """One-shot + random sampling (Bender et al. 2018; Li & Talwalkar 2019): train a one-shot supernet with uniform
    single paths (as SPOS trains it); at each checkpoint score a random sample of ``cells`` benchmark cells with the
    shared weights (BatchNorm recalibrated per path) and return the best. Cost at each checkpoint: the supernet's
    training compute so far plus the scoring compute so far (recalibration and validation passes of every cell
    scored, at this checkpoint and the earlier ones), both counted in multiply-accumulates and converted to the
    benchmark's seconds (``Benchmark.seconds_for``). ``extra`` keeps the training's and the scoring's shares of
    the final cost (``training_seconds``, ``scoring_seconds``) and the seconds it took here (``local_seconds``)."""
    checkpoints = sorted(float(c) for c in checkpoints)
    if not checkpoints or checkpoints[-1] <= 0:
        raise ValueError(f"one_shot_job needs checkpoints in epochs, the last one positive; got {checkpoints}.")
    bench, data = load_table("digits", bench_path), table_data(bench_path)
    trainer = OneShotTrainer(data, epochs=max(1, math.ceil(checkpoints[-1])), seed=seed)
    quality = ranking_quality(trainer, bench, cells, checkpoints, sample_seed=seed)
    points = [(bench.seconds_for(macs + scoring), quality.architectures[int(np.argmax(scores))])
              for macs, scoring, scores in zip(quality.macs, quality.scoring_macs, quality.scores)]
    return Run.from_points("one-shot + random sampling", seed, points, local_seconds=trainer.seconds,
                           training_seconds=bench.seconds_for(trainer.macs),
                           scoring_seconds=bench.seconds_for(trainer.scoring_macs))
