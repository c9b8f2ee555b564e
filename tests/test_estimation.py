"""Chapter 05's estimation package: rank statistics, curve extrapolation, performance prediction,
successive halving / Hyperband / early stopping, and training-free proxies."""

import math
import random

import numpy as np
import pytest
import scipy.stats
import torch
from torch import nn

from nascourse import RandomSearch, run_search
from nascourse.bench import Benchmark, BenchmarkEvaluator
from nascourse.data import load_dataset
from nascourse.estimation import (FAMILIES, ExtrapolationRule, Hyperband, MedianStoppingRule, RidgeRegression,
                                  SuccessiveHalving, TableTraining, architecture_features, early_stopping_search,
                                  evaluate_predictor, extrapolate, fit_curve, grad_norm, hyperband_brackets,
                                  kendall_tau, naswot, parameter_count, rank_consistency, score_architectures,
                                  should_terminate, spearman, successive_halving_rungs, synflow, top_k_hit_rate)
from nascourse.loop import EvaluationResult
from nascourse.spaces.cell201 import Cell201Architecture, Cell201Space

torch.set_num_threads(1)

SPACE = Cell201Space(operations=("none", "skip", "conv3x3", "avgpool3x3"), channels=4)


@pytest.fixture(scope="module")
def bench():
    return Benchmark.load()


@pytest.fixture(scope="module")
def digits():
    return load_dataset("digits")


# --- ranking ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("seed", range(5))
def test_kendall_tau_agrees_with_scipy_with_ties(seed):
    rng = np.random.default_rng(seed)
    a, b = rng.integers(0, 5, 40), rng.integers(0, 4, 40)  # few distinct values: many ties
    assert kendall_tau(a, b) == pytest.approx(scipy.stats.kendalltau(a, b).statistic, abs=1e-12)


def test_kendall_tau_agrees_with_scipy_without_ties():
    rng = np.random.default_rng(7)
    a = rng.normal(size=100)
    b = a + rng.normal(size=100)
    assert kendall_tau(a, b) == pytest.approx(scipy.stats.kendalltau(a, b).statistic, abs=1e-12)


@pytest.mark.parametrize("seed", range(5))
def test_spearman_agrees_with_scipy_with_ties(seed):
    rng = np.random.default_rng(seed)
    a, b = rng.integers(0, 5, 40), rng.integers(0, 4, 40)
    assert spearman(a, b) == pytest.approx(scipy.stats.spearmanr(a, b).statistic, abs=1e-12)


def test_kendall_tau_is_one_for_the_same_order_and_minus_one_reversed():
    a = np.array([0.1, 0.5, 0.3, 0.9])
    assert kendall_tau(a, 2 * a + 1) == pytest.approx(1.0)
    assert kendall_tau(a, -a) == pytest.approx(-1.0)


def test_kendall_tau_orders_minus_infinity_last():
    assert kendall_tau([-np.inf, 1.0, 2.0], [0.0, 1.0, 2.0]) == pytest.approx(1.0)


def test_top_k_hit_rate_counts_the_shared_top_k():
    truth = np.array([0.9, 0.8, 0.7, 0.1, 0.0])
    estimate = np.array([5.0, 0.0, 4.0, 3.0, 1.0])  # its top 3: items 0, 2, 3; the true top 3: items 0, 1, 2
    assert top_k_hit_rate(estimate, truth, 3) == pytest.approx(2 / 3)
    assert top_k_hit_rate(truth, truth, 2) == 1.0


def test_rank_statistics_explain_bad_input():
    with pytest.raises(ValueError, match="same length"):
        kendall_tau([1, 2, 3], [1, 2])
    with pytest.raises(ValueError, match="NaN has no rank"):
        kendall_tau([1, np.nan, 3], [1, 2, 3])
    with pytest.raises(ValueError, match="k must be an integer in 1..3"):
        top_k_hit_rate([1, 2, 3], [1, 2, 3], 0)


