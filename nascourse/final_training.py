"""The final training of a found cell: DARTS's evaluation recipe, the survey's "+ Cutout" setting.

Survey Table 1 compares cells by training each of them once more, from scratch, in a large network
(Sec. 3.1). DARTS (Liu et al., ICLR 2019, Sec. 3.3 and A.2) fixed the recipe most later papers reuse:

* the genotype stacked into 20 cells with C = 36 initial channels (``EVALUATION_SKELETON``);
* 600 epochs, batch 96, SGD with momentum 0.9, learning rate 0.025 cosine-annealed to 0 (one step
  per epoch), weight decay 3e-4, gradients clipped at norm 5;
* the auxiliary classifier of NASNet after 2/3 of the depth, its loss weighted 0.4;
* drop-path whose probability rises linearly from 0 to 0.2 over the epochs (NASNet's ScheduledDropPath);
* random crop (pad 4) and horizontal flip, plus Cutout with a 16x16 square (DeVries & Taylor, 2017):
  the rows of Table 1 marked "+ Cutout".

DARTS trains on the whole official training set and measures the official test set after every
epoch; here that is ``data.train_and_val()`` (the 45,000 training and 5,000 validation images of the
course's splits) and ``data.test``. The test curve is a report, never a choice: nothing is selected by
it, and the number reported is the last epoch's, not the best one.

``train_final`` checkpoints after every epoch (written to a temporary file, then renamed) and resumes
from the last checkpoint; on the CPU a resumed run ends bit for bit where an uninterrupted one ends.
On CUDA it runs in bfloat16 autocast with channels-last tensors and a fused optimizer, augments on the
GPU, and reads the loss from the device once per epoch.
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, Callable

import torch
from torch import nn

from .data import DatasetSplits, iterate_batches
from .checkpoints import CheckpointError, load_checkpoint, save_atomically
from .spaces.darts_genotype import Genotype
from .spaces.darts_network import CellNetwork, Skeleton, auxiliary_loss
from .profile import Profile
from .train import FastPath, accuracy, fast_path

__all__ = ["FinalTrainingConfig", "EpochResult", "FinalTrainingResult", "CheckpointError",
           "build_final_network", "make_optimizer", "training_step", "train_final"]

CHECKPOINT_FORMAT = "nascourse-final-training/1"


@dataclass(frozen=True)
class FinalTrainingConfig:
    """The recipe of one final training (defaults: DARTS's CIFAR-10 evaluation with Cutout)."""

    epochs: int = 600
    batch_size: int = 96
    cells: int = 20
    channels: int = 36
    learning_rate: float = 0.025
    learning_rate_min: float = 0.0
    momentum: float = 0.9
    weight_decay: float = 3e-4
    grad_clip: float = 5.0
    auxiliary_weight: float = 0.4  # 0 builds the network without an auxiliary head
    drop_path: float = 0.2  # the probability reached at the end; it rises linearly from 0
    cutout: int = 16  # side of the square Cutout zeroes; 0: no Cutout

    def __post_init__(self) -> None:
        for name in ("epochs", "batch_size", "cells", "channels"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}.")
        if self.cells < 3:
            raise ValueError(f"cells must be at least 3 (two reduction cells and a normal one), got {self.cells}.")
        if not self.learning_rate > 0 or not 0 <= self.learning_rate_min <= self.learning_rate:
            raise ValueError(f"Need learning_rate > 0 and 0 <= learning_rate_min <= learning_rate, got "
                             f"{self.learning_rate} and {self.learning_rate_min}.")
        if not 0.0 <= self.drop_path < 1.0:
            raise ValueError(f"drop_path is a probability in [0, 1), got {self.drop_path!r}.")
        if self.auxiliary_weight < 0 or self.grad_clip <= 0 or self.weight_decay < 0:
            raise ValueError("Need auxiliary_weight >= 0, grad_clip > 0 and weight_decay >= 0; got "
                             f"{self.auxiliary_weight}, {self.grad_clip} and {self.weight_decay}.")
        if isinstance(self.cutout, bool) or not isinstance(self.cutout, int) or self.cutout < 0:
            raise ValueError(f"cutout is the side of a square in pixels (0: none), got {self.cutout!r}.")

    @classmethod
    def from_profile(cls, profile: Profile) -> "FinalTrainingConfig":
        """The profile's final-training budget: full is DARTS's CIFAR-10 evaluation (a GPU-day or more), quick
        the same recipe on the 8x8 digits (Cutout scaled with the image: 16 of 32 pixels there, 4 of 8 here)."""
        return cls(epochs=profile.final_epochs, batch_size=profile.final_batch_size, cells=profile.final_cells,
                   channels=profile.final_channels, cutout=profile.final_cutout)

    def drop_path_at(self, epoch: int) -> float:
        """Drop-path probability during ``epoch`` (0-based): linear from 0, as DARTS's train.py sets it."""
        return self.drop_path * epoch / self.epochs


def final_fast_path(device: torch.device | str, fast: bool = True) -> FastPath:
    """``train.fast_path`` (bfloat16 autocast, channels-last, fused SGD on CUDA), plus channels-last on the CPU.

    Channels-last changes no number (the same float32 arithmetic, reordered in memory) and made a training step
    faster on the course's CPU (``benchmarks/RESULTS.md``, "channels-last for the final training").
    """
    path = fast_path(device, fast)
    if fast and torch.device(device).type == "cpu":
        path = replace(path, channels_last=True)
    return path


def make_optimizer(model: nn.Module, config: FinalTrainingConfig, steps: int, device: torch.device | str,
                   fast: bool = True) -> tuple[torch.optim.SGD, torch.optim.lr_scheduler.CosineAnnealingLR]:
    """DARTS's optimizer: SGD (momentum 0.9, weight decay 3e-4) and a cosine schedule from
    ``config.learning_rate`` to ``config.learning_rate_min`` over ``steps`` calls of ``scheduler.step()``
    (the final training steps it once per epoch, as DARTS does).

    The model is moved to ``device`` first, and with ``fast`` to channels-last memory (CPU and CUDA);
    with ``fast`` on CUDA the optimizer is fused (one kernel updates every parameter).
    """
    device = torch.device(device)
    if not isinstance(steps, int) or steps < 1:
        raise ValueError(f"steps must be a positive integer, got {steps!r}.")
    path = final_fast_path(device, fast)
    path.prepare_model(model.to(device))
    optimizer = torch.optim.SGD(model.parameters(), lr=config.learning_rate, momentum=config.momentum,
                                weight_decay=config.weight_decay, **path.optimizer_options())
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=steps, eta_min=config.learning_rate_min)
    return optimizer, scheduler


