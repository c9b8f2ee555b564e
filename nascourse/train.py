"""Training a candidate network for a budget and measuring it: the "train and rank" box of survey Fig. 1.

Early NAS trained every candidate on the training set and ranked candidates by their
accuracy on the validation set (survey Sec. 2). ``train`` does exactly that for any
``torch.nn.Module`` and returns its learning curve, so that later chapters can stop
early, extrapolate curves, or compare budgets with the same records.

The recipe is the common one of NAS papers: SGD with Nesterov momentum, cosine-annealed
learning rate, weight decay, gradient-norm clipping. The loss is summed on the device and read
once per epoch, so the inner loop never waits for the host.

``fast=True`` (the default) takes the fast path of ``fast_path``: on CUDA, bfloat16 autocast,
channels-last tensors and fused optimisers; on the CPU nothing changes, so a CPU result is the
same with and without it. ``fast=False`` is the plain eager float32 baseline the benchmarks
(``benchmarks/bench_steps.py``) measure the fast path against.
"""

from __future__ import annotations

import contextlib
import math
import time
from dataclasses import asdict, dataclass, field
from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn

from .data import DatasetSplits, Split, iterate_batches

__all__ = ["EpochRecord", "TrainingResult", "FastPath", "fast_path", "train", "accuracy", "count_parameters"]


@dataclass
class EpochRecord:
    """One point of a learning curve."""

    epoch: int  # 1-based
    train_loss: float  # mean training loss over the epoch
    val_accuracy: float  # accuracy on the evaluation split after the epoch, in [0, 1]
    seconds: float  # training wall time since training started (time spent evaluating excluded)
    test_accuracy: float | None = None  # only when a benchmark records it (``test_split``); never for selection


@dataclass
class TrainingResult:
    """What training one network for a budget produced."""

    curve: list[EpochRecord] = field(default_factory=list)
    diverged: bool = False  # the loss became NaN or infinite; training stopped there
    seconds: float = 0.0

    @property
    def final_accuracy(self) -> float:
        """Accuracy after the last epoch; NaN for a diverged or empty run (it must not win a search)."""
        if self.diverged or not self.curve:
            return math.nan
        return self.curve[-1].val_accuracy

    @property
    def epochs(self) -> int:
        return len(self.curve)

    def to_dict(self) -> dict:
        return {"curve": [asdict(r) for r in self.curve], "diverged": self.diverged, "seconds": self.seconds}


def count_parameters(model: nn.Module) -> int:
    """Number of trainable parameters."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


@dataclass(frozen=True)
class FastPath:
    """What the fast path turns on (``fast_path`` chooses per device); all off is plain eager float32."""

    autocast: bool = False  # forward passes in bfloat16 autocast (parameters, gradients, optimiser state stay fp32)
    channels_last: bool = False  # 4-D parameters and input batches in channels-last (NHWC) memory layout
    fused: bool = False  # fused optimiser kernels (one launch per step instead of one per parameter group)

    def optimizer_options(self) -> dict:
        """Keyword arguments for ``torch.optim.SGD`` / ``Adam``: ``fused=True`` or nothing (the default)."""
        return {"fused": True} if self.fused else {}

    def prepare(self, x: torch.Tensor) -> torch.Tensor:
        """An input batch in the path's layout; only 4-D image batches have a channels-last layout."""
        return x.contiguous(memory_format=torch.channels_last) if self.channels_last and x.dim() == 4 else x

    def autocast_region(self, device: torch.device | str):
        """The autocast region of a forward pass on ``device``: bfloat16 when ``autocast`` is on, else a no-op."""
        if not self.autocast:
            return contextlib.nullcontext()
        return torch.autocast(device_type=torch.device(device).type, dtype=torch.bfloat16)

    def prepare_model(self, model: nn.Module) -> nn.Module:
        """Convert the model's 4-D parameters and buffers to channels-last (others are left as they are)."""
        return model.to(memory_format=torch.channels_last) if self.channels_last else model


def fast_path(device: torch.device | str, fast: bool = True) -> FastPath:
    """The fast path for ``device``: everything on CUDA; nothing on the CPU or elsewhere, or when ``fast`` is False.

    bfloat16 keeps float32's exponent range, so no loss scaling is needed. On the CPU the fast path
    is deliberately empty: bfloat16 autocast there made a DARTS search step slower, not faster, and would
    change the numbers every notebook quotes; a fused CPU SGD saves next to nothing; and the DARTS supernet
    already runs channels-last on the CPU by itself (``Supernet.channels_last_on_cpu``). The measurements:
    ``benchmarks/RESULTS.md``.
    """
    if fast and torch.device(device).type == "cuda":
        return FastPath(autocast=True, channels_last=True, fused=True)
    return FastPath()


