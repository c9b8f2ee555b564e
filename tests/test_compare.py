"""The fair-comparison protocol of chapter 06 (nascourse.compare), and run_search's budget in seconds.

A search becomes a Run (the cell it would return after each amount of training seconds); runs are read off a
shared grid of budgets against the benchmark's mean test accuracy; methods are ranked at one budget and tested
against random search with Mann-Whitney U and Holm's correction."""

import math

import numpy as np
import pytest

from nascourse import compare
from nascourse.bench import Benchmark
from nascourse.compare import (Run, bootstrap_interval, compare_at, format_table, holm, one_shot_job, relaxation_job,
                               returned_on_grid, run_jobs, table_job)
from nascourse.loop import EvaluationResult, History, run_search
from nascourse.spaces import Cell201Space
from nascourse.strategies import RandomSearch

NAN = float("nan")


@pytest.fixture(scope="module")
def bench():
    return Benchmark.load()


@pytest.fixture(scope="module")
def ranked(bench):
    """The benchmark's cells from the worst to the best by mean test accuracy over seeds."""
    order = np.argsort(np.nanmean(bench.test_accuracy[:, :, -1], axis=1), kind="stable")
    return [bench.architectures[i] for i in order]


def history_of(*trials):
    """A History from (architecture, accuracy, cost seconds[, status]) tuples."""
    history = History()
    for architecture, accuracy, seconds, *status in trials:
        history.add(architecture, EvaluationResult(accuracy, seconds, 1.0, 0, *status))
    return history


def point_run(method, seed, architecture, at=1.0, spent=10.0):
    return Run(method, seed, [at], [architecture], spent)


# ------------------------------------------------------------------------------------------------- Run
def test_from_history_follows_the_best_by_validation_and_ignores_failed_trials():
    history = history_of(
        ("a", 0.50, 1.0),
        ("b", 0.70, 2.0),
        ("c", 0.60, 3.0),  # worse: the search still returns b
        ("d", 0.99, 4.0, "diverged"),  # a failed trial never becomes the returned cell, whatever its number
        ("e", NAN, 5.0),  # nor does a NaN
        ("f", 0.95, 1.0, "stopped at epoch 1 of 3"),  # nor a partial training (Hyperband's lower rungs)
        ("g", 0.70, 2.0),  # a tie keeps the earlier cell
        ("h", 0.80, 6.0),
    )
    run = Run.from_history("random search", 3, history)
    assert (run.method, run.seed) == ("random search", 3)
    assert run.architectures == ["a", "b", "h"]
    assert run.seconds == [1.0, 3.0, 24.0]  # the cumulative cost when each became the returned cell
    assert run.spent == 24.0 and run.trials == 8  # failed trials still cost what they cost


def test_from_history_of_an_empty_or_all_failed_search_returns_nothing():
    assert Run.from_history("x", 0, History()).returned_at(1e9) is None
    run = Run.from_history("x", 0, history_of(("a", NAN, 2.0, "diverged"), ("b", NAN, 3.0)))
    assert run.seconds == [] and run.spent == 5.0 and run.returned_at(1e9) is None


def test_returned_at_boundaries():
    run = Run("m", 0, [1.0, 3.0, 3.0, 21.0], ["a", "b", "c", "d"], 21.0)
    assert run.returned_at(0.0) is None  # before the first cost point: nothing to return
    assert run.returned_at(0.999) is None
    assert run.returned_at(1.0) == "a"  # a cell finished exactly at the budget counts
    assert run.returned_at(2.99) == "a"
    assert run.returned_at(3.0) == "c"  # two points at one cost: the later
    assert run.returned_at(20.0) == "c"
    assert run.returned_at(21.0) == "d"
    assert run.returned_at(1e6) == "d"  # a search that has stopped keeps returning its last cell


