"""The DARTS search loop: alternate an architecture step and a weight step, derive a cell every epoch.

Algorithm 1 of DARTS (Liu et al., ICLR 2019), for every pair of batches:

1. update alpha by descending grad_alpha L_val (first or second order, ``bilevel``) on a batch of the
   *validation half* (DARTS splits the training set in two halves: one for w, one for alpha);
2. update w by descending grad_w L_train(w, alpha) on a batch of the *training half*.

After each epoch the loop derives the discrete architecture (Eq. 5) and keeps an ``EpochSnapshot``:
losses, the supernet's accuracies, the operation strengths and the derived cell, so a notebook can
replay the search epoch by epoch. The recipe follows DARTS: SGD with momentum 0.9, learning rate
0.025 cosine-annealed to 0.001, weight decay 3e-4, gradients clipped at norm 5; Adam for alpha with
learning rate 3e-4, betas (0.5, 0.999), weight decay 1e-3. GDAS anneals its Gumbel temperature
linearly from 10 to 0.1. PC-DARTS and P-DARTS train the weights alone for a few warm-up epochs first.

``pdarts_search`` runs P-DARTS (Chen et al., ICCV 2019): stages of growing depth, between stages
the weakest operations of every edge are pruned, skip connections get dropout while searching, and
the final cell may hold at most ``max_skips`` skip connections.

With ``checkpoint`` the loop saves everything it needs after every epoch (written to a temporary
file, then renamed, so a crash never leaves half a file); ``resume=True`` continues from that file
and, on the CPU with the same seed, ends exactly where an uninterrupted search would.
"""

from __future__ import annotations

import os
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, Callable, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from ..data import DatasetSplits, Split, iterate_batches
from ..train import accuracy
from .bilevel import first_order_gradient, second_order_gradient
from .supernet import Supernet

__all__ = ["SearchConfig", "EpochSnapshot", "RelaxationResult", "CheckpointError", "split_for_search",
           "search_step", "relaxation_search", "pdarts_search", "prune_operations"]

CHECKPOINT_FORMAT = "nascourse-relaxation/1"


@dataclass(frozen=True)
class SearchConfig:
    """The recipe of one search (defaults: DARTS's CIFAR-10 search)."""

    epochs: int = 50
    batch_size: int = 64
    order: int = 1  # 1: first-order DARTS; 2: second order (finite-difference Hessian-vector product)
    weight_lr: float = 0.025
    weight_lr_min: float = 0.001
    momentum: float = 0.9
    weight_decay: float = 3e-4
    grad_clip: float = 5.0
    arch_lr: float = 3e-4
    arch_weight_decay: float = 1e-3
    warmup_epochs: int = 0  # epochs that train w only (PC-DARTS: 15, P-DARTS: 10)
    initial_temperature: float = 10.0  # GDAS
    final_temperature: float = 0.1  # GDAS
    skip_dropout: float = 0.0  # P-DARTS: dropout on skip connections, decayed linearly to 0 over the epochs
    max_skips: int | None = None  # P-DARTS: cap on skip connections in the derived normal cell

    def __post_init__(self) -> None:
        if not isinstance(self.epochs, int) or self.epochs < 1:
            raise ValueError(f"epochs must be a positive integer, got {self.epochs!r}.")
        if self.order not in (1, 2):
            raise ValueError(f"order must be 1 (first-order DARTS) or 2 (second order), got {self.order!r}.")
        if not isinstance(self.batch_size, int) or self.batch_size < 1:
            raise ValueError(f"batch_size must be a positive integer, got {self.batch_size!r}.")
        if not 0 <= self.warmup_epochs < self.epochs:
            raise ValueError(f"warmup_epochs must be in [0, epochs), got {self.warmup_epochs!r} of {self.epochs}.")
        if not 0.0 <= self.skip_dropout < 1.0:
            raise ValueError(f"skip_dropout is a probability in [0, 1), got {self.skip_dropout!r}.")


@dataclass
class EpochSnapshot:
    """The state of a search after one epoch."""

    epoch: int  # 1-based
    train_loss: float  # mean weight-step loss over the epoch
    train_accuracy: float  # supernet accuracy on the weight half, during the epoch
    val_accuracy: float  # supernet accuracy on the alpha half, during the epoch
    seconds: float  # search time so far: process CPU time on a CPU (the benchmark's unit), wall time on a GPU
    architecture: str  # the cell Eq. 5 derives now (Genotype text or Cell201 string)
    strengths: dict[str, list[list[float]]]  # per cell kind: (edges, operations) weights Eq. 5 compares
    temperature: float = 1.0  # GDAS's Gumbel temperature in this epoch


