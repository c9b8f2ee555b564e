"""ENAS: an LSTM controller samples sub-graphs of one shared supernet (Pham et al., ICML 2018).

Survey Sec. 3.4: "ENAS [...] forces all child networks to share weights, so as to avoid training each
child network from scratch". The controller is NAS-RL's (chapter 01, ``nascourse.strategies.nas_rl``):
an LSTM that emits the cell token by token, here one operation per edge of the benchmark's cell. ENAS
alternates two phases (Pham et al., Sec. 2.2):

1. **Shared weights** ``w``, controller fixed: one pass over the training data; each minibatch
   trains the sub-graph the controller samples for it (a single path of the one-shot supernet).
2. **Controller** ``theta``, ``w`` fixed: ``controller_steps`` REINFORCE steps; each samples
   sub-graphs, rewards each by its accuracy on a *validation* minibatch with the shared weights
   (no training at all: the reason ENAS is cheap), and follows

       grad_theta J ~= 1/m sum_k (R_k - b) grad_theta log P(a^k; theta) + lambda grad_theta H(pi_theta)

   with ``b`` a moving average of the rewards and ``lambda`` an entropy bonus.

After the search, ENAS "sample[s] several models from the trained policy [...], compute[s] its reward
on a single minibatch sampled from the validation set [and] take[s] only the model with the highest
reward". ``derive`` does this, scoring each sample on the whole 360-image validation split (about one
of ENAS's minibatches) by the reward's own rule, and its compute is charged to the search.

Simplifications, and why: the reward normalises BatchNorm by the validation minibatch's own statistics
(a freshly sampled path has no running statistics of its own; recalibrating it for every reward would
double the controller's cost), and ``derive`` scores by the same rule, so the final choice is made with
the signal the controller was trained on; the controller is a one-layer LSTM of 32 units (ENAS: 100) trained for
a few dozen steps per epoch (ENAS: 2,000) with a larger learning rate (0.02; ENAS: 0.00035) and a
larger entropy bonus (0.01; ENAS: 0.0001), because our search is ~100 times shorter; ENAS's tanh
constant and sampling temperature are left out.

What to expect on the benchmark (``experiments/ch05_weight_sharing.py``): the controller favours
parameter-free cells (skip, average pooling). Paths it samples more are trained more and earn more
reward (a rich-get-richer loop), and early in training a parameter-free path beats an untrained
convolution; NAS-Bench-201 reported ENAS finding poor cells on its space for the same reasons.
``operation_shares`` measures the policy after every epoch (``history[i]["shares"]``), so the loop can
be watched; ``policy_reward`` tests the controller itself: the mean reward of the cells a policy samples,
on one and the same supernet, for the initial and for the trained controller.
"""

from __future__ import annotations

import copy
import random
import time
from collections import Counter
from typing import Any, Callable, Sequence

import numpy as np
import torch

from ..compute import MacCounter
from ..data import DatasetSplits, Split, iterate_batches
from ..spaces.cell201 import Cell201Architecture
from ..strategies.nas_rl import Controller, reinforce_loss
from .one_shot import OneShotSupernet, path_accuracy
from .spos import OneShotTrainer

__all__ = ["ENAS"]


