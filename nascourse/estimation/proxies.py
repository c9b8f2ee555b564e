"""Training-free proxies: score an architecture from its untrained network (beyond the survey).

Sec. 3.4 asks whether candidates must be trained from scratch and to convergence; a later
line of work asks whether they must be trained at all. A proxy looks at a freshly initialised
network and one minibatch (or none) and returns a number that should rank architectures like
their trained accuracy. Four of them, as their papers define them:

* ``synflow`` (Tanaka, Kunin, Yamins & Ganguli, 2020, "Pruning neural networks without any data
  by iteratively conserving synaptic flow"): replace every weight by its absolute value, feed
  an all-ones input, R = sum of the outputs, score = sum over weights of |theta * dR/dtheta|.
  Used as a NAS proxy by Abdelfattah, Mehrotra, Dudziak & Lane (2021, "Zero-Cost Proxies for
  Lightweight NAS"), who score the weights of convolutions and linear layers and compute it on
  a copy of the network *without BatchNorm*: with one all-ones image, BatchNorm in training
  mode subtracts the (constant) mean and zeroes the signal. We do the same: BatchNorm layers
  of a copy become identities, and the copy runs in float64 (the products of many |theta| grow
  large).
* ``naswot`` (Mellor, Turner, Storkey & Crowley, 2021, "Neural Architecture Search without
  Training"): each input of a minibatch switches every ReLU on or off, a binary code c_i; the
  kernel K_H[i, j] = N_A - Hamming(c_i, c_j) counts the units on which inputs i and j agree;
  score = log |det K_H|. A network that gives different inputs different codes scores high.
* ``grad_norm`` (Abdelfattah et al., 2021): the gradient of the cross-entropy on a minibatch at
  initialisation, as in their code the sum over conv/linear layers of each layer's L2 norm.
* ``parameter_count``: the baseline every proxy must beat (bigger networks often do better).

``score_architectures`` builds each cell with the benchmark's recipe and scores it;
``proxy_correlations`` measures each proxy's rank correlation with the benchmark.
"""

from __future__ import annotations

import copy
import random
import time
from dataclasses import dataclass
from typing import Any, Callable, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..bench.table import Benchmark
from ..data import DatasetSplits, load_dataset
from ..spaces.base import SearchSpace
from ..stats import kendall_tau, spearman, top_k_hit_rate
from ..train import count_parameters

__all__ = ["synflow", "naswot", "grad_norm", "parameter_count", "PROXIES", "score_architectures",
           "ProxyReport", "proxy_correlations"]

_BATCHNORMS = (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d)


def _scored_layers(model: nn.Module) -> list[nn.Module]:
    return [m for m in model.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]


def _without_batchnorm(model: nn.Module, in_place: bool = False) -> nn.Module:
    """A deep copy of ``model`` (or ``model`` itself, ``in_place``) in which every BatchNorm is an identity."""
    clone = model if in_place else copy.deepcopy(model)
    for parent in clone.modules():
        for name, child in parent.named_children():
            if isinstance(child, _BATCHNORMS):
                setattr(parent, name, nn.Identity())
    return clone


def synflow(model: nn.Module, images: torch.Tensor, labels: torch.Tensor | None = None, *,
            in_place: bool = False) -> float:
    """SynFlow: sum |theta * dR/dtheta| over conv/linear weights, R = sum(f_|theta|(1)).

    ``images``: (B, C, H, W), used only for its shape: the input is one all-ones image (1, C, H, W).
    The model itself is left untouched (a BatchNorm-free float64 copy is scored), unless ``in_place``:
    then the model itself is turned into that copy (for a network built only to be scored: the copy
    of a large network costs as much as its forward and backward pass)."""
    _check_batch(images, labels, need_labels=False)
    clone = _without_batchnorm(model, in_place).double().eval()
    with torch.no_grad():
        for parameter in clone.parameters():
            parameter.abs_()  # "linearise": with positive weights and input, no ReLU ever cuts the flow
    clone.zero_grad(set_to_none=True)
    ones = torch.ones((1, *images.shape[1:]), dtype=torch.float64, device=images.device)
    clone(ones).sum().backward()
    score = 0.0
    with torch.no_grad():
        for layer in _scored_layers(clone):
            if layer.weight.grad is not None:
                score += float((layer.weight * layer.weight.grad).abs().sum())
    return score


def naswot(model: nn.Module, images: torch.Tensor, labels: torch.Tensor | None = None) -> float:
    """NASWOT: log|det K_H| of the ReLU-code kernel over the minibatch ``images`` (B, C, H, W), B >= 2.

    BatchNorm runs in training mode (batch statistics), as at the start of training; a copy is
    used so the model's running statistics do not change. -inf when two inputs share a code."""
    _check_batch(images, labels, need_labels=False)
    if len(images) < 2:
        raise ValueError("naswot compares inputs with each other: give a minibatch of at least 2 images.")
    clone = copy.deepcopy(model).train()
    batch = len(images)
    kernel = torch.zeros((batch, batch), dtype=torch.float64)

    def record(module, inputs, output):
        codes = (output.detach().reshape(batch, -1) > 0).double()  # (B, units): which ReLUs are on
        # agreements = both on + both off = N_A - Hamming distance
        kernel.add_(codes @ codes.T + (1 - codes) @ (1 - codes).T)

    hooks = [m.register_forward_hook(record) for m in clone.modules() if isinstance(m, nn.ReLU)]
    if not hooks:
        raise ValueError("naswot needs a network with ReLU units; this one has none.")
    try:
        with torch.no_grad():
            clone(images)
    finally:
        for hook in hooks:
            hook.remove()
    sign, logdet = torch.linalg.slogdet(kernel)
    return float(logdet) if sign > 0 else float("-inf")


