"""SPOS's search stage: evolution on a trained supernet, and random sampling at the same scoring cost.

Single Path One-Shot (Guo et al., "Single Path One-Shot Neural Architecture Search with Uniform Sampling",
ECCV 2020) has two stages. The first trains the supernet's weights on uniformly sampled single paths
(``spos.OneShotTrainer``). The second searches the trained supernet, its weights fixed:

    a* = argmax_{a in A} ACC_val(N(a, W_A(a)))    subject to the constraints C,

where ``ACC_val(N(a, W_A(a)))`` is the path's validation accuracy with the weights it inherits, after BatchNorm
statistics are recalculated for the path (``OneShotTrainer.score``). Their Algorithm 1 is an evolutionary search:

* ``P_0``: a population of ``P`` random candidates that satisfy the constraints ``C``;
* each generation scores its population and updates ``Topk``, the ``k`` best candidates *seen so far*;
* the next population: ``n = P/2`` children by **crossover** (two different parents drawn from ``Topk``; each choice
  taken from one of them, at random) and ``m = P/2`` by **mutation** (a parent drawn from ``Topk``; each choice
  redrawn uniformly with probability ``prob = 0.1``, so the redraw may return the same option);
* a child that violates ``C`` is rejected, and so is one seen before (the paper's code keeps a visited set and
  scores every candidate once); a generation that cannot be filled that way within ten tries per child is
  topped up with random candidates, as in the paper's code;
* after ``T`` generations, return the best candidate of ``Topk``: the best-scoring one the search has seen.

The paper's settings: ``P = 50``, ``k = 10``, ``T = 20``, ``prob = 0.1`` (1,000 candidates scored), on a space of
4^20 paths with a FLOPs constraint. The course's cell space has 4^6 = 4,096 paths (2,980 distinct ones once dead
edges are switched off, ``live_architecture``), so its chapter scales the numbers down.

``random_sampling_search`` is the search SPOS replaced: score ``N`` uniformly sampled candidates with the shared
weights and keep the best, which is how Bender et al. (2018, "Understanding and Simplifying One-Shot Architecture
Search") and Li & Talwalkar (2019, "Random Search and Reproducibility for NAS", random search with weight sharing)
chose their architectures. Both searches count one evaluation per candidate scored, so they can be compared at
equal cost: ``evolutionary_search`` spends exactly ``P * T`` evaluations, ``random_sampling_search`` the ``N`` it is
given.

Candidates are the cell space's architectures (``Cell201Architecture``: one operation per edge, the paper's
"choice" per block). ``key`` says when two candidates are the same: by default two cells that run the same path in
the supernet (``live_architecture``: edges out of a node that receives nothing are ``none``), which score
identically, so scoring both would waste an evaluation.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any, Callable, Hashable, Sequence

from ..spaces.cell201 import EDGES, Cell201Architecture
from .one_shot import live_architecture

__all__ = ["SearchResult", "mutate", "crossover", "evolutionary_search", "random_sampling_search"]

Score = Callable[[Cell201Architecture], float]
Constraint = Callable[[Cell201Architecture], bool]
Key = Callable[[Cell201Architecture], Hashable]

TRIES_PER_CHILD = 10  # the paper's code: at most 10 tries per child wanted from crossover or mutation
TRIES_PER_RANDOM = 1000  # random candidates: give up (and say so) after this many tries per candidate wanted


def mutate(parent: Cell201Architecture, operations: Sequence[str], probability: float,
           rng: random.Random) -> Cell201Architecture:
    """SPOS's mutation: each edge's operation is redrawn uniformly from ``operations`` with ``probability``.

    A redraw may return the operation the edge had, so an edge changes with probability
    ``probability * (m - 1) / m`` for ``m`` operations (as in the paper's code)."""
    return Cell201Architecture(tuple(rng.choice(operations) if rng.random() < probability else op
                                     for op in parent.operations))


def crossover(parent_a: Cell201Architecture, parent_b: Cell201Architecture,
              rng: random.Random) -> Cell201Architecture:
    """SPOS's crossover: each edge's operation is taken from one of the two parents, each with probability 1/2."""
    return Cell201Architecture(tuple(a if rng.random() < 0.5 else b
                                     for a, b in zip(parent_a.operations, parent_b.operations)))


@dataclass
class SearchResult:
    """What a search on the supernet scored, in order, and what it returns.

    ``architectures[i]`` was the i-th candidate scored, ``scores[i]`` its score (one evaluation each);
    ``origins[i]`` how it was made (``"random"``, ``"crossover"`` or ``"mutation"``); ``generations[g]`` the number
    of candidates scored in generation ``g`` (random sampling: one generation); ``top_k[g]`` the candidates kept
    after generation ``g`` (best first; evolution only)."""

    method: str
    architectures: list[Cell201Architecture] = field(default_factory=list)
    scores: list[float] = field(default_factory=list)
    origins: list[str] = field(default_factory=list)
    generations: list[int] = field(default_factory=list)
    top_k: list[list[Cell201Architecture]] = field(default_factory=list)

    @property
    def evaluations(self) -> int:
        """Candidates scored with the supernet: the search's cost."""
        return len(self.scores)

    def best_index(self, evaluations: int | None = None) -> int:
        """Index of the best-scoring candidate among the first ``evaluations`` (default: all; ties: the first)."""
        n = self.evaluations if evaluations is None else evaluations
        if not 1 <= n <= self.evaluations:
            raise ValueError(f"Ask about 1 to {self.evaluations} evaluations, got {n}.")
        return max(range(n), key=lambda i: (self.scores[i], -i))

    def running_best(self) -> list[int]:
        """For each n = 1, 2, ..., evaluations: the index of the best candidate among the first n (what the search
        would return had it stopped there; ties: the first)."""
        best, indices = 0, []
        for i, score in enumerate(self.scores):
            if score > self.scores[best]:
                best = i
            indices.append(best)
        return indices

    def generation_scores(self, generation: int) -> list[float]:
        """The scores of the candidates scored in ``generation`` (0: the first; -1: the last)."""
        ends = [sum(self.generations[:g + 1]) for g in range(len(self.generations))]
        end = ends[generation]
        return self.scores[end - self.generations[generation]:end]

    @property
    def best(self) -> Cell201Architecture:
        """The candidate the search returns: the best-scoring one it has seen."""
        return self.architectures[self.best_index()]

    @property
    def best_score(self) -> float:
        return self.scores[self.best_index()]


class _Scorer:
    """Scores candidates once each (by ``key``), after checking the constraint, and records them."""

    def __init__(self, score: Score, constraint: Constraint | None, key: Key | None, result: SearchResult):
        self.score, self.constraint, self.key, self.result = score, constraint, key or live_architecture, result
        self.seen: set = set()

    def is_new(self, candidate: Cell201Architecture, pending: set) -> bool:
        """Legal (within the constraint) and neither scored nor already chosen for this generation."""
        key = self.key(candidate)
        if key in self.seen or key in pending:
            return False
        return self.constraint is None or bool(self.constraint(candidate))

    def evaluate(self, candidates: Sequence[tuple[Cell201Architecture, str]]) -> None:
        """Score each (candidate, origin), in order: one evaluation each."""
        for candidate, origin in candidates:
            self.seen.add(self.key(candidate))
            self.result.architectures.append(candidate)
            self.result.scores.append(float(self.score(candidate)))
            self.result.origins.append(origin)
        self.result.generations.append(len(candidates))


def _fill(children: list, wanted: int, make: Callable[[], Cell201Architecture], origin: str, tries: int,
          scorer: _Scorer) -> None:
    """Append to ``children`` up to ``wanted`` (candidate, origin) pairs, new and legal, within ``tries`` calls of
    ``make``."""
    pending = {scorer.key(child) for child, _ in children}
    goal = len(children) + wanted
    for _ in range(tries):
        if len(children) >= goal:
            return
        candidate = make()
        if scorer.is_new(candidate, pending):
            children.append((candidate, origin))
            pending.add(scorer.key(candidate))


def _random_candidates(children: list, wanted: int, operations: Sequence[str], rng: random.Random,
                       scorer: _Scorer) -> None:
    """Top ``children`` up with ``wanted`` new legal candidates drawn uniformly, or say why it cannot."""
    goal = len(children) + wanted
    _fill(children, wanted, lambda: Cell201Architecture(tuple(rng.choice(operations) for _ in EDGES)), "random",
          TRIES_PER_RANDOM * max(wanted, 1), scorer)
    if len(children) < goal:
        raise RuntimeError(f"Found only {len(children)} of {goal} new candidates that satisfy the constraint after "
                           f"{TRIES_PER_RANDOM * wanted} random draws ({len(scorer.seen)} scored before): the space, "
                           "or its part within the constraint, is too small for this many evaluations.")


def _check_operations(operations: Sequence[str]) -> tuple[str, ...]:
    operations = tuple(operations)
    if len(operations) < 2 or len(set(operations)) != len(operations):
        raise ValueError(f"operations: at least two distinct options per edge, got {operations}.")
    return operations


def _check_settings(operations, population, top_k, generations, mutation_probability) -> tuple[str, ...]:
    for name, value in (("population", population), ("generations", generations), ("top_k", top_k)):
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise ValueError(f"{name} must be a positive integer, got {value!r}.")
    if population < 2:
        raise ValueError(f"population must be at least 2 (half crossover, half mutation), got {population}.")
    if not 2 <= top_k <= population:
        raise ValueError(f"top_k must lie between 2 (crossover needs two parents) and the population ({population}), "
                         f"got {top_k}.")
    if not 0 < mutation_probability <= 1:
        raise ValueError(f"mutation_probability must lie in (0, 1], got {mutation_probability!r}.")
    return _check_operations(operations)


def evolutionary_search(score: Score, operations: Sequence[str], population: int = 50, top_k: int = 10,
                        generations: int = 20, mutation_probability: float = 0.1, constraint: Constraint | None = None,
                        key: Key | None = None, seed: int = 0) -> SearchResult:
    """SPOS's evolutionary search (Guo et al. 2020, Algorithm 1): ``population * generations`` evaluations exactly.

    ``score(a)``: the fitness, ``ACC_val(N(a, W_A(a)))`` (e.g. ``OneShotTrainer.score``), higher is better;
    ``operations``: the options of every edge; ``population`` (P), ``top_k`` (k), ``generations`` (T) and
    ``mutation_probability`` (prob) as in the paper, whose values are the defaults; ``constraint(a)``: False rejects
    ``a`` before it is scored (the paper's C, there a FLOPs range); ``key(a)``: candidates with the same key are one
    candidate (default: the same path, ``live_architecture``). All randomness comes from ``seed``.
    """
    operations = _check_settings(operations, population, top_k, generations, mutation_probability)
    rng = random.Random(seed)
    result = SearchResult("SPOS (uniform sampling + evolutionary search)")
    scorer = _Scorer(score, constraint, key, result)
    current: list[tuple[Cell201Architecture, str]] = []  # (candidate, how it was made)
    _random_candidates(current, population, operations, rng, scorer)  # P_0
    top: list[int] = []  # Topk, as indices into result's lists
    for generation in range(generations):
        start = result.evaluations
        scorer.evaluate(current)  # ACC_{i-1} := Inference(W_A, D_val, P_{i-1})
        # Update_Topk: the k best of the previous Topk and the generation just scored (ties: scored first)
        top = sorted(top + list(range(start, result.evaluations)), key=lambda i: (-result.scores[i], i))[:top_k]
        parents = [result.architectures[i] for i in top]
        result.top_k.append(parents)
        if generation == generations - 1:
            break
        n_crossover = population // 2  # n = P/2
        n_mutation = population - n_crossover  # m = P/2
        current = []
        _fill(current, n_crossover, lambda: crossover(*rng.sample(parents, 2), rng), "crossover",
              TRIES_PER_CHILD * n_crossover, scorer)
        _fill(current, n_mutation, lambda: mutate(rng.choice(parents), operations, mutation_probability, rng),
              "mutation", TRIES_PER_CHILD * n_mutation, scorer)
        _random_candidates(current, population - len(current), operations, rng, scorer)  # the paper's code tops up
    return result


def random_sampling_search(score: Score, operations: Sequence[str], evaluations: int,
                           constraint: Constraint | None = None, key: Key | None = None, seed: int = 0) -> SearchResult:
    """One-shot + random sampling (Bender et al. 2018; Li & Talwalkar 2019): score ``evaluations`` distinct
    candidates drawn uniformly (those within ``constraint``) with the shared weights; return the best.

    The arguments mean what they mean for ``evolutionary_search``; give it ``evaluations = population * generations``
    to compare the two at equal scoring cost."""
    operations = _check_operations(operations)
    if not isinstance(evaluations, int) or isinstance(evaluations, bool) or evaluations < 1:
        raise ValueError(f"evaluations must be a positive integer, got {evaluations!r}.")
    rng = random.Random(seed)
    result = SearchResult("one-shot + random sampling (Bender et al. / Li & Talwalkar)")
    scorer = _Scorer(score, constraint, key, result)
    candidates: list[tuple[Cell201Architecture, str]] = []
    _random_candidates(candidates, evaluations, operations, rng, scorer)
    scorer.evaluate(candidates)
    return result
