"""A NAS-Bench-201-style cell space: one small DAG, searched once, stacked into a fixed skeleton.

This is the modular search space of the survey (Sec. 3.1, Fig. 4): instead of designing the
whole network, search one *cell* and repeat it. The cell follows NAS-Bench-201 (Dong & Yang,
2020): a DAG of 4 nodes; node 0 is the cell input, node 3 its output, and every pair
``i < j`` is joined by an edge carrying one operation::

    x_j = sum_{i < j} o_{i,j}(x_i),      j = 1, 2, 3,      o_{i,j} in {none, skip, conv1x1, conv3x3, avgpool3x3}

``none`` drops the edge, ``skip`` is the identity. Six edges and five operations give
5^6 = 15,625 cells. An architecture is written the way NAS-Bench-201 writes it, one group of
edges per node, each edge as ``operation~source``::

    |conv3x3~0|+|skip~0|conv1x1~1|+|none~0|avgpool3x3~1|conv3x3~2|

Many of those cells compute the same function: a cell whose output does not depend on
its input through any path, an edge whose source never receives anything, two
intermediate nodes that can swap places. ``canonical`` maps every cell to one representative
of its class, and ``build`` builds a cell as its canonical form, so equivalent cells are the
same network and a benchmark trains each class once.

The macro skeleton (NAS-Bench-201's, sized down for 8x8 digits): a 3x3 stem convolution,
three stages of ``cells_per_stage`` cells at ``C``, ``2C`` and ``4C`` channels joined by
two reductions that halve the resolution, then global average pooling and a linear
classifier. Simplifications, to keep a whole-space benchmark within hours on two CPU cores:
convolutions are Conv-BN-ReLU (NAS-Bench-201 uses ReLU-Conv-BN), and a reduction is 2x2 average
pooling followed by a 1x1 Conv-BN-ReLU that doubles the width (NAS-Bench-201 uses a residual block
of two 3x3 ReLU-Conv-BN, the first with stride 2, beside an average-pooled 1x1 shortcut).
"""

from __future__ import annotations

import itertools
import random
from dataclasses import dataclass
from functools import cached_property
from typing import Iterator, Sequence

import torch
from torch import nn

from .chain_ops import ConvBNReLU
from .base import ArchitectureError, SearchSpace

__all__ = ["OPERATIONS", "EDGES", "PARAMETER_FREE", "Cell201Architecture", "Cell201Space", "Cell201Network", "Cell"]

OPERATIONS = ("none", "skip", "conv1x1", "conv3x3", "avgpool3x3")
EDGES = ((0, 1), (0, 2), (1, 2), (0, 3), (1, 3), (2, 3))  # (source i, target j), in the string's order
NODES = 4
PARAMETER_FREE = frozenset({"none", "skip", "avgpool3x3"})
LINEAR_OPERATIONS = frozenset({"avgpool3x3"})  # no parameters, linear: pool(a + b) = pool(a) + pool(b)


@dataclass(frozen=True)
class Cell201Architecture:
    """The operation on each edge, in the order of ``EDGES``."""

    operations: tuple[str, ...]

    def __str__(self) -> str:
        groups = []
        for target in range(1, NODES):
            edges = [f"{op}~{i}" for op, (i, j) in zip(self.operations, EDGES) if j == target]
            groups.append("|" + "|".join(edges) + "|")
        return "+".join(groups)

    def edge(self, source: int, target: int) -> str:
        return self.operations[EDGES.index((source, target))]

    def parameter_free_share(self) -> float:
        """Share of edges whose operation has no weights (none, skip, avgpool3x3): what a collapsed
        DARTS cell is made of."""
        return sum(op in PARAMETER_FREE for op in self.operations) / len(self.operations)


def _expression(architecture: Cell201Architecture) -> tuple:
    """What the cell computes, as a symbolic expression in which equal means "same function".

    A node is the multiset (sorted tuple) of the terms it sums. ``skip`` passes its source's
    terms through, ``none`` adds nothing, average pooling (parameter-free and linear) applies
    to each term of its source separately, and a convolution adds one term
    ``(operation, source expression)``. An operation on a node that receives nothing adds
    nothing: the edge is dead. Sums are commutative, so sorting the terms makes node order
    irrelevant: isomorphic cells get the same expression.
    """
    nodes: list[tuple] = [(("input",),)]
    for target in range(1, NODES):
        terms: list = []
        for (source, j), op in zip(EDGES, architecture.operations):
            if j != target or op == "none" or not nodes[source]:
                continue
            if op == "skip":
                terms.extend(nodes[source])
            elif op in LINEAR_OPERATIONS:  # a fixed linear map distributes over the sum it is given
                terms.extend((op, (term,)) for term in nodes[source])
            else:
                terms.append((op, nodes[source]))
        nodes.append(tuple(sorted(terms)))
    return nodes[-1]


