"""Multi-model forgetting: training new paths of a supernet degrades the paths trained before.

Benyahia et al. ("Overcoming Multi-Model Forgetting", ICML 2019) named the effect: weight sharing is
sequential training of many models on shared parameters, and when the supernet moves on to other
sampled sub-networks, the weights that served earlier ones are overwritten and their accuracy drops,
as in continual learning's catastrophic forgetting. Zhang et al. ("Overcoming multi-model forgetting
in one-shot NAS with diversity maximization", CVPR 2020, the GDAS-NSAS of survey Sec. 3.4) counter it
by keeping a diverse set of earlier architectures in the loss (not implemented here).

``multi_model_forgetting`` makes the effect measurable with an explicit two-phase schedule:

1. the supernet trains only a few *early* paths (uniformly among them) for ``early_epochs``;
2. then uniformly sampled paths of the rest of the space for ``later_epochs``.

Every ``record_every`` steps it records, with BatchNorm recalibration, the shared-weight validation
accuracy of each early path and of a few *tracked later* paths (drawn from phase 2's pool, never
trained in phase 1); the later curves show that the supernet is meanwhile learning, not breaking down.

The control: a copy of the supernet *paused* at the switch. It has given the early paths exactly the
updates the experiment gave them (the same steps, seed and batches up to the switch, none after), so the
experiment differs from it only in having trained *other* paths since; and a paused supernet keeps every
score (scores use fixed recalibration batches; ``paused_accuracy`` checks it on the copy at the end). The
early paths' accuracy at the switch minus their accuracy later (``loss_to_paused``) is therefore what
training the other paths took from them. It is forgetting *net* of transfer: the stem, reductions and
classifier that the other paths keep training serve the early paths too, so it bounds forgetting from
below. (A control that keeps training the early paths after the switch would end higher even with no
forgetting at all: it mixes forgetting with extra training.) The first phase is artificial (uniform
sampling mixes all paths from the start); it stretches the sequence of a real run into two blocks so the
effect is large enough to see above the noise.
"""

from __future__ import annotations

import copy
import random
from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np

from ..data import DatasetSplits
from ..spaces.cell201 import EDGES, Cell201Architecture
from .spos import OneShotTrainer, choice_of

__all__ = ["ForgettingCurves", "multi_model_forgetting"]


@dataclass
class ForgettingCurves:
    """Shared-weight validation accuracy of early and tracked-later paths along supernet training.

    ``early_accuracy``: (early paths, records); ``later_accuracy``: (tracked later paths, records);
    one record per entry of ``steps`` / ``epochs`` / ``seconds``. ``switch_step``: the step at which
    training moved from the early paths to the rest of the space. ``paused_accuracy``: the early paths scored at
    the end on a copy of the supernet paused at the switch (the control; equal to their accuracy at the switch).
    """

    early: list[str]
    later: list[str]
    switch_step: int
    steps: list[int] = field(default_factory=list)
    epochs: list[float] = field(default_factory=list)
    seconds: list[float] = field(default_factory=list)
    early_accuracy: list[list[float]] = field(default_factory=list)  # appended per record, transposed by the properties
    later_accuracy: list[list[float]] = field(default_factory=list)
    paused_accuracy: list[float] = field(default_factory=list)  # early paths on the supernet paused at the switch

    @property
    def early_curves(self) -> np.ndarray:
        """(early paths, records)."""
        return np.array(self.early_accuracy).T

    @property
    def later_curves(self) -> np.ndarray:
        """(tracked later paths, records)."""
        return np.array(self.later_accuracy).T

    def _switch_index(self) -> int:
        return max(i for i, step in enumerate(self.steps) if step <= self.switch_step)

    def drop(self) -> np.ndarray:
        """(early paths,): accuracy at the switch minus accuracy at the end (positive = forgotten)."""
        curves = self.early_curves
        return curves[:, self._switch_index()] - curves[:, -1]

    def immediate_drop(self) -> np.ndarray:
        """(early paths,): accuracy at the switch minus accuracy at the first record after it. A supernet that
        simply stopped at the switch would keep the early paths exactly where they were (scores are computed
        with fixed recalibration batches), so a positive drop is accuracy lost to training *other* paths:
        forgetting, not a lack of further training."""
        curves, at = self.early_curves, self._switch_index()
        return curves[:, at] - curves[:, at + 1]

    def deepest_drop(self) -> np.ndarray:
        """(early paths,): accuracy at the switch minus the lowest accuracy recorded after it."""
        curves, at = self.early_curves, self._switch_index()
        return curves[:, at] - curves[:, at + 1:].min(axis=1)

    def loss_to_paused(self) -> np.ndarray:
        """(early paths, records after the switch): the paused control's accuracy minus the experiment's, per
        record (positive = accuracy that training the other paths took away)."""
        paused = np.array(self.paused_accuracy) if self.paused_accuracy else self.early_curves[:, self._switch_index()]
        return paused[:, None] - self.early_curves[:, self._switch_index() + 1:]

    def summary(self) -> str:
        early, later, at = self.early_curves, self.later_curves, self._switch_index()
        lines = [f"{len(self.early)} early paths trained for {self.switch_step} steps, then the rest of the space "
                 f"for {self.steps[-1] - self.switch_step} steps",
                 f"early paths: mean accuracy {early[:, at].mean():.3f} at the switch -> {early[:, -1].mean():.3f} at "
                 f"the end (drop {self.drop().mean():+.3f}; per path {np.array2string(self.drop(), precision=3)}); "
                 f"deepest drop after the switch {self.deepest_drop().mean():+.3f} "
                 f"(per path {np.array2string(self.deepest_drop(), precision=3)})"]
        if len(self.later):
            lines.append(f"tracked later paths: mean accuracy {later[:, at].mean():.3f} at the switch -> "
                         f"{later[:, -1].mean():.3f} at the end")
        if self.paused_accuracy:
            loss = self.loss_to_paused().mean(axis=0)
            lines.append(f"control (the supernet paused at the switch): early paths at {np.mean(self.paused_accuracy):.3f}; "
                         f"paused minus experiment after the switch, mean over the early paths per record "
                         f"{np.array2string(loss, precision=3)}")
        return "\n".join(lines)


