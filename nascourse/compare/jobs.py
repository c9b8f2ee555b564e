"""Comparing NAS methods fairly on the course benchmark (survey Sec. 4 and 5; chapter 06).

The survey's Sec. 5 asks for "baselines and shared protocols": methods compared in the same space, with the
same training pipeline, under the same budget, over many seeds. This module is that protocol for the course:

* **one unit of cost**, the benchmark's training seconds: what the build machine recorded for a candidate's
  training (CPU time of one thread). A search that trains here (a supernet) is charged the multiply-accumulates
  it counts (``nascourse.compute``) at the build machine's speed (``Benchmark.seconds_for``), never the seconds
  it took here: those depend on the machine, the count does not, so the comparison comes out the same on a
  laptop three times slower or a server three times faster;
* **what a search returns**, not what it saw: at each budget, the cell the search would hand over (its best by
  validation accuracy, or the cell a supernet derives), scored by the benchmark's mean *test* accuracy over its
  training seeds: the value of the cell, not of one lucky run of it;
* **many seeds, an effect size and a test**: per method, the median and quartiles over seeds, a bootstrap
  confidence interval of the median; against random search, the difference in mean accuracy with a bootstrap
  confidence interval, the Vargha-Delaney A (the probability that a run beats a run of random search), and a
  two-sided test with Holm's correction for comparing many methods. Runs of two methods that share a seed are
  paired (the same seed draws the same first cells and the same table lookups), so the test is then Wilcoxon's
  signed-rank test on the per-seed differences, else Mann-Whitney U. A test that is not significant does not
  show that two methods are equal: the interval of the difference says how large a difference the runs still
  allow.

Every search becomes a ``Run``: the (cost, returned cell) pairs at which the returned cell changes. A ``History``
of an ask/tell search, a DARTS-family search's epoch snapshots and a weight-sharing search's checkpoints all
convert to one, so every method is read off the same grid.

``run_jobs`` runs the searches (the ``*_job`` functions) in worker processes, one thread each, so a 2-core
machine does two at a time; each worker loads the benchmark and the data once.
"""

from __future__ import annotations

import math
import os
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from functools import lru_cache
from multiprocessing import get_context
from typing import Any, Callable, Mapping, Sequence

import numpy as np

from .bench.table import Benchmark, BenchmarkEvaluator, win_probability
from .loop import History, run_search

__all__ = ["Run", "returned_on_grid", "bootstrap_interval", "holm", "ComparisonRow", "compare_at", "format_table",
           "plot_returned", "TABLE_METHODS", "TABLES", "load_table", "table_job", "strategy_run", "relaxation_job",
           "one_shot_job", "run_jobs"]


# ------------------------------------------------------------------------------------------------- runs
@dataclass
class Run:
    """One search, as the comparison sees it: the cell it would return after each amount of training seconds.

    ``seconds[i]`` is the cost at which ``architectures[i]`` became the returned cell (increasing); ``spent`` is
    what the whole search cost. Before ``seconds[0]`` the search has nothing to return."""

    method: str
    seed: int
    seconds: list[float]
    architectures: list[str]
    spent: float
    trials: int = 0  # candidates evaluated (ask/tell searches); epochs or checkpoints for supernet searches
    extra: dict = field(default_factory=dict)  # method-specific facts (e.g. the per-epoch cells of a DARTS run)

    def __post_init__(self) -> None:
        if len(self.seconds) != len(self.architectures):
            raise ValueError("A Run needs one returned architecture per cost point.")
        if any(b < a for a, b in zip(self.seconds, self.seconds[1:])):
            raise ValueError("A Run's cost points must not decrease.")

    @classmethod
    def from_history(cls, method: str, seed: int, history: History, cost: str = "seconds") -> "Run":
        """The best-by-validation cell after each trial that improved it (failed and partial trials never do).

        ``cost``: ``"seconds"`` (the trials' recorded training seconds) or ``"trials"`` (candidates evaluated: the
        unit on NAS-Bench-201, where every query is one full 200-epoch training)."""
        if cost not in ("seconds", "trials"):
            raise ValueError(f"cost must be 'seconds' or 'trials', got {cost!r}.")
        seconds, architectures, best = [], [], -math.inf
        for number, trial in enumerate(history, start=1):
            if trial.ok and trial.accuracy > best:
                best = trial.accuracy
                seconds.append(trial.cumulative_seconds if cost == "seconds" else float(number))
                architectures.append(trial.architecture)
        spent = (history[-1].cumulative_seconds if cost == "seconds" else float(len(history))) if len(history) else 0.0
        return cls(method, seed, seconds, architectures, spent, trials=len(history))

    @classmethod
    def from_points(cls, method: str, seed: int, points: Sequence[tuple[float, str]], **extra) -> "Run":
        """From (cost so far, cell returned at that cost) pairs, e.g. a supernet's cell after every epoch."""
        points = list(points)
        return cls(method, seed, [float(s) for s, _ in points], [a for _, a in points],
                   float(points[-1][0]) if points else 0.0, trials=len(points), extra=dict(extra))

    def returned_at(self, budget: float) -> str | None:
        """The cell this search returns when stopped after ``budget`` training seconds (None: nothing yet)."""
        index = int(np.searchsorted(self.seconds, budget, side="right")) - 1
        return self.architectures[index] if index >= 0 else None


