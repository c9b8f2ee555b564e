"""Learning-curve extrapolation: predict where a partial curve ends, stop runs that cannot win.

Survey Sec. 3.4.2: "[106] uses the probabilistic method to simulate the learning curve of the
deep neural network, and terminates the training of the poorly running model in advance.
However, it requires a long early training to accurately simulate and predict the learning
curve." Reference [106] is Domhan, Springenberg & Hutter (2015), "Speeding up Automatic
Hyperparameter Optimization of Deep Neural Networks by Extrapolation of Learning Curves".

Domhan et al. model the accuracy y after epoch x as a weighted combination of parametric
families f_k(x | theta_k) (11 of them), plus Gaussian noise, with a prior that the curve
increases and ends inside [0, 1]; they sample weights, parameters and noise with MCMC, and
stop a run when P(y(x_target) > y_best) < delta (delta = 0.05).

This module keeps the model and the decision rule and simplifies the inference, so that a
learner can follow every number:

* five of the families (``FAMILIES``: pow3, ilog2, exp3, log_power, janoschek, named as in the
  paper; ilog2 shifted by one epoch, log(x + 1) for the paper's log(x), so that it is finite at x = 1), each fitted alone by bounded least squares (``scipy.optimize.least_squares``,
  several starts); the bounds make each family increasing with an asymptote of at most 1;
* instead of fitting the weighted combination jointly (the paper's model: one likelihood for the sum
  of weighted families), each family is fitted alone and gets the weight of its approximate posterior
  probability, exp(-BIC/2) (Bayesian model averaging with the BIC);
  a fit that decreases between the last observed epoch and the target, or leaves [0, 1]
  there, gets weight 0 (Domhan's prior, applied as a filter);
* instead of sampling theta, the uncertainty of each family's prediction is the Laplace
  (delta-method) approximation around the least-squares fit, g^T (J^T J)^-1 g sigma^2 with
  g = df/dtheta at the target, plus the observation noise sigma^2. The prediction is the
  resulting mixture of Gaussians, one per family.

A family with p parameters needs more than p points to estimate its noise from residuals;
with ``noise_std`` given (e.g. the seed-to-seed spread of a benchmark) p points suffice, and a
family whose fit misses the points by far more than that noise (chi-square test, 99.9%) is
rejected rather than trusted.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable, Sequence

import numpy as np

__all__ = ["CurveFamily", "FAMILIES", "CurveFit", "Extrapolation", "fit_curve", "extrapolate", "should_terminate"]


@dataclass(frozen=True)
class CurveFamily:
    """A parametric learning curve y = f(x | theta), x the epoch (>= 1), y the accuracy."""

    name: str
    formula: str
    parameter_names: tuple[str, ...]
    function: Callable[[np.ndarray, np.ndarray], np.ndarray]  # (x: (n,), theta: (p,)) -> (n,)
    lower: tuple[float, ...]
    upper: tuple[float, ...]
    starts: tuple[tuple[float, ...], ...]  # initial guesses: least squares on these curves has local minima

    @property
    def size(self) -> int:
        return len(self.parameter_names)

    def __call__(self, x, theta) -> np.ndarray:
        return self.function(np.asarray(x, dtype=float), np.asarray(theta, dtype=float))


def _pow3(x, t):
    c, a, alpha = t
    return c - a * x ** (-alpha)


def _ilog2(x, t):
    # Domhan et al. write c - a / log(x); at the first epoch (x = 1) log(x) = 0 and that form is infinite, so the
    # course shifts it by one epoch: log(x + 1). Same shape, finite from the first point on.
    c, a = t
    return c - a / np.log(x + 1.0)


def _exp3(x, t):
    c, a, b = t
    return c - a * np.exp(-b * x)


def _log_power(x, t):
    # Domhan's a / (1 + (x / e^b)^c); increasing when c < 0. Written with exp/log to stay finite.
    a, b, c = t
    return a / (1.0 + np.exp(c * (np.log(x) - b)))


def _janoschek(x, t):
    alpha, beta, kappa, delta = t
    return alpha - (alpha - beta) * np.exp(-kappa * x ** delta)


FAMILIES: dict[str, CurveFamily] = {
    family.name: family
    for family in (
        CurveFamily("pow3", "c - a x^(-alpha)", ("c", "a", "alpha"), _pow3,
                    (0.0, 0.0, 0.0), (1.0, 5.0, 10.0), ((0.9, 0.5, 0.5), (1.0, 1.0, 2.0), (0.7, 0.2, 0.2))),
        CurveFamily("ilog2", "c - a / log(x + 1)", ("c", "a"), _ilog2,
                    (0.0, 0.0), (1.0, 5.0), ((0.9, 0.3), (1.0, 1.0))),
        CurveFamily("exp3", "c - a exp(-b x)", ("c", "a", "b"), _exp3,
                    (0.0, 0.0, 0.0), (1.0, 10.0, 10.0), ((0.9, 1.0, 0.5), (1.0, 2.0, 1.5), (0.7, 0.5, 0.1))),
        CurveFamily("log_power", "a / (1 + (x / e^b)^c)", ("a", "b", "c"), _log_power,
                    (0.0, -10.0, -10.0), (1.0, 10.0, 0.0), ((0.9, 0.0, -1.0), (1.0, 1.0, -0.5), (0.8, -1.0, -2.0))),
        CurveFamily("janoschek", "alpha - (alpha - beta) exp(-kappa x^delta)", ("alpha", "beta", "kappa", "delta"),
                    _janoschek, (0.0, -1.0, 0.0, 0.0), (1.0, 1.0, 10.0, 5.0),
                    ((0.9, 0.0, 0.5, 1.0), (1.0, 0.1, 0.2, 0.5), (0.8, -0.5, 1.0, 1.5))),
    )
}


@dataclass
class CurveFit:
    """One family fitted to one partial curve by least squares."""

    family: CurveFamily
    theta: np.ndarray  # (p,)
    rss: float  # residual sum of squares
    points: int  # n observed epochs
    noise_std: float  # sigma: from the residuals, or the value the caller gave
    covariance: np.ndarray  # (p, p): Laplace approximation sigma^2 (J^T J)^+ of theta's uncertainty

    @property
    def parameters(self) -> dict[str, float]:
        return dict(zip(self.family.parameter_names, self.theta.tolist()))

    @property
    def bic(self) -> float:
        """-2 log-likelihood (Gaussian noise sigma) + p log n: smaller is better."""
        return self.rss / self.noise_std ** 2 + self.points * math.log(2 * math.pi * self.noise_std ** 2) \
            + self.family.size * math.log(self.points)

    def predict(self, x) -> np.ndarray:
        """The fitted curve at epochs ``x``: (m,) -> (m,)."""
        return self.family(np.atleast_1d(np.asarray(x, dtype=float)), self.theta)

    def predict_std(self, x) -> np.ndarray:
        """Standard deviation of a new observation at ``x``: parameter uncertainty plus noise, (m,)."""
        x = np.atleast_1d(np.asarray(x, dtype=float))
        gradient = _jacobian(self.family, x, self.theta)  # (m, p)
        parameter_variance = np.einsum("mp,pq,mq->m", gradient, self.covariance, gradient)
        return np.sqrt(np.maximum(parameter_variance, 0.0) + self.noise_std ** 2)


def _jacobian(family: CurveFamily, x: np.ndarray, theta: np.ndarray) -> np.ndarray:
    """d f(x | theta) / d theta by central differences: (n,) -> (n, p)."""
    columns = []
    for i in range(family.size):
        step = 1e-6 * max(1.0, abs(theta[i]))
        up, down = theta.copy(), theta.copy()
        up[i] += step
        down[i] -= step
        columns.append((family(x, up) - family(x, down)) / (2 * step))
    return np.stack(columns, axis=1)


def _check_curve(epochs, accuracies) -> tuple[np.ndarray, np.ndarray]:
    y = np.asarray(accuracies, dtype=float)
    x = np.arange(1, len(y) + 1, dtype=float) if epochs is None else np.asarray(epochs, dtype=float)
    if y.ndim != 1 or x.shape != y.shape:
        raise ValueError(f"A curve is a 1-D sequence of accuracies with one epoch each; got shapes {x.shape}, {y.shape}.")
    if len(y) == 0:
        raise ValueError("The curve is empty: train at least one epoch before fitting it.")
    if not np.all(np.isfinite(y)) or not np.all(np.isfinite(x)):
        raise ValueError("The curve holds NaN or infinite values (a diverged run?); it cannot be extrapolated.")
    if np.any(x < 1) or np.any(np.diff(x) <= 0):
        raise ValueError(f"Epochs must be increasing and start at 1 or later; got {x.tolist()}.")
    return x, y


def fit_curve(accuracies: Sequence[float], family: str | CurveFamily, epochs: Sequence[float] | None = None,
              noise_std: float | None = None, min_noise: float = 1e-3) -> CurveFit:
    """Fit one family to a (partial) learning curve by bounded least squares from several starts.

    ``accuracies``: (n,) accuracy after each of ``epochs`` (default 1..n). Without ``noise_std``
    the noise is estimated from the residuals, sigma^2 = RSS / (n - p), which needs n > p; it is
    floored at ``min_noise`` so that a noise-free curve does not get infinite confidence.
    """
    family = FAMILIES[family] if isinstance(family, str) and family in FAMILIES else family
    if not isinstance(family, CurveFamily):
        raise ValueError(f"Unknown curve family {family!r}; known: {sorted(FAMILIES)}.")
    x, y = _check_curve(epochs, accuracies)
    n, p = len(y), family.size
    if n < p or (noise_std is None and n <= p):
        need = p if noise_std is not None else p + 1
        raise ValueError(f"{family.name} has {p} parameters: fitting it needs at least {need} points"
                         f"{'' if noise_std is not None else ' (or give noise_std)'}; the curve has {n}.")
    if noise_std is not None and noise_std <= 0:
        raise ValueError(f"noise_std must be positive, got {noise_std}.")
    lower, upper = np.array(family.lower), np.array(family.upper)
    from scipy.optimize import least_squares  # imported here: it adds seconds to every `import nascourse`

    best = None
    for start in family.starts:
        start = np.clip(np.array(start, dtype=float), lower + 1e-9, upper - 1e-9)
        result = least_squares(lambda theta: family(x, theta) - y, start, bounds=(lower, upper),
                               x_scale="jac", xtol=1e-12, ftol=1e-12, gtol=1e-12, max_nfev=2000)
        if best is None or result.cost < best.cost:
            best = result
    theta = best.x
    rss = float(np.sum((family(x, theta) - y) ** 2))
    sigma = noise_std if noise_std is not None else max(math.sqrt(rss / (n - p)), min_noise)
    jacobian = _jacobian(family, x, theta)
    covariance = sigma ** 2 * np.linalg.pinv(jacobian.T @ jacobian)  # pinv: a flat direction gets no variance
    return CurveFit(family, theta, rss, n, sigma, covariance)


@dataclass
class Extrapolation:
    """The ensemble's prediction of the accuracy at ``target_epoch``: a mixture of Gaussians."""

    target_epoch: float
    fits: list[CurveFit]
    weights: np.ndarray  # (families,): sums to 1
    means: np.ndarray  # (families,): each family's prediction at the target
    stds: np.ndarray  # (families,)
    rejected: dict[str, str] = field(default_factory=dict)  # family -> why it got no weight

    @property
    def mean(self) -> float:
        return float(np.sum(self.weights * self.means))

    @property
    def std(self) -> float:
        second_moment = np.sum(self.weights * (self.stds ** 2 + self.means ** 2))
        return float(math.sqrt(max(second_moment - self.mean ** 2, 0.0)))

    def probability_above(self, threshold: float) -> float:
        """P(y(target) > threshold) under the mixture."""
        from scipy.stats import norm

        return float(np.sum(self.weights * norm.sf(threshold, loc=self.means, scale=self.stds)))

    def summary(self) -> str:
        lines = [f"prediction at epoch {self.target_epoch:g}: {self.mean:.4f} +- {self.std:.4f}"]
        for fit, weight, mean, std in zip(self.fits, self.weights, self.means, self.stds):
            values = ", ".join(f"{k}={v:.3g}" for k, v in fit.parameters.items())
            lines.append(f"  {fit.family.name:10} w={weight:.3f}  {mean:.4f} +- {std:.4f}  ({values})")
        lines += [f"  {name:10} rejected: {why}" for name, why in self.rejected.items()]
        return "\n".join(lines)


