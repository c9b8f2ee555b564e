"""Large-scale Evolution: a population evolved from trivial networks by mutation and tournaments
(survey Sec. 2, Fig. 3; Real et al., 2017, "Large-Scale Evolution of Image Classifiers").

Survey: "It uses the simplest network structure to initialize a large population, and obtains the
best network architecture by reproduce, mutating, and selecting the population." The algorithm:

1. the population starts as ``N`` copies of the simplest network (no convolution at all), each trained;
2. a worker picks two individuals at random and compares their fitness (validation accuracy):
   the **worse one dies**, the **better one is a parent**: it stays, and a copy of it is mutated,
   trained and added to the population (so its size stays ``N``);
3. the mutation is drawn uniformly from a list: insert or remove a convolution, change a layer's
   channels or filter size, add or remove a skip connection (what the space can express, see
   ``ChainSpace.named_mutations``), and two that keep the architecture: IDENTITY (train on) and
   RESET-WEIGHTS (train again from scratch);
4. **weight inheritance**: a child keeps its parent's trained weights wherever the shapes still match,
   so a lineage keeps training across generations (``WeightInheritingEvaluator``).

Simplifications, named in chapter 01: a population of tens, not 1,000; one worker, not 250 (the
tournaments run one after another); a fixed learning rate (no ALTER-LEARNING-RATE mutation).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import torch
from torch import nn

from ..data import DatasetSplits
from ..evaluation import architecture_seed
from ..loop import EvaluationResult
from ..spaces.base import SearchSpace
from ..train import count_parameters, train
from .base import Strategy

__all__ = ["Individual", "LargeScaleEvolution", "inherit_weights", "WeightInheritingEvaluator"]

WEIGHT_MUTATIONS = ("identity", "reset_weights")  # keep the architecture, act on the weights only


@dataclass
class Individual:
    """One member of the population: its architecture, fitness, and where it came from."""

    id: int
    architecture: Any
    parent_id: int | None = None
    mutation: str = "initial"
    fitness: float = math.nan  # validation accuracy, NaN until trained (and for a diverged network)

    @property
    def inherits(self) -> bool:
        """Whether this individual starts from its parent's weights."""
        return self.parent_id is not None and self.mutation != "reset_weights"

    def score(self) -> float:
        """Fitness for a tournament: a network that diverged loses to every trained one."""
        return -math.inf if math.isnan(self.fitness) else self.fitness


class LargeScaleEvolution(Strategy):
    """Real et al.'s tournament evolution as a strategy. Runs on any space with ``mutate`` (and uses the
    space's ``named_mutations`` and ``simplest`` where it has them).

    ``initial``: "simplest" (the paper: trivial networks) or "random" (samples of the space).
    ``weight_inheritance``: whether the evaluator can pass weights on; without it (a tabular benchmark),
    the mutations that act only on weights (IDENTITY, RESET-WEIGHTS) would just repeat an evaluation,
    so they are left out.
    """

    def __init__(self, space: SearchSpace, population_size: int = 10, initial: str = "simplest",
                 weight_inheritance: bool = True, seed: int = 0):
        super().__init__(space, seed)
        if population_size < 2:
            raise ValueError(f"A tournament needs two individuals: population_size must be >= 2, got {population_size}.")
        if initial not in ("simplest", "random"):
            raise ValueError(f"initial must be 'simplest' (Real et al.) or 'random', got {initial!r}.")
        self.population_size = population_size
        self.initial = initial
        self.weight_inheritance = weight_inheritance
        self.mutations = dict(space.named_mutations())
        self.population: list[Individual] = []
        self.pending: Individual | None = None  # the individual being evaluated right now
        self.born = 0
        self.log: list[dict] = []  # per trial: the new individual and the population's fitness after it

    def check_batch(self, batch: int) -> None:
        if batch != 1:
            raise ValueError(
                "LargeScaleEvolution evaluates one child at a time (its tell() must follow the ask() that made it); "
                "run it with batch=1."
            )

    def mutation_names(self) -> list[str]:
        return list(self.mutations) + (list(WEIGHT_MUTATIONS) if self.weight_inheritance else [])

    def _first_generation(self) -> Any:
        return self.space.simplest() if self.initial == "simplest" else self.space.sample(self.rng)

    def tournament(self) -> Individual:
        """Pick two at random: the worse one leaves the population, the better one is returned as parent."""
        first, second = self.rng.sample(self.population, 2)
        worse, better = (first, second) if first.score() < second.score() else (second, first)
        if first.score() == second.score():
            worse, better = (first, second) if self.rng.random() < 0.5 else (second, first)
        self.population.remove(worse)
        return better

    def reproduce(self, parent: Individual) -> tuple[Any, str]:
        """A mutated copy of ``parent``'s architecture: a mutation drawn uniformly among those that apply."""
        names = self.mutation_names()
        self.rng.shuffle(names)
        for name in names:
            if name in WEIGHT_MUTATIONS:
                return parent.architecture, name
            child = self.mutations[name](parent.architecture, self.rng)
            if child is not None and child != parent.architecture:
                return child, name
        return self.space.mutate(parent.architecture, self.rng), "mutate"  # nothing applied: any neighbour

    def ask(self) -> Any:
        if self.born < self.population_size:
            individual = Individual(self.born, self._first_generation())
        else:
            parent = self.tournament()
            architecture, mutation = self.reproduce(parent)
            individual = Individual(self.born, architecture, parent.id, mutation)
        self.born += 1
        self.pending = individual
        return individual.architecture

    def tell(self, architecture: Any, result: EvaluationResult) -> None:
        individual = self.pending
        if individual is None or self.space.encode(individual.architecture) != self.space.encode(architecture):
            raise ValueError("tell() must follow ask() with the architecture ask() returned.")
        individual.fitness = float(result.accuracy)
        self.population.append(individual)
        self.pending = None
        self.log.append({"id": individual.id, "parent": individual.parent_id, "mutation": individual.mutation,
                         "architecture": self.space.encode(architecture), "fitness": individual.fitness,
                         "population": [member.fitness for member in self.population]})

    def alive(self) -> set[int]:
        """Ids of the population, and of the individual being evaluated."""
        return {member.id for member in self.population} | ({self.pending.id} if self.pending else set())

    def best(self) -> Individual:
        return max(self.population, key=Individual.score)


