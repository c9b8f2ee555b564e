"""The bilevel problem of DARTS and the gradient that solves it approximately (survey Eq. 6).

The architecture alpha is chosen on the validation loss, the weights w on the training loss::

    min_alpha  L_val(w*(alpha), alpha)      subject to   w*(alpha) = argmin_w L_train(w, alpha)     (Eq. 6)

DARTS never computes w*(alpha). It alternates one step on alpha and one on w, and for the
alpha step it approximates w*(alpha) by a single virtual step of gradient descent::

    w' = w - xi * grad_w L_train(w, alpha)

so that by the chain rule (Liu et al., 2019, Eq. 7)::

    grad_alpha L_val(w', alpha)  -  xi * grad^2_{alpha, w} L_train(w, alpha) . grad_w' L_val(w', alpha)

* **First order** (``xi = 0``): just grad_alpha L_val(w, alpha). Cheap, and what most successors use.
* **Second order**: the matrix-vector product is estimated by a central finite difference
  (Liu et al., Eq. 8), with v = grad_w' L_val(w', alpha) and w+- = w +- epsilon v::

      grad^2_{alpha, w} L_train(w, alpha) . v  ~=  [grad_alpha L_train(w+, alpha) - grad_alpha L_train(w-, alpha)] / (2 epsilon)

  with epsilon = 0.01 / ||v||, as in the paper. Two extra forward-backward passes, no Hessian.

``exact_second_order_gradient`` computes the same quantity with autograd through the virtual step
(double backward); the unit tests check the finite difference against it.
Simplification: the DARTS code takes the virtual step with the momentum and weight decay of its
weight optimiser; here it is the plain gradient step of Eq. 7, which is what the equation states.

A model here is any module with ``arch_parameters()`` and ``weight_parameters()`` mapping inputs to
logits; the loss is the cross-entropy on a batch ``(x, y)``.
"""

from __future__ import annotations

from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn
from torch.func import functional_call

__all__ = ["batch_loss", "first_order_gradient", "second_order_gradient", "exact_second_order_gradient"]

Batch = tuple[torch.Tensor, torch.Tensor]


def batch_loss(model: nn.Module, batch: Batch) -> torch.Tensor:
    x, y = batch
    return F.cross_entropy(model(x), y)


def _gradients(loss: torch.Tensor, parameters: Sequence[torch.Tensor]) -> list[torch.Tensor]:
    """d loss / d parameters, zeros for parameters the loss does not reach (GDAS's unsampled operations).

    Asking autograd for these parameters only also spares it the weight gradients of every
    convolution when only alpha is wanted: the architecture step costs less than a weight step.
    """
    grads = torch.autograd.grad(loss, list(parameters), allow_unused=True)
    return [torch.zeros_like(p) if g is None else g for p, g in zip(parameters, grads)]


def first_order_gradient(model: nn.Module, val_batch: Batch) -> list[torch.Tensor]:
    """grad_alpha L_val(w, alpha): the first-order approximation (xi = 0)."""
    return _gradients(batch_loss(model, val_batch), model.arch_parameters())


@torch.no_grad()
def _set(parameters: Sequence[torch.Tensor], values: Sequence[torch.Tensor]) -> None:
    for parameter, value in zip(parameters, values):
        parameter.copy_(value)


def second_order_gradient(model: nn.Module, train_batch: Batch, val_batch: Batch, xi: float,
                          epsilon_scale: float = 0.01) -> list[torch.Tensor]:
    """Eq. 7 with the finite-difference Hessian-vector product of Eq. 8. The weights are restored after, and so
    are BatchNorm's running statistics: the four passes measure a gradient, they do not train (as in
    ``curvature.alpha_hessian``)."""
    weights, alphas = model.weight_parameters(), model.arch_parameters()
    original = [w.detach().clone() for w in weights]
    buffers = [(buffer, buffer.detach().clone()) for buffer in model.buffers()]
    try:
        # the virtual step: w' = w - xi * grad_w L_train(w, alpha)
        train_grads = _gradients(batch_loss(model, train_batch), weights)
        _set(weights, [w - xi * g for w, g in zip(original, train_grads)])
        # at w': grad_alpha L_val(w', alpha) and v = grad_w' L_val(w', alpha)
        val_grads = _gradients(batch_loss(model, val_batch), list(alphas) + list(weights))
        alpha_grads, v = val_grads[: len(alphas)], val_grads[len(alphas):]
        norm = torch.sqrt(sum((g * g).sum() for g in v))
        epsilon = epsilon_scale / norm.clamp_min(1e-12)
        # central difference of grad_alpha L_train around w, in the direction v
        _set(weights, [w + epsilon * g for w, g in zip(original, v)])
        plus = _gradients(batch_loss(model, train_batch), alphas)
        _set(weights, [w - epsilon * g for w, g in zip(original, v)])
        minus = _gradients(batch_loss(model, train_batch), alphas)
    finally:
        _set(weights, original)
        _set([b for b, _ in buffers], [saved for _, saved in buffers])
    return [g - xi * (p - m) / (2 * epsilon) for g, p, m in zip(alpha_grads, plus, minus)]


def exact_second_order_gradient(model: nn.Module, train_batch: Batch, val_batch: Batch,
                                xi: float) -> list[torch.Tensor]:
    """The same gradient as ``second_order_gradient``, by autograd through the virtual step.

    Builds w' = w - xi * grad_w L_train(w, alpha) as a differentiable function of alpha
    (``create_graph=True``), evaluates L_val at w' with ``torch.func.functional_call`` and
    differentiates with respect to alpha: a double backward, exact up to rounding. Costs far more
    memory than the finite difference; meant for checking it on small models.
    """
    names = dict((id(p), name) for name, p in model.named_parameters())
    weights, alphas = model.weight_parameters(), model.arch_parameters()
    train_grads = torch.autograd.grad(batch_loss(model, train_batch), weights, create_graph=True, allow_unused=True)
    virtual = {names[id(w)]: w - xi * (g if g is not None else torch.zeros_like(w)) for w, g in zip(weights, train_grads)}
    virtual.update({names[id(a)]: a for a in alphas})
    x, y = val_batch
    val_loss = F.cross_entropy(functional_call(model, virtual, (x,)), y)
    return list(torch.autograd.grad(val_loss, alphas))
