"""Function-preserving transforms and compression edits of a ``MorphNet`` (survey Sec. 3.3).

Network transformation reuses a trained network instead of training a new one from scratch.
A *function-preserving* transform (Net2Net, Chen et al. 2016; network morphism, Wei et al. 2016)
changes the architecture but not the function: the new, larger network starts exactly where
the old one stopped, and training continues from there.

* Net2WiderNet (``net2wider_conv``, ``net2wider_linear``): more channels by *replicating* units.
* Net2DeeperNet (``net2deeper_conv``, ``net2deeper_linear``): insert an identity layer.
* NASH's morphisms (Elsken et al. 2017): ``add_skip`` (a residual unit whose body outputs 0) and
  ``insert_layer`` (concatenate new channels that the next layer reads with zero weights).
* Network morphism's kernel-size morphing (Wei et al. 2016): ``widen_kernel`` grows a convolution's
  kernel (3x3 -> 5x5) by padding it with zeros; exact in both modes, on a chain or inside a branch.
* Path-level EAS (Cai et al. 2018): replace a layer by a multi-branch cell, ``replication_add``
  (identical copies, averaged) and ``split_concat`` (the filters split into groups, concatenated);
  then transform inside a branch: ``widen_kernel(..., branch=b)`` gives the branches different
  kernels, ``deepen_branch`` puts an identity-initialised layer on a branch (survey Fig. 11(c)).

Every transform copies its argument first (``copy.deepcopy``) and never modifies it. Two of them
are exact only with care:

* Widening replicates units, and identical copies receive identical gradients forever (the added
  width would learn nothing). Like Net2Net, ``net2wider_*`` add a small noise (``WIDEN_NOISE``) to
  the new copies' incoming weights, so the function is preserved approximately; ``noise=0`` gives
  the exact transform, whose copies stay copies.
* A BatchNorm in training mode normalises with the batch's statistics. Given ``images``,
  ``net2deeper_conv`` sets the new BatchNorm from the statistics of its input on them, so the new
  unit is the identity in eval mode exactly and in training mode on those images (on other batches
  up to the difference between their statistics); ``deepen_branch`` does the same on a branch.
  Every other transform is exact in both modes.

``possible_morphisms`` and ``apply_morphism`` give the search methods (NASH hill-climbing, EAS) one
list of moves.

N2N learning (Ashok et al. 2018) goes the other way and compresses a teacher:
``remove_unit`` and ``shrink_conv`` are *not* function-preserving; the student is retrained by
knowledge distillation.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Callable, Sequence

import torch
from torch import nn

from .network import (
    BranchUnit,
    ConcatUnit,
    ConvUnit,
    MorphNet,
    PoolUnit,
    ResidualUnit,
    conv_units_of,
    required_input_width,
)

__all__ = [
    "WIDEN_NOISE",
    "net2wider_conv",
    "net2wider_linear",
    "net2deeper_conv",
    "net2deeper_linear",
    "add_skip",
    "insert_layer",
    "replication_add",
    "split_concat",
    "widen_kernel",
    "deepen_branch",
    "Morphism",
    "MORPHISM_NAMES",
    "possible_morphisms",
    "apply_morphism",
    "remove_unit",
    "shrink_conv",
    "can_remove",
    "can_resize",
]

# Net2Net's symmetry breaking: the new copies' incoming weights get N(0, (WIDEN_NOISE * std(W))^2).
# 0.1 keeps the logits within a few percent of the parent's (see the tests) and lets the copies diverge.
WIDEN_NOISE = 0.1

MORPHISM_NAMES = (
    "deepen",
    "widen",
    "add_skip",
    "insert_layer",
    "widen_linear",
    "deepen_linear",
    "replication_add",
    "split_concat",
    "widen_kernel",
    "deepen_branch",
)

# The largest kernel ``possible_morphisms`` proposes (3 -> 5 -> 7); EAS's controller embeds kernels up to 7.
MAX_KERNEL = 7


# ---------------------------------------------------------------------------------------------
# Small tools shared by the transforms
# ---------------------------------------------------------------------------------------------
def _adopt(module: nn.Module, net: MorphNet) -> nn.Module:
    """Give a freshly built module the net's dtype, device and train/eval mode.

    A new BatchNorm left in training mode inside an eval-mode net would normalise with batch
    statistics and break the identity, so the mode matters as much as the dtype.
    """
    reference = next(net.parameters())
    module.to(device=reference.device, dtype=reference.dtype)
    module.train(net.training)
    return module


def _set_weight(layer: nn.Conv2d | nn.Linear, weight: torch.Tensor) -> None:
    """Replace a layer's weight (out, in, ...) and keep its size attributes truthful."""
    layer.weight = nn.Parameter(weight.detach().clone())
    if isinstance(layer, nn.Conv2d):
        layer.out_channels, layer.in_channels = weight.shape[0], weight.shape[1]
    else:
        layer.out_features, layer.in_features = weight.shape[0], weight.shape[1]


