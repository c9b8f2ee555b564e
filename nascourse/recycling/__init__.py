"""Architecture recycling (survey Sec. 3.3): function-preserving transforms and the searches built on them.

* ``network``: ``MorphNet``, a CNN made of units that transforms can edit.
* ``transforms``: Net2Wider/Net2Deeper, network morphism's kernel-size morphing, NASH's morphisms,
  Path-level EAS's multi-branch transforms and moves inside branches, and the compression edits of N2N learning.
* ``search``: NASH hill-climbing, EAS's meta-controller, a small Path-level EAS, N2N learning and its controls.
"""

from . import network, search, transforms
from .network import MorphNet

__all__ = ["MorphNet", "network", "search", "transforms"]
