"""GeNet's search space: a network as a fixed-length binary string (survey Sec. 2; Xie & Yuille, 2017,
"Genetic CNN").

The network has ``S`` stages separated by pooling. Stage ``s`` holds ``K_s`` ordered nodes
``v_{s,1} .. v_{s,K_s}``, each a convolution (Conv-BN-ReLU) applied to the **sum** of its inputs
(survey: "⊙ is a sum operation in GeNet"). A connection may only go from a lower-numbered node to a
higher-numbered one, so a stage has ``K_s (K_s - 1) / 2`` possible connections, one bit each, ordered
``(1,2), (1,3), (2,3), (1,4), (2,4), (3,4), ...``: the bits are grouped by target node, and the code of a
stage is written with its groups joined by ``-``::

    K_s = 4:   1-00-111   means   v1 -> v2,   v1 -> v4, v2 -> v4, v3 -> v4   (v3 reads nothing)

Decoding (GeNet's rules): every stage also has a default input node ``v_{s,0}`` (a convolution on what
the previous stage passed through pooling) and a default output node ``v_{s,K_s+1}`` (a convolution whose
output goes to the next pooling). An ordinary node that has no connection at all is **isolated** and left
out. A kept node with no predecessor reads from the input node; a kept node with no successor feeds the
output node. If a stage keeps no node, its input node feeds its output node directly.

A whole network is written with its stages joined by ``|``: ``1-01|0-00-111`` (``K = (3, 4)``).

The macro skeleton follows the paper, sized for a CPU: convolutions keep the resolution inside a
stage, a 2x2 max-pooling halves it between stages. Simplification: after the last stage, a global
average pool and one linear layer replace the paper's fully connected layers and dropout.
"""

from __future__ import annotations

import itertools
import random
import re
from dataclasses import dataclass
from typing import Iterator, Sequence

import torch
from torch import nn

from .chain_ops import ConvBNReLU
from .base import ArchitectureError, SearchSpace

__all__ = ["GeNetArchitecture", "GeNetSpace", "GeNetNetwork", "decode_stage", "stage_bits"]


def stage_bits(nodes: int) -> int:
    """Number of connection bits of a stage with ``nodes`` ordinary nodes: K (K - 1) / 2."""
    return nodes * (nodes - 1) // 2


def _pairs(nodes: int) -> list[tuple[int, int]]:
    """The connection each bit stands for, in code order: (1,2), (1,3), (2,3), (1,4), ..."""
    return [(i, j) for j in range(2, nodes + 1) for i in range(1, j)]


def decode_stage(bits: Sequence[int], nodes: int) -> list[tuple[int, int]]:
    """The connections of one decoded stage, as sorted (source, target) pairs over nodes 0..K+1.

    Node 0 is the default input node, node K+1 the default output node, 1..K the ordinary nodes.
    Isolated ordinary nodes are left out; a kept node without predecessor reads node 0, a kept node
    without successor feeds node K+1; a stage that keeps no node is the single edge (0, K+1).
    """
    bits = tuple(int(b) for b in bits)
    if len(bits) != stage_bits(nodes) or any(b not in (0, 1) for b in bits):
        raise ArchitectureError(f"A stage of {nodes} nodes has {stage_bits(nodes)} bits of 0/1; got {bits}.")
    edges = [pair for pair, bit in zip(_pairs(nodes), bits) if bit]
    kept = sorted({node for edge in edges for node in edge})
    if not kept:
        return [(0, nodes + 1)]
    has_input = {target for _, target in edges}
    has_output = {source for source, _ in edges}
    edges += [(0, node) for node in kept if node not in has_input]
    edges += [(node, nodes + 1) for node in kept if node not in has_output]
    return sorted(edges)


@dataclass(frozen=True)
class GeNetArchitecture:
    """The bits of every stage, each stage's bits in code order."""

    stages: tuple[tuple[int, ...], ...]

    def __str__(self) -> str:
        return "|".join(_stage_string(bits) for bits in self.stages)

    @property
    def bits(self) -> tuple[int, ...]:
        """The whole binary string, stages one after the other: GeNet's "DNA"."""
        return tuple(bit for stage in self.stages for bit in stage)


