"""The strategies chapter 06 adds to the comparison on the benchmark's cells: GeNet through CellCode (a 2-bit code
per edge) and predictor-guided search (SMBO with a ridge-regression surrogate, after PNAS)."""

import itertools
import math

import numpy as np
import pytest

from nascourse.bench import Benchmark, BenchmarkEvaluator
from nascourse.estimation.predictor import RidgeRegression
from nascourse.loop import EvaluationResult, run_search
from nascourse.spaces import Cell201Space, ChainSpace
from nascourse.spaces.genet import GeNetArchitecture
from nascourse.strategies import GeNet, PredictorGuidedSearch, RandomSearch
from nascourse.strategies.genet import CellCode

CHAIN = dict(operations=("conv3x3", "conv1x1", "maxpool3x3"), channel_choices=(4, 8), max_layers=3)


@pytest.fixture(scope="module")
def bench():
    return Benchmark.load()


def ok(accuracy):
    return EvaluationResult(accuracy, 1.0, 1.0, 0)


# ------------------------------------------------------------------------------------------- CellCode
def test_cell_code_is_a_bijection_between_the_benchmarks_cells_and_12_bit_strings(bench):
    space = bench.space
    code = CellCode(space)
    assert len(space.operations) == 4 and code.bits == 2
    cells = list(space.enumerate())
    codes = [code.encode(cell) for cell in cells]
    for cell, encoded in zip(cells, codes):
        assert len(encoded.stages) == 6 and all(len(stage) == 2 for stage in encoded.stages)  # 2 bits x 6 edges
        assert code.decode(encoded) == cell
    assert len({str(c) for c in codes}) == len(cells) == 2 ** 12  # distinct codes: one per cell
    for bits in itertools.product((0, 1), repeat=12):  # every bit string is a cell
        encoded = GeNetArchitecture(tuple(bits[2 * e:2 * e + 2] for e in range(6)))
        assert code.encode(code.decode(encoded)) == encoded


def test_cell_code_writes_each_operations_index_most_significant_bit_first(bench):
    space = bench.space
    code = CellCode(space)
    cell = space.decode("|none~0|+|skip~0|conv3x3~1|+|avgpool3x3~0|none~1|skip~2|")
    assert space.operations == ("none", "skip", "conv3x3", "avgpool3x3")
    assert code.encode(cell).stages == ((0, 0), (0, 1), (1, 0), (1, 1), (0, 0), (0, 1))
    assert code.encode(str(cell)) == code.encode(cell)  # a cell's string is accepted too


def test_cell_code_uses_one_bit_per_edge_for_two_operations():
    space = Cell201Space(operations=("none", "conv3x3"))
    code = CellCode(space)
    assert code.bits == 1
    assert all(code.decode(code.encode(cell)) == cell for cell in space.enumerate())


@pytest.mark.parametrize("space", [Cell201Space(), Cell201Space(operations=("none", "skip", "conv3x3"))],
                         ids=["5 operations", "3 operations"])
def test_cell_code_refuses_a_number_of_operations_that_is_not_a_power_of_two(space):
    with pytest.raises(ValueError, match="power of two"):
        CellCode(space)
    with pytest.raises(ValueError, match="power of two"):
        GeNet(space)


# ------------------------------------------------------------------------------------------- GeNet
def _genet_search(bench, seed, trials=40):
    strategy = GeNet(bench.space, population_size=10, seed=seed)
    history = run_search(bench.space, strategy, BenchmarkEvaluator(bench, rng_seed=seed), trials, progress=False)
    return strategy, history


def test_genet_searches_the_benchmarks_cells(bench):
    strategy, history = _genet_search(bench, seed=0)
    assert len(history) == 40
    for trial in history:
        assert bench.row(trial.architecture) >= 0 and trial.ok  # a cell of the benchmark's space, scored
    assert [len(generation) for generation in strategy.generations] == [10, 10, 10, 10]
    code = CellCode(bench.space)
    assert set(strategy.scores) == {str(code.encode(t.architecture)) for t in history}  # fitness per 12-bit code


def test_genet_on_the_benchmark_is_deterministic_per_seed(bench):
    proposals = [[t.architecture for t in _genet_search(bench, seed)[1]] for seed in (3, 3, 4)]
    assert proposals[0] == proposals[1]
    assert proposals[0] != proposals[2]


def test_genet_without_crossover_or_mutation_only_reselects_and_never_the_worst(bench):
    """With p_C = p_M = 0 a generation is a roulette draw from the previous one: fitness above the worst."""
    space = bench.space
    strategy = GeNet(space, population_size=8, crossover_probability=0.0, mutation_probability=0.0, seed=5)
    evaluator = BenchmarkEvaluator(bench, seed=bench.seeds[0])  # deterministic scores
    history = run_search(space, strategy, evaluator, 16, progress=False)
    first, second = strategy.generations[0], strategy.generations[1]
    worst = min(score for _, score in first)
    assert {code for code, _ in second} <= {code for code, _ in first}
    assert not {code for code, score in first if score == worst} & {code for code, _ in second}
    assert len(history) == 16


