"""The operations of the NASNet / DARTS cell search space (survey Sec. 3.1 and 3.2).

DARTS (Liu et al., "DARTS: Differentiable Architecture Search", ICLR 2019) fixed the operation
set most cell-based NAS papers since share. Every edge of a cell applies one of

    none, max_pool_3x3, avg_pool_3x3, skip_connect,
    sep_conv_3x3, sep_conv_5x5, dil_conv_3x3, dil_conv_5x5

(``PRIMITIVES``, in DARTS's order; ``none`` is the zero operation, used only while searching).
NASNet (Zoph et al., 2018) and AmoebaNet (Real et al., 2019) drew from a larger set; their
published cells also use ``sep_conv_7x7`` and ``conv_7x1_1x7``, built here too so that those
cells can be built (``EXTRA_OPERATIONS``).

Conventions, as in DARTS:

* convolutions are **ReLU -> Conv -> BatchNorm** (the activation comes first, so the sum of two
  operations at a node is not rectified);
* a separable convolution is applied **twice** (depthwise k x k, pointwise 1x1, BN; twice), as in
  NASNet; a dilated convolution once (depthwise k x k with dilation 2, pointwise 1x1, BN);
* every operation maps ``channels`` to ``channels``; ``stride=2`` halves the resolution (in a
  reduction cell, on the edges that read the cell's inputs). ``skip_connect`` with stride 2
  cannot be an identity, so it becomes a ``FactorizedReduce``;
* ``affine`` switches BatchNorm's learnable scale and shift: DARTS's supernet (chapter 03) uses
  ``affine=False`` while searching, the final network ``affine=True``.

Spatial sizes: with stride 2 every operation gives ceil(H / 2) x ceil(W / 2), so any two of them
can be summed, for even and odd inputs alike.

Every factory has the signature ``(channels, stride, affine) -> nn.Module``; ``build_operation``
builds one by name with a clear error for an unknown name.
"""

from __future__ import annotations

from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn

__all__ = [
    "PRIMITIVES",
    "EXTRA_OPERATIONS",
    "OPERATIONS",
    "ReLUConvBN",
    "DilatedConv",
    "SeparableConv",
    "FactorizedConv7x1",
    "FactorizedReduce",
    "Zero",
    "build_operation",
]

PRIMITIVES: tuple[str, ...] = (
    "none",
    "max_pool_3x3",
    "avg_pool_3x3",
    "skip_connect",
    "sep_conv_3x3",
    "sep_conv_5x5",
    "dil_conv_3x3",
    "dil_conv_5x5",
)
EXTRA_OPERATIONS: tuple[str, ...] = ("sep_conv_7x7", "conv_7x1_1x7")  # in NASNet's and AmoebaNet's cells


class ReLUConvBN(nn.Sequential):
    """ReLU -> k x k convolution -> BatchNorm. (B, C_in, H, W) -> (B, C_out, H / stride, W / stride)."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, stride: int = 1,
                 padding: int = 0, affine: bool = True):
        super().__init__(
            nn.ReLU(inplace=False),
            nn.Conv2d(in_channels, out_channels, kernel_size, stride=stride, padding=padding, bias=False),
            nn.BatchNorm2d(out_channels, affine=affine),
        )


class DilatedConv(nn.Sequential):
    """DARTS's ``dil_conv``: ReLU -> depthwise k x k (dilation d) -> pointwise 1x1 -> BatchNorm.

    A 3x3 kernel with dilation 2 sees a 5x5 window with the parameters of a 3x3 one.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, stride: int, padding: int,
                 dilation: int, affine: bool = True):
        super().__init__(
            nn.ReLU(inplace=False),
            nn.Conv2d(in_channels, in_channels, kernel_size, stride=stride, padding=padding, dilation=dilation,
                      groups=in_channels, bias=False),
            nn.Conv2d(in_channels, out_channels, 1, bias=False),
            nn.BatchNorm2d(out_channels, affine=affine),
        )