def test_run_rejects_inconsistent_points():
    with pytest.raises(ValueError, match="one returned architecture per cost point"):
        Run("m", 0, [1.0, 2.0], ["a"], 2.0)
    with pytest.raises(ValueError, match="must not decrease"):
        Run("m", 0, [2.0, 1.0], ["a", "b"], 2.0)


def test_from_points_keeps_every_point_and_the_extras():
    run = Run.from_points("DARTS", 4, [(0.5, "a"), (1.0, "a"), (1.75, "b")], init_seed=9)
    assert run.seconds == [0.5, 1.0, 1.75] and run.architectures == ["a", "a", "b"]
    assert run.spent == 1.75 and run.trials == 3 and run.extra == {"init_seed": 9}
    assert run.returned_at(1.2) == "a" and run.returned_at(2.0) == "b"


# ------------------------------------------------------------------------------------------- the grid
def test_returned_on_grid_scores_the_returned_cell_by_the_mean_over_seeds(bench, ranked):
    worse, better = ranked[100], ranked[-1]
    runs = [Run("m", 0, [1.0, 4.0], [worse, better], 6.0), Run("m", 1, [2.5], [worse], 3.0)]
    grid = [0.5, 1.0, 3.0, 4.0, 10.0]
    values = returned_on_grid(runs, bench, grid)
    mean = {a: float(np.mean(bench.test_accuracy[bench.row(a), :, -1])) for a in (worse, better)}  # no NaN there
    expected = np.array([[NAN, mean[worse], mean[worse], mean[better], mean[better]],
                         [NAN, NAN, mean[worse], mean[worse], mean[worse]]])
    np.testing.assert_allclose(values, expected, rtol=0, atol=1e-12)
    validation = returned_on_grid(runs, bench, grid, split="val")
    assert validation[0, -1] == pytest.approx(float(np.mean(bench.val_accuracy[bench.row(better), :, -1])))


def test_holm_on_hand_computed_examples():
    # sorted: 0.01 x 3 = 0.03, 0.03 x 2 = 0.06, 0.04 x 1 = 0.04 -> raised to 0.06 by the running maximum
    np.testing.assert_allclose(holm([0.01, 0.04, 0.03]), [0.03, 0.06, 0.06])
    np.testing.assert_allclose(holm([0.65, 0.01, 0.6]), [1.0, 0.03, 1.0])  # 1.2 capped at 1
    np.testing.assert_allclose(holm([0.2]), [0.2])  # one test: nothing to correct
    np.testing.assert_allclose(holm([0.02, 0.02, 0.5, 0.01]), [0.06, 0.06, 0.5, 0.04])  # ties


def test_holm_leaves_missing_tests_out():
    adjusted = holm([0.01, NAN, 0.04])  # the baseline has no test: m = 2, not 3
    assert math.isnan(adjusted[1])
    np.testing.assert_allclose(adjusted[[0, 2]], [0.02, 0.04])
    assert len(holm([])) == 0


def test_holm_never_lowers_a_p_value_and_keeps_their_order():
    p = np.random.default_rng(0).uniform(0, 0.3, 15)
    adjusted = holm(p)
    assert np.all(adjusted >= p) and np.all(adjusted <= 1)
    order = np.argsort(p)
    assert np.all(np.diff(adjusted[order]) >= 0)


def test_bootstrap_interval_contains_the_median_and_narrows_with_more_data():
    rng = np.random.default_rng(0)
    few, many = rng.normal(0.9, 0.02, 12), rng.normal(0.9, 0.02, 400)
    low, high = bootstrap_interval(few)
    assert low <= np.median(few) <= high
    many_low, many_high = bootstrap_interval(many)
    assert many_low <= np.median(many) <= many_high
    assert many_high - many_low < (high - low) / 2
    assert bootstrap_interval(few, seed=3) == bootstrap_interval(few, seed=3)  # seeded
    assert bootstrap_interval(few, level=0.5)[1] - bootstrap_interval(few, level=0.5)[0] < high - low


