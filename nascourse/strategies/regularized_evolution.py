"""Regularized (aging) evolution: AmoebaNet's search strategy (Real, Aggarwal, Huang & Le, AAAI 2019).

The survey (Sec. 3.1, Table 1) lists AmoebaNet among the cell-based methods: it searched the NASNet
cell space with evolution instead of reinforcement learning, and found cells as good with a simpler
algorithm. Algorithm 1 of the paper, in the notation used here:

    population <- P random architectures, each trained and evaluated
    repeat until the budget is spent:
        sample  <- S architectures drawn at random (with replacement) from the population
        parent  <- the most accurate architecture of the sample          (tournament selection)
        child   <- mutate(parent); train and evaluate it
        add child to the population (the youngest)
        remove the OLDEST architecture from the population              (aging)

The last line is the "regularization": every architecture dies after P more children were born,
however good it was, so an architecture stays in the population only through descendants that keep
scoring well. A lucky evaluation (noise) cannot keep it alive for ever, as it could when the *worst*
is removed (``aging=False`` gives that non-regularized variant, for comparison).

The strategy uses only ``space.sample`` and ``space.mutate``, so it runs on every space of the course.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass
from typing import Any

from ..loop import EvaluationResult
from ..spaces.base import SearchSpace
from .base import Strategy

__all__ = ["Individual", "RegularizedEvolution"]


@dataclass(frozen=True)
class Individual:
    """A member of the population: its architecture, its fitness (validation accuracy) and its birth number."""

    architecture: Any
    accuracy: float  # -inf for a failed evaluation: it can never win a tournament
    born: int  # how many architectures were told before it: a smaller number is older


class RegularizedEvolution(Strategy):
    """Aging evolution with population size ``population_size`` (P) and tournament size ``sample_size`` (S).

    ``ask`` proposes random architectures until P have been proposed, then mutated winners of
    tournaments. ``tell`` adds the evaluated architecture to the population and, once the population
    holds more than P, removes the oldest (``aging=True``) or the least accurate (``aging=False``).
    """

    def __init__(self, space: SearchSpace, population_size: int = 20, sample_size: int = 5, seed: int = 0,
                 aging: bool = True):
        super().__init__(space, seed)
        if not isinstance(population_size, int) or population_size < 1:
            raise ValueError(f"population_size (P) must be a positive integer, got {population_size!r}.")
        if not isinstance(sample_size, int) or not 1 <= sample_size <= population_size:
            raise ValueError(
                f"sample_size (S) must be an integer between 1 and population_size = {population_size}, "
                f"got {sample_size!r}. (AmoebaNet used P = 100, S = 25 on CIFAR-10.)"
            )
        self.population_size = population_size
        self.sample_size = sample_size
        self.aging = aging
        self.population: deque[Individual] = deque()
        self.proposed = 0  # architectures asked for so far
        self.told = 0  # results received so far
        self.last_parent: Individual | None = None

    def __repr__(self) -> str:
        kind = "aging" if self.aging else "remove-worst"
        return (f"RegularizedEvolution(P={self.population_size}, S={self.sample_size}, {kind}, "
                f"space={self.space.name}, seed={self.seed})")

    def ask(self) -> Any:
        self.proposed += 1
        if self.proposed <= self.population_size or not self.population:
            self.last_parent = None
            return self.space.sample(self.rng)  # the initial population is random
        sample = [self.rng.choice(self.population) for _ in range(self.sample_size)]
        parent = max(sample, key=lambda individual: individual.accuracy)
        self.last_parent = parent
        return self.space.mutate(parent.architecture, self.rng)

    def tell(self, architecture: Any, result: EvaluationResult) -> None:
        accuracy = result.accuracy if result.status == "ok" and not math.isnan(result.accuracy) else -math.inf
        self.population.append(Individual(architecture, accuracy, self.told))
        self.told += 1
        if len(self.population) > self.population_size:
            if self.aging:
                self.population.popleft()  # the oldest dies, whatever its accuracy
            else:
                worst = min(self.population, key=lambda individual: (individual.accuracy, individual.born))
                self.population.remove(worst)