def training_step(model: nn.Module, optimizer: torch.optim.Optimizer, x: torch.Tensor, y: torch.Tensor,
                  auxiliary_weight: float = 0.4, fast: bool = True, grad_clip: float = 5.0) -> torch.Tensor:
    """One step of DARTS's evaluation training; returns the loss, detached, still on the device.

    loss = CE(logits, y) + ``auxiliary_weight`` * CE(auxiliary logits, y) when the network kept auxiliary
    logits (``CellNetwork`` in training mode with an auxiliary head); then backward, gradient clipping at
    norm ``grad_clip``, and the optimizer's step. Nothing here waits for the device: no ``.item()``.
    With ``fast`` the input goes channels-last (CPU and CUDA; ``make_optimizer`` converts the model) and on
    CUDA the forward pass runs in bfloat16 autocast.
    """
    path = final_fast_path(x.device, fast)
    x = path.prepare(x)
    with path.autocast_region(x.device):
        logits = model(x)
        loss = auxiliary_loss(model, auxiliary_weight)(logits, x, y)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
    optimizer.step()
    return loss.detach().float()


# ----------------------------------------------------------------------------------------- the training
@dataclass
class EpochResult:
    """One epoch of the final training."""

    epoch: int  # 1-based
    train_loss: float  # mean training loss (with the auxiliary term) over the epoch
    test_accuracy: float  # on the test split after the epoch: reported, never used to choose anything
    learning_rate: float  # the learning rate of this epoch
    drop_path: float  # the drop-path probability of this epoch
    seconds: float  # training time so far, evaluation excluded


@dataclass
class FinalTrainingResult:
    """A finished (or resumed-and-finished) final training."""

    genotype: str
    parameters: int  # without the auxiliary head, as papers count them
    curve: list[EpochResult] = field(default_factory=list)
    seconds: float = 0.0
    diverged: bool = False  # the loss became NaN or infinite; training stopped there

    @property
    def test_accuracy(self) -> float:
        """Test accuracy after the last epoch (NaN for a diverged or empty run)."""
        return math.nan if self.diverged or not self.curve else self.curve[-1].test_accuracy

    @property
    def epochs(self) -> int:
        return len(self.curve)


def build_final_network(genotype: Genotype | str, input_shape: tuple[int, int, int], num_classes: int,
                        config: FinalTrainingConfig) -> CellNetwork:
    """The evaluation network of ``config``: ``cells`` cells at ``channels`` channels, with the auxiliary head
    when ``auxiliary_weight`` > 0. Drop-path starts at 0; ``train_final`` raises it epoch by epoch."""
    if isinstance(genotype, str):
        genotype = Genotype.parse(genotype)
    skeleton = Skeleton(cells=config.cells, channels=config.channels, auxiliary=config.auxiliary_weight > 0,
                        drop_path=0.0)
    return CellNetwork(genotype, tuple(input_shape), num_classes, skeleton)