def inherit_weights(parent_state: dict[str, torch.Tensor], child: nn.Module,
                    correspondence: dict[str, str] | None = None) -> list[str]:
    """Copy into ``child`` every tensor of ``parent_state`` (parameters and batch-norm statistics) whose
    shape matches; returns the names of the child's tensors that were copied.

    Without ``correspondence``, a child tensor continues the parent tensor of the same name. With it
    (module-name prefixes, child's -> parent's, e.g. from ``ChainSpace.weight_correspondence``), only
    tensors under a listed prefix inherit, from the parent's tensor under the corresponding prefix.
    """
    copied = []
    child_state = child.state_dict()
    prefixes = sorted(correspondence or {}, key=len, reverse=True)
    with torch.no_grad():
        for name, tensor in child_state.items():
            source = name
            if correspondence is not None:
                prefix = next((p for p in prefixes if name.startswith(p)), None)
                if prefix is None:
                    continue
                source = correspondence[prefix] + name[len(prefix):]
            if source in parent_state and parent_state[source].shape == tensor.shape:
                tensor.copy_(parent_state[source])
                copied.append(name)
    return copied


class WeightInheritingEvaluator:
    """Train each new individual of a ``LargeScaleEvolution`` strategy, starting from its parent's weights.

    It asks the strategy which individual it is training (``strategy.pending``), copies the parent's
    tensors whose shapes match (through the space's ``weight_correspondence`` when it has one), trains
    for ``epochs`` epochs, and keeps the trained weights of every living individual.
    """

    def __init__(self, space: SearchSpace, data: DatasetSplits, strategy: LargeScaleEvolution, epochs: int,
                 batch_size: int = 64, learning_rate: float = 0.05, seed: int = 0):
        if not isinstance(strategy, LargeScaleEvolution):
            raise TypeError(f"WeightInheritingEvaluator follows a LargeScaleEvolution strategy, got {type(strategy).__name__}.")
        self.space, self.data, self.strategy = space, data, strategy
        self.epochs, self.batch_size, self.learning_rate, self.seed = epochs, batch_size, learning_rate, seed
        self.weights: dict[int, tuple[Any, dict[str, torch.Tensor]]] = {}
        self.inherited: list[tuple[int, int]] = []  # per evaluation: (tensors copied, tensors in the child)

    def __call__(self, architecture: Any) -> EvaluationResult:
        individual = self.strategy.pending
        if individual is None:
            raise ValueError("The strategy has no individual waiting for evaluation: call strategy.ask() first.")
        architecture = self.space.as_architecture(architecture)
        # every individual gets its own initial weights, as Real et al.'s identical starting networks did
        weights_seed = architecture_seed(self.space.encode(architecture), self.seed) + individual.id
        torch.manual_seed(weights_seed)
        model = self.space.build(architecture, self.data.input_shape, self.data.num_classes)
        copied: list[str] = []
        if individual.inherits and individual.parent_id in self.weights:
            parent_architecture, parent_state = self.weights[individual.parent_id]
            correspondence = None
            if hasattr(self.space, "weight_correspondence"):
                correspondence = self.space.weight_correspondence(parent_architecture, architecture)
            copied = inherit_weights(parent_state, model, correspondence)
        self.inherited.append((len(copied), len(model.state_dict())))
        result = train(model, self.data, epochs=self.epochs, batch_size=self.batch_size,
                       learning_rate=self.learning_rate, seed=weights_seed)
        state = {name: tensor.detach().to("cpu", copy=True) for name, tensor in model.state_dict().items()}
        self.weights[individual.id] = (architecture, state)
        for dead in set(self.weights) - self.strategy.alive():  # the dead pass nothing on
            del self.weights[dead]
        return EvaluationResult(
            accuracy=result.final_accuracy,
            cost_seconds=result.seconds,
            cost_epochs=float(result.epochs) + (1.0 if result.diverged else 0.0),
            parameters=count_parameters(model),
            status="diverged" if result.diverged else "ok",
            curve=[asdict(record) for record in result.curve],
        )
