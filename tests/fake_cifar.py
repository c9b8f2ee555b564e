"""Stand-in CIFAR-10 files in the real on-disk format, for tests that cannot download the real ones.

``write_fake_cifar10(root)`` writes ``root/cifar-10-batches-py`` with the files the official
``cifar-10-python.tar.gz`` extracts to: ``data_batch_1`` .. ``data_batch_5``, ``test_batch`` and
``batches.meta``. Each batch is a protocol-2 pickle of a dict with byte-string keys, as the official
Python 2 pickles read back: ``b"data"``, an (N, 3072) uint8 array (red, green, blue planes, row by
row), ``b"labels"``, N integers in 0..9, plus ``b"batch_label"`` and ``b"filenames"``. The pixels are
random: these files test the plumbing (reading, splitting, augmenting, checkpointing), not learning.
"""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np

__all__ = ["write_fake_cifar10"]


def _batch(images: int, label: str, rng: np.random.Generator) -> dict:
    return {
        b"batch_label": label.encode(),
        b"labels": [int(c) for c in rng.integers(0, 10, images)],
        b"data": rng.integers(0, 256, (images, 3072), dtype=np.uint8),
        b"filenames": [f"fake_{label.replace(' ', '_')}_{i}.png".encode() for i in range(images)],
    }


def write_fake_cifar10(root: str | Path, per_batch: int = 60, test_images: int = 60, seed: int = 0) -> Path:
    """Write 5 training batches of ``per_batch`` random images and a test batch of ``test_images`` under
    ``root``; returns the ``cifar-10-batches-py`` folder."""
    rng = np.random.default_rng(seed)
    folder = Path(root) / "cifar-10-batches-py"
    folder.mkdir(parents=True, exist_ok=True)
    contents = {f"data_batch_{b}": _batch(per_batch, f"training batch {b} of 5", rng) for b in range(1, 6)}
    contents["test_batch"] = _batch(test_images, "testing batch 1 of 1", rng)
    contents["batches.meta"] = {
        b"label_names": [name.encode() for name in ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog",
                                                    "horse", "ship", "truck")],
        b"num_cases_per_batch": per_batch,
        b"num_vis": 3072,
    }
    for name, content in contents.items():
        (folder / name).write_bytes(pickle.dumps(content, protocol=2))
    return folder
