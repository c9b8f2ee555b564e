"""Compute counted, not timed: multiply-accumulates (MACs), the one cost unit no clock touches.

A search that trains on your machine and a table recorded on another machine can only be compared in a unit
that means the same on both. Seconds do not: a machine three times faster trains the same supernet in a third of
the time, while the table's seconds stay what the build machine measured. A count of the arithmetic does: one
multiply-accumulate (``a += w * x``) is one, on a laptop or a GPU.

``MacCounter`` counts the MACs of every convolution and linear layer that runs while it is active. A pass that
records gradients (``torch.is_grad_enabled()``) is counted three times: the forward pass, and a backward pass
that costs about twice the forward (the gradient with respect to the inputs and with respect to the weights,
each a product of the same size as the forward one). A pass without gradients (evaluation) is counted once.
BatchNorm, activations, pooling and additions are left out: they are a few operations per value, against a few
hundred per value in a convolution.

``count_macs`` gives one forward pass of one image, the figure the course's benchmark records per cell as
``flops``; ``TRAINING_FACTOR`` turns it into the cost of training on that image.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

__all__ = ["MacCounter", "count_macs", "layer_macs", "TRAINING_FACTOR"]

TRAINING_FACTOR = 3  # one training step on an image: a forward pass and a backward pass of twice its cost


def layer_macs(module: nn.Module, output: Any) -> int:
    """MACs of one call of ``module`` that produced ``output`` (batch included); 0 for other layers."""
    if isinstance(module, nn.Conv2d) and torch.is_tensor(output):
        per_output = module.in_channels // module.groups * module.kernel_size[0] * module.kernel_size[1]
        return output.numel() * per_output
    if isinstance(module, nn.Linear) and torch.is_tensor(output):
        return output.numel() * module.in_features
    return 0


_active: list["MacCounter"] = []
_handle = None


def _count(module: nn.Module, inputs: Any, output: Any) -> None:
    macs = layer_macs(module, output)
    if macs:
        weighted = macs * (TRAINING_FACTOR if torch.is_grad_enabled() else 1)
        for counter in _active:
            counter.macs += weighted


class MacCounter:
    """Counts the MACs of everything that runs inside ``with MacCounter() as counter:`` in ``counter.macs``.

    Counters nest (an outer one counts what an inner one counts), and one counter can be entered again to
    keep adding: ``with counter: train_step()`` around each step of a loop counts the steps and nothing
    between them."""

    def __init__(self) -> None:
        self.macs = 0

    def __enter__(self) -> "MacCounter":
        global _handle
        if self in _active:
            raise RuntimeError("This MacCounter is already counting; a counter cannot be entered twice at once.")
        if not _active:
            _handle = torch.nn.modules.module.register_module_forward_hook(_count)
        _active.append(self)
        return self

    def __exit__(self, *exc_info) -> None:
        global _handle
        _active.remove(self)
        if not _active and _handle is not None:
            _handle.remove()
            _handle = None


def count_macs(model: nn.Module, input_shape: tuple[int, ...]) -> int:
    """MACs of one forward pass of one image of ``input_shape`` (C, H, W) through ``model`` (eval mode)."""
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    try:
        with torch.no_grad(), MacCounter() as counter:
            model(torch.zeros(1, *input_shape, device=device))
    finally:
        model.train(was_training)
    return counter.macs
