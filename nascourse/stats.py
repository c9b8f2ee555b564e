"""The statistics the course measures with, in one place (numpy and scipy only: every layer may use them).

Rank statistics, for how well a cheap estimate orders architectures like the truth (survey Sec. 3.4):

* ``ranks``: ranks 1..n, tied values sharing their average rank;
* ``spearman``: Spearman's rho, the Pearson correlation of the ranks;
* ``kendall_tau``: Kendall's tau-b, the balance of agreeing over disagreeing pairs, corrected for ties;
* ``top_k_hit_rate``: the share of the truly best k that the estimate also puts in its top k.

Comparing the results of two methods over seeds (survey Sec. 5; chapter 06):

* ``vargha_delaney_a`` (also ``win_probability``): the Vargha-Delaney A effect size, P(X > Y) + 0.5 P(X = Y),
  the chance that a run of one method beats a run of the other; 0.5 is no difference;
* ``bootstrap_interval``: a percentile bootstrap confidence interval of any statistic (the median by default);
* ``holm``: Holm's step-down correction of p-values when several methods are tested against one baseline;
* ``difference_test``: a method's mean difference to a baseline with its bootstrap interval and a two-sided test,
  paired (Wilcoxon signed-rank on per-seed differences) when the runs share their seeds, else Mann-Whitney U.
"""

from __future__ import annotations

from typing import Callable, Sequence

import numpy as np

__all__ = ["ranks", "spearman", "kendall_tau", "top_k_hit_rate", "vargha_delaney_a", "win_probability",
           "bootstrap_interval", "holm", "difference_test"]


# ---------------------------------------------------------------------------------------- rank statistics
def ranks(values) -> np.ndarray:
    """Ranks 1..n of ``values`` (shape (n,)), ties sharing their average rank: ranks([5, 7, 5]) = [1.5, 3, 1.5]."""
    values = np.asarray(values, dtype=float)
    order = np.argsort(values, kind="stable")
    result = np.empty(len(values))
    sorted_values = values[order]
    start = 0
    while start < len(values):
        end = start
        while end + 1 < len(values) and sorted_values[end + 1] == sorted_values[start]:
            end += 1
        result[order[start:end + 1]] = (start + end) / 2 + 1
        start = end + 1
    return result


def spearman(a, b) -> float:
    """Spearman's rank correlation of two scorings of the same items, shapes (n,) and (n,): the Pearson
    correlation of their ranks. 1 = same order, -1 = reversed."""
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if a.ndim != 1 or b.ndim != 1 or len(a) != len(b):
        raise ValueError(f"spearman needs two 1-D sequences of the same length; got shapes {a.shape} and {b.shape}.")
    return float(np.corrcoef(ranks(a), ranks(b))[0, 1])


def _paired(a, b, name: str) -> tuple[np.ndarray, np.ndarray]:
    """Two 1-D float arrays of the same length, at least 2, without NaN (a NaN has no rank)."""
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if a.ndim != 1 or b.ndim != 1 or len(a) != len(b):
        raise ValueError(f"{name} needs two 1-D sequences of the same length; got shapes {a.shape} and {b.shape}.")
    if len(a) < 2:
        raise ValueError(f"{name} needs at least two values on each side; got {len(a)}.")
    if np.isnan(a).any() or np.isnan(b).any():
        raise ValueError(f"{name}: NaN has no rank; drop the failed candidates (e.g. with np.isfinite) first.")
    return a, b


def _pair_signs(values: np.ndarray) -> np.ndarray:
    """sign(v_i - v_j) for every pair i < j, as a flat array of -1, 0, +1.

    Written with comparisons rather than a subtraction so that -inf (a proxy's log of zero)
    still compares correctly with itself (inf - inf would be NaN)."""
    i, j = np.triu_indices(len(values), k=1)
    return (values[i] > values[j]).astype(np.int8) - (values[i] < values[j]).astype(np.int8)