def test_bootstrap_interval_drops_nans_and_refuses_too_little_data():
    values = [0.9, NAN, 0.92, 0.91, NAN]
    assert bootstrap_interval(values) == bootstrap_interval([0.9, 0.92, 0.91])
    with pytest.raises(ValueError, match="at least two values"):
        bootstrap_interval([0.9, NAN])
    with pytest.raises(ValueError, match="level"):
        bootstrap_interval([0.9, 0.8, 0.7], level=95)


# ------------------------------------------------------------------------------------------- compare_at
@pytest.fixture(scope="module")
def crafted(ranked):
    """Random search returns middling cells; a copy of it returns the same; a clearly better method returns cells
    of the top 12; a late method has returned nothing by 5 s in most of its runs."""
    middle = ranked[300:312]
    top = ranked[-12:]
    return {
        "random search": [point_run("random search", s, a) for s, a in enumerate(middle)],
        "a copy of random search": [point_run("a copy of random search", s, a) for s, a in enumerate(middle)],
        "a clearly better method": [point_run("a clearly better method", s, a, spent=4.0) for s, a in enumerate(top)],
        "late": [point_run("late", s, a, at=1.0 if s == 0 else 8.0) for s, a in enumerate(top)],
    }


def test_compare_at_ranks_by_median_and_tests_against_random_search(bench, crafted):
    runs = {name: crafted[name] for name in ("a copy of random search", "random search", "a clearly better method")}
    rows = compare_at(runs, bench, budget=5.0, families={"a clearly better method": "EA"})
    by_name = {row.method: row for row in rows}
    assert [row.method for row in rows][0] == "a clearly better method"
    assert [row.median for row in rows] == sorted((row.median for row in rows), reverse=True)

    base = by_name["random search"]
    assert math.isnan(base.p_value) and math.isnan(base.p_holm) and base.verdict == "baseline"
    assert base.win_probability == 0.5

    same = by_name["a copy of random search"]
    assert same.win_probability == 0.5 and same.p_value == pytest.approx(1.0)
    assert same.verdict == "not significant" and same.paired and same.difference == 0.0
    assert same.median == base.median and (same.q1, same.q3) == (base.q1, base.q3)

    assert base.runs == base.total == 12

    better = by_name["a clearly better method"]
    assert better.win_probability == 1.0 and better.p_value < 1e-3
    assert better.p_holm == pytest.approx(min(1.0, 2 * better.p_value))  # two methods were tested
    assert better.verdict == "better than random search" and better.family == "EA"
    assert better.runs == 12 and better.ci_low <= better.median <= better.ci_high
    assert better.median_spent == 4.0 and base.median_spent == 5.0  # what a run spent by the budget

    table = format_table(rows, title="at 5 s")
    assert table.splitlines()[0] == "at 5 s"
    assert all(name in table for name in runs) and "better than random search" in table


def test_runs_that_share_seeds_are_compared_seed_by_seed(bench, ranked, crafted):
    """A method three cells up the ranking from random search's at every seed: too small a shift for an unpaired
    test over twelve runs, unmistakable seed by seed."""
    middle = ranked[300:312]
    one_better = [point_run("one better", s, ranked[303 + s]) for s in range(12)]
    row = {r.method: r for r in compare_at({"random search": crafted["random search"], "one better": one_better},
                                           bench, 5.0)}["one better"]
    differences = [bench.mean_accuracy(ranked[303 + s], "test") - bench.mean_accuracy(a, "test")
                   for s, a in enumerate(middle)]
    assert row.paired and row.difference == pytest.approx(np.mean(differences))
    assert 0 <= row.difference_low <= row.difference <= row.difference_high
    assert row.p_value < 0.01 and row.verdict == "better than random search"
    from scipy.stats import mannwhitneyu

    unpaired = mannwhitneyu([bench.mean_accuracy(ranked[303 + s], "test") for s in range(12)],
                            [bench.mean_accuracy(a, "test") for a in middle]).pvalue
    assert unpaired > 0.05, "without the pairing the same runs show nothing"


