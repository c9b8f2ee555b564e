"""Chapter 06's checkers accept their references, call the untouched stub not attempted, and reject plausible
wrong answers; the references agree with the library (compare.Run.returned_at, compare.holm,
stats.difference_test's paired interval)."""

import bisect
import math
import random

import numpy as np
import pytest

from nascourse.compare import Run, holm
from nascourse.stats import difference_test
from nascourse.exercises import ch06
from nascourse.exercises.core import FAILED




# --- plausible wrong answers -------------------------------------------------------------------------

def strictly_before_the_budget(seconds, architectures, budget):  # a cell finished exactly at the budget is left out
    index = bisect.bisect_left(seconds, budget) - 1
    return architectures[index] if index >= 0 else None


def first_returned_cell(seconds, architectures, budget):  # the first cell instead of the latest
    return architectures[0] if seconds and seconds[0] <= budget else None


def first_of_equal_costs(seconds, architectures, budget):  # of two points at one cost, the earlier
    index = bisect.bisect_right(seconds, budget) - 1
    while index > 0 and seconds[index - 1] == seconds[index]:
        index -= 1
    return architectures[index] if index >= 0 else None


def bonferroni(p_values):
    return [min(1.0, len(p_values) * p) for p in p_values]


def no_running_maximum(p_values):
    m, order = len(p_values), sorted(range(len(p_values)), key=lambda k: p_values[k])
    adjusted = [0.0] * m
    for i, k in enumerate(order):
        adjusted[k] = min(1.0, (m - i) * p_values[k])
    return adjusted


def no_cap(p_values):
    m, order = len(p_values), sorted(range(len(p_values)), key=lambda k: p_values[k])
    adjusted, running = [0.0] * m, 0.0
    for i, k in enumerate(order):
        running = max(running, (m - i) * p_values[k])
        adjusted[k] = running
    return adjusted


def sorted_order_returned(p_values):  # right values, but in ascending order instead of the input's
    return sorted(ch06.holm_adjust.reference(p_values))


def mutates_the_latest(space, tells, rng):
    return space.sample(rng) if len(tells) < 5 else space.mutate(tells[-1][0], rng)


def mutates_from_the_start(space, tells, rng):
    if not tells:
        return space.sample(rng)
    finite = [t for t in tells if not math.isnan(t[1])]
    return space.mutate(max(finite, key=lambda t: t[1])[0], rng)


def nan_counts_as_best(space, tells, rng):
    if len(tells) < 5:
        return space.sample(rng)
    return space.mutate(max(tells, key=lambda t: math.inf if math.isnan(t[1]) else t[1])[0], rng)


def plain_max_with_nan(space, tells, rng):  # max() keeps a NaN it meets first: comparisons with NaN are False
    return space.sample(rng) if len(tells) < 5 else space.mutate(max(tells, key=lambda t: t[1])[0], rng)


def last_of_ties(space, tells, rng):
    if len(tells) < 5:
        return space.sample(rng)
    best = None
    for architecture, accuracy in tells:
        if not math.isnan(accuracy) and (best is None or accuracy >= best[1]):
            best = (architecture, accuracy)
    return space.mutate(best[0], rng)


def extra_random_draw(space, tells, rng):  # right idea, but one more draw shifts the generator
    rng.random()
    return ch06.hill_climb_proposal.reference(space, tells, rng)


def unpaired_resampling(ours, baseline, resamples, rng):  # each method resampled on its own: the pairing is lost
    ours, baseline = np.asarray(ours), np.asarray(baseline)
    n = len(ours)
    means = (ours[rng.integers(0, n, size=(resamples, n))].mean(axis=1)
             - baseline[rng.integers(0, n, size=(resamples, n))].mean(axis=1))
    return tuple(float(q) for q in np.quantile(means, [0.025, 0.975]))


def ninety_percent(ours, baseline, resamples, rng):
    d = np.asarray(ours) - np.asarray(baseline)
    means = d[rng.integers(0, len(d), size=(resamples, len(d)))].mean(axis=1)
    return tuple(float(q) for q in np.quantile(means, [0.05, 0.95]))


def without_replacement(ours, baseline, resamples, rng):  # a permutation has the same mean every time
    d = np.asarray(ours) - np.asarray(baseline)
    means = np.array([rng.permutation(d).mean() for _ in range(resamples)])
    return tuple(float(q) for q in np.quantile(means, [0.025, 0.975]))