def test_rank_consistency_has_one_row_per_seed_and_ends_at_one_for_the_same_run(bench):
    consistency = rank_consistency(bench)
    assert consistency.spearman.shape == consistency.kendall.shape == (len(bench.seeds), bench.protocol.epochs)
    assert np.allclose(consistency.spearman[:, -1], 1.0) and np.allclose(consistency.kendall[:, -1], 1.0)


def test_rank_consistency_grows_with_epochs_against_a_truth_that_excludes_the_run(bench):
    rho = rank_consistency(bench, target="other_seeds").mean_spearman
    assert rho[0] < rho[1] < rho[2] < 1.0


def test_the_other_seeds_target_is_the_mean_of_the_other_runs_final_accuracy(bench):
    from nascourse.stats import spearman

    consistency = rank_consistency(bench, target="other_seeds")
    final = bench.val_accuracy[:, :, -1]
    others = final[:, 1:].mean(axis=1)  # seed index 0 against seeds 1..3
    keep = np.isfinite(bench.val_accuracy[:, 0, 0]) & np.isfinite(others)
    assert consistency.spearman[0, 0] == pytest.approx(spearman(bench.val_accuracy[keep, 0, 0], others[keep]))
    with_itself = rank_consistency(bench, target="mean").mean_spearman[-1]
    assert consistency.mean_spearman[-1] < with_itself, "a truth that contains the run flatters its last epoch"


# --- learning curves -------------------------------------------------------------------------------

EPOCHS = np.arange(1, 31, dtype=float)
TRUE_POW3 = (0.92, 0.6, 0.7)  # c, a, alpha


def test_the_extrapolator_recovers_a_noise_free_pow3_curve():
    curve = FAMILIES["pow3"](EPOCHS, TRUE_POW3)
    fit = fit_curve(curve, "pow3")
    assert fit.theta == pytest.approx(TRUE_POW3, abs=1e-4)


def test_the_extrapolator_recovers_a_slightly_noisy_pow3_curve():
    curve = FAMILIES["pow3"](EPOCHS, TRUE_POW3) + np.random.default_rng(0).normal(0, 0.003, len(EPOCHS))
    fit = fit_curve(curve, "pow3")
    c, a, alpha = fit.theta
    assert c == pytest.approx(0.92, abs=0.01) and a == pytest.approx(0.6, abs=0.02)
    assert alpha == pytest.approx(0.7, abs=0.05)
    assert fit.noise_std == pytest.approx(0.003, rel=0.5)


def test_the_ensemble_predicts_the_end_of_a_pow3_curve_from_its_first_third():
    curve = FAMILIES["pow3"](EPOCHS, TRUE_POW3)
    prediction = extrapolate(curve[:10], target_epoch=30)
    assert prediction.weights.sum() == pytest.approx(1.0)
    assert prediction.mean == pytest.approx(curve[-1], abs=0.01)
    assert prediction.probability_above(curve[-1] - 0.05) > 0.95


def test_should_terminate_stops_a_run_that_cannot_reach_the_best_and_keeps_one_that_can():
    curve = FAMILIES["pow3"](EPOCHS, TRUE_POW3)  # ends near 0.865
    assert should_terminate(curve[:10], best_so_far=0.95, target_epoch=30)
    assert not should_terminate(curve[:10], best_so_far=0.80, target_epoch=30)


def test_curve_fitting_explains_too_few_points_and_bad_curves():
    with pytest.raises(ValueError, match="needs at least 4 points"):
        fit_curve([0.3, 0.5, 0.6], "pow3")
    with pytest.raises(ValueError, match="Unknown curve family"):
        fit_curve([0.3, 0.5, 0.6, 0.7], "pow7")
    with pytest.raises(ValueError, match="NaN"):
        extrapolate([0.3, math.nan, 0.6, 0.7], 10)
    with pytest.raises(ValueError, match="after the last observed epoch"):
        extrapolate([0.3, 0.5, 0.6, 0.7], 3)


# --- performance prediction ------------------------------------------------------------------------

