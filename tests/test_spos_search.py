"""Specifications of SPOS's search stage (chapter 05): the evolutionary search of Guo et al. (2020, Algorithm 1) on
a trained supernet, and random sampling with shared weights (Bender et al.; Li & Talwalkar) at the same cost."""

from __future__ import annotations

import random
from collections import Counter

import numpy as np
import pytest
import torch

from nascourse.data import load_dataset
from nascourse.spaces.cell201 import EDGES, Cell201Architecture
from nascourse.weight_sharing import (OneShotTrainer, SearchResult, crossover, evolutionary_search,
                                      live_architecture, mutate, random_sampling_search)

OPERATIONS = ("none", "skip", "conv3x3", "avgpool3x3")
WEIGHTS = {(edge, op): w for (edge, op), w in zip([(e, o) for e in range(len(EDGES)) for o in OPERATIONS],
                                                  np.random.default_rng(7).random(len(EDGES) * len(OPERATIONS)))}


def additive(architecture: Cell201Architecture) -> float:
    """A fitness where the edges' choices add up (no dead edges involved: every cell is its own candidate)."""
    return float(sum(WEIGHTS[(edge, op)] for edge, op in enumerate(architecture.operations)))


def identity(architecture):
    return architecture


class Counting:
    """A score function that counts its calls."""

    def __init__(self, score=additive):
        self.score, self.calls = score, []

    def __call__(self, architecture):
        self.calls.append(architecture)
        return self.score(architecture)


def cell(*operations: str) -> Cell201Architecture:
    return Cell201Architecture(tuple(operations))


# --- what the search returns and what it costs -------------------------------------------------------------


def test_evolution_returns_the_best_scoring_candidate_it_scored():
    result = evolutionary_search(additive, OPERATIONS, population=8, top_k=3, generations=4, key=identity, seed=1)
    assert result.best_score == max(result.scores)
    assert additive(result.best) == result.best_score
    assert result.best == result.top_k[-1][0]  # the best of Topk is the best seen


def test_the_best_seen_is_the_first_of_several_equal_scores():
    result = evolutionary_search(lambda a: 0.5, OPERATIONS, population=4, top_k=2, generations=3, key=identity)
    assert result.best == result.architectures[0] and result.best_index(5) == 0


def test_evolution_spends_exactly_population_times_generations_evaluations():
    score = Counting()
    result = evolutionary_search(score, OPERATIONS, population=10, top_k=3, generations=5, key=identity, seed=0)
    assert len(score.calls) == result.evaluations == 50
    assert result.generations == [10] * 5  # every generation is a full population
    assert result.generation_scores(0) == result.scores[:10] and result.generation_scores(-1) == result.scores[40:]


def test_random_sampling_spends_exactly_the_evaluations_it_is_given_and_returns_the_best():
    score = Counting()
    result = random_sampling_search(score, OPERATIONS, evaluations=37, key=identity, seed=3)
    assert len(score.calls) == result.evaluations == 37 and result.generations == [37]
    assert set(result.origins) == {"random"}
    assert result.best_score == max(additive(a) for a in score.calls)


def test_no_candidate_is_scored_twice():
    for result in (evolutionary_search(additive, OPERATIONS, population=20, top_k=5, generations=10, key=identity),
                   random_sampling_search(additive, OPERATIONS, evaluations=200, key=identity)):
        assert len(set(result.architectures)) == result.evaluations


def test_by_default_cells_that_run_the_same_path_are_one_candidate():
    # edges out of a node that receives nothing are switched off: such cells score identically in the supernet
    result = random_sampling_search(additive, OPERATIONS, evaluations=300, seed=0)
    assert len({live_architecture(a) for a in result.architectures}) == 300
    dead = cell("none", "conv3x3", "skip", "conv3x3", "conv3x3", "conv3x3")  # node 1 receives nothing
    assert live_architecture(dead) == cell("none", "conv3x3", "none", "conv3x3", "none", "conv3x3")


def test_best_index_looks_only_at_the_first_evaluations():
    result = SearchResult("test", architectures=[cell(*OPERATIONS[:2] * 3)] * 3, scores=[0.2, 0.1, 0.9])
    assert result.best_index(2) == 0 and result.best_index() == 2 and result.best_score == 0.9
    with pytest.raises(ValueError, match="1 to 3"):
        result.best_index(4)
    assert result.running_best() == [0, 0, 2]
    search = random_sampling_search(additive, OPERATIONS, 60, seed=1)
    assert search.running_best() == [search.best_index(n) for n in range(1, 61)]


