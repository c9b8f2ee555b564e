"""A DARTS supernet over the course benchmark's cell space, so that every derived cell has a true accuracy.

NAS-Bench-201 (Dong & Yang, ICLR 2020) ran DARTS on its own cell space and looked every derived
cell up in the table: the cell DARTS converged to was made of skip connections, with an accuracy
far below random search. This module builds the same experiment on the course benchmark: the
mixed operation of Eq. 4 on each of the six edges of the ``Cell201Space`` cell, inside exactly
the skeleton the benchmark trained (stem, three stages joined by reductions, pooling, linear),
with the benchmark's operations (``none``, ``skip``, ``conv3x3``, ``avgpool3x3`` by default).

Discretisation follows NAS-Bench-201: each edge keeps its strongest operation, ``none``
included, so a derived cell may drop edges; the result is a ``Cell201Architecture`` that
``Benchmark.query`` answers for. I-DARTS weighs all (edge, operation) pairs of a node by one softmax;
its derived cell keeps every pair stronger than the uniform share ``1 / (edges x operations)`` of
its node (the best such operation per edge), so a node may keep any number of incoming edges.
"""

from __future__ import annotations

from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from ..spaces.chain_ops import ConvBNReLU
from ..spaces.base import ArchitectureError
from ..spaces.cell201 import EDGES, NODES, OPERATIONS, Cell201Architecture, Cell201Space, _reduction
from ..data import Split, iterate_batches
from ..train import accuracy
from .mixing import mixing_rule
from .supernet import MixedOp, SharedSource, edge_output, split_channels

__all__ = ["BENCHMARK_OPERATIONS", "Cell201Supernet", "discretised_accuracy"]

BENCHMARK_OPERATIONS = ("none", "skip", "conv3x3", "avgpool3x3")
NODE_EDGES = tuple(sum(1 for _, target in EDGES if target == node) for node in range(1, NODES))  # (1, 2, 3)


def _parametric(name: str, channels: int) -> nn.Module | None:
    if name == "conv1x1":
        return ConvBNReLU(channels, channels, 1)
    if name == "conv3x3":
        return ConvBNReLU(channels, channels, 3)
    return None  # none, skip, avgpool3x3: computed once per node by SharedSource


class SearchCell201(nn.Module):
    """The benchmark cell with a ``MixedOp`` on every edge. (B, C, H, W) -> (B, C, H, W)."""

    def __init__(self, channels: int, operations: Sequence[str], partial_channels: int = 1):
        super().__init__()
        if channels % partial_channels:
            raise ValueError(f"partial_channels={partial_channels} must divide the {channels} channels.")
        self.partial_channels = partial_channels
        mixed = channels // partial_channels
        self.edges = nn.ModuleList(MixedOp(operations, lambda name: _parametric(name, mixed)) for _ in EDGES)

    @staticmethod
    def _shared(x: torch.Tensor) -> SharedSource:
        return SharedSource(x, {
            "none": lambda t: t.mul(0.0),
            "skip": lambda t: t,
            "avgpool3x3": lambda t: F.avg_pool2d(t, 3, 1, 1, count_include_pad=False),
        })

    def forward(self, x: torch.Tensor, weights: torch.Tensor, edge_scale: torch.Tensor | None = None,
                sampled: Sequence[int] | None = None) -> torch.Tensor:
        mixed, rest = split_channels(x, self.partial_channels)
        sources, bypass = [self._shared(mixed)], [rest]
        edge = 0  # EDGES is ordered by target node: (0,1) | (0,2) (1,2) | (0,3) (1,3) (2,3)
        for target in range(1, NODES):
            node = 0
            for source in range(target):
                node = node + edge_output(
                    self.edges[edge], sources[source], weights[edge], None if sampled is None else sampled[edge],
                    bypass[source], self.partial_channels, None if edge_scale is None else edge_scale[edge])
                edge += 1
            if target == NODES - 1:
                return node
            mixed, rest = split_channels(node, self.partial_channels)
            sources.append(self._shared(mixed))
            bypass.append(rest)