def test_ridge_without_penalty_recovers_a_linear_function():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(50, 3))
    y = x @ np.array([1.0, -2.0, 0.5]) + 3.0
    model = RidgeRegression(ridge=0.0).fit(x, y)
    assert model.predict(x) == pytest.approx(y, abs=1e-9)


def test_architecture_features_are_one_hot_per_edge():
    features = architecture_features(SPACE, [SPACE.sample(random.Random(s)) for s in range(5)])
    assert features.shape == (5, 6 * 4)
    assert np.all(features.reshape(5, 6, 4).sum(axis=2) == 1)


def test_the_predictor_ranks_held_out_cells_well_on_the_benchmark(bench):
    report = evaluate_predictor(bench, train_size=200, epochs_seen=2, repeats=3)
    assert report.spearman > 0.5 and -1 <= report.kendall <= 1 and 0 <= report.top10_hit_rate <= 1


def test_the_predictor_and_the_early_accuracy_are_scored_against_the_other_seeds(bench):
    # a predictor that reads only the epoch-1 accuracy is a rising line of it: it ranks exactly as that accuracy
    # does, so both must be scored against the same target, which excludes the run they read
    report = evaluate_predictor(bench, train_size=100, epochs_seen=1, repeats=1, use_architecture=False)
    assert report.spearman == pytest.approx(report.baseline_spearman)
    rows = list(range(len(bench)))
    random.Random(0).shuffle(rows)
    test_rows = np.array(rows[100:])
    others = bench.val_accuracy[:, 1:, -1].mean(axis=1)  # repeat 0 reads seed 0
    keep = np.isfinite(others[test_rows]) & np.isfinite(bench.val_accuracy[test_rows, 0, 0])
    expected = scipy.stats.spearmanr(bench.val_accuracy[test_rows[keep], 0, 0], others[test_rows[keep]])[0]
    assert report.baseline_spearman == pytest.approx(expected)


# --- successive halving and Hyperband --------------------------------------------------------------

def _crafted(nine_accuracies_at_1, nine_accuracies_at_3, nine_accuracies_at_9, calls):
    """An evaluator over 9 cells whose accuracy at each budget is set by hand."""
    cells = [Cell201Architecture(("conv3x3",) * i + ("skip",) * (6 - i)) for i in range(6)]
    cells += [Cell201Architecture(("avgpool3x3",) * i + ("skip",) * (6 - i)) for i in range(1, 4)]
    table = {1: nine_accuracies_at_1, 3: nine_accuracies_at_3, 9: nine_accuracies_at_9}

    def evaluate(architecture, epochs):
        calls.append((cells.index(architecture), epochs))
        return EvaluationResult(table[epochs][cells.index(architecture)], float(epochs), float(epochs), 1)

    return cells, evaluate


def test_successive_halving_keeps_the_best_third_of_each_rung():
    calls = []
    at_1 = [0.10, 0.50, 0.20, 0.60, 0.30, 0.70, 0.15, 0.25, 0.05]  # top 3 after 1 epoch: cells 5, 3, 1
    at_3 = [0.99, 0.80, 0.90, 0.85, 0.95, 0.60, 0.90, 0.90, 0.90]  # cell 0 would win later, but is already out
    at_9 = [1.00, 0.81, 0.90, 0.87, 0.96, 0.61, 0.90, 0.90, 0.90]
    cells, evaluate = _crafted(at_1, at_3, at_9, calls)
    search = SuccessiveHalving(SPACE, candidates=9, min_epochs=1, max_epochs=9, eta=3)
    history = search.run(evaluate, architectures=cells)
    assert [c for c, e in calls if e == 1] == list(range(9))
    assert sorted(c for c, e in calls if e == 3) == [1, 3, 5]
    assert [c for c, e in calls if e == 9] == [3]  # the best of 1, 3, 5 after 3 epochs
    assert search.survivors == [cells[3]]
    assert history.best().accuracy == 0.87  # only fully trained results count as found
    assert sum(t.ok for t in history) == 1 and history[0].status == "stopped at epoch 1 of 9"


