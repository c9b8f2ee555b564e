"""How the architecture parameters alpha weigh the candidate operations of an edge (survey Sec. 3.2).

DARTS (Liu et al., ICLR 2019) relaxes the choice of one operation on edge (i, j) to a mixture
(survey Eq. 4)::

    o_bar^(i,j)(x) = sum_{o in O}  exp(alpha_o^(i,j)) / sum_{o' in O} exp(alpha_o'^(i,j))  *  o(x)

Its successors change only *how the weights are made* from alpha, so each rule is one function
from the logits ``alpha`` (one row per edge, one column per operation) to the weights the
supernet multiplies the operations' outputs by:

* ``darts_weights``: a softmax per edge (Eq. 4).
* ``gumbel_weights``: GDAS (Dong & Yang, CVPR 2019) samples one operation per edge with the
  Gumbel-max trick and uses a one-hot weight in the forward pass, while the backward pass sees
  the gradient of a tempered softmax (the straight-through Gumbel-softmax).
* ``node_softmax_weights``: I-DARTS (Jiang et al., EMNLP 2019) takes one softmax over *every*
  (incoming edge, operation) pair of a node, so edges from different predecessors compete.
* ``edge_normalisation``: PC-DARTS (Xu et al., ICLR 2020) adds one parameter beta per edge and
  weighs edge (i, j) of node j by a softmax of beta over the node's incoming edges.

Every function takes ``node_edges``, the number of incoming edges of each node in order (DARTS:
2, 3, 4, 5 for four intermediate nodes), where the node grouping matters.

Each method is one ``MixingRule`` (``MIXING_RULES``, by name; ``METHODS`` lists the names): the few
things a supernet asks of it, with DARTS's answers as the defaults and each successor overriding only
what it changes. Adding a relaxation method means adding one rule here.
"""

from __future__ import annotations

from typing import Sequence

import torch
import torch.nn.functional as F

__all__ = ["darts_weights", "gumbel_weights", "most_likely", "node_softmax_weights", "edge_normalisation", "node_slices",
           "MixingRule", "DartsMixing", "GumbelMixing", "PartialChannelMixing", "NodeSoftmaxMixing", "MIXING_RULES",
           "METHODS", "mixing_rule"]


def node_slices(node_edges: Sequence[int]) -> list[slice]:
    """The rows of alpha that belong to each node: DARTS's (2, 3, 4, 5) gives 0:2, 2:5, 5:9, 9:14."""
    slices, start = [], 0
    for count in node_edges:
        slices.append(slice(start, start + count))
        start += count
    return slices


def _check_grouping(rows: int, node_edges: Sequence[int]) -> None:
    """A grouping that does not cover exactly the rows would silently drop (or invent) edges."""
    if sum(node_edges) != rows:
        raise ValueError(f"node_edges {tuple(node_edges)} group {sum(node_edges)} edges, but there are {rows} rows "
                         "(one per edge).")


def darts_weights(alpha: torch.Tensor) -> torch.Tensor:
    """Eq. 4: softmax over the operations of each edge. alpha: (edges, operations) -> same shape."""
    return F.softmax(alpha, dim=-1)


def gumbel_weights(alpha: torch.Tensor, temperature: float, generator: torch.Generator | None = None) -> torch.Tensor:
    """GDAS: a one-hot sample per edge whose gradient is that of a Gumbel-softmax at ``temperature``.

    With Gumbel noise g = -log(-log(u)), u ~ U(0, 1):

        h = one_hot(argmax_o (log p_o + g_o))          (the forward pass: exactly one operation)
        s = softmax((log p + g) / temperature)          (what the gradient flows through)
        weights = h - stop_gradient(s) + s              (value of h, gradient of s)

    where p = softmax(alpha). As the temperature falls, s approaches h and the gradient becomes
    less biased but noisier; GDAS anneals it linearly from 10 to 0.1 over the search.
    alpha: (edges, operations) -> (edges, operations), each row one-hot in value.
    """
    if temperature <= 0:
        raise ValueError(f"The Gumbel-softmax temperature must be positive, got {temperature!r}.")
    uniform = torch.rand(alpha.shape, generator=generator, device=alpha.device, dtype=alpha.dtype)
    gumbel = -torch.log(-torch.log(uniform.clamp(1e-20, 1.0 - 1e-7)))
    logits = (F.log_softmax(alpha, dim=-1) + gumbel) / temperature
    soft = F.softmax(logits, dim=-1)
    hard = F.one_hot(soft.argmax(dim=-1), alpha.shape[-1]).to(soft.dtype)
    return hard - soft.detach() + soft


def most_likely(alpha: torch.Tensor) -> torch.Tensor:
    """GDAS at evaluation: the one-hot of each edge's most likely operation, no noise. (edges, ops) -> same."""
    return F.one_hot(alpha.argmax(dim=-1), alpha.shape[-1]).to(alpha.dtype)


def node_softmax_weights(alpha: torch.Tensor, node_edges: Sequence[int]) -> torch.Tensor:
    """I-DARTS: one softmax over all (incoming edge, operation) pairs of each node.

    The weights of a node's edges sum to 1 *together*, not edge by edge, so a strong operation on
    one edge can silence another edge entirely. alpha: (edges, operations) -> same shape.
    """
    _check_grouping(alpha.shape[0], node_edges)
    rows = []
    for rows_of_node in node_slices(node_edges):
        block = alpha[rows_of_node]
        rows.append(F.softmax(block.flatten(), dim=0).view_as(block))
    return torch.cat(rows, dim=0)


