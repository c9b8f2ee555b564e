"""Training the shared weights: uniform single-path one-shot (SPOS) and FairNAS's strict fairness.

Survey Sec. 3.4 on One-Shot (Bender et al., 2018): "only the weights of that one-shot model need to
be trained, and then the validation set accuracy of the child networks can be obtained by inheriting
the weights of the one-shot model, so that there is no need to retrain". How the one-shot model is
trained decides how well those inherited accuracies rank the children:

* **Uniform single-path sampling** (SPOS, Guo et al. 2020; SETN's uniform sampler, Dong & Yang 2019):
  every training step samples one architecture uniformly at random (here: each of the six edges
  draws its operation uniformly, independently) and trains only that path on the batch. Every
  operation of every edge is trained equally often *in expectation*. Bender et al. trained the
  one-shot model with path dropout over all operations at once, a different sampler with the same
  aim; SPOS's single path is what the later literature (and this benchmark's NAS-Bench-201) uses.
* **Strict fairness** (FairNAS, Chu et al. 2021): each step draws, for every edge, a random
  permutation of its ``m`` operations; path ``k`` takes the ``k``-th operation of every edge. The
  ``m`` paths run on the same batch, their gradients add up, and one update follows, so every
  operation of every edge is trained *exactly* once per step.

Then ``score(architecture)``: recalibrate BatchNorm for the path (``recalibrate_batchnorm``) and
measure its validation accuracy with the shared weights. That score is the fitness of SPOS's second
stage, the evolutionary search on the trained supernet (``evolution.evolutionary_search``); ranking
quality (``ranking``) scores a random sample of the benchmark's cells with it instead.
"""

from __future__ import annotations

import math
import random
import time
from typing import Any, Callable, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from ..compute import MacCounter
from ..data import DatasetSplits, iterate_batches
from ..spaces.cell201 import EDGES, Cell201Architecture
from .one_shot import OneShotSupernet, path_accuracy, recalibrate_batchnorm

__all__ = ["SAMPLINGS", "uniform_paths", "fair_paths", "OneShotTrainer"]

SAMPLINGS = ("uniform", "fair")

# A sampler: (random generator) -> the architectures trained on one batch (their gradients add up).
Sampler = Callable[[random.Random], Sequence[Cell201Architecture]]


def uniform_paths(operations: Sequence[str]) -> Sampler:
    """SPOS: one architecture per step, each edge's operation drawn uniformly and independently."""
    operations = tuple(operations)

    def sample(rng: random.Random) -> list[Cell201Architecture]:
        return [Cell201Architecture(tuple(rng.choice(operations) for _ in EDGES))]

    return sample


def fair_paths(operations: Sequence[str]) -> Sampler:
    """FairNAS: ``m = len(operations)`` architectures per step, each operation of each edge in exactly one."""
    operations = tuple(operations)

    def sample(rng: random.Random) -> list[Cell201Architecture]:
        permutations = [rng.sample(operations, len(operations)) for _ in EDGES]  # (edges, m)
        return [Cell201Architecture(tuple(p[k] for p in permutations)) for k in range(len(operations))]

    return sample


def choice_of(architectures: Sequence[Any]) -> Sampler:
    """One architecture per step, drawn uniformly from a fixed list (the forgetting experiment's phases)."""
    architectures = list(architectures)
    if not architectures:
        raise ValueError("choice_of needs at least one architecture.")

    def sample(rng: random.Random) -> list[Any]:
        return [rng.choice(architectures)]

    return sample


