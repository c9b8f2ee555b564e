"""Chapter 02's checkers accept their references, call the untouched stub not attempted, and reject plausible
wrong answers; the references agree with the library."""

import math

import pytest

from nascourse.exercises import ch02
from nascourse.exercises.core import FAILED, NOT_ATTEMPTED, PASSED
from nascourse.spaces.darts_genotype import count_cell, loose_ends
from nascourse.spaces.darts_published import PUBLISHED

EXERCISES = [ch02.count_cell_architectures, ch02.loose_ends, ch02.evolution_step]


def stub(*args):
    raise NotImplementedError


@pytest.mark.parametrize("exercise", EXERCISES, ids=lambda e: e.name)
def test_reference_passes_and_stub_is_not_attempted(exercise, capsys):
    assert exercise.evaluate(exercise.reference).status == PASSED
    assert exercise.evaluate(stub).status == NOT_ATTEMPTED
    assert exercise.check(stub) is exercise.reference
    assert "not attempted" in capsys.readouterr().out


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