def edge_normalisation(beta: torch.Tensor, node_edges: Sequence[int]) -> torch.Tensor:
    """PC-DARTS: the weight of each edge, a softmax of beta over the incoming edges of its node.

    beta: (edges,) -> (edges,), summing to 1 over each node's edges.
    """
    _check_grouping(beta.shape[0], node_edges)
    return torch.cat([F.softmax(beta[rows], dim=0) for rows in node_slices(node_edges)])


# ------------------------------------------------------------------------------ one rule per method
class MixingRule:
    """What a relaxation method decides in a supernet; DARTS's answers, which the successors override.

    * ``edge_parameters``: names of extra architecture parameters with one value per edge (PC-DARTS's beta);
    * ``weights``: alpha -> the (edges, operations) weights of the mixed operations (Eq. 4);
    * ``samples_one_path``: whether only each edge's argmax operation runs (GDAS);
    * ``partial_channels``: into how many parts an edge's input channels are split, one part being mixed;
    * ``edge_scale``: what each edge's output is multiplied by when its node sums its edges (None: by 1);
    * ``strengths``: the (edges, operations) values Eq. 5 compares to derive a cell;
    * ``derive_edge``: the operation an edge keeps, where a derived cell may drop edges (the benchmark's
      cell; on the DARTS cell every method keeps each node's two strongest edges, as a genotype needs).
    """

    name: str  # the method's name in MIXING_RULES
    edge_parameters: tuple[str, ...] = ()
    samples_one_path = False

    def weights(self, alpha: torch.Tensor, node_edges: Sequence[int], temperature: float,
                training: bool) -> torch.Tensor:
        return darts_weights(alpha)

    def partial_channels(self, requested: int) -> int:
        return 1  # every channel goes through the mixed operations

    def edge_scale(self, node_edges: Sequence[int], **edge_parameters: torch.Tensor) -> torch.Tensor | None:
        return None  # x_j = sum_i o_bar^(i,j)(x_i): every edge counts once (Eq. 3)

    def strengths(self, alpha: torch.Tensor, node_edges: Sequence[int], **edge_parameters: torch.Tensor) -> torch.Tensor:
        """Eq. 5's scale: softmax(alpha) per edge, times the edge's scale where the method has one."""
        strengths = darts_weights(alpha)
        scale = self.edge_scale(node_edges, **edge_parameters)
        return strengths if scale is None else strengths * scale[:, None]

    def derive_edge(self, strengths: torch.Tensor, operations: Sequence[str], edges_into_node: int) -> str:
        """Eq. 5 on one edge: its strongest operation, ``none`` included (NAS-Bench-201's rule)."""
        return operations[int(strengths.argmax())]

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


class DartsMixing(MixingRule):
    """DARTS (and P-DARTS, which adds stages around it): a softmax over each edge's operations, Eq. 4."""

    name = "darts"


class GumbelMixing(MixingRule):
    """GDAS: while training, one operation per edge sampled by the straight-through Gumbel-softmax and only
    that one run; when evaluating, each edge's most likely operation."""

    name = "gdas"
    samples_one_path = True

    def weights(self, alpha: torch.Tensor, node_edges: Sequence[int], temperature: float,
                training: bool) -> torch.Tensor:
        return gumbel_weights(alpha, temperature) if training else most_likely(alpha)


class PartialChannelMixing(MixingRule):
    """PC-DARTS: Eq. 4 on 1/K of the channels, and each edge weighed by a softmax of beta over its node's edges:

        x_j = sum_{i < j}  softmax(beta)_(i,j) * o_bar^(i,j)(x_i)
    """

    name = "pcdarts"
    edge_parameters = ("beta",)

    def partial_channels(self, requested: int) -> int:
        return requested  # K: the first C / K channels are mixed, the rest bypass the edge

    def edge_scale(self, node_edges: Sequence[int], beta: torch.Tensor) -> torch.Tensor:
        return edge_normalisation(beta, node_edges)


class NodeSoftmaxMixing(MixingRule):
    """I-DARTS: one softmax over every (incoming edge, operation) pair of a node."""

    name = "idarts"

    def weights(self, alpha: torch.Tensor, node_edges: Sequence[int], temperature: float,
                training: bool) -> torch.Tensor:
        return node_softmax_weights(alpha, node_edges)

    def strengths(self, alpha: torch.Tensor, node_edges: Sequence[int], **edge_parameters: torch.Tensor) -> torch.Tensor:
        return node_softmax_weights(alpha, node_edges)

    def derive_edge(self, strengths: torch.Tensor, operations: Sequence[str], edges_into_node: int) -> str:
        """The edge's strongest real operation if it beats the node's uniform share 1 / (edges x operations),
        else ``none``: a node keeps any number of its incoming edges."""
        share = 1.0 / (edges_into_node * len(operations))
        strength, name = max((float(strengths[k]), op) for k, op in enumerate(operations) if op != "none")
        return name if strength > share else "none"


MIXING_RULES: dict[str, MixingRule] = {rule.name: rule for rule in
                                       (DartsMixing(), GumbelMixing(), PartialChannelMixing(), NodeSoftmaxMixing())}
METHODS = tuple(MIXING_RULES)  # P-DARTS is "darts" mixing run in stages (search.pdarts_search)


def mixing_rule(method: str) -> MixingRule:
    """The rule of relaxation method ``method``; a clear error for an unknown name."""
    if method not in MIXING_RULES:
        raise ValueError(f"Unknown relaxation method {method!r}; choose one of {METHODS} "
                         "(P-DARTS is method 'darts' run in stages by search.pdarts_search).")
    return MIXING_RULES[method]