def extrapolate(accuracies: Sequence[float], target_epoch: float, families: Sequence[str] | None = None,
                epochs: Sequence[float] | None = None, noise_std: float | None = None) -> Extrapolation:
    """Predict the accuracy at ``target_epoch`` from a partial curve with a weighted ensemble of families.

    ``accuracies``: (n,) accuracies after epochs 1..n (or ``epochs``). Families with too many
    parameters for the points available are skipped; if none is left, ``ValueError``.
    """
    x, y = _check_curve(epochs, accuracies)
    if not target_epoch > x[-1]:
        raise ValueError(f"target_epoch must lie after the last observed epoch {x[-1]:g}; got {target_epoch}.")
    names = list(FAMILIES) if families is None else list(families)
    unknown = [name for name in names if name not in FAMILIES]
    if unknown or not names:
        raise ValueError(f"Unknown curve families {unknown or names}; known: {sorted(FAMILIES)}.")
    fits, rejected = [], {}
    for name in names:
        try:
            fit = fit_curve(y, name, x, noise_std)
        except ValueError as error:
            rejected[name] = str(error)
            continue
        # with the noise given, a family that cannot pass within that noise of the points does not describe
        # this curve (a chi-square test on the residuals); with the noise estimated, a misfit widens sigma instead
        from scipy.stats import chi2

        if noise_std is not None and fit.rss / noise_std ** 2 > chi2.ppf(0.999, len(y)):
            rejected[name] = f"misses the observed points by far more than noise_std={noise_std:g}"
            continue
        # Domhan's prior: the curve keeps increasing and stays a valid accuracy up to the target
        ahead = fit.predict(np.linspace(x[-1], target_epoch, 20))
        if np.any(np.diff(ahead) < -1e-9) or ahead[-1] > 1.0 or ahead[-1] < 0.0:
            rejected[name] = "decreasing or outside [0, 1] before the target epoch"
            continue
        fits.append(fit)
    if not fits:
        raise ValueError(f"No curve family can extrapolate this curve ({len(y)} points):\n"
                         + "\n".join(f"  {k}: {v}" for k, v in rejected.items()))
    bic = np.array([fit.bic for fit in fits])
    weights = np.exp(-(bic - bic.min()) / 2)  # subtract the minimum: exp would underflow otherwise
    weights /= weights.sum()
    means = np.array([fit.predict(target_epoch)[0] for fit in fits])
    stds = np.array([fit.predict_std(target_epoch)[0] for fit in fits])
    return Extrapolation(float(target_epoch), fits, weights, means, stds, rejected)


def should_terminate(partial_curve: Sequence[float], best_so_far: float, target_epoch: float,
                     threshold: float = 0.05, families: Sequence[str] | None = None,
                     noise_std: float | None = None) -> bool:
    """Domhan et al.'s rule: stop this run if P(y(target_epoch) > best_so_far) < ``threshold``.

    ``partial_curve``: (n,) accuracies after epochs 1..n. Raises ``ValueError`` when no family can
    be fitted to so few points: the caller decides whether to keep training then.
    """
    if not 0 < threshold < 1:
        raise ValueError(f"threshold is a probability in (0, 1); got {threshold}.")
    if not math.isfinite(best_so_far):
        raise ValueError(f"best_so_far must be a finite accuracy; got {best_so_far}.")
    prediction = extrapolate(partial_curve, target_epoch, families, noise_std=noise_std)
    return prediction.probability_above(best_so_far) < threshold
