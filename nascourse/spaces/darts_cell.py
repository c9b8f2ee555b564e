"""The NASNet / DARTS cell search space: search two small cells, stack them into a network (survey Sec. 3.1).

NASNet (Zoph et al., CVPR 2018) replaced the global search of early NAS by a *modular* one: search
a **normal cell**, which keeps the resolution, and a **reduction cell**, which halves it, then stack
copies of them (survey Fig. 4). DARTS (Liu et al., ICLR 2019) kept that space and wrote it down in
the form most later work uses. A cell is a DAG with two inputs and ``B`` intermediate nodes:

* the inputs ``c_{k-2}`` and ``c_{k-1}`` (numbered 0 and 1) are the outputs of the two previous cells;
* intermediate node ``i`` (numbered ``i + 2``) adds two operations applied to two earlier nodes:
  ``x_i = o_a(x_a) + o_b(x_b)``,  ``a, b < i + 2``;
* the cell's output concatenates intermediate nodes along the channels: all of them in DARTS,
  the "loose ends" (nodes no other node reads) in NASNet, ENAS and AmoebaNet.

A cell is written as the ``Genotype`` text of the published code: one ``(operation, input)`` pair
per edge, two consecutive pairs per node, for instance DARTS (2nd order)'s normal cell::

    Genotype(normal=[('sep_conv_3x3', 0), ('sep_conv_3x3', 1), ('sep_conv_3x3', 0), ('sep_conv_3x3', 1),
                     ('sep_conv_3x3', 1), ('skip_connect', 0), ('skip_connect', 0), ('dil_conv_3x3', 2)],
             normal_concat=[2, 3, 4, 5], reduce=[...], reduce_concat=[2, 3, 4, 5])

``Genotype.parse`` reads that text with Python's ``ast`` (never ``eval``), and ``str(genotype)``
writes it back. ``build_network`` turns any genotype into the CIFAR network of DARTS: a 3x3 stem
convolution, ``cells`` cells with reductions at 1/3 and 2/3 of the depth (channels doubled there),
global average pooling and a linear classifier; optionally an auxiliary head and drop-path. The
``Skeleton`` also builds the macro variants the survey lists (Fig. 5): reductions by pooling
(Block-QNN, Dpp-net) or by a stride-2 convolution (Hierarchical-EAS) instead of a reduction cell,
and dense connections between cells (Dpp-net).
"""

from __future__ import annotations

import ast
import itertools
import math
import random
from dataclasses import dataclass
from typing import Iterator, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from ..darts_ops import OPERATIONS as CELL_OPERATIONS
from ..darts_ops import PRIMITIVES, FactorizedReduce, ReLUConvBN, build_operation
from .base import ArchitectureError, SearchSpace

__all__ = [
    "SEARCH_OPERATIONS",
    "Genotype",
    "Skeleton",
    "SEARCH_SKELETON",
    "EVALUATION_SKELETON",
    "DartsCellSpace",
    "Cell",
    "AuxiliaryHead",
    "CellNetwork",
    "build_network",
    "drop_path",
    "auxiliary_loss",
    "loose_ends",
    "count_cell",
    "cell_depth",
    "cell_width",
]

# The seven operations a derived DARTS cell may hold: the search set without the zero operation.
SEARCH_OPERATIONS: tuple[str, ...] = tuple(op for op in PRIMITIVES if op != "none")
CELL_FIELDS = ("normal", "normal_concat", "reduce", "reduce_concat")
REDUCTIONS = ("cell", "max_pool", "avg_pool", "conv")


# ----------------------------------------------------------------------------------------- genotype
def _format_cell(entries: Sequence[tuple[str, int]]) -> str:
    return "[" + ", ".join(f"({op!r}, {index})" for op, index in entries) + "]"


