"""Search strategies: how the next candidate is chosen (survey Fig. 1)."""

from .base import Strategy
from .random_search import RandomSearch

__all__ = ["Strategy", "RandomSearch"]