# --- Algorithm 1: population, Topk, crossover and mutation --------------------------------------------------


def test_topk_holds_the_k_best_candidates_seen_after_each_generation():
    population, k = 12, 4
    result = evolutionary_search(additive, OPERATIONS, population=population, top_k=k, generations=6, key=identity,
                                 seed=2)
    assert len(result.top_k) == 6
    for generation, top in enumerate(result.top_k):
        seen = (generation + 1) * population
        ranked = sorted(range(seen), key=lambda i: (-result.scores[i], i))[:k]
        assert top == [result.architectures[i] for i in ranked]


def test_first_generation_is_random_and_later_ones_are_half_crossover_half_mutation_of_topk():
    population = 10
    result = evolutionary_search(additive, OPERATIONS, population=population, top_k=3, generations=5, key=identity,
                                 seed=4)
    origins = [result.origins[g * population:(g + 1) * population] for g in range(5)]
    assert set(origins[0]) == {"random"}
    for generation in range(1, 5):
        counts = Counter(origins[generation])
        assert counts["crossover"] <= population // 2 and counts["mutation"] <= population - population // 2
        parents = result.top_k[generation - 1]
        for i in range(generation * population, (generation + 1) * population):
            if result.origins[i] == "crossover":  # every choice comes from one of two parents in Topk
                child = result.architectures[i].operations
                assert any(all(c in (a, b) for c, a, b in zip(child, p.operations, q.operations))
                           for p in parents for q in parents if p != q)
    # on this space few children are duplicates: most of each later generation is bred, not topped up at random
    assert Counter(result.origins[population:])["random"] < 2 * population


def test_mutation_redraws_each_choice_with_the_given_probability():
    rng, parent, probability, draws = random.Random(0), cell(*("conv3x3",) * 6), 0.3, 20000
    changed = np.array([[op != "conv3x3" for op in mutate(parent, OPERATIONS, probability, rng).operations]
                        for _ in range(draws)])  # (draws, edges)
    # a redraw is uniform over the 4 operations, so it changes the edge 3 times in 4
    expected = probability * 3 / 4
    assert np.abs(changed.mean(axis=0) - expected).max() < 4 * np.sqrt(expected * (1 - expected) / draws)
    # edges are redrawn independently: two edges change together as often as chance says
    together = (changed[:, 0] & changed[:, 1]).mean()
    assert abs(together - expected ** 2) < 4 * np.sqrt(expected ** 2 / draws)
    # probability 1: every edge is a fresh uniform draw
    fresh = Counter(op for _ in range(8000) for op in mutate(parent, OPERATIONS, 1.0, rng).operations)
    assert all(abs(fresh[op] / 48000 - 0.25) < 0.01 for op in OPERATIONS)


def test_crossover_takes_each_choice_from_one_of_the_parents_at_random():
    rng = random.Random(1)
    a, b = cell(*("conv3x3",) * 6), cell("skip", "conv3x3", "none", "avgpool3x3", "skip", "none")
    children = [crossover(a, b, rng) for _ in range(8000)]
    for child in children:
        assert all(c in (x, y) for c, x, y in zip(child.operations, a.operations, b.operations))
    from_a = np.array([[c == x for c, x in zip(child.operations, a.operations)] for child in children])
    differing = [e for e in range(len(EDGES)) if a.operations[e] != b.operations[e]]
    assert np.abs(from_a[:, differing].mean(axis=0) - 0.5).max() < 4 * np.sqrt(0.25 / 8000)
    assert from_a[:, 1].all()  # where the parents agree, so does the child


def test_a_seed_repeats_a_search_exactly():
    def run(search, seed):
        result = search(seed)
        return result.architectures, result.scores, result.origins

    ea = lambda seed: evolutionary_search(additive, OPERATIONS, population=10, top_k=3, generations=4, seed=seed)
    rs = lambda seed: random_sampling_search(additive, OPERATIONS, evaluations=40, seed=seed)
    for search in (ea, rs):
        assert run(search, 5) == run(search, 5)
        assert run(search, 5)[0] != run(search, 6)[0]