class Cell201Supernet(nn.Module):
    """The benchmark's network with a search cell in each stage. (B, C_in, H, W) -> (B, num_classes).

    One alpha (6 edges x operations) is shared by every cell, as the benchmark repeats one cell.
    """

    kinds = ("cell",)

    def __init__(self, input_shape: tuple[int, int, int], num_classes: int, channels: int = 4,
                 cells_per_stage: int = 1, operations: Sequence[str] = BENCHMARK_OPERATIONS,
                 method: str = "darts", partial_channels: int = 2):
        super().__init__()
        self.rule = mixing_rule(method)
        # an unknown name would otherwise surface as a KeyError deep inside the first forward pass
        unknown = sorted(set(operations) - set(OPERATIONS))
        if unknown or len(set(operations)) != len(tuple(operations)):
            raise ArchitectureError(f"operations must be distinct names from {OPERATIONS}; got {tuple(operations)} "
                                    f"(unknown: {unknown}).")
        self.method = method
        self.operations = tuple(operations)
        self.edge_operations = {"cell": (self.operations,) * len(EDGES)}
        self.temperature = 1.0
        self.fixed_cell: Cell201Architecture | None = None  # set by ``discretised_accuracy``: run one cell only
        partial = self.rule.partial_channels(partial_channels)
        layers: list[nn.Module] = [ConvBNReLU(input_shape[0], channels, 3)]
        width = channels
        for stage in range(3):
            if stage > 0:
                layers.append(_reduction(width, 2 * width))
                width *= 2
            layers.extend(SearchCell201(width, self.operations, partial) for _ in range(cells_per_stage))
        self.features = nn.ModuleList(layers)
        self.classifier = nn.Linear(width, num_classes)
        self.alpha = nn.Parameter(1e-3 * torch.randn(len(EDGES), len(self.operations)))
        for name in self.rule.edge_parameters:  # PC-DARTS: beta, one value per edge
            setattr(self, name, nn.Parameter(1e-3 * torch.randn(len(EDGES))))

    def arch_parameters(self) -> list[nn.Parameter]:
        return [getattr(self, name) for name in ("alpha", *self.rule.edge_parameters)]

    def weight_parameters(self) -> list[nn.Parameter]:
        arch = {id(p) for p in self.arch_parameters()}
        return [p for p in self.parameters() if id(p) not in arch]

    def _edge_parameters(self) -> dict[str, torch.Tensor]:
        """The method's extra architecture parameters by name (PC-DARTS: {"beta": ...})."""
        return {name: getattr(self, name) for name in self.rule.edge_parameters}

    def mixing_weights(self, kind: str = "cell") -> torch.Tensor:
        """(6, operations): the weights the forward pass multiplies each operation's output by; with a
        ``fixed_cell``, the one-hot rows of the operations that cell keeps."""
        if self.fixed_cell is not None:
            chosen = torch.tensor([self.operations.index(op) for op in self.fixed_cell.operations], device=self.alpha.device)
            return F.one_hot(chosen, len(self.operations)).to(self.alpha.dtype)
        return self.rule.weights(self.alpha, NODE_EDGES, self.temperature, self.training)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        weights = self.mixing_weights()
        scale = None if self.fixed_cell is not None else self.rule.edge_scale(NODE_EDGES, **self._edge_parameters())
        sampled = weights.argmax(dim=-1).tolist() if self.rule.samples_one_path else None
        for layer in self.features:
            x = layer(x, weights, scale, sampled) if isinstance(layer, SearchCell201) else layer(x)
        return self.classifier(F.adaptive_avg_pool2d(x, 1).flatten(1))

    @torch.no_grad()
    def operation_strengths(self, kind: str = "cell") -> torch.Tensor:
        """(6, operations): softmax(alpha) per edge; I-DARTS's node softmax; PC-DARTS times the edge weight."""
        return self.rule.strengths(self.alpha, NODE_EDGES, **self._edge_parameters())

    def _choose(self, row: torch.Tensor, target: int) -> str:
        """One edge's operation from its row of strengths (operations,); ``target`` is the edge's node."""
        return self.rule.derive_edge(row, self.operations, NODE_EDGES[target - 1])

    def derive(self, max_skips: int | None = None) -> Cell201Architecture:
        """The discrete cell: per edge the strongest operation, ``none`` included (NAS-Bench-201's rule);
        for I-DARTS, per edge the strongest operation above its node's uniform share, else ``none``.
        ``max_skips`` replaces the weakest chosen skips by their edge's next operation (P-DARTS's cap)."""
        strengths = self.operation_strengths().clone()
        chosen = [self._choose(strengths[edge], target) for edge, (_, target) in enumerate(EDGES)]
        if max_skips is not None:
            while chosen.count("skip") > max_skips:
                column = self.operations.index("skip")
                edge = min((float(strengths[e, column]), e) for e, name in enumerate(chosen) if name == "skip")[1]
                strengths[edge, column] = -1.0  # below every weight: the edge's next choice, by the same rule
                chosen[edge] = self._choose(strengths[edge], EDGES[edge][1])
                if chosen[edge] == "skip":  # would loop forever: the edge has nothing but skip
                    raise ArchitectureError(f"Cannot cap skip connections at {max_skips}: edge {EDGES[edge]} has no "
                                            f"other operation than 'skip' among {self.operations}.")
        return Cell201Architecture(tuple(chosen))


@torch.no_grad()
def discretised_accuracy(model: Cell201Supernet, split: Split, architecture: Cell201Architecture | str | None = None,
                         recalibrate: Split | None = None, batch_size: int = 256) -> float:
    """The other end of the discretisation gap (SNAS, Xie et al. 2019): the accuracy on ``split`` of the supernet
    reduced to one cell, each edge running only the operation the cell keeps, with weight 1, on the weights the
    supernet learned (no retraining).

    ``architecture``: the cell to keep (default: ``model.derive()``, Eq. 5's cell now). BatchNorm's running
    statistics are by default those the mixed supernet gathered; with ``recalibrate`` (e.g. the weight half)
    they are first re-estimated on that split by forward passes of the reduced network (no gradient, no weight
    changes), and put back afterwards. With PC-DARTS the edges still mix only their slice of the channels, as in
    the search; its edge weights are dropped (each edge counts once, as in the derived cell).
    """
    cell = model.derive() if architecture is None else architecture
    if isinstance(cell, str):
        cell = Cell201Space().decode(cell)
    unknown = sorted(set(cell.operations) - set(model.operations))
    if unknown:
        raise ArchitectureError(f"The cell {cell} uses {unknown}, which this supernet does not hold "
                                f"(its operations: {model.operations}).")
    norms = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm) and m.track_running_stats]
    saved = [(m.momentum, {k: v.clone() for k, v in m.state_dict().items()}) for m in norms]
    was_training = model.training
    model.fixed_cell = cell
    try:
        if recalibrate is not None:
            for norm in norms:
                norm.reset_running_stats()
                norm.momentum = None  # a cumulative average over the batches below
            model.train()
            for x, _ in iterate_batches(recalibrate, batch_size, shuffle=False):
                model(x)
        return accuracy(model, split)
    finally:
        model.fixed_cell = None
        for norm, (momentum, state) in zip(norms, saved):
            norm.momentum = momentum
            norm.load_state_dict(state)
        model.train(was_training)
