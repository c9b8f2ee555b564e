"""Stacking cells into a network: DARTS's CIFAR skeleton and the macro variants of survey Fig. 4 and 5.

``build_network`` turns any genotype into the CIFAR network of DARTS: a 3x3 stem convolution,
``cells`` cells with reductions at 1/3 and 2/3 of the depth (channels doubled there), global
average pooling and a linear classifier; optionally an auxiliary head and drop-path. The
``Skeleton`` also builds the macro variants the survey lists (Fig. 5): reductions by pooling
(Block-QNN, Dpp-net) or by a stride-2 convolution (Hierarchical-EAS) instead of a reduction cell,
and dense connections between cells (Dpp-net).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from .base import ArchitectureError
from .darts_genotype import Genotype
from .darts_ops import FactorizedReduce, ReLUConvBN, build_operation

__all__ = [
    "REDUCTIONS",
    "Skeleton",
    "SEARCH_SKELETON",
    "EVALUATION_SKELETON",
    "drop_path",
    "Cell",
    "AuxiliaryHead",
    "CellNetwork",
    "build_network",
    "auxiliary_loss",
]

REDUCTIONS = ("cell", "max_pool", "avg_pool", "conv")


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
        self.is_cell: list[bool] = []  # whether layer k is a cell (reads two inputs) or a plain downsampling
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
                layer = self.make_cell("reduce" if reduces else "normal", previous_out, second_input, width,
                                       reduction=reduces, reduce_first_input=level_previous < level_last)
                out_channels = layer.out_channels
            self.layers.append(layer)
            self.reduces.append(reduces)
            self.is_cell.append(not (reduces and skeleton.reduction != "cell"))
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
        for index, (layer, reduces, is_cell) in enumerate(zip(self.layers, self.reduces, self.is_cell)):
            second = torch.cat(stage, dim=1) if self.skeleton.dense and len(stage) > 1 else s1
            out = layer(s0, second, self.drop_path_probability) if is_cell else layer(second)
            s0, s1 = s1, out
            stage = [out] if reduces else stage + [out]
            if self.auxiliary_head is not None and index == self.auxiliary_position and self.training:
                self.auxiliary_logits = self.auxiliary_head(out)
        features = torch.cat(stage, dim=1) if self.skeleton.dense and len(stage) > 1 else s1
        return self.classifier(F.adaptive_avg_pool2d(features, 1).flatten(1))

    def make_cell(self, kind: str, prev_prev_channels: int, prev_channels: int, channels: int, reduction: bool,
                  reduce_first_input: bool) -> nn.Module:
        """The genotype's ``kind`` cell ("normal" or "reduce"). A network of another family of cells (NASNet's,
        ``spaces.nasnet``) overrides only this; the stacking stays DARTS's."""
        edges, concat = self.genotype.cell(kind)
        return Cell(edges, concat, prev_prev_channels, prev_channels, channels, reduction=reduction,
                    reduce_first_input=reduce_first_input)

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