class OneShotTrainer:
    """Trains a ``OneShotSupernet``'s shared weights on paths from a sampler, and scores paths with them.

    The optimiser is the course's recipe (``nascourse.train``): SGD with Nesterov momentum 0.9, weight
    decay, gradient-norm clipping at 5, and a cosine learning rate over the ``epochs`` the trainer is
    planned for (training past them is refused: the cosine would climb again). ``clock`` measures
    training time on this machine (default: the process's CPU time); ``macs`` counts the training's compute
    (``nascourse.compute``), the unit to compare with the benchmark's recorded trainings
    (``Benchmark.seconds_for``): it is the same on every machine. ``sampling`` is ``"uniform"`` (SPOS) or ``"fair"``
    (FairNAS); ``sampler`` replaces it by any function ``rng -> list of architectures``.
    """

    def __init__(self, data: DatasetSplits, epochs: int, supernet: OneShotSupernet | None = None,
                 sampling: str = "uniform", sampler: Sampler | None = None, batch_size: int = 32,
                 learning_rate: float = 0.1, weight_decay: float = 3e-4, seed: int = 0,
                 recalibration_batches: int = 4, recalibration_batch_size: int = 64,
                 clock: Callable[[], float] | None = None):
        if not isinstance(epochs, int) or epochs < 1:
            raise ValueError(f"epochs must be a positive integer (the length of the cosine schedule), got {epochs!r}.")
        if sampling not in SAMPLINGS:
            raise ValueError(f"Unknown sampling {sampling!r}; choose one of {SAMPLINGS} or pass a sampler.")
        if batch_size < 1 or learning_rate <= 0 or weight_decay < 0:
            raise ValueError(f"Need batch_size >= 1, learning_rate > 0, weight_decay >= 0; got "
                             f"{batch_size}, {learning_rate}, {weight_decay}.")
        self.data = data
        if supernet is None:
            with torch.random.fork_rng(devices=[]):  # the seed fixes the initial weights, the global RNG is left alone
                torch.manual_seed(seed)
                supernet = OneShotSupernet(data.input_shape, data.num_classes)
        if supernet.input_shape != tuple(data.input_shape) or supernet.num_classes != data.num_classes:
            raise ValueError(f"The supernet takes {supernet.input_shape} images and {supernet.num_classes} classes; "
                             f"{data.name} has {tuple(data.input_shape)} and {data.num_classes}.")
        self.supernet = supernet.to(data.train.x.device)
        self.sampling = sampling if sampler is None else "custom"
        self.sampler: Sampler = sampler or (uniform_paths if sampling == "uniform" else fair_paths)(supernet.operations)
        self.batch_size = batch_size
        self.epochs = epochs
        self.steps_per_epoch = math.ceil(len(data.train) / batch_size)
        self.optimizer = torch.optim.SGD(self.supernet.weight_parameters(), lr=learning_rate, momentum=0.9,
                                         nesterov=True, weight_decay=weight_decay)
        self.schedule = torch.optim.lr_scheduler.CosineAnnealingLR(self.optimizer, T_max=epochs * self.steps_per_epoch)
        self.rng = random.Random(seed)  # architectures
        self.generator = torch.Generator(device=data.train.x.device).manual_seed(seed)  # batch order
        self.seed = seed
        self._batches = None  # the current pass over the training split
        self.recalibration_batches = recalibration_batches
        self.recalibration_batch_size = recalibration_batch_size
        self.clock = clock or time.process_time  # looked up now, so a patched clock is seen
        self.steps = 0
        self.seconds = 0.0  # training time so far on this machine, scoring excluded
        self.counter = MacCounter()  # training compute so far, scoring excluded
        self.scoring_counter = MacCounter()  # scoring compute so far: recalibration and validation passes
        self.losses: list[float] = []  # mean training loss of each finished epoch

    @property
    def macs(self) -> float:
        """Multiply-accumulates of the training steps so far (scoring excluded)."""
        return float(self.counter.macs)

    @property
    def scoring_macs(self) -> float:
        """Multiply-accumulates of every ``score`` call so far: BatchNorm recalibration (forward passes on training
        batches) and the validation pass. Real compute, charged like training (``Benchmark.seconds_for``)."""
        return float(self.scoring_counter.macs)

    @property
    def epochs_done(self) -> float:
        return self.steps / self.steps_per_epoch

    def train_step(self, x: torch.Tensor, y: torch.Tensor, architectures: Sequence[Any]) -> float:
        """One update of the shared weights: the gradients of every given path on batch (x, y) add up.

        x: (B, C, H, W), y: (B,). Returns the mean loss over the paths.
        """
        if self.steps >= self.epochs * self.steps_per_epoch:
            raise RuntimeError(f"The trainer was planned for {self.epochs} epochs and has used them; "
                               "build one with more epochs.")
        self.supernet.train()
        self.optimizer.zero_grad(set_to_none=True)
        total = 0.0
        for architecture in architectures:
            loss = F.cross_entropy(self.supernet(x, architecture), y)
            loss.backward()  # accumulates: FairNAS's m paths make one update
            total += float(loss.detach())
        nn.utils.clip_grad_norm_(self.supernet.weight_parameters(), max_norm=5.0)
        self.optimizer.step()
        self.schedule.step()
        self.steps += 1
        return total / len(architectures)

    def train(self, steps: int | None = None, on_step: Callable[["OneShotTrainer"], None] | None = None) -> float:
        """Train for ``steps`` steps (default: one epoch), one sampled batch of paths per step; returns the mean loss.

        ``on_step(trainer)`` runs after every step, outside the training clock (to record curves).
        An epoch is one pass over the shuffled training split; a new pass starts where one ends.
        """
        steps = self.steps_per_epoch if steps is None else steps
        if steps < 1:
            raise ValueError(f"steps must be at least 1, got {steps}.")
        losses = []
        for _ in range(steps):
            start = self.clock()
            if self.steps % self.steps_per_epoch == 0 or self._batches is None:
                self._batches = iterate_batches(self.data.train, self.batch_size, shuffle=True,
                                                generator=self.generator, augment=self.data.augment)
            x, y = next(self._batches)
            with self.counter:
                losses.append(self.train_step(x, y, self.sampler(self.rng)))
            self.seconds += self.clock() - start
            if self.steps % self.steps_per_epoch == 0:
                self.losses.append(sum(losses[-self.steps_per_epoch:]) / len(losses[-self.steps_per_epoch:]))
            if on_step is not None:
                on_step(self)
        return sum(losses) / len(losses)

    def train_until(self, epochs: float) -> None:
        """Train until ``epochs`` epochs are done in total (fractions allowed: steps are rounded up)."""
        target = math.ceil(epochs * self.steps_per_epoch - 1e-9)
        if target > self.steps:
            self.train(target - self.steps)

    def score(self, architecture: Any, split: str = "val", recalibrate: bool = True) -> float:
        """The path's accuracy on ``split`` ("val" or "train"; never "test" in a search) with the shared weights.

        With ``recalibrate`` (the default, as SPOS) BatchNorm statistics are first recomputed for the path
        on a few training batches; without, the running statistics of the mixture of paths trained last
        are used, which is what the literature warns against (measure it: ``recalibrate=False``).
        """
        if split not in ("val", "train"):
            raise ValueError(f"score ranks candidates, so split must be 'val' or 'train', got {split!r}.")
        with self.scoring_counter:  # scoring is compute too: counted apart from training (``scoring_macs``)
            if recalibrate:  # the same training batches for every path: scores do not depend on the order of calls
                generator = torch.Generator(device=self.data.train.x.device).manual_seed(self.seed + 1)
                recalibrate_batchnorm(self.supernet, architecture, self.data.train, self.recalibration_batches,
                                      self.recalibration_batch_size, generator)
            return path_accuracy(self.supernet, architecture, getattr(self.data, split))