def returned_on_grid(runs: Sequence[Run], bench: Benchmark, grid: Sequence[float], split: str = "test") -> np.ndarray:
    """(runs, budgets): the benchmark's mean accuracy (over its seeds) of the cell each run returns at each
    budget; NaN where a run has nothing to return yet."""
    values = np.full((len(runs), len(grid)), np.nan)
    for i, run in enumerate(runs):
        for j, budget in enumerate(grid):
            architecture = run.returned_at(budget)
            if architecture is not None:
                values[i, j] = bench.mean_accuracy(architecture, split)
    return values


# ------------------------------------------------------------------------------------------- statistics
def bootstrap_interval(values: Sequence[float], statistic: Callable = np.median, level: float = 0.95,
                       resamples: int = 2000, seed: int = 0) -> tuple[float, float]:
    """Percentile bootstrap confidence interval of ``statistic`` over ``values`` (NaNs dropped)."""
    values = np.asarray(values, dtype=float)
    values = values[np.isfinite(values)]
    if len(values) < 2:
        raise ValueError(f"A bootstrap interval needs at least two values, got {len(values)}.")
    if not 0 < level < 1:
        raise ValueError(f"level must lie in (0, 1), got {level}.")
    rng = np.random.default_rng(seed)
    samples = values[rng.integers(0, len(values), size=(resamples, len(values)))]
    estimates = np.apply_along_axis(statistic, 1, samples)
    return tuple(float(q) for q in np.quantile(estimates, [(1 - level) / 2, (1 + level) / 2]))


def holm(p_values: Sequence[float]) -> np.ndarray:
    """Holm's step-down correction: adjusted p-values controlling the chance of any false discovery.

    Sorted ascending, the i-th smallest (from 0) of m is multiplied by (m - i); the running maximum keeps the
    adjusted values in the same order; capped at 1. NaN (no test) stays NaN and is not counted."""
    p = np.asarray(p_values, dtype=float)
    adjusted = np.full(len(p), np.nan)
    tested = np.flatnonzero(np.isfinite(p))
    order = tested[np.argsort(p[tested], kind="stable")]
    running = 0.0
    for i, index in enumerate(order):
        running = max(running, (len(order) - i) * p[index])
        adjusted[index] = min(1.0, running)
    return adjusted