def _check_cell(entries: tuple, concat: tuple, name: str) -> None:
    """Raise ``ArchitectureError`` saying what is wrong with one cell of a genotype."""
    if len(entries) % 2:
        raise ArchitectureError(
            f"{name} has {len(entries)} (operation, input) pairs; a cell needs two per intermediate node, "
            "an even number."
        )
    for position, entry in enumerate(entries):
        if not (isinstance(entry, tuple) and len(entry) == 2 and isinstance(entry[0], str)
                and isinstance(entry[1], int) and not isinstance(entry[1], bool)):
            raise ArchitectureError(
                f"{name}[{position}] is {entry!r}; every edge is an (operation, input) pair such as ('sep_conv_3x3', 0)."
            )
        op, source = entry
        node = position // 2 + 2
        if op not in CELL_OPERATIONS:
            raise ArchitectureError(f"{name}[{position}]: unknown operation {op!r}; known: {sorted(CELL_OPERATIONS)}.")
        if not 0 <= source < node:
            raise ArchitectureError(
                f"{name}[{position}] = {entry!r} feeds node {node}, which may only read nodes 0..{node - 1} "
                "(0 and 1 are the cell's inputs c_{k-2} and c_{k-1}, 2.. the earlier intermediate nodes)."
            )
    nodes = len(entries) // 2
    if entries and not concat:
        raise ArchitectureError(f"{name}_concat is empty: a cell must output at least one intermediate node.")
    if len(set(concat)) != len(concat) or any(not isinstance(i, int) or not 2 <= i < nodes + 2 for i in concat):
        raise ArchitectureError(
            f"{name}_concat = {list(concat)} must list distinct intermediate nodes among {list(range(2, nodes + 2))}."
        )
    if not entries and concat:
        raise ArchitectureError(f"{name} has no nodes, so {name}_concat must be empty too.")


@dataclass(frozen=True)
class Genotype:
    """A discrete cell architecture: edges of the normal and the reduction cell and what each outputs.

    ``normal[2 i]`` and ``normal[2 i + 1]`` are the two ``(operation, input)`` edges of intermediate node
    ``i + 2``; ``normal_concat`` lists the nodes concatenated into the cell's output. ``reduce`` is empty
    for networks that reduce the resolution without a reduction cell (Block-QNN, Dpp-net, Hierarchical-EAS).
    """

    normal: tuple[tuple[str, int], ...]
    normal_concat: tuple[int, ...]
    reduce: tuple[tuple[str, int], ...] = ()
    reduce_concat: tuple[int, ...] = ()

    def __post_init__(self) -> None:
        for name in CELL_FIELDS:  # accept lists (as in published code); store tuples (hashable, immutable)
            value = getattr(self, name)
            if isinstance(value, range):
                value = list(value)
            if not isinstance(value, (list, tuple)):
                raise ArchitectureError(f"Genotype.{name} must be a list, got {type(value).__name__}.")
            if name.endswith("concat"):
                stored = tuple(value)
            else:
                stored = tuple(tuple(entry) if isinstance(entry, list) else entry for entry in value)
            object.__setattr__(self, name, stored)
        if not self.normal:
            raise ArchitectureError("Genotype.normal is empty: the normal cell needs at least one node (two edges).")
        _check_cell(self.normal, self.normal_concat, "normal")
        _check_cell(self.reduce, self.reduce_concat, "reduce")

    # -- the text form of published code --------------------------------------------------------
    def __str__(self) -> str:
        return (
            f"Genotype(normal={_format_cell(self.normal)}, normal_concat={list(self.normal_concat)}, "
            f"reduce={_format_cell(self.reduce)}, reduce_concat={list(self.reduce_concat)})"
        )

    __repr__ = __str__

    @classmethod
    def parse(cls, text: str) -> "Genotype":
        """Read the ``Genotype(normal=[...], normal_concat=[...], reduce=[...], reduce_concat=[...])`` text.

        Safe: the text is parsed with ``ast`` and only literals are read (lists, tuples, strings, integers,
        and ``range(a, b)`` for the concat lists, as DARTS's search code prints them); nothing is executed.
        """
        example = "Genotype(normal=[('sep_conv_3x3', 0), ('skip_connect', 1)], normal_concat=[2], reduce=[], reduce_concat=[])"
        if not isinstance(text, str):
            raise ArchitectureError(f"A genotype is read from a string, got {type(text).__name__}.")
        source = text.strip()
        if source.startswith("genotype") and "=" in source.split("(", 1)[0]:
            source = source.split("=", 1)[1].strip()  # a line copied from a DARTS log: "genotype = Genotype(...)"
        try:
            tree = ast.parse(source, mode="eval")
        except SyntaxError as error:
            raise ArchitectureError(f"Not a genotype: {error.msg} in {text!r}. Write it like {example}.") from None
        call = tree.body
        if not (isinstance(call, ast.Call) and isinstance(call.func, ast.Name) and call.func.id == "Genotype"):
            raise ArchitectureError(f"A genotype is written as a call Genotype(...), e.g. {example}; got {text!r}.")
        if len(call.args) > len(CELL_FIELDS):
            raise ArchitectureError(f"Genotype takes at most {len(CELL_FIELDS)} values {CELL_FIELDS}; got {len(call.args)}.")
        values: dict[str, ast.expr] = dict(zip(CELL_FIELDS, call.args))
        for keyword in call.keywords:
            if keyword.arg not in CELL_FIELDS:
                raise ArchitectureError(f"Unknown Genotype field {keyword.arg!r}; the fields are {CELL_FIELDS}.")
            if keyword.arg in values:
                raise ArchitectureError(f"Genotype field {keyword.arg!r} is given twice.")
            values[keyword.arg] = keyword.value
        missing = [name for name in ("normal", "normal_concat") if name not in values]
        if missing:
            raise ArchitectureError(f"Genotype is missing {missing}; write it like {example}.")
        fields = {name: _literal(values[name], name) for name in values}
        return cls(**fields)

    # -- structure --------------------------------------------------------------------------------
    def cell(self, kind: str) -> tuple[tuple[tuple[str, int], ...], tuple[int, ...]]:
        """``(edges, concat)`` of the "normal" or the "reduce" cell."""
        if kind not in ("normal", "reduce"):
            raise ValueError(f"kind must be 'normal' or 'reduce', got {kind!r}.")
        return getattr(self, kind), getattr(self, f"{kind}_concat")

    def nodes(self, kind: str = "normal") -> int:
        """Number of intermediate nodes B of a cell."""
        return len(self.cell(kind)[0]) // 2

    def operations(self) -> list[str]:
        return [op for op, _ in self.normal + self.reduce]


