"""What every search strategy does: propose candidates (``ask``) and learn from their results (``tell``).

Survey Fig. 1: "uses search strategies to obtain a large number of candidate network
architectures ... the search strategy is adjusted according to the ranking information".
A strategy draws all its randomness from its own ``random.Random(seed)``, so a seed
repeats a search exactly and a resumed search proposes the same candidates again.
"""

from __future__ import annotations

import random
from abc import ABC, abstractmethod
from typing import Any

from ..loop import EvaluationResult
from ..spaces.base import SearchSpace

__all__ = ["Strategy"]


class Strategy(ABC):
    """Ask/tell interface shared by every strategy of the course."""

    def __init__(self, space: SearchSpace, seed: int = 0):
        self.space = space
        self.seed = seed
        self.rng = random.Random(seed)

    @abstractmethod
    def ask(self) -> Any:
        """The next architecture to evaluate."""

    def tell(self, architecture: Any, result: EvaluationResult) -> None:
        """Feedback: the result of an architecture this strategy proposed. Default: learn nothing."""

    def check_batch(self, batch: int) -> None:
        """Refuse, with a clear ``ValueError``, to be asked ``batch`` candidates before hearing their results.

        Parallel evaluation (``nascourse.parallel.run_search_ray``) asks a batch, then tells the results. Most
        strategies can take that (they see feedback a batch late); one that cannot overrides this."""

    def __repr__(self) -> str:
        return f"{type(self).__name__}(space={self.space.name}, seed={self.seed})"
