"""BOHB: Hyperband's brackets, with new candidates drawn from a model of the good ones.

Falkner, Klein & Hutter, "BOHB: Robust and Efficient Hyperparameter Optimization at Scale" (ICML 2018),
Algorithm 2. Hyperband (``halving.py``) draws every bracket's candidates uniformly at random; BOHB keeps the
brackets, the rungs and the promotions exactly as they are, and replaces only that draw:

1. Every evaluation is an observation (x, y, b): the cell x, its accuracy y after budget b (epochs).
2. The model is built from the observations at the **largest budget that has enough of them**,
   |D_b| >= N_min + 2 with N_min = d + 1 (d: the number of categorical choices, six edges here). Until
   some budget has that many, every candidate is random: that is Hyperband.
3. TPE's split (Bergstra et al., 2011): sort D_b by accuracy; the best n_l = max(N_min, floor(q |D_b|))
   are "good", the rest "bad"; fit a kernel density to each, l(x) to the good and g(x) to the bad.
4. Draw ``samples`` candidates (N_s = 64) from l with its bandwidths widened by b_w = 3 (to explore),
   and propose the one that maximises l(x) / g(x): the expected improvement of TPE.
5. A fraction rho (1/3) of the candidates stays uniformly random, so that every cell keeps a chance.

**The density over a cell.** A cell is d categorical choices (one operation per edge). Each choice gets the
Aitchison-Aitken kernel of unordered categories, with bandwidth lambda in [0, (c - 1) / c]:

    k(x_j, x_ij) = 1 - lambda_j             if x_j == x_ij
                   lambda_j / (c_j - 1)     otherwise                 (c_j: the number of operations)

and l(x) = 1/n sum_i prod_j k(x_j, x_ij) over the n good cells (a product kernel, as BOHB's). Sampling from
l: pick one good cell, then keep each of its choices with probability 1 - lambda_j, else take one of the
other c_j - 1 operations uniformly, which is exactly a draw from that cell's kernel.

**Simplifications, said here and in chapter 05b.** BOHB's code selects bandwidths with statsmodels'
normal-reference rule; the course uses a stated rule of thumb that shrinks with the data as Scott's rule
does, lambda_j = (c_j - 1)/c_j * n^(-1/(d + 4)), floored at ``min_bandwidth``. The bad density's data are
all the observations below the good ones (the paper takes max(N_min, |D_b| - n_l) of them; the same once
|D_b| is large). Each bracket draws its candidates at its start, from the model as it stands then; the
paper's parallel version updates it while a bracket runs. Candidates of one bracket are distinct cells
(as Hyperband's are): a proposal equivalent to one already in the bracket gives way to the next best sample.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np

from ..loop import EvaluationResult, History
from ..spaces.base import SearchSpace
from ..spaces.cell201 import Cell201Architecture, Cell201Space
from .halving import BudgetedEvaluator, _run_rungs, hyperband_brackets

__all__ = ["CategoricalKDE", "TPEModel", "fit_tpe", "BOHB"]


@dataclass(frozen=True)
class CategoricalKDE:
    """A product of Aitchison-Aitken kernels over ``data`` (n cells x d choices, each an integer index)."""

    data: np.ndarray  # (n, d) integers: the choice of each observed cell in each dimension
    cardinalities: tuple[int, ...]  # c_j: the number of values dimension j can take
    bandwidths: np.ndarray  # (d,) lambda_j in [0, (c_j - 1) / c_j]

    def density(self, points: np.ndarray) -> np.ndarray:
        """l(x) for each row x of ``points`` (m, d): the mean over the data of prod_j k(x_j, x_ij)."""
        points = np.atleast_2d(np.asarray(points, dtype=int))
        counts = np.asarray(self.cardinalities, dtype=float)
        same = points[:, None, :] == self.data[None, :, :]  # (m, n, d)
        kernel = np.where(same, 1.0 - self.bandwidths, self.bandwidths / (counts - 1.0))
        return kernel.prod(axis=2).mean(axis=1)

    def sample(self, rng: np.random.Generator, count: int = 1, widen: float = 1.0) -> np.ndarray:
        """``count`` draws (count, d) from the density with each bandwidth multiplied by ``widen`` (at most
        (c - 1) / c, which is uniform): pick an observed cell, then move each choice with probability lambda_j
        to one of the other c_j - 1 values, uniformly (adding 1..c_j - 1 modulo c_j)."""
        counts = np.asarray(self.cardinalities)
        centres = self.data[rng.integers(len(self.data), size=count)]
        bandwidths = np.minimum(widen * self.bandwidths, (counts - 1) / counts)
        move = rng.random(centres.shape) < bandwidths
        return np.where(move, (centres + rng.integers(1, counts, size=centres.shape)) % counts, centres)


def _bandwidths(n: int, cardinalities: Sequence[int], min_bandwidth: float) -> np.ndarray:
    counts = np.asarray(cardinalities, dtype=float)
    rule = (counts - 1.0) / counts * n ** (-1.0 / (len(counts) + 4))
    return np.clip(rule, min_bandwidth, (counts - 1.0) / counts)


@dataclass(frozen=True)
class TPEModel:
    """The good and bad densities at one budget, and how many observations each was fitted to."""

    budget: int
    good: CategoricalKDE
    bad: CategoricalKDE

    def ratio(self, points: np.ndarray) -> np.ndarray:
        """l(x) / g(x): TPE's expected improvement is monotone in it."""
        return self.good.density(points) / np.maximum(self.bad.density(points), 1e-300)


