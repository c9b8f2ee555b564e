"""Continuous relaxation (survey Sec. 3.2): DARTS and its successors GDAS, PC-DARTS, P-DARTS and I-DARTS.

* ``mixing``: how alpha weighs the operations of an edge (Eq. 4 and the successors' rules), one
  ``MixingRule`` per method;
* ``supernet``: the DARTS cell space with every operation on every edge, and Eq. 5's discretisation;
* ``cell201_supernet``: the same on the course benchmark's cell space, for ground truth;
* ``bilevel``: the architecture gradient of Eq. 6-8, first and second order;
* ``search``: the alternating search loop, with snapshots per epoch and checkpoints;
* ``curvature``: the Hessian of the validation loss in alpha, the early-stopping signal of DARTS-ES;
* ``cost``: time and peak memory of one search step; ``literal``: the supernet written as the DARTS code
  writes it, the reference the fast one is checked and timed against; ``plots``: heatmaps and collapse plots;
* ``cell201_supernet.discretised_accuracy``: the discretisation gap's child, the supernet running only its derived cell.
"""

from .bilevel import exact_second_order_gradient, first_order_gradient, second_order_gradient
from .cell201_supernet import BENCHMARK_OPERATIONS, Cell201Supernet
from .cost import StepCost, step_cost
from .literal import LiteralSupernet
from .mixing import METHODS, MIXING_RULES, MixingRule
from .supernet import MixedOp, SearchCell, Supernet, derive_cell

__all__ = [
    "BENCHMARK_OPERATIONS",
    "Cell201Supernet",
    "LiteralSupernet",
    "METHODS",
    "MIXING_RULES",
    "MixedOp",
    "MixingRule",
    "SearchCell",
    "StepCost",
    "Supernet",
    "derive_cell",
    "exact_second_order_gradient",
    "first_order_gradient",
    "second_order_gradient",
    "step_cost",
]