def test_with_the_same_seed_evolution_starts_from_random_samplings_first_candidates():
    ea = evolutionary_search(additive, OPERATIONS, population=10, top_k=3, generations=3, seed=8)
    rs = random_sampling_search(additive, OPERATIONS, 30, seed=8)
    assert ea.architectures[:10] == rs.architectures[:10] and ea.architectures[10:] != rs.architectures[10:]


def test_a_search_leaves_the_global_random_state_alone():
    random.seed(0)
    expected = random.random()
    random.seed(0)
    evolutionary_search(additive, OPERATIONS, population=6, top_k=2, generations=2)
    assert random.random() == expected


def test_candidates_outside_the_constraint_are_never_scored():
    few_convolutions = lambda a: a.operations.count("conv3x3") <= 2  # SPOS constrains FLOPs; this counts convolutions
    for search in (lambda s: evolutionary_search(s, OPERATIONS, population=10, top_k=3, generations=5,
                                                 constraint=few_convolutions, key=identity),
                   lambda s: random_sampling_search(s, OPERATIONS, 50, constraint=few_convolutions, key=identity)):
        score = Counting()
        result = search(score)
        assert result.evaluations == 50 and all(few_convolutions(a) for a in score.calls)


def test_a_space_too_small_for_the_evaluations_is_reported():
    only_two = lambda a: set(a.operations) <= {"conv3x3"} or set(a.operations) <= {"skip"}
    with pytest.raises(RuntimeError, match="too small"):
        random_sampling_search(additive, OPERATIONS, 3, constraint=only_two, key=identity)
    with pytest.raises(RuntimeError, match="too small"):
        evolutionary_search(additive, OPERATIONS, population=2, top_k=2, generations=2, constraint=only_two,
                            key=identity)


@pytest.mark.parametrize("arguments, message", [
    ({"population": 1}, "at least 2"), ({"population": 0}, "positive integer"), ({"generations": 0}, "positive"),
    ({"top_k": 1}, "between 2"), ({"top_k": 11}, "between 2"), ({"population": 2.5}, "positive integer"),
    ({"mutation_probability": 0.0}, r"\(0, 1\]"), ({"mutation_probability": 1.5}, r"\(0, 1\]"),
])
def test_bad_arguments_give_clear_errors(arguments, message):
    settings = {"population": 10, "top_k": 3, "generations": 2, **arguments}
    with pytest.raises(ValueError, match=message):
        evolutionary_search(additive, OPERATIONS, **settings)


def test_bad_operations_and_evaluations_give_clear_errors():
    with pytest.raises(ValueError, match="two distinct"):
        evolutionary_search(additive, ("conv3x3",))
    with pytest.raises(ValueError, match="two distinct"):
        random_sampling_search(additive, ("skip", "skip"), 5)
    for evaluations in (0, 2.0, True):
        with pytest.raises(ValueError, match="positive integer"):
            random_sampling_search(additive, OPERATIONS, evaluations)


# --- what evolution is for -------------------------------------------------------------------------------------


def test_on_an_additive_fitness_evolution_beats_random_sampling_at_equal_cost():
    # the setting crossover and mutation are built for: good choices combine. 50 evaluations of 4,096 cells.
    ea = [evolutionary_search(additive, OPERATIONS, population=10, top_k=3, generations=5, key=identity,
                              seed=s).best_score for s in range(20)]
    rs = [random_sampling_search(additive, OPERATIONS, 50, key=identity, seed=s).best_score for s in range(20)]
    best = additive(cell(*(max(OPERATIONS, key=lambda op: WEIGHTS[(e, op)]) for e in range(len(EDGES)))))
    assert np.mean(np.array(ea) > np.array(rs)) > 0.7
    assert np.mean(best - np.array(ea)) < 0.5 * np.mean(best - np.array(rs))


def test_evolution_searches_a_trained_supernet_with_its_shared_weights():
    torch.set_num_threads(1)
    trainer = OneShotTrainer(load_dataset("digits"), epochs=1, seed=0)
    trainer.train(steps=5)
    result = evolutionary_search(trainer.score, trainer.supernet.operations, population=4, top_k=2, generations=2,
                                 seed=0)
    assert result.evaluations == 8 and result.best_score == trainer.score(result.best) == max(result.scores)