@dataclass
class ComparisonRow:
    """One method at one budget: the test accuracy of the cells its runs return, and how it stands to random search."""

    method: str
    family: str
    runs: int  # runs that had returned a cell by the budget (the statistics are over these)
    total: int  # runs of the method; a run without a cell yet had not finished its first candidate
    median: float
    q1: float
    q3: float
    ci_low: float  # bootstrap interval of the median
    ci_high: float
    win_probability: float  # Vargha-Delaney A: P(a run of this method returns a better cell than a run of the baseline)
    p_value: float  # two-sided: Wilcoxon signed-rank if paired, else Mann-Whitney U (NaN for the baseline itself)
    p_holm: float  # Holm-adjusted over the methods compared
    median_spent: float  # training seconds a run spent by this budget (less when the method stopped earlier)
    difference: float = 0.0  # mean accuracy minus the baseline's (paired: mean of the per-seed differences)
    difference_low: float = 0.0  # 95% bootstrap interval of the difference
    difference_high: float = 0.0
    paired: bool = False  # tested on per-seed differences (the runs share their seeds with the baseline's)

    @property
    def verdict(self) -> str:
        if math.isnan(self.p_holm):
            return "baseline"
        if self.p_holm >= 0.05:
            return "not significant"
        return "better than random search" if self.difference > 0 else "worse than random search"


def compare_at(runs: Mapping[str, Sequence[Run]], bench: Benchmark, budget: float, baseline: str = "random search",
               families: Mapping[str, str] | None = None, split: str = "test") -> list[ComparisonRow]:
    """Every method's returned cells at ``budget`` training seconds, ranked by median, tested against ``baseline``.

    ``families`` labels the methods (default: ``FAMILIES``). A run that has not finished its first candidate by ``budget`` has nothing to return: it is left out of the
    statistics and counted in ``ComparisonRow.total`` (the table shows "runs with a cell / runs")."""
    if baseline not in runs:
        raise ValueError(f"The baseline {baseline!r} is not among the methods {sorted(runs)}.")
    values = {name: returned_on_grid(group, bench, [budget], split)[:, 0] for name, group in runs.items()}
    base = values[baseline][np.isfinite(values[baseline])]
    if len(base) < 2:
        raise ValueError(f"The baseline returns a cell in fewer than two runs by {budget:.1f} s; raise the budget.")
    rows, p_values = [], []
    for name, value in values.items():
        finite = value[np.isfinite(value)]
        if len(finite) < 2:
            raise ValueError(f"{name} returns a cell in fewer than two of its runs by {budget:.1f} s: raise the budget "
                             "or give it a cheaper configuration.")
        effect = _difference(value, [run.seed for run in runs[name]], values[baseline],
                             [run.seed for run in runs[baseline]])
        p = math.nan if name == baseline else effect["p"]
        q1, median, q3 = np.percentile(finite, [25, 50, 75])
        low, high = bootstrap_interval(finite)
        spent = np.median([min(run.spent, budget) for run in runs[name]])
        rows.append(ComparisonRow(name, (FAMILIES if families is None else families).get(name, ""), len(finite), len(value), float(median),
                                  float(q1), float(q3),
                                  low, high, win_probability(finite, base), p, math.nan, float(spent),
                                  effect["difference"], effect["low"], effect["high"], effect["paired"]))
        p_values.append(p)
    for row, adjusted in zip(rows, holm(p_values)):
        row.p_holm = float(adjusted)
    return sorted(rows, key=lambda r: (-r.median, -r.win_probability))


def _difference(values: np.ndarray, seeds: Sequence[int], baseline: np.ndarray, baseline_seeds: Sequence[int],
                resamples: int = 2000) -> dict:
    """The effect of a method against the baseline: mean difference, its 95% bootstrap interval, and a two-sided
    test. Paired (per-seed differences, Wilcoxon's signed-rank test) when every run with a cell has a baseline run
    with a cell at the same seed and there are at least five such pairs; otherwise unpaired (difference of the
    means, each side resampled on its own, Mann-Whitney U)."""
    from scipy.stats import mannwhitneyu, wilcoxon

    rng = np.random.default_rng(0)
    base_by_seed = {seed: v for seed, v in zip(baseline_seeds, baseline) if np.isfinite(v)}
    mine = [(seed, v) for seed, v in zip(seeds, values) if np.isfinite(v)]
    if len(mine) >= 5 and all(seed in base_by_seed for seed, _ in mine):
        differences = np.array([v - base_by_seed[seed] for seed, v in mine])
        samples = differences[rng.integers(0, len(differences), size=(resamples, len(differences)))].mean(axis=1)
        p = 1.0 if np.all(differences == 0) else float(wilcoxon(differences, zero_method="zsplit").pvalue)
        difference, paired = float(differences.mean()), True
    else:
        a, b = np.array([v for _, v in mine]), np.array(list(base_by_seed.values()))
        samples = (a[rng.integers(0, len(a), size=(resamples, len(a)))].mean(axis=1)
                   - b[rng.integers(0, len(b), size=(resamples, len(b)))].mean(axis=1))
        same = np.all(a == a[0]) and np.all(b == a[0])  # identical cells on both sides: no evidence
        p = 1.0 if same else float(mannwhitneyu(a, b, alternative="two-sided").pvalue)
        difference, paired = float(a.mean() - b.mean()), False
    low, high = np.quantile(samples, [0.025, 0.975])
    return {"difference": difference, "low": float(low), "high": float(high), "p": p, "paired": paired}