class SeparableConv(nn.Sequential):
    """DARTS's ``sep_conv``: a depthwise-separable convolution applied twice; only the first one strides."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, stride: int, padding: int,
                 affine: bool = True):
        super().__init__(
            DilatedConv(in_channels, in_channels, kernel_size, stride, padding, dilation=1, affine=affine),
            DilatedConv(in_channels, out_channels, kernel_size, 1, padding, dilation=1, affine=affine),
        )


class FactorizedConv7x1(nn.Sequential):
    """``conv_7x1_1x7`` (AmoebaNet's reduction cell): ReLU -> 1x7 conv -> 7x1 conv -> BatchNorm.

    Two one-dimensional 7-tap convolutions cover a 7x7 window with 14 C^2 instead of 49 C^2 weights.
    """

    def __init__(self, channels: int, stride: int, affine: bool = True):
        super().__init__(
            nn.ReLU(inplace=False),
            nn.Conv2d(channels, channels, (1, 7), stride=(1, stride), padding=(0, 3), bias=False),
            nn.Conv2d(channels, channels, (7, 1), stride=(stride, 1), padding=(3, 0), bias=False),
            nn.BatchNorm2d(channels, affine=affine),
        )


class Zero(nn.Module):
    """The ``none`` operation: zeros shaped like the output a real operation with this stride would give."""

    def __init__(self, stride: int):
        super().__init__()
        self.stride = stride

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.stride == 1:
            return x.mul(0.0)
        return x[:, :, :: self.stride, :: self.stride].mul(0.0)

    def extra_repr(self) -> str:
        return f"stride={self.stride}"


class FactorizedReduce(nn.Module):
    """Halve the resolution on the skip path of a reduction, reading half of the pixels instead of a quarter.

    A stride-2 1x1 convolution reads one pixel in four: those at (even row, even column). FactorizedReduce
    runs a second one on the input shifted by one pixel down and one right, which reads the (odd row, odd
    column) pixels, and concatenates the two, each giving half of the output channels:
    ReLU -> [conv1x1/2 (x), conv1x1/2 (x shifted)] -> concat -> BatchNorm.
    (B, C_in, H, W) -> (B, C_out, ceil(H / 2), ceil(W / 2)).
    The other half of the input, the (even, odd) and (odd, even) pixels, never reaches the output; each
    output channel reads only one of the two grids.

    The shifted path pads one row and column of zeros at the bottom right first, so an odd-sized
    input gives the same output size on both paths; on even sizes the padding is never read.
    """

    def __init__(self, in_channels: int, out_channels: int, affine: bool = True):
        super().__init__()
        if out_channels < 2:
            raise ValueError(f"FactorizedReduce needs at least 2 output channels (one per path), got {out_channels}.")
        first = out_channels // 2
        self.relu = nn.ReLU(inplace=False)
        self.conv_even = nn.Conv2d(in_channels, first, 1, stride=2, bias=False)
        self.conv_odd = nn.Conv2d(in_channels, out_channels - first, 1, stride=2, bias=False)
        self.bn = nn.BatchNorm2d(out_channels, affine=affine)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.relu(x)
        shifted = F.pad(x, (0, 1, 0, 1))[:, :, 1:, 1:]
        return self.bn(torch.cat([self.conv_even(x), self.conv_odd(shifted)], dim=1))


def _skip(channels: int, stride: int, affine: bool) -> nn.Module:
    return nn.Identity() if stride == 1 else FactorizedReduce(channels, channels, affine=affine)


OPERATIONS: dict[str, Callable[[int, int, bool], nn.Module]] = {
    "none": lambda c, stride, affine: Zero(stride),
    # average only over real pixels: the zero padding must not darken the border
    "avg_pool_3x3": lambda c, stride, affine: nn.AvgPool2d(3, stride=stride, padding=1, count_include_pad=False),
    "max_pool_3x3": lambda c, stride, affine: nn.MaxPool2d(3, stride=stride, padding=1),
    "skip_connect": _skip,
    "sep_conv_3x3": lambda c, stride, affine: SeparableConv(c, c, 3, stride, 1, affine=affine),
    "sep_conv_5x5": lambda c, stride, affine: SeparableConv(c, c, 5, stride, 2, affine=affine),
    "sep_conv_7x7": lambda c, stride, affine: SeparableConv(c, c, 7, stride, 3, affine=affine),
    "dil_conv_3x3": lambda c, stride, affine: DilatedConv(c, c, 3, stride, 2, dilation=2, affine=affine),
    "dil_conv_5x5": lambda c, stride, affine: DilatedConv(c, c, 5, stride, 4, dilation=2, affine=affine),
    "conv_7x1_1x7": lambda c, stride, affine: FactorizedConv7x1(c, stride, affine=affine),
}


def build_operation(name: str, channels: int, stride: int = 1, affine: bool = True) -> nn.Module:
    """The module for operation ``name`` on ``channels`` channels; stride 1 keeps the size, 2 halves it."""
    if name not in OPERATIONS:
        raise ValueError(f"Unknown cell operation {name!r}; known operations are {sorted(OPERATIONS)}.")
    if stride not in (1, 2):
        raise ValueError(f"stride must be 1 or 2, got {stride!r}.")
    if not isinstance(channels, int) or channels < 1:
        raise ValueError(f"channels must be a positive integer, got {channels!r}.")
    return OPERATIONS[name](channels, stride, affine)
