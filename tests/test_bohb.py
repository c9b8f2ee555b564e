"""BOHB (Falkner, Klein & Hutter, ICML 2018): Hyperband's brackets, candidates from a TPE model."""

import random

import numpy as np
import pytest

from nascourse.bench import Benchmark
from nascourse.estimation import Hyperband, TableTraining
from nascourse.estimation.bohb import BOHB, CategoricalKDE, fit_tpe
from nascourse.loop import EvaluationResult
from nascourse.spaces.cell201 import Cell201Space

SPACE = Cell201Space(operations=("none", "skip", "conv3x3", "avgpool3x3"), channels=4)


@pytest.fixture(scope="module")
def bench():
    return Benchmark.load()


def made_up_training(architecture, epochs):
    """A made-up problem: every conv3x3 edge adds accuracy, more epochs add a little; free of noise."""
    accuracy = 0.5 + 0.07 * architecture.operations.count("conv3x3") + 0.01 * epochs
    return EvaluationResult(accuracy=accuracy, parameters=1000, cost_seconds=float(epochs), cost_epochs=float(epochs))


def test_the_brackets_are_hyperbands():
    for max_epochs, eta in ((3, 3), (9, 3), (8, 2)):
        assert BOHB(SPACE, max_epochs=max_epochs, eta=eta).brackets == Hyperband(SPACE, max_epochs, eta).brackets


def test_with_only_random_candidates_it_is_hyperband_trial_for_trial_and_cost_for_cost(bench):
    bohb = BOHB(bench.space, seed=4, rho=1.0).run(TableTraining(bench, rng_seed=4), max_seconds=40)
    hyperband = Hyperband(bench.space, seed=4).run(TableTraining(bench, rng_seed=4), max_seconds=40)
    assert [(t.architecture, t.accuracy, t.cost_seconds, t.status) for t in bohb] == \
           [(t.architecture, t.accuracy, t.cost_seconds, t.status) for t in hyperband]


def test_costs_are_counted_as_hyperband_counts_them(bench):
    search = BOHB(bench.space, seed=1)
    history = search.run(TableTraining(bench, rng_seed=1), max_seconds=60)
    assert "model" in search.proposals, "the budget is long enough for the model to propose"
    assert 60 <= history[-1].cumulative_seconds < 60 + 2  # it stops after the evaluation that crossed the budget
    assert history[-1].cumulative_seconds == pytest.approx(sum(t.cost_seconds for t in history))
    stopped = [t for t in history if t.status.startswith("stopped")]
    assert stopped and all(t.status == "stopped at epoch 1 of 3" and not t.ok for t in stopped)


def test_the_model_is_used_only_once_a_budget_has_min_points_plus_two_observations():
    search = BOHB(SPACE, max_epochs=9, eta=3, seed=0, rho=0.0)  # N_min = 6 edges + 1 = 7: a model from 9 observations
    assert search.min_points == 7
    search.run(made_up_training, iterations=3)
    first = search.brackets[0].rungs[0].candidates  # 9 candidates at 1 epoch: the first bracket is all random
    assert search.proposals[:first] == ["random"] * first and search.models[0] is None
    assert search.models[1] is not None and search.models[1].budget == 1  # 9 observations at 1 epoch by then
    assert all(p == "model" for p in search.proposals[first:]), "rho = 0: once there is a model, it proposes all"
    assert search.models[-1].budget == 9, "the largest budget with enough observations"


def test_the_random_fraction_is_respected():
    search = BOHB(SPACE, max_epochs=9, eta=3, seed=3, rho=0.3)
    search.run(made_up_training, iterations=20)
    after_model = [p for p, model in zip(search.proposals, _model_per_proposal(search)) if model is not None]
    share = after_model.count("random") / len(after_model)
    assert len(after_model) > 300 and 0.22 < share < 0.38  # binomial: 0.3 +- 3 standard deviations


def _model_per_proposal(search):
    models = []
    for model, bracket in zip(search.models, search.brackets * (len(search.models) // len(search.brackets) + 1)):
        models += [model] * bracket.rungs[0].candidates
    return models


def test_the_density_ratio_prefers_the_good_region_of_a_made_up_problem():
    rng = random.Random(0)
    cells = np.array([[rng.randrange(4) for _ in range(6)] for _ in range(200)])
    accuracy = (cells == 2).sum(axis=1) + 0.1 * np.array([rng.random() for _ in range(200)])  # value 2 is good
    model = fit_tpe(cells, accuracy.tolist(), [4] * 6, top_fraction=0.15, min_points=7)
    all_good, all_bad = np.full((1, 6), 2), np.full((1, 6), 0)
    assert model.ratio(all_good)[0] > 10 * model.ratio(all_bad)[0]
    search = BOHB(SPACE, max_epochs=9, eta=3, seed=0, rho=0.0)
    search.run(made_up_training, iterations=6)
    convs = [search.vector(a).tolist().count(SPACE.operations.index("conv3x3")) for a in search.propose(30)]
    assert np.mean(convs) > 2.5, "the model proposes cells with many conv3x3 edges (random: 1.5 on average)"


def test_the_kernel_is_a_density_and_sampling_follows_it():
    kde = CategoricalKDE(np.array([[0, 1], [2, 1]]), (3, 2), np.array([0.3, 0.2]))
    every = np.array([[a, b] for a in range(3) for b in range(2)])
    assert kde.density(every).sum() == pytest.approx(1.0)
    draws = [tuple(point) for point in kde.sample(np.random.default_rng(1), 20_000)]
    for point, p in zip(every, kde.density(every)):
        assert draws.count(tuple(point)) / len(draws) == pytest.approx(p, abs=0.015)


def test_a_bracket_never_trains_two_equivalent_cells():
    search = BOHB(SPACE, max_epochs=9, eta=3, seed=2, rho=0.0)
    search.run(made_up_training, iterations=4)
    for _ in range(5):
        chosen = search.propose(9)
        assert len({str(SPACE.canonical(a)) for a in chosen}) == 9


def test_bad_arguments_are_refused_clearly():
    with pytest.raises(ValueError, match="rho is the fraction"):
        BOHB(SPACE, rho=1.5)
    with pytest.raises(ValueError, match="top_fraction"):
        BOHB(SPACE, top_fraction=0.0)
    with pytest.raises(ValueError, match="samples"):
        BOHB(SPACE, samples=0)
    with pytest.raises(ValueError, match="bandwidth_factor"):
        BOHB(SPACE, bandwidth_factor=0.5)
    with pytest.raises(ValueError, match="min_points"):
        BOHB(SPACE, min_points=0)
    with pytest.raises(ValueError, match="power of eta"):
        BOHB(SPACE, max_epochs=4, eta=3)
    with pytest.raises(ValueError, match="needs a cell space"):
        BOHB(object())
    with pytest.raises(ValueError, match="max_seconds must be positive"):
        BOHB(SPACE).run(made_up_training, max_seconds=0)
    with pytest.raises(ValueError, match="one accuracy per observed cell"):
        fit_tpe(np.zeros((9, 6), dtype=int), [0.5] * 8, [4] * 6, 0.15, 7)
    with pytest.raises(ValueError, match="wait for more observations"):
        fit_tpe(np.zeros((7, 6), dtype=int), [0.5] * 7, [4] * 6, 0.15, 7)


def test_a_seed_repeats_the_search():
    one = BOHB(SPACE, max_epochs=9, eta=3, seed=5).run(made_up_training, iterations=3)
    two = BOHB(SPACE, max_epochs=9, eta=3, seed=5).run(made_up_training, iterations=3)
    assert [t.architecture for t in one] == [t.architecture for t in two]
