"""How sharp the validation loss is in alpha: the early-stopping signal of Zela et al. (survey [110]).

Zela et al. ("Understanding and Robustifying Differentiable Architecture Search", ICLR 2020) found
that DARTS degrades when it reaches a point where the validation loss is very curved in alpha:
the dominant eigenvalue of the Hessian

    H = grad^2_alpha L_val(w, alpha)

grows during the search, and the discretised cell (one operation per edge, far from the
optimum's neighbourhood) then performs badly. Their DARTS-ES stops the search when this
eigenvalue has grown too fast: at epoch i, stop if  mean(lambda_max over the k epochs before) /
mean(lambda_max over the k epochs up to i)  <  0.75  (they used k = 5) and return the architecture of
epoch i - k.

``dominant_eigenvalue`` computes lambda_max from Hessian-vector products (double backward through the
network); ``early_stop_epoch`` applies the stopping rule to a sequence of eigenvalues.
"""

from __future__ import annotations

from typing import Sequence

import torch
from torch import nn

from .bilevel import Batch, batch_loss

__all__ = ["alpha_hessian", "dominant_eigenvalue", "early_stop_epoch"]


def alpha_hessian(model: nn.Module, batch: Batch) -> torch.Tensor:
    """grad^2_alpha L(w, alpha) on ``batch`` as an (n, n) matrix, n = number of architecture parameters.

    Column j is the Hessian-vector product with the j-th unit vector (a double backward). alpha is
    small (24 numbers on the benchmark's cell space, 224 on DARTS's), so the matrix is formed outright
    and its eigenvalues computed exactly. The network runs in training mode (batch statistics, as
    during the search); BatchNorm running statistics are restored afterwards, so measuring does not
    change the search.
    """
    alphas = model.arch_parameters()
    buffers = {name: buffer.clone() for name, buffer in model.named_buffers()}
    try:
        grads = torch.autograd.grad(batch_loss(model, batch), alphas, create_graph=True)
        flat = torch.cat([g.reshape(-1) for g in grads])
        columns = [torch.cat([c.reshape(-1) for c in torch.autograd.grad(flat[j], alphas, retain_graph=True)])
                   for j in range(flat.numel())]
    finally:
        with torch.no_grad():
            for name, buffer in model.named_buffers():
                buffer.copy_(buffers[name])
    hessian = torch.stack(columns, dim=1).detach()
    return (hessian + hessian.T) / 2  # symmetric up to rounding; make it exactly so for eigvalsh


def dominant_eigenvalue(model: nn.Module, batch: Batch) -> float:
    """lambda_max: the largest eigenvalue of grad^2_alpha L(w, alpha) on ``batch``."""
    return float(torch.linalg.eigvalsh(alpha_hessian(model, batch))[-1])


def early_stop_epoch(eigenvalues: Sequence[float], window: int = 5, threshold: float = 0.75,
                     start: int = 0) -> int | None:
    """DARTS-ES: the first epoch index i (0-based) at which mean(lambda[i-2k+1 .. i-k]) / mean(lambda[i-k+1 .. i])
    falls below ``threshold``; the search would return the architecture of epoch i - k. None if never.

    ``start`` ignores the first epochs: at initialisation alpha is uniform and the curvature near 0, so
    its first rise says nothing about a collapse (on the course benchmark the rule fires at the first
    epoch it can unless those epochs are left out)."""
    values = list(eigenvalues)
    for i in range(start + 2 * window - 1, len(values)):
        before = sum(values[i - 2 * window + 1: i - window + 1]) / window
        recent = sum(values[i - window + 1: i + 1]) / window
        if recent > 0 and before / recent < threshold:
            return i
    return None
