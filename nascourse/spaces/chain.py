"""The global chain-structured search space of early NAS (survey Sec. 2, Fig. 2, Eq. 1 and Eq. 2).

A network is a chain of ``L`` layers. Layer ``i`` applies an operation ``o_i`` and produces
the feature map ``z^(i)``; ``z^(0)`` is the input image.

* Eq. 1 (MetaQNN's plain chain):        z^(i) = o_i( z^(i-1) )
* Eq. 2 (with skip connections, as in NAS-RL, Large-scale Evolution, GeNet):
                                          z^(i) = o_i( {z^(i-1)} (.) {z^(k) | alpha_{k,i} = 1, k < i-1} )

where ``(.)`` merges the inputs: a ``sum`` (GeNet) or a channel ``concat`` (NAS-RL).
A global average pool and a linear classifier follow the last layer.

An architecture is written as a string, one token group per layer, joined by ``" > "``::

    conv3x3:16 > maxpool3x3 > conv5x5:32<0,1

``conv5x5:32`` is a 5x5 convolution with 32 output channels; pooling keeps its input width;
``<0,1`` lists the skip inputs ``k`` of that layer (``alpha_{k,i} = 1``). This is the
"variable-length string" that NAS-RL's controller emits token by token.

Every operation keeps the spatial resolution, so any skip can be merged without resizing.
(The paper-scale networks of NAS-RL also downsample; the quick profile's 8x8 digits leave
little room for it, and the later chapters' cell spaces place reductions explicitly.)
"""

from __future__ import annotations

import itertools
import random
import re
from dataclasses import dataclass
from typing import Iterator, Sequence

import torch
from torch import nn

from ..ops import CHANNEL_CHANGING, OPERATIONS, build_operation
from .base import ArchitectureError, SearchSpace

__all__ = ["ChainLayer", "ChainArchitecture", "ChainSpace", "ChainNetwork"]

MERGE_RULES = ("sum", "concat")


@dataclass(frozen=True)
class ChainLayer:
    """One layer of the chain: operation ``o_i``, its output width, and its skip inputs ``k``."""

    operation: str
    channels: int | None = None  # output width of a convolution; None for pooling (keeps its input width)
    skips: tuple[int, ...] = ()  # indices k < i-1 with alpha_{k,i} = 1 (Eq. 2); empty for Eq. 1

    def __str__(self) -> str:
        text = self.operation if self.channels is None else f"{self.operation}:{self.channels}"
        if self.skips:
            text += "<" + ",".join(str(k) for k in self.skips)
        return text


@dataclass(frozen=True)
class ChainArchitecture:
    """A whole chain: its layers in order. ``str()`` gives the string form."""

    layers: tuple[ChainLayer, ...]

    def __str__(self) -> str:
        return " > ".join(str(layer) for layer in self.layers)

    def __len__(self) -> int:
        return len(self.layers)


_LAYER_PATTERN = re.compile(r"^(?P<op>[a-z0-9_]+)(?::(?P<channels>\d+))?(?:<(?P<skips>\d+(?:,\d+)*))?$")