def test_successive_halving_rungs_follow_li_et_al():
    assert [(r.candidates, r.epochs) for r in successive_halving_rungs(27, 1, 3, 3)] == [(27, 1), (9, 3)]
    assert [(r.candidates, r.epochs) for r in successive_halving_rungs(81, 1, 81, 3)] == \
        [(81, 1), (27, 3), (9, 9), (3, 27), (1, 81)]


def test_hyperband_brackets_reproduce_table_1_of_li_et_al():
    # R = 81, eta = 3: (n_i, r_i) of every rung of every bracket s = 4..0
    expected = [
        [(81, 1), (27, 3), (9, 9), (3, 27), (1, 81)],
        [(34, 3), (11, 9), (3, 27), (1, 81)],
        [(15, 9), (5, 27), (1, 81)],
        [(8, 27), (2, 81)],
        [(5, 81)],
    ]
    brackets = hyperband_brackets(81, eta=3)
    assert [b.s for b in brackets] == [4, 3, 2, 1, 0]
    assert [[(r.candidates, r.epochs) for r in b.rungs] for b in brackets] == expected


def test_hyperband_on_the_three_epoch_benchmark_has_two_brackets():
    brackets = hyperband_brackets(3, eta=3)
    assert [[(r.candidates, r.epochs) for r in b.rungs] for b in brackets] == [[(3, 1), (1, 3)], [(2, 3)]]


def test_budget_schedules_explain_impossible_settings():
    with pytest.raises(ValueError, match="eta must be an integer >= 2"):
        hyperband_brackets(3, eta=1)
    with pytest.raises(ValueError, match="power of eta"):
        hyperband_brackets(10, eta=3)
    with pytest.raises(ValueError, match="min_epochs \\* eta\\^s"):
        successive_halving_rungs(9, 1, 4, 3)
    with pytest.raises(ValueError, match="exactly 9 architectures"):
        SuccessiveHalving(SPACE, candidates=9, max_epochs=9).run(lambda a, e: None, architectures=[])


def test_table_training_charges_only_the_extra_epochs_of_a_promoted_cell(bench):
    training = TableTraining(bench, rng_seed=0)
    cell = bench.architectures[100]
    first, more = training(cell, 1), training(cell, 3)
    seed_index = bench.seeds.index(training.runs[bench.row(cell)][0])
    assert first.cost_seconds + more.cost_seconds == pytest.approx(bench.train_seconds[100, seed_index, 2])
    assert more.cost_epochs == 2 and more.accuracy == bench.val_accuracy[100, seed_index, 2]
    again = training(cell, 1)  # a new proposal of the same cell: a new run, paid in full
    assert again.cost_epochs == 1
    with pytest.raises(ValueError, match="epochs 1..3"):
        training(cell, 4)


def test_hyperband_stops_when_its_budget_is_spent_and_records_training_seconds(bench):
    history = Hyperband(bench.space, max_epochs=3, eta=3, seed=0).run(TableTraining(bench), max_seconds=30)
    assert 30 <= history[-1].cumulative_seconds < 30 + 2  # it stops after the evaluation that crossed the budget
    assert all(t.ok == (t.status == "ok") for t in history)
    assert history.best().accuracy > 0.9


def test_early_stopping_that_never_stops_is_random_search(bench):
    never = lambda curve, seen, best: False  # noqa: E731
    stopped = early_stopping_search(bench.space, TableTraining(bench, rng_seed=3), 40, never, seed=3)
    plain = run_search(bench.space, RandomSearch(bench.space, seed=3), BenchmarkEvaluator(bench, rng_seed=3), 40,
                       progress=False)
    assert [t.architecture for t in stopped] == [t.architecture for t in plain]
    assert [t.accuracy for t in stopped] == [t.accuracy for t in plain]
    assert stopped[-1].cumulative_seconds == pytest.approx(plain[-1].cumulative_seconds)