def _stage_string(bits: Sequence[int]) -> str:
    groups, start, size = [], 0, 1
    while start < len(bits):
        groups.append("".join(str(b) for b in bits[start : start + size]))
        start, size = start + size, size + 1
    return "-".join(groups)


_STAGE_PATTERN = re.compile(r"^[01]+(-[01]+)*$")


class GeNetSpace(SearchSpace):
    """Every binary code of GeNet's stages: 2^(sum_s K_s (K_s - 1) / 2) networks.

    ``nodes_per_stage``: K_s for each stage (GeNet used (3, 5) on MNIST and (3, 4, 5) on CIFAR-10);
    ``channels``: the width of every convolution of each stage.
    """

    name = "GeNet binary-code space"

    def __init__(self, nodes_per_stage: Sequence[int] = (3, 4), channels: Sequence[int] = (8, 16)):
        nodes_per_stage, channels = tuple(int(k) for k in nodes_per_stage), tuple(int(c) for c in channels)
        if not nodes_per_stage or any(k < 2 for k in nodes_per_stage):
            raise ValueError(f"Every stage needs at least 2 nodes (1 bit); got nodes_per_stage={nodes_per_stage}.")
        if len(channels) != len(nodes_per_stage) or any(c < 1 for c in channels):
            raise ValueError(
                f"Give one positive width per stage: {len(nodes_per_stage)} stage(s) but channels={channels}."
            )
        self.nodes_per_stage = nodes_per_stage
        self.channels = channels

    def __repr__(self) -> str:
        return (f"GeNetSpace(nodes per stage {list(self.nodes_per_stage)}, widths {list(self.channels)}: "
                f"{self.code_length()} bits, {self.count():,} codes)")

    def code_length(self) -> int:
        return sum(stage_bits(k) for k in self.nodes_per_stage)

    def from_bits(self, bits: Sequence[int]) -> GeNetArchitecture:
        """Cut a whole binary string into the stages' codes."""
        bits = tuple(int(b) for b in bits)
        if len(bits) != self.code_length() or any(b not in (0, 1) for b in bits):
            raise ArchitectureError(f"This space's code has {self.code_length()} bits of 0/1; got {bits}.")
        stages, start = [], 0
        for k in self.nodes_per_stage:
            stages.append(bits[start : start + stage_bits(k)])
            start += stage_bits(k)
        return GeNetArchitecture(tuple(stages))

    def stage_graphs(self, architecture) -> list[list[tuple[int, int]]]:
        """The decoded connections of every stage (see ``decode_stage``)."""
        architecture = self.as_architecture(architecture)
        return [decode_stage(bits, k) for bits, k in zip(architecture.stages, self.nodes_per_stage)]

    # --- the SearchSpace interface ------------------------------------------------------------------
    def sample(self, rng: random.Random) -> GeNetArchitecture:
        """GeNet's initialisation: every bit drawn independently from Bernoulli(0.5)."""
        return self.from_bits([rng.randint(0, 1) for _ in range(self.code_length())])

    def mutate(self, architecture, rng: random.Random) -> GeNetArchitecture:
        """The smallest change: one bit flipped (GeNet's own mutation flips each bit with a probability)."""
        bits = list(self.as_architecture(architecture).bits)
        position = rng.randrange(len(bits))
        bits[position] = 1 - bits[position]
        return self.from_bits(bits)

    def encode(self, architecture) -> str:
        return str(architecture)

    def decode(self, text: str) -> GeNetArchitecture:
        example = "|".join(_stage_string([0] * stage_bits(k)) for k in self.nodes_per_stage)
        if not isinstance(text, str):
            raise ArchitectureError(f"A GeNet code is a string like {example!r}; got {type(text).__name__}.")
        stages = [stage.strip() for stage in text.strip().split("|")]
        if len(stages) != len(self.nodes_per_stage):
            raise ArchitectureError(
                f"This space has {len(self.nodes_per_stage)} stage(s), written joined by '|' like {example!r}; "
                f"{text!r} has {len(stages)}."
            )
        decoded = []
        for s, (stage, k) in enumerate(zip(stages, self.nodes_per_stage), start=1):
            groups = stage.split("-")
            if not _STAGE_PATTERN.match(stage) or [len(g) for g in groups] != list(range(1, k)):
                expected = "-".join("b" * size for size in range(1, k))
                raise ArchitectureError(
                    f"Stage {s} ({stage!r}) has {k} nodes: write its {stage_bits(k)} bits of 0/1 as {expected!r} "
                    "(group j lists the connections into node j+1 from nodes 1..j)."
                )
            decoded.append(tuple(int(b) for b in "".join(groups)))
        return GeNetArchitecture(tuple(decoded))

    def count(self) -> int:
        return 2 ** self.code_length()

    def enumerate(self) -> Iterator[GeNetArchitecture]:
        for bits in itertools.product((0, 1), repeat=self.code_length()):
            yield self.from_bits(bits)

    def build(self, architecture, input_shape: tuple[int, int, int], num_classes: int) -> "GeNetNetwork":
        architecture = self.as_architecture(architecture)
        return GeNetNetwork(self.stage_graphs(architecture), self.nodes_per_stage, self.channels, input_shape,
                            num_classes)

    # --- the space as a sequence of decisions: one "0"/"1" token per bit -----------------------------
    def vocabulary(self) -> tuple[str, ...]:
        return ("0", "1")

    def token_choices(self, tokens) -> tuple[str, ...]:
        return ("0", "1") if len(tokens) < self.code_length() else ()

    def from_tokens(self, tokens) -> GeNetArchitecture:
        return self.from_bits([int(t) for t in self.check_tokens(tokens)])

    def to_tokens(self, architecture) -> tuple[str, ...]:
        return tuple(str(b) for b in self.as_architecture(architecture).bits)

    def simplest(self) -> GeNetArchitecture:
        """All bits 0: every stage is its input convolution followed by its output convolution."""
        return self.from_bits([0] * self.code_length())

    def named_mutations(self) -> dict:
        return {"flip_bit": self.mutate}