@dataclass
class RelaxationResult:
    """A finished (or resumed-and-finished) search."""

    method: str
    order: int
    snapshots: list[EpochSnapshot] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def architecture(self) -> str:
        """The architecture derived after the last epoch."""
        return self.snapshots[-1].architecture

    def architectures(self) -> list[str]:
        return [snapshot.architecture for snapshot in self.snapshots]


class CheckpointError(RuntimeError):
    """A checkpoint that is unreadable, corrupt, or from another search."""


def split_for_search(train: Split, seed: int = 0) -> tuple[Split, Split]:
    """DARTS's split of the training set: a random half for the weights, the other half for alpha."""
    order = torch.randperm(len(train), generator=torch.Generator().manual_seed(seed)).to(train.x.device)
    half = len(train) // 2
    first, second = order[:half], order[half:]
    return Split(train.x[first], train.y[first]), Split(train.x[second], train.y[second])


def _temperature(config: SearchConfig, epoch: int) -> float:
    """GDAS: linear from the initial to the final temperature over the epochs (epoch is 0-based)."""
    if config.epochs == 1:
        return config.final_temperature
    fraction = epoch / (config.epochs - 1)
    return config.initial_temperature + fraction * (config.final_temperature - config.initial_temperature)


def _snapshot_strengths(model: nn.Module) -> dict[str, list[list[float]]]:
    kinds = getattr(model, "kinds", ("normal", "reduce"))
    return {kind: model.operation_strengths(kind).cpu().tolist() for kind in kinds}


def _derive(model: nn.Module, config: SearchConfig) -> str:
    return str(model.derive(max_skips=config.max_skips))