def _take_output_channels(unit: ConvUnit, channels: torch.Tensor) -> None:
    """Keep (or repeat) the given output channels of a ConvUnit: its filters and every BN quantity."""
    _set_weight(unit.conv, unit.conv.weight.detach()[channels])
    bn = unit.bn
    bn.weight = nn.Parameter(bn.weight.detach()[channels].clone())
    bn.bias = nn.Parameter(bn.bias.detach()[channels].clone())
    bn.running_mean = bn.running_mean[channels].clone()
    bn.running_var = bn.running_var[channels].clone()
    bn.num_features = len(channels)


def _edit_input_channels(
    layer: nn.Conv2d | nn.Linear, old_count: int, edit: Callable[[torch.Tensor], torch.Tensor]
) -> None:
    """Rewrite the weights a layer applies to its first ``old_count`` input channels.

    weight (out, in, ...) -> cat([edit(weight[:, :old_count]), weight[:, old_count:]], dim=1).
    The edited feature map always sits at the *start* of a reader's input, because a ConcatUnit
    puts its pass-through input before its new channels.
    """
    weight = layer.weight.detach()
    _set_weight(layer, torch.cat([edit(weight[:, :old_count]), weight[:, old_count:]], dim=1))


def _first_conv(path: nn.Module) -> nn.Conv2d:
    return conv_units_of(path)[0].conv


def _readers_of(net: MorphNet, index: int) -> list[nn.Conv2d | nn.Linear]:
    """The layers whose weights read the output channels of ``units[index]``.

    Pooling keeps the channels, so it is skipped. A ConvUnit is the reader; a BranchUnit has one
    reader per branch; a ConcatUnit's branch reads the map *and* the map passes on, so the search
    continues after it. Past the last unit, global pooling keeps the channels and the first hidden
    Linear (or the classifier) reads them. A ResidualUnit adds the map to its body's output, so a
    change of width would have to go through its body and on to its own readers: not supported.
    """
    readers: list[nn.Conv2d | nn.Linear] = []
    for later in range(index + 1, len(net.units)):
        unit = net.units[later]
        if isinstance(unit, PoolUnit):
            continue
        if isinstance(unit, ConvUnit):
            return readers + [unit.conv]
        if isinstance(unit, BranchUnit):
            return readers + [_first_conv(branch) for branch in unit.branches]
        if isinstance(unit, ConcatUnit):
            readers.append(_first_conv(unit.branch))
            continue
        if isinstance(unit, ResidualUnit):
            raise ValueError(
                f"The output of unit {index} flows into residual unit {later} ({unit.describe()}), which adds it to "
                "its body's output; changing its channels would also require changing the residual's body and "
                "output, which is not supported. Choose a unit that is not followed by a residual unit."
            )
        raise ValueError(f"Unknown unit type {type(unit).__name__} at index {later}.")
    return readers + [net.hidden[0] if len(net.hidden) else net.classifier]


def _channel_change_allowed(net: MorphNet, index: int) -> bool:
    try:
        _readers_of(net, index)
    except ValueError:
        return False
    return True


def can_resize(net: MorphNet, unit_index: int) -> bool:
    """Whether ``units[unit_index]`` is a ConvUnit whose width may change (widen, shrink): no residual reads it."""
    in_range = 0 <= unit_index < len(net.units)
    return in_range and isinstance(net.units[unit_index], ConvUnit) and _channel_change_allowed(net, unit_index)


def can_remove(net: MorphNet, index: int) -> bool:
    """Whether ``remove_unit(net, index)`` is allowed: a ConvUnit or BranchUnit must remain first."""
    if not 0 <= index < len(net.units):
        return False
    remaining = [unit for i, unit in enumerate(net.units) if i != index]
    return bool(remaining) and isinstance(remaining[0], (ConvUnit, BranchUnit))


def _conv_unit_at(net: MorphNet, index: int, transform: str) -> ConvUnit:
    if not 0 <= index < len(net.units):
        raise ValueError(
            f"{transform}: unit index {index} out of range; the network has units 0..{len(net.units) - 1}."
        )
    unit = net.units[index]
    if not isinstance(unit, ConvUnit):
        convs = [i for i, u in enumerate(net.units) if isinstance(u, ConvUnit)]
        raise ValueError(
            f"{transform}: units[{index}] is a {type(unit).__name__} ({unit.describe()}); it needs a ConvUnit. "
            f"ConvUnits are at indices {convs}."
        )
    return unit


def _check_position(net: MorphNet, position: int, transform: str) -> None:
    """Units may be inserted after any unit (1..len(units)), whose output is >= 0; never before the first."""
    if position == 0:
        raise ValueError(
            f"{transform}: position 0 would act on the input image, which can be negative; "
            f"insert at 1..{len(net.units)} (after a unit, whose output is >= 0)."
        )
    if not 1 <= position <= len(net.units):
        raise ValueError(f"{transform}: position {position} out of range; allowed positions are 1..{len(net.units)}.")