def kendall_tau(a, b) -> float:
    """Kendall's tau-b between two scorings of the same items: shapes (n,) and (n,).

        tau_b = (n_c - n_d) / sqrt((n_0 - n_a) (n_0 - n_b))

    n_c / n_d: pairs ordered the same / the opposite way by ``a`` and ``b``; n_0 = n(n-1)/2;
    n_a / n_b: pairs tied in ``a`` / in ``b``. Without ties it is (n_c - n_d) / n_0, the share
    of agreeing pairs minus the share of disagreeing ones: 1 = same order, -1 = reversed.
    NaN when one side is constant (no order to compare), as in scipy. O(n^2) memory: fine for
    the few thousand architectures of the course's spaces.
    """
    a, b = _paired(a, b, "kendall_tau")
    signs_a, signs_b = _pair_signs(a), _pair_signs(b)
    concordant_minus_discordant = float(np.sum(signs_a.astype(np.int64) * signs_b))
    untied_a, untied_b = float(np.count_nonzero(signs_a)), float(np.count_nonzero(signs_b))
    if untied_a == 0 or untied_b == 0:
        return float("nan")
    return concordant_minus_discordant / np.sqrt(untied_a * untied_b)


def _top_k(values: np.ndarray, k: int) -> set[int]:
    # stable sort of the negated values: among equal scores the earlier item wins, a fixed rule
    return set(np.argsort(-values, kind="stable")[:k].tolist())


def top_k_hit_rate(estimate, truth, k: int) -> float:
    """Share of the true top-``k`` (by ``truth``) that the ``estimate`` also ranks in its top ``k``.

    ``estimate`` and ``truth``: shapes (n,) and (n,), higher is better. 1.0: the estimate finds
    all k best; a random estimate finds k/n of them on average. Ties at the k-th place are
    broken by position (the earlier item counts as higher) on both sides.
    """
    estimate, truth = _paired(estimate, truth, "top_k_hit_rate")
    if not isinstance(k, (int, np.integer)) or not 1 <= k <= len(truth):
        raise ValueError(f"k must be an integer in 1..{len(truth)} (the number of items); got {k!r}.")
    return len(_top_k(estimate, int(k)) & _top_k(truth, int(k))) / int(k)


# ------------------------------------------------------------------------------------ comparing two methods
def vargha_delaney_a(values, baseline) -> float:
    """The Vargha-Delaney A statistic: P(X > Y) + 0.5 P(X = Y) for X a value of ``values`` and Y one of
    ``baseline``, over all pairs. Read as the probability that a run of one method scores higher than a run of
    the baseline, ties counted half; it is the Mann-Whitney U statistic divided by the number of pairs.
    0.5 means no difference, 1 that every run beats every run of the baseline."""
    values, baseline = np.asarray(values, dtype=float), np.asarray(baseline, dtype=float)
    if not len(values) or not len(baseline):
        raise ValueError("win_probability (the Vargha-Delaney A) needs at least one value on each side.")
    greater = (values[:, None] > baseline[None, :]).mean()
    ties = (values[:, None] == baseline[None, :]).mean()
    return float(greater + 0.5 * ties)


win_probability = vargha_delaney_a  # the name the chapters use: what the statistic estimates


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


def difference_test(values: Sequence[float], seeds: Sequence[int], baseline: Sequence[float],
                    baseline_seeds: Sequence[int], resamples: int = 2000) -> dict:
    """The effect of a method against the baseline: mean difference, its 95% bootstrap interval, and a two-sided
    test. Paired (per-seed differences, Wilcoxon's signed-rank test) when every run with a value (NaN: none) has
    a baseline run with a value at the same seed and there are at least five such pairs; otherwise unpaired
    (difference of the means, each side resampled on its own, Mann-Whitney U).

    Returns ``{"difference", "low", "high", "p", "paired"}``."""
    # imported here: scipy.stats adds most of a second to every `import nascourse`, and only this test needs it
    from scipy.stats import mannwhitneyu, wilcoxon

    if len(values) != len(seeds) or len(baseline) != len(baseline_seeds):
        raise ValueError(f"difference_test needs one seed per value; got {len(values)} values with {len(seeds)} "
                         f"seeds and {len(baseline)} baseline values with {len(baseline_seeds)} seeds.")
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
        if not len(a) or not len(b):
            raise ValueError("difference_test needs at least one finite value on each side.")
        samples = (a[rng.integers(0, len(a), size=(resamples, len(a)))].mean(axis=1)
                   - b[rng.integers(0, len(b), size=(resamples, len(b)))].mean(axis=1))
        same = np.all(a == a[0]) and np.all(b == a[0])  # identical cells on both sides: no evidence
        p = 1.0 if same else float(mannwhitneyu(a, b, alternative="two-sided").pvalue)
        difference, paired = float(a.mean() - b.mean()), False
    low, high = np.quantile(samples, [0.025, 0.975])
    return {"difference": difference, "low": float(low), "high": float(high), "p": p, "paired": paired}
