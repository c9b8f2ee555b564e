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
from typing import Any, Callable, Hashable, Iterator, Sequence

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

    # --- the space as a sequence of decisions ----------------------------------------------------
    # NAS-RL's controller emits an architecture token by token, MetaQNN's agent picks it layer by
    # layer, Large-scale Evolution edits it. Spaces that offer the methods below can be searched by
    # all three with one piece of code: a space says which tokens are allowed after a prefix, and
    # builds the architecture from a complete sequence.

    def vocabulary(self) -> tuple[str, ...]:
        """Every token that some step of the sequence may take (fixed: a controller embeds them)."""
        raise NotImplementedError(
            f"{type(self).__name__} has no sequence-of-decisions view (vocabulary, token_choices, "
            "from_tokens, to_tokens), which NAS-RL and MetaQNN need. Use a space that has one, such as "
            "ChainSpace or Cell201Space, or add those four methods to this space."
        )

    def token_choices(self, tokens: Sequence[str]) -> tuple[str, ...]:
        """The tokens allowed after the prefix ``tokens``; an empty tuple: the architecture is complete."""
        self.vocabulary()  # raises the explanation above
        raise NotImplementedError

    def from_tokens(self, tokens: Sequence[str]) -> Any:
        """The architecture a complete, valid token sequence describes."""
        self.vocabulary()
        raise NotImplementedError

    def to_tokens(self, architecture: Any) -> tuple[str, ...]:
        """The token sequence of ``architecture``: ``from_tokens(to_tokens(a)) == a``."""
        self.vocabulary()
        raise NotImplementedError

    def check_tokens(self, tokens: Sequence[str]) -> tuple[str, ...]:
        """Validate a complete token sequence step by step; ``ArchitectureError`` naming the first bad step."""
        tokens = tuple(tokens)
        for step, token in enumerate(tokens):
            allowed = self.token_choices(tokens[:step])
            if not allowed:
                raise ArchitectureError(
                    f"The architecture is already complete after {step} tokens {list(tokens[:step])}; "
                    f"remove the extra tokens {list(tokens[step:])}."
                )
            if token not in allowed:
                raise ArchitectureError(f"Step {step}: token {token!r} is not allowed here; choose one of {list(allowed)}.")
        if self.token_choices(tokens):
            raise ArchitectureError(
                f"The token sequence {list(tokens)} is incomplete: step {len(tokens)} still has to choose one of "
                f"{list(self.token_choices(tokens))}."
            )
        return tokens

    def decision_state(self, tokens: Sequence[str]) -> Hashable:
        """A compact state for an agent that has emitted ``tokens``: (step, last token), as MetaQNN's state
        is (layer depth, current layer). Spaces may refine it."""
        return (len(tokens), tokens[-1] if tokens else "<start>")

    # --- what evolution needs ------------------------------------------------------------------

    def simplest(self) -> Any:
        """The simplest architecture of the space: where a search "from scratch" starts (Large-scale Evolution)."""
        raise NotImplementedError(
            f"{type(self).__name__} does not say which of its architectures is the simplest; pass the starting "
            "architecture yourself (e.g. LargeScaleEvolution(space, initial='random'))."
        )

    def named_mutations(self) -> dict[str, Callable[[Any, random.Random], Any]]:
        """The space's mutations by name, each ``(architecture, rng) -> architecture`` or ``None`` where it does
        not apply. By default the one generic ``mutate``; spaces may offer a paper's list of edits."""
        return {"mutate": self.mutate}