class Cell201Space(SearchSpace):
    """Every assignment of an operation to each of the six edges of the NAS-Bench-201 cell."""

    name = "NAS-Bench-201-style cell space"

    def __init__(self, operations: Sequence[str] = OPERATIONS, channels: int = 16, cells_per_stage: int = 1):
        operations = tuple(operations)
        unknown = [op for op in operations if op not in OPERATIONS]
        if unknown or not operations or len(set(operations)) != len(operations):
            raise ValueError(
                f"operations must be distinct names from {OPERATIONS}; got {operations}."
            )
        if channels < 1 or cells_per_stage < 1:
            raise ValueError(f"channels and cells_per_stage must be positive; got {channels} and {cells_per_stage}.")
        self.operations = operations
        self.channels = channels
        self.cells_per_stage = cells_per_stage

    def __repr__(self) -> str:
        return (f"Cell201Space(operations={self.operations}, channels={self.channels}, "
                f"cells_per_stage={self.cells_per_stage}: {self.count():,} cells, {self.count_unique():,} unique)")

    # --- the SearchSpace interface -------------------------------------------------------------

    def sample(self, rng: random.Random) -> Cell201Architecture:
        return Cell201Architecture(tuple(rng.choice(self.operations) for _ in EDGES))

    def mutate(self, architecture: Cell201Architecture, rng: random.Random) -> Cell201Architecture:
        """NAS-Bench-201's mutation (as in its regularized-evolution baseline): one edge gets another operation."""
        architecture = self.as_architecture(architecture)
        operations = list(architecture.operations)
        edge = rng.randrange(len(EDGES))
        operations[edge] = rng.choice([op for op in self.operations if op != operations[edge]])
        return Cell201Architecture(tuple(operations))

    def encode(self, architecture: Cell201Architecture) -> str:
        return str(architecture)

    def decode(self, text: str) -> Cell201Architecture:
        example = "|conv3x3~0|+|skip~0|none~1|+|none~0|none~1|avgpool3x3~2|"
        groups = text.strip().split("+")
        if len(groups) != NODES - 1:
            raise ArchitectureError(f"A cell string has {NODES - 1} groups joined by '+', like {example}; got {text!r}.")
        operations = []
        for target, group in enumerate(groups, start=1):
            edges = [edge for edge in group.strip().strip("|").split("|")]
            if len(edges) != target:
                raise ArchitectureError(f"Group {target} of {text!r} must list {target} edge(s) into node {target}.")
            for source, edge in enumerate(edges):
                op, _, index = edge.partition("~")
                if index != str(source):
                    raise ArchitectureError(f"Edge {edge!r} into node {target} must come from node {source}: "
                                            f"write it as '{op}~{source}'.")
                if op not in self.operations:
                    raise ArchitectureError(f"Unknown operation {op!r} in {text!r}; this space has {self.operations}.")
                operations.append(op)
        # the string lists edges by target node, which is exactly the order of EDGES
        return Cell201Architecture(tuple(operations))

    def count(self) -> int:
        return len(self.operations) ** len(EDGES)

    def enumerate(self) -> Iterator[Cell201Architecture]:
        for operations in itertools.product(self.operations, repeat=len(EDGES)):
            yield Cell201Architecture(operations)

    def build(self, architecture, input_shape: tuple[int, int, int], num_classes: int) -> "Cell201Network":
        """The network of ``architecture``'s canonical form (the same function, without dead edges)."""
        return Cell201Network(self.canonical(architecture), input_shape, num_classes, self.channels,
                              self.cells_per_stage)

    # --- equivalence ---------------------------------------------------------------------------

    @cached_property
    def _classes(self) -> tuple[dict, list[Cell201Architecture]]:
        """expression -> representative, and the representatives in order of first appearance."""
        representative: dict = {}
        for architecture in self.enumerate():
            key = _expression(architecture)
            best = representative.get(key)
            # prefer the form with the most 'none' edges: no dead operations, fewest parameters
            if best is None or architecture.operations.count("none") > best.operations.count("none"):
                representative[key] = architecture
        firsts: dict = {}
        for architecture in self.enumerate():
            firsts.setdefault(_expression(architecture), representative[_expression(architecture)])
        return representative, list(firsts.values())

    def canonical(self, architecture) -> Cell201Architecture:
        """The one representative of every cell that computes the same function as ``architecture``.

        Remembered per cell (or string) asked: searches ask for the same few thousand cells again and again."""
        cache = self.__dict__.setdefault("_canonical_of", {})
        if isinstance(architecture, (str, Cell201Architecture)) and architecture in cache:
            return cache[architecture]
        result = self._classes[0][_expression(self.as_architecture(architecture))]
        if isinstance(architecture, (str, Cell201Architecture)):
            cache[architecture] = result
        return result

    def equivalent(self, a, b) -> bool:
        return _expression(self.as_architecture(a)) == _expression(self.as_architecture(b))

    def unique_architectures(self) -> list[Cell201Architecture]:
        """One canonical cell per class of equivalent cells, in a fixed order."""
        return list(self._classes[1])

    def count_unique(self) -> int:
        return len(self._classes[1])

    # --- the space as a sequence of decisions (chapter 01: NAS-RL, MetaQNN, evolution) ----------
    # Six decisions, one per edge in the order of EDGES, each choosing one operation.

    def vocabulary(self) -> tuple[str, ...]:
        return self.operations

    def token_choices(self, tokens) -> tuple[str, ...]:
        return self.operations if len(tokens) < len(EDGES) else ()

    def from_tokens(self, tokens) -> Cell201Architecture:
        return Cell201Architecture(self.check_tokens(tokens))

    def to_tokens(self, architecture) -> tuple[str, ...]:
        return self.as_architecture(architecture).operations

    def simplest(self) -> Cell201Architecture:
        """A cell that computes nothing (every edge 'none'), or the first operation everywhere if 'none' is not offered."""
        return Cell201Architecture(("none" if "none" in self.operations else self.operations[0],) * len(EDGES))

    def named_mutations(self) -> dict:
        return {"alter_operation": self.mutate}


