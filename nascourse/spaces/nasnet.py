"""NASNet's own cell space: five decisions per block, as its RNN controller makes them (survey Sec. 3.1).

NASNet (Zoph, Vasudevan, Shlens & Le, "Learning Transferable Architectures for Scalable Image Recognition",
CVPR 2018, Sec. 3 and Fig. 3) searches a cell of ``B`` blocks. For each block its controller makes five
decisions, in this order:

1. a first hidden state among those available: the outputs of the two previous cells and the blocks already
   made in this cell;
2. a second hidden state, from the same set (it may be the first one again);
3. an operation to apply to the first;
4. an operation to apply to the second;
5. how to combine the two results: element-wise **addition** or **concatenation** along the channels.

The block's output becomes a hidden state later blocks may read. The cell outputs the concatenation of the
blocks no other block reads (its "loose ends"). The controller writes the normal cell, then the reduction
cell: ``2 x 5B`` decisions.

Numbering, as DARTS's ``Genotype`` (so the published NASNet-A cell reads directly): hidden state 0 is
``c_{k-2}`` (NASNet's ``h_{i-1}``), 1 is ``c_{k-1}`` (NASNet's ``h_i``), and ``j + 2`` is block ``j``.

What is built here, and how it differs from NASNet's own network:

* the operations are DARTS's modules (``darts_ops``), and the stacking is DARTS's (``Skeleton``: a stem,
  reductions at 1/3 and 2/3 of the depth, each cell's inputs mapped to ``C`` channels by a 1x1 ReLU-Conv-BN
  or a FactorizedReduce), so a cell that only adds is the same network as its ``Genotype`` in
  ``build_network``;
* a block that **concatenates** would have ``2C`` channels; here a 1x1 convolution and a BatchNorm project
  it back to ``C``, so every hidden state has ``C`` channels and the cell's width depends only on how many
  loose ends it has (NASNet's paper does not say how it sized such a block; its published cells only add);
* NASNet offered 13 operations; the library builds 8 of them (``NASNET_OPERATIONS``: identity, 3x3
  average and max pooling, 3x3, 5x5 and 7x7 separable convolutions, a dilated 3x3 convolution, 1x7 then
  7x1 convolutions), which include every operation of the published NASNet-A cells.

An architecture is exactly the controller's sequence of decisions: two blocks that differ only in the order
of their inputs are different architectures (as for NASNet's controller), although an addition gives the
same function either way. ``count`` counts decision sequences.
"""

from __future__ import annotations

import ast
import itertools
import math
import random
from dataclasses import dataclass
from typing import Iterator, NamedTuple, Sequence

import torch
from torch import nn

from .base import ArchitectureError, SearchSpace
from .darts_genotype import Genotype, loose_ends
from .darts_network import SEARCH_SKELETON, CellNetwork, Skeleton, drop_path
from .darts_ops import OPERATIONS as CELL_OPERATIONS
from .darts_ops import FactorizedReduce, ReLUConvBN, build_operation

__all__ = [
    "COMBINATIONS", "NASNET_OPERATIONS", "Block", "NASNetArchitecture", "NASNetCell", "NASNetNetwork",
    "NASNetCellSpace", "count_nasnet_cell",
]

COMBINATIONS: tuple[str, ...] = ("add", "concat")
# NASNet's operations that the library builds (8 of its 13; missing: 1x3-then-3x1, 5x5 and 7x7 max pooling,
# 1x1 and 3x3 plain convolutions). NASNet's "3x3 dilated convolution" is DARTS's dil_conv_3x3 here.
NASNET_OPERATIONS: tuple[str, ...] = (
    "skip_connect", "avg_pool_3x3", "max_pool_3x3", "sep_conv_3x3", "sep_conv_5x5", "sep_conv_7x7",
    "dil_conv_3x3", "conv_7x1_1x7",
)
KINDS = ("normal", "reduce")
DECISIONS = ("first input", "second input", "first operation", "second operation", "combination")


