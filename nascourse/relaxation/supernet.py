"""The DARTS supernet: every edge of the cell carries every operation at once (survey Sec. 3.2, Eq. 3-5).

A DARTS cell (chapter 02's space) has two inputs and ``B`` intermediate nodes; node ``j`` may read
every earlier node ``i`` through an edge (i, j). Instead of choosing one operation per edge, the
supernet puts the *mixed operation* of Eq. 4 on every edge and sums the edges into each node
(Eq. 3)::

    x_j = sum_{i < j}  o_bar^(i,j)(x_i),      o_bar^(i,j)(x) = sum_o  w_o^(i,j) * o(x)

The weights ``w`` come from the architecture parameters ``alpha`` (one row per edge, one column per
operation; ``alpha_normal`` and ``alpha_reduce`` are shared by all normal and all reduction cells)
through the method's ``MixingRule`` (``nascourse.relaxation.mixing``): a softmax (DARTS, P-DARTS), a
Gumbel sample (GDAS), a node-wide softmax (I-DARTS), or a softmax on a slice of the channels with edge
normalisation (PC-DARTS). After the search, Eq. 5 turns alpha into a discrete cell:
``derive_cell`` keeps on every edge its strongest operation other than ``none``, and on every node
its two strongest incoming edges.

Three things make this supernet faster than a literal transcription (a Python loop over every
operation of every edge, the structure of the DARTS code), with the same outputs:

* a parameter-free operation (skip, the two poolings with their BatchNorm) gives the same result on
  every edge leaving the same node, so ``SharedSource`` computes it once per node, not once per edge;
* ``none`` contributes ``w * 0``, so it is never computed; only its weight in the softmax matters;
* on the CPU the cells run on channels-last tensors, where oneDNN's (depthwise) convolutions are faster.

``benchmarks/bench_darts_step.py`` measures both against the literal version, side by side.
"""

from __future__ import annotations

from typing import Callable, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from ..spaces.base import ArchitectureError
from ..spaces.darts_genotype import Genotype
from ..spaces.darts_network import Skeleton
from ..spaces.darts_ops import PRIMITIVES, FactorizedReduce, ReLUConvBN, build_operation
from .mixing import mixing_rule, node_slices

__all__ = [
    "split_channels",
    "edge_output",
    "SharedSource",
    "MixedOp",
    "SearchCell",
    "Supernet",
    "channel_shuffle",
    "derive_cell",
    "cap_skip_connections",
]

POOLS = ("max_pool_3x3", "avg_pool_3x3")


class SharedSource:
    """The parameter-free operations of one node, each computed at most once for all edges leaving it.

    ``functions`` maps an operation's name to a function of the node's tensor; ``get(name)``
    computes it on first use and returns the stored result afterwards.
    """

    def __init__(self, x: torch.Tensor, functions: dict[str, Callable[[torch.Tensor], torch.Tensor]]):
        self.x = x
        self.functions = functions
        self._results: dict[str, torch.Tensor] = {}

    def shares(self, name: str) -> bool:
        return name in self.functions

    def get(self, name: str) -> torch.Tensor:
        if name not in self._results:
            self._results[name] = self.functions[name](self.x)
        return self._results[name]


class MixedOp(nn.Module):
    """Eq. 4 on one edge: ``sum_o w_o * o(x)`` over this edge's operations.

    Only the operations with parameters live here (each edge has its own weights); the
    parameter-free ones come from the ``SharedSource`` of the edge's input node.
    x: (B, C, H, W) -> (B, C, H / stride, W / stride).
    """

    def __init__(self, operations: Sequence[str], build: Callable[[str], nn.Module | None]):
        super().__init__()
        self.operations = tuple(operations)
        self.ops = nn.ModuleDict()
        for name in self.operations:
            module = build(name)
            if module is not None:
                self.ops[name] = module

    def output(self, name: str, source: SharedSource) -> torch.Tensor:
        return self.ops[name](source.x) if name in self.ops else source.get(name)

    def forward(self, source: SharedSource, weights: torch.Tensor, skip_dropout: float = 0.0) -> torch.Tensor:
        """weights: (operations,) for this edge."""
        total = None
        for weight, name in zip(weights, self.operations):
            if name == "none":  # o(x) = 0: nothing to add, whatever its weight
                continue
            out = self.output(name, source)
            if skip_dropout > 0 and name in ("skip_connect", "skip"):
                out = F.dropout(out, skip_dropout, training=self.training)
            total = weight * out if total is None else total + weight * out
        return total if total is not None else source.get("none")

    def single(self, source: SharedSource, weights: torch.Tensor, index: int) -> torch.Tensor:
        """GDAS: only operation ``index`` runs; its weight is 1 in value and carries alpha's gradient."""
        name = self.operations[index]
        return weights[index] * (source.get("none") if name == "none" else self.output(name, source))