def format_table(rows: Sequence[ComparisonRow], title: str = "") -> str:
    """The ranked table as text: rank, method, family, median [quartiles], CI of the median, the difference to the
    baseline with its CI, Vargha-Delaney A, p-values (``w``: paired Wilcoxon, ``u``: Mann-Whitney) and the verdict."""
    lines = [title] if title else []
    width = max([30, *(len(row.method) for row in rows)])
    lines.append(f"{'#':>2} {'method':{width}} {'family':15} {'runs':>5} {'median':>7} {'quartiles':>13} "
                 f"{'95% CI of median':>17} {'diff. to RS [95% CI]':>26} {'A':>5} {'p':>7} {'p Holm':>6} "
                 f"{'spent s':>7}  verdict")
    for rank, row in enumerate(rows, start=1):
        p = "" if math.isnan(row.p_value) else f"{row.p_value:.3f}{'w' if row.paired else 'u'}"
        ph = "" if math.isnan(row.p_holm) else f"{row.p_holm:.3f}"
        difference = "" if math.isnan(row.p_value) else \
            f"{row.difference:+.4f} [{row.difference_low:+.4f}, {row.difference_high:+.4f}]"
        lines.append(f"{rank:>2} {row.method:{width}} {row.family:15} {f'{row.runs}/{row.total}':>5} {row.median:>7.4f} "
                     f"{f'{row.q1:.3f}-{row.q3:.3f}':>13} {f'{row.ci_low:.4f}-{row.ci_high:.4f}':>17} "
                     f"{difference:>26} {row.win_probability:>5.2f} {p:>7} {ph:>6} {row.median_spent:>7.1f}  {row.verdict}")
    return "\n".join(lines)