@torch.no_grad()
def accuracy(model: nn.Module, split: Split, batch_size: int = 1024, fast: bool = True) -> float:
    """Fraction of ``split`` that ``model`` classifies correctly (eval mode; the model's mode is restored).

    ``fast``: bfloat16 autocast and channels-last inputs on CUDA (see ``fast_path``)."""
    was_training = model.training
    model.eval()
    device = split.x.device
    path = fast_path(device, fast)
    correct = torch.zeros((), dtype=torch.long, device=device)
    for x, y in iterate_batches(split, batch_size, shuffle=False):
        with path.autocast_region(device):
            logits = model(path.prepare(x))
        correct += (logits.argmax(dim=1) == y).sum()
    model.train(was_training)
    return correct.item() / max(len(split), 1)


def train(
    model: nn.Module,
    data: DatasetSplits,
    epochs: int,
    batch_size: int = 64,
    learning_rate: float = 0.05,
    weight_decay: float = 3e-4,
    seed: int = 0,
    train_split: Split | None = None,
    eval_split: Split | None = None,
    test_split: Split | None = None,
    progress: bool = False,
    loss_function: Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor] | None = None,
    clock: Callable[[], float] = time.perf_counter,
    fast: bool = True,
) -> TrainingResult:
    """Train ``model`` on ``train_split`` (default: the training split) for ``epochs`` epochs.

    After every epoch the accuracy on ``eval_split`` (default: the validation split) is
    recorded (and, for tabular benchmarks only, the accuracy on ``test_split``, which a
    search must never look at). A loss that turns NaN/inf ends training early with ``diverged=True``: a
    failed candidate is a result of the search, not a crash. ``seed`` fixes the batch order.
    The model is moved to the data's device. ``loss_function(logits, x, y)`` replaces the
    cross-entropy, e.g. for knowledge distillation (chapter 04), where the loss also needs
    the teacher's logits on the same images ``x``. ``clock`` measures the training seconds:
    wall time by default; the tabular benchmark passes ``time.process_time`` (CPU time of a
    one-thread worker), which does not grow when other programs share the machine.
    ``fast`` takes the fast path of ``fast_path`` (CUDA only; ``False``: the eager float32 baseline).
    """
    if not isinstance(epochs, int) or epochs < 1:
        raise ValueError(f"epochs must be a positive integer, got {epochs!r}.")
    if batch_size < 1 or learning_rate <= 0:
        raise ValueError(f"Need batch_size >= 1 and learning_rate > 0, got {batch_size} and {learning_rate}.")
    train_split = data.train if train_split is None else train_split
    eval_split = data.val if eval_split is None else eval_split
    device = train_split.x.device
    path = fast_path(device, fast)
    path.prepare_model(model.to(device))

    steps_per_epoch = math.ceil(len(train_split) / batch_size)
    optimizer = torch.optim.SGD(
        model.parameters(), lr=learning_rate, momentum=0.9, nesterov=True, weight_decay=weight_decay,
        **path.optimizer_options(),
    )
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=epochs * steps_per_epoch)
    generator = torch.Generator(device=device).manual_seed(seed)

    result = TrainingResult()
    start = clock()
    evaluation_seconds = 0.0
    epoch_iterator = range(1, epochs + 1)
    if progress:
        from tqdm.auto import tqdm

        epoch_iterator = tqdm(epoch_iterator, desc="training", unit="epoch")
    for epoch in epoch_iterator:
        model.train()
        loss_sum = torch.zeros((), device=device)
        for x, y in iterate_batches(train_split, batch_size, shuffle=True, generator=generator, augment=data.augment):
            with path.autocast_region(device):
                x = path.prepare(x)
                logits = model(x)
                loss = F.cross_entropy(logits, y) if loss_function is None else loss_function(logits, x, y)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            nn.utils.clip_grad_norm_(model.parameters(), max_norm=5.0)
            optimizer.step()
            schedule.step()
            loss_sum += loss.detach().float() * len(y)
        mean_loss = loss_sum.item() / len(train_split)  # the one host read per epoch
        if not math.isfinite(mean_loss):
            result.diverged = True
            break
        seconds = clock() - start - evaluation_seconds  # training time; measuring is not training
        evaluation_start = clock()
        test = accuracy(model, test_split, fast=fast) if test_split is not None else None
        result.curve.append(EpochRecord(epoch, mean_loss, accuracy(model, eval_split, fast=fast), seconds, test))
        evaluation_seconds += clock() - evaluation_start
    result.seconds = clock() - start - evaluation_seconds
    return result
