"""Checkpoints of long runs (a relaxation search, a final training): written atomically, read safely.

* ``save_atomically`` writes to a temporary file and renames it over the old one, so a run killed while
  saving leaves the previous checkpoint whole: a reader sees the old file or the new one, never half of one.
* ``load_checkpoint`` reads with ``torch.load(..., weights_only=True)`` (tensors and plain containers only:
  a checkpoint cannot run code), and refuses with a ``CheckpointError`` that says what to do a file that is
  unreadable, of another kind (``format``), or of another run (``identity``: the settings it was made with).
"""

from __future__ import annotations

import os
from pathlib import Path

import torch

__all__ = ["CheckpointError", "save_atomically", "load_checkpoint"]


class CheckpointError(RuntimeError):
    """A checkpoint that is unreadable, corrupt, or from another run."""


def save_atomically(state: dict, path: Path) -> None:
    path = Path(path)
    temporary = path.with_name(path.name + ".tmp")
    torch.save(state, temporary)
    os.replace(temporary, path)


def load_checkpoint(path: Path, format: str, identity: dict, kind: str) -> dict:
    """The checkpoint at ``path``, checked to be of ``format`` and made by a run with ``identity``.

    ``kind`` names the run in messages ("relaxation search", "final training")."""
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # a truncated or foreign file: say which and what to do
        raise CheckpointError(
            f"Cannot read the checkpoint {path}: {type(error).__name__}: {error}. The file is corrupt or not a "
            f"nascourse {kind} checkpoint; delete it (or choose another run folder) to start the {kind} afresh."
        ) from None
    found = state.get("format") if isinstance(state, dict) else type(state).__name__
    if found != format:
        raise CheckpointError(f"{path} is not a nascourse {kind} checkpoint (format {found!r}, expected {format!r}); "
                              "choose another run folder.")
    if state.get("identity") != identity:
        saved = state.get("identity") or {}
        differences = {k: (saved.get(k), v) for k, v in identity.items() if saved.get(k) != v}
        raise CheckpointError(f"The checkpoint {path} belongs to another {kind}; (saved, now) differ in {differences}. "
                              f"Resume with the same settings, or start the new {kind} in another run folder.")
    return state
