"""Exercises of chapter 03, "Continuous relaxation": reference solutions and their checks.

Read the references only after trying: they are the answers.
"""

from __future__ import annotations

from typing import Callable, Sequence

import torch
import torch.nn.functional as F

from .core import Case, Exercise

__all__ = ["mixed_operation", "discretise", "gumbel_sample", "finite_difference_hvp", "edge_normalised_strengths"]


# 1. The mixed operation of Eq. 4 ----------------------------------------------------------------------
def _mixed_operation(outputs: torch.Tensor, alpha: torch.Tensor) -> torch.Tensor:
    """outputs: (O, ...) the O operations' outputs on one edge; alpha: (O,) -> the mixed output (...)."""
    weights = torch.softmax(alpha, dim=0)
    return (weights.view(-1, *[1] * (outputs.dim() - 1)) * outputs).sum(dim=0)


def _outputs(*shape: int, seed: int) -> torch.Tensor:
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


mixed_operation = Exercise(
    "mixed_operation",
    _mixed_operation,
    [
        Case("three operations, equal alphas: the plain average", lambda: (_outputs(3, 4, seed=0),
                                                                         torch.zeros(3, dtype=torch.float64))),
        Case("three operations on a vector", lambda: (_outputs(3, 5, seed=1),
                                                       torch.tensor([1.0, -0.5, 2.0], dtype=torch.float64))),
        Case("eight operations on a (batch, channels, H, W) feature map",
             lambda: (_outputs(8, 2, 3, 4, 4, seed=2), _outputs(8, seed=3))),
        Case("one alpha much larger than the others", lambda: (_outputs(4, 6, seed=4),
                                                                torch.tensor([0.0, 9.0, 0.0, -3.0], dtype=torch.float64))),
    ],
    hint="Eq. 4: the weight of operation o is exp(alpha_o) / sum_o' exp(alpha_o'), a softmax over the O operations "
    "(dimension 0 of alpha), not alpha itself. Multiply each output outputs[o] by its weight (broadcast the weight "
    "over the output's shape) and add over o: the result has the shape of one output.",
)


# 2. Eq. 5: from strengths to a discrete cell ----------------------------------------------------------------
def _discretise(strengths: torch.Tensor, operations: Sequence[str], node_edges: Sequence[int]) -> list[tuple[str, int]]:
    """strengths: (edges, O), edges grouped by node; returns two (operation, source) pairs per node, strongest first."""
    cell, start = [], 0
    for count in node_edges:
        candidates = []  # (strength of the edge's best real operation, source, that operation)
        for source in range(count):
            row = strengths[start + source]
            best = max((float(row[k]), name) for k, name in enumerate(operations) if name != "none")
            candidates.append((best[0], source, best[1]))
        candidates.sort(key=lambda candidate: -candidate[0])
        cell.extend((name, source) for _, source, name in candidates[:2])
        start += count
    return cell


_OPS = ("none", "skip", "conv", "pool")


def _strengths(rows: list[list[float]]) -> torch.Tensor:
    return torch.tensor(rows, dtype=torch.float64)


discretise = Exercise(
    "discretise",
    _discretise,
    [
        Case("one node, two edges: each keeps its best operation",
             lambda: (_strengths([[0.1, 0.2, 0.6, 0.1], [0.1, 0.5, 0.2, 0.2]]), _OPS, (2,))),
        Case("'none' is the strongest on an edge, but never chosen",
             lambda: (_strengths([[0.7, 0.1, 0.15, 0.05], [0.1, 0.3, 0.4, 0.2]]), _OPS, (2,))),
        Case("two nodes: the second keeps its two strongest of three edges",
             lambda: (_strengths([[0.1, 0.2, 0.6, 0.1], [0.1, 0.5, 0.2, 0.2],
                                  [0.1, 0.2, 0.3, 0.4], [0.05, 0.8, 0.1, 0.05], [0.3, 0.3, 0.35, 0.05]]), _OPS, (2, 3))),
        Case("one edge holds the two strongest operations of the node",
             lambda: (_strengths([[0.0, 0.09, 0.46, 0.45], [0.2, 0.3, 0.25, 0.25], [0.1, 0.2, 0.3, 0.4]]),
                      _OPS, (3,))),
        Case("the DARTS cell's shape: four nodes with 2, 3, 4, 5 edges, random strengths",
             lambda: (torch.softmax(_outputs(14, 4, seed=5), dim=1), _OPS, (2, 3, 4, 5))),
    ],
    hint="Per node (node j's incoming edges are the next node_edges[j] rows), give every edge the strength of its "
    "strongest operation OTHER than 'none' (Eq. 5's argmax, but 'none' never wins), then keep the node's two edges "
    "with the highest such strength, each as (operation, source) with source = the edge's position among the node's "
    "edges, strongest edge first. Two operations of the same edge never both count: an edge is kept or not.",
)


