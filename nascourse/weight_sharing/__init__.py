"""Weight sharing (survey Sec. 3.4): one supernet trains the weights of every cell of the benchmark's space.

* ``one_shot``: the supernet that runs one architecture as a single path, BatchNorm recalibration,
  weight inheritance into the stand-alone network;
* ``spos``: training the shared weights on uniformly sampled paths (SPOS) or FairNAS's fair paths;
* ``evolution``: searching the trained supernet, SPOS's evolutionary search or random sampling (Bender et al.,
  Li & Talwalkar) at the same number of evaluations;
* ``enas``: ENAS's LSTM controller, trained with REINFORCE on shared-weight rewards; its policy recorded per epoch;
* ``ranking``: how well shared-weight accuracies rank cells like the benchmark, over training time
  (Sciuto et al. 2020; FairNAS), against one yardstick (each seed's target the mean of the other seeds);
* ``forgetting``: multi-model forgetting (Benyahia et al. 2019; Zhang et al. 2020), measured against a supernet
  paused at the switch.

Scoring a path (recalibration and a validation pass) is compute: ``OneShotTrainer.scoring_macs`` counts it.
"""

from .enas import ENAS
from .evolution import SearchResult, crossover, evolutionary_search, mutate, random_sampling_search
from .forgetting import ForgettingCurves, multi_model_forgetting
from .one_shot import OneShotSupernet, live_architecture, path_accuracy, recalibrate_batchnorm, standalone_network
from .ranking import RankingQuality, rank_agreement, ranking_quality
from .spos import SAMPLINGS, OneShotTrainer, fair_paths, uniform_paths

__all__ = [
    "OneShotSupernet", "live_architecture", "recalibrate_batchnorm", "standalone_network", "path_accuracy",
    "OneShotTrainer", "SAMPLINGS", "uniform_paths", "fair_paths",
    "evolutionary_search", "random_sampling_search", "mutate", "crossover", "SearchResult",
    "ENAS", "RankingQuality", "rank_agreement", "ranking_quality", "ForgettingCurves", "multi_model_forgetting",
]