def _nonzero_cells(trainer: OneShotTrainer) -> list[Cell201Architecture]:
    """The space's unique cells whose output depends on their input (not the all-``none`` cell)."""
    space = trainer.supernet.space
    empty = space.canonical(Cell201Architecture(("none",) * len(EDGES))) if "none" in space.operations else None
    return [a for a in space.unique_architectures() if a != empty]


def multi_model_forgetting(data: DatasetSplits, early: int | Sequence[Any] = 4, early_epochs: int = 4,
                           later_epochs: int = 8, tracked_later: int = 4, record_every: int | None = None,
                           seed: int = 0, **trainer_options: Any) -> ForgettingCurves:
    """Run the two-phase experiment; returns the curves.

    ``early``: how many early paths to draw at random (among the unique cells that compute something),
    or the paths themselves. Phase 2 samples uniformly from the raw space, rejecting cells equivalent
    to an early path. ``record_every``: steps between records (default: half an epoch).
    ``trainer_options`` go to ``OneShotTrainer`` (``batch_size``, ``learning_rate``, ...). The control, a copy
    of the supernet paused at the switch, is kept and its early paths scored at the end (``paused_accuracy``).
    """
    if early_epochs < 1 or later_epochs < 1 or tracked_later < 0:
        raise ValueError(f"Need early_epochs >= 1, later_epochs >= 1 and tracked_later >= 0; got "
                         f"{early_epochs}, {later_epochs}, {tracked_later}.")
    trainer = OneShotTrainer(data, early_epochs + later_epochs, seed=seed, **trainer_options)
    space = trainer.supernet.space
    rng = random.Random(seed)
    cells = _nonzero_cells(trainer)
    if isinstance(early, (int, np.integer)) and not isinstance(early, bool):
        if not 1 <= early < len(cells):
            raise ValueError(f"early must be between 1 and {len(cells) - 1} paths, got {early}.")
        early_paths = rng.sample(cells, int(early))
    else:
        early_paths = [space.canonical(trainer.supernet.as_architecture(a)) for a in early]
        if not early_paths:
            raise ValueError("Give at least one early path.")
    early_keys = {str(a) for a in early_paths}
    later_pool = [a for a in cells if str(a) not in early_keys]
    later_paths = rng.sample(later_pool, min(tracked_later, len(later_pool)))

    def later_sampler(generator: random.Random) -> list[Cell201Architecture]:
        while True:  # uniform over the raw space without the early cells' equivalence classes
            candidate = space.sample(generator)
            if str(space.canonical(candidate)) not in early_keys:
                return [candidate]

    record_every = record_every or max(1, trainer.steps_per_epoch // 2)
    curves = ForgettingCurves([str(a) for a in early_paths], [str(a) for a in later_paths],
                              switch_step=early_epochs * trainer.steps_per_epoch)

    def record(t: OneShotTrainer) -> None:
        if t.steps % record_every and t.steps != curves.switch_step:
            return
        curves.steps.append(t.steps)
        curves.epochs.append(t.epochs_done)
        curves.seconds.append(t.seconds)
        curves.early_accuracy.append([t.score(a) for a in early_paths])
        curves.later_accuracy.append([t.score(a) for a in later_paths])

    trainer.sampler = choice_of(early_paths)
    trainer.train(curves.switch_step, on_step=record)
    paused = copy.deepcopy(trainer.supernet.state_dict())  # the control: the supernet as it was at the switch
    trainer.sampler = later_sampler
    trainer.train(later_epochs * trainer.steps_per_epoch, on_step=record)
    trained = copy.deepcopy(trainer.supernet.state_dict())
    trainer.supernet.load_state_dict(paused)
    curves.paused_accuracy = [trainer.score(a) for a in early_paths]
    trainer.supernet.load_state_dict(trained)
    return curves