def test_runs_on_other_seeds_are_compared_as_two_groups(bench, ranked, crafted):
    others = [point_run("other seeds", 100 + s, a) for s, a in enumerate(ranked[-12:])]
    row = {r.method: r for r in compare_at({"random search": crafted["random search"], "other seeds": others},
                                           bench, 5.0)}["other seeds"]
    top = np.mean([bench.mean_accuracy(a, "test") for a in ranked[-12:]])
    middle = np.mean([bench.mean_accuracy(a, "test") for a in ranked[300:312]])
    assert not row.paired and row.difference == pytest.approx(top - middle)
    assert row.difference_low <= row.difference <= row.difference_high
    assert "u" in format_table([row]).splitlines()[1]


def test_a_clearly_worse_method_is_called_worse(bench, ranked, crafted):
    worst = [point_run("worse", s, a) for s, a in enumerate(ranked[:12])]
    row = {r.method: r for r in compare_at({"random search": crafted["random search"], "worse": worst}, bench, 5.0)}
    assert row["worse"].win_probability == 0.0 and row["worse"].verdict == "worse than random search"


def test_runs_without_a_cell_yet_are_left_out_of_the_statistics_but_counted(bench, ranked, crafted):
    slow = [point_run("slow start", s, a, at=8.0 if s < 3 else 1.0) for s, a in enumerate(ranked[-12:])]
    row = {r.method: r for r in compare_at({"random search": crafted["random search"], "slow start": slow}, bench, 5.0)}
    assert (row["slow start"].runs, row["slow start"].total) == (9, 12)
    expected = np.median([bench.mean_accuracy(a, "test") for a in ranked[-9:]])
    assert row["slow start"].median == pytest.approx(expected)
    assert "9/12" in format_table(list(row.values()))


def test_methods_that_all_return_the_same_cell_do_not_differ(bench, ranked):
    """At a large budget every run may return the benchmark's best cell: all ties, p = 1, no difference."""
    best = ranked[-1]
    runs = {name: [point_run(name, s, best) for s in range(8)] for name in ("random search", "converged")}
    row = {r.method: r for r in compare_at(runs, bench, 5.0)}["converged"]
    assert row.win_probability == 0.5 and row.p_value == pytest.approx(1.0)
    assert row.verdict == "not significant"


def test_plot_returned_draws_the_median_of_each_method(bench, crafted):
    import matplotlib.pyplot as plt

    runs = {name: crafted[name] for name in ("random search", "a clearly better method")}
    grid = [0.5, 2.0, 5.0, 12.0]
    ax = compare.plot_returned(runs, bench, grid)
    lines = {line.get_label(): line for line in ax.get_lines()}
    for name, group in runs.items():
        median = np.median(returned_on_grid(group, bench, grid[1:]), axis=0)
        drawn = lines[name].get_ydata()
        assert np.isnan(drawn[0])  # no run has a cell at 0.5 s
        np.testing.assert_allclose(drawn[1:], median)
    plt.close(ax.figure)


def test_compare_at_explains_a_missing_baseline_or_a_budget_too_small(bench, crafted):
    with pytest.raises(ValueError, match="baseline 'random search' is not among"):
        compare_at({"a clearly better method": crafted["a clearly better method"]}, bench, 5.0)
    with pytest.raises(ValueError, match="late returns a cell in fewer than two"):
        compare_at({"random search": crafted["random search"], "late": crafted["late"]}, bench, 5.0)
    with pytest.raises(ValueError, match="baseline returns a cell in fewer than two"):
        compare_at({"random search": crafted["random search"]}, bench, 0.5)


# ------------------------------------------------------------------------------------------- the jobs
@pytest.mark.parametrize("method", compare.TABLE_METHODS)
def test_table_job_spends_the_budget_and_at_most_one_more_trial(bench, method):
    budget = 12.0
    run = table_job(method, 0, budget)
    longest_trial = float(np.nanmax(bench.train_seconds[:, :, -1]))
    assert run.method == method and run.seed == 0
    assert budget <= run.spent < budget + longest_trial
    assert run.seconds == sorted(run.seconds) and run.seconds and run.seconds[-1] <= run.spent
    assert all(bench.row(a) >= 0 for a in run.architectures)  # cells of the benchmark