class ENAS:
    """ENAS on the benchmark's cell space: ``search()`` returns the architecture the controller finally prefers.

    ``epochs``: passes of shared-weight training (each followed by ``controller_steps`` controller
    updates of ``controller_batch`` sampled architectures). Shared-weight training uses
    ``OneShotTrainer``'s recipe (``batch_size``, ``learning_rate``, cosine over ``epochs``).
    ``history`` records, after every epoch, the training time, the mean reward, the baseline and the
    controller's most likely architecture.
    """

    def __init__(self, data: DatasetSplits, epochs: int = 10, supernet: OneShotSupernet | None = None,
                 controller_steps: int = 30, controller_batch: int = 2, controller_learning_rate: float = 0.02,
                 baseline_decay: float = 0.9, entropy_weight: float = 0.01, hidden_size: int = 32, layers: int = 1,
                 reward_batch_size: int = 64, batch_size: int = 32, learning_rate: float = 0.1, seed: int = 0,
                 clock: Callable[[], float] | None = None):
        if controller_steps < 0 or controller_batch < 1 or controller_learning_rate <= 0:
            raise ValueError(f"Need controller_steps >= 0, controller_batch >= 1 and controller_learning_rate > 0; got "
                             f"{controller_steps}, {controller_batch}, {controller_learning_rate}.")
        if not 0 <= baseline_decay < 1 or entropy_weight < 0 or reward_batch_size < 1:
            raise ValueError(f"Need 0 <= baseline_decay < 1, entropy_weight >= 0 and reward_batch_size >= 1; got "
                             f"{baseline_decay}, {entropy_weight}, {reward_batch_size}.")
        self.trainer = OneShotTrainer(data, epochs, supernet, sampler=self._training_paths, batch_size=batch_size,
                                      learning_rate=learning_rate, seed=seed, clock=clock)
        self.supernet = self.trainer.supernet
        self.space = self.supernet.space
        self.data = data
        with torch.random.fork_rng(devices=[]):  # seeded initial controller, global RNG untouched
            torch.manual_seed(seed)
            self.controller = Controller(self.space.vocabulary(), hidden_size, layers)
        self.initial_controller = copy.deepcopy(self.controller)  # the policy before any update, kept to compare
        self.seed = seed
        self.optimizer = torch.optim.Adam(self.controller.parameters(), lr=controller_learning_rate)
        self.generator = torch.Generator().manual_seed(seed)  # the controller's samples
        self.reward_generator = torch.Generator(device=data.val.x.device).manual_seed(seed + 2)  # validation batches
        self._val_batches = None
        self.controller_steps = controller_steps
        self.controller_batch = controller_batch
        self.baseline_decay = baseline_decay
        self.entropy_weight = entropy_weight
        self.reward_batch_size = reward_batch_size
        self.clock = clock or time.process_time  # looked up now, so a patched clock is seen
        self.baseline: float | None = None
        self.controller_seconds = 0.0
        self.controller_counter = MacCounter()  # the rewards' forward passes and the controller's own steps
        self.selection_counter = MacCounter()  # derive's scoring of the final samples
        self.rewards: list[float] = []
        self.initial_shares = self.operation_shares()
        self.history: list[dict] = []

    # --- the controller ------------------------------------------------------------------------

    def sample(self) -> Cell201Architecture:
        """One architecture from the controller's current policy."""
        return self.space.from_tokens(self.controller.sample(self.space, self.generator))

    def _training_paths(self, rng: random.Random) -> list[Cell201Architecture]:
        return [self.sample()]  # ENAS: each minibatch trains the sub-graph the controller samples

    def probability(self, architecture: Any) -> float:
        """P(architecture) under the controller: the product of its six token probabilities."""
        tokens = self.space.to_tokens(self.supernet.as_architecture(architecture))
        with torch.no_grad():
            log_probability, _ = self.controller.log_probability(self.space, [tokens])
        return float(log_probability.exp()[0])

    def operation_shares(self, controller: Controller | None = None, samples: int = 200) -> dict[str, float]:
        """The policy read as a mix of operations: the share of each operation among the edges of ``samples`` cells
        sampled from ``controller`` (default: the current one) with a fixed generator, so that two policies are
        read with the same random numbers. Uniform policy: 1 / (number of operations) each."""
        controller = self.controller if controller is None else controller
        generator = torch.Generator().manual_seed(self.seed + 3)
        with torch.no_grad():
            counts = Counter(token for _ in range(samples) for token in controller.sample(self.space, generator))
        total = sum(counts.values())
        return {name: counts[name] / total for name in self.supernet.operations}

    def policy_reward(self, controller: Controller | None = None, samples: int = 20) -> float:
        """The mean reward of ``samples`` cells that ``controller`` (default: the current one) samples, each scored
        by the reward's rule on the whole validation split with the current shared weights. Comparing the initial
        controller (``self.initial_controller``) with the trained one on the same supernet tests what REINFORCE
        learned, apart from what the shared weights learned. Its compute is not charged to the search."""
        controller = self.controller if controller is None else controller
        generator = torch.Generator().manual_seed(self.seed + 4)
        with torch.no_grad():
            cells = [self.space.from_tokens(controller.sample(self.space, generator)) for _ in range(samples)]
        return float(np.mean([path_accuracy(self.supernet, cell, self.data.val, batch_statistics=True)
                              for cell in cells]))

    def most_likely(self) -> Cell201Architecture:
        """The controller's greedy architecture: the most probable token at every step."""
        return self.space.from_tokens(tuple(max(d, key=d.get) for d in self.controller.distributions(self.space)))

    def controller_step(self, architectures: Sequence[Any], rewards: Sequence[float]) -> float:
        """One REINFORCE step (Adam) on sampled ``architectures`` with their ``rewards``; returns the loss.

        The baseline is the running average before this batch (the first batch is its own baseline),
        then moves towards each reward: ``b <- decay * b + (1 - decay) * R``.
        """
        if len(architectures) != len(rewards) or not architectures:
            raise ValueError(f"Need as many rewards as architectures (at least one); got {len(architectures)} "
                             f"architectures and {len(rewards)} rewards.")
        rewards_t = torch.tensor([float(r) for r in rewards])
        if not torch.isfinite(rewards_t).all():
            raise ValueError(f"Rewards must be finite numbers, got {list(rewards)}.")
        if self.baseline is None:
            self.baseline = float(rewards_t.mean())
        sequences = [self.space.to_tokens(self.supernet.as_architecture(a)) for a in architectures]
        log_probabilities, entropies = self.controller.log_probability(self.space, sequences)
        loss = reinforce_loss(log_probabilities, rewards_t, self.baseline, entropies, self.entropy_weight)
        self.optimizer.zero_grad()
        loss.backward()
        self.optimizer.step()
        for reward in rewards_t.tolist():
            self.baseline = self.baseline_decay * self.baseline + (1 - self.baseline_decay) * reward
        return float(loss.detach())

    def reward(self, architecture: Any) -> float:
        """Accuracy of the path on the next validation minibatch, with the shared weights (no training)."""
        try:
            x, y = next(self._val_batches)
        except (StopIteration, TypeError):  # first call, or the validation split is used up: a new pass
            self._val_batches = iterate_batches(self.data.val, self.reward_batch_size, shuffle=True,
                                                generator=self.reward_generator)
            x, y = next(self._val_batches)
        return path_accuracy(self.supernet, architecture, Split(x, y), batch_statistics=True)

    # --- the alternation -----------------------------------------------------------------------

    def search_epoch(self) -> dict:
        """Phase 1 (one epoch of shared weights on controller samples), then phase 2 (controller steps)."""
        self.trainer.train()
        start = self.clock()
        epoch_rewards = []
        with self.controller_counter:
            for _ in range(self.controller_steps):
                architectures = [self.sample() for _ in range(self.controller_batch)]
                rewards = [self.reward(a) for a in architectures]
                self.controller_step(architectures, rewards)
                epoch_rewards.extend(rewards)
        self.controller_seconds += self.clock() - start
        self.rewards.extend(epoch_rewards)
        record = {"epoch": self.trainer.steps / self.trainer.steps_per_epoch, "seconds": self.seconds,
                  "macs": self.macs,
                  "mean_reward": float(np.mean(epoch_rewards)) if epoch_rewards else float("nan"),
                  "baseline": self.baseline, "most_likely": str(self.most_likely()),
                  "shares": self.operation_shares()}
        self.history.append(record)
        return record

    @property
    def seconds(self) -> float:
        """Search time so far on this machine: shared-weight training plus controller training (final selection
        excluded)."""
        return self.trainer.seconds + self.controller_seconds

    @property
    def macs(self) -> float:
        """Search compute so far: shared-weight training, the controller's rewards and steps, and ``derive``'s
        scoring; the unit to compare with the benchmark's recorded trainings (``Benchmark.seconds_for``), the
        same on every machine."""
        return self.trainer.macs + float(self.controller_counter.macs) + float(self.selection_counter.macs)

    def derive(self, samples: int = 10) -> Cell201Architecture:
        """ENAS's final choice: of ``samples`` architectures from the policy, the best by shared-weight accuracy on
        the whole validation split, scored by the reward's rule (BatchNorm on the batch's own statistics; ties go
        to the earlier sample). Its compute is counted in ``macs``."""
        if samples < 1:
            raise ValueError(f"samples must be at least 1, got {samples}.")
        candidates = [self.sample() for _ in range(samples)]
        with self.selection_counter:
            scores = [path_accuracy(self.supernet, a, self.data.val, batch_statistics=True) for a in candidates]
        self.final_candidates = list(zip(map(str, candidates), scores))
        return candidates[int(np.argmax(scores))]

    def search(self, samples: int = 10) -> Cell201Architecture:
        """Run the remaining epochs of the alternation, then ``derive(samples)``."""
        while self.trainer.steps < self.trainer.epochs * self.trainer.steps_per_epoch:
            self.search_epoch()
        return self.derive(samples)