def normal_approximation(ours, baseline, resamples, rng):  # mean +- 1.96 standard errors: not a bootstrap
    d = np.asarray(ours) - np.asarray(baseline)
    half = 1.96 * d.std(ddof=1) / math.sqrt(len(d))
    return float(d.mean() - half), float(d.mean() + half)


def median_difference(ours, baseline, resamples, rng):  # the median, not the mean, of the differences
    d = np.asarray(ours) - np.asarray(baseline)
    medians = np.median(d[rng.integers(0, len(d), size=(resamples, len(d)))], axis=1)
    return tuple(float(q) for q in np.quantile(medians, [0.025, 0.975]))


@pytest.mark.parametrize(
    "exercise, wrong",
    [
        (ch06.returned_cell, strictly_before_the_budget),
        (ch06.returned_cell, first_returned_cell),
        (ch06.returned_cell, first_of_equal_costs),
        (ch06.holm_adjust, bonferroni),
        (ch06.holm_adjust, no_running_maximum),
        (ch06.holm_adjust, no_cap),
        (ch06.holm_adjust, sorted_order_returned),
        (ch06.hill_climb_proposal, mutates_the_latest),
        (ch06.hill_climb_proposal, mutates_from_the_start),
        (ch06.hill_climb_proposal, nan_counts_as_best),
        (ch06.hill_climb_proposal, plain_max_with_nan),
        (ch06.hill_climb_proposal, last_of_ties),
        (ch06.hill_climb_proposal, extra_random_draw),
        (ch06.paired_bootstrap, unpaired_resampling),
        (ch06.paired_bootstrap, ninety_percent),
        (ch06.paired_bootstrap, without_replacement),
        (ch06.paired_bootstrap, normal_approximation),
        (ch06.paired_bootstrap, median_difference),
    ],
    ids=lambda x: getattr(x, "name", getattr(x, "__name__", "")),
)
def test_plausible_wrong_answers_are_rejected_with_a_hint(exercise, wrong):
    result = exercise.evaluate(wrong)
    assert result.status == FAILED and "hint:" in result.message


# --- the references agree with the library --------------------------------------------------------------

def test_returned_cell_reference_agrees_with_run_returned_at():
    rng = np.random.default_rng(0)
    seconds = np.sort(np.round(rng.uniform(0, 20, 12), 1)).tolist()  # rounded: some costs repeat
    cells = [f"cell {i}" for i in range(len(seconds))]
    run = Run("a search", 0, seconds, cells, spent=seconds[-1])
    for budget in [-1.0, 0.0, *seconds, *rng.uniform(0, 25, 30).tolist()]:
        assert ch06.returned_cell.reference(seconds, cells, budget) == run.returned_at(budget)


def test_holm_reference_agrees_with_the_library_on_finite_inputs():
    rng = np.random.default_rng(1)
    for size in (1, 2, 5, 9):
        p_values = rng.uniform(0, 0.4, size).round(3).tolist()  # rounded: ties happen
        np.testing.assert_allclose(ch06.holm_adjust.reference(p_values), holm(p_values), rtol=0, atol=1e-12)


def test_hill_climb_reference_draws_like_a_strategy_would():
    """The reference, asked in a loop with one generator, is a working hill climber: random cells first, then
    each proposal one edge away from the best cell seen so far."""
    space = ch06._benchmark_space()
    rng, tells = random.Random(0), []
    for step in range(12):
        proposal = ch06.hill_climb_proposal.reference(space, tells, rng)
        if step >= 5:
            best = max(tells, key=lambda t: t[1])[0]
            assert sum(a != b for a, b in zip(proposal.operations, best.operations)) == 1
        tells.append((proposal, 0.9 + 0.001 * ((7 * step) % 11)))


def test_paired_bootstrap_reference_is_the_librarys_paired_interval():
    """difference_test's paired interval (generator seed 0, 2,000 resamples) is the exercise's reference."""
    rng = np.random.default_rng(3)
    for n in (5, 8, 20):
        baseline = rng.uniform(0.85, 0.95, n)
        ours = baseline + rng.normal(0.002, 0.01, n)
        effect = difference_test(ours, list(range(n)), baseline, list(range(n)))
        assert effect["paired"]
        low, high = ch06.paired_bootstrap.reference(ours, baseline, 2000, np.random.default_rng(0))
        assert (low, high) == pytest.approx((effect["low"], effect["high"]), abs=1e-12)
