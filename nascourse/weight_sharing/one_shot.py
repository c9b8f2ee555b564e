"""The one-shot model: one supernet holds the weights of every cell, and runs one cell at a time.

Survey Sec. 3.4: "ENAS [...] forces all child networks to share weights, so as to avoid training
each child network from scratch [...]. One-Shot [Bender et al., 2018] constructs a large one-shot
model, which is regarded as a supernet containing every possible operation in the search space,
and then only the weights of that one-shot model need to be trained." Every edge of the
benchmark's cell carries all of its operations (``none``, ``skip``, ``conv3x3``, ``avgpool3x3``);
an architecture is a *path*: one operation per edge. ``OneShotSupernet.forward(x, architecture)``
runs that path only, the other operations are never computed, so a step on one path costs
about what a step of the stand-alone network costs.

The network is ``nascourse.relaxation.Cell201Supernet`` (chapter 03's DARTS supernet over the same
space): its search cells accept one-hot mixing weights and the index of the sampled operation
per edge, the GDAS code path, which computes only that operation. The skeleton (stem, three
stages, reductions, pooling, linear) is the benchmark's, so every path has a ground-truth accuracy
in ``Benchmark.load()`` and ``standalone_network`` copies a path's weights into exactly the network
the benchmark trained.

Two details make a path compute exactly what the stand-alone network of its cell computes:

* ``live_architecture``: an edge leaving a node that receives nothing carries ``none``. The
  stand-alone ``Cell`` never runs such an edge; the supernet would feed it zeros, and a
  convolution's BatchNorm turns zeros into a constant, a signal the real network does not have.
* BatchNorm statistics: the running mean and variance that training accumulated belong to a
  mixture of all the paths sampled recently, not to the one being scored. ``recalibrate_batchnorm``
  recomputes them for one path on a few training batches before it is evaluated (SPOS, Guo et
  al. 2020, Sec. 3.4: "we recalculate the statistics of all the BN operations on a random subset
  of training data before evaluation").
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import Any, Iterator, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from ..data import Split, iterate_batches
from ..relaxation.cell201_supernet import BENCHMARK_OPERATIONS, Cell201Supernet, SearchCell201
from ..spaces.base import ArchitectureError
from ..spaces.cell201 import EDGES, NODES, Cell, Cell201Architecture, Cell201Network, Cell201Space

__all__ = ["OneShotSupernet", "live_architecture", "recalibrate_batchnorm", "standalone_network",
           "path_accuracy"]


def live_architecture(architecture: Cell201Architecture) -> Cell201Architecture:
    """The same cell with ``none`` on every edge whose source node receives nothing.

    The stand-alone ``Cell`` skips such edges (their input does not exist); a single path must
    skip them too to compute the same function. Node 0 (the cell input) is always live.
    """
    live = [True] + [False] * (NODES - 1)
    operations = list(architecture.operations)
    for edge, (source, target) in enumerate(EDGES):  # EDGES is ordered by target: sources are settled first
        if not live[source]:
            operations[edge] = "none"
        elif operations[edge] != "none":
            live[target] = True
    return Cell201Architecture(tuple(operations))


class OneShotSupernet(nn.Module):
    """All paths of the benchmark's cell space in one network. (B, C_in, H, W), architecture -> (B, classes).

    ``supernet`` is a ``Cell201Supernet`` (built here when not given); its architecture
    parameters ``alpha`` are not used: a one-shot model has no continuous architecture, only
    weights. ``space`` decodes architecture strings and checks that they belong to the space.
    """

    def __init__(self, input_shape: tuple[int, int, int], num_classes: int, channels: int = 4,
                 cells_per_stage: int = 1, operations: Sequence[str] = BENCHMARK_OPERATIONS,
                 supernet: Cell201Supernet | None = None):
        super().__init__()
        self.net = supernet if supernet is not None else Cell201Supernet(
            input_shape, num_classes, channels, cells_per_stage, operations)
        self.operations = tuple(self.net.operations)
        self.input_shape = tuple(input_shape)
        self.num_classes = num_classes
        self.channels = channels
        self.cells_per_stage = cells_per_stage
        self.space = Cell201Space(self.operations, channels, cells_per_stage)

    def weight_parameters(self) -> list[nn.Parameter]:
        """The shared weights (every parameter but the unused ``alpha``)."""
        return self.net.weight_parameters()

    def as_architecture(self, architecture: Any) -> Cell201Architecture:
        """A validated ``Cell201Architecture`` of this space from an architecture or its string."""
        if not isinstance(architecture, (str, Cell201Architecture)):
            raise ArchitectureError(f"An architecture is a Cell201Architecture or its string, got {type(architecture).__name__}.")
        return self.space.as_architecture(architecture)

    def path(self, architecture: Any) -> list[int]:
        """The operation index of each of the 6 edges, after ``live_architecture``."""
        operations = live_architecture(self.as_architecture(architecture)).operations
        return [self.operations.index(name) for name in operations]

    def forward(self, x: torch.Tensor, architecture: Any) -> torch.Tensor:
        """x: (B, C_in, H, W) -> logits (B, num_classes), computing only the chosen operation of each edge."""
        if x.ndim != 4 or tuple(x.shape[1:]) != self.input_shape:
            raise ValueError(f"Expected images of shape (B, {', '.join(map(str, self.input_shape))}), got {tuple(x.shape)}.")
        indices = self.path(architecture)
        # one-hot mixing weights: MixedOp.single multiplies the chosen output by 1.0, nothing else runs
        weights = F.one_hot(torch.tensor(indices, device=x.device), len(self.operations)).to(x.dtype)  # (6, ops)
        for layer in self.net.features:
            x = layer(x, weights, None, indices) if isinstance(layer, SearchCell201) else layer(x)
        return self.net.classifier(F.adaptive_avg_pool2d(x, 1).flatten(1))


def standalone_network(supernet: OneShotSupernet, architecture: Any) -> Cell201Network:
    """The benchmark's stand-alone network of ``architecture`` with the weights it inherits from the supernet.

    Weight inheritance (survey Sec. 3.4): the child starts from the supernet's weights instead of
    from scratch. The result computes exactly what ``supernet(x, architecture)`` computes; it is
    an independent copy (training it does not change the supernet).
    """
    architecture = live_architecture(supernet.as_architecture(architecture))
    network = Cell201Network(architecture, supernet.input_shape, supernet.num_classes, supernet.channels,
                             supernet.cells_per_stage)
    for mine, shared in zip(network.features, supernet.net.features):
        if isinstance(mine, Cell):
            for key, module in mine.edges.items():
                source, target = map(int, key.split("_"))
                name = architecture.operations[EDGES.index((source, target))]
                if name in shared.edges[EDGES.index((source, target))].ops:  # parametric: copy its weights
                    module.load_state_dict(shared.edges[EDGES.index((source, target))].ops[name].state_dict())
        else:  # stem and reductions: the same modules in both networks
            mine.load_state_dict(shared.state_dict())
    network.classifier.load_state_dict(supernet.net.classifier.state_dict())
    return network.to(next(supernet.parameters()).device)


def _batchnorms(model: nn.Module) -> list[nn.modules.batchnorm._BatchNorm]:
    return [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]


@torch.no_grad()
def recalibrate_batchnorm(supernet: OneShotSupernet, architecture: Any, split: Split, batches: int = 4,
                          batch_size: int = 64, generator: torch.Generator | None = None) -> None:
    """Reset every BatchNorm's running statistics and recompute them for one path.

    The path runs in training mode on ``batches`` batches of ``split`` (shuffled with ``generator``);
    each BatchNorm's ``momentum`` is set to ``None`` meanwhile, so its running mean and variance
    become the plain average over those batches, not an exponential average that would still
    remember the reset. Only the BatchNorms on the path see data; the others keep their reset
    values (mean 0, variance 1) until their own path is recalibrated. The supernet's mode and the
    momenta are restored afterwards.
    """
    if batches < 1 or batch_size < 1:
        raise ValueError(f"Need batches >= 1 and batch_size >= 1; got {batches} and {batch_size}.")
    norms = _batchnorms(supernet)
    momenta = [bn.momentum for bn in norms]
    was_training = supernet.training
    try:
        for bn in norms:
            bn.reset_running_stats()
            bn.momentum = None  # cumulative moving average: every batch counts equally
        supernet.train()
        for count, (x, _) in enumerate(iterate_batches(split, batch_size, shuffle=True, generator=generator)):
            if count == batches:
                break
            supernet(x, architecture)
    finally:
        for bn, momentum in zip(norms, momenta):
            bn.momentum = momentum
        supernet.train(was_training)


@contextmanager
def _frozen_running_stats(model: nn.Module) -> Iterator[None]:
    """Training-mode BatchNorm (normalise by the batch's own statistics) that leaves the running statistics alone."""
    norms = _batchnorms(model)
    momenta = [bn.momentum for bn in norms]
    was_training = model.training
    try:
        for bn in norms:
            bn.momentum = 0.0  # running = (1 - 0) * running + 0 * batch: unchanged
        model.train()
        yield
    finally:
        for bn, momentum in zip(norms, momenta):
            bn.momentum = momentum
        model.train(was_training)


@torch.no_grad()
def path_accuracy(supernet: OneShotSupernet, architecture: Any, split: Split, batch_statistics: bool = False,
                  batch_size: int = 1024) -> float:
    """Accuracy of one path on ``split`` with the shared weights, in [0, 1].

    ``batch_statistics=False``: evaluation mode, BatchNorm uses its running statistics (recalibrate
    first). ``True``: each BatchNorm normalises by the evaluated batch's own statistics (what
    ENAS's reward does: a freshly sampled path has no running statistics of its own); the
    running statistics are not touched.
    """
    correct = 0
    if batch_statistics:
        with _frozen_running_stats(supernet):
            for x, y in iterate_batches(split, batch_size, shuffle=False):
                correct += int((supernet(x, architecture).argmax(dim=1) == y).sum())
    else:
        was_training = supernet.training
        supernet.eval()
        try:
            for x, y in iterate_batches(split, batch_size, shuffle=False):
                correct += int((supernet(x, architecture).argmax(dim=1) == y).sum())
        finally:
            supernet.train(was_training)
    return correct / max(len(split), 1)
