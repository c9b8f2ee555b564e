"""Run settings shared by every notebook: the budget profile, the device and the seed.

Two profiles size every experiment in the course:

* ``quick`` (the default) fits a 2-core laptop CPU: each notebook runs in a few minutes
  on the UCI handwritten digits, with small networks and few training epochs.
* ``full`` uses paper-scale budgets (CIFAR-10, wider and deeper networks, many more
  candidates) and is meant for a GPU.

Choose one with the environment variable ``NASCOURSE_PROFILE`` (``quick`` or ``full``),
the device with ``NASCOURSE_DEVICE`` (``auto``, ``cpu``, ``cuda``, ``cuda:1``, ``mps``)
and the seed with ``NASCOURSE_SEED``.
"""

from __future__ import annotations

import os
import random
from dataclasses import dataclass, replace

import numpy as np
import torch

__all__ = [
    "Profile",
    "PROFILES",
    "RunContext",
    "get_profile",
    "select_device",
    "seed_everything",
    "setup",
]


@dataclass(frozen=True)
class Profile:
    """Budgets for one size of experiment: the one place the course's budgets live.

    The library receives a ``Profile`` (never its name): searches from the command line, the relaxations,
    the final training (``FinalTrainingConfig.from_profile``) all read their defaults from its fields."""

    name: str
    description: str
    dataset: str  # default dataset name, see nascourse.data.DATASETS
    train_subset: int | None  # cap on training images (None: the whole training split)
    batch_size: int
    learning_rate: float
    epochs: int  # training epochs for one candidate architecture
    search_trials: int  # candidates evaluated by one search that trains them
    max_layers: int  # depth limit of the chain space
    channel_choices: tuple[int, ...]  # widths a convolution may take
    # sampling searches
    table_trials: int  # candidates of one search whose evaluations are table lookups (milliseconds each)
    population: int  # population of the evolutionary searches that train their candidates
    table_population: int  # ... and of those that look them up in a table
    # DARTS's cell space: the network a cell is stacked into while searching (also the relaxations' supernet)
    cells: int
    cell_channels: int  # channels C of the first cells
    # continuous relaxation (chapter 03): one supernet trained for this many epochs; P-DARTS per stage
    relaxation_epochs: int
    relaxation_batch_size: int
    pdarts_cells: int  # depth of P-DARTS's last stage
    pdarts_epochs: int
    # final training of a found cell (DARTS's evaluation with Cutout; nascourse.final_training)
    final_epochs: int
    final_batch_size: int
    final_cells: int
    final_channels: int
    final_cutout: int  # side of the square Cutout zeroes


PROFILES: dict[str, Profile] = {
    "quick": Profile(
        name="quick",
        description="CPU-sized: UCI digits, small networks, a few epochs per candidate",
        dataset="digits",
        train_subset=None,
        batch_size=32,  # 1,077 training images: small batches give enough steps in a few epochs
        learning_rate=0.1,
        epochs=6,
        search_trials=20,
        max_layers=5,
        channel_choices=(8, 16, 32),
        table_trials=150,
        population=4,
        table_population=20,
        cells=5,
        cell_channels=8,
        relaxation_epochs=4,
        relaxation_batch_size=64,
        pdarts_cells=5,
        pdarts_epochs=4,
        final_epochs=10,  # about a minute of a CPU
        final_batch_size=64,
        final_cells=5,
        final_channels=8,
        final_cutout=4,  # 8x8 digits: a quarter of DARTS's 16 pixels on 32x32
    ),
    "full": Profile(
        name="full",
        description="paper-scale budgets for a GPU: CIFAR-10, wider and deeper networks",
        dataset="cifar10",
        train_subset=None,
        batch_size=128,
        learning_rate=0.05,
        epochs=20,
        search_trials=100,
        max_layers=10,
        channel_choices=(32, 64, 128),
        table_trials=500,
        population=20,  # GeNet's paper: 20 individuals
        table_population=20,
        cells=8,  # DARTS's search network on CIFAR-10: 8 cells, C = 16
        cell_channels=16,
        relaxation_epochs=50,  # DARTS: 50 epochs, batch 64
        relaxation_batch_size=64,
        pdarts_cells=17,  # P-DARTS: stages of 5, 11, 17 cells, 25 epochs each
        pdarts_epochs=25,
        final_epochs=600,  # DARTS's evaluation: 20 cells, C = 36, 600 epochs, batch 96, Cutout 16
        final_batch_size=96,
        final_cells=20,
        final_channels=36,
        final_cutout=16,
    ),
}


