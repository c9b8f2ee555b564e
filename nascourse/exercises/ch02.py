"""Exercises of chapter 02, "Modular search": reference solutions and their checks.

Read the references only after trying: they are the answers.
"""

from __future__ import annotations

import math
from typing import Any, Callable

from .core import Case, Exercise

__all__ = ["count_cell_architectures", "loose_ends", "evolution_step", "aging_evolution"]


# 1. The size of a DARTS cell space -------------------------------------------------------------------
def _count_cell_architectures(nodes: int, operations: int) -> int:
    total = 1
    for i in range(nodes):  # node i reads two different nodes among the i + 2 before it
        total *= math.comb(i + 2, 2) * operations**2
    return total


count_cell_architectures = Exercise(
    "count_cell_architectures",
    _count_cell_architectures,
    [
        Case("one node, one operation", (1, 1)),
        Case("two nodes, two operations", (2, 2)),
        Case("three nodes, three operations", (3, 3)),
        Case("DARTS's cell: four nodes, seven operations", (4, 7)),
    ],
    hint="Node i (counting from 0) chooses two *different* inputs among the i + 2 nodes before it; the order of the "
    "two does not matter (the node adds them), so that is C(i + 2, 2) pairs, and each of the two edges chooses "
    "an operation. Multiply over the nodes.",
)