# 3. GDAS's straight-through Gumbel sample ---------------------------------------------------------------------
def _gumbel_sample(alpha: torch.Tensor, uniform: torch.Tensor, temperature: float) -> tuple[torch.Tensor, torch.Tensor]:
    """alpha, uniform: (edges, O). Returns (hard, soft): the one-hot sample and the tempered softmax."""
    gumbel = -torch.log(-torch.log(uniform))
    logits = (F.log_softmax(alpha, dim=-1) + gumbel) / temperature
    soft = F.softmax(logits, dim=-1)
    hard = F.one_hot(logits.argmax(dim=-1), alpha.shape[-1]).to(soft.dtype)
    return hard, soft


def _gumbel_case(edges: int, operations: int, seed: int, temperature: float, scale: float = 1.0) -> Callable[[], tuple]:
    def make() -> tuple:
        generator = torch.Generator().manual_seed(seed)
        alpha = scale * torch.randn(edges, operations, generator=generator, dtype=torch.float64)
        uniform = torch.rand(edges, operations, generator=generator, dtype=torch.float64).clamp(1e-6, 1 - 1e-6)
        return alpha, uniform, temperature

    return make


gumbel_sample = Exercise(
    "gumbel_sample",
    _gumbel_sample,
    [
        Case("one edge, four operations, temperature 1", _gumbel_case(1, 4, seed=0, temperature=1.0)),
        Case("six edges at GDAS's initial temperature 10", _gumbel_case(6, 4, seed=1, temperature=10.0)),
        Case("six edges at GDAS's final temperature 0.1", _gumbel_case(6, 4, seed=2, temperature=0.1)),
        Case("14 edges, 8 operations, strong preferences", _gumbel_case(14, 8, seed=3, temperature=2.0, scale=3.0)),
    ],
    hint="Gumbel noise is g = -log(-log(u)) (two logs). The perturbed logits are (log softmax(alpha) + g) / temperature "
    "(the temperature divides the noise too). soft = softmax of them along the operations (last dimension); hard = "
    "one_hot(argmax) of them, with soft's dtype. Return (hard, soft).",
)


# 4. DARTS's finite-difference Hessian-vector product (Eq. 8 of Liu et al.) -------------------------------------
def _finite_difference_hvp(gradient: Callable[[torch.Tensor], torch.Tensor], w: torch.Tensor, v: torch.Tensor,
                           scale: float = 0.01) -> torch.Tensor:
    """(grad(w + eps v) - grad(w - eps v)) / (2 eps) with eps = scale / ||v||."""
    epsilon = scale / v.norm()
    return (gradient(w + epsilon * v) - gradient(w - epsilon * v)) / (2 * epsilon)


def _cubic_gradient(w: torch.Tensor) -> torch.Tensor:
    """The gradient of f(w) = sum(w^4) / 4 + w_0 w_1: not quadratic, so the difference scheme matters."""
    extra = torch.zeros_like(w)
    extra[0], extra[1] = w[1], w[0]
    return w**3 + extra


_A = torch.tensor([[2.0, 1.0, 0.0], [1.0, 3.0, -1.0], [0.0, -1.0, 4.0]], dtype=torch.float64)