class _Stage(nn.Module):
    """One decoded stage: node j = Conv-BN-ReLU(sum of its inputs). Input (B, C_in, H, W) -> (B, C, H, W)."""

    def __init__(self, edges: list[tuple[int, int]], nodes: int, in_channels: int, channels: int):
        super().__init__()
        self.edges = edges
        self.output_node = nodes + 1
        self.order = sorted({node for edge in edges for node in edge} - {0})  # nodes to compute, in order
        self.convolutions = nn.ModuleDict({"0": ConvBNReLU(in_channels, channels, 3)})
        for node in self.order:
            self.convolutions[str(node)] = ConvBNReLU(channels, channels, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        values = {0: self.convolutions["0"](x)}
        for node in self.order:
            total = sum(values[source] for source, target in self.edges if target == node)
            values[node] = self.convolutions[str(node)](total)
        return values[self.output_node]


class GeNetNetwork(nn.Module):
    """Stage 1 -> max-pool 2x2 -> stage 2 -> ... -> global average pool -> linear. (B, C, H, W) -> (B, classes)."""

    def __init__(self, stage_graphs, nodes_per_stage, channels, input_shape: tuple[int, int, int], num_classes: int):
        super().__init__()
        layers: list[nn.Module] = []
        width = input_shape[0]
        for s, (edges, k, c) in enumerate(zip(stage_graphs, nodes_per_stage, channels)):
            if s > 0:
                layers.append(nn.MaxPool2d(2, ceil_mode=True))  # ceil: a 1x1 map stays 1x1 instead of vanishing
            layers.append(_Stage(edges, k, width, c))
            width = c
        self.stages = nn.Sequential(*layers)
        self.classifier = nn.Linear(width, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.stages(x).mean(dim=(2, 3)))
