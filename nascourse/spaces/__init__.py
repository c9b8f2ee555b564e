"""Search spaces: what architectures a search may propose (survey Sec. 2 and 3.1)."""

from .base import ArchitectureError, SearchSpace
from .cell201 import Cell201Architecture, Cell201Network, Cell201Space
from .chain import ChainArchitecture, ChainLayer, ChainNetwork, ChainSpace
from .darts_cell import DartsCellSpace
from .darts_genotype import Genotype
from .darts_network import CellNetwork, Skeleton, build_network
from .darts_published import PUBLISHED
from .genet import GeNetArchitecture, GeNetSpace
from .nasnet import NASNetArchitecture, NASNetCellSpace

__all__ = [
    "ArchitectureError", "SearchSpace",
    "Cell201Architecture", "Cell201Network", "Cell201Space",
    "ChainArchitecture", "ChainLayer", "ChainNetwork", "ChainSpace",
    "CellNetwork", "DartsCellSpace", "Genotype", "PUBLISHED", "Skeleton", "build_network",
    "GeNetArchitecture", "GeNetSpace",
    "NASNetArchitecture", "NASNetCellSpace",
]
