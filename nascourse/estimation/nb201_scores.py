"""Training-free proxies and the performance predictor, scored against NAS-Bench-201 (beyond the survey).

The course's own table is small and noisy; NAS-Bench-201 (``nascourse.bench.nb201``) gives every one of its
15,625 cells a final accuracy averaged over training seeds, the ground truth the proxies' papers used.

* ``nb201_proxy_correlations`` scores a random sample of cells with the proxies of ``proxies.py``, each
  computed on NAS-Bench-201's *real* network of the cell (``table.space.build``: C = 16, N = 5, ReLU-Conv-BN,
  full-size inputs, the dataset's classes), and rank-correlates the scores with the table's **test**
  accuracy (the truth Abdelfattah et al. 2021 used; the validation accuracy's Spearman is reported too).
  Synflow needs no data (one all-ones image) and the parameter count none at all, so both are real here.
  NASWOT and grad-norm need a minibatch of the dataset's images, which the course does not have offline:
  they are refused unless the caller passes ``data=(images, labels)``.
  The cost is *counted*, not timed: the multiply-accumulates each proxy runs (``MacCounter``, a pass that
  records gradients counted as forward + backward), per cell, comparable with the cell's training cost.
* ``evaluate_cell_predictor`` is PNAS's architecture-only surrogate (``predictor.py``'s ridge regression on
  the one-hot operation of each of the 6 edges, 5 operations): trained on ``train_size`` random cells'
  validation accuracy, it ranks the other cells, scored against their test accuracy, over random splits.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np
import torch

from ..bench.nb201 import DATASETS, NB201Table
from ..compute import MacCounter
from ..stats import kendall_tau, spearman, top_k_hit_rate
from .predictor import RidgeRegression, architecture_features
from .proxies import _proxy, parameter_count, synflow

__all__ = ["DATA_FREE_PROXIES", "nb201_proxy_scores", "NB201ProxyReport", "nb201_proxy_correlations",
           "cell_features", "CellPredictorReport", "evaluate_cell_predictor"]

DATA_FREE_PROXIES = (synflow, parameter_count)  # the proxies that never look at an image's content


def _name(proxy: str | Callable) -> str:
    return proxy if isinstance(proxy, str) else getattr(proxy, "__name__", repr(proxy))


def _batch(table: NB201Table, function: Callable, name: str, data) -> tuple[torch.Tensor, torch.Tensor | None]:
    """The (images, labels) a proxy gets: the caller's ``data``, or a blank image of the right shape for the
    data-free proxies (synflow reads only its shape). ValueError, saying why, for a proxy that needs data."""
    spec = DATASETS[table.dataset]
    shape = (3, spec.resolution, spec.resolution)
    if data is None:
        if function not in DATA_FREE_PROXIES:
            raise ValueError(
                f"{name} needs a minibatch of real {table.dataset} images (and labels): it reads how the network "
                f"responds to data, and NAS-Bench-201's results come without the images, which the course does not "
                f"download. Pass data=(images, labels) with images of shape (B, {', '.join(map(str, shape))}), "
                f"or use the data-free proxies synflow and parameter_count.")
        return torch.zeros((1, *shape)), None
    images, labels = data
    if not isinstance(images, torch.Tensor) or tuple(images.shape[1:]) != shape or len(images) == 0:
        raise ValueError(f"data's images must have shape (B, {', '.join(map(str, shape))}) for "
                         f"{table.dataset}; got {getattr(images, 'shape', type(images).__name__)}.")
    if labels is not None and len(labels) and not 0 <= int(labels.min()) <= int(labels.max()) < spec.classes:
        raise ValueError(f"data's labels must lie in 0..{spec.classes - 1} for {table.dataset}.")
    return images, labels


def nb201_proxy_scores(table: NB201Table, rows: Sequence[int], proxy: str | Callable = "synflow", seed: int = 0,
                       data: tuple[torch.Tensor, torch.Tensor | None] | None = None,
                       device: str | torch.device = "cpu") -> tuple[np.ndarray, np.ndarray]:
    """Score the cells of ``rows`` on NAS-Bench-201's real networks: (n rows) -> scores (n,), MACs counted (n,).

    Each network is built after ``torch.manual_seed(seed)`` (one initialisation per seed, as
    ``score_architectures``) at the dataset's input size and classes. Synflow scores the freshly built
    network in place (its BatchNorm-free float64 form), which saves the copy; the result is the same."""
    function = _proxy(proxy)
    images, labels = _batch(table, function, _name(proxy), data)
    images, labels = images.to(device), None if labels is None else labels.to(device)
    spec = DATASETS[table.dataset]
    scores, macs = np.empty(len(rows)), np.zeros(len(rows))
    for i, row in enumerate(rows):
        torch.manual_seed(seed)
        model = table.space.build(table.architectures[row], tuple(images.shape[1:]), spec.classes).to(device)
        with MacCounter() as counter:
            if function is synflow:
                scores[i] = synflow(model, images, in_place=True)
            else:
                scores[i] = function(model, images, labels)
        macs[i] = counter.macs
    return scores, macs


def _rankable(scores: np.ndarray) -> np.ndarray:
    """Scores with every non-finite value (a NaN, NASWOT's -inf) moved just below the finite ones: ranked last."""
    finite = np.isfinite(scores)
    floor = np.min(scores[finite], initial=0.0) - 1.0
    return np.where(finite, scores, floor)


@dataclass
class NB201ProxyReport:
    """One proxy against NAS-Bench-201's final accuracies (mean over its training seeds) on a sample of cells."""

    proxy: str
    dataset: str
    architectures: int  # cells scored
    spearman: float  # against the test accuracy, as Abdelfattah et al. (2021)
    kendall: float  # against the test accuracy
    top10_hit_rate: float  # of the 10 best cells by test accuracy, the share the proxy ranks in its top 10
    validation_spearman: float  # against the validation accuracy
    macs_per_cell: float  # mean multiply-accumulates counted to score one cell (0 for the parameter count)
    lowest_scores: int  # cells at the proxy's lowest value (e.g. synflow 0: the output ignores the input)

    def line(self) -> str:
        return (f"{self.proxy:16} Spearman {self.spearman:6.3f} (validation {self.validation_spearman:6.3f})  "
                f"Kendall {self.kendall:6.3f}  top-10 hit {self.top10_hit_rate:.2f}  "
                f"{self.macs_per_cell / 1e6:6.1f} M MACs per cell  ({self.architectures} cells, {self.dataset})")


def nb201_proxy_correlations(table: NB201Table, proxies: Sequence[str | Callable] = ("synflow", "parameter_count"),
                             sample_size: int = 100, seed: int = 0,
                             data: tuple[torch.Tensor, torch.Tensor | None] | None = None,
                             device: str | torch.device = "cpu") -> list[NB201ProxyReport]:
    """Score ``sample_size`` random cells (drawn with ``seed``) with each proxy; rank-correlate with the table.

    Non-finite scores rank last. Proxies that need images are refused up front (ValueError) unless ``data``
    is given. Each cell costs a network build and, for synflow, one float64 pass: 100 cells by default keeps a
    notebook cell well under a minute on a CPU (the measurements: ``benchmarks/RESULTS.md``)."""
    if not 10 <= sample_size <= len(table):
        raise ValueError(f"sample_size must lie in 10..{len(table)}; got {sample_size}.")
    for proxy in proxies:  # refuse before any network is built
        _batch(table, _proxy(proxy), _name(proxy), data)
    rows = sorted(random.Random(seed).sample(range(len(table)), sample_size))
    test, validation = table.test_accuracy[rows], table.val_accuracy[rows]
    reports = []
    for proxy in proxies:
        scores, macs = nb201_proxy_scores(table, rows, proxy, seed, data, device)
        ranked = _rankable(scores)
        reports.append(NB201ProxyReport(
            _name(proxy), table.dataset, sample_size, spearman(ranked, test), kendall_tau(ranked, test),
            top_k_hit_rate(ranked, test, 10), spearman(ranked, validation), float(macs.mean()),
            int(np.sum(ranked == ranked.min()))))
    return reports


# ------------------------------------------------------------------------------------------- the predictor
def cell_features(table: NB201Table, rows: Sequence[int] | None = None, canonical: bool = True) -> np.ndarray:
    """One-hot operation per edge of the table's cells: (n rows) -> (n, 6 edges x 5 operations).

    By default each cell's canonical form (``predictor.architecture_features``: equivalent cells get equal
    features, dead edges become ``none``); ``canonical=False`` encodes the exact cell as NAS-Bench-201 built it.
    On CIFAR-10 the canonical form ranks better from few training cells (Spearman 0.71 against 0.59 with 100)."""
    rows = range(len(table)) if rows is None else rows
    return architecture_features(table.space, [table.architectures[r] for r in rows], canonical)


@dataclass
class CellPredictorReport:
    """A ridge predictor on the cell alone, trained on validation accuracy, ranking held-out cells by test accuracy."""

    dataset: str
    train_size: int
    repeats: int
    seed: int
    spearman: float  # mean over the splits, predictions vs the held-out cells' test accuracy
    spearman_std: float  # spread over the splits
    kendall: float
    top10_hit_rate: float
    parameters_spearman: float  # the baseline: parameter count vs the same held-out cells' test accuracy

    def line(self) -> str:
        return (f"train {self.train_size:>4} cells: Spearman {self.spearman:.3f} (+-{self.spearman_std:.3f} over "
                f"{self.repeats} splits, seed {self.seed}), Kendall {self.kendall:.3f}, top-10 hit "
                f"{self.top10_hit_rate:.2f}; parameter count on the same cells {self.parameters_spearman:.3f}")


def evaluate_cell_predictor(table: NB201Table, train_size: int = 100, repeats: int = 10, seed: int = 0,
                            ridge: float = 1.0, canonical: bool = True) -> CellPredictorReport:
    """Fit ``RidgeRegression`` on ``train_size`` random cells' validation accuracy; rank all the other cells.

    Each of ``repeats`` splits is a fresh permutation from ``numpy.random.default_rng(seed)``, so a seed repeats
    the whole report. Kendall's tau-b over the ~15,000 held-out cells uses scipy (O(n log n))."""
    from scipy.stats import kendalltau  # imported here: it adds time to every `import nascourse`

    if not 2 <= train_size <= len(table) - 10:
        raise ValueError(f"train_size must lie in 2..{len(table) - 10} to leave cells to test on; got {train_size}.")
    if repeats < 1:
        raise ValueError(f"repeats must be at least 1; got {repeats}.")
    features = cell_features(table, canonical=canonical)
    rng = np.random.default_rng(seed)
    rho, tau, hits, baseline = [], [], [], []
    for _ in range(repeats):
        order = rng.permutation(len(table))
        train, test = order[:train_size], order[train_size:]
        model = RidgeRegression(ridge).fit(features[train], table.val_accuracy[train])
        guess, truth = model.predict(features[test]), table.test_accuracy[test]
        rho.append(spearman(guess, truth))
        tau.append(float(kendalltau(guess, truth).statistic))
        hits.append(top_k_hit_rate(guess, truth, 10))
        baseline.append(spearman(table.parameters[test], truth))
    return CellPredictorReport(table.dataset, train_size, repeats, seed, float(np.mean(rho)), float(np.std(rho)),
                               float(np.mean(tau)), float(np.mean(hits)), float(np.mean(baseline)))
