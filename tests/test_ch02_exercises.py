"""Chapter 02's checkers accept their references, call the untouched stub not attempted, and reject plausible
wrong answers; the references agree with the library."""

import math

import pytest

from nascourse.exercises import ch02
from nascourse.exercises.core import FAILED
from nascourse.spaces.darts_genotype import count_cell, loose_ends
from nascourse.spaces.darts_published import PUBLISHED




def ordered_pairs(nodes, operations):
    return math.prod((i + 2) * (i + 1) * operations**2 for i in range(nodes))


def inputs_may_repeat(nodes, operations):
    return math.prod((i + 2) ** 2 * operations**2 for i in range(nodes))


def one_operation_per_node(nodes, operations):
    return math.prod(math.comb(i + 2, 2) * operations for i in range(nodes))


def includes_unread_inputs(edges):
    read = {source for _, source in edges}
    return tuple(node for node in range(len(edges) // 2 + 2) if node not in read)


def the_read_nodes(edges):
    return tuple(sorted({source for _, source in edges if source >= 2}))


def removes_the_worst(population, sample_indices, mutate, evaluate, population_size):
    parent = max((population[i] for i in sample_indices), key=lambda m: m[1])
    child = mutate(parent[0])
    grown = list(population) + [(child, evaluate(child))]
    if len(grown) > population_size:
        grown.remove(min(grown, key=lambda m: m[1]))
    return grown


def best_of_everyone(population, sample_indices, mutate, evaluate, population_size):
    parent = max(population, key=lambda m: m[1])
    child = mutate(parent[0])
    grown = list(population) + [(child, evaluate(child))]
    return grown[1:] if len(grown) > population_size else grown


def never_removes(population, sample_indices, mutate, evaluate, population_size):
    parent = max((population[i] for i in sample_indices), key=lambda m: m[1])
    child = mutate(parent[0])
    return list(population) + [(child, evaluate(child))]


@pytest.mark.parametrize(
    "exercise, wrong",
    [
        (ch02.count_cell_architectures, ordered_pairs),
        (ch02.count_cell_architectures, inputs_may_repeat),
        (ch02.count_cell_architectures, one_operation_per_node),
        (ch02.loose_ends, includes_unread_inputs),
        (ch02.loose_ends, the_read_nodes),
        (ch02.evolution_step, removes_the_worst),
        (ch02.evolution_step, best_of_everyone),
        (ch02.evolution_step, never_removes),
    ],
    ids=lambda x: getattr(x, "name", getattr(x, "__name__", "")),
)
def test_plausible_wrong_answers_are_rejected_with_a_hint(exercise, wrong):
    result = exercise.evaluate(wrong)
    assert result.status == FAILED and "hint:" in result.message


def test_count_reference_agrees_with_the_library():
    for nodes in range(1, 5):
        for operations in range(1, 8):
            assert ch02.count_cell_architectures.reference(nodes, operations) == count_cell(nodes, operations)


def test_loose_ends_reference_agrees_with_the_library_on_published_cells():
    for entry in PUBLISHED.values():
        for kind in ("normal", "reduce"):
            edges = list(entry.genotype.cell(kind)[0])
            assert ch02.loose_ends.reference(edges) == loose_ends(edges)


# ------------------------------------------------------------------------------ exercise 4: the whole search
def no_random_start(sample, mutate, evaluate, tournament, trials, population_size):
    """Starts the tournaments as soon as the population has one member."""
    first = sample()
    population = [(first, evaluate(first))]
    history = list(population)
    for _ in range(trials - 1):
        population = ch02.evolution_step.reference(population, tournament(len(population)), mutate, evaluate,
                                                   population_size)
        history.append(population[-1])
    return history


def returns_the_final_population(sample, mutate, evaluate, tournament, trials, population_size):
    population = []
    for t in range(trials):
        if t < population_size:
            architecture = sample()
            population.append((architecture, evaluate(architecture)))
        else:
            population = ch02.evolution_step.reference(population, tournament(len(population)), mutate, evaluate,
                                                       population_size)
    return population


def trials_count_only_the_cycles(sample, mutate, evaluate, tournament, trials, population_size):
    history = [(a, evaluate(a)) for a in (sample() for _ in range(population_size))]
    population = list(history)
    for _ in range(trials):
        population = ch02.evolution_step.reference(population, tournament(len(population)), mutate, evaluate,
                                                   population_size)
        history.append(population[-1])
    return history


def records_the_parent(sample, mutate, evaluate, tournament, trials, population_size):
    history, population = [], []
    for t in range(trials):
        if t < population_size:
            architecture = sample()
            population.append((architecture, evaluate(architecture)))
            history.append(population[-1])
        else:
            indices = tournament(len(population))
            history.append(max((population[i] for i in indices), key=lambda m: m[1]))
            population = ch02.evolution_step.reference(population, indices, mutate, evaluate, population_size)
    return history


def removes_the_worst_in_the_search(sample, mutate, evaluate, tournament, trials, population_size):
    history, population = [], []
    for t in range(trials):
        if t < population_size:
            architecture = sample()
            population.append((architecture, evaluate(architecture)))
        else:
            population = removes_the_worst(population, tournament(len(population)), mutate, evaluate,
                                           population_size)
        history.append(population[-1])
    return history


@pytest.mark.parametrize("wrong", [no_random_start, returns_the_final_population, trials_count_only_the_cycles,
                                   records_the_parent, removes_the_worst_in_the_search], ids=lambda f: f.__name__)
def test_aging_evolution_rejects_plausible_wrong_searches(wrong):
    result = ch02.aging_evolution.evaluate(wrong)
    assert result.status == FAILED and "hint:" in result.message


def test_aging_evolution_reference_proposes_what_the_library_proposes():
    """With one seeded rng drawn in the library's order (sample, S tournament draws, mutate), the reference search
    evaluates exactly the architectures that RegularizedEvolution proposes through run_search."""
    import random

    from nascourse.bench import Benchmark, BenchmarkEvaluator
    from nascourse.loop import run_search
    from nascourse.strategies import RegularizedEvolution

    bench = Benchmark.load()
    space = bench.space
    for seed in range(3):
        rng, evaluator = random.Random(seed), BenchmarkEvaluator(bench, rng_seed=seed)
        mine = ch02.aging_evolution.reference(lambda: space.sample(rng), lambda a: space.mutate(a, rng),
                                              lambda a: evaluator(a).accuracy,
                                              lambda members: [rng.randrange(members) for _ in range(5)], 60, 20)
        library = run_search(space, RegularizedEvolution(space, population_size=20, sample_size=5, seed=seed),
                             BenchmarkEvaluator(bench, rng_seed=seed), trials=60, progress=False)
        assert [space.encode(a) for a, _ in mine] == [t.architecture for t in library]