class Cell(nn.Module):
    """One cell: ``x_j = sum_i o_{i,j}(x_i)``; node 3 is the output. Input and output: (B, C, H, W)."""

    def __init__(self, architecture: Cell201Architecture, channels: int):
        super().__init__()
        self.architecture = architecture
        self.edges = nn.ModuleDict()
        for (i, j), op in zip(EDGES, architecture.operations):
            if op != "none":
                self.edges[f"{i}_{j}"] = _operation(op, channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        nodes: list[torch.Tensor | None] = [x]
        for target in range(1, NODES):
            total = None
            for source in range(target):
                key = f"{source}_{target}"
                if key in self.edges and nodes[source] is not None:
                    out = self.edges[key](nodes[source])
                    total = out if total is None else total + out
            nodes.append(total)
        return nodes[-1] if nodes[-1] is not None else torch.zeros_like(x)  # no path: the cell outputs zeros


def _operation(name: str, channels: int) -> nn.Module:
    if name == "skip":
        return nn.Identity()
    if name == "conv1x1":
        return ConvBNReLU(channels, channels, 1)
    if name == "conv3x3":
        return ConvBNReLU(channels, channels, 3)
    return nn.AvgPool2d(3, stride=1, padding=1, count_include_pad=False)  # avgpool3x3


class Cell201Network(nn.Module):
    """Stem -> [cells at C] -> reduce -> [cells at 2C] -> reduce -> [cells at 4C] -> pool -> linear."""

    def __init__(self, architecture: Cell201Architecture, input_shape: tuple[int, int, int], num_classes: int,
                 channels: int = 16, cells_per_stage: int = 1):
        super().__init__()
        in_channels = input_shape[0]
        layers: list[nn.Module] = [ConvBNReLU(in_channels, channels, 3)]
        width = channels
        for stage in range(3):
            if stage > 0:
                layers.append(_reduction(width, 2 * width))
                width *= 2
            layers.extend(Cell(architecture, width) for _ in range(cells_per_stage))
        self.features = nn.Sequential(*layers)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(width, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.pool(self.features(x)).flatten(1))


def _reduction(in_channels: int, out_channels: int) -> nn.Module:
    """Halve the resolution, double the width: 2x2 average pooling, then a 1x1 Conv-BN-ReLU.

    The reduction mixes no neighbouring pixels, so every spatial feature the network learns
    comes from the stem and the searched cells: the cell, not the skeleton, decides the accuracy.
    """
    return nn.Sequential(nn.AvgPool2d(2), ConvBNReLU(in_channels, out_channels, 1))
