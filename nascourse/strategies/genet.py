"""GeNet: a genetic algorithm over fixed-length binary codes of networks (survey Sec. 2;
Xie & Yuille, 2017, "Genetic CNN").

Survey: "it proposes a new neural network architecture coding scheme, which represents the network
architecture as a fixed-length binary string. It randomly initializes a group of individuals, uses a
predefined set of genetic operations to modify the binary string to generate new individuals, and
finally selects competitive individuals". The code is ``GeNetSpace``'s; one generation is

1. **selection**: ``N`` individuals drawn with replacement from the previous generation by a roulette
   wheel, the chance of individual ``n`` proportional to ``r_n - r_min`` (its fitness above the worst);
2. **crossover**: consecutive pairs (1, 2), (3, 4), ... cross with probability ``p_C``; crossing swaps
   each stage's code between the two with probability ``q_C`` (stages are the units that carry meaning);
3. **mutation**: each individual mutates with probability ``p_M``; mutating flips each bit with
   probability ``q_M``;
4. **evaluation**: every individual is trained from scratch and scored on the validation split. An
   encoding that was scored before is trained again and its fitness is the mean of all its scores, as
   in GeNet (training is noisy, so a survivor's fitness gets more reliable).

The first generation is ``N`` random codes (each bit 0 or 1 with probability 1/2). GeNet ran 20
individuals for 50 generations on CIFAR-10.

GeNet's genetic operators need only a fixed-length binary code, so the same algorithm runs on other spaces
given a code for them: ``CellCode`` writes a benchmark cell (``Cell201Space``) as one "stage" of
``log2(operations)`` bits per edge, so crossover swaps whole edges and a bit flip changes an edge's operation.
The capstone (chapter 06) runs GeNet that way on the benchmark.
"""

from __future__ import annotations

import math
import random
from typing import Any, Sequence

from ..loop import EvaluationResult
from ..spaces.base import SearchSpace
from ..spaces.cell201 import EDGES, Cell201Architecture, Cell201Space
from ..spaces.genet import GeNetArchitecture, GeNetSpace
from .base import Strategy

__all__ = ["roulette_selection", "crossover", "flip_bits", "CellCode", "GeNet"]


def roulette_selection(fitnesses: Sequence[float], count: int, rng: random.Random) -> list[int]:
    """``count`` indices drawn with replacement, index ``n`` with probability proportional to
    ``fitness_n - min(fitness)``; uniformly if every fitness is the same. NaN counts as the minimum."""
    scores = [-math.inf if math.isnan(f) else f for f in fitnesses]
    finite = [s for s in scores if s != -math.inf]
    lowest = min(finite) if finite else 0.0
    weights = [max(s - lowest, 0.0) if s != -math.inf else 0.0 for s in scores]
    if sum(weights) <= 0:
        return [rng.randrange(len(fitnesses)) for _ in range(count)]
    return rng.choices(range(len(fitnesses)), weights=weights, k=count)


def crossover(first: GeNetArchitecture, second: GeNetArchitecture, stage_probability: float,
              rng: random.Random) -> tuple[GeNetArchitecture, GeNetArchitecture]:
    """Swap each stage's code between the two individuals with probability ``stage_probability``."""
    a, b = list(first.stages), list(second.stages)
    for s in range(len(a)):
        if rng.random() < stage_probability:
            a[s], b[s] = b[s], a[s]
    return GeNetArchitecture(tuple(a)), GeNetArchitecture(tuple(b))


def flip_bits(individual: GeNetArchitecture, bit_probability: float, rng: random.Random) -> GeNetArchitecture:
    """Flip each bit independently with probability ``bit_probability``."""
    return GeNetArchitecture(tuple(tuple(1 - b if rng.random() < bit_probability else b for b in stage)
                                   for stage in individual.stages))