def _save_atomically(state: dict, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(path.name + ".tmp")
    torch.save(state, temporary)
    os.replace(temporary, path)  # a reader sees the old file or the new one, never half of one


def _load_checkpoint(path: Path, identity: dict) -> dict:
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # a truncated or foreign file: say which and what to do
        raise CheckpointError(
            f"Cannot read the checkpoint {path}: {type(error).__name__}: {error}. The file is corrupt or not a "
            "nascourse search checkpoint; delete it (or choose another run folder) to start the search afresh."
        ) from None
    if not isinstance(state, dict) or state.get("format") != CHECKPOINT_FORMAT:
        raise CheckpointError(f"{path} is not a nascourse relaxation-search checkpoint (format "
                              f"{state.get('format') if isinstance(state, dict) else type(state).__name__!r}).")
    if state["identity"] != identity:
        differences = {k: (state["identity"].get(k), v) for k, v in identity.items() if state["identity"].get(k) != v}
        raise CheckpointError(
            f"The checkpoint {path} belongs to another search; (saved, now) differ in {differences}. "
            "Resume with the same settings, or start the new search in another run folder."
        )
    return state


def search_step(model: nn.Module, train_batch: tuple[torch.Tensor, torch.Tensor],
                val_batch: tuple[torch.Tensor, torch.Tensor], weight_optimizer: torch.optim.Optimizer,
                arch_optimizer: torch.optim.Optimizer, order: int = 1, xi: float = 0.0, grad_clip: float = 5.0,
                update_alpha: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
    """One step of DARTS's Algorithm 1. Returns the weight step's loss (detached) and logits.

    1. the architecture step on a batch of the alpha half (first or second order);
    2. the weight step on a batch of the weight half.
    """
    alphas, weights = model.arch_parameters(), model.weight_parameters()
    if update_alpha:
        if order == 2:
            grads = second_order_gradient(model, train_batch, val_batch, xi)
        else:
            grads = first_order_gradient(model, val_batch)
        for alpha, grad in zip(alphas, grads):
            alpha.grad = grad
        arch_optimizer.step()
    x, y = train_batch
    weight_optimizer.zero_grad(set_to_none=True)
    logits = model(x)
    loss = F.cross_entropy(logits, y)
    loss.backward(inputs=weights)  # alpha's gradient is not needed here: autograd skips it
    nn.utils.clip_grad_norm_(weights, grad_clip)
    weight_optimizer.step()
    return loss.detach(), logits.detach()


def relaxation_search(model: nn.Module, data: DatasetSplits, config: SearchConfig, seed: int = 0,
                      checkpoint: str | Path | None = None, resume: bool = False, progress: bool = True,
                      on_epoch: Callable[[EpochSnapshot], Any] | None = None,
                      max_epochs: int | None = None) -> RelaxationResult:
    """Search with ``model`` (a ``Supernet`` or ``Cell201Supernet``) on ``data``'s training split.

    ``max_epochs`` stops after that many epochs of this call (the checkpoint keeps the rest for a
    later ``resume``); ``on_epoch`` is called with each new snapshot.
    """
    device = next(model.parameters()).device
    weights, alphas = model.weight_parameters(), model.arch_parameters()
    weight_optimizer = torch.optim.SGD(weights, lr=config.weight_lr, momentum=config.momentum,
                                       weight_decay=config.weight_decay)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(weight_optimizer, config.epochs, eta_min=config.weight_lr_min)
    arch_optimizer = torch.optim.Adam(alphas, lr=config.arch_lr, betas=(0.5, 0.999), weight_decay=config.arch_weight_decay)
    weight_half, alpha_half = split_for_search(data.train, seed)
    # On a CPU, count CPU time of this process, as the benchmark counts its training seconds: a search and a
    # table lookup then spend the same unit, whatever else the machine is doing. On a GPU, wall time.
    clock = time.process_time if device.type == "cpu" else time.perf_counter
    generator = torch.Generator(device=device).manual_seed(seed)
    result = RelaxationResult(method=getattr(model, "method", "darts"), order=config.order)
    identity = {"model": type(model).__name__, "method": result.method, "config": asdict(config), "seed": seed,
                "dataset": data.name, "parameters": sum(p.numel() for p in model.parameters())}
    checkpoint = Path(checkpoint) if checkpoint is not None else None
    if resume and checkpoint is not None and checkpoint.exists():
        state = _load_checkpoint(checkpoint, identity)
        model.load_state_dict(state["model"])
        weight_optimizer.load_state_dict(state["weight_optimizer"])
        arch_optimizer.load_state_dict(state["arch_optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        generator.set_state(state["generator"])
        torch.set_rng_state(state["torch_rng"])
        result.snapshots = [EpochSnapshot(**snapshot) for snapshot in state["snapshots"]]
        result.seconds = state["seconds"]

    epochs: Any = range(len(result.snapshots), config.epochs)
    if max_epochs is not None:
        epochs = epochs[:max_epochs]
    if progress:
        from tqdm.auto import tqdm

        epochs = tqdm(epochs, desc=f"{result.method} search", unit="epoch", initial=len(result.snapshots),
                      total=config.epochs)
    for epoch in epochs:
        started = clock()
        model.train()
        model.temperature = _temperature(config, epoch)
        skip_dropout = config.skip_dropout * (1 - epoch / config.epochs)
        for module in model.modules():
            if hasattr(module, "skip_dropout"):
                module.skip_dropout = skip_dropout
        update_alpha = epoch >= config.warmup_epochs
        xi = scheduler.get_last_lr()[0]  # DARTS takes the virtual step with the current weight learning rate
        totals = torch.zeros(3, device=device)  # loss sum, correct, examples: read once per epoch, not per step
        batches = zip(iterate_batches(weight_half, config.batch_size, generator=generator, augment=data.augment),
                      iterate_batches(alpha_half, config.batch_size, generator=generator, augment=data.augment))
        for train_batch, val_batch in batches:
            loss, logits = search_step(model, train_batch, val_batch, weight_optimizer, arch_optimizer,
                                       order=config.order, xi=xi, grad_clip=config.grad_clip,
                                       update_alpha=update_alpha)
            y = train_batch[1]
            with torch.no_grad():
                totals += torch.stack([loss * len(y), (logits.argmax(1) == y).sum().float(),
                                       torch.tensor(float(len(y)), device=device)])
        scheduler.step()
        loss_sum, correct, count = totals.tolist()
        result.seconds += clock() - started
        snapshot = EpochSnapshot(
            epoch=epoch + 1, train_loss=loss_sum / count, train_accuracy=correct / count,
            val_accuracy=accuracy(model, alpha_half), seconds=result.seconds,
            architecture=_derive(model, config), strengths=_snapshot_strengths(model),
            temperature=model.temperature,
        )
        result.snapshots.append(snapshot)
        if checkpoint is not None:
            _save_atomically({
                "format": CHECKPOINT_FORMAT, "identity": identity, "model": model.state_dict(),
                "weight_optimizer": weight_optimizer.state_dict(), "arch_optimizer": arch_optimizer.state_dict(),
                "scheduler": scheduler.state_dict(), "generator": generator.get_state(),
                "torch_rng": torch.get_rng_state(), "snapshots": [asdict(s) for s in result.snapshots],
                "seconds": result.seconds,
            }, checkpoint)
        if on_epoch is not None:
            on_epoch(snapshot)
    return result


def prune_operations(strengths: torch.Tensor, edge_operations: Sequence[Sequence[str]],
                     keep: int) -> tuple[tuple[str, ...], ...]:
    """P-DARTS between stages: on every edge keep ``none`` and the ``keep - 1`` strongest other operations."""
    pruned = []
    for row, operations in zip(strengths.tolist(), edge_operations):
        ranked = sorted(((w, name) for w, name in zip(row, operations) if name != "none"), reverse=True)
        kept = {name for _, name in ranked[: keep - 1]}
        pruned.append(tuple(name for name in operations if name == "none" or name in kept))
    return tuple(pruned)


def pdarts_search(data: DatasetSplits, stages: Sequence[tuple[int, int, float]], config: SearchConfig,
                  channels: int = 16, seed: int = 0, max_skips: int = 2, progress: bool = True,
                  device: torch.device | str = "cpu", checkpoint_dir: str | Path | None = None,
                  on_epoch: Callable[[EpochSnapshot, int], Any] | None = None) -> list[tuple[Supernet, RelaxationResult]]:
    """P-DARTS: one search per stage ``(cells, operations per edge, skip dropout)``, e.g. the paper's
    ``[(5, 8, 0.0), (11, 5, 0.4), (17, 3, 0.7)]``. Each stage builds a deeper supernet from scratch with
    the operations the previous stage kept; the last stage's cell is derived with at most ``max_skips``
    skip connections. Returns every stage's supernet and search; ``seed`` determines all of it (on the CPU).

    With ``checkpoint_dir`` stage k checkpoints to ``checkpoint-stage{k}.pt`` there and an interrupted run,
    started again, skips the finished stages' epochs and continues inside the interrupted one.
    ``on_epoch(snapshot, stage)`` is called after every epoch (stages count from 1)."""
    if not stages or any(keep < 2 for _, keep, _ in stages):
        # checked up front: with 'none' alone on an edge, Eq. 5 fails only after the stage has been searched
        raise ValueError(f"P-DARTS needs at least one stage, each keeping 'none' and at least one other operation "
                         f"per edge (operations per edge >= 2); got stages {list(stages)}.")
    stages_done = []
    edge_operations = None
    for index, (cells, keep, dropout) in enumerate(stages):
        if stages_done:  # prune with the strengths the previous stage ended with
            previous, _ = stages_done[-1]
            edge_operations = {kind: prune_operations(previous.operation_strengths(kind),
                                                      previous.edge_operations[kind], keep)
                               for kind in ("normal", "reduce")}
        last = index == len(stages) - 1
        stage_config = replace(config, skip_dropout=dropout, max_skips=max_skips if last else None)
        # the seed fixes each stage's initial weights and its skip-dropout masks (drawn from the global
        # generator); fork_rng leaves the caller's CPU generator as it was
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed + index)
            model = Supernet(data.input_shape, data.num_classes, cells=cells, channels=channels, method="darts",
                             edge_operations=edge_operations).to(device)
            if progress:
                print(f"P-DARTS stage {index + 1}/{len(stages)}: {cells} cells, {keep} operations per edge, "
                      f"skip dropout {dropout}")
            checkpoint = None if checkpoint_dir is None else Path(checkpoint_dir) / f"checkpoint-stage{index + 1}.pt"
            result = relaxation_search(
                model, data, stage_config, seed=seed, progress=progress, checkpoint=checkpoint, resume=True,
                on_epoch=None if on_epoch is None else (lambda snapshot, stage=index + 1: on_epoch(snapshot, stage)))
        stages_done.append((model, result))
    return stages_done