def plot_returned(runs: Mapping[str, Sequence[Run]], bench: Benchmark, grid: Sequence[float], ax=None,
                  split: str = "test", title: str | None = None, level: float = 0.95):
    """Anytime curves of the returned cell's accuracy: the median over seeds with a bootstrap confidence band
    of the median at each budget. A run that has stopped keeps returning its last cell (the curve goes flat)."""
    import matplotlib.pyplot as plt

    ax = ax or plt.subplots(figsize=(8, 4.5))[1]
    grid = np.asarray(grid, dtype=float)
    for name, group in runs.items():
        values = returned_on_grid(group, bench, grid, split)
        enough = np.sum(np.isfinite(values), axis=0) >= max(2, len(group) // 2)  # most runs have returned a cell
        if not enough.any():
            continue
        median = np.full(len(grid), np.nan)
        low, high = median.copy(), median.copy()
        for j in np.flatnonzero(enough):
            median[j] = np.nanmedian(values[:, j])
            low[j], high[j] = bootstrap_interval(values[:, j], level=level, resamples=400, seed=j)
        stopped = np.median([run.spent for run in group])
        line = ax.plot(grid, median, label=f"{name}", linewidth=1.6)[0]
        ax.fill_between(grid, low, high, color=line.get_color(), alpha=0.15, linewidth=0)
        if stopped < grid[-1]:  # a search that spends less than the budget: mark where it stops
            ax.plot([stopped], [np.interp(stopped, grid, median)], "o", color=line.get_color(), markersize=5)
    ax.set_xlabel("training seconds spent (the benchmark's unit; supernets: counted compute at its speed)")
    ax.set_ylabel(f"{split} accuracy of the returned cell")
    ax.set_title(title or f"what each search returns: median over seeds, {int(level * 100)}% CI band")
    ax.grid(alpha=0.3)
    return ax


# ------------------------------------------------------------------------------------------- the methods
# The ask/tell strategies on the table, by name: (family as in survey Table 1, how to build the strategy).
# Hyperband is not an ask/tell strategy (it schedules partial trainings): ``table_job`` runs it itself.
def _strategies() -> dict[str, tuple[str, Callable[..., Any]]]:
    from .strategies import (GeNet, LargeScaleEvolution, MetaQNN, NASRL, PredictorGuidedSearch, RandomSearch,
                             RegularizedEvolution)

    return {
        "random search": ("RS", lambda space, trials, seed: RandomSearch(space, seed=seed)),
        "REINFORCE (NAS-RL)": ("RL", lambda space, trials, seed: NASRL(space, seed=seed)),
        "Q-learning (MetaQNN)": ("RL", lambda space, trials, seed: MetaQNN(space, trials=trials, seed=seed)),
        "large-scale evolution": ("EA", lambda space, trials, seed: LargeScaleEvolution(
            space, population_size=10, weight_inheritance=False, seed=seed)),
        "regularized evolution": ("EA", lambda space, trials, seed: RegularizedEvolution(
            space, population_size=20, sample_size=5, seed=seed)),
        "GeNet genetic algorithm": ("EA", lambda space, trials, seed: GeNet(space, population_size=10, seed=seed)),
        "predictor-guided (SMBO)": ("SMBO", lambda space, trials, seed: PredictorGuidedSearch(space, seed=seed)),
    }


TABLE_METHODS = (*_strategies(), "Hyperband")
FAMILIES = {**{name: family for name, (family, _) in _strategies().items()},
            "Hyperband": "RS + early stop", "DARTS": "GO", "GDAS": "GO", "PC-DARTS": "GO",
            "weight sharing (SPOS)": "RS + one-shot"}


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
        from .bench.nb201 import NB201Table

        return NB201Table.load(path, dataset=table.removeprefix("nb201-"))
    raise ValueError(f"Unknown table {table!r}; choose one of {TABLES}.")


def _benchmark(path: str | None) -> Benchmark:
    return load_table("digits", path)


def _trial_budget(table: str) -> bool:
    return table != "digits"


@lru_cache(maxsize=2)
def _digits(path: str | None):
    from .data import load_dataset

    protocol = _benchmark(path).protocol
    return load_dataset(protocol.dataset, split_seed=protocol.split_seed)


def table_job(method: str, seed: int, budget: float, bench_path: str | None = None, table: str = "digits",
              average: int = 1, unit: str | None = None) -> Run:
    """One search by table lookup until it has spent ``budget``.

    ``unit``: ``"seconds"`` (the table's recorded training seconds; the last trial may overshoot) or ``"trials"``
    (candidates evaluated). The digits default to seconds; NAS-Bench-201 (``table="nb201-cifar10"``, ...) has no
    recorded times and counts trials. ``average``: on the digits, the number of the table's training runs averaged
    into each lookup (the search signal's noise; ``BenchmarkEvaluator``)."""
    from .estimation.halving import Hyperband, TableTraining

    unit = unit or ("trials" if _trial_budget(table) else "seconds")
    if unit not in ("seconds", "trials"):
        raise ValueError(f"unit must be 'seconds' or 'trials', got {unit!r}.")
    if _trial_budget(table) and unit != "trials":
        raise ValueError(f"{table} records no training times: give its budget in trials (unit='trials').")
    bench = load_table(table, bench_path)
    space = bench.space
    strategies = _strategies()
    if _trial_budget(table) and method in ("Hyperband", "GeNet genetic algorithm"):
        raise ValueError(f"{method!r} does not run on {table}: Hyperband needs learning curves (NAS-Bench-201's "
                         "compact form keeps final accuracies only) and GeNet's code has two bits per edge, room "
                         "for four operations, not five. Choose one of "
                         f"{[m for m in strategies if m != 'GeNet genetic algorithm']}.")
    if method == "Hyperband":
        if average != 1 or unit != "seconds":
            raise ValueError("Hyperband trains candidates partially from one run's learning curve: it takes "
                             "average=1 and a budget in seconds.")
        history = Hyperband(space, max_epochs=bench.protocol.epochs, eta=3, seed=seed).run(
            TableTraining(bench, rng_seed=seed), max_seconds=budget)
        return Run.from_history(method, seed, history)
    if method not in strategies:
        raise ValueError(f"Unknown table method {method!r}; choose one of {TABLE_METHODS}.")
    if unit == "trials":
        evaluator = bench.evaluator() if _trial_budget(table) else BenchmarkEvaluator(bench, rng_seed=seed,
                                                                                      average=average)
        history = run_search(space, strategies[method][1](space, int(budget), seed), evaluator, int(budget),
                             progress=False)
        return Run.from_history(method, seed, history, cost="trials")
    # MetaQNN plans its exploration schedule for the number of candidates the budget pays for, on average
    expected = max(10, math.ceil(budget / (average * float(np.nanmean(bench.train_seconds[:, :, -1])))))
    return strategy_run(method, strategies[method][1](space, expected, seed), bench, seed, budget, average)


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
    import torch

    from .relaxation import Cell201Supernet
    from .relaxation.search import SearchConfig, relaxation_search

    bench, data = _benchmark(bench_path), _digits(bench_path)
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
    """Weight sharing (SPOS): train a one-shot supernet with uniform single paths; at each checkpoint score a
    random sample of ``cells`` benchmark cells with the shared weights (BatchNorm recalibrated per path) and
    return the best. Cost: the supernet's training compute in the benchmark's seconds (scoring is not counted, as
    the table's validation passes are not); the scoring's compute, in the same unit, is kept in ``extra``."""
    from .compute import MacCounter
    from .weight_sharing import OneShotTrainer, ranking_quality

    checkpoints = sorted(float(c) for c in checkpoints)
    if not checkpoints or checkpoints[-1] <= 0:
        raise ValueError(f"one_shot_job needs checkpoints in epochs, the last one positive; got {checkpoints}.")
    bench, data = _benchmark(bench_path), _digits(bench_path)
    trainer = OneShotTrainer(data, epochs=max(1, math.ceil(checkpoints[-1])), seed=seed)
    with MacCounter() as everything:
        quality = ranking_quality(trainer, bench, cells, checkpoints, sample_seed=seed)
    points = [(bench.seconds_for(macs), quality.architectures[int(np.argmax(scores))])
              for macs, scores in zip(quality.macs, quality.scores)]
    return Run.from_points("weight sharing (SPOS)", seed, points, local_seconds=trainer.seconds,
                           scoring_seconds=bench.seconds_for(everything.macs - trainer.macs))


def _call(job: tuple[Callable[..., Run], dict]) -> Run:
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # one core per search, so two searches share a 2-core machine without contention
    try:
        function, arguments = job
        return function(**arguments)
    finally:
        torch.set_num_threads(threads)


def run_jobs(jobs: Sequence[tuple[Callable[..., Run], dict]], workers: int | None = None,
             progress: bool = True, description: str = "searches") -> list[Run]:
    """Run ``(function, keyword arguments)`` jobs, in order, in ``workers`` processes (default: one per core,
    at most 2 on the course's laptop profile; 1 runs them here). Results come back in the jobs' order."""
    workers = workers if workers is not None else max(1, min(2, os.cpu_count() or 1))
    if workers < 1:
        raise ValueError(f"workers must be at least 1, got {workers}.")
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=len(jobs), desc=description, unit="run")
    results: list[Run] = []
    if workers == 1:
        for job in jobs:
            results.append(_call(job))
            if bar is not None:
                bar.update()
    else:  # "spawn": a fresh interpreter per worker, safe with torch's thread pools (fork is not)
        with ProcessPoolExecutor(workers, mp_context=get_context("spawn")) as pool:
            for run in pool.map(_call, jobs):
                results.append(run)
                if bar is not None:
                    bar.update()
    if bar is not None:
        bar.close()
    return results