# 2. What a NASNet cell outputs -------------------------------------------------------------------------
def _loose_ends(edges: list[tuple[str, int]]) -> tuple[int, ...]:
    read = {source for _, source in edges}
    return tuple(node for node in range(2, len(edges) // 2 + 2) if node not in read)


loose_ends = Exercise(
    "loose_ends",
    _loose_ends,
    [
        Case("a cell whose nodes read only the inputs", ([("sep_conv_3x3", 0), ("skip_connect", 1),
                                                          ("avg_pool_3x3", 1), ("sep_conv_5x5", 0)],)),
        Case("NASNet-A's reduction cell", ([("sep_conv_5x5", 1), ("sep_conv_7x7", 0), ("max_pool_3x3", 1),
                                            ("sep_conv_7x7", 0), ("avg_pool_3x3", 1), ("sep_conv_5x5", 0),
                                            ("skip_connect", 3), ("avg_pool_3x3", 2), ("sep_conv_3x3", 2),
                                            ("max_pool_3x3", 1)],)),
        Case("AmoebaNet-A's reduction cell", ([("avg_pool_3x3", 0), ("sep_conv_3x3", 1), ("max_pool_3x3", 0),
                                               ("sep_conv_7x7", 2), ("sep_conv_7x7", 0), ("avg_pool_3x3", 1),
                                               ("max_pool_3x3", 0), ("max_pool_3x3", 1), ("conv_7x1_1x7", 0),
                                               ("sep_conv_3x3", 5)],)),
        Case("a cell that never reads its input c_{k-2}", ([("sep_conv_3x3", 1), ("skip_connect", 1),
                                                             ("avg_pool_3x3", 2), ("sep_conv_5x5", 1)],)),
        Case("a chain: every node reads the one before", ([("skip_connect", 0), ("sep_conv_3x3", 1),
                                                          ("sep_conv_3x3", 2), ("skip_connect", 1),
                                                          ("sep_conv_3x3", 3), ("skip_connect", 0)],)),
    ],
    hint="The intermediate nodes are numbered 2, 3, ..., B + 1 (B = len(edges) // 2); 0 and 1 are the cell's inputs "
    "and never part of the output. Return, in increasing order, the intermediate nodes that no edge reads.",
)


# 3. One step of aging evolution -------------------------------------------------------------------------
def _evolution_step(population: list[tuple[Any, float]], sample_indices: list[int], mutate: Callable[[Any], Any],
                    evaluate: Callable[[Any], float], population_size: int) -> list[tuple[Any, float]]:
    parent = max((population[i] for i in sample_indices), key=lambda member: member[1])  # first on ties
    child = mutate(parent[0])
    grown = list(population) + [(child, evaluate(child))]
    return grown[1:] if len(grown) > population_size else grown  # the oldest dies


def _step_case(population: list[tuple[str, float]], sample: list[int], size: int) -> Callable[[], tuple]:
    scores = {"A": 0.50, "B": 0.90, "C": 0.70, "D": 0.60, "E": 0.95}

    def make() -> tuple:
        return (list(population), list(sample), lambda architecture: architecture + "*",
                lambda architecture: scores.get(architecture.rstrip("*"), 0.0) + 0.01 * architecture.count("*"),
                size)

    return make


_FULL = [("A", 0.50), ("B", 0.90), ("C", 0.70), ("D", 0.60)]  # oldest first

evolution_step = Exercise(
    "evolution_step",
    _evolution_step,
    [
        Case("a full population: the child joins, the oldest (A) dies", _step_case(_FULL, [2, 3], 4)),
        Case("the best of the whole population (B) is not in the sample", _step_case(_FULL, [0, 2], 4)),
        Case("the oldest is the best: it dies anyway", _step_case([("E", 0.95), ("A", 0.50), ("C", 0.70)], [1, 2], 3)),
        Case("a population not yet full: nobody dies", _step_case([("A", 0.50), ("C", 0.70)], [0, 1], 4)),
        Case("a sample that draws the same member twice", _step_case(_FULL, [3, 3, 0], 4)),
    ],
    hint="Population members are (architecture, accuracy) pairs, oldest first. The parent is the most accurate member "
    "*among population[i] for i in sample_indices* (not of the whole population); the child is mutate(parent's "
    "architecture), scored by evaluate(child). Append (child, accuracy) at the young end; if the population is then "
    "larger than population_size, remove the OLDEST (the first), whatever its accuracy.",
)


# 4. The whole search: AmoebaNet's Algorithm 1 ----------------------------------------------------------
def _aging_evolution(sample: Callable[[], Any], mutate: Callable[[Any], Any], evaluate: Callable[[Any], float],
                     tournament: Callable[[int], list[int]], trials: int,
                     population_size: int) -> list[tuple[Any, float]]:
    history: list[tuple[Any, float]] = []  # every evaluated (architecture, accuracy), in order
    population: list[tuple[Any, float]] = []
    for _ in range(trials):
        if len(history) < population_size:  # the initial population: random architectures
            architecture = sample()
            population.append((architecture, evaluate(architecture)))
        else:  # a cycle: tournament, mutation, the oldest dies
            population = _evolution_step(population, tournament(len(population)), mutate, evaluate, population_size)
        history.append(population[-1])  # the newest member is the one just evaluated
    return history


def _search_case(trials: int, size: int, draws: list[list[int]]) -> Callable[[], tuple]:
    """Arguments for one case: a sampler of fresh random architectures R0, R1, ..., a mutation that appends '*',
    scores that reward the stars, and a tournament that returns ``draws`` in turn."""
    scores = {"R0": 0.50, "R1": 0.90, "R2": 0.70, "R3": 0.60, "R4": 0.95}

    def make() -> tuple:
        fresh, tournaments = iter(f"R{i}" for i in range(100)), iter(draws)
        return (lambda: next(fresh), lambda architecture: architecture + "*",
                lambda architecture: scores.get(architecture.rstrip("*"), 0.3) + 0.01 * architecture.count("*"),
                lambda members: next(tournaments), trials, size)

    return make


aging_evolution = Exercise(
    "aging_evolution",
    _aging_evolution,
    [
        Case("P = 3 random architectures, then three cycles", _search_case(6, 3, [[0, 1], [1, 2], [2, 2]])),
        Case("the best (R1) ages out and the population forgets it", _search_case(8, 3, [[0, 2], [2, 2], [0, 0],
                                                                                          [1, 2], [0, 1]])),
        Case("a budget smaller than the population: random search", _search_case(2, 4, [])),
        Case("a population of one: each child replaces its parent", _search_case(4, 1, [[0], [0], [0]])),
        Case("P = 4, S = 3: tournaments that draw the same member twice",
             _search_case(9, 4, [[3, 3, 0], [1, 0, 1], [2, 2, 2], [0, 3, 1], [1, 1, 1]])),
    ],
    hint="Return the list of every architecture evaluated, as (architecture, accuracy) in the order evaluated: exactly "
    "`trials` entries, the random ones included. The first population_size trials build the population from sample() "
    "(no tournament yet). Every later trial is one cycle: population = evolution_step(population, "
    "tournament(len(population)), mutate, evaluate, population_size) -- your exercise 3 -- and the child it "
    "evaluated is the population's last member.",
)