def test_the_median_rule_stops_runs_below_the_median_and_saves_time(bench):
    history = early_stopping_search(bench.space, TableTraining(bench, rng_seed=0), 60, MedianStoppingRule(warmup=5))
    stopped = [t for t in history if t.status == "stopped at epoch 1 of 3"]
    assert 10 < len(stopped) < 50
    assert all(t.cost_epochs == 1 for t in stopped) and all(t.cost_epochs == 3 for t in history if t.ok)


def test_the_median_rule_compares_with_the_median_at_the_same_epoch():
    rule = MedianStoppingRule(warmup=3)
    seen = [[0.2, 0.5], [0.4, 0.6], [0.6, 0.9]]
    assert rule([0.3], seen, None) and not rule([0.5], seen, None)
    assert not rule([0.0], seen[:2], None)  # fewer than warmup runs seen: keep training


def test_the_extrapolation_rule_keeps_training_when_it_cannot_fit_the_curve():
    rule = ExtrapolationRule(target_epoch=3)
    assert not rule([0.3], [], 0.9)  # one point: no family can be fitted
    assert not rule([0.3, 0.8], [], None)  # nothing finished yet: nothing to beat


# --- training-free proxies -------------------------------------------------------------------------

CONV_CELL = Cell201Architecture(("conv3x3",) * 6)
EMPTY_CELL = Cell201Architecture(("none",) * 6)


def test_proxy_scores_repeat_with_the_same_seed(digits):
    cells = [CONV_CELL, Cell201Architecture(("skip", "conv3x3", "avgpool3x3", "none", "conv3x3", "skip"))]
    for proxy in ("synflow", "naswot", "grad_norm"):
        first = score_architectures(SPACE, cells, digits, proxy, seed=1, batch_size=16)
        assert np.array_equal(first, score_architectures(SPACE, cells, digits, proxy, seed=1, batch_size=16))


def test_synflow_is_zero_for_a_cell_that_cuts_the_network_and_positive_otherwise(digits):
    empty, conv = score_architectures(SPACE, [EMPTY_CELL, CONV_CELL], digits, "synflow")
    assert empty == 0.0 and conv > 0.0


def test_synflow_leaves_the_scored_model_unchanged(digits):
    torch.manual_seed(0)
    model = SPACE.build(CONV_CELL, digits.input_shape, digits.num_classes)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    synflow(model, digits.train.x[:4])
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())


def test_naswot_is_higher_when_inputs_get_different_activation_codes():
    torch.manual_seed(0)
    images = torch.randn(8, 1, 8, 8)
    distinguishing = nn.Sequential(nn.Flatten(), nn.Linear(64, 32), nn.ReLU())
    constant = nn.Sequential(nn.Flatten(), nn.Linear(64, 32), nn.ReLU())
    with torch.no_grad():  # zero weights, positive bias: every unit is on for every input, one shared code
        constant[1].weight.zero_()
        constant[1].bias.fill_(1.0)
    assert naswot(constant, images) == -math.inf
    assert math.isfinite(naswot(distinguishing, images))


def test_parameter_count_counts_trainable_parameters():
    layer = nn.Linear(3, 2)
    assert parameter_count(layer) == 8.0


def test_proxies_explain_bad_input(digits):
    model = nn.Sequential(nn.Flatten(), nn.Linear(64, 10), nn.ReLU())
    with pytest.raises(ValueError, match="at least 2 images"):
        naswot(model, torch.randn(1, 1, 8, 8))
    with pytest.raises(ValueError, match="needs labels"):
        grad_norm(model, torch.randn(4, 1, 8, 8))
    with pytest.raises(ValueError, match=r"\(B, C, H, W\)"):
        synflow(model, torch.randn(4, 64))
    with pytest.raises(ValueError, match="Unknown proxy"):
        score_architectures(SPACE, [CONV_CELL], digits, "zen")
    with pytest.raises(ValueError, match="batch_size must lie in"):
        score_architectures(SPACE, [CONV_CELL], digits, "naswot", batch_size=0)
