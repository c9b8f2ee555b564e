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

``fast=True`` (the default) takes ``nascourse.train.fast_path``: on CUDA the forward passes of both
steps run in bfloat16 autocast on channels-last tensors and the optimisers are fused; alpha, its
softmax (the mixing weights), the losses and every gradient stay float32. Nothing in the inner loop
reads a value back to the host: losses and hits are summed on the device and read once per epoch.
(GDAS is the exception by design: its sampled path decides which operations run, so every forward
pass reads the sampled indices once.) On the CPU ``fast`` changes nothing, so a CPU search gives the
same numbers either way. ``fast=False`` is the plain eager float32 baseline of the same code.
Neither ``torch.compile`` nor CUDA graphs are used: GDAS's path changes every step (a recompilation
or a new graph per path) and the supernet's Python-side sharing of parameter-free operations breaks
graphs; without a GPU to measure on, their benefit could not be shown.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, Callable, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from ..checkpoints import CheckpointError, load_checkpoint, save_atomically
from ..compute import MacCounter
from ..data import DatasetSplits, Split, iterate_batches
from ..train import FastPath, accuracy, fast_path
from .bilevel import first_order_gradient, second_order_gradient
from .supernet import Supernet

__all__ = ["SearchConfig", "EpochSnapshot", "RelaxationResult", "CheckpointError", "split_for_search",
           "search_optimizers", "search_step", "relaxation_search", "pdarts_search", "prune_operations"]

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
    seconds: float  # search time so far on this machine: process CPU time on a CPU, wall time on a GPU
    architecture: str  # the cell Eq. 5 derives now (Genotype text or Cell201 string)
    strengths: dict[str, list[list[float]]]  # per cell kind: (edges, operations) weights Eq. 5 compares
    temperature: float = 1.0  # GDAS's Gumbel temperature in this epoch
    macs: float = 0.0  # search compute so far, counted (nascourse.compute): the same on every machine


@dataclass
class RelaxationResult:
    """A finished (or resumed-and-finished) search."""

    method: str
    order: int
    snapshots: list[EpochSnapshot] = field(default_factory=list)
    seconds: float = 0.0  # time on this machine (see EpochSnapshot.seconds)
    macs: float = 0.0  # compute, counted: what a comparison with other machines' figures must use

    @property
    def architecture(self) -> str:
        """The architecture derived after the last epoch."""
        return self.snapshots[-1].architecture

    def architectures(self) -> list[str]:
        return [snapshot.architecture for snapshot in self.snapshots]


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


def _load_checkpoint(path: Path, identity: dict) -> dict:
    return load_checkpoint(path, CHECKPOINT_FORMAT, identity, "relaxation search")


def search_optimizers(model: nn.Module, config: SearchConfig,
                      fast: bool = True) -> tuple[torch.optim.SGD, torch.optim.Adam]:
    """DARTS's two optimisers: SGD with momentum for the weights, Adam for alpha (fused on the fast path)."""
    options = fast_path(next(model.parameters()).device, fast).optimizer_options()
    weight_optimizer = torch.optim.SGD(model.weight_parameters(), lr=config.weight_lr, momentum=config.momentum,
                                       weight_decay=config.weight_decay, **options)
    arch_optimizer = torch.optim.Adam(model.arch_parameters(), lr=config.arch_lr, betas=(0.5, 0.999),
                                      weight_decay=config.arch_weight_decay, **options)
    return weight_optimizer, arch_optimizer


class _AutocastForward:
    """The supernet seen by the architecture gradient on the fast path: each forward pass in its own bfloat16
    autocast region, logits returned in float32, so the losses and the backward passes stay outside autocast.

    One region per forward pass matters for the second-order gradient: it changes the weights in place
    between passes, and autocast caches its bfloat16 copies of the weights until its region ends.
    """

    def __init__(self, model: nn.Module, path: FastPath):
        self.model, self.path = model, path

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        with self.path.autocast_region(x.device):
            return self.model(x).float()

    def arch_parameters(self) -> list[nn.Parameter]:
        return self.model.arch_parameters()

    def weight_parameters(self) -> list[nn.Parameter]:
        return self.model.weight_parameters()


def check_order(model: nn.Module, order: int) -> None:
    """Refuse the second-order gradient for a supernet that samples one path per forward pass (GDAS).

    Eq. 7's finite difference compares four forward passes of *one* network (at w, w', w+ and w-); GDAS would
    draw another path in each, and the difference would measure the change of path, not the curvature."""
    rule = getattr(model, "rule", None)
    if order == 2 and rule is not None and rule.samples_one_path:
        raise ValueError(f"{getattr(model, 'method', 'this method')} samples a new path in every forward pass, so the "
                         "second-order gradient's four passes would each see another network; use order=1 (GDAS's "
                         "paper uses the first-order gradient).")


