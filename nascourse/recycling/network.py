"""The recyclable network of network transformation (survey Sec. 3.3, "Network Architecture Recycle").

Net2Net (Chen et al. 2016), network morphism (Wei et al. 2016), NASH (Elsken et al. 2017),
EAS (Cai et al. 2018a), Path-level EAS (Cai et al. 2018b) and N2N learning (Ashok et al. 2018)
do not build networks from scratch: they start from an existing, trained network and edit it.
``MorphNet`` is the network they all edit. It is a chain of *units*, then a small head::

    image (B, C, H, W) -> units -> global average pool (B, C') -> hidden Linear+ReLU ... -> classifier -> logits

The units are the pieces the transforms in ``transforms.py`` insert, widen, split or remove:

* ``ConvUnit``     Conv -> BN -> ReLU, the layer Net2Wider widens and Net2Deeper inserts;
* ``PoolUnit``     2x2 max pooling, halves the resolution, keeps the channels;
* ``ResidualUnit`` ``ReLU(x + body(x))``, NASH's "skip connection" morphism;
* ``ConcatUnit``   ``cat([x, branch(x)])``, NASH's concatenation morphism ("insert layer");
* ``BranchUnit``   several branches merged by mean or concatenation, Path-level EAS's multi-branch cell.

Invariant the transforms rely on: **every unit's output is >= 0**. A ``ConvUnit`` ends in a ReLU;
a ``ResidualUnit`` applies a ReLU after its sum; pooling or concatenating non-negative maps
gives non-negative maps. The first unit must
therefore be a ``ConvUnit`` or a ``BranchUnit`` (both end in ReLUs), never a unit that passes the
raw image, which can be negative, through. Net2Deeper needs the invariant: an identity layer
followed by a ReLU computes ReLU(x) = x only where x >= 0.

``describe()`` writes the network on one line, e.g.
``conv3x3:16 > maxpool > conv3x3:32 > res(conv3x3:32) > branch-add(conv3x3:16|conv3x3:16) | fc:32``.
"""

from __future__ import annotations

from typing import Sequence

import torch
from torch import nn

__all__ = [
    "ConvUnit",
    "PoolUnit",
    "ResidualUnit",
    "ConcatUnit",
    "BranchUnit",
    "MorphNet",
    "conv_units_of",
    "required_input_width",
]

MERGE_RULES = ("add", "concat")


