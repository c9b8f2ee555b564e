"""Chapter 05's checkers accept their references, call the untouched stub not attempted, and reject plausible
wrong answers; the references agree with the library (and with PyTorch's BatchNorm)."""

import math

import numpy as np
import pytest
import torch
from torch import nn

from nascourse.estimation import fit_curve, kendall_tau, top_k_hit_rate
from nascourse.exercises import ch05
from nascourse.exercises.core import FAILED, NOT_ATTEMPTED, PASSED




# --- plausible wrong answers -------------------------------------------------------------------------

def _pairs(a, b):
    for i in range(len(a)):
        for j in range(i + 1, len(a)):
            yield (a[i] > a[j]) - (a[i] < a[j]), (b[i] > b[j]) - (b[i] < b[j])


def tau_a(a, b):  # no correction for ties
    n = len(a)
    return sum(x * y for x, y in _pairs(a, b)) / (n * (n - 1) / 2)


def ties_count_as_concordant(a, b):
    n = len(a)
    return sum(1 if x * y >= 0 else -1 for x, y in _pairs(a, b)) / (n * (n - 1) / 2)


def hits_over_n(estimate, truth, k):
    return ch05.top_k_hit_rate.reference(estimate, truth, k) * k / len(truth)


def lowest_k_of_the_estimate(estimate, truth, k):
    worst = set(np.argsort(estimate)[:k].tolist())
    best = set(np.argsort(-np.asarray(truth))[:k].tolist())
    return len(worst & best) / k


def pooled_statistics(batches):
    everything = torch.cat(batches)
    return everything.mean(dim=(0, 2, 3)), everything.transpose(0, 1).flatten(1).var(dim=1)


def biased_variances(batches):
    means = torch.stack([x.mean(dim=(0, 2, 3)) for x in batches]).mean(dim=0)
    variances = torch.stack([x.transpose(0, 1).flatten(1).var(dim=1, unbiased=False) for x in batches]).mean(dim=0)
    return means, variances


def exponential_average(batches):  # BatchNorm's default momentum 0.1, starting from mean 0, variance 1
    mean, var = torch.zeros(batches[0].shape[1], dtype=batches[0].dtype), torch.ones(batches[0].shape[1], dtype=batches[0].dtype)
    for x in batches:
        mean = 0.9 * mean + 0.1 * x.mean(dim=(0, 2, 3))
        var = 0.9 * var + 0.1 * x.transpose(0, 1).flatten(1).var(dim=1)
    return mean, var


def keeps_ceil(accuracies, eta):
    order = sorted(range(len(accuracies)), key=lambda i: -(accuracies[i] if not math.isnan(accuracies[i]) else -1))
    return order[:math.ceil(len(accuracies) / eta)]