def fit_tpe(points: np.ndarray, accuracies: Sequence[float], cardinalities: Sequence[int], top_fraction: float,
            min_points: int, budget: int = 0, min_bandwidth: float = 1e-3) -> TPEModel:
    """Split the observations into the best max(min_points, floor(top_fraction * n)) and the rest; fit a density
    to each. A NaN accuracy (a diverged run) counts as the worst."""
    points = np.asarray(points, dtype=int)
    scores = np.array([-math.inf if math.isnan(a) else a for a in accuracies])
    if len(points) != len(scores):
        raise ValueError(f"Give one accuracy per observed cell; got {len(points)} cells and {len(scores)} accuracies.")
    good_count = max(min_points, math.floor(top_fraction * len(points)))
    if len(points) - good_count < 1:
        raise ValueError(f"{len(points)} observations leave none for the bad density after the {good_count} good "
                         f"ones; wait for more observations (BOHB waits for min_points + 2).")
    order = np.argsort(-scores, kind="stable")  # best first; ties keep the earlier observation first
    good, bad = points[order[:good_count]], points[order[good_count:]]
    return TPEModel(budget,
                    CategoricalKDE(good, tuple(cardinalities), _bandwidths(len(good), cardinalities, min_bandwidth)),
                    CategoricalKDE(bad, tuple(cardinalities), _bandwidths(len(bad), cardinalities, min_bandwidth)))