def grad_norm(model: nn.Module, images: torch.Tensor, labels: torch.Tensor | None = None) -> float:
    """Sum over conv/linear layers of ||dL/dW||_2 at initialisation; L = cross-entropy on (images, labels).

    ``images``: (B, C, H, W), ``labels``: (B,). A copy is used (its BatchNorm in training mode)."""
    _check_batch(images, labels, need_labels=True)
    clone = copy.deepcopy(model).train()
    clone.zero_grad(set_to_none=True)
    F.cross_entropy(clone(images), labels).backward()
    return float(sum(layer.weight.grad.norm() for layer in _scored_layers(clone) if layer.weight.grad is not None))


def parameter_count(model: nn.Module, images: torch.Tensor | None = None, labels: torch.Tensor | None = None) -> float:
    """Number of trainable parameters: the baseline proxy."""
    return float(count_parameters(model))


def _check_batch(images: torch.Tensor, labels: torch.Tensor | None, need_labels: bool) -> None:
    if not isinstance(images, torch.Tensor) or images.dim() != 4 or len(images) == 0:
        shape = tuple(images.shape) if isinstance(images, torch.Tensor) else type(images).__name__
        raise ValueError(f"images must be a non-empty (B, C, H, W) tensor; got {shape}.")
    if need_labels and (labels is None or labels.shape != (len(images),)):
        raise ValueError(f"This proxy needs labels of shape ({len(images)},) for the loss; got "
                         f"{None if labels is None else tuple(labels.shape)}.")


PROXIES: dict[str, Callable[[nn.Module, torch.Tensor, torch.Tensor | None], float]] = {
    "synflow": synflow, "naswot": naswot, "grad_norm": grad_norm, "parameter_count": parameter_count,
}


def _proxy(proxy: str | Callable) -> Callable:
    if callable(proxy):
        return proxy
    if proxy not in PROXIES:
        raise ValueError(f"Unknown proxy {proxy!r}; known: {sorted(PROXIES)} (or pass a function).")
    return PROXIES[proxy]


def _minibatch(data: DatasetSplits, batch_size: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    if not 1 <= batch_size <= len(data.train):
        raise ValueError(f"batch_size must lie in 1..{len(data.train)} (the training split); got {batch_size}.")
    generator = torch.Generator().manual_seed(seed)
    chosen = torch.randperm(len(data.train), generator=generator)[:batch_size].to(data.train.x.device)
    return data.train.x[chosen], data.train.y[chosen]


def score_architectures(space: SearchSpace, architectures: Sequence[Any], data: DatasetSplits,
                        proxy: str | Callable = "synflow", seed: int = 0, batch_size: int = 64) -> np.ndarray:
    """Score each architecture's untrained network: (n architectures) -> (n,) scores, higher = predicted better.

    Every network is built with ``space.build`` after ``torch.manual_seed(seed)`` (so a seed
    repeats the initialisation) and scored on the same minibatch of ``batch_size`` training
    images, drawn with ``seed``. Give the benchmark's space (``bench.space``) and data to compare
    with the table."""
    function = _proxy(proxy)
    images, labels = _minibatch(data, batch_size, seed)
    scores = np.empty(len(architectures))
    for i, architecture in enumerate(architectures):
        torch.manual_seed(seed)
        model = space.build(space.as_architecture(architecture), data.input_shape, data.num_classes)
        scores[i] = function(model.to(images.device), images, labels)
    return scores


@dataclass
class ProxyReport:
    """One proxy against the benchmark's final validation accuracy (mean over seeds)."""

    proxy: str
    architectures: int
    spearman: float
    kendall: float
    top10_hit_rate: float
    seconds: float  # wall time to score all the architectures (build + proxy)

    def line(self) -> str:
        return (f"{self.proxy:16} Spearman {self.spearman:6.3f}  Kendall {self.kendall:6.3f}  "
                f"top-10 hit {self.top10_hit_rate:.2f}  ({self.seconds:.1f} s for {self.architectures} cells)")


def proxy_correlations(bench: Benchmark, proxies: Sequence[str | Callable] = tuple(PROXIES), sample_size: int = 200,
                       seed: int = 0, batch_size: int = 64, data: DatasetSplits | None = None) -> list[ProxyReport]:
    """Score ``sample_size`` random cells of the table with each proxy and rank-correlate with the table.

    The truth is the final validation accuracy averaged over the table's seeds. -inf scores
    (NASWOT's singular kernel) rank last, as in a search."""
    if not 10 <= sample_size <= len(bench):
        raise ValueError(f"sample_size must lie in 10..{len(bench)}; got {sample_size}.")
    data = data or load_dataset(bench.protocol.dataset, split_seed=bench.protocol.split_seed)
    rows = sorted(random.Random(seed).sample(range(len(bench)), sample_size))
    architectures = [bench.architectures[r] for r in rows]
    truth = bench.final_validation()[rows]
    reports = []
    for proxy in proxies:
        name = proxy if isinstance(proxy, str) else getattr(proxy, "__name__", repr(proxy))
        start = time.perf_counter()
        scores = score_architectures(bench.space, architectures, data, proxy, seed, batch_size)
        seconds = time.perf_counter() - start
        finite_floor = np.min(scores[np.isfinite(scores)], initial=0.0) - 1.0
        ranked = np.where(np.isneginf(scores), finite_floor, scores)  # Spearman needs finite values
        reports.append(ProxyReport(name, sample_size, spearman(ranked, truth), kendall_tau(scores, truth),
                                   top_k_hit_rate(ranked, truth, 10), seconds))
    return reports