def test_genet_still_refuses_a_chain_space():
    with pytest.raises(TypeError, match="GeNetSpace or a Cell201Space"):
        GeNet(ChainSpace(**CHAIN))


# ------------------------------------------------------------------------------------------- predictor-guided
def test_predictor_guided_starts_with_the_same_random_cells_as_random_search(bench):
    space = bench.space
    guided, random_search = PredictorGuidedSearch(space, initial=10, seed=7), RandomSearch(space, seed=7)
    evaluator = BenchmarkEvaluator(bench, rng_seed=7)
    asked = 0
    while len(guided.examples) < 10:  # both draw from one random.Random(seed) through space.sample
        cell = guided.ask()
        assert cell == random_search.ask()
        guided.tell(cell, evaluator(cell))
        asked += 1
    assert asked > 10  # this seed draws two equivalent cells among its first ten: a repeat is not an example
    assert guided.predictor is None  # not fitted yet: the next ask fits it
    guided.ask()
    assert isinstance(guided.predictor, RidgeRegression)


def test_predictor_guided_counts_distinct_cells_as_its_initial_examples(bench):
    """Telling the same cell again is not a new example: the random phase goes on."""
    space = bench.space
    guided, random_search = PredictorGuidedSearch(space, initial=3, seed=1), RandomSearch(space, seed=1)
    first = guided.ask()
    assert first == random_search.ask()
    for accuracy in (0.9, 0.91, 0.92, 0.93):
        guided.tell(first, ok(accuracy))
    assert len(guided.examples) == 1 and guided.examples[space.canonical(first)] == 0.93  # the latest score
    assert guided.ask() == random_search.ask()  # still random


def test_predictor_guided_proposes_unseen_cells_after_its_random_phase(bench):
    space = bench.space
    strategy = PredictorGuidedSearch(space, initial=10, pool=50, seed=2)
    history = run_search(space, strategy, BenchmarkEvaluator(bench, rng_seed=2), 40, progress=False)
    seen = set()
    for trial in history:
        cell = space.canonical(trial.architecture)
        if len(seen) >= strategy.initial:  # the predictor chose this one among unseen cells
            assert cell not in seen
        seen.add(cell)
    assert len(seen) >= 40 - strategy.initial  # at most the random phase repeats a cell


def test_predictor_guided_returns_better_cells_than_random_search_on_average(bench):
    """At 40 trials, the mean (over 20 seeds) test accuracy of the returned cell beats random search's."""
    space = bench.space
    returned = {"random": [], "guided": []}
    for seed in range(20):
        strategies = {"random": RandomSearch(space, seed=seed), "guided": PredictorGuidedSearch(space, seed=seed)}
        for name, strategy in strategies.items():
            history = run_search(space, strategy, BenchmarkEvaluator(bench, rng_seed=seed), 40, progress=False)
            returned[name].append(bench.returned_accuracy(history, split="test"))
    assert np.mean(returned["guided"]) > np.mean(returned["random"])
    assert np.median(returned["guided"]) > np.median(returned["random"])


def test_predictor_guided_refuses_a_space_it_cannot_featurize():
    with pytest.raises(TypeError, match="Cell201Space"):
        PredictorGuidedSearch(ChainSpace(**CHAIN))
    with pytest.raises(ValueError, match="initial >= 2"):
        PredictorGuidedSearch(Cell201Space(), initial=1)


def test_predictor_guided_scores_a_failed_cell_as_the_worst_seen(bench):
    space = bench.space
    strategy = PredictorGuidedSearch(space, initial=2, seed=0)
    cells = [space.decode(a) for a in bench.architectures[:4]]
    strategy.tell(cells[0], EvaluationResult(math.nan, 1.0, 1.0, 0, "diverged"))
    assert strategy.examples[space.canonical(cells[0])] == 0.0  # nothing seen yet: the lowest accuracy
    strategy.tell(cells[1], ok(0.9))
    strategy.tell(cells[2], ok(0.8))
    strategy.tell(cells[3], EvaluationResult(math.nan, 1.0, 1.0, 0, "diverged"))
    assert strategy.examples[space.canonical(cells[3])] == 0.0  # the worst so far is still the first failure


def test_predictor_guided_search_runs_through_failures(bench):
    space = bench.space
    table = BenchmarkEvaluator(bench, rng_seed=0)
    calls = []

    def sometimes_fails(architecture):
        calls.append(architecture)
        if len(calls) % 3 == 0:
            return EvaluationResult(math.nan, 1.0, 1.0, 0, "diverged")
        return table(architecture)

    strategy = PredictorGuidedSearch(space, initial=5, pool=30, seed=0)
    history = run_search(space, strategy, sometimes_fails, 25, progress=False)
    assert len(history) == 25 and sum(not t.ok for t in history) == 8
    assert all(math.isfinite(v) for v in strategy.examples.values())
    assert bench.returned_accuracy(history, split="test") > 0