def search_step(model: nn.Module, train_batch: tuple[torch.Tensor, torch.Tensor],
                val_batch: tuple[torch.Tensor, torch.Tensor], weight_optimizer: torch.optim.Optimizer,
                arch_optimizer: torch.optim.Optimizer, order: int = 1, xi: float = 0.0, grad_clip: float = 5.0,
                update_alpha: bool = True, fast: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
    """One step of DARTS's Algorithm 1. Returns the weight step's loss (detached, float32, on the device)
    and logits; nothing is read back to the host (except GDAS's sampled path, see the module's docstring).

    1. the architecture step on a batch of the alpha half (first or second order);
    2. the weight step on a batch of the weight half.

    ``fast``: on CUDA the batches go channels-last and both steps' forward passes run in bfloat16 autocast
    (``nascourse.train.fast_path``); the model's layout and the optimisers are the caller's choice
    (``relaxation_search`` converts the model and builds fused optimisers). On the CPU it changes nothing.
    """
    path: FastPath = fast_path(train_batch[0].device, fast)
    train_batch = (path.prepare(train_batch[0]), train_batch[1])
    val_batch = (path.prepare(val_batch[0]), val_batch[1])
    alphas, weights = model.arch_parameters(), model.weight_parameters()
    if update_alpha:
        check_order(model, order)
        network = _AutocastForward(model, path) if path.autocast else model
        if order == 2:
            grads = second_order_gradient(network, train_batch, val_batch, xi)
        else:
            grads = first_order_gradient(network, val_batch)
        for alpha, grad in zip(alphas, grads):
            alpha.grad = grad
        arch_optimizer.step()
    x, y = train_batch
    weight_optimizer.zero_grad(set_to_none=True)
    with path.autocast_region(x.device):
        logits = model(x)
    loss = F.cross_entropy(logits.float(), y)  # float32 loss; .float() is a no-op off the fast path
    loss.backward(inputs=weights)  # alpha's gradient is not needed here: autograd skips it
    nn.utils.clip_grad_norm_(weights, grad_clip)
    weight_optimizer.step()
    return loss.detach(), logits.detach()


def _load_optimizer(optimizer: torch.optim.Optimizer, saved: dict) -> None:
    """Load a saved optimiser state, keeping this run's implementation (fused or not): a checkpoint of a
    fast CUDA search resumes as a baseline one and vice versa; the state itself is the same.

    State tensors (momentum, Adam's moments) take their parameter's memory layout: a fused kernel
    refuses a channels-last parameter with a buffer saved by a run whose parameters were not."""
    groups = [{**group, **{key: current[key] for key in ("fused", "foreach") if key in current}}
              for group, current in zip(saved["param_groups"], optimizer.param_groups)]
    optimizer.load_state_dict({**saved, "param_groups": groups})
    for parameter, state in optimizer.state.items():
        for key, value in state.items():
            if torch.is_tensor(value) and value.shape == parameter.shape and value.stride() != parameter.stride():
                state[key] = torch.empty_like(parameter, dtype=value.dtype).copy_(value)


def relaxation_search(model: nn.Module, data: DatasetSplits, config: SearchConfig, seed: int = 0,
                      checkpoint: str | Path | None = None, resume: bool = False, progress: bool = True,
                      on_epoch: Callable[[EpochSnapshot], Any] | None = None,
                      max_epochs: int | None = None, fast: bool = True) -> RelaxationResult:
    """Search with ``model`` (a ``Supernet`` or ``Cell201Supernet``) on ``data``'s training split.

    ``max_epochs`` stops after that many epochs of this call (the checkpoint keeps the rest for a
    later ``resume``); ``on_epoch`` is called with each new snapshot. ``fast`` (see the module's
    docstring) is not part of the search's identity: a checkpoint resumes with either setting.
    """
    check_order(model, config.order)
    device = next(model.parameters()).device
    if data.train.x.device.type != device.type:
        raise ValueError(f"The supernet is on {device} but the data is on {data.train.x.device}; move one of them "
                         f"(e.g. load_dataset(..., device='{device}') or model.to('{data.train.x.device}')).")
    path = fast_path(device, fast)
    path.prepare_model(model)
    weight_optimizer, arch_optimizer = search_optimizers(model, config, fast)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(weight_optimizer, config.epochs, eta_min=config.weight_lr_min)
    weight_half, alpha_half = split_for_search(data.train, seed)
    # Time on this machine, for the learner's information: CPU time of this process on a CPU (it does not grow
    # when other programs share the machine), wall time on a GPU. Comparisons with the benchmark's lookups use
    # the counted compute (``macs``), which is the same on every machine.
    counter = MacCounter()
    clock = time.process_time if device.type == "cpu" else time.perf_counter
    generator = torch.Generator(device=device).manual_seed(seed)
    result = RelaxationResult(method=getattr(model, "method", "darts"), order=config.order)
    identity = {"model": type(model).__name__, "method": result.method, "config": asdict(config), "seed": seed,
                "dataset": data.name, "parameters": sum(p.numel() for p in model.parameters())}
    checkpoint = Path(checkpoint) if checkpoint is not None else None
    if resume and checkpoint is not None and checkpoint.exists():
        state = _load_checkpoint(checkpoint, identity)
        model.load_state_dict(state["model"])
        _load_optimizer(weight_optimizer, state["weight_optimizer"])
        _load_optimizer(arch_optimizer, state["arch_optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        generator.set_state(state["generator"])
        torch.set_rng_state(state["torch_rng"])
        if device.type == "cuda" and "cuda_rng" in state:  # GDAS's noise and P-DARTS's dropout draw from it
            torch.cuda.set_rng_state(state["cuda_rng"], device)
        result.snapshots = [EpochSnapshot(**snapshot) for snapshot in state["snapshots"]]
        result.seconds = state["seconds"]
        result.macs = state.get("macs", 0.0)
        counter.macs = result.macs

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
        # loss sum and hits stay on the device and are read once per epoch; the example count is the host's
        # own (a tensor made from it every step would be a host-to-device copy, and a synchronisation, per step)
        totals = torch.zeros(2, device=device)
        count = 0
        batches = zip(iterate_batches(weight_half, config.batch_size, generator=generator, augment=data.augment),
                      iterate_batches(alpha_half, config.batch_size, generator=generator, augment=data.augment))
        for train_batch, val_batch in batches:
            with counter:
                loss, logits = search_step(model, train_batch, val_batch, weight_optimizer, arch_optimizer,
                                           order=config.order, xi=xi, grad_clip=config.grad_clip,
                                           update_alpha=update_alpha, fast=fast)
            y = train_batch[1]
            with torch.no_grad():
                totals += torch.stack([loss * len(y), (logits.argmax(1) == y).sum().float()])
            count += len(y)
        scheduler.step()
        loss_sum, correct = totals.tolist()
        result.seconds += clock() - started
        result.macs = float(counter.macs)
        snapshot = EpochSnapshot(
            epoch=epoch + 1, train_loss=loss_sum / count, train_accuracy=correct / count,
            val_accuracy=accuracy(model, alpha_half, fast=fast), seconds=result.seconds,
            architecture=_derive(model, config), strengths=_snapshot_strengths(model),
            temperature=model.temperature, macs=result.macs,
        )
        result.snapshots.append(snapshot)
        if checkpoint is not None:
            save_atomically({
                "format": CHECKPOINT_FORMAT, "identity": identity, "model": model.state_dict(),
                "weight_optimizer": weight_optimizer.state_dict(), "arch_optimizer": arch_optimizer.state_dict(),
                "scheduler": scheduler.state_dict(), "generator": generator.get_state(),
                "torch_rng": torch.get_rng_state(), "snapshots": [asdict(s) for s in result.snapshots],
                "seconds": result.seconds, "macs": result.macs,
                **({"cuda_rng": torch.cuda.get_rng_state(device)} if device.type == "cuda" else {}),
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
                  on_epoch: Callable[[EpochSnapshot, int], Any] | None = None,
                  fast: bool = True) -> list[tuple[Supernet, RelaxationResult]]:
    """P-DARTS: one search per stage ``(cells, operations per edge, skip dropout)``, e.g. the paper's
    ``[(5, 8, 0.0), (11, 5, 0.4), (17, 3, 0.7)]``. Each stage builds a deeper supernet from scratch with
    the operations the previous stage kept; the last stage's cell is derived with at most ``max_skips``
    skip connections. Returns every stage's supernet and search; ``seed`` determines all of it (on the CPU).

    With ``checkpoint_dir`` stage k checkpoints to ``checkpoint-stage{k}.pt`` there and an interrupted run,
    started again, skips the finished stages' epochs and continues inside the interrupted one.
    ``on_epoch(snapshot, stage)`` is called after every epoch (stages count from 1). ``fast``: as in
    ``relaxation_search``."""
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
                fast=fast,
                on_epoch=None if on_epoch is None else (lambda snapshot, stage=index + 1: on_epoch(snapshot, stage)))
        stages_done.append((model, result))
    return stages_done
