"""Predictor-guided search: sequential model-based optimisation (SMBO) with a performance predictor.

Survey Sec. 3.4.2 and Table 1 ("SMBO"): PNAS (Liu et al., 2018) "learns a predictor function ... Then use the
predictor to evaluate all candidate cells, and select top-k cells". The loop here is the simplest member of that
family, on the benchmark's cell space:

    evaluate `initial` random cells                      (the predictor needs examples)
    repeat:
        fit the predictor on every cell evaluated so far: one-hot cell -> validation accuracy
        draw `pool` random cells not evaluated yet, predict each one's accuracy
        evaluate the cell with the highest prediction, and add it to the examples

(The random start lasts until ``initial`` *distinct* cells, up to equivalence, have been told.)

The predictor is ``estimation.predictor``'s ridge regression on the one-hot operation per edge (PNAS uses an
LSTM or an MLP ensemble over a growing cell; a linear model on six edges is enough to learn which operations
help where). Simplification: PNAS expands cells block by block and trains the top K per step; this picks
one cell per step from a random pool, which makes the search an ask/tell strategy like the others.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ..estimation.predictor import RidgeRegression, architecture_features
from ..loop import EvaluationResult
from ..spaces.cell201 import Cell201Space
from .base import Strategy

__all__ = ["PredictorGuidedSearch"]


class PredictorGuidedSearch(Strategy):
    """Random cells first; then, each time, the predicted best of ``pool`` unseen random cells."""

    def __init__(self, space: Cell201Space, initial: int = 10, pool: int = 100, ridge: float = 1.0, seed: int = 0):
        if not isinstance(space, Cell201Space):
            raise TypeError(f"PredictorGuidedSearch predicts from a cell's operation per edge: give it a "
                            f"Cell201Space (the benchmark's space), not a {type(space).__name__}.")
        if initial < 2 or pool < 1:
            raise ValueError(f"Need initial >= 2 (the predictor's first examples) and pool >= 1; got {initial}, {pool}.")
        super().__init__(space, seed)
        self.initial, self.pool, self.ridge = initial, pool, ridge
        self.examples: dict[Any, float] = {}  # canonical cell -> its (latest) validation accuracy
        self.predictor: RidgeRegression | None = None
        self._features: dict[Any, np.ndarray] = {}

    def ask(self) -> Any:
        if len(self.examples) < self.initial:
            return self.space.sample(self.rng)
        cells = list(self.examples)
        new = [cell for cell in cells if cell not in self._features]
        if new:  # each example's one-hot row is computed once
            self._features.update(zip(new, architecture_features(self.space, new)))
        self.predictor = RidgeRegression(self.ridge).fit(
            np.stack([self._features[cell] for cell in cells]), np.array(list(self.examples.values())))
        candidates = []
        for _ in range(20 * self.pool):  # unseen cells; a space nearly exhausted falls back to seen ones
            cell = self.space.sample(self.rng)
            if self.space.canonical(cell) not in self.examples:
                candidates.append(cell)
            if len(candidates) == self.pool:
                break
        if not candidates:
            return self.space.sample(self.rng)
        predictions = self.predictor.predict(architecture_features(self.space, candidates))
        return candidates[int(np.argmax(predictions))]

    def tell(self, architecture: Any, result: EvaluationResult) -> None:
        # A failed candidate is an example too: the worst accuracy seen so far, so the predictor avoids its kind.
        accuracy = result.accuracy
        if math.isnan(accuracy):
            accuracy = min(self.examples.values(), default=0.0)
        self.examples[self.space.canonical(architecture)] = float(accuracy)