def test_table_job_is_deterministic_per_seed_and_rejects_an_unknown_method():
    first = table_job("regularized evolution", 1, 20.0)
    assert table_job("regularized evolution", 1, 20.0) == first
    assert table_job("regularized evolution", 2, 20.0) != first
    with pytest.raises(ValueError, match="Unknown table method 'simulated annealing'"):
        table_job("simulated annealing", 0, 20.0)


def _cheap_jobs():
    return [(table_job, {"method": "random search", "seed": seed, "budget": 6.0}) for seed in range(4)]


def test_run_jobs_returns_the_runs_in_the_jobs_order():
    runs = run_jobs(_cheap_jobs(), workers=1, progress=False)
    assert [run.seed for run in runs] == [0, 1, 2, 3]
    assert runs == [table_job("random search", seed, 6.0) for seed in range(4)]
    with pytest.raises(ValueError, match="workers must be at least 1"):
        run_jobs(_cheap_jobs(), workers=0, progress=False)


def test_run_jobs_in_two_processes_gives_the_same_runs_as_in_one():
    assert run_jobs(_cheap_jobs(), workers=2, progress=False) == run_jobs(_cheap_jobs(), workers=1, progress=False)


def _check_supernet_run(run, bench, method):
    assert run.method == method and run.seed == 0
    assert len(run.seconds) == len(run.architectures) >= 1
    assert run.seconds[0] > 0 and run.seconds == sorted(run.seconds) and run.spent == run.seconds[-1]
    assert all(bench.row(a) >= 0 for a in run.architectures)  # each one a cell of the benchmark's space
    assert not math.isnan(returned_on_grid([run], bench, [run.spent])[0, 0])


def test_relaxation_job_returns_the_derived_cell_after_each_epoch(bench):
    run = relaxation_job("gdas", 0, epochs=1)
    _check_supernet_run(run, bench, "GDAS")
    assert run.trials == 1 and run.extra["init_seed"] == 0 and run.extra["local_seconds"] > 0


def test_one_shot_job_returns_the_best_scored_cell_at_each_checkpoint(bench):
    run = one_shot_job(0, checkpoints=(0.5,), cells=4)
    _check_supernet_run(run, bench, "one-shot + random sampling")
    assert run.extra["scoring_seconds"] >= 0


# ------------------------------------------------------------------------------------------- run_search's budget
class OneSecondEach:
    def __call__(self, architecture):
        return EvaluationResult(0.5, 1.0, 1.0, 0)


@pytest.mark.parametrize("max_seconds, trials, expected", [(3.5, 100, 4), (3.0, 100, 3), (0.2, 100, 1), (100.0, 5, 5)])
def test_run_search_stops_once_max_seconds_is_spent(max_seconds, trials, expected):
    space = Cell201Space()
    history = run_search(space, RandomSearch(space, seed=0), OneSecondEach(), trials, progress=False,
                         max_seconds=max_seconds)
    assert len(history) == expected  # the last trial may overshoot the budget; then the search stops
    assert history[-1].cumulative_seconds >= min(max_seconds, trials)


@pytest.mark.parametrize("max_seconds", [0, -1.0, NAN])
def test_run_search_rejects_a_budget_that_is_not_positive(max_seconds):
    space = Cell201Space()
    with pytest.raises(ValueError, match="max_seconds must be a positive number"):
        run_search(space, RandomSearch(space, seed=0), OneSecondEach(), 10, progress=False, max_seconds=max_seconds)


