"""The chain space's candidate operations: the "predefined operation set" of survey Fig. 1.

An operation is named by a string and built by a factory ``(in_channels, out_channels) -> nn.Module``.
All operations here keep the spatial resolution (stride 1, "same" padding), so any of them
can follow any other; search spaces that change resolution say so themselves.

Convolutions follow the Conv-BN-ReLU pattern of Large-scale Evolution (survey Fig. 3: "C, BN and R");
``ConvBNReLU`` is also the convolution of the benchmark's cell (``cell201``) and of GeNet's stages.
Pooling keeps the number of channels; where a space asks for another width, a 1x1
convolution follows the pooling so the shapes still agree.
"""

from __future__ import annotations

from typing import Callable

from torch import nn

__all__ = ["OPERATIONS", "CHANNEL_CHANGING", "ConvBNReLU", "build_operation"]


class ConvBNReLU(nn.Sequential):
    """Convolution -> BatchNorm -> ReLU with "same" padding. Input (B, C_in, H, W) -> (B, C_out, H, W)."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int):
        super().__init__(
            nn.Conv2d(in_channels, out_channels, kernel_size, padding=kernel_size // 2, bias=False),
            nn.BatchNorm2d(out_channels),
            nn.ReLU(inplace=False),
        )


def _pool(kind: str) -> Callable[[int, int], nn.Module]:
    def make(in_channels: int, out_channels: int) -> nn.Module:
        if kind == "max":
            pool: nn.Module = nn.MaxPool2d(3, stride=1, padding=1)
        else:  # average only over real pixels, not the zero padding
            pool = nn.AvgPool2d(3, stride=1, padding=1, count_include_pad=False)
        if in_channels == out_channels:
            return pool
        return nn.Sequential(pool, ConvBNReLU(in_channels, out_channels, 1))

    return make


OPERATIONS: dict[str, Callable[[int, int], nn.Module]] = {
    "conv1x1": lambda c_in, c_out: ConvBNReLU(c_in, c_out, 1),
    "conv3x3": lambda c_in, c_out: ConvBNReLU(c_in, c_out, 3),
    "conv5x5": lambda c_in, c_out: ConvBNReLU(c_in, c_out, 5),
    "maxpool3x3": _pool("max"),
    "avgpool3x3": _pool("avg"),
}

# Operations whose output width is a free choice (the space picks it); pooling keeps its input width.
CHANNEL_CHANGING = frozenset({"conv1x1", "conv3x3", "conv5x5"})


def build_operation(name: str, in_channels: int, out_channels: int) -> nn.Module:
    """The module for operation ``name``; a clear error for an unknown name."""
    if name not in OPERATIONS:
        raise ValueError(f"Unknown operation {name!r}; known operations are {sorted(OPERATIONS)}.")
    return OPERATIONS[name](in_channels, out_channels)
