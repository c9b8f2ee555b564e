"""Incomplete training (survey Sec. 3.4.2) and beyond: cheaper estimates of how good a candidate is.

* ``ranking``: how to judge an estimate — Kendall's tau-b, Spearman, top-k hit rate — and the
  benchmark's rank consistency across epochs (MdeNAS);
* ``curves``: learning-curve extrapolation with an ensemble of parametric families (Domhan et al.);
* ``predictor``: ridge-regression performance prediction from the cell and the early curve
  (Baker et al.; PNAS's surrogate);
* ``halving``: successive halving, Hyperband and early-stopping random search on budgets of epochs;
* ``bohb``: BOHB, Hyperband's brackets with candidates from a TPE model of the good cells (Falkner et al.);
* ``proxies``: training-free scores of an untrained network (synflow, NASWOT, grad-norm, #params);
* ``nb201_scores``: the proxies (on NAS-Bench-201's real networks) and a cell-only predictor, scored
  against NAS-Bench-201's accuracies.
"""

from .bohb import BOHB, CategoricalKDE, TPEModel, fit_tpe
from .curves import FAMILIES, CurveFamily, CurveFit, Extrapolation, extrapolate, fit_curve, should_terminate
from .halving import (ExtrapolationRule, Hyperband, MedianStoppingRule, Rung, SuccessiveHalving, TableTraining,
                      early_stopping_search, hyperband_brackets, successive_halving_rungs)
from .nb201_scores import (DATA_FREE_PROXIES, CellPredictorReport, NB201ProxyReport, cell_features,
                           evaluate_cell_predictor, nb201_proxy_correlations, nb201_proxy_scores)
from .predictor import (PerformancePredictor, PredictorReport, RidgeRegression, architecture_features,
                        evaluate_predictor, fit_predictor)
from .proxies import PROXIES, ProxyReport, grad_norm, naswot, parameter_count, proxy_correlations, \
    score_architectures, synflow
from .ranking import RankConsistency, kendall_tau, rank_consistency, spearman, top_k_hit_rate

__all__ = [
    "BOHB", "CategoricalKDE", "TPEModel", "fit_tpe",
    "FAMILIES", "CurveFamily", "CurveFit", "Extrapolation", "extrapolate", "fit_curve", "should_terminate",
    "ExtrapolationRule", "Hyperband", "MedianStoppingRule", "Rung", "SuccessiveHalving", "TableTraining",
    "early_stopping_search", "hyperband_brackets", "successive_halving_rungs",
    "DATA_FREE_PROXIES", "CellPredictorReport", "NB201ProxyReport", "cell_features", "evaluate_cell_predictor",
    "nb201_proxy_correlations", "nb201_proxy_scores",
    "PerformancePredictor", "PredictorReport", "RidgeRegression", "architecture_features", "evaluate_predictor",
    "fit_predictor",
    "PROXIES", "ProxyReport", "grad_norm", "naswot", "parameter_count", "proxy_correlations", "score_architectures",
    "synflow",
    "RankConsistency", "kendall_tau", "rank_consistency", "spearman", "top_k_hit_rate",
]