def _replication_mapping(old: int, new: int, generator: torch.Generator | None) -> torch.Tensor:
    """Net2Net's mapping g: new unit j -> old unit g(j). The old units keep their place (g(j) = j
    for j < old); each extra unit copies an old one drawn uniformly."""
    extra = torch.randint(old, (new - old,), generator=generator)
    return torch.cat([torch.arange(old), extra])


def _spread_over_copies(mapping: torch.Tensor) -> Callable[[torch.Tensor], torch.Tensor]:
    """The reader edit of Net2Wider: weight[:, j] = old_weight[:, g(j)] / (number of copies of g(j))."""
    counts = torch.bincount(mapping)

    def edit(weight: torch.Tensor) -> torch.Tensor:
        shape = (1, len(mapping)) + (1,) * (weight.dim() - 2)  # broadcast over out and kernel dims
        return weight[:, mapping] / counts[mapping].to(weight.dtype).view(shape)

    return edit


def _add_noise_to_copies(
    weight: torch.Tensor, old: int, noise: float, generator: torch.Generator | None
) -> torch.Tensor:
    """Add N(0, (noise * std(weight[:old]))^2) to the rows >= old (the new copies) to break their symmetry."""
    if noise < 0:
        raise ValueError(f"noise must be >= 0 (a fraction of the weights' standard deviation), got {noise}.")
    if noise == 0:
        return weight
    weight = weight.clone()
    scale = noise * weight[:old].std()
    weight[old:] += scale * torch.randn(weight[old:].shape, generator=generator, dtype=weight.dtype)
    return weight


def _finish(net: MorphNet) -> MorphNet:
    net.check_widths()  # a cheap guard: every transform must leave a consistent chain
    return net


# ---------------------------------------------------------------------------------------------
# Net2Net (Chen et al. 2016): wider and deeper
# ---------------------------------------------------------------------------------------------
def net2wider_conv(
    net: MorphNet,
    unit_index: int,
    new_width: int,
    noise: float = WIDEN_NOISE,
    generator: torch.Generator | None = None,
) -> MorphNet:
    """Net2WiderNet on the ConvUnit ``units[unit_index]``: C -> ``new_width`` channels, (almost) the same function.

    Random replication: new channel j copies old channel g(j) (the old channels keep their
    place, each extra one copies an old channel drawn uniformly with ``generator``). A copy gets
    the same filter and the same BatchNorm gamma, beta, running mean and variance, so it outputs
    exactly what its original outputs. The reader of this unit (next ConvUnit past any pooling,
    every branch of a following BranchUnit, or the first hidden Linear / classifier) divides the
    weights it applies to each copy by the number of copies of that channel, so it receives the
    same sum as before.

    Exact copies would stay copies: they get the same gradients at every step, so the added width
    would never learn anything. As in Net2Net, the new copies' filters get a small noise,
    N(0, (noise * std)^2) with std that of the old filters; the function then changes slightly (the
    tests bound it). ``noise=0`` is the exact transform.
    """
    new = copy.deepcopy(net)
    unit = _conv_unit_at(new, unit_index, "net2wider_conv")
    old = unit.out_channels
    if new_width <= old:
        raise ValueError(f"net2wider_conv: new_width must be larger than the current width {old}, got {new_width}.")
    readers = _readers_of(new, unit_index)
    mapping = _replication_mapping(old, new_width, generator)
    _take_output_channels(unit, mapping)
    _set_weight(unit.conv, _add_noise_to_copies(unit.conv.weight.detach(), old, noise, generator))
    for layer in readers:
        _edit_input_channels(layer, old, _spread_over_copies(mapping))
    return _finish(new)


def net2wider_linear(
    net: MorphNet,
    hidden_index: int,
    new_width: int,
    noise: float = WIDEN_NOISE,
    generator: torch.Generator | None = None,
) -> MorphNet:
    """Net2WiderNet on the fully connected layer ``hidden[hidden_index]``: same idea as ``net2wider_conv``.

    Each new unit copies the weight row and bias of an old one; the next hidden layer (or the
    classifier) divides its weights on each copy by the number of copies, so its input sum is unchanged.
    The new rows get the same symmetry-breaking noise as in ``net2wider_conv`` (``noise=0``: exact).
    """
    new = copy.deepcopy(net)
    if not 0 <= hidden_index < len(new.hidden):
        raise ValueError(
            f"net2wider_linear: hidden index {hidden_index} out of range; the head has {len(new.hidden)} hidden layers."
        )
    layer = new.hidden[hidden_index]
    old = layer.out_features
    if new_width <= old:
        raise ValueError(f"net2wider_linear: new_width must be larger than the current width {old}, got {new_width}.")
    mapping = _replication_mapping(old, new_width, generator)
    _set_weight(layer, _add_noise_to_copies(layer.weight.detach()[mapping], old, noise, generator))
    layer.bias = nn.Parameter(layer.bias.detach()[mapping].clone())
    reader = new.hidden[hidden_index + 1] if hidden_index + 1 < len(new.hidden) else new.classifier
    _edit_input_channels(reader, old, _spread_over_copies(mapping))
    return _finish(new)