def get_profile(name: str | None = None, **overrides) -> Profile:
    """The profile called ``name``, else the one named by ``NASCOURSE_PROFILE``, else ``quick``.

    Keyword ``overrides`` replace single budgets, e.g. ``get_profile(epochs=2)``.
    """
    chosen = name if name is not None else os.environ.get("NASCOURSE_PROFILE", "quick")
    key = chosen.strip().lower()
    if key not in PROFILES:
        raise ValueError(
            f"Unknown profile {chosen!r}. Choose one of {sorted(PROFILES)}, "
            "e.g. `export NASCOURSE_PROFILE=quick` (CPU) or `NASCOURSE_PROFILE=full` (GPU)."
        )
    profile = PROFILES[key]
    unknown = set(overrides) - set(profile.__dataclass_fields__)
    if unknown:
        raise ValueError(
            f"Unknown budget(s) {sorted(unknown)}; a profile has {sorted(profile.__dataclass_fields__)}."
        )
    return replace(profile, **overrides) if overrides else profile


def select_device(name: str | None = None) -> torch.device:
    """CUDA if present, else Apple MPS, else CPU; or the device named here or by ``NASCOURSE_DEVICE``."""
    chosen = name if name is not None else os.environ.get("NASCOURSE_DEVICE", "auto")
    key = chosen.strip().lower()
    if key == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    kind = key.split(":")[0]
    if kind not in {"cpu", "cuda", "mps"} or (":" in key and not key.split(":", 1)[1].isdigit()):
        raise ValueError(
            f"Unknown device {chosen!r}. Use 'auto', 'cpu', 'cuda', 'cuda:N' or 'mps' "
            "(for example `export NASCOURSE_DEVICE=cpu`)."
        )
    if kind == "cuda" and not torch.cuda.is_available():
        raise RuntimeError(
            f"Device {chosen!r} was asked for, but PyTorch sees no CUDA GPU here. "
            "Use NASCOURSE_DEVICE=auto (or cpu), or install a CUDA build of PyTorch on a GPU machine."
        )
    if kind == "cuda" and ":" in key and int(key.split(":")[1]) >= torch.cuda.device_count():
        raise RuntimeError(
            f"Device {chosen!r} does not exist: this machine has {torch.cuda.device_count()} CUDA device(s)."
        )
    if kind == "mps" and not torch.backends.mps.is_available():
        raise RuntimeError(
            f"Device {chosen!r} was asked for, but Apple MPS is not available here. Use 'auto' or 'cpu'."
        )
    return torch.device(key)


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and PyTorch (CPU and every GPU) with one number.

    On the CPU this makes a search repeat exactly; on a GPU some kernels stay
    non-deterministic, so expect agreement to a few decimals there.
    """
    if not isinstance(seed, int) or seed < 0:
        raise ValueError(f"A seed must be a non-negative integer, got {seed!r}.")
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


@dataclass(frozen=True)
class RunContext:
    """What a notebook runs with: printed at its top so every result can be traced."""

    profile: Profile
    device: torch.device
    seed: int

    def __str__(self) -> str:
        return f"nascourse | profile: {self.profile.name} | device: {self.device} | seed: {self.seed}"


def setup(seed: int | None = None, profile: str | None = None, device: str | None = None) -> RunContext:
    """Choose profile, device and seed, seed everything, print them, and return them together."""
    if seed is None:
        raw = os.environ.get("NASCOURSE_SEED", "0")
        if not raw.strip().isdigit():
            raise ValueError(f"NASCOURSE_SEED must be a non-negative integer, got {raw!r}.")
        seed = int(raw)
    context = RunContext(profile=get_profile(profile), device=select_device(device), seed=seed)
    seed_everything(seed)
    print(context)
    return context
