"""Ranking methods at one budget, with an effect size and a test each, as a table or as anytime curves.

Per method: the median and quartiles over seeds of the returned cell's test accuracy, a bootstrap confidence
interval of the median; against the baseline (random search), the difference in mean accuracy with its bootstrap
interval, the Vargha-Delaney A and a two-sided test (paired Wilcoxon when the runs share their seeds, else
Mann-Whitney U), Holm-corrected over the methods compared. The statistics themselves are ``nascourse.stats``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np

from ..bench.table import Benchmark
from ..stats import bootstrap_interval, difference_test, holm, vargha_delaney_a
from ..registry import family
from .runs import Run, returned_on_grid

__all__ = ["ComparisonRow", "compare_at", "format_table", "plot_returned"]


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

    ``families`` labels the methods (default: each method's family in ``nascourse.registry``). A run that has not finished its first candidate by ``budget`` has nothing to return: it is left out of the
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
        effect = difference_test(value, [run.seed for run in runs[name]], values[baseline],
                                 [run.seed for run in runs[baseline]])
        p = math.nan if name == baseline else effect["p"]
        q1, median, q3 = np.percentile(finite, [25, 50, 75])
        low, high = bootstrap_interval(finite)
        spent = np.median([min(run.spent, budget) for run in runs[name]])
        rows.append(ComparisonRow(name, family(name) if families is None else families.get(name, ""), len(finite), len(value), float(median),
                                  float(q1), float(q3),
                                  low, high, vargha_delaney_a(finite, base), p, math.nan, float(spent),
                                  effect["difference"], effect["low"], effect["high"], effect["paired"]))
        p_values.append(p)
    for row, adjusted in zip(rows, holm(p_values)):
        row.p_holm = float(adjusted)
    return sorted(rows, key=lambda r: (-r.median, -r.win_probability))


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
