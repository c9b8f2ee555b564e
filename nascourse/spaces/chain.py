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

from .chain_ops import CHANNEL_CHANGING, OPERATIONS, build_operation
from .base import ArchitectureError, SearchSpace

__all__ = ["ChainLayer", "ChainArchitecture", "ChainSpace", "ChainNetwork"]

MERGE_RULES = ("sum", "concat")
END_TOKEN, SKIP_TOKEN, NO_SKIP_TOKEN = "end", "skip", "no-skip"  # tokens of the decision sequence


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

    # -- the space as a sequence of decisions (chapter 01: NAS-RL, MetaQNN) ---------------------
    # One token per layer ("conv3x3:16", "maxpool3x3"), then, in an Eq. 2 space, one "skip" /
    # "no-skip" token for every earlier map z^(k), k < i-1, the layer may read; "end" stops the
    # chain (MetaQNN's terminate action) once it has min_layers layers, and a chain of
    # max_layers layers ends by itself (the depth limit).

    def layer_tokens(self) -> tuple[str, ...]:
        """The token of every (operation, width) a layer may take."""
        return tuple(str(ChainLayer(op, width)) for op, width in self.layer_choices())

    def vocabulary(self) -> tuple[str, ...]:
        skips = (SKIP_TOKEN, NO_SKIP_TOKEN) if self.skip_connections else ()
        return self.layer_tokens() + (END_TOKEN,) + skips

    def _progress(self, tokens: Sequence[str]) -> tuple[int, int, bool]:
        """(layers chosen so far, skip decisions still due for the last layer, whether "end" was chosen)."""
        layers, due, ended = 0, 0, False
        for token in tokens:
            if due:
                due -= 1
            elif token == END_TOKEN:
                ended = True
            else:
                layers += 1
                due = len(self.allowed_skips(layers))
        return layers, due, ended

    def token_choices(self, tokens: Sequence[str]) -> tuple[str, ...]:
        layers, due, ended = self._progress(tokens)
        if ended:
            return ()
        if due:
            return (SKIP_TOKEN, NO_SKIP_TOKEN)
        if layers == self.max_layers:
            return ()
        return self.layer_tokens() + ((END_TOKEN,) if layers >= self.min_layers else ())

    def from_tokens(self, tokens: Sequence[str]) -> ChainArchitecture:
        tokens = self.check_tokens(tokens)
        layers: list[ChainLayer] = []
        position = 0
        while position < len(tokens) and tokens[position] != END_TOKEN:
            match = _LAYER_PATTERN.match(tokens[position])
            index = len(layers) + 1
            allowed = self.allowed_skips(index)
            decisions = tokens[position + 1 : position + 1 + len(allowed)]
            skips = tuple(k for k, decision in zip(allowed, decisions) if decision == SKIP_TOKEN)
            channels = int(match["channels"]) if match["channels"] else None
            layers.append(ChainLayer(match["op"], channels, skips))
            position += 1 + len(allowed)
        return ChainArchitecture(tuple(layers))

    def to_tokens(self, architecture: ChainArchitecture | str) -> tuple[str, ...]:
        architecture = self.as_architecture(architecture)
        tokens: list[str] = []
        for i, layer in enumerate(architecture.layers, start=1):
            tokens.append(str(ChainLayer(layer.operation, layer.channels)))
            tokens.extend(SKIP_TOKEN if k in layer.skips else NO_SKIP_TOKEN for k in self.allowed_skips(i))
        if len(architecture.layers) < self.max_layers:
            tokens.append(END_TOKEN)
        return tuple(tokens)

    # -- what Large-scale Evolution needs (chapter 01) --------------------------------------------
    def simplest(self) -> ChainArchitecture:
        """Large-scale Evolution's start: a network without convolutions (a pooling layer, then the
        classifier); in a space of convolutions only, the narrowest, smallest-kernel convolution."""
        parameter_free = [op for op in self.operations if op not in CHANNEL_CHANGING]
        if parameter_free:
            layer = ChainLayer(parameter_free[0])
        else:
            kernel_order = ("conv1x1", "conv3x3", "conv5x5")
            smallest = min(self.operations, key=lambda op: kernel_order.index(op) if op in kernel_order else 99)
            layer = ChainLayer(smallest, self.channel_choices[0])
        return ChainArchitecture((layer,) * self.min_layers)

    def named_mutations(self) -> dict:
        """The mutations of Large-scale Evolution (Real et al., 2017) that this space can express.

        Each is ``(architecture, rng) -> architecture``, or ``None`` where it does not apply (e.g. no
        convolution to remove). Real et al.'s IDENTITY and RESET-WEIGHTS keep the architecture and
        belong to the evolution strategy; ALTER-STRIDE, ALTER-LEARNING-RATE and INSERT-ONE-TO-ONE have
        nothing to act on here (every operation keeps the resolution, the training recipe is fixed).
        """
        mutations = {
            "insert_convolution": self._insert_convolution,
            "remove_convolution": self._remove_convolution,
            "alter_channels": self._alter_channels,
            "filter_size": self._filter_size,
        }
        if self.skip_connections:
            mutations.update(add_skip=self._add_skip, remove_skip=self._remove_skip)
        return mutations

    def _convolutions(self, architecture: ChainArchitecture) -> list[int]:
        return [i for i, layer in enumerate(architecture.layers) if layer.operation in CHANNEL_CHANGING]

    def _insert_convolution(self, architecture: ChainArchitecture, rng: random.Random) -> ChainArchitecture | None:
        convolutions = [op for op in self.operations if op in CHANNEL_CHANGING]
        if len(architecture.layers) >= self.max_layers or not convolutions:
            return None
        position = rng.randint(0, len(architecture.layers))  # the new layer gets index position + 1
        # Real et al. insert a 3x3 convolution as wide as its input; the image's width is no choice
        # of the space, so at the front (or after pooling of the image) the width is drawn.
        operation = "conv3x3" if "conv3x3" in convolutions else rng.choice(convolutions)
        earlier = [layer.channels for layer in architecture.layers[:position] if layer.channels is not None]
        width = earlier[-1] if earlier else rng.choice(self.channel_choices)
        layers = [self._shift_skips(layer, at=position + 1, by=+1) for layer in architecture.layers]
        return self._normalise(layers[:position] + [ChainLayer(operation, width)] + layers[position:])

    def _remove_convolution(self, architecture: ChainArchitecture, rng: random.Random) -> ChainArchitecture | None:
        convolutions = self._convolutions(architecture)
        if len(architecture.layers) <= self.min_layers or not convolutions:
            return None
        position = rng.choice(convolutions)
        kept = architecture.layers[:position] + architecture.layers[position + 1 :]
        return self._normalise([self._shift_skips(layer, at=position + 1, by=-1, drop=position + 1) for layer in kept])

    def _alter_channels(self, architecture: ChainArchitecture, rng: random.Random) -> ChainArchitecture | None:
        convolutions = self._convolutions(architecture)
        if not convolutions or len(self.channel_choices) < 2:
            return None
        i = rng.choice(convolutions)
        layer = architecture.layers[i]
        width = rng.choice([w for w in self.channel_choices if w != layer.channels])
        layers = list(architecture.layers)
        layers[i] = ChainLayer(layer.operation, width, layer.skips)
        return ChainArchitecture(tuple(layers))

    def _filter_size(self, architecture: ChainArchitecture, rng: random.Random) -> ChainArchitecture | None:
        kernels = [op for op in self.operations if op in CHANNEL_CHANGING]
        convolutions = self._convolutions(architecture)
        if not convolutions or len(kernels) < 2:
            return None
        i = rng.choice(convolutions)
        layer = architecture.layers[i]
        layers = list(architecture.layers)
        layers[i] = ChainLayer(rng.choice([op for op in kernels if op != layer.operation]), layer.channels, layer.skips)
        return ChainArchitecture(tuple(layers))

    def _add_skip(self, architecture: ChainArchitecture, rng: random.Random) -> ChainArchitecture | None:
        options = [(i, k) for i, layer in enumerate(architecture.layers, start=1)
                   for k in self.allowed_skips(i) if k not in layer.skips]
        if not options:
            return None
        i, k = rng.choice(options)
        layers = list(architecture.layers)
        layer = layers[i - 1]
        layers[i - 1] = ChainLayer(layer.operation, layer.channels, tuple(sorted(layer.skips + (k,))))
        return ChainArchitecture(tuple(layers))

    def _remove_skip(self, architecture: ChainArchitecture, rng: random.Random) -> ChainArchitecture | None:
        options = [(i, k) for i, layer in enumerate(architecture.layers) for k in layer.skips]
        if not options:
            return None
        i, k = rng.choice(options)
        layers = list(architecture.layers)
        layer = layers[i]
        layers[i] = ChainLayer(layer.operation, layer.channels, tuple(s for s in layer.skips if s != k))
        return ChainArchitecture(tuple(layers))

    def weight_correspondence(self, parent: ChainArchitecture, child: ChainArchitecture) -> dict[str, str]:
        """Which layer of ``parent`` each layer of ``child`` continues, as module-name prefixes
        (child's -> parent's) of their ``ChainNetwork``s, for weight inheritance.

        Layers are aligned like lines in a text diff (``difflib``): an inserted layer continues
        nothing, the layers after it continue the parent's layers one place earlier, and a layer
        that was edited in place continues the layer it replaced (whose tensors are copied only
        where shapes still match). The classifier continues the classifier.
        """
        from difflib import SequenceMatcher

        def layer_tokens(architecture: ChainArchitecture) -> list[str]:
            return [str(ChainLayer(layer.operation, layer.channels)) for layer in architecture.layers]

        parent, child = self.as_architecture(parent), self.as_architecture(child)
        matcher = SequenceMatcher(a=layer_tokens(parent), b=layer_tokens(child), autojunk=False)
        correspondence = {"classifier.": "classifier."}
        for tag, parent_start, parent_end, child_start, child_end in matcher.get_opcodes():
            if tag == "equal" or (tag == "replace" and parent_end - parent_start == child_end - child_start):
                for offset in range(child_end - child_start):
                    for part in ("operations", "projections"):
                        correspondence[f"{part}.{child_start + offset}."] = f"{part}.{parent_start + offset}."
        return correspondence


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