class ChainSpace(SearchSpace):
    """Chains of ``min_layers``..``max_layers`` layers over an operation set (Eq. 1, or Eq. 2 with skips).

    Sampling draws the depth uniformly, then every layer's operation and width uniformly, then
    each allowed skip with probability ``skip_probability``: uniform over the space for each depth.
    """

    name = "chain"

    def __init__(
        self,
        operations: Sequence[str] = ("conv3x3", "conv5x5", "conv1x1", "maxpool3x3", "avgpool3x3"),
        channel_choices: Sequence[int] = (8, 16, 32),
        min_layers: int = 1,
        max_layers: int = 5,
        skip_connections: bool = False,
        merge: str = "sum",
        skip_probability: float = 0.5,
    ):
        unknown = [op for op in operations if op not in OPERATIONS]
        if unknown or not operations:
            raise ValueError(f"Unknown or no operations {unknown}; choose from {sorted(OPERATIONS)}.")
        if not channel_choices or any(int(c) < 1 for c in channel_choices):
            raise ValueError(f"channel_choices must be positive widths, got {channel_choices!r}.")
        if not 1 <= min_layers <= max_layers:
            raise ValueError(f"Need 1 <= min_layers <= max_layers, got {min_layers} and {max_layers}.")
        if merge not in MERGE_RULES:
            raise ValueError(f"merge must be one of {MERGE_RULES}, got {merge!r}.")
        if not 0.0 <= skip_probability <= 1.0:
            raise ValueError(f"skip_probability must lie in [0, 1], got {skip_probability}.")
        self.operations = tuple(operations)
        self.channel_choices = tuple(sorted(int(c) for c in channel_choices))
        self.min_layers = min_layers
        self.max_layers = max_layers
        self.skip_connections = skip_connections
        self.merge = merge
        self.skip_probability = skip_probability

    def __repr__(self) -> str:
        equation = "Eq. 2, skips merged by " + self.merge if self.skip_connections else "Eq. 1, no skips"
        return (
            f"ChainSpace({self.min_layers}-{self.max_layers} layers, operations {list(self.operations)}, "
            f"widths {list(self.channel_choices)}, {equation}; {self.count():,} architectures)"
        )

    # -- the choices of one layer ------------------------------------------------------------
    def layer_choices(self) -> list[tuple[str, int | None]]:
        """Every (operation, width) a layer may take: convolutions times widths, plus each pooling."""
        return [
            (op, width)
            for op in self.operations
            for width in (self.channel_choices if op in CHANNEL_CHANGING else (None,))
        ]

    def allowed_skips(self, layer_index: int) -> tuple[int, ...]:
        """Skip sources k of layer i (1-based): every earlier map but the one it already reads, k < i-1."""
        return tuple(range(layer_index - 1)) if self.skip_connections else ()

    # -- SearchSpace interface -------------------------------------------------------------
    def sample(self, rng: random.Random) -> ChainArchitecture:
        depth = rng.randint(self.min_layers, self.max_layers)
        choices = self.layer_choices()
        layers = []
        for i in range(1, depth + 1):
            op, width = rng.choice(choices)
            skips = tuple(k for k in self.allowed_skips(i) if rng.random() < self.skip_probability)
            layers.append(ChainLayer(op, width, skips))
        return ChainArchitecture(tuple(layers))

    def mutate(self, architecture: ChainArchitecture, rng: random.Random) -> ChainArchitecture:
        """Apply one random edit that yields a different, valid architecture.

        Edits: change a layer's operation (and width), change a convolution's width, insert a
        layer, remove a layer, or toggle a skip connection (Eq. 2 spaces only).
        """
        layers = list(architecture.layers)
        for _ in range(100):  # retry until the edit changes something
            edit = rng.choice(self._possible_edits(layers))
            candidate = self._apply_edit(edit, layers, rng)
            if candidate != architecture:
                return candidate
        return architecture  # only a space with a single architecture gets here

    def _possible_edits(self, layers: list[ChainLayer]) -> list[str]:
        edits = ["change_operation"]
        if any(layer.channels is not None for layer in layers) and len(self.channel_choices) > 1:
            edits.append("change_width")
        if len(layers) < self.max_layers:
            edits.append("insert_layer")
        if len(layers) > self.min_layers:
            edits.append("remove_layer")
        if self.skip_connections and len(layers) >= 2:
            edits.append("toggle_skip")
        return edits

    def _apply_edit(self, edit: str, layers: list[ChainLayer], rng: random.Random) -> ChainArchitecture:
        layers = list(layers)
        if edit == "change_operation":
            i = rng.randrange(len(layers))
            op, width = rng.choice(self.layer_choices())
            layers[i] = ChainLayer(op, width, layers[i].skips)
        elif edit == "change_width":
            i = rng.choice([j for j, layer in enumerate(layers) if layer.channels is not None])
            layers[i] = ChainLayer(layers[i].operation, rng.choice(self.channel_choices), layers[i].skips)
        elif edit == "insert_layer":
            position = rng.randint(0, len(layers))  # 0-based slot; the new layer gets index position + 1
            op, width = rng.choice(self.layer_choices())
            shifted = [self._shift_skips(layer, at=position + 1, by=+1) for layer in layers]
            layers = shifted[:position] + [ChainLayer(op, width)] + shifted[position:]
        elif edit == "remove_layer":
            position = rng.randrange(len(layers))
            removed_index = position + 1
            kept = layers[:position] + layers[position + 1 :]
            layers = [self._shift_skips(layer, at=removed_index, by=-1, drop=removed_index) for layer in kept]
        elif edit == "toggle_skip":
            i = rng.randint(2, len(layers))  # 1-based; layers from the second on have a skip source
            k = rng.choice(self.allowed_skips(i))
            skips = set(layers[i - 1].skips) ^ {k}  # add k if absent, remove it if present
            layers[i - 1] = ChainLayer(layers[i - 1].operation, layers[i - 1].channels, tuple(sorted(skips)))
        return self._normalise(layers)

    @staticmethod
    def _shift_skips(layer: ChainLayer, at: int, by: int, drop: int | None = None) -> ChainLayer:
        """Renumber skip sources after inserting (by=+1) or removing (by=-1) the layer with index ``at``."""
        skips = tuple(k + by if k >= at else k for k in layer.skips if k != drop)
        return ChainLayer(layer.operation, layer.channels, skips)

    def _normalise(self, layers: list[ChainLayer]) -> ChainArchitecture:
        """Drop skips that became invalid (k >= i-1) after layers moved."""
        fixed = []
        for i, layer in enumerate(layers, start=1):
            skips = tuple(sorted(k for k in set(layer.skips) if k in self.allowed_skips(i)))
            fixed.append(ChainLayer(layer.operation, layer.channels, skips))
        return ChainArchitecture(tuple(fixed))

    def encode(self, architecture: ChainArchitecture) -> str:
        return str(architecture)

    def decode(self, text: str) -> ChainArchitecture:
        if not isinstance(text, str) or not text.strip():
            raise ArchitectureError(
                "An architecture string must list layers joined by ' > ', e.g. 'conv3x3:16 > maxpool3x3'."
            )
        layers = []
        for i, token in enumerate(text.split(">"), start=1):
            match = _LAYER_PATTERN.match(token.strip())
            if match is None:
                raise ArchitectureError(
                    f"Layer {i} ({token.strip()!r}) is not of the form 'operation[:width][<k,k...]', "
                    "e.g. 'conv3x3:16' or 'conv5x5:32<0,1'."
                )
            channels = int(match["channels"]) if match["channels"] else None
            skips = tuple(int(k) for k in match["skips"].split(",")) if match["skips"] else ()
            layers.append(ChainLayer(match["op"], channels, skips))
        architecture = ChainArchitecture(tuple(layers))
        self.validate(architecture)
        return architecture

    def validate(self, architecture: ChainArchitecture) -> None:
        """Raise ``ArchitectureError`` naming the first layer that breaks the space's rules."""
        depth = len(architecture.layers)
        if not self.min_layers <= depth <= self.max_layers:
            raise ArchitectureError(
                f"The architecture has {depth} layers; this space allows {self.min_layers} to {self.max_layers}."
            )
        for i, layer in enumerate(architecture.layers, start=1):
            where = f"Layer {i} ({layer})"
            if layer.operation not in self.operations:
                raise ArchitectureError(f"{where}: unknown operation; this space has {list(self.operations)}.")
            if layer.operation in CHANNEL_CHANGING and layer.channels not in self.channel_choices:
                raise ArchitectureError(
                    f"{where}: a convolution needs a width from {list(self.channel_choices)}, "
                    f"written like '{layer.operation}:{self.channel_choices[0]}'."
                )
            if layer.operation not in CHANNEL_CHANGING and layer.channels is not None:
                raise ArchitectureError(f"{where}: pooling keeps its input width; write it without ':width'.")
            allowed = self.allowed_skips(i)
            if len(set(layer.skips)) != len(layer.skips) or list(layer.skips) != sorted(layer.skips):
                raise ArchitectureError(f"{where}: skip sources must be listed once each, in increasing order.")
            bad = [k for k in layer.skips if k not in allowed]
            if bad:
                reason = (
                    "this space has no skip connections (Eq. 1)"
                    if not self.skip_connections
                    else f"layer {i} may only take skips from z^(k) with k < {i - 1}, i.e. {list(allowed)}"
                )
                raise ArchitectureError(f"{where}: skip source(s) {bad} not allowed: {reason}.")

    def count(self) -> int:
        """Sum over depths L of (choices per layer)^L x 2^(number of possible skips).

        Layer i may skip from k = 0..i-2, so a chain of L layers has L(L-1)/2 possible skips.
        """
        per_layer = len(self.layer_choices())
        total = 0
        for depth in range(self.min_layers, self.max_layers + 1):
            skip_bits = depth * (depth - 1) // 2 if self.skip_connections else 0
            total += per_layer**depth * 2**skip_bits
        return total

    def enumerate(self) -> Iterator[ChainArchitecture]:
        choices = self.layer_choices()
        for depth in range(self.min_layers, self.max_layers + 1):
            skip_options = [
                [subset for r in range(i) for subset in itertools.combinations(self.allowed_skips(i), r)]
                if self.skip_connections
                else [()]
                for i in range(1, depth + 1)
            ]
            for ops in itertools.product(choices, repeat=depth):
                for skips in itertools.product(*skip_options):
                    yield ChainArchitecture(
                        tuple(ChainLayer(op, width, skip) for (op, width), skip in zip(ops, skips))
                    )

    def build(
        self, architecture: ChainArchitecture | str, input_shape: tuple[int, int, int], num_classes: int
    ) -> "ChainNetwork":
        architecture = self.as_architecture(architecture)
        return ChainNetwork(architecture, input_shape, num_classes, self.merge)