class Block(NamedTuple):
    """One block: the controller's five decisions."""

    first: int  # hidden state the first operation reads
    second: int  # hidden state the second operation reads
    first_op: str
    second_op: str
    combine: str  # "add" or "concat"


def _as_block(entry, name: str, position: int) -> Block:
    if isinstance(entry, Block):
        return entry
    if not (isinstance(entry, (tuple, list)) and len(entry) == 5):
        raise ArchitectureError(
            f"{name}[{position}] is {entry!r}; a block is five decisions (first input, second input, first "
            "operation, second operation, combination), e.g. (1, 0, 'sep_conv_3x3', 'max_pool_3x3', 'add')."
        )
    first, second, first_op, second_op, combine = entry
    for label, value in (("first input", first), ("second input", second)):
        if not isinstance(value, int) or isinstance(value, bool):
            raise ArchitectureError(f"{name}[{position}]: the {label} must be a hidden state's number, got {value!r}.")
    for label, value in (("first operation", first_op), ("second operation", second_op), ("combination", combine)):
        if not isinstance(value, str):
            raise ArchitectureError(f"{name}[{position}]: the {label} must be a name (a string), got {value!r}.")
    return Block(first, second, first_op, second_op, combine)


@dataclass(frozen=True)
class NASNetArchitecture:
    """A normal and a reduction cell, each a tuple of ``Block``s. Written as
    ``NASNet(normal=[(1, 0, 'sep_conv_3x3', 'skip_connect', 'add'), ...], reduce=[...])``."""

    normal: tuple[Block, ...]
    reduce: tuple[Block, ...]

    def __post_init__(self) -> None:
        for kind in KINDS:
            value = getattr(self, kind)
            if not isinstance(value, (list, tuple)):
                raise ArchitectureError(
                    f"NASNetArchitecture.{kind} must be a list of blocks, got {type(value).__name__}.")
            object.__setattr__(self, kind, tuple(_as_block(entry, kind, i) for i, entry in enumerate(value)))

    def cell(self, kind: str) -> tuple[Block, ...]:
        if kind not in KINDS:
            raise ValueError(f"kind must be 'normal' or 'reduce', got {kind!r}.")
        return getattr(self, kind)

    def outputs(self, kind: str) -> tuple[int, ...]:
        """The hidden states the cell concatenates: the blocks no block of the cell reads (numbered from 2)."""
        blocks = self.cell(kind)
        read = {state for block in blocks for state in (block.first, block.second)}
        return tuple(j + 2 for j in range(len(blocks)) if j + 2 not in read)

    def __str__(self) -> str:
        def cell(blocks):
            return "[" + ", ".join(f"({b.first}, {b.second}, {b.first_op!r}, {b.second_op!r}, {b.combine!r})"
                                   for b in blocks) + "]"
        return f"NASNet(normal={cell(self.normal)}, reduce={cell(self.reduce)})"

    __repr__ = __str__

    @classmethod
    def parse(cls, text: str) -> "NASNetArchitecture":
        """Read the ``NASNet(normal=[...], reduce=[...])`` text with ``ast``: literals only, nothing is run."""
        if not isinstance(text, str):
            raise ArchitectureError(f"A NASNet architecture's text must be a string, got {type(text).__name__}.")
        try:
            tree = ast.parse(text.strip(), mode="eval").body
        except SyntaxError as error:
            raise ArchitectureError(
                f"Cannot read {text!r} as NASNet(normal=[...], reduce=[...]): {error.msg}.") from None
        if not (isinstance(tree, ast.Call) and isinstance(tree.func, ast.Name) and tree.func.id == "NASNet"
                and not tree.args and sorted(k.arg for k in tree.keywords) == ["normal", "reduce"]):
            raise ArchitectureError(
                f"Expected NASNet(normal=[...], reduce=[...]) with exactly these two keywords, got {text[:80]!r}."
            )
        cells = {}
        for keyword in tree.keywords:
            try:
                cells[keyword.arg] = ast.literal_eval(keyword.value)
            except ValueError:
                raise ArchitectureError(f"{keyword.arg}= must be a list of literal blocks; it holds an expression "
                                        "that is not a literal.") from None
        return cls(cells["normal"], cells["reduce"])

    @classmethod
    def from_genotype(cls, genotype: Genotype) -> "NASNetArchitecture":
        """A DARTS-style genotype whose cells concatenate their loose ends (NASNet-A, AmoebaNet-A) as blocks that
        add: node ``i``'s two edges become block ``i``'s inputs and operations."""
        cells = {}
        for kind in KINDS:
            edges, concat = genotype.cell(kind)
            if not edges:
                raise ArchitectureError(f"The genotype has no {kind} cell; a NASNet architecture needs both.")
            if tuple(concat) != loose_ends(edges):
                raise ArchitectureError(
                    f"The genotype's {kind} cell concatenates {list(concat)}, not its loose ends "
                    f"{list(loose_ends(edges))}: NASNet's cells output exactly the blocks no block reads."
                )
            cells[kind] = [(edges[2 * i][1], edges[2 * i + 1][1], edges[2 * i][0], edges[2 * i + 1][0], "add")
                           for i in range(len(edges) // 2)]
        return cls(cells["normal"], cells["reduce"])


def count_nasnet_cell(blocks: int, operations: int, combinations: int = len(COMBINATIONS)) -> int:
    """How many decision sequences make one cell: block ``j`` (from 0) chooses each of its two inputs among
    ``j + 2`` hidden states, an operation for each, and a combination:

        prod_{j=0}^{B-1} (j + 2)^2 * O^2 * K
    """
    if blocks < 1 or operations < 1 or combinations < 1:
        raise ValueError(
            f"blocks, operations and combinations must be positive, got {blocks}, {operations}, {combinations}.")
    return math.prod((j + 2) ** 2 * operations**2 * combinations for j in range(blocks))


# ------------------------------------------------------------------------------------------------- modules
class NASNetCell(nn.Module):
    """One cell: preprocess the two inputs to ``channels``, compute the blocks, concatenate the loose ends.

    s0: (N, C_prev_prev, H0, W0), s1: (N, C_prev, H, W) -> (N, len(outputs) * channels, H', W'); H' = H, or
    ceil(H / 2) in a reduction cell, where the operations reading the cell's inputs (0, 1) stride by 2.
    A concatenating block's (N, 2 * channels, ...) result is projected back to ``channels`` by ``projections``.
    """

    def __init__(self, blocks: Sequence[Block], prev_prev_channels: int, prev_channels: int, channels: int,
                 reduction: bool, reduce_first_input: bool):
        super().__init__()
        self.blocks = tuple(blocks)
        self.reduction = reduction
        read = {state for block in self.blocks for state in (block.first, block.second)}
        self.outputs = tuple(j + 2 for j in range(len(self.blocks)) if j + 2 not in read)
        if reduce_first_input:
            self.preprocess0: nn.Module = FactorizedReduce(prev_prev_channels, channels)
        else:
            self.preprocess0 = ReLUConvBN(prev_prev_channels, channels, 1)
        self.preprocess1 = ReLUConvBN(prev_channels, channels, 1)
        self.operations = nn.ModuleList(
            build_operation(op, channels, stride=2 if reduction and source < 2 else 1)
            for block in self.blocks
            for op, source in ((block.first_op, block.first), (block.second_op, block.second))
        )
        self.projections = nn.ModuleDict({
            str(j): nn.Sequential(nn.Conv2d(2 * channels, channels, 1, bias=False), nn.BatchNorm2d(channels))
            for j, block in enumerate(self.blocks) if block.combine == "concat"
        })
        self.out_channels = len(self.outputs) * channels

    def forward(self, s0: torch.Tensor, s1: torch.Tensor, drop_probability: float = 0.0) -> torch.Tensor:
        states = [self.preprocess0(s0), self.preprocess1(s1)]
        for j, block in enumerate(self.blocks):
            a = self.operations[2 * j](states[block.first])
            b = self.operations[2 * j + 1](states[block.second])
            if self.training and drop_probability > 0:  # NASNet's ScheduledDropPath, as DARTS's cells drop paths
                a, b = drop_path(a, drop_probability), drop_path(b, drop_probability)
            states.append(a + b if block.combine == "add" else self.projections[str(j)](torch.cat([a, b], dim=1)))
        return torch.cat([states[i] for i in self.outputs], dim=1)


class NASNetNetwork(CellNetwork):
    """The two cells stacked as DARTS stacks a genotype (``CellNetwork``: stem, reductions at 1/3 and 2/3 of the
    depth with the channels doubled, global average pooling, a linear classifier); only the cell differs.
    (N, C_in, H, W) images -> (N, num_classes) logits."""

    def __init__(self, architecture: NASNetArchitecture, input_shape: tuple[int, int, int], num_classes: int,
                 skeleton: Skeleton = SEARCH_SKELETON):
        super().__init__(architecture, input_shape, num_classes, skeleton)
        self.architecture = architecture

    def make_cell(self, kind: str, prev_prev_channels: int, prev_channels: int, channels: int, reduction: bool,
                  reduce_first_input: bool) -> NASNetCell:
        return NASNetCell(self.genotype.cell(kind), prev_prev_channels, prev_channels, channels,
                          reduction=reduction, reduce_first_input=reduce_first_input)


# --------------------------------------------------------------------------------------------------- space
class NASNetCellSpace(SearchSpace):
    """Every pair of NASNet cells (normal, reduction) of ``blocks`` blocks over ``operations``, each block
    combined by one of ``combinations``; ``build`` stacks them into ``skeleton``.

    As a sequence of decisions (what NAS-RL's controller emits): for the normal cell, then the reduction cell,
    for each block j: a hidden state ``h0 .. h{j+1}``, another one, an operation, another one, a combination.
    """

    name = "NASNet cell space"

    def __init__(self, operations: Sequence[str] = NASNET_OPERATIONS, blocks: int = 5,
                 combinations: Sequence[str] = COMBINATIONS, skeleton: Skeleton = SEARCH_SKELETON):
        operations, combinations = tuple(operations), tuple(combinations)
        unknown = [op for op in operations if op not in CELL_OPERATIONS or op == "none"]
        if not operations or unknown or len(set(operations)) != len(operations):
            raise ValueError(f"operations must be distinct names from {sorted(set(CELL_OPERATIONS) - {'none'})}; "
                             f"got {operations}.")
        if not isinstance(blocks, int) or isinstance(blocks, bool) or blocks < 1:
            raise ValueError(f"blocks (B) must be a positive integer, got {blocks!r}.")
        if (not combinations or any(c not in COMBINATIONS for c in combinations)
                or len(set(combinations)) != len(combinations)):
            raise ValueError(f"combinations must be distinct names from {COMBINATIONS}, got {combinations}.")
        if not isinstance(skeleton, Skeleton):
            raise TypeError(f"skeleton must be a Skeleton, got {type(skeleton).__name__}.")
        if skeleton.reduction != "cell" or skeleton.dense or skeleton.auxiliary or skeleton.drop_path:
            raise ValueError("NASNetCellSpace stacks a normal and a reduction cell plainly: use a Skeleton with "
                             "reduction='cell', dense=False, auxiliary=False and drop_path=0.")
        self.operations = operations
        self.blocks = blocks
        self.combinations = combinations
        self.skeleton = skeleton

    def __repr__(self) -> str:
        return (f"NASNetCellSpace({len(self.operations)} operations, B={self.blocks} blocks, combinations "
                f"{'/'.join(self.combinations)}, {self.skeleton.cells} cells x {self.skeleton.channels} channels; "
                f"{self.count():.3e} architectures)")

    # -- checking -------------------------------------------------------------------------------------
    def validate(self, architecture: NASNetArchitecture) -> None:
        """Raise ``ArchitectureError`` saying how ``architecture`` breaks this space's rules."""
        if not isinstance(architecture, NASNetArchitecture):
            raise ArchitectureError(f"Expected a NASNetArchitecture (or its text), got {type(architecture).__name__}.")
        for kind in KINDS:
            blocks = architecture.cell(kind)
            if len(blocks) != self.blocks:
                raise ArchitectureError(f"The {kind} cell has {len(blocks)} blocks; this space's cells have "
                                        f"B = {self.blocks}.")
            for j, block in enumerate(blocks):
                for label, state in (("first", block.first), ("second", block.second)):
                    if not 0 <= state < j + 2:
                        raise ArchitectureError(
                            f"Block {j} of the {kind} cell reads hidden state {state} as its {label} input; it may "
                            f"only read states 0..{j + 1} (0 and 1: the two previous cells' outputs, 2..: the "
                            "blocks made before it)."
                        )
                for label, op in (("first", block.first_op), ("second", block.second_op)):
                    if op not in self.operations:
                        raise ArchitectureError(f"Block {j} of the {kind} cell: {label} operation {op!r} is not in "
                                                f"this space's operations {self.operations}.")
                if block.combine not in self.combinations:
                    raise ArchitectureError(f"Block {j} of the {kind} cell combines by {block.combine!r}; choose one "
                                            f"of {self.combinations}.")

    def from_genotype(self, genotype: Genotype | str) -> NASNetArchitecture:
        """A published cell in DARTS's ``Genotype`` form (NASNet-A, AmoebaNet-A), as an architecture of this space."""
        genotype = Genotype.parse(genotype) if isinstance(genotype, str) else genotype
        architecture = NASNetArchitecture.from_genotype(genotype)
        self.validate(architecture)
        return architecture

    # -- the SearchSpace interface ----------------------------------------------------------------------
    def _sample_cell(self, rng: random.Random) -> tuple[Block, ...]:
        return tuple(Block(rng.randrange(j + 2), rng.randrange(j + 2), rng.choice(self.operations),
                           rng.choice(self.operations), rng.choice(self.combinations)) for j in range(self.blocks))

    def sample(self, rng: random.Random) -> NASNetArchitecture:
        return NASNetArchitecture(self._sample_cell(rng), self._sample_cell(rng))

    def _edit(self, architecture, rng: random.Random, what: str) -> NASNetArchitecture | None:
        """Change one decision of one block of one cell, at random; None when ``what`` cannot change anything."""
        architecture = self.as_architecture(architecture)
        kind = rng.choice(KINDS)
        j = rng.randrange(self.blocks)
        block = architecture.cell(kind)[j]
        side = rng.randrange(2)
        if what == "hidden_state":
            current = block.first if side == 0 else block.second
            choices = [s for s in range(j + 2) if s != current]
            new = block._replace(**{("first" if side == 0 else "second"): rng.choice(choices)})
        elif what == "operation":
            current = block.first_op if side == 0 else block.second_op
            choices = [op for op in self.operations if op != current]
            if not choices:
                return None
            new = block._replace(**{("first_op" if side == 0 else "second_op"): rng.choice(choices)})
        else:  # "combination"
            choices = [c for c in self.combinations if c != block.combine]
            if not choices:
                return None
            new = block._replace(combine=rng.choice(choices))
        cells = {k: list(architecture.cell(k)) for k in KINDS}
        cells[kind][j] = new
        return NASNetArchitecture(cells["normal"], cells["reduce"])

    def named_mutations(self) -> dict:
        """AmoebaNet's two mutations on NASNet's space (rewire one input: "hidden state"; replace one operation),
        and a third for NASNet's fifth decision (switch how a block combines)."""
        return {name: (lambda architecture, rng, name=name: self._edit(architecture, rng, name))
                for name in ("hidden_state", "operation", "combination")}

    def mutate(self, architecture, rng: random.Random) -> NASNetArchitecture:
        """One of the named mutations, drawn uniformly among those that can change something: always a new cell pair."""
        architecture = self.as_architecture(architecture)
        mutations = list(self.named_mutations().values())
        for _ in range(100):
            child = rng.choice(mutations)(architecture, rng)
            if child is not None and child != architecture:
                return child
        return architecture  # unreachable: rewiring always applies (every block has at least two states to read)

    def encode(self, architecture: NASNetArchitecture) -> str:
        return str(architecture)

    def decode(self, text: str) -> NASNetArchitecture:
        architecture = NASNetArchitecture.parse(text)
        self.validate(architecture)
        return architecture

    def count_cell(self) -> int:
        return count_nasnet_cell(self.blocks, len(self.operations), len(self.combinations))

    def count(self) -> int:
        """Normal cells times reduction cells: ``count_nasnet_cell(B, O, K) ** 2``."""
        return self.count_cell() ** 2

    def _cells(self) -> Iterator[tuple[Block, ...]]:
        per_block = [[Block(*choice) for choice in itertools.product(range(j + 2), range(j + 2), self.operations,
                                                                      self.operations, self.combinations)]
                     for j in range(self.blocks)]
        return itertools.product(*per_block)

    def enumerate(self) -> Iterator[NASNetArchitecture]:
        """Every architecture once (only sensible for tiny spaces)."""
        for normal in self._cells():
            for reduce in self._cells():
                yield NASNetArchitecture(normal, reduce)

    def build(self, architecture, input_shape: tuple[int, int, int], num_classes: int) -> NASNetNetwork:
        return NASNetNetwork(self.as_architecture(architecture), tuple(input_shape), num_classes, self.skeleton)

    def simplest(self) -> NASNetArchitecture:
        """Every block adds the previous cell's output to itself through an identity (the first operation where
        the space has no ``skip_connect``): a cell with no weights of its own."""
        op = "skip_connect" if "skip_connect" in self.operations else self.operations[0]
        combine = "add" if "add" in self.combinations else self.combinations[0]
        cell = [Block(1, 1, op, op, combine)] * self.blocks
        return NASNetArchitecture(cell, cell)

    # -- the sequence of decisions (NAS-RL's controller) -------------------------------------------------
    def vocabulary(self) -> tuple[str, ...]:
        """Hidden states ``h0 .. h{B+1}``, the operations, the combinations."""
        return tuple(f"h{s}" for s in range(self.blocks + 2)) + self.operations + self.combinations

    def token_choices(self, tokens: Sequence[str]) -> tuple[str, ...]:
        step = len(tokens)
        if step >= 2 * 5 * self.blocks:
            return ()
        j, decision = (step % (5 * self.blocks)) // 5, step % 5
        if decision < 2:
            return tuple(f"h{s}" for s in range(j + 2))  # a block reads only what exists before it
        if decision < 4:
            return self.operations
        return self.combinations

    def from_tokens(self, tokens: Sequence[str]) -> NASNetArchitecture:
        tokens = self.check_tokens(tokens)
        cells = []
        for start in (0, 5 * self.blocks):
            cell = []
            for j in range(self.blocks):
                first, second, first_op, second_op, combine = tokens[start + 5 * j:start + 5 * j + 5]
                cell.append(Block(int(first[1:]), int(second[1:]), first_op, second_op, combine))
            cells.append(cell)
        return NASNetArchitecture(*cells)

    def to_tokens(self, architecture) -> tuple[str, ...]:
        architecture = self.as_architecture(architecture)
        return tuple(token for kind in KINDS for b in architecture.cell(kind)
                     for token in (f"h{b.first}", f"h{b.second}", b.first_op, b.second_op, b.combine))

    def describe(self, architecture, kind: str) -> str:
        """One line per block, e.g. ``block 2 = sep_conv_3x3(h1) + skip_connect(h0)``; then the output."""
        architecture = self.as_architecture(architecture)
        lines = []
        for j, b in enumerate(architecture.cell(kind)):
            a, c = f"{b.first_op}(h{b.first})", f"{b.second_op}(h{b.second})"
            lines.append(f"h{j + 2} = {a} + {c}" if b.combine == "add" else f"h{j + 2} = project(concat[{a}, {c}])")
        lines.append("output = concat[" + ", ".join(f"h{i}" for i in architecture.outputs(kind)) + "]")
        return "\n".join(lines)
