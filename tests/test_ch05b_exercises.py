"""Chapter 05b's exercises (Hyperband's brackets, the NASWOT score): each checker accepts its reference, calls the
untouched stub not attempted and rejects plausible wrong answers; the references agree with the library."""

import math

import numpy as np
import pytest
import torch
from torch import nn

from nascourse.estimation import hyperband_brackets, proxies
from nascourse.exercises import ch05
from nascourse.exercises.core import FAILED




# --- Hyperband's brackets ----------------------------------------------------------------------------------------

def _brackets(max_budget, eta, s_max, n_of):
    total = (s_max + 1) * max_budget
    return [[(n_of(total, s) // eta ** i, max_budget // eta ** s * eta ** i) for i in range(s + 1)]
            for s in range(s_max, -1, -1)]


def _s_max(max_budget, eta):
    s = 0
    while eta ** (s + 1) <= max_budget:
        s += 1
    return s


def floor_instead_of_ceil(max_budget, eta):
    return _brackets(max_budget, eta, _s_max(max_budget, eta), lambda b, s: math.floor(b / max_budget * eta ** s / (s + 1)))


def float_logarithm(max_budget, eta):
    s_max = math.floor(math.log(max_budget) / math.log(eta))
    return _brackets(max_budget, eta, s_max, lambda b, s: math.ceil(b / max_budget * eta ** s / (s + 1)))


def budget_without_the_plus_one(max_budget, eta):
    s_max = _s_max(max_budget, eta)
    return _brackets(max_budget, eta, s_max,
                     lambda b, s: math.ceil(s_max * max_budget / max_budget * eta ** s / (s + 1)))


def least_aggressive_bracket_first(max_budget, eta):
    return list(reversed(ch05.hyperband_brackets.reference(max_budget, eta)))


def rounded_survivors(max_budget, eta):
    return [[(round(bracket[0][0] / eta ** i), r) for i, (_, r) in enumerate(bracket)]
            for bracket in ch05.hyperband_brackets.reference(max_budget, eta)]


@pytest.mark.parametrize("wrong", [floor_instead_of_ceil, float_logarithm, budget_without_the_plus_one,
                                   least_aggressive_bracket_first, rounded_survivors], ids=lambda f: f.__name__)
def test_plausible_wrong_brackets_are_rejected(wrong):
    assert ch05.hyperband_brackets.evaluate(wrong).status == FAILED


def test_the_reference_brackets_are_the_librarys():
    for max_budget, eta in ((3, 3), (81, 3), (9, 3), (16, 2), (243, 3)):
        library = [[(rung.candidates, rung.epochs) for rung in bracket.rungs]
                   for bracket in hyperband_brackets(max_budget, eta)]
        assert ch05.hyperband_brackets.reference(max_budget, eta) == library


# --- the NASWOT score --------------------------------------------------------------------------------------------

def hamming_kernel(codes):
    c = np.asarray(codes, dtype=float)
    distance = c @ (1 - c).T + (1 - c) @ c.T
    sign, logdet = np.linalg.slogdet(distance)
    return float(logdet) if sign > 0 else float("-inf")


def only_units_both_switch_on(codes):
    c = np.asarray(codes, dtype=float)
    sign, logdet = np.linalg.slogdet(c @ c.T)
    return float(logdet) if sign > 0 else float("-inf")


def determinant_without_the_log(codes):
    c = np.asarray(codes, dtype=float)
    return float(abs(np.linalg.det(c @ c.T + (1 - c) @ (1 - c).T)))


def agreement_as_a_share(codes):
    c = np.asarray(codes, dtype=float)
    sign, logdet = np.linalg.slogdet((c @ c.T + (1 - c) @ (1 - c).T) / c.shape[1])
    return float(logdet) if sign > 0 else float("-inf")


@pytest.mark.parametrize("wrong", [hamming_kernel, only_units_both_switch_on, determinant_without_the_log,
                                   agreement_as_a_share], ids=lambda f: f.__name__)
def test_plausible_wrong_naswot_scores_are_rejected(wrong):
    assert ch05.naswot_score.evaluate(wrong).status == FAILED


def test_the_reference_naswot_score_is_the_librarys_on_a_real_network():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(12, 16), nn.ReLU(), nn.Linear(16, 8), nn.ReLU(), nn.Linear(8, 3))
    images = torch.randn(6, 3, 2, 2)
    codes = []
    hooks = [m.register_forward_hook(lambda module, inputs, output: codes.append((output > 0).int().numpy()))
             for m in model if isinstance(m, nn.ReLU)]
    with torch.no_grad():
        model(images)
    for hook in hooks:
        hook.remove()
    assert ch05.naswot_score.reference(np.concatenate(codes, axis=1)) == pytest.approx(proxies.naswot(model, images))
