"""The NASNet / DARTS cell search space: search two small cells, stack them into a network (survey Sec. 3.1).

NASNet (Zoph et al., CVPR 2018) replaced the global search of early NAS by a *modular* one: search
a **normal cell**, which keeps the resolution, and a **reduction cell**, which halves it, then stack
copies of them (survey Fig. 4). DARTS (Liu et al., ICLR 2019) kept that space and wrote it down in
the form most later work uses. The pieces live beside this module:

* ``darts_ops``: the operations an edge may apply (``PRIMITIVES`` and NASNet's extra ones);
* ``darts_genotype``: a cell written as the ``Genotype`` text of the published code, and counting;
* ``darts_network``: the ``Skeleton`` the cells are stacked into and the network it builds;
* ``darts_published``: the published cells of survey Table 1 (NASNet-A, AmoebaNet-A, ENAS, DARTS, PC-DARTS).

``DartsCellSpace`` is the search space over them: how many cells there are, how to sample, mutate,
enumerate, check and build one.
"""

from __future__ import annotations

import itertools
import random
from typing import Iterator, Sequence

from .base import ArchitectureError, SearchSpace
from .darts_genotype import Genotype, count_cell, loose_ends
from .darts_network import SEARCH_SKELETON, CellNetwork, Skeleton
from .darts_ops import OPERATIONS as CELL_OPERATIONS
from .darts_ops import PRIMITIVES

__all__ = ["SEARCH_OPERATIONS", "DartsCellSpace"]

# The seven operations a derived DARTS cell may hold: the search set without the zero operation.
SEARCH_OPERATIONS: tuple[str, ...] = tuple(op for op in PRIMITIVES if op != "none")