def keeps_the_worst(accuracies, eta):
    return sorted(range(len(accuracies)), key=lambda i: accuracies[i])[:len(accuracies) // eta]


def always_halves(accuracies, eta):
    order = sorted(range(len(accuracies)), key=lambda i: -(accuracies[i] if not math.isnan(accuracies[i]) else -1))
    return order[:len(accuracies) // 2]


def nan_not_handled(accuracies, eta):
    return sorted(range(len(accuracies)), key=lambda i: -accuracies[i])[:len(accuracies) // eta]


def last_value(accuracies, target_epoch):
    return float(accuracies[-1])


def epochs_from_zero(accuracies, target_epoch):  # x = 0, 1, ... and target - 1: shifts the curve by one epoch
    x = np.arange(len(accuracies), dtype=float)
    design = np.stack([np.ones_like(x), -1.0 / np.log(x + 2.0)], axis=1)
    (c, a), *_ = np.linalg.lstsq(design, np.asarray(accuracies, dtype=float), rcond=None)
    return float(c - a / math.log(target_epoch + 2.0))


def straight_line(accuracies, target_epoch):
    slope = accuracies[-1] - accuracies[-2]
    return float(accuracies[-1] + slope * (target_epoch - len(accuracies)))


@pytest.mark.parametrize(
    "exercise, wrong",
    [
        (ch05.kendall_tau_b, tau_a),
        (ch05.kendall_tau_b, ties_count_as_concordant),
        (ch05.top_k_hit_rate, hits_over_n),
        (ch05.top_k_hit_rate, lowest_k_of_the_estimate),
        (ch05.recalibrated_statistics, pooled_statistics),
        (ch05.recalibrated_statistics, biased_variances),
        (ch05.recalibrated_statistics, exponential_average),
        (ch05.successive_halving_round, keeps_ceil),
        (ch05.successive_halving_round, keeps_the_worst),
        (ch05.successive_halving_round, always_halves),
        (ch05.successive_halving_round, nan_not_handled),
        (ch05.extrapolate_ilog2, last_value),
        (ch05.extrapolate_ilog2, epochs_from_zero),
        (ch05.extrapolate_ilog2, straight_line),
    ],
    ids=lambda x: getattr(x, "name", getattr(x, "__name__", "")),
)
def test_plausible_wrong_answers_are_rejected_with_a_hint(exercise, wrong):
    result = exercise.evaluate(wrong)
    assert result.status == FAILED and "hint:" in result.message


# --- the references agree with the library --------------------------------------------------------------

def test_kendall_reference_agrees_with_the_library_with_ties():
    rng = np.random.default_rng(0)
    a, b = rng.integers(0, 4, 30).tolist(), rng.integers(0, 3, 30).tolist()
    assert ch05.kendall_tau_b.reference(a, b) == pytest.approx(kendall_tau(a, b), abs=1e-12)


def test_top_k_reference_agrees_with_the_library():
    rng = np.random.default_rng(1)
    estimate, truth = rng.normal(size=40), rng.normal(size=40)
    for k in (1, 4, 10):
        assert ch05.top_k_hit_rate.reference(estimate, truth, k) == top_k_hit_rate(estimate, truth, k)


def test_recalibration_reference_is_what_batchnorm_stores_with_momentum_none():
    generator = torch.Generator().manual_seed(3)
    batches = [torch.randn(size, 3, 4, 4, generator=generator, dtype=torch.float64) + shift
               for size, shift in ((5, 0.0), (12, 1.5), (3, -2.0))]
    norm = nn.BatchNorm2d(3, momentum=None).double().train()
    with torch.no_grad():
        for x in batches:
            norm(x)
    mean, var = ch05.recalibrated_statistics.reference(batches)
    assert torch.allclose(mean, norm.running_mean) and torch.allclose(var, norm.running_var)


def test_extrapolation_reference_agrees_with_the_library_ilog2_fit():
    curve = [0.62, 0.74, 0.80, 0.83, 0.86]  # a fit well inside the library's bounds (c <= 1, 0 <= a <= 5)
    fit = fit_curve(curve, "ilog2")
    assert ch05.extrapolate_ilog2.reference(curve, 25) == pytest.approx(float(fit.predict(25)[0]), abs=1e-6)


# --- FairNAS's strict fairness (chapter 05a) -------------------------------------------------------------

def independent_draws(operations, edges, rng):  # SPOS's draw m times: operations repeat within a step
    return [tuple(rng.choice(operations) for _ in range(edges)) for _ in operations]


def without_shuffling(operations, edges, rng):  # fair, but path k is always the k-th operation
    return [tuple(op for _ in range(edges)) for op in operations]


def one_order_for_all_edges(operations, edges, rng):  # fair and uniform per edge, but the edges move together
    order = rng.sample(operations, len(operations))
    return [tuple(op for _ in range(edges)) for op in order]


def random_rotation(operations, edges, rng):  # fair and uniform per edge, but only m of the m! orders
    m = len(operations)
    offsets = [rng.randrange(m) for _ in range(edges)]
    return [tuple(operations[(k + offsets[e]) % m] for e in range(edges)) for k in range(m)]


def the_orders_not_the_paths(operations, edges, rng):  # (edges, m) instead of (m, edges)
    return [tuple(rng.sample(operations, len(operations))) for _ in range(edges)]


def shuffling_a_copy(operations, edges, rng):  # another right answer: rng.shuffle instead of rng.sample
    orders = []
    for _ in range(edges):
        order = list(operations)
        rng.shuffle(order)
        orders.append(order)
    return [tuple(order[k] for order in orders) for k in range(len(operations))]


@pytest.mark.parametrize("wrong", [independent_draws, without_shuffling, one_order_for_all_edges, random_rotation,
                                   the_orders_not_the_paths], ids=lambda f: f.__name__)
def test_fair_step_rejects_plausible_wrong_samplers(wrong):
    result = ch05.fair_step.evaluate(wrong)
    assert result.status == FAILED and "hint:" in result.message


def test_fair_step_accepts_another_correct_sampler_and_an_empty_body_is_not_attempted():
    assert ch05.fair_step.evaluate(shuffling_a_copy).status == PASSED
    assert ch05.fair_step.evaluate(lambda operations, edges, rng: None).status == NOT_ATTEMPTED


def test_fair_step_reference_draws_what_the_library_fair_sampler_draws():
    import random

    from nascourse.weight_sharing import fair_paths
    operations = ("none", "skip", "conv3x3", "avgpool3x3")
    ours = ch05.fair_step.reference(list(operations), 6, random.Random(7))
    library = fair_paths(operations)(random.Random(7))
    assert [tuple(p.operations) for p in library] == ours