def channel_shuffle(x: torch.Tensor, groups: int) -> torch.Tensor:
    """ShuffleNet's channel shuffle: (B, g * n, H, W) viewed as g groups of n, transposed to n groups of g.

    PC-DARTS shuffles after every edge so that the next edge's 1/K slice holds other channels.
    """
    batch, channels, height, width = x.shape
    return x.view(batch, groups, channels // groups, height, width).transpose(1, 2).reshape(batch, channels, height, width)


def split_channels(x: torch.Tensor, partial_channels: int, stride: int = 1) -> tuple[torch.Tensor, torch.Tensor | None]:
    """PC-DARTS: the first C / K channels go through the mixed operations, the rest bypass them (pooled to
    the output size when the edges stride). With K = 1 everything goes through and nothing bypasses."""
    if partial_channels == 1:
        return x, None
    mixed = x.shape[1] // partial_channels
    rest = x[:, mixed:]
    return x[:, :mixed], F.max_pool2d(rest, 2, 2, ceil_mode=True) if stride == 2 else rest


def edge_output(mixed_op: "MixedOp", source: SharedSource, weights: torch.Tensor, sampled: int | None = None,
                bypass: torch.Tensor | None = None, partial_channels: int = 1, scale: torch.Tensor | None = None,
                skip_dropout: float = 0.0) -> torch.Tensor:
    """What one edge adds to its node, for every method: the mixed operation (Eq. 4) or GDAS's sampled one;
    PC-DARTS's bypassed channels joined back and shuffled; PC-DARTS's edge weight."""
    if sampled is not None:
        out = mixed_op.single(source, weights, sampled)
    else:
        out = mixed_op(source, weights, skip_dropout)
    if bypass is not None:
        out = channel_shuffle(torch.cat([out, bypass], dim=1), partial_channels)
    return out if scale is None else scale * out


class SearchCell(nn.Module):
    """A DARTS cell with a ``MixedOp`` on each of its ``sum_i (2 + i)`` edges (14 for B = 4 nodes).

    s0: (B, C_prev_prev, ...), s1: (B, C_prev, H, W) -> (B, nodes * C, H', W'), H' = H or H / 2 in a
    reduction cell. ``weights``: (edges, operations) from the mixing rule; ``edge_scale``: (edges,)
    for PC-DARTS's edge normalisation; ``sampled``: the operation index per edge for GDAS.
    With ``partial_channels = K`` > 1 (PC-DARTS) each edge mixes only the first C / K channels of its
    input; the rest bypass the operations and the edge's output is channel-shuffled.
    """

    def __init__(self, nodes: int, prev_prev_channels: int, prev_channels: int, channels: int, reduction: bool,
                 reduce_first_input: bool, edge_operations: Sequence[Sequence[str]], partial_channels: int = 1):
        super().__init__()
        self.reduction = reduction
        self.nodes = nodes
        self.node_edges = tuple(2 + node for node in range(nodes))
        self.sources = tuple(source for count in self.node_edges for source in range(count))
        if len(edge_operations) != len(self.sources):
            raise ValueError(f"A cell of {nodes} nodes has {len(self.sources)} edges, got operations for "
                             f"{len(edge_operations)}.")
        if channels % partial_channels:
            raise ValueError(f"partial_channels={partial_channels} must divide the cell's {channels} channels.")
        self.partial_channels = partial_channels
        self.skip_dropout = 0.0  # P-DARTS sets it while searching
        if reduce_first_input:
            self.preprocess0: nn.Module = FactorizedReduce(prev_prev_channels, channels, affine=False)
        else:
            self.preprocess0 = ReLUConvBN(prev_prev_channels, channels, 1, affine=False)
        self.preprocess1 = ReLUConvBN(prev_channels, channels, 1, affine=False)
        mixed_channels = channels // partial_channels
        self.edges = nn.ModuleList()
        for operations, source in zip(edge_operations, self.sources):
            stride = self.stride(source)
            self.edges.append(MixedOp(operations, lambda name, s=stride: self._parametric(name, mixed_channels, s)))
        # DARTS follows each pooling with a BatchNorm without learnable scale; one per node and pooling.
        self.pool_norms = nn.ModuleList(
            nn.ModuleDict({pool: nn.BatchNorm2d(mixed_channels, affine=False) for pool in POOLS})
            for _ in range(nodes + 1)
        )

    def stride(self, source: int) -> int:
        return 2 if self.reduction and source < 2 else 1

    @staticmethod
    def _parametric(name: str, channels: int, stride: int) -> nn.Module | None:
        """The module of an operation with parameters; None for one that ``SharedSource`` computes."""
        if name in ("none", *POOLS) or (name == "skip_connect" and stride == 1):
            return None
        return build_operation(name, channels, stride, affine=False)

    def _shared(self, source: int, x: torch.Tensor) -> SharedSource:
        stride = self.stride(source)
        norms = self.pool_norms[source]
        return SharedSource(x, {
            "none": lambda t: t[:, :, ::stride, ::stride].mul(0.0),
            "skip_connect": lambda t: t,  # only used with stride 1; with stride 2 it is a FactorizedReduce
            "max_pool_3x3": lambda t: norms["max_pool_3x3"](F.max_pool2d(t, 3, stride, 1)),
            "avg_pool_3x3": lambda t: norms["avg_pool_3x3"](F.avg_pool2d(t, 3, stride, 1, count_include_pad=False)),
        })

    def forward(self, s0: torch.Tensor, s1: torch.Tensor, weights: torch.Tensor,
                edge_scale: torch.Tensor | None = None, sampled: Sequence[int] | None = None) -> torch.Tensor:
        states = [self.preprocess0(s0), self.preprocess1(s1)]
        sources: list[SharedSource] = []
        bypass: list[torch.Tensor | None] = []  # PC-DARTS: the channels that skip the operations
        edge = 0
        for count in self.node_edges:
            node = 0
            for source in range(count):
                if source == len(sources):  # first edge leaving this node: share its parameter-free outputs
                    x, rest = split_channels(states[source], self.partial_channels, self.stride(source))
                    sources.append(self._shared(source, x))
                    bypass.append(rest)
                node = node + edge_output(
                    self.edges[edge], sources[source], weights[edge], None if sampled is None else sampled[edge],
                    bypass[source], self.partial_channels, None if edge_scale is None else edge_scale[edge],
                    self.skip_dropout)
                edge += 1
            states.append(node)
        return torch.cat(states[2:], dim=1)


class Supernet(nn.Module):
    """DARTS's search network: ``cells`` search cells, reductions at 1/3 and 2/3 of the depth.

    (B, C_in, H, W) images -> (B, num_classes) logits. ``method`` picks the mixing rule (``mixing.METHODS``).
    ``edge_operations`` (P-DARTS, after pruning) gives each edge of the normal and the reduction cell
    its own list of operations, all of the same length; by default every edge has ``operations``.
    The architecture parameters (``arch_parameters``) and the network weights (``weight_parameters``)
    are separate lists, for the two levels of the bilevel problem (Eq. 6).
    """

    kinds = ("normal", "reduce")
    channels_last_on_cpu = True  # an optimisation only (see forward); tests switch it off to compare

    def __init__(self, input_shape: tuple[int, int, int], num_classes: int, cells: int = 8, channels: int = 16,
                 nodes: int = 4, operations: Sequence[str] = PRIMITIVES, method: str = "darts",
                 partial_channels: int = 4, edge_operations: dict[str, Sequence[Sequence[str]]] | None = None,
                 stem_multiplier: int = 3):
        super().__init__()
        self.rule = mixing_rule(method)
        if cells < 3:
            raise ValueError(f"A supernet needs at least 3 cells (two reductions and a normal cell), got {cells}.")
        unknown = sorted(set(operations) - set(PRIMITIVES))
        if unknown:
            raise ArchitectureError(f"Unknown operation(s) {unknown}; the DARTS space has {PRIMITIVES}.")
        self.method = method
        self.nodes = nodes
        self.node_edges = tuple(2 + node for node in range(nodes))
        edges = sum(self.node_edges)
        if edge_operations is None:
            edge_operations = {kind: [tuple(operations)] * edges for kind in ("normal", "reduce")}
        self.edge_operations = {kind: tuple(tuple(ops) for ops in edge_operations[kind]) for kind in ("normal", "reduce")}
        widths = {len(ops) for kind in self.edge_operations for ops in self.edge_operations[kind]}
        if len(widths) != 1:
            raise ValueError("Every edge needs the same number of candidate operations (alpha is a matrix).")
        partial = self.rule.partial_channels(partial_channels)
        self.temperature = 1.0  # GDAS's Gumbel-softmax temperature, annealed by the search

        stem_channels = stem_multiplier * channels
        self.stem = nn.Sequential(nn.Conv2d(input_shape[0], stem_channels, 3, padding=1, bias=False),
                                  nn.BatchNorm2d(stem_channels))
        prev_prev, prev, width = stem_channels, stem_channels, channels
        reductions = Skeleton(cells=cells).reduction_positions()
        self.cells = nn.ModuleList()
        reduction_before = False
        for index in range(cells):
            reduction = index in reductions
            width = 2 * width if reduction else width
            kind = "reduce" if reduction else "normal"
            cell = SearchCell(nodes, prev_prev, prev, width, reduction, reduction_before,
                              self.edge_operations[kind], partial)
            self.cells.append(cell)
            prev_prev, prev = prev, nodes * width
            reduction_before = reduction
        self.classifier = nn.Linear(prev, num_classes)

        count = widths.pop()
        # DARTS initialises alpha at 1e-3 * N(0, 1): all operations start (almost) equally weighted.
        self.alpha_normal = nn.Parameter(1e-3 * torch.randn(edges, count))
        self.alpha_reduce = nn.Parameter(1e-3 * torch.randn(edges, count))
        for name in self.rule.edge_parameters:  # PC-DARTS: beta_normal, beta_reduce, one value per edge
            for kind in self.kinds:
                setattr(self, f"{name}_{kind}", nn.Parameter(1e-3 * torch.randn(edges)))

    # -- the two sets of parameters of the bilevel problem -----------------------------------------
    def arch_parameters(self) -> list[nn.Parameter]:
        """alpha (and PC-DARTS's beta): optimised on the validation loss."""
        return [getattr(self, f"{name}_{kind}") for name in ("alpha", *self.rule.edge_parameters) for kind in self.kinds]

    def weight_parameters(self) -> list[nn.Parameter]:
        """w: every other parameter, optimised on the training loss."""
        arch = {id(p) for p in self.arch_parameters()}
        return [p for p in self.parameters() if id(p) not in arch]

    # -- from alpha to weights ---------------------------------------------------------------------
    def _edge_parameters(self, kind: str) -> dict[str, torch.Tensor]:
        """The method's extra architecture parameters of cell ``kind`` by name (PC-DARTS: {"beta": ...})."""
        return {name: getattr(self, f"{name}_{kind}") for name in self.rule.edge_parameters}

    def mixing_weights(self, kind: str) -> torch.Tensor:
        """(edges, operations): the weights the forward pass multiplies each operation's output by."""
        alpha = self.alpha_normal if kind == "normal" else self.alpha_reduce
        return self.rule.weights(alpha, self.node_edges, self.temperature, self.training)

    def edge_scale(self, kind: str) -> torch.Tensor | None:
        """(edges,): what each edge's output is multiplied by in its node's sum; None for 1."""
        return self.rule.edge_scale(self.node_edges, **self._edge_parameters(kind))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        weights = {kind: self.mixing_weights(kind) for kind in ("normal", "reduce")}
        scales = {kind: self.edge_scale(kind) for kind in ("normal", "reduce")}
        # GDAS: read the sampled operation of every edge once per forward pass (one host sync, not one per edge).
        sampled = {kind: w.argmax(dim=-1).tolist() for kind, w in weights.items()} if self.rule.samples_one_path else {}
        s0 = s1 = self.stem(x)
        if s1.device.type == "cpu" and self.channels_last_on_cpu:
            # oneDNN's CPU convolutions, the depthwise ones above all, are often 2-3 times faster on
            # channels-last tensors; every later operation keeps the layout. (After the stem: a 1-channel
            # image is "contiguous" in both layouts, so converting the input would not carry through.)
            s0 = s1 = s1.contiguous(memory_format=torch.channels_last)
        for cell in self.cells:
            kind = "reduce" if cell.reduction else "normal"
            s0, s1 = s1, cell(s0, s1, weights[kind], scales[kind], sampled.get(kind))
        return self.classifier(F.adaptive_avg_pool2d(s1, 1).flatten(1))

    # -- from alpha to a discrete cell (Eq. 5) -----------------------------------------------------
    @torch.no_grad()
    def operation_strengths(self, kind: str) -> torch.Tensor:
        """(edges, operations) on the scale Eq. 5 compares: softmax(alpha), I-DARTS's node softmax,
        or, for PC-DARTS, softmax(alpha) times the edge weight."""
        alpha = self.alpha_normal if kind == "normal" else self.alpha_reduce
        return self.rule.strengths(alpha, self.node_edges, **self._edge_parameters(kind))

    def derive(self, max_skips: int | None = None) -> Genotype:
        """Eq. 5 on both cells; ``max_skips`` caps the skip connections of the normal cell (P-DARTS)."""
        cells = {}
        for kind in ("normal", "reduce"):
            strengths = self.operation_strengths(kind)
            if kind == "normal" and max_skips is not None:
                strengths = cap_skip_connections(strengths, self.edge_operations[kind], self.node_edges, max_skips)
            cells[kind] = derive_cell(strengths, self.edge_operations[kind], self.node_edges)
        concat = list(range(2, 2 + self.nodes))
        return Genotype(normal=cells["normal"], normal_concat=concat, reduce=cells["reduce"], reduce_concat=concat)


def derive_cell(strengths: torch.Tensor, edge_operations: Sequence[Sequence[str]], node_edges: Sequence[int],
                inputs_per_node: int = 2) -> list[tuple[str, int]]:
    """Eq. 5: each edge's strongest operation other than ``none``; each node's ``inputs_per_node``
    strongest edges (ranked by that operation's strength). Returns Genotype edges, strongest first."""
    cell = []
    for rows in node_slices(node_edges):
        candidates = []
        for source, edge in enumerate(range(rows.start, rows.stop)):
            ranked = [(float(strengths[edge, k]), name) for k, name in enumerate(edge_operations[edge]) if name != "none"]
            if not ranked:
                raise ArchitectureError(f"Edge {edge} has only 'none' left; a derived cell needs a real operation.")
            strength, name = max(ranked)
            candidates.append((strength, -source, name))
        for strength, negative_source, name in sorted(candidates, reverse=True)[:inputs_per_node]:
            cell.append((name, -negative_source))
    return cell


def cap_skip_connections(strengths: torch.Tensor, edge_operations: Sequence[Sequence[str]],
                         node_edges: Sequence[int], max_skips: int) -> torch.Tensor:
    """P-DARTS's search-space regularisation: while the derived cell holds more than ``max_skips`` skip
    connections, remove the weakest chosen skip (its strength set to -inf) and derive again."""
    strengths = strengths.clone()
    while True:
        cell = derive_cell(strengths, edge_operations, node_edges)
        chosen = []  # (strength, edge, column) of every skip in the derived cell
        for node, rows in enumerate(node_slices(node_edges)):
            for name, source in cell[2 * node: 2 * node + 2]:
                if name == "skip_connect":
                    edge = rows.start + source
                    column = list(edge_operations[edge]).index("skip_connect")
                    chosen.append((float(strengths[edge, column]), edge, column))
        if len(chosen) <= max_skips:
            return strengths
        weakest, edge, column = min(chosen)
        if weakest == float("-inf"):  # removed before and chosen again: its node has nothing else to take
            raise ArchitectureError(
                f"Cannot cap the skip connections at {max_skips}: edge {edge} has no operation left but "
                "skip_connect, and its node no other edge to use instead. Keep more operations per edge."
            )
        strengths[edge, column] = float("-inf")  # ranks below every real operation from now on
