"""What every search space can do (survey Fig. 1: "the search space formed by the operation sets").

A search space in this course is an object that can

* ``sample`` an architecture at random (random search, initial populations),
* ``mutate`` one into a neighbour (evolution, hill-climbing),
* ``encode`` an architecture as a string and ``decode`` it back (a string is what an
  RNN controller emits, what a history file stores, what a learner can type),
* ``count`` its architectures,
* ``build`` an architecture into a ``torch.nn.Module`` that can be trained.

Strategies and evaluators only talk to spaces through these methods, so one strategy
runs on every space.
"""

from __future__ import annotations

import random
from abc import ABC, abstractmethod
from typing import Any, Iterator

from torch import nn

__all__ = ["SearchSpace", "ArchitectureError"]


class ArchitectureError(ValueError):
    """An architecture (or its string) that does not belong to the search space."""


class SearchSpace(ABC):
    """The interface every search space implements. ``Architecture`` objects are immutable and hashable."""

    name: str = "search space"

    @abstractmethod
    def sample(self, rng: random.Random) -> Any:
        """A random architecture, drawn with ``rng`` so that a seed repeats the draw."""

    @abstractmethod
    def mutate(self, architecture: Any, rng: random.Random) -> Any:
        """A neighbour of ``architecture``: one small random change, always a valid architecture."""

    @abstractmethod
    def encode(self, architecture: Any) -> str:
        """The architecture's string form."""

    @abstractmethod
    def decode(self, text: str) -> Any:
        """The architecture a string describes; ``ArchitectureError`` saying what is wrong otherwise."""

    @abstractmethod
    def count(self) -> int:
        """How many distinct architectures the space holds."""

    @abstractmethod
    def enumerate(self) -> Iterator[Any]:
        """Every architecture, one by one (only sensible for small spaces)."""

    @abstractmethod
    def build(self, architecture: Any, input_shape: tuple[int, int, int], num_classes: int) -> nn.Module:
        """A freshly initialised network for ``architecture``: (B, C, H, W) images -> (B, num_classes) logits."""

    def as_architecture(self, architecture_or_text: Any) -> Any:
        """Accept either an architecture or its string; return a validated architecture."""
        if isinstance(architecture_or_text, str):
            return self.decode(architecture_or_text)
        self.decode(self.encode(architecture_or_text))  # validates
        return architecture_or_text
