"""Regularized (aging) evolution as AmoebaNet defines it: random start, tournament, mutate the winner, the oldest dies."""

import copy
import math
import statistics

import pytest

from nascourse import RandomSearch, run_search
from nascourse.loop import EvaluationResult
from nascourse.spaces import Cell201Space, DartsCellSpace, Skeleton
from nascourse.strategies import RegularizedEvolution


def result(accuracy: float, status: str = "ok") -> EvaluationResult:
    return EvaluationResult(accuracy=accuracy, cost_seconds=1.0, cost_epochs=1.0, parameters=0, status=status)


def conv_count(architecture) -> float:
    """A smooth synthetic objective on the NAS-Bench-201 cell: the share of edges that are 3x3 convolutions."""
    return architecture.operations.count("conv3x3") / 6


def test_the_first_p_proposals_are_random_then_come_mutated_tournament_winners():
    space = Cell201Space()
    strategy = RegularizedEvolution(space, population_size=4, sample_size=2, seed=0)
    for _ in range(4):
        strategy.tell(strategy.ask(), result(0.5))
        assert strategy.last_parent is None
    child = strategy.ask()
    assert strategy.last_parent is not None
    parent = strategy.last_parent.architecture
    assert sum(a != b for a, b in zip(parent.operations, child.operations)) == 1  # one mutation of the parent


def test_the_oldest_dies_even_when_it_is_the_best():
    space = Cell201Space()
    strategy = RegularizedEvolution(space, population_size=3, sample_size=2, seed=0)
    told = []
    for accuracy in [0.99, 0.2, 0.3, 0.4, 0.5]:
        architecture = strategy.ask()
        strategy.tell(architecture, result(accuracy))
        told.append((architecture, accuracy))
    assert [(i.architecture, i.accuracy) for i in strategy.population] == told[-3:]
    assert 0.99 not in [i.accuracy for i in strategy.population]


def test_without_aging_the_worst_dies_and_the_best_lives_on():
    space = Cell201Space()
    strategy = RegularizedEvolution(space, population_size=3, sample_size=2, seed=0, aging=False)
    for accuracy in [0.99, 0.2, 0.3, 0.4, 0.5]:
        strategy.tell(strategy.ask(), result(accuracy))
    assert sorted(i.accuracy for i in strategy.population) == [0.4, 0.5, 0.99]


def test_the_parent_is_the_most_accurate_member_of_the_sample_drawn_with_replacement():
    space = Cell201Space()
    strategy = RegularizedEvolution(space, population_size=6, sample_size=3, seed=3)
    for accuracy in [0.1, 0.6, 0.3, 0.9, 0.2, 0.5]:
        strategy.tell(strategy.ask(), result(accuracy))
    for _ in range(20):
        replay = copy.deepcopy(strategy.rng)
        population = list(strategy.population)
        sample = [replay.choice(population) for _ in range(strategy.sample_size)]
        child = strategy.ask()
        assert strategy.last_parent == max(sample, key=lambda individual: individual.accuracy)
        strategy.tell(child, result(conv_count(child)))


def test_a_failed_candidate_never_wins_a_tournament_and_still_ages_out():
    space = Cell201Space()
    strategy = RegularizedEvolution(space, population_size=2, sample_size=2, seed=0)
    strategy.tell(strategy.ask(), result(math.nan, status="diverged"))
    strategy.tell(strategy.ask(), result(0.1))
    assert strategy.population[0].accuracy == -math.inf
    for _ in range(10):
        child = strategy.ask()
        assert strategy.last_parent.accuracy > -math.inf
        strategy.tell(child, result(0.2))
    assert all(i.accuracy > 0 for i in strategy.population)


def test_the_same_seed_proposes_the_same_architectures():
    def proposals(seed):
        space = Cell201Space()
        strategy = RegularizedEvolution(space, population_size=5, sample_size=2, seed=seed)
        out = []
        for _ in range(15):
            architecture = strategy.ask()
            strategy.tell(architecture, result(conv_count(architecture)))
            out.append(str(architecture))
        return out

    assert proposals(7) == proposals(7)
    assert proposals(7) != proposals(8)


def test_evolution_climbs_a_smooth_landscape_that_random_search_only_samples():
    space = Cell201Space()
    evaluator = lambda architecture: result(conv_count(architecture))  # noqa: E731
    evolved, sampled = [], []
    for seed in range(10):
        evolved.append(run_search(space, RegularizedEvolution(space, 10, 3, seed=seed), evaluator, 100,
                                  progress=False).best().accuracy)
        sampled.append(run_search(space, RandomSearch(space, seed=seed), evaluator, 100, progress=False).best().accuracy)
    assert statistics.median(evolved) > statistics.median(sampled)
    assert statistics.median(evolved) >= 5 / 6


def test_it_runs_on_the_darts_cell_space_too():
    space = DartsCellSpace(skeleton=Skeleton(cells=5, channels=4))
    strategy = RegularizedEvolution(space, population_size=3, sample_size=2, seed=0)
    for index in range(8):
        architecture = strategy.ask()
        space.validate(architecture)
        strategy.tell(architecture, result(index / 10))
    assert len(strategy.population) == 3


@pytest.mark.parametrize("population, sample", [(0, 1), (5, 0), (5, 6), (2.5, 1)])
def test_bad_sizes_are_refused_clearly(population, sample):
    with pytest.raises(ValueError, match="must be"):
        RegularizedEvolution(Cell201Space(), population_size=population, sample_size=sample)