# ------------------------------------------------------------------------------------------- tables and noise
def test_a_run_can_count_its_cost_in_trials():
    history = history_of(("a", 0.5, 7.0), ("b", 0.4, 7.0), ("c", 0.9, 7.0))
    run = Run.from_history("m", 0, history, cost="trials")
    assert run.seconds == [1.0, 3.0] and run.architectures == ["a", "c"] and run.spent == 3.0
    with pytest.raises(ValueError, match="cost must be"):
        Run.from_history("m", 0, history, cost="epochs")


def test_averaging_runs_per_lookup_buys_fewer_candidates_for_the_same_budget():
    one = table_job("random search", 0, budget=20.0)
    four = table_job("random search", 0, budget=20.0, average=4)
    assert four.spent >= 20.0 and one.spent >= 20.0
    assert four.trials < one.trials / 2, "each lookup of the noise-free mean costs four trainings"


def test_table_methods_run_on_nas_bench_201_with_a_budget_in_trials(nb201_folder, monkeypatch):
    monkeypatch.setenv("NASCOURSE_NB201", str(nb201_folder))
    compare.load_table.cache_clear()
    table = compare.load_table("nb201-cifar10")
    for method in ("random search", "regularized evolution", "Q-learning (MetaQNN)"):
        run = table_job(method, 3, budget=25, table="nb201-cifar10")
        assert run.trials == 25 and run.spent == 25.0 and run.seconds[0] == 1.0
        returned = run.returned_at(25)
        assert table.mean_accuracy(returned, "val") == max(
            table.mean_accuracy(a, "val") for a in run.architectures), "the best cell seen by validation"
    rows = compare_at({"random search": [table_job("random search", s, 25, table="nb201-cifar10") for s in range(5)],
                       "regularized evolution": [table_job("regularized evolution", s, 25, table="nb201-cifar10")
                                                 for s in range(5)]}, table, 25)
    assert {row.method for row in rows} == {"random search", "regularized evolution"}
    for method in ("Hyperband", "GeNet genetic algorithm"):
        with pytest.raises(ValueError, match="does not run on nb201-cifar10"):
            table_job(method, 0, 25, table="nb201-cifar10")
    compare.load_table.cache_clear()


def test_an_unknown_table_is_named_in_the_error():
    with pytest.raises(ValueError, match="Unknown table 'nb301'"):
        compare.load_table("nb301")


def test_on_the_digits_a_budget_can_count_trials_so_only_the_noise_changes():
    one = table_job("random search", 2, budget=30, unit="trials")
    mean = table_job("random search", 2, budget=30, unit="trials", average=4)
    assert one.trials == mean.trials == 30 and one.spent == mean.spent == 30.0
    with pytest.raises(ValueError, match="Hyperband trains candidates partially"):
        table_job("Hyperband", 0, budget=30, unit="trials")
    with pytest.raises(ValueError, match="unit must be"):
        table_job("random search", 0, budget=30, unit="epochs")


def test_bohb_runs_beside_hyperband_at_a_budget_in_seconds_or_in_trials(bench, nb201_folder, monkeypatch):
    assert "BOHB" in compare.table_methods() and compare.FAMILIES["BOHB"] == "SMBO + halving"
    run = table_job("BOHB", 2, budget=60)
    assert run.spent >= 60 and run.method == "BOHB"
    hyperband = table_job("Hyperband", 2, budget=60)
    assert run.trials > 60 / np.nanmean(bench.train_seconds[:, :, -1]), "partial trainings: more trials than full ones"
    assert abs(run.spent - hyperband.spent) < 2, "the same budget, counted as Hyperband counts it"
    counted = table_job("BOHB", 2, budget=30, unit="trials", average=4)  # whole trainings only: one budget
    assert counted.trials == 30 and counted.spent == 30.0
    monkeypatch.setenv("NASCOURSE_NB201", str(nb201_folder))
    compare.load_table.cache_clear()
    on_nb201 = table_job("BOHB", 1, budget=25, table="nb201-cifar10")
    assert on_nb201.trials == 25 and on_nb201.spent == 25.0
    compare.load_table.cache_clear()