def _input_statistics(
    net: MorphNet, position: int, images: torch.Tensor, then: nn.Module | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-channel mean and (biased) variance of the input of ``units[position]`` on ``images``
    (or, with ``then``, of ``then``'s output on that input: a branch of ``units[position]``).

    The units before it run in training mode, as they will while the grown network trains (their
    BatchNorms use the batch's statistics), on a copy, so that no running statistic of ``net`` moves.
    """
    reference = next(net.parameters())
    prefix = copy.deepcopy(net.units[:position]).train()
    x = images.to(device=reference.device, dtype=reference.dtype)
    with torch.no_grad():
        for unit in prefix:
            x = unit(x)
        if then is not None:
            x = copy.deepcopy(then).train()(x)
    return x.mean(dim=(0, 2, 3)), x.var(dim=(0, 2, 3), unbiased=False)


def net2deeper_conv(
    net: MorphNet, position: int, kernel_size: int = 3, images: torch.Tensor | None = None
) -> MorphNet:
    """Net2DeeperNet: insert an identity ConvUnit at ``units[position]`` (after ``units[position - 1]``).

    The convolution is the identity kernel (1 at the centre tap of channel c -> c, 0 elsewhere), so
    the BatchNorm receives the unit's input x itself; the ReLU is the identity because x, the
    previous unit's output, is >= 0. Position 0 is refused: the input image can be negative.

    The BatchNorm must give x back. In eval mode it computes gamma (x - m) / sqrt(v + eps) + beta
    with its running statistics (m, v); in training mode it uses the batch's mean and variance
    instead. With ``images`` (a batch of training images), (mu, var) are the per-channel mean and
    variance of x on them, and the BatchNorm gets m = beta = mu, v = var, gamma = sqrt(var + eps):
    eval mode gives x exactly, and training mode gives x on ``images`` (and nearly x on a batch whose
    statistics are close to theirs), so training starts from the parent's function, as in Net2Net.
    Without ``images``: m = beta = 0, v = 1, gamma = sqrt(1 + eps), the identity in eval mode only;
    in training mode this BatchNorm standardises x and the first steps start below the parent.
    """
    new = copy.deepcopy(net)
    _check_position(new, position, "net2deeper_conv")
    statistics = None if images is None else _input_statistics(new, position, images)
    new.units.insert(position, _identity_unit(new, new.unit_input_width(position), kernel_size, statistics))
    return _finish(new)


def _identity_unit(
    net: MorphNet, width: int, kernel_size: int, statistics: tuple[torch.Tensor, torch.Tensor] | None
) -> ConvUnit:
    """Net2Deeper's new ConvUnit(width, width): identity kernel, BatchNorm set from (mean, variance) of its
    input (None: mean 0, variance 1, the identity in eval mode only). See ``net2deeper_conv``."""
    unit = _adopt(ConvUnit(width, width, kernel_size), net)  # adopt first: set exact values in the final dtype
    centre = kernel_size // 2
    bn = unit.bn
    if statistics is None:
        mean, variance = torch.zeros_like(bn.running_mean), torch.ones_like(bn.running_var)
    else:
        mean, variance = statistics
    with torch.no_grad():
        unit.conv.weight.zero_()
        unit.conv.weight[:, :, centre, centre] = torch.eye(width, dtype=unit.conv.weight.dtype)
        bn.running_mean.copy_(mean)
        bn.running_var.copy_(variance)
        bn.weight.copy_(torch.sqrt(variance + bn.eps))  # cancels the 1 / sqrt(var + eps) of the normalisation
        bn.bias.copy_(mean)  # puts back the mean that the normalisation subtracts
    return unit


def net2deeper_linear(net: MorphNet, position: int) -> MorphNet:
    """Net2DeeperNet in the head: insert an identity Linear (weight I, bias 0) at ``hidden[position]``.

    It reads the output of a ReLU (a hidden layer) or, at position 0, the global average of
    non-negative maps; either way x >= 0 and ReLU(I x + 0) = x.
    """
    new = copy.deepcopy(net)
    if not 0 <= position <= len(new.hidden):
        raise ValueError(f"net2deeper_linear: position {position} out of range; allowed are 0..{len(new.hidden)}.")
    width = new.feature_width if position == 0 else new.hidden[position - 1].out_features
    layer = _adopt(nn.Linear(width, width), new)
    with torch.no_grad():
        layer.weight.copy_(torch.eye(width, dtype=layer.weight.dtype))
        layer.bias.zero_()
    new.hidden.insert(position, layer)
    return _finish(new)


# ---------------------------------------------------------------------------------------------
# NASH (Elsken et al. 2017): skip connections and concatenated layers
# ---------------------------------------------------------------------------------------------
def add_skip(net: MorphNet, position: int, kernel_size: int = 3) -> MorphNet:
    """NASH's skip-connection morphism: insert ``ReLU(x + body(x))`` at ``units[position]``.

    The body is one ConvUnit(C, C) without its own ReLU whose BatchNorm has gamma = 0 and beta = 0,
    so body(x) = 0 and the unit outputs ReLU(x) = x (x >= 0, it is a unit's output). The body's
    convolution keeps its random weights; gamma and beta receive gradients from the first step on.
    """
    new = copy.deepcopy(net)
    _check_position(new, position, "add_skip")
    width = new.unit_input_width(position)
    residual = _adopt(ResidualUnit.of_width(width, kernel_size), new)
    bn = conv_units_of(residual.body)[-1].bn
    with torch.no_grad():
        bn.weight.zero_()
        bn.bias.zero_()
    new.units.insert(position, residual)
    return _finish(new)


def insert_layer(net: MorphNet, position: int, new_channels: int, kernel_size: int = 3) -> MorphNet:
    """NASH's concatenation morphism: insert ``cat([x, ConvUnit(x)])`` at ``units[position]``.

    The new ConvUnit (random initialisation) adds ``new_channels`` channels after the C channels
    of x. The layers that read x now also read these channels, with weights set to zero, so they
    compute what they computed before; training then makes use of the new channels.
    """
    new = copy.deepcopy(net)
    _check_position(new, position, "insert_layer")
    if new_channels < 1:
        raise ValueError(f"insert_layer: new_channels must be at least 1, got {new_channels}.")
    readers = _readers_of(new, position - 1)  # they will read the ConcatUnit's output instead
    width = new.unit_input_width(position)
    branch = _adopt(ConvUnit(width, new_channels, kernel_size), new)
    new.units.insert(position, _adopt(ConcatUnit(branch), new))

    def append_zero_weights(weight: torch.Tensor) -> torch.Tensor:
        zeros = weight.new_zeros((weight.shape[0], new_channels) + tuple(weight.shape[2:]))
        return torch.cat([weight, zeros], dim=1)

    for layer in readers:
        _edit_input_channels(layer, width, append_zero_weights)
    return _finish(new)


# ---------------------------------------------------------------------------------------------
# Path-level EAS (Cai et al. 2018): a layer becomes a multi-branch cell
# ---------------------------------------------------------------------------------------------
def replication_add(net: MorphNet, unit_index: int, copies: int = 2) -> MorphNet:
    """Replication-add: replace a ConvUnit by a BranchUnit(merge="add") of ``copies`` identical copies.

    The branches compute the same output and the cell takes their mean, which is that output.
    """
    new = copy.deepcopy(net)
    unit = _conv_unit_at(new, unit_index, "replication_add")
    if copies < 2:
        raise ValueError(f"replication_add: copies must be at least 2, got {copies}.")
    cell = BranchUnit([copy.deepcopy(unit) for _ in range(copies)], merge="add")
    new.units[unit_index] = _adopt(cell, new)
    return _finish(new)


def split_concat(net: MorphNet, unit_index: int, splits: int = 2) -> MorphNet:
    """Split-concat: replace a ConvUnit of width C by a BranchUnit(merge="concat") of ``splits`` ConvUnits.

    Branch i keeps its consecutive group of output channels (16 -> 8 + 8, 15 -> 8 + 7): its
    slice of the filters and of the BatchNorm parameters and statistics. Concatenating the
    groups in order rebuilds the original output channel for channel.
    """
    new = copy.deepcopy(net)
    unit = _conv_unit_at(new, unit_index, "split_concat")
    width = unit.out_channels
    if not 2 <= splits <= width:
        raise ValueError(f"split_concat: splits must lie in 2..{width} (the unit's width), got {splits}.")
    sizes = [width // splits + (1 if i < width % splits else 0) for i in range(splits)]
    branches, start = [], 0
    for size in sizes:
        part = copy.deepcopy(unit)
        _take_output_channels(part, torch.arange(start, start + size))
        branches.append(part)
        start += size
    new.units[unit_index] = _adopt(BranchUnit(branches, merge="concat"), new)
    return _finish(new)


def _branch_of(net: MorphNet, unit_index: int, branch: int, transform: str) -> BranchUnit:
    if not 0 <= unit_index < len(net.units) or not isinstance(net.units[unit_index], BranchUnit):
        cells = [i for i, u in enumerate(net.units) if isinstance(u, BranchUnit)]
        raise ValueError(
            f"{transform}: units[{unit_index}] is not a multi-branch cell (BranchUnit); cells are at {cells}. "
            "Make one first with replication_add or split_concat."
        )
    cell = net.units[unit_index]
    if not 0 <= branch < len(cell.branches):
        raise ValueError(f"{transform}: branch {branch} out of range; the cell has branches 0..{len(cell.branches) - 1}.")
    return cell


def widen_kernel(net: MorphNet, unit_index: int, kernel_size: int, branch: int | None = None) -> MorphNet:
    """Network morphism's kernel-size morphing (Wei et al. 2016): a k x k convolution becomes K x K, K > k.

    The old kernel is padded with a ring of (K - k) / 2 zeros on every side, and the "same" padding
    grows from k // 2 to K // 2. Every output pixel then sums the same products as before plus
    products with zero weights, so the convolution's output, and with it the BatchNorm's input in
    either mode, is unchanged: exact in eval and in training mode. The new outer taps start at 0
    and are trained like every other weight.

    ``branch=None``: the ConvUnit ``units[unit_index]``. ``branch=b``: the first ConvUnit of branch b of
    the multi-branch cell ``units[unit_index]`` (a transformation inside a branch, Path-level EAS),
    so that the branches of a cell can end up with different kernels (as in Inception).
    """
    new = copy.deepcopy(net)
    if branch is None:
        unit = _conv_unit_at(new, unit_index, "widen_kernel")
    else:
        unit = conv_units_of(_branch_of(new, unit_index, branch, "widen_kernel").branches[branch])[0]
    old = unit.kernel_size
    if kernel_size <= old or (kernel_size - old) % 2:
        raise ValueError(
            f"widen_kernel: the new kernel size must be larger than {old} by an even number (odd sizes keep 'same' "
            f"padding), e.g. {old + 2}; got {kernel_size}."
        )
    ring = (kernel_size - old) // 2
    conv = _adopt(nn.Conv2d(unit.in_channels, unit.out_channels, kernel_size, padding=kernel_size // 2, bias=False), new)
    with torch.no_grad():
        conv.weight.copy_(nn.functional.pad(unit.conv.weight, (ring, ring, ring, ring)))  # zeros around the old kernel
    unit.conv = conv
    return _finish(new)


def deepen_branch(
    net: MorphNet, unit_index: int, branch: int, kernel_size: int = 3, images: torch.Tensor | None = None
) -> MorphNet:
    """Put an identity-initialised layer at the end of branch ``branch`` of the cell ``units[unit_index]``.

    Path-level EAS's last step (survey Fig. 11(c)): an identity mapping on a branch is replaced by a
    layer initialised to be the identity, here Net2Deeper's ConvUnit (identity kernel; the branch ends
    in a ReLU, so its output is >= 0 and the new ReLU changes nothing). Its BatchNorm is set as in
    ``net2deeper_conv``: from the statistics of the branch's output on ``images`` (exact in eval mode,
    and in training mode on those images), or without images, the identity in eval mode only.
    (The paper inserts a 3x3 depthwise-separable convolution; here it is a plain ConvUnit.)
    """
    new = copy.deepcopy(net)
    cell = _branch_of(new, unit_index, branch, "deepen_branch")
    path = cell.branches[branch]
    width = conv_units_of(path)[-1].out_channels
    statistics = None if images is None else _input_statistics(new, unit_index, images, then=path)
    unit = _identity_unit(new, width, kernel_size, statistics)
    cell.branches[branch] = nn.Sequential(*conv_units_of(path), unit)
    return _finish(new)


# ---------------------------------------------------------------------------------------------
# One list of moves for the search methods
# ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Morphism:
    """One function-preserving move: which transform, where, and how much.

    ``position`` is a unit index (a hidden-layer index for the *_linear moves); ``amount`` is the
    new width (widen, widen_linear), the new channels (insert_layer), the copies (replication_add),
    the splits (split_concat) or the new kernel size (widen_kernel), and 0 where unused; ``branch``
    is the branch of the cell ``units[position]`` a move acts inside (widen_kernel, deepen_branch),
    None for a move on the chain.
    """

    name: str
    position: int
    amount: int = 0
    branch: int | None = None

    def __str__(self) -> str:
        texts = {
            "deepen": f"deepen at unit {self.position}",
            "widen": f"widen unit {self.position} to {self.amount}",
            "add_skip": f"add skip at unit {self.position}",
            "insert_layer": f"insert layer of {self.amount} channels at unit {self.position}",
            "widen_linear": f"widen hidden {self.position} to {self.amount}",
            "deepen_linear": f"deepen head at hidden {self.position}",
            "replication_add": f"replicate unit {self.position} into {self.amount} added branches",
            "split_concat": f"split unit {self.position} into {self.amount} concatenated branches",
            "widen_kernel": f"widen the kernel of unit {self.position} to {self.amount}x{self.amount}"
            if self.branch is None
            else f"widen the kernel of branch {self.branch} of unit {self.position} to {self.amount}x{self.amount}",
            "deepen_branch": f"deepen branch {self.branch} of unit {self.position}",
        }
        return texts.get(self.name, f"{self.name} at {self.position} ({self.amount})")


def possible_morphisms(
    net: MorphNet,
    width_factor: float = 2.0,
    names: Sequence[str] = ("deepen", "widen", "add_skip", "insert_layer"),
) -> list[Morphism]:
    """Every valid morphism of the given kinds on ``net``, in the order of ``names``.

    widen: each ConvUnit not followed by a residual unit, to round(width * width_factor);
    deepen, add_skip: every position 1..len(units); insert_layer: every position whose readers
    allow it, adding as many channels as the unit before has; widen_linear: each hidden layer;
    deepen_linear: every position 0..len(hidden); replication_add (2 copies) and split_concat
    (2 splits): each ConvUnit (of width >= 2 for split_concat); widen_kernel: each ConvUnit and the
    first ConvUnit of each branch of each cell, to k + 2 while k + 2 <= MAX_KERNEL; deepen_branch:
    each branch of each cell.
    """
    unknown = [name for name in names if name not in MORPHISM_NAMES]
    if unknown:
        raise ValueError(f"Unknown morphism names {unknown}; known names are {list(MORPHISM_NAMES)}.")
    convs = [i for i, unit in enumerate(net.units) if isinstance(unit, ConvUnit)]
    positions = range(1, len(net.units) + 1)
    moves: list[Morphism] = []
    for name in names:
        if name == "widen":
            for i in convs:
                wider = round(net.units[i].out_channels * width_factor)
                if wider > net.units[i].out_channels and _channel_change_allowed(net, i):
                    moves.append(Morphism("widen", i, wider))
        elif name in ("deepen", "add_skip"):
            moves += [Morphism(name, p) for p in positions]
        elif name == "insert_layer":
            for p in positions:
                if _channel_change_allowed(net, p - 1):
                    moves.append(Morphism("insert_layer", p, net.unit_width(p - 1)))
        elif name == "widen_linear":
            for i, layer in enumerate(net.hidden):
                wider = round(layer.out_features * width_factor)
                if wider > layer.out_features:
                    moves.append(Morphism("widen_linear", i, wider))
        elif name == "deepen_linear":
            moves += [Morphism("deepen_linear", p) for p in range(len(net.hidden) + 1)]
        elif name == "replication_add":
            moves += [Morphism("replication_add", i, 2) for i in convs]
        elif name == "split_concat":
            moves += [Morphism("split_concat", i, 2) for i in convs if net.units[i].out_channels >= 2]
        elif name == "widen_kernel":
            moves += [Morphism("widen_kernel", i, net.units[i].kernel_size + 2) for i in convs
                      if net.units[i].kernel_size + 2 <= MAX_KERNEL]
            for i, unit in enumerate(net.units):
                if isinstance(unit, BranchUnit):
                    for b, path in enumerate(unit.branches):
                        kernel = conv_units_of(path)[0].kernel_size
                        if kernel + 2 <= MAX_KERNEL:
                            moves.append(Morphism("widen_kernel", i, kernel + 2, branch=b))
        elif name == "deepen_branch":
            moves += [Morphism("deepen_branch", i, 0, branch=b) for i, unit in enumerate(net.units)
                      if isinstance(unit, BranchUnit) for b in range(len(unit.branches))]
    return moves


def apply_morphism(
    net: MorphNet,
    morphism: Morphism,
    generator: torch.Generator | None = None,
    images: torch.Tensor | None = None,
    noise: float = WIDEN_NOISE,
) -> MorphNet:
    """Apply one ``Morphism`` (a new network; ``net`` is unchanged).

    ``generator`` drives widening's random copies and noise; ``noise`` is widening's symmetry
    breaking (0: exact); ``images`` set a deepening's BatchNorm (see ``net2deeper_conv``).
    """
    name, position, amount = morphism.name, morphism.position, morphism.amount
    if name == "deepen":
        return net2deeper_conv(net, position, images=images)
    if name == "widen":
        return net2wider_conv(net, position, amount, noise=noise, generator=generator)
    if name == "add_skip":
        return add_skip(net, position)
    if name == "insert_layer":
        return insert_layer(net, position, amount)
    if name == "widen_linear":
        return net2wider_linear(net, position, amount, noise=noise, generator=generator)
    if name == "deepen_linear":
        return net2deeper_linear(net, position)
    if name == "replication_add":
        return replication_add(net, position, amount)
    if name == "split_concat":
        return split_concat(net, position, amount)
    if name == "widen_kernel":
        return widen_kernel(net, position, amount, branch=morphism.branch)
    if name == "deepen_branch":
        return deepen_branch(net, position, morphism.branch, images=images)
    raise ValueError(f"Unknown morphism {name!r}; known names are {list(MORPHISM_NAMES)}.")


# ---------------------------------------------------------------------------------------------
# N2N learning (Ashok et al. 2018): compression edits, NOT function-preserving
# ---------------------------------------------------------------------------------------------
def _resized_conv_unit(unit: ConvUnit, in_channels: int, out_channels: int, net: MorphNet) -> ConvUnit:
    """A ConvUnit of new size that keeps the overlapping block of the old filters and BN; the rest is fresh."""
    fresh = _adopt(ConvUnit(in_channels, out_channels, unit.kernel_size, unit.activation), net)
    keep_out, keep_in = min(out_channels, unit.out_channels), min(in_channels, unit.in_channels)
    with torch.no_grad():
        fresh.conv.weight[:keep_out, :keep_in] = unit.conv.weight[:keep_out, :keep_in]
        for name in ("weight", "bias", "running_mean", "running_var"):
            getattr(fresh.bn, name)[:keep_out] = getattr(unit.bn, name)[:keep_out]
    return fresh


def _refit_path(path: nn.Module, width: int, net: MorphNet) -> nn.Module:
    """A branch (ConvUnit or Sequential of them) whose first ConvUnit reads ``width`` channels."""
    convs = conv_units_of(path)
    first = _resized_conv_unit(convs[0], width, convs[0].out_channels, net)
    return first if isinstance(path, ConvUnit) else nn.Sequential(first, *convs[1:])


def _refit_input(unit: nn.Module, width: int, net: MorphNet) -> nn.Module:
    """The same unit made to read ``width`` channels (a residual unit changes its whole body's width)."""
    if isinstance(unit, ConvUnit):
        return _resized_conv_unit(unit, width, unit.out_channels, net)
    if isinstance(unit, ResidualUnit):
        unit.body = nn.Sequential(*[_resized_conv_unit(u, width, width, net) for u in conv_units_of(unit.body)])
    elif isinstance(unit, ConcatUnit):
        unit.branch = _refit_path(unit.branch, width, net)
    elif isinstance(unit, BranchUnit):
        unit.branches = nn.ModuleList([_refit_path(branch, width, net) for branch in unit.branches])
    return unit


def remove_unit(net: MorphNet, index: int) -> MorphNet:
    """N2N's layer removal: drop ``units[index]`` and repair the widths after it.

    If a later unit (or the head) now receives a different number of channels, it is rebuilt
    with the right input width, keeping the overlapping slice of its weights. The result must
    still start with a ConvUnit or BranchUnit (so every unit's output stays >= 0).
    """
    new = copy.deepcopy(net)
    if not 0 <= index < len(new.units):
        raise ValueError(f"remove_unit: index {index} out of range; the network has units 0..{len(new.units) - 1}.")
    del new.units[index]
    if not any(isinstance(unit, (ConvUnit, BranchUnit)) for unit in new.units):
        raise ValueError(f"remove_unit: removing unit {index} would leave no ConvUnit; nothing would be learned.")
    if not isinstance(new.units[0], (ConvUnit, BranchUnit)):
        raise ValueError(
            f"remove_unit: removing unit {index} would make a {type(new.units[0]).__name__} the first unit; "
            "the first unit must be a ConvUnit or BranchUnit."
        )
    width = new.input_shape[0]
    for i, unit in enumerate(new.units):
        if required_input_width(unit) not in (None, width):
            new.units[i] = _refit_input(unit, width, new)
        width = new.units[i].output_width(width)
    head = new.hidden[0] if len(new.hidden) else new.classifier
    if head.in_features != width:
        fresh = _adopt(nn.Linear(width, head.out_features), new)
        keep = min(width, head.in_features)
        with torch.no_grad():
            fresh.weight[:, :keep] = head.weight[:, :keep]
            fresh.bias.copy_(head.bias)
        if len(new.hidden):
            new.hidden[0] = fresh
        else:
            new.classifier = fresh
    return _finish(new)


def shrink_conv(net: MorphNet, unit_index: int, new_width: int) -> MorphNet:
    """N2N's layer shrinkage: keep the ``new_width`` filters of largest L1 norm of a ConvUnit.

    The kept filters stay in their original order, with their BatchNorm parameters and
    statistics; the layers that read this unit keep only their weights on the kept channels.
    (Pruning by filter norm: a filter with small weights contributes little.)
    """
    new = copy.deepcopy(net)
    unit = _conv_unit_at(new, unit_index, "shrink_conv")
    old = unit.out_channels
    if not 1 <= new_width < old:
        raise ValueError(
            f"shrink_conv: new_width must be smaller than the current width {old} and >= 1, got {new_width}."
        )
    readers = _readers_of(new, unit_index)
    filter_norms = unit.conv.weight.detach().abs().sum(dim=(1, 2, 3))  # (C_out,)
    kept = filter_norms.topk(new_width).indices.sort().values
    _take_output_channels(unit, kept)
    for layer in readers:
        _edit_input_channels(layer, old, lambda weight: weight[:, kept])
    return _finish(new)