class ConvUnit(nn.Module):
    """Conv2d (no bias, "same" padding) -> BatchNorm2d -> ReLU. (B, C_in, H, W) -> (B, C_out, H, W), output >= 0.

    The convolution has no bias because the BatchNorm that follows has its own shift (beta).
    ``activation=False`` drops the ReLU; only the last ConvUnit of a residual body does that
    (the ReLU then comes after the sum, as in ResNet), so every unit of a MorphNet still ends in a ReLU.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int = 3, activation: bool = True):
        super().__init__()
        if kernel_size % 2 != 1:
            raise ValueError(f"kernel_size must be odd so that 'same' padding keeps H and W, got {kernel_size}.")
        self.conv = nn.Conv2d(in_channels, out_channels, kernel_size, padding=kernel_size // 2, bias=False)
        self.bn = nn.BatchNorm2d(out_channels)
        self.activation = activation

    @property
    def in_channels(self) -> int:
        return self.conv.in_channels

    @property
    def out_channels(self) -> int:
        return self.conv.out_channels

    @property
    def kernel_size(self) -> int:
        return self.conv.kernel_size[0]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.bn(self.conv(x))
        return torch.relu(y) if self.activation else y

    def output_width(self, input_width: int) -> int:
        return self.out_channels

    def describe(self) -> str:
        return f"conv{self.kernel_size}x{self.kernel_size}:{self.out_channels}"


def conv_units_of(module: nn.Module) -> list[ConvUnit]:
    """The ConvUnits of a branch or residual body, in order: a single ConvUnit or an nn.Sequential of them."""
    if isinstance(module, ConvUnit):
        return [module]
    if isinstance(module, nn.Sequential) and len(module) > 0 and all(isinstance(m, ConvUnit) for m in module):
        return list(module)
    raise ValueError(f"Expected a ConvUnit or an nn.Sequential of ConvUnits, got {type(module).__name__}.")


def _check_ends_in_relu(module: nn.Module, what: str) -> None:
    if not conv_units_of(module)[-1].activation:
        raise ValueError(f"A {what} must end in a ConvUnit with its ReLU, so that its output is >= 0.")


def _describe_path(module: nn.Module) -> str:
    return " > ".join(unit.describe() for unit in conv_units_of(module))


class PoolUnit(nn.Module):
    """2x2 max pooling with stride 2: (B, C, H, W) -> (B, C, H//2, W//2). Max of non-negative values is >= 0."""

    def __init__(self, kind: str = "max"):
        super().__init__()
        if kind != "max":
            raise ValueError(f"Only kind='max' pooling is supported, got {kind!r}.")
        self.kind = kind
        self.pool = nn.MaxPool2d(2, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.pool(x)

    def output_width(self, input_width: int) -> int:
        return input_width

    def describe(self) -> str:
        return f"{self.kind}pool"


class ResidualUnit(nn.Module):
    """``out = ReLU(x + body(x))``: NASH's skip connection, in ResNet's form. (B, C, H, W) -> (B, C, H, W).

    ``body`` is a ConvUnit or an nn.Sequential of ConvUnits that keep the width C (the sum needs
    equal shapes). Its last ConvUnit normally has no ReLU of its own: the ReLU after the sum
    keeps the output >= 0 whatever the body learns, and lets a body that starts at exactly 0
    (``add_skip`` sets its last BatchNorm's gamma and beta to 0) still receive gradients; a ReLU
    at the end of the body would output ReLU(0) = 0 with zero gradient and the body would never learn.
    """

    def __init__(self, body: nn.Module | Sequence[ConvUnit]):
        super().__init__()
        if not isinstance(body, nn.Module):
            body = nn.Sequential(*body)
        elif isinstance(body, ConvUnit):
            body = nn.Sequential(body)
        convs = conv_units_of(body)
        width = convs[0].in_channels
        if any(unit.in_channels != width or unit.out_channels != width for unit in convs):
            raise ValueError(f"A residual body must keep the width; got {_describe_path(body)} on {width} channels.")
        self.body = body

    @classmethod
    def of_width(cls, channels: int, kernel_size: int = 3, depth: int = 1) -> "ResidualUnit":
        """A residual unit whose body is ``depth`` ConvUnit(channels, channels), the last without its own ReLU."""
        body = [ConvUnit(channels, channels, kernel_size, activation=i < depth - 1) for i in range(depth)]
        return cls(nn.Sequential(*body))

    @property
    def width(self) -> int:
        return conv_units_of(self.body)[0].in_channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(x + self.body(x))

    def output_width(self, input_width: int) -> int:
        return input_width

    def describe(self) -> str:
        return f"res({_describe_path(self.body)})"


class ConcatUnit(nn.Module):
    """``out = cat([x, branch(x)], dim=1)``: NASH's concatenation morphism. (B, C, H, W) -> (B, C + C_new, H, W).

    The input passes through unchanged as the first C channels; the branch (a ConvUnit or an
    nn.Sequential of them) adds C_new channels after them. Both parts are >= 0.
    """

    def __init__(self, new_branch: nn.Module):
        super().__init__()
        _check_ends_in_relu(new_branch, "ConcatUnit branch")
        self.branch = new_branch

    @property
    def new_channels(self) -> int:
        return conv_units_of(self.branch)[-1].out_channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([x, self.branch(x)], dim=1)

    def output_width(self, input_width: int) -> int:
        return input_width + self.new_channels

    def describe(self) -> str:
        return f"concat({_describe_path(self.branch)})"


class BranchUnit(nn.Module):
    """A path-level multi-branch cell (Path-level EAS): every branch reads the same input x.

    ``merge="add"`` takes the MEAN of the branch outputs (all branches have the same width C);
    ``merge="concat"`` concatenates them along the channels (width = sum of the branch widths).
    Each branch is a ConvUnit or an nn.Sequential of ConvUnits, so it ends in a ReLU and the
    merged output is >= 0. (B, C_in, H, W) -> (B, C_out, H, W).
    """

    def __init__(self, branches: Sequence[nn.Module], merge: str = "add"):
        super().__init__()
        if merge not in MERGE_RULES:
            raise ValueError(f"merge must be one of {MERGE_RULES}, got {merge!r}.")
        if len(branches) == 0:
            raise ValueError("A BranchUnit needs at least one branch.")
        for branch in branches:
            _check_ends_in_relu(branch, "BranchUnit branch")
        paths = [conv_units_of(branch) for branch in branches]
        if len({path[0].in_channels for path in paths}) != 1:
            raise ValueError("All branches must read the same input width.")
        if merge == "add" and len({path[-1].out_channels for path in paths}) != 1:
            raise ValueError("merge='add' needs branches of equal output width.")
        self.branches = nn.ModuleList(branches)
        self.merge = merge

    def branch_widths(self) -> list[int]:
        return [conv_units_of(branch)[-1].out_channels for branch in self.branches]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        outputs = [branch(x) for branch in self.branches]
        if self.merge == "concat":
            return torch.cat(outputs, dim=1)
        return torch.stack(outputs).mean(dim=0)  # mean, not sum: identical copies then give the same output

    def output_width(self, input_width: int) -> int:
        widths = self.branch_widths()
        return sum(widths) if self.merge == "concat" else widths[0]

    def describe(self) -> str:
        return f"branch-{self.merge}(" + "|".join(_describe_path(branch) for branch in self.branches) + ")"


def required_input_width(unit: nn.Module) -> int | None:
    """The width a unit insists on reading (None: it takes any width)."""
    if isinstance(unit, ConvUnit):
        return unit.in_channels
    if isinstance(unit, ResidualUnit):
        return unit.width
    if isinstance(unit, ConcatUnit):
        return conv_units_of(unit.branch)[0].in_channels
    if isinstance(unit, BranchUnit):
        return conv_units_of(unit.branches[0])[0].in_channels
    return None


class MorphNet(nn.Module):
    """A chain of units and a small fully connected head; the network every transform edits.

    Input (B, C, H, W) with (C, H, W) = ``input_shape``; output logits (B, ``num_classes``).
    ``units`` is applied in order, then global average pooling over H and W, then each
    ``hidden`` Linear followed by a ReLU, then ``classifier``. Every unit's output is >= 0
    (see the module docstring); the first unit must be a ConvUnit or a BranchUnit.
    """

    def __init__(
        self,
        input_shape: tuple[int, int, int],
        num_classes: int,
        units: Sequence[nn.Module],
        hidden_widths: Sequence[int] = (),
    ):
        super().__init__()
        self.input_shape = tuple(int(n) for n in input_shape)
        self.num_classes = int(num_classes)
        self.units = nn.ModuleList(units)
        features = self.check_widths()
        hidden_layers = []
        for width in hidden_widths:
            hidden_layers.append(nn.Linear(features, int(width)))
            features = int(width)
        self.hidden = nn.ModuleList(hidden_layers)
        self.classifier = nn.Linear(features, self.num_classes)

    @classmethod
    def plain(
        cls,
        input_shape: tuple[int, int, int],
        num_classes: int,
        widths: Sequence[int] = (16, 32),
        kernel_size: int = 3,
        pool_after: Sequence[int] = (0,),
        hidden: Sequence[int] = (32,),
    ) -> "MorphNet":
        """A small human-designed CNN, the starting point of recycling: one ConvUnit per width,
        a PoolUnit after the conv units whose index (into ``widths``) is in ``pool_after``, then the head."""
        if not widths:
            raise ValueError("A plain network needs at least one convolution width.")
        if any(not 0 <= i < len(widths) for i in pool_after):
            raise ValueError(f"pool_after indexes widths (0..{len(widths) - 1}), got {tuple(pool_after)}.")
        pools = len(set(pool_after))
        if min(input_shape[1:]) >> pools < 1:
            raise ValueError(f"{pools} 2x2 poolings would shrink a {input_shape[1]}x{input_shape[2]} image to nothing.")
        units: list[nn.Module] = []
        in_channels = input_shape[0]
        for i, width in enumerate(widths):
            units.append(ConvUnit(in_channels, width, kernel_size))
            in_channels = width
            if i in pool_after:
                units.append(PoolUnit())
        return cls(input_shape, num_classes, units, hidden)

    # -- structure -----------------------------------------------------------------------------
    def check_widths(self) -> int:
        """Check that every unit reads the width the previous one writes; return the body's output width."""
        if len(self.units) == 0 or not isinstance(self.units[0], (ConvUnit, BranchUnit)):
            first = type(self.units[0]).__name__ if len(self.units) else "nothing"
            raise ValueError(
                f"The first unit must be a ConvUnit or BranchUnit (so every unit's output is >= 0), got {first}."
            )
        if any(isinstance(unit, ConvUnit) and not unit.activation for unit in self.units):
            raise ValueError("Every ConvUnit of the chain must keep its ReLU (outputs >= 0).")
        width = self.input_shape[0]
        for index, unit in enumerate(self.units):
            expected = required_input_width(unit)
            if expected is not None and expected != width:
                raise ValueError(f"Unit {index} ({unit.describe()}) reads {expected} channels but receives {width}.")
            width = unit.output_width(width)
        return width

    def unit_input_width(self, index: int) -> int:
        """Channels entering units[index] (index == len(units): the width entering the head)."""
        width = self.input_shape[0]
        for unit in list(self.units)[:index]:
            width = unit.output_width(width)
        return width

    def unit_width(self, index: int) -> int:
        """Output channels of units[index] (pool and residual units pass their input width through)."""
        if not -len(self.units) <= index < len(self.units):
            raise IndexError(f"unit index {index} out of range for {len(self.units)} units.")
        index %= len(self.units)
        return self.units[index].output_width(self.unit_input_width(index))

    @property
    def feature_width(self) -> int:
        """Channels after the last unit, i.e. the length of the pooled feature vector."""
        return self.unit_input_width(len(self.units))

    def layer_specs(self) -> list[tuple[str, int, int]]:
        """Per unit (kind, kernel_size, output width): the layer encoding EAS's controller reads.

        kind is "conv", "pool", "residual", "concat" or "branch"; kernel_size is 0 for pooling,
        the body's / new branch's first kernel for residual / concat, the largest kernel for branch.
        """
        specs = []
        width = self.input_shape[0]
        for unit in self.units:
            width = unit.output_width(width)
            if isinstance(unit, ConvUnit):
                specs.append(("conv", unit.kernel_size, width))
            elif isinstance(unit, PoolUnit):
                specs.append(("pool", 0, width))
            elif isinstance(unit, ResidualUnit):
                specs.append(("residual", conv_units_of(unit.body)[0].kernel_size, width))
            elif isinstance(unit, ConcatUnit):
                specs.append(("concat", conv_units_of(unit.branch)[0].kernel_size, width))
            else:
                kernel = max(u.kernel_size for branch in unit.branches for u in conv_units_of(branch))
                specs.append(("branch", kernel, width))
        return specs

    def describe(self) -> str:
        """The architecture on one line: units joined by " > ", then " | " and the hidden layers."""
        text = " > ".join(unit.describe() for unit in self.units)
        if len(self.hidden):
            text += " | " + " > ".join(f"fc:{layer.out_features}" for layer in self.hidden)
        return text

    def extra_repr(self) -> str:
        return f"{self.describe()}; input {self.input_shape}, {self.num_classes} classes"

    # -- computation ---------------------------------------------------------------------------
    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """images (B, C, H, W) -> logits (B, num_classes)."""
        x = images
        for unit in self.units:
            x = unit(x)
        features = x.mean(dim=(2, 3))  # global average pool: (B, C', H', W') -> (B, C')
        for layer in self.hidden:
            features = torch.relu(layer(features))
        return self.classifier(features)
