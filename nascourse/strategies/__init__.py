"""Search strategies: how the next candidate is chosen (survey Fig. 1)."""

from .base import Strategy
from .evolution import LargeScaleEvolution, WeightInheritingEvaluator
from .genet import GeNet
from .metaqnn import MetaQNN
from .nas_rl import NASRL
from .predictor_guided import PredictorGuidedSearch
from .random_search import RandomSearch
from .regularized_evolution import RegularizedEvolution

__all__ = ["Strategy", "RandomSearch", "NASRL", "MetaQNN", "LargeScaleEvolution", "WeightInheritingEvaluator", "GeNet", "RegularizedEvolution",
           "PredictorGuidedSearch"]