class DartsCellSpace(SearchSpace):
    """Every pair of cells (normal, reduction) with ``nodes`` intermediate nodes over ``operations``.

    ``distinct_inputs``: a node reads two different earlier nodes (DARTS) or may read one twice (NASNet).
    ``concat``: the cell outputs ``"all"`` intermediate nodes (DARTS) or its ``"loose_ends"`` (NASNet).
    ``skeleton``: how ``build`` stacks the cells; when it reduces without cells, only the normal cell is
    searched and a genotype's ``reduce`` is empty.
    """

    name = "NASNet/DARTS cell space"

    def __init__(self, operations: Sequence[str] = SEARCH_OPERATIONS, nodes: int = 4, distinct_inputs: bool = True,
                 concat: str = "all", skeleton: Skeleton = SEARCH_SKELETON):
        operations = tuple(operations)
        unknown = [op for op in operations if op not in CELL_OPERATIONS]
        if not operations or unknown or len(set(operations)) != len(operations):
            raise ValueError(f"operations must be distinct names from {sorted(CELL_OPERATIONS)}; got {operations}.")
        if not isinstance(nodes, int) or nodes < 1:
            raise ValueError(f"nodes (B) must be a positive integer, got {nodes!r}.")
        if concat not in ("all", "loose_ends"):
            raise ValueError(f"concat must be 'all' (DARTS) or 'loose_ends' (NASNet), got {concat!r}.")
        if not isinstance(skeleton, Skeleton):
            raise TypeError(f"skeleton must be a Skeleton, got {type(skeleton).__name__}.")
        self.operations = operations
        self.nodes = nodes
        self.distinct_inputs = distinct_inputs
        self.concat = concat
        self.skeleton = skeleton

    def __repr__(self) -> str:
        return (f"DartsCellSpace({len(self.operations)} operations, B={self.nodes} nodes, "
                f"{'distinct' if self.distinct_inputs else 'repeatable'} inputs, concat {self.concat}, "
                f"cells searched: {'+'.join(self.skeleton.searched_cells())}; {self.count():.3e} architectures)")

    def with_skeleton(self, skeleton: Skeleton) -> "DartsCellSpace":
        """The same cells, stacked into another skeleton."""
        return DartsCellSpace(self.operations, self.nodes, self.distinct_inputs, self.concat, skeleton)

    # -- helpers ----------------------------------------------------------------------------------
    def _output(self, edges: Sequence[tuple[str, int]]) -> tuple[int, ...]:
        return tuple(range(2, self.nodes + 2)) if self.concat == "all" else loose_ends(edges)

    def _node_choices(self, node: int) -> list[tuple[tuple[str, int], tuple[str, int]]]:
        """Every distinct node ``node`` (0-based) can be: canonical (sorted) pairs of (operation, input)."""
        singles = [(op, source) for source in range(node + 2) for op in self.operations]
        singles.sort(key=lambda entry: (entry[1], self.operations.index(entry[0])))
        if self.distinct_inputs:
            return [(a, b) for a, b in itertools.combinations(singles, 2) if a[1] != b[1]]
        return list(itertools.combinations_with_replacement(singles, 2))

    def _order(self, a: tuple[str, int], b: tuple[str, int]) -> tuple[tuple[str, int], tuple[str, int]]:
        key = lambda entry: (entry[1], self.operations.index(entry[0]))  # noqa: E731
        return (a, b) if key(a) <= key(b) else (b, a)

    def canonical(self, genotype: Genotype | str) -> Genotype:
        """The same cells with each node's two edges in a fixed order (by input, then operation).

        A node adds its two terms, so swapping them changes the text, not the network's function.
        """
        genotype = self.as_architecture(genotype)
        cells = {}
        for kind in ("normal", "reduce"):
            edges, concat = genotype.cell(kind)
            ordered = []
            for node in range(len(edges) // 2):
                ordered.extend(self._order(edges[2 * node], edges[2 * node + 1]))
            cells[kind] = tuple(ordered)
        return Genotype(cells["normal"], genotype.normal_concat, cells["reduce"], genotype.reduce_concat)

    def _make(self, cells: dict[str, list[tuple[str, int]]]) -> Genotype:
        normal = cells["normal"]
        reduce = cells.get("reduce", [])
        return Genotype(normal, self._output(normal), reduce, self._output(reduce) if reduce else ())

    def _sample_cell(self, rng: random.Random) -> list[tuple[str, int]]:
        edges: list[tuple[str, int]] = []
        for node in range(self.nodes):
            if self.distinct_inputs:
                sources = rng.sample(range(node + 2), 2)
            else:
                sources = [rng.randrange(node + 2), rng.randrange(node + 2)]
            pair = [(rng.choice(self.operations), source) for source in sources]
            edges.extend(self._order(*pair))
        return edges

    # -- the SearchSpace interface ------------------------------------------------------------------
    def sample(self, rng: random.Random) -> Genotype:
        return self._make({kind: self._sample_cell(rng) for kind in self.skeleton.searched_cells()})

    def mutate(self, architecture: Genotype | str, rng: random.Random) -> Genotype:
        """AmoebaNet's mutation (Real et al., 2019): in the normal or the reduction cell, pick a node and one
        of its two edges; then either rewire it to another earlier node ("hidden state mutation") or give it
        another operation ("op mutation"), with equal probability. Always returns a different genotype."""
        genotype = self.as_architecture(architecture)
        for _ in range(100):
            kind = rng.choice(self.skeleton.searched_cells())
            edges = list(genotype.cell(kind)[0])
            node = rng.randrange(self.nodes)
            edge = 2 * node + rng.randrange(2)
            op, source = edges[edge]
            other_source = edges[edge ^ 1][1]
            if rng.random() < 0.5:  # hidden state mutation
                choices = [s for s in range(node + 2) if s != source and not (self.distinct_inputs and s == other_source)]
                if not choices:
                    continue  # node 2 of a DARTS cell must read both inputs: nothing to rewire
                edges[edge] = (op, rng.choice(choices))
            else:  # op mutation
                choices = [o for o in self.operations if o != op]
                if not choices:
                    continue
                edges[edge] = (rng.choice(choices), source)
            first, second = self._order(edges[2 * node], edges[2 * node + 1])
            edges[2 * node], edges[2 * node + 1] = first, second
            cells = {k: list(genotype.cell(k)[0]) for k in self.skeleton.searched_cells()}
            cells[kind] = edges
            mutated = self._make(cells)
            if mutated != genotype:
                return mutated
        return genotype  # only a space with a single architecture gets here

    def encode(self, architecture: Genotype) -> str:
        return str(architecture)

    def decode(self, text: str) -> Genotype:
        genotype = Genotype.parse(text)
        self.validate(genotype)
        return genotype

    def validate(self, genotype: Genotype) -> None:
        """Raise ``ArchitectureError`` saying how ``genotype`` breaks this space's rules."""
        for kind in ("normal", "reduce"):
            edges, concat = genotype.cell(kind)
            if kind not in self.skeleton.searched_cells():
                if edges:
                    raise ArchitectureError(
                        f"This space reduces by {self.skeleton.reduction!r}, not with a cell: write reduce=[] "
                        "and reduce_concat=[]."
                    )
                continue
            if len(edges) != 2 * self.nodes:
                raise ArchitectureError(
                    f"The {kind} cell has {len(edges) // 2} nodes; this space's cells have B = {self.nodes} "
                    f"({2 * self.nodes} (operation, input) pairs)."
                )
            foreign = sorted({op for op, _ in edges if op not in self.operations})
            if foreign:
                raise ArchitectureError(f"The {kind} cell uses {foreign}, not in this space's operations {self.operations}.")
            for node in range(self.nodes):
                if self.distinct_inputs and edges[2 * node][1] == edges[2 * node + 1][1]:
                    raise ArchitectureError(
                        f"Node {node + 2} of the {kind} cell reads node {edges[2 * node][1]} twice; in this space "
                        "(DARTS) a node's two inputs are different nodes."
                    )
            if tuple(concat) != self._output(edges):
                rule = "every intermediate node" if self.concat == "all" else "the loose ends (nodes no other node reads)"
                raise ArchitectureError(
                    f"{kind}_concat is {list(concat)}, but this space concatenates {rule}: {list(self._output(edges))}."
                )

    def count(self) -> int:
        """Normal cells times reduction cells (or normal cells alone when pooling or a convolution reduces)."""
        return count_cell(self.nodes, len(self.operations), self.distinct_inputs) ** len(self.skeleton.searched_cells())

    def count_global(self) -> int:
        """The size of the *global* version of the same network: every one of the skeleton's cells chosen on
        its own instead of one normal and one reduction cell repeated (the pooling/convolution reductions of
        a cell-free skeleton are fixed)."""
        searched_positions = self.skeleton.cells if self.skeleton.reduction == "cell" else self.skeleton.cells - 2
        return count_cell(self.nodes, len(self.operations), self.distinct_inputs) ** searched_positions

    def enumerate(self) -> Iterator[Genotype]:
        """Every architecture once, in canonical form (only sensible for tiny spaces)."""
        choices = [self._node_choices(node) for node in range(self.nodes)]  # small lists; the product is lazy
        kinds = self.skeleton.searched_cells()
        for combination in itertools.product(*(choices * len(kinds))):
            cells = {
                kind: [entry for pair in combination[i * self.nodes:(i + 1) * self.nodes] for entry in pair]
                for i, kind in enumerate(kinds)
            }
            yield self._make(cells)

    def build(self, architecture: Genotype | str, input_shape: tuple[int, int, int], num_classes: int) -> CellNetwork:
        return CellNetwork(self.as_architecture(architecture), tuple(input_shape), num_classes, self.skeleton)