class BOHB:
    """Hyperband over budgets ``min_epochs`` .. ``max_epochs`` whose brackets draw candidates from a TPE model.

    With ``rho = 1`` (every candidate random) it is ``Hyperband`` with the same seed, trial for trial. After a run,
    ``candidates`` lists every candidate proposed, in order, ``proposals`` how each was drawn (``"model"`` or
    ``"random"``), and ``models`` the model used for each bracket (None before there were enough observations)."""

    def __init__(self, space: SearchSpace, max_epochs: int = 3, eta: int = 3, min_epochs: int = 1, seed: int = 0,
                 rho: float = 1 / 3, top_fraction: float = 0.15, samples: int = 64, bandwidth_factor: float = 3.0,
                 min_points: int | None = None, min_bandwidth: float = 1e-3):
        if not isinstance(space, Cell201Space):
            raise ValueError(f"BOHB's model is a density over categorical choices, one per edge of a cell: it needs a "
                             f"cell space (Cell201Space, the benchmark's); got {type(space).__name__}.")
        if not 0.0 <= rho <= 1.0:
            raise ValueError(f"rho is the fraction of random candidates, in [0, 1]; got {rho!r}.")
        if not 0.0 < top_fraction < 1.0:
            raise ValueError(f"top_fraction (q) is the share of observations called good, in (0, 1); got {top_fraction!r}.")
        if not isinstance(samples, int) or samples < 1:
            raise ValueError(f"samples (N_s) must be a positive integer; got {samples!r}.")
        if not bandwidth_factor >= 1.0:
            raise ValueError(f"bandwidth_factor (b_w) widens the good density to explore: give a number >= 1; "
                             f"got {bandwidth_factor!r}.")
        if not 0.0 < min_bandwidth < 0.5:
            raise ValueError(f"min_bandwidth must lie in (0, 0.5); got {min_bandwidth!r}.")
        self.space, self.eta, self.seed = space, eta, seed
        self.brackets = hyperband_brackets(max_epochs, eta, min_epochs)  # raises on bad budgets, as Hyperband does
        self.choices = tuple(space.operations)
        self.dimensions = len(space.sample(random.Random(0)).operations)
        self.min_points = self.dimensions + 1 if min_points is None else min_points
        if not isinstance(self.min_points, int) or self.min_points < 1:
            raise ValueError(f"min_points (N_min) must be a positive integer; got {min_points!r}.")
        self.rho, self.top_fraction, self.samples = rho, top_fraction, samples
        self.bandwidth_factor, self.min_bandwidth = bandwidth_factor, min_bandwidth
        self.rng = random.Random(seed)  # the random candidates: the same stream as Hyperband's
        self.model_rng = np.random.default_rng([seed, 1807_01774])  # rho's coin and the model's samples
        self.observations: dict[int, list[tuple[np.ndarray, float]]] = {}  # budget -> [(cell, accuracy)]
        self.candidates: list[Cell201Architecture] = []
        self.proposals: list[str] = []
        self.models: list[TPEModel | None] = []

    # --- the cell as a vector of choices -------------------------------------------------------------------
    def vector(self, architecture: Cell201Architecture) -> np.ndarray:
        return np.array([self.choices.index(op) for op in architecture.operations], dtype=int)

    def architecture(self, vector: Sequence[int]) -> Cell201Architecture:
        return Cell201Architecture(tuple(self.choices[int(i)] for i in vector))

    # --- the model ------------------------------------------------------------------------------------------
    def model(self) -> TPEModel | None:
        """The model at the largest budget with at least min_points + 2 observations, or None."""
        ready = [b for b, seen in self.observations.items() if len(seen) >= self.min_points + 2]
        if not ready:
            return None
        budget = max(ready)
        seen = self.observations[budget]
        return fit_tpe(np.array([x for x, _ in seen]), [y for _, y in seen], [len(self.choices)] * self.dimensions,
                       self.top_fraction, self.min_points, budget, self.min_bandwidth)

    def _key(self, architecture: Any) -> str:
        return str(self.space.canonical(architecture))

    def _random(self, taken: set[str]) -> Cell201Architecture:
        for _ in range(100_000):
            architecture = self.space.sample(self.rng)
            if self._key(architecture) not in taken:
                return architecture
        raise ValueError(f"Could not draw a new distinct cell from {self.space.name}; the bracket asks for too many.")

    def _from_model(self, model: TPEModel, taken: set[str]) -> Cell201Architecture | None:
        draws = model.good.sample(self.model_rng, self.samples, self.bandwidth_factor)
        ratios = model.ratio(draws)
        for i in np.argsort(-ratios, kind="stable"):  # the best ratio first; a cell already in the bracket gives way
            architecture = self.architecture(draws[i])
            if self._key(architecture) not in taken:
                return architecture
        return None

    def propose(self, count: int) -> list[Cell201Architecture]:
        """A bracket's ``count`` distinct candidates: each random with probability rho (or while no model), else
        the best of ``samples`` draws from the good density by l(x) / g(x)."""
        model = self.model()
        self.models.append(model)
        chosen, taken = [], set()
        for _ in range(count):
            architecture = None
            if model is not None and self.model_rng.random() >= self.rho:  # with probability 1 - rho
                architecture = self._from_model(model, taken)
            self.proposals.append("random" if architecture is None else "model")
            if architecture is None:
                architecture = self._random(taken)
            taken.add(self._key(architecture))
            chosen.append(architecture)
            self.candidates.append(architecture)
        return chosen

    def _observing(self, evaluator: BudgetedEvaluator) -> BudgetedEvaluator:
        def evaluate(architecture: Any, epochs: int) -> EvaluationResult:
            result = evaluator(architecture, epochs)
            self.observations.setdefault(epochs, []).append((self.vector(architecture), float(result.accuracy)))
            return result
        return evaluate

    def run(self, evaluator: BudgetedEvaluator, max_seconds: float | None = None, iterations: int = 1) -> History:
        """Hyperband's loop (``Hyperband.run``): all brackets ``iterations`` times, or until ``max_seconds`` of
        recorded training; every evaluation is also an observation for the model."""
        if max_seconds is None and (not isinstance(iterations, int) or iterations < 1):
            raise ValueError(f"iterations must be a positive integer; got {iterations!r}.")
        if max_seconds is not None and not max_seconds > 0:
            raise ValueError(f"max_seconds must be positive; got {max_seconds}.")
        history, observed, iteration = History(), self._observing(evaluator), 0
        while True:
            for bracket in self.brackets:
                architectures = self.propose(bracket.rungs[0].candidates)
                _run_rungs(self.space, observed, architectures, bracket.rungs, self.eta, history, max_seconds)
                if max_seconds is not None and history.trials and history.trials[-1].cumulative_seconds >= max_seconds:
                    return history
            iteration += 1
            if max_seconds is None and iteration >= iterations:
                return history
