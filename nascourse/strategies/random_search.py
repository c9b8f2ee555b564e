"""Random search: sample architectures uniformly from the space and keep the best.

It uses no feedback at all, which makes it the baseline every NAS method must beat
(Li & Talwalkar, "Random Search and Reproducibility for Neural Architecture Search", 2019,
found it a strong one). Its ``tell`` learns nothing; its quality comes from the space alone.
"""

from __future__ import annotations

from typing import Any

from .base import Strategy

__all__ = ["RandomSearch"]


class RandomSearch(Strategy):
    """Propose ``space.sample(rng)`` every time."""

    def ask(self) -> Any:
        return self.space.sample(self.rng)
