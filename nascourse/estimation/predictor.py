"""Performance prediction: learn to guess the final accuracy from the architecture and an early curve.

Survey Sec. 3.4.2: "[20] ... builds a set of standard frequentist regression models, and obtains
the corresponding simple features from the network architecture, hyperparameters and early
learning curve. Use these features to train the frequentist regression model, and then predict
the final verification set performance of the network architecture with early training
experience. Performance prediction is also used in PNAS [36] ... it learns a predictor
function ... Then use the predictor to evaluate all candidate cells, and select top-k cells".

[20] is Baker, Gupta, Raskar & Naik (2017), "Accelerating Neural Architecture Search using
Performance Prediction"; [36] is PNAS (Liu et al., 2018), whose surrogate sees the cell only.
Here both are one model with two kinds of features:

* the architecture: one-hot operation per edge of the Cell201 cell, (6 x |operations|) values;
* the early curve: validation accuracy after epochs 1..k of the candidate's own training run
  (k = ``epochs_seen``; k = 0 gives PNAS's architecture-only surrogate).

Simplification: Baker et al. compare several regressors (nu-SVR with linear and RBF kernels,
random forests) and include first and second differences of the curve; we use ridge regression
in closed form — transparent, one line of linear algebra — and leave out the differences,
which a linear model can already form from the accuracies themselves.

    w = (X^T X + lambda I)^-1 X^T y     on standardised features, intercept not penalised

The question a predictor must answer is whether it ranks held-out architectures better than
the cheapest baseline, the accuracy after epoch k itself (``evaluate_predictor`` reports both).
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np

from ..bench.table import Benchmark
from ..spaces.cell201 import EDGES, Cell201Space
from ..stats import kendall_tau, spearman, top_k_hit_rate

__all__ = ["RidgeRegression", "architecture_features", "PerformancePredictor", "fit_predictor",
           "PredictorReport", "evaluate_predictor"]


class RidgeRegression:
    """Least squares with an L2 penalty, solved in closed form. X: (n, d), y: (n,)."""

    def __init__(self, ridge: float = 1.0):
        if ridge < 0:
            raise ValueError(f"ridge must be >= 0, got {ridge}.")
        self.ridge = ridge
        self.weights: np.ndarray | None = None  # (d,), on standardised features
        self.intercept = 0.0

    def fit(self, x: np.ndarray, y: np.ndarray) -> "RidgeRegression":
        x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
        if x.ndim != 2 or y.shape != (len(x),) or len(x) < 2:
            raise ValueError(f"fit needs X of shape (n, d) and y of shape (n,) with n >= 2; got {x.shape}, {y.shape}.")
        if not (np.all(np.isfinite(x)) and np.all(np.isfinite(y))):
            raise ValueError("fit: features and targets must be finite (drop diverged runs first).")
        # standardise so one lambda treats every feature alike; a constant column gets scale 1 (and weight 0)
        self.mean, self.scale = x.mean(axis=0), x.std(axis=0)
        self.scale[self.scale == 0] = 1.0
        z = (x - self.mean) / self.scale
        self.intercept = float(y.mean())  # centred targets: the intercept is the mean, never shrunk
        self.weights = np.linalg.solve(z.T @ z + self.ridge * np.eye(z.shape[1]), z.T @ (y - self.intercept))
        return self

    def predict(self, x: np.ndarray) -> np.ndarray:
        if self.weights is None:
            raise RuntimeError("Call fit before predict.")
        x = np.asarray(x, dtype=float)
        if x.ndim != 2 or x.shape[1] != len(self.weights):
            raise ValueError(f"predict needs X of shape (n, {len(self.weights)}); got {x.shape}.")
        return (x - self.mean) / self.scale @ self.weights + self.intercept


def architecture_features(space: Cell201Space, architectures: Sequence[Any], canonical: bool = True) -> np.ndarray:
    """One-hot operation per edge: (n architectures) -> (n, 6 * len(space.operations)).

    Each architecture is taken in its canonical form, so equivalent cells get equal features; with
    ``canonical=False`` the exact cell's operations are encoded (dead edges included, as a table that
    trained every exact cell, like NAS-Bench-201, built them)."""
    operations = space.operations
    features = np.zeros((len(architectures), len(EDGES) * len(operations)))
    for row, architecture in enumerate(architectures):
        cell = space.canonical(architecture) if canonical else space.as_architecture(architecture)
        for edge, op in enumerate(cell.operations):
            features[row, edge * len(operations) + operations.index(op)] = 1.0
    return features


class PerformancePredictor:
    """Predict the final validation accuracy of benchmark rows from their cell and first ``epochs_seen`` epochs."""

    def __init__(self, bench: Benchmark, epochs_seen: int, seed_index: int = 0, ridge: float = 1.0,
                 use_architecture: bool = True):
        if not 0 <= epochs_seen < bench.protocol.epochs:
            raise ValueError(f"epochs_seen must lie in 0..{bench.protocol.epochs - 1} (fewer than the "
                             f"{bench.protocol.epochs} epochs whose end it predicts); got {epochs_seen}.")
        if not 0 <= seed_index < len(bench.seeds):
            raise ValueError(f"seed_index must lie in 0..{len(bench.seeds) - 1}; got {seed_index}.")
        if not use_architecture and epochs_seen == 0:
            raise ValueError("With no architecture features and no epochs seen, the predictor has nothing to go on.")
        self.bench, self.epochs_seen, self.seed_index = bench, epochs_seen, seed_index
        self.use_architecture = use_architecture
        self.model = RidgeRegression(ridge)

    def features(self, rows: Sequence[int]) -> np.ndarray:
        """(n rows) -> (n, features): one-hot cell (unless disabled), then accuracy after epochs 1..k."""
        rows = self._rows(rows)
        parts = []
        if self.use_architecture:
            parts.append(architecture_features(self.bench.space, [self.bench.architectures[r] for r in rows]))
        if self.epochs_seen:
            parts.append(self.bench.val_accuracy[rows, self.seed_index, :self.epochs_seen])
        return np.concatenate(parts, axis=1)

    def targets(self, rows: Sequence[int]) -> np.ndarray:
        """(n,): what the predictor learns: the final validation accuracy of the same training run."""
        return self.bench.val_accuracy[self._rows(rows), self.seed_index, -1]

    def fit(self, rows: Sequence[int]) -> "PerformancePredictor":
        rows = self._rows(rows)
        keep = np.isfinite(self.targets(rows)) & np.all(np.isfinite(self.features(rows)), axis=1)
        self.model.fit(self.features(rows[keep]), self.targets(rows[keep]))
        return self

    def predict(self, rows: Sequence[int]) -> np.ndarray:
        """(n,) predicted final validation accuracies of benchmark ``rows``."""
        return self.model.predict(self.features(rows))

    def _rows(self, rows: Sequence[int]) -> np.ndarray:
        rows = np.asarray(rows, dtype=int).reshape(-1)
        if rows.size and (rows.min() < 0 or rows.max() >= len(self.bench)):
            raise ValueError(f"Rows must lie in 0..{len(self.bench) - 1}; got {rows.min()}..{rows.max()}.")
        return rows


def fit_predictor(bench: Benchmark, train_rows: Sequence[int], epochs_seen: int, seed_index: int = 0,
                  ridge: float = 1.0, use_architecture: bool = True) -> PerformancePredictor:
    """Fit a ridge predictor on the fully trained ``train_rows`` (their curves and final accuracies)."""
    return PerformancePredictor(bench, epochs_seen, seed_index, ridge, use_architecture).fit(train_rows)


@dataclass
class PredictorReport:
    """Held-out ranking quality, averaged over random train/test splits (and their spread)."""

    train_size: int
    epochs_seen: int
    spearman: float  # predictor vs the mean final accuracy of the OTHER seeds (no run the predictor read)
    kendall: float
    top10_hit_rate: float
    baseline_spearman: float  # accuracy after epoch k (k >= 1) vs the same target; NaN for k = 0
    spearman_std: float
    spearman_mean_target: float  # predictor vs the final accuracy averaged over all seeds (less noisy truth)

    def line(self) -> str:
        return (f"train {self.train_size:>4}, epochs seen {self.epochs_seen}: Spearman {self.spearman:.3f} "
                f"(+-{self.spearman_std:.3f}), Kendall {self.kendall:.3f}, top-10 hit {self.top10_hit_rate:.2f}; "
                f"epoch-{self.epochs_seen} accuracy alone: {self.baseline_spearman:.3f}; "
                f"vs mean-of-seeds final: {self.spearman_mean_target:.3f}")


def evaluate_predictor(bench: Benchmark, train_size: int, epochs_seen: int, repeats: int = 10, seed: int = 0,
                       ridge: float = 1.0, use_architecture: bool = True) -> PredictorReport:
    """Fit on ``train_size`` random rows, rank the others; repeat with ``repeats`` splits (and training seeds).

    The predictor learns from one training run (seed) per repeat; its ranking of the held-out rows is scored
    against the mean final accuracy of the table's OTHER seeds, a target that shares no run with the curves it
    reads (chapter 05a's yardstick; the epoch-k baseline is scored against the same target)."""
    if not 2 <= train_size <= len(bench) - 10:
        raise ValueError(f"train_size must lie in 2..{len(bench) - 10} to leave rows to test on; got {train_size}.")
    rng = random.Random(seed)
    rho, tau, hits, base, rho_mean = [], [], [], [], []
    for repeat in range(repeats):
        rows = list(range(len(bench)))
        rng.shuffle(rows)
        train_rows, test_rows = np.array(rows[:train_size]), np.array(rows[train_size:])
        seed_index = repeat % len(bench.seeds)  # each repeat reads another training run of the table
        predictor = fit_predictor(bench, train_rows, epochs_seen, seed_index, ridge, use_architecture)
        others = np.delete(bench.val_accuracy[:, :, -1], seed_index, axis=1).mean(axis=1)
        truth = others[test_rows]
        keep = np.isfinite(truth) & np.all(np.isfinite(predictor.features(test_rows)), axis=1)
        test_rows, truth = test_rows[keep], truth[keep]
        guess = predictor.predict(test_rows)
        rho.append(spearman(guess, truth))
        tau.append(kendall_tau(guess, truth))
        hits.append(top_k_hit_rate(guess, truth, 10))
        rho_mean.append(spearman(guess, bench.final_validation()[test_rows]))
        if epochs_seen:
            base.append(spearman(bench.val_accuracy[test_rows, seed_index, epochs_seen - 1], truth))
    return PredictorReport(train_size, epochs_seen, float(np.mean(rho)), float(np.mean(tau)), float(np.mean(hits)),
                           float(np.mean(base)) if base else float("nan"), float(np.std(rho)),
                           float(np.mean(rho_mean)))