def _literal(node: ast.expr, name: str):
    """The value of one Genotype field: a literal, or range(a[, b]) for a concat list."""
    if (name.endswith("concat") and isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
            and node.func.id == "range" and not node.keywords and 1 <= len(node.args) <= 2):
        try:
            bounds = [ast.literal_eval(arg) for arg in node.args]
        except ValueError:
            bounds = []
        if bounds and all(isinstance(b, int) for b in bounds):
            return list(range(*bounds))
    try:
        value = ast.literal_eval(node)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        raise ArchitectureError(
            f"Genotype field {name!r} must be a literal list (only strings, integers, lists and tuples; "
            f"range(a, b) for a concat), got {ast.unparse(node)!r}."
        ) from None
    if not isinstance(value, (list, tuple)):
        raise ArchitectureError(f"Genotype field {name!r} must be a list, got {value!r}.")
    return list(value)


def loose_ends(edges: Sequence[tuple[str, int]]) -> tuple[int, ...]:
    """Intermediate nodes that no other node reads: what NASNet, ENAS and AmoebaNet concatenate."""
    read = {source for _, source in edges}
    return tuple(node for node in range(2, len(edges) // 2 + 2) if node not in read)


def cell_depth(edges: Sequence[tuple[str, int]], concat: Sequence[int]) -> int:
    """Depth of a cell as Shu et al. define it ("Understanding Architectures Learnt by Cell-based Neural
    Architecture Search", ICLR 2020): the number of connections on the longest path from an input node to the
    cell's output, the final concatenation counting as one connection. A cell whose nodes all read the two
    inputs has depth 2; a chain of B nodes has depth B + 1."""
    depth = {0: 0, 1: 0}
    for node in range(len(edges) // 2):
        depth[node + 2] = 1 + max(depth[edges[2 * node][1]], depth[edges[2 * node + 1][1]])
    return 1 + max(depth[node] for node in concat)


def cell_width(edges: Sequence[tuple[str, int]]) -> float:
    """Width of a cell as Shu et al. define it, in units of the cell's channels c: the intermediate nodes
    connected to the input nodes, a node counting one half when only one of its two edges reads an input."""
    return sum(
        sum(1 for _, source in (edges[2 * node], edges[2 * node + 1]) if source < 2) / 2
        for node in range(len(edges) // 2)
    )


# ----------------------------------------------------------------------------------------- counting
def count_cell(nodes: int, operations: int, distinct_inputs: bool = True) -> int:
    """How many different cells of ``nodes`` intermediate nodes (not counting isomorphic graphs as one).

    Node ``i`` (0-based) reads two of the ``i + 2`` nodes before it, each through one of ``operations``
    operations, and adds the two. The sum does not depend on the order of its terms, so a node is an
    unordered pair of (input, operation) choices:

    * distinct inputs (DARTS):  C(i + 2, 2) * operations^2   per node;
    * inputs may repeat (NASNet): n (n + 1) / 2 with n = (i + 2) * operations   per node.

    A cell is the product over its nodes. The output (all nodes, or the loose ends) is fixed by the edges.
    """
    if nodes < 1 or operations < 1:
        raise ValueError(f"nodes and operations must be positive, got {nodes} and {operations}.")
    total = 1
    for i in range(nodes):
        inputs = i + 2
        if distinct_inputs:
            total *= math.comb(inputs, 2) * operations**2
        else:
            choices = inputs * operations
            total *= choices * (choices + 1) // 2
    return total


# ----------------------------------------------------------------------------------------- skeleton
@dataclass(frozen=True)
class Skeleton:
    """The macro architecture the cells are stacked into (survey Fig. 4 and Fig. 5).

    ``cells`` cells in a row, the first ones at ``channels`` channels; at 1/3 and 2/3 of the depth the
    resolution halves and the channels double. ``reduction`` says how the resolution halves there:

    * ``"cell"``: a reduction cell (NASNet, DARTS);
    * ``"max_pool"``: a 3x3 max pooling with stride 2 (Block-QNN);
    * ``"avg_pool"``: a 3x3 average pooling with stride 2 (Dpp-net);
    * ``"conv"``: a 3x3 ReLU-Conv-BN with stride 2 (Hierarchical-EAS).

    With ``dense`` each cell's second input is the concatenation of every feature map of its stage
    (the stage input and all cell outputs so far), as DenseNet and Dpp-net connect their blocks.
    ``auxiliary`` adds the auxiliary classifier of NASNet/DARTS after the cell at 2/3 of the depth;
    ``drop_path`` is the probability of dropping each operation's output while training (DARTS: 0.2).
    """

    cells: int = 8
    channels: int = 16
    reduction: str = "cell"
    dense: bool = False
    auxiliary: bool = False
    drop_path: float = 0.0
    stem_multiplier: int = 3

    def __post_init__(self) -> None:
        if not isinstance(self.cells, int) or self.cells < 3:
            raise ValueError(f"A skeleton needs at least 3 cells (two reductions and a normal cell), got {self.cells!r}.")
        if not isinstance(self.channels, int) or self.channels < 2:
            raise ValueError(f"channels must be an integer >= 2, got {self.channels!r}.")
        if self.reduction not in REDUCTIONS:
            raise ValueError(f"reduction must be one of {REDUCTIONS}, got {self.reduction!r}.")
        if not 0.0 <= self.drop_path < 1.0:
            raise ValueError(f"drop_path is a probability in [0, 1), got {self.drop_path!r}.")
        if not isinstance(self.stem_multiplier, int) or self.stem_multiplier < 1:
            raise ValueError(f"stem_multiplier must be a positive integer, got {self.stem_multiplier!r}.")

    def reduction_positions(self) -> tuple[int, int]:
        """Indices of the two layers that halve the resolution: 1/3 and 2/3 of the depth (as DARTS)."""
        return (self.cells // 3, 2 * self.cells // 3)

    def searched_cells(self) -> tuple[str, ...]:
        """Which cells a search must choose: both, or only the normal cell when something else reduces."""
        return ("normal", "reduce") if self.reduction == "cell" else ("normal",)


SEARCH_SKELETON = Skeleton(cells=8, channels=16)  # DARTS's search network on CIFAR-10
EVALUATION_SKELETON = Skeleton(cells=20, channels=36, auxiliary=True, drop_path=0.2)  # DARTS's evaluation network


# ----------------------------------------------------------------------------------------- modules
def drop_path(x: torch.Tensor, probability: float) -> torch.Tensor:
    """Zero each example's tensor with ``probability`` and rescale the rest (NASNet's ScheduledDropPath)."""
    keep = 1.0 - probability
    mask = torch.empty(x.shape[0], 1, 1, 1, device=x.device, dtype=x.dtype).bernoulli_(keep)
    return x * mask / keep


class Cell(nn.Module):
    """One cell: preprocess the two inputs to ``channels``, compute the nodes, concatenate the chosen ones.

    s0: (B, C_prev_prev, H0, W0), s1: (B, C_prev, H, W) -> (B, len(concat) * channels, H', W') with H' = H,
    or ceil(H / 2) in a reduction cell. When s0 has twice s1's resolution (the cell after a reduction),
    it is brought down with a FactorizedReduce.
    """

    def __init__(self, edges: Sequence[tuple[str, int]], concat: Sequence[int], prev_prev_channels: int,
                 prev_channels: int, channels: int, reduction: bool, reduce_first_input: bool, affine: bool = True):
        super().__init__()
        self.reduction = reduction
        self.concat = tuple(concat)
        self.inputs = tuple(source for _, source in edges)
        if reduce_first_input:
            self.preprocess0: nn.Module = FactorizedReduce(prev_prev_channels, channels, affine=affine)
        else:
            self.preprocess0 = ReLUConvBN(prev_prev_channels, channels, 1, affine=affine)
        self.preprocess1 = ReLUConvBN(prev_channels, channels, 1, affine=affine)
        # In a reduction cell the edges reading the cell's inputs (0, 1) stride by 2; the others do not.
        self.edges = nn.ModuleList(
            build_operation(op, channels, stride=2 if reduction and source < 2 else 1, affine=affine)
            for op, source in edges
        )
        self.out_channels = len(self.concat) * channels

    def forward(self, s0: torch.Tensor, s1: torch.Tensor, drop_probability: float = 0.0) -> torch.Tensor:
        states = [self.preprocess0(s0), self.preprocess1(s1)]
        for node in range(len(self.edges) // 2):
            total = 0
            for edge in (2 * node, 2 * node + 1):
                out = self.edges[edge](states[self.inputs[edge]])
                if self.training and drop_probability > 0 and not isinstance(self.edges[edge], nn.Identity):
                    out = drop_path(out, drop_probability)
                total = total + out
            states.append(total)
        return torch.cat([states[i] for i in self.concat], dim=1)


class AuxiliaryHead(nn.Module):
    """NASNet/DARTS's auxiliary classifier, read from the features at 2/3 of the depth.

    ReLU -> 5x5 average pooling, stride 3 -> 1x1 conv to 128 -> BN -> ReLU -> 2x2 conv to 768 -> BN -> ReLU
    -> linear. On CIFAR the features there are 8x8 and the pooling gives 2x2; maps smaller than 5x5 (8x8
    digits) are pooled to 2x2 adaptively instead, with the same parameters.
    """

    def __init__(self, channels: int, num_classes: int):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(channels, 128, 1, bias=False), nn.BatchNorm2d(128), nn.ReLU(inplace=False),
            nn.Conv2d(128, 768, 2, bias=False), nn.BatchNorm2d(768), nn.ReLU(inplace=False),
        )
        self.classifier = nn.Linear(768, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.relu(x)
        if min(x.shape[-2:]) >= 5:
            x = F.avg_pool2d(x, 5, stride=3, padding=0, count_include_pad=False)
        else:
            x = F.adaptive_avg_pool2d(x, 2)
        x = self.features(x)
        return self.classifier(F.adaptive_avg_pool2d(x, 1).flatten(1))


def _downsample(kind: str, channels: int) -> nn.Module:
    """A reduction without a cell (Block-QNN, Dpp-net, Hierarchical-EAS); keeps the channel count."""
    if kind == "max_pool":
        return nn.MaxPool2d(3, stride=2, padding=1)
    if kind == "avg_pool":
        return nn.AvgPool2d(3, stride=2, padding=1, count_include_pad=False)
    return ReLUConvBN(channels, channels, 3, stride=2, padding=1)  # "conv"


class CellNetwork(nn.Module):
    """A genotype stacked into DARTS's CIFAR network (or one of the macro variants of ``Skeleton``).

    (B, C_in, H, W) images -> (B, num_classes) logits. In training mode with an auxiliary head, the head's
    logits of the last forward pass are kept in ``auxiliary_logits`` (``auxiliary_loss`` adds them to the loss).
    ``drop_path_probability`` starts at the skeleton's value; DARTS raises it linearly from 0 over the epochs,
    which a training loop can do by setting it before each epoch.
    """

    def __init__(self, genotype: Genotype, input_shape: tuple[int, int, int], num_classes: int,
                 skeleton: Skeleton = EVALUATION_SKELETON):
        super().__init__()
        if skeleton.reduction == "cell" and not genotype.reduce:
            raise ArchitectureError(
                "This genotype has no reduction cell (reduce=[]), but the skeleton reduces with cells. Use a "
                "Skeleton with reduction='max_pool', 'avg_pool' or 'conv', or give the genotype a reduce cell."
            )
        self.genotype = genotype
        self.skeleton = skeleton
        self.drop_path_probability = skeleton.drop_path
        self.auxiliary_logits: torch.Tensor | None = None
        stem_channels = skeleton.stem_multiplier * skeleton.channels
        self.stem = nn.Sequential(
            nn.Conv2d(input_shape[0], stem_channels, 3, padding=1, bias=False), nn.BatchNorm2d(stem_channels)
        )
        reductions = skeleton.reduction_positions()
        self.layers = nn.ModuleList()
        self.reduces: list[bool] = []  # whether layer k halves the resolution
        # Bookkeeping of what each layer receives, mirrored exactly by forward():
        previous_out, last_out = stem_channels, stem_channels  # channels of the last two layer outputs
        level_previous, level_last = 0, 0  # how often each was halved
        stage = [stem_channels]  # channels of the feature maps of the current stage (for dense connections)
        width = skeleton.channels
        self.auxiliary_position = 2 * skeleton.cells // 3
        self.auxiliary_head: nn.Module | None = None
        for index in range(skeleton.cells):
            second_input = sum(stage) if skeleton.dense else last_out
            reduces = index in reductions
            if reduces:
                width *= 2
            if reduces and skeleton.reduction != "cell":
                layer: nn.Module = _downsample(skeleton.reduction, second_input)
                out_channels = second_input
            else:
                edges, concat = genotype.cell("reduce" if reduces else "normal")
                layer = Cell(edges, concat, previous_out, second_input, width, reduction=reduces,
                             reduce_first_input=level_previous < level_last)
                out_channels = layer.out_channels
            self.layers.append(layer)
            self.reduces.append(reduces)
            previous_out, last_out = last_out, out_channels
            level_previous, level_last = level_last, level_last + int(reduces)
            stage = [out_channels] if reduces else stage + [out_channels]
            if skeleton.auxiliary and index == self.auxiliary_position:
                self.auxiliary_head = AuxiliaryHead(out_channels, num_classes)
        self.final_channels = sum(stage) if skeleton.dense else last_out
        self.classifier = nn.Linear(self.final_channels, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.auxiliary_logits = None
        s0 = s1 = self.stem(x)
        stage = [s1]
        for index, (layer, reduces) in enumerate(zip(self.layers, self.reduces)):
            second = torch.cat(stage, dim=1) if self.skeleton.dense and len(stage) > 1 else s1
            out = layer(s0, second, self.drop_path_probability) if isinstance(layer, Cell) else layer(second)
            s0, s1 = s1, out
            stage = [out] if reduces else stage + [out]
            if self.auxiliary_head is not None and index == self.auxiliary_position and self.training:
                self.auxiliary_logits = self.auxiliary_head(out)
        features = torch.cat(stage, dim=1) if self.skeleton.dense and len(stage) > 1 else s1
        return self.classifier(F.adaptive_avg_pool2d(features, 1).flatten(1))

    def parameter_count(self, auxiliary: bool = False) -> int:
        """Trainable parameters; without the auxiliary head by default, as papers report them (it is
        dropped after training)."""
        return sum(
            p.numel() for name, p in self.named_parameters()
            if p.requires_grad and (auxiliary or not name.startswith("auxiliary_head."))
        )


def build_network(genotype: Genotype | str, input_shape: tuple[int, int, int] = (3, 32, 32), num_classes: int = 10,
                  skeleton: Skeleton = EVALUATION_SKELETON) -> CellNetwork:
    """Any genotype (or its text) -> a freshly initialised network; by default DARTS's CIFAR-10 evaluation
    network (20 cells, 36 initial channels, auxiliary head, drop-path 0.2)."""
    if isinstance(genotype, str):
        genotype = Genotype.parse(genotype)
    if not isinstance(genotype, Genotype):
        raise TypeError(f"build_network needs a Genotype or its text, got {type(genotype).__name__}.")
    return CellNetwork(genotype, tuple(input_shape), num_classes, skeleton)


def auxiliary_loss(network: CellNetwork, weight: float = 0.4):
    """A ``loss_function(logits, x, y)`` for ``nascourse.train``: cross-entropy plus ``weight`` times the
    auxiliary head's cross-entropy (DARTS uses 0.4), when the network has one."""

    def loss(logits: torch.Tensor, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        value = F.cross_entropy(logits, y)
        if network.auxiliary_logits is not None:
            value = value + weight * F.cross_entropy(network.auxiliary_logits, y)
        return value

    return loss


# ----------------------------------------------------------------------------------------- the space
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