class CellCode:
    """A fixed-length binary code of a benchmark cell: ``bits`` bits per edge, one code "stage" per edge.

    Edge ``e``'s bits are the binary number of its operation's index in ``space.operations`` (most significant
    bit first), so the code is a bijection when the space has a power of two operations (the benchmark's 4:
    2 bits x 6 edges = 12 bits)."""

    def __init__(self, space: Cell201Space):
        count = len(space.operations) if isinstance(space, Cell201Space) else 0
        if count < 2 or count & (count - 1):
            raise ValueError(
                "CellCode needs a Cell201Space whose number of operations is a power of two (2, 4, 8), so that "
                f"every bit string is a cell; got {space!r}. The course benchmark's space (4 operations) fits."
            )
        self.space = space
        self.bits = count.bit_length() - 1

    def random(self, rng: random.Random) -> GeNetArchitecture:
        return GeNetArchitecture(tuple(tuple(rng.randint(0, 1) for _ in range(self.bits)) for _ in EDGES))

    def encode(self, architecture: Any) -> GeNetArchitecture:
        operations = self.space.as_architecture(architecture).operations
        indices = [self.space.operations.index(op) for op in operations]
        return GeNetArchitecture(tuple(tuple((i >> b) & 1 for b in reversed(range(self.bits))) for i in indices))

    def decode(self, code: GeNetArchitecture) -> Cell201Architecture:
        if len(code.stages) != len(EDGES) or any(len(stage) != self.bits for stage in code.stages):
            raise ValueError(f"A cell's code has {len(EDGES)} stages of {self.bits} bits; got {code}.")
        indices = [int("".join(str(bit) for bit in stage), 2) for stage in code.stages]
        return Cell201Architecture(tuple(self.space.operations[i] for i in indices))


class GeNet(Strategy):
    """GeNet's genetic algorithm as a strategy: ``ask`` hands out the current generation one by one;
    when all of it is scored, selection, crossover and mutation make the next one.

    On a ``GeNetSpace`` the individuals are the space's own codes; on a ``Cell201Space`` they are
    ``CellCode`` bit strings, and ``ask`` returns the cell a code stands for."""

    def __init__(self, space: SearchSpace, population_size: int = 20, crossover_probability: float = 0.2,
                 crossover_stage_probability: float = 0.2, mutation_probability: float = 0.8,
                 bit_flip_probability: float = 0.05, seed: int = 0):
        if isinstance(space, GeNetSpace):
            self.code: CellCode | None = None
        elif isinstance(space, Cell201Space):
            self.code = CellCode(space)
        else:
            raise TypeError(
                f"GeNet evolves fixed-length binary codes: give it a GeNetSpace or a Cell201Space (coded by CellCode), "
                f"not a {type(space).__name__}. (For other spaces use LargeScaleEvolution, which mutates any space.)"
            )
        super().__init__(space, seed)
        probabilities = (crossover_probability, crossover_stage_probability, mutation_probability, bit_flip_probability)
        if population_size < 2 or not all(0 <= p <= 1 for p in probabilities):
            raise ValueError(f"Need population_size >= 2 and probabilities in [0, 1]; got {population_size}, {probabilities}.")
        self.population_size = population_size
        self.p_crossover, self.q_crossover = crossover_probability, crossover_stage_probability
        self.p_mutation, self.q_mutation = mutation_probability, bit_flip_probability
        first = self.code.random if self.code is not None else space.sample
        self.generation: list[GeNetArchitecture] = [first(self.rng) for _ in range(population_size)]
        self.next_index = 0  # which member of the generation ask() hands out next
        self.scores: dict[str, list[float]] = {}  # every score of every encoding
        self.generations: list[list[tuple[str, float]]] = [[]]  # per generation: (code, fitness when scored)

    def check_batch(self, batch: int) -> None:
        if self.population_size % batch:
            raise ValueError(
                f"GeNet breeds its next generation only when all {self.population_size} members are scored: use a "
                f"batch that divides population_size = {self.population_size}, not {batch}."
            )

    def fitness(self, individual: GeNetArchitecture) -> float:
        """Mean of every score the encoding has had (NaN before its first)."""
        scores = self.scores.get(str(individual), [])
        return sum(scores) / len(scores) if scores else math.nan

    def breed(self) -> list[GeNetArchitecture]:
        """Selection, crossover and mutation: the next generation from the current, scored one."""
        fitnesses = [self.fitness(individual) for individual in self.generation]
        chosen = [self.generation[i] for i in roulette_selection(fitnesses, self.population_size, self.rng)]
        for i in range(0, len(chosen) - 1, 2):
            if self.rng.random() < self.p_crossover:
                chosen[i], chosen[i + 1] = crossover(chosen[i], chosen[i + 1], self.q_crossover, self.rng)
        return [flip_bits(c, self.q_mutation, self.rng) if self.rng.random() < self.p_mutation else c for c in chosen]

    def ask(self) -> Any:
        if self.next_index == self.population_size:  # the generation is scored: breed the next one
            self.generation = self.breed()
            self.generations.append([])
            self.next_index = 0
        individual = self.generation[self.next_index]
        self.next_index += 1
        return individual if self.code is None else self.code.decode(individual)

    def tell(self, architecture: Any, result: EvaluationResult) -> None:
        score = 0.0 if math.isnan(result.accuracy) else float(result.accuracy)
        code = self.space.encode(architecture) if self.code is None else str(self.code.encode(architecture))
        self.scores.setdefault(code, []).append(score)
        self.generations[-1].append((code, score))