def _load_checkpoint(path: Path, identity: dict) -> dict:
    return load_checkpoint(path, CHECKPOINT_FORMAT, identity, "final training")


def train_final(genotype: Genotype | str, data: DatasetSplits, config: FinalTrainingConfig = FinalTrainingConfig(),
                seed: int = 0, checkpoint: str | Path | None = None, resume: bool = False, fast: bool = True,
                progress: bool = True, max_epochs: int | None = None,
                on_epoch: Callable[[EpochResult], Any] | None = None) -> FinalTrainingResult:
    """Train ``genotype`` from scratch with ``config`` on ``data.train_and_val()``, on the data's device, and
    measure ``data.test`` after every epoch (module docstring). Returns the curve and the parameter count.

    ``seed`` fixes the initial weights, the batch order, the augmentation and the drop-path masks. With
    ``checkpoint`` the whole state is saved there after every epoch; ``resume=True`` continues from it (on
    the CPU exactly as if never interrupted). ``max_epochs`` stops after that many epochs of this call (the
    checkpoint keeps the rest for a later ``resume``); ``on_epoch`` is called with each new epoch's record.
    Crop and flip apply where the dataset asks for them (``data.augment``, CIFAR-10); Cutout wherever
    ``config.cutout`` > 0.
    """
    text = str(Genotype.parse(genotype) if isinstance(genotype, str) else genotype)
    train_split = data.train_and_val()
    device = train_split.x.device
    torch.manual_seed(seed)  # the initial weights; afterwards the same generator draws the drop-path masks
    if device.type == "cuda":
        torch.cuda.manual_seed(seed)
    model = build_final_network(text, data.input_shape, data.num_classes, config)
    parameters = model.parameter_count()
    optimizer, scheduler = make_optimizer(model, config, config.epochs, device, fast)
    generator = torch.Generator(device=device).manual_seed(seed)
    identity = {"genotype": text, "config": asdict(config), "seed": seed, "dataset": data.name,
                "train_images": len(train_split), "device": device.type, "fast": fast}
    result = FinalTrainingResult(text, parameters)
    checkpoint = Path(checkpoint) if checkpoint is not None else None
    if resume and checkpoint is not None and checkpoint.exists():
        state = _load_checkpoint(checkpoint, identity)
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        generator.set_state(state["generator"])
        torch.set_rng_state(state["torch_rng"])
        if device.type == "cuda" and "cuda_rng" in state:
            torch.cuda.set_rng_state(state["cuda_rng"], device)
        result.curve = [EpochResult(**record) for record in state["curve"]]
        result.seconds = state["seconds"]
    if device.type == "cuda" and fast:
        torch.backends.cudnn.benchmark = True  # fixed shapes: let cuDNN pick its fastest kernels once

    epochs: Any = range(len(result.curve), config.epochs)
    if max_epochs is not None:
        epochs = epochs[:max_epochs]
    if progress:
        from tqdm.auto import tqdm

        epochs = tqdm(epochs, desc="final training", unit="epoch", initial=len(result.curve), total=config.epochs)
    for epoch in epochs:
        started = time.perf_counter()
        model.train()
        model.drop_path_probability = config.drop_path_at(epoch)
        learning_rate = scheduler.get_last_lr()[0]
        loss_sum = torch.zeros((), device=device)  # summed on the device, read once per epoch
        for x, y in iterate_batches(train_split, config.batch_size, generator=generator, augment=data.augment,
                                    cutout=config.cutout):
            loss = training_step(model, optimizer, x, y, config.auxiliary_weight, fast, config.grad_clip)
            loss_sum += loss * len(y)
        scheduler.step()
        mean_loss = loss_sum.item() / len(train_split)  # the one host read of the epoch
        result.seconds += time.perf_counter() - started
        if not math.isfinite(mean_loss):
            result.diverged = True
            break
        record = EpochResult(epoch + 1, mean_loss, accuracy(model, data.test), learning_rate,
                             model.drop_path_probability, result.seconds)
        result.curve.append(record)
        if checkpoint is not None:
            state = {"format": CHECKPOINT_FORMAT, "identity": identity, "model": model.state_dict(),
                     "optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict(),
                     "generator": generator.get_state(), "torch_rng": torch.get_rng_state(),
                     "curve": [asdict(r) for r in result.curve], "seconds": result.seconds}
            if device.type == "cuda":
                state["cuda_rng"] = torch.cuda.get_rng_state(device)
            save_atomically(state, checkpoint)
        if progress:
            epochs.set_postfix(loss=f"{mean_loss:.3f}", test=f"{record.test_accuracy:.3f}")
        if on_epoch is not None:
            on_epoch(record)
    return result
