"""Evaluation strategies: how a candidate gets its score (survey Fig. 1, "trained and ranked").

``TrainingEvaluator`` is the early-NAS way (survey Sec. 2): build the candidate from scratch,
train it on the training split for a fixed budget, and score it by validation accuracy.
Chapter 5 replaces it with cheaper evaluators (weight sharing, early stopping, proxies)
that return the same ``EvaluationResult``.

``final_evaluation`` is the last step of Fig. 1: the chosen architecture is trained again on
training + validation data and measured once on the test split, which no search may touch.
"""

from __future__ import annotations

import zlib
from dataclasses import asdict, dataclass
from typing import Any

import torch
from torch import nn

from .data import DatasetSplits
from .loop import EvaluationResult
from .spaces.base import SearchSpace
from .train import EpochRecord, count_parameters, train

__all__ = ["build_seeded", "TrainingEvaluator", "FinalReport", "final_evaluation", "architecture_seed"]


def architecture_seed(text: str, seed: int) -> int:
    """A seed for one architecture's initial weights: the same architecture gets the same
    start in any search and at any position, so results do not depend on the proposal order."""
    return (zlib.crc32(text.encode()) + 1_000_003 * seed) % 2**31


def build_seeded(space: SearchSpace, architecture: Any, data: DatasetSplits, seed: int) -> tuple[str, nn.Module, int]:
    """Validate ``architecture`` and build its network with initial weights fixed by (architecture, seed).

    Returns the architecture's string, the network, and the seed used (also good for the batch order).
    """
    architecture = space.as_architecture(architecture)
    text = space.encode(architecture)
    weights_seed = architecture_seed(text, seed)
    torch.manual_seed(weights_seed)
    return text, space.build(architecture, data.input_shape, data.num_classes), weights_seed


class TrainingEvaluator:
    """Train every candidate from scratch for ``epochs`` epochs; its score is the final validation accuracy."""

    def __init__(
        self,
        space: SearchSpace,
        data: DatasetSplits,
        epochs: int,
        batch_size: int = 64,
        learning_rate: float = 0.05,
        seed: int = 0,
    ):
        self.space = space
        self.data = data
        self.epochs = epochs
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.seed = seed

    def __repr__(self) -> str:
        return f"TrainingEvaluator({self.epochs} epochs on {self.data.name}, batch {self.batch_size})"

    def __call__(self, architecture: Any) -> EvaluationResult:
        _, model, seed = build_seeded(self.space, architecture, self.data, self.seed)
        result = train(
            model,
            self.data,
            epochs=self.epochs,
            batch_size=self.batch_size,
            learning_rate=self.learning_rate,
            seed=seed,
        )
        return EvaluationResult(
            accuracy=result.final_accuracy,
            cost_seconds=result.seconds,
            cost_epochs=float(result.epochs) + (1.0 if result.diverged else 0.0),  # the diverged epoch ran too
            parameters=count_parameters(model),
            status="diverged" if result.diverged else "ok",
            curve=[asdict(record) for record in result.curve],
        )


@dataclass
class FinalReport:
    """The one number a search reports at the end: accuracy on data the search never saw."""

    architecture: str
    test_accuracy: float
    parameters: int
    epochs: int
    seconds: float
    curve: list[EpochRecord]

    def __str__(self) -> str:
        return (
            f"{self.architecture}: test accuracy {self.test_accuracy:.3f} "
            f"({self.parameters:,} parameters, {self.epochs} epochs, {self.seconds:.1f} s)"
        )


def final_evaluation(
    space: SearchSpace,
    architecture: Any,
    data: DatasetSplits,
    epochs: int,
    batch_size: int = 64,
    learning_rate: float = 0.05,
    seed: int = 0,
) -> FinalReport:
    """Train ``architecture`` from scratch on train + validation, then measure it once on the test split.

    Its learning curve tracks test accuracy per epoch for the plot only; nothing may be chosen by it.
    """
    text, model, seed = build_seeded(space, architecture, data, seed)
    result = train(
        model,
        data,
        epochs=epochs,
        batch_size=batch_size,
        learning_rate=learning_rate,
        seed=seed,
        train_split=data.train_and_val(),
        eval_split=data.test,
    )
    return FinalReport(text, result.final_accuracy, count_parameters(model), result.epochs, result.seconds, result.curve)
