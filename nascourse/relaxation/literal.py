"""The DARTS supernet written the way the original DARTS code is structured: the reference.

``supernet.Supernet`` computes the same function faster (each parameter-free operation once per
node instead of once per edge, the ``none`` operation never). A faster version is only worth
having if it is the same network, so this module keeps the literal one to check and time it against:

* every edge holds **every** operation as its own module, including its own pooling followed by a
  BatchNorm without learnable scale (``affine=False``), its own identity and a ``Zero`` operation;
* the mixed operation is the line of DARTS's ``model_search.py``,
  ``sum(w * op(x) for w, op in zip(weights, ops))``: a Python loop over every operation of every edge;
* a node is the sum of its incoming edges, and the cell concatenates its intermediate nodes;
* float32, nothing shared, nothing skipped.

Its modules carry the names of ``Supernet(method="darts")`` (``cells.3.edges.5.ops.sep_conv_3x3...``,
``alpha_normal``...), so ``copy_from`` loads a ``Supernet``'s weights and alpha into it:
``tests/test_relaxation_speed_path.py`` checks that both give the same logits and gradients, and
``benchmarks/bench_darts_step.py`` times a search step of each.
"""

from __future__ import annotations

from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from ..spaces.darts_network import Skeleton
from ..spaces.darts_ops import PRIMITIVES, FactorizedReduce, ReLUConvBN, build_operation
from .mixing import darts_weights
from .supernet import POOLS, Supernet

__all__ = ["LiteralMixedOp", "LiteralCell", "LiteralSupernet"]


def _literal_operation(name: str, channels: int, stride: int) -> nn.Module:
    """One candidate operation of one edge, as DARTS's supernet builds it (pooling gets a BatchNorm)."""
    operation = build_operation(name, channels, stride, affine=False)
    if name in POOLS:
        return nn.Sequential(operation, nn.BatchNorm2d(channels, affine=False))
    return operation


class LiteralMixedOp(nn.Module):
    """Eq. 4 on one edge with all of its operations. x: (B, C, H, W) -> (B, C, H / stride, W / stride)."""

    def __init__(self, channels: int, stride: int, operations: Sequence[str] = PRIMITIVES):
        super().__init__()
        self.ops = nn.ModuleDict({name: _literal_operation(name, channels, stride) for name in operations})

    def forward(self, x: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
        """weights: (operations,), in the order of ``ops``."""
        return sum(w * op(x) for w, op in zip(weights, self.ops.values()))


class LiteralCell(nn.Module):
    """A search cell: ``nodes`` intermediate nodes, each the sum of a ``LiteralMixedOp`` from every earlier node.

    s0: (B, C_prev_prev, ...), s1: (B, C_prev, H, W) -> (B, nodes * C, H', W'); weights: (edges, operations).
    """

    def __init__(self, nodes: int, prev_prev_channels: int, prev_channels: int, channels: int, reduction: bool,
                 reduce_first_input: bool, operations: Sequence[str] = PRIMITIVES):
        super().__init__()
        self.reduction = reduction
        self.nodes = nodes
        if reduce_first_input:
            self.preprocess0: nn.Module = FactorizedReduce(prev_prev_channels, channels, affine=False)
        else:
            self.preprocess0 = ReLUConvBN(prev_prev_channels, channels, 1, affine=False)
        self.preprocess1 = ReLUConvBN(prev_channels, channels, 1, affine=False)
        self.edges = nn.ModuleList()
        for node in range(nodes):
            for source in range(2 + node):
                stride = 2 if reduction and source < 2 else 1
                self.edges.append(LiteralMixedOp(channels, stride, operations))

    def forward(self, s0: torch.Tensor, s1: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
        states = [self.preprocess0(s0), self.preprocess1(s1)]
        offset = 0
        for _ in range(self.nodes):
            node = sum(self.edges[offset + j](h, weights[offset + j]) for j, h in enumerate(states))
            offset += len(states)
            states.append(node)
        return torch.cat(states[2:], dim=1)


class LiteralSupernet(nn.Module):
    """DARTS's search network, literally: same skeleton, channels and parameter names as ``Supernet(method="darts")``.

    (B, C_in, H, W) images -> (B, num_classes) logits; ``arch_parameters`` / ``weight_parameters`` as in
    ``Supernet``, so the functions of ``bilevel`` and ``search`` accept it too.
    """

    kinds = ("normal", "reduce")
    method = "darts"

    def __init__(self, input_shape: tuple[int, int, int], num_classes: int, cells: int = 8, channels: int = 16,
                 nodes: int = 4, operations: Sequence[str] = PRIMITIVES, stem_multiplier: int = 3):
        super().__init__()
        if cells < 3:
            raise ValueError(f"A supernet needs at least 3 cells (two reductions and a normal cell), got {cells}.")
        self.operations = tuple(operations)
        self.nodes = nodes
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
            self.cells.append(LiteralCell(nodes, prev_prev, prev, width, reduction, reduction_before, operations))
            prev_prev, prev = prev, nodes * width
            reduction_before = reduction
        self.classifier = nn.Linear(prev, num_classes)
        edges = sum(2 + node for node in range(nodes))
        self.alpha_normal = nn.Parameter(1e-3 * torch.randn(edges, len(self.operations)))
        self.alpha_reduce = nn.Parameter(1e-3 * torch.randn(edges, len(self.operations)))

    def arch_parameters(self) -> list[nn.Parameter]:
        return [self.alpha_normal, self.alpha_reduce]

    def weight_parameters(self) -> list[nn.Parameter]:
        return [p for name, p in self.named_parameters() if not name.startswith("alpha_")]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        weights_normal = darts_weights(self.alpha_normal)
        weights_reduce = darts_weights(self.alpha_reduce)
        s0 = s1 = self.stem(x)
        for cell in self.cells:
            weights = weights_reduce if cell.reduction else weights_normal
            s0, s1 = s1, cell(s0, s1, weights)
        return self.classifier(F.adaptive_avg_pool2d(s1, 1).flatten(1))

    @torch.no_grad()
    def copy_from(self, supernet: Supernet) -> "LiteralSupernet":
        """Load the weights, BatchNorm statistics and alpha of a ``Supernet(method="darts")`` of the same shape.

        Everything with the same name is copied; the statistics of a pooling's BatchNorm, which the
        fast supernet keeps once per source node (``pool_norms``), go to that pooling on every edge
        leaving the node. Returns ``self``.
        """
        if supernet.method != "darts" or any(ops != self.operations for kind in self.kinds
                                            for ops in supernet.edge_operations[kind]):
            raise ValueError("copy_from needs a Supernet with method 'darts' and the same operations on every edge.")
        state = supernet.state_dict()
        own = self.state_dict()
        for name in own:
            if name in state:
                if own[name].shape != state[name].shape:
                    raise ValueError(f"{name}: shape {tuple(state[name].shape)} in the Supernet, "
                                     f"{tuple(own[name].shape)} here; build both with the same arguments.")
                own[name].copy_(state[name])
        for cell, fast_cell in zip(self.cells, supernet.cells):
            for edge, source in zip(cell.edges, fast_cell.sources):
                for pool in POOLS:
                    if pool in edge.ops:
                        edge.ops[pool][1].load_state_dict(fast_cell.pool_norms[source][pool].state_dict())
        return self