class ChainNetwork(nn.Module):
    """The network of a chain architecture, computing Eq. 1 / Eq. 2 layer by layer, then a linear classifier."""

    def __init__(
        self, architecture: ChainArchitecture, input_shape: tuple[int, int, int], num_classes: int, merge: str = "sum"
    ):
        super().__init__()
        self.architecture = architecture
        self.merge = merge
        widths = [input_shape[0]]  # widths[k] = channels of z^(k)
        self.projections = nn.ModuleList()  # per layer: a 1x1 projection per skip (sum), to match z^(i-1)'s width
        self.operations = nn.ModuleList()
        for i, layer in enumerate(architecture.layers, start=1):
            previous = widths[i - 1]
            if merge == "sum":
                projections = nn.ModuleDict(
                    {
                        str(k): nn.Conv2d(widths[k], previous, 1, bias=False)
                        for k in layer.skips
                        if widths[k] != previous
                    }
                )
                merged_width = previous
            else:  # concat
                projections = nn.ModuleDict()
                merged_width = previous + sum(widths[k] for k in layer.skips)
            out_width = layer.channels if layer.channels is not None else merged_width
            self.projections.append(projections)
            self.operations.append(build_operation(layer.operation, merged_width, out_width))
            widths.append(out_width)
        self.classifier = nn.Linear(widths[-1], num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: (B, C, H, W) -> logits (B, num_classes)."""
        feature_maps = [x]  # z^(0), z^(1), ...
        for i, (layer, operation, projections) in enumerate(
            zip(self.architecture.layers, self.operations, self.projections), start=1
        ):
            inputs = feature_maps[i - 1]
            if layer.skips:
                skipped = [
                    projections[str(k)](feature_maps[k]) if str(k) in projections else feature_maps[k]
                    for k in layer.skips
                ]
                if self.merge == "sum":
                    inputs = inputs + sum(skipped)
                else:
                    inputs = torch.cat([inputs, *skipped], dim=1)
            feature_maps.append(operation(inputs))
        pooled = feature_maps[-1].mean(dim=(2, 3))  # global average pool: (B, C)
        return self.classifier(pooled)
