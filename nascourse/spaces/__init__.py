"""Search spaces: what architectures a search may propose (survey Sec. 2 and 3.1)."""

from .base import ArchitectureError, SearchSpace
from .chain import ChainArchitecture, ChainLayer, ChainNetwork, ChainSpace

__all__ = ["ArchitectureError", "SearchSpace", "ChainArchitecture", "ChainLayer", "ChainNetwork", "ChainSpace"]