finite_difference_hvp = Exercise(
    "finite_difference_hvp",
    _finite_difference_hvp,
    [
        Case("a quadratic: the gradient is A w", (lambda w: _A @ w, torch.tensor([1.0, 2.0, 3.0], dtype=torch.float64),
                                                  torch.tensor([0.5, -1.0, 2.0], dtype=torch.float64))),
        Case("a quartic, with a direction of norm 5", (_cubic_gradient, torch.tensor([1.0, -2.0, 0.5], dtype=torch.float64),
                                                       torch.tensor([3.0, 0.0, 4.0], dtype=torch.float64))),
        Case("a quartic, a tiny direction and scale 0.1", (_cubic_gradient, torch.tensor([2.0, 1.0, -1.0, 0.3], dtype=torch.float64),
                                                           torch.tensor([1e-3, 2e-3, 0.0, -1e-3], dtype=torch.float64), 0.1)),
        Case("a mixed derivative: the gradient in alpha as the weights w move",
             (lambda w: torch.stack([torch.sin(w).sum(), (w**2).prod()]),
              torch.tensor([0.3, -0.7, 1.1], dtype=torch.float64), torch.tensor([2.0, 1.0, -2.0], dtype=torch.float64))),
    ],
    hint="A central difference: (gradient(w + eps * v) - gradient(w - eps * v)) / (2 * eps). DARTS scales the step to "
    "the direction: eps = scale / ||v|| (the Euclidean norm of v), so that w moves by `scale` whatever v's size. A "
    "forward difference (gradient(w + eps v) - gradient(w)) / eps is only first-order accurate.",
)


# 5. PC-DARTS's edge normalisation: the strengths Eq. 5 compares ------------------------------------------------
def _edge_normalised_strengths(alpha: torch.Tensor, beta: torch.Tensor, node_edges: Sequence[int]) -> torch.Tensor:
    """alpha: (edges, O), beta: (edges,), edges grouped by node -> (edges, O): softmax(alpha) per edge times the
    edge's weight, a softmax of beta over the incoming edges of its node."""
    edge_weights, start = [], 0
    for count in node_edges:
        edge_weights.append(torch.softmax(beta[start: start + count], dim=0))
        start += count
    return torch.softmax(alpha, dim=-1) * torch.cat(edge_weights)[:, None]


def _pc_case(node_edges: tuple[int, ...], operations: int, seed: int, scale: float = 1.0) -> Callable[[], tuple]:
    def make() -> tuple:
        generator = torch.Generator().manual_seed(seed)
        edges = sum(node_edges)
        alpha = scale * torch.randn(edges, operations, generator=generator, dtype=torch.float64)
        beta = scale * torch.randn(edges, generator=generator, dtype=torch.float64)
        return alpha, beta, node_edges

    return make


edge_normalised_strengths = Exercise(
    "edge_normalised_strengths",
    _edge_normalised_strengths,
    [
        Case("one node with two incoming edges", _pc_case((2,), 4, seed=0)),
        Case("the benchmark's cell: nodes with 1, 2 and 3 incoming edges", _pc_case((1, 2, 3), 4, seed=1)),
        Case("the DARTS cell: 14 edges in nodes of 2, 3, 4, 5, eight operations", _pc_case((2, 3, 4, 5), 8, seed=2)),
        Case("one edge of a node with a much larger beta", lambda: (
            torch.zeros(3, 4, dtype=torch.float64), torch.tensor([4.0, 0.0, -1.0], dtype=torch.float64), (3,))),
    ],
    hint="Two softmaxes, multiplied. softmax(alpha) over each edge's operations (the last dimension), as in Eq. 4; "
    "and the edge's weight: a softmax of beta over the incoming edges of the SAME node only (node j's edges are the "
    "next node_edges[j] entries of beta), so the weights of each node's edges sum to 1. A node with one incoming "
    "edge gives it weight 1. Multiply row e of softmax(alpha) by the weight of edge e.",
)
