"""nascourse: the library behind the course on Neural Architecture Search.

The names a notebook needs, following the NAS loop of the survey's Fig. 1:

* run settings:   ``setup``, ``get_profile``, ``select_device``, ``seed_everything``
* data:           ``load_dataset``
* search space:   ``ChainSpace`` (Sec. 2, Eq. 1 and 2); chapter 02's ``DartsCellSpace``, ``Genotype`` (Sec. 3.1)
* strategy:       ``RandomSearch``; chapter 01's ``NASRL``, ``MetaQNN``, ``LargeScaleEvolution``, ``GeNet``;
                  chapter 02's ``RegularizedEvolution``
* evaluation:     ``TrainingEvaluator``, ``final_evaluation``, ``train``
* the loop:       ``run_search``, ``History``
* plots:          ``plot_anytime``, ``draw_chain``, ``draw_cell``
"""

from .data import DatasetUnavailableError, load_dataset
from .evaluation import FinalReport, TrainingEvaluator, final_evaluation
from .loop import EvaluationResult, History, Trial, run_search
from .profile import PROFILES, Profile, RunContext, get_profile, seed_everything, select_device, setup
from .spaces import ArchitectureError, ChainArchitecture, ChainLayer, ChainSpace, DartsCellSpace, Genotype
from .strategies import GeNet, LargeScaleEvolution, MetaQNN, NASRL, RandomSearch, RegularizedEvolution, Strategy
from .train import count_parameters, train
from .viz import draw_cell, draw_chain, plot_anytime

__version__ = "0.1.0"

__all__ = [
    "ArchitectureError",
    "ChainArchitecture",
    "ChainLayer",
    "ChainSpace",
    "DartsCellSpace",
    "DatasetUnavailableError",
    "EvaluationResult",
    "FinalReport",
    "GeNet",
    "Genotype",
    "History",
    "LargeScaleEvolution",
    "MetaQNN",
    "NASRL",
    "PROFILES",
    "Profile",
    "RandomSearch",
    "RegularizedEvolution",
    "RunContext",
    "Strategy",
    "TrainingEvaluator",
    "Trial",
    "count_parameters",
    "draw_cell",
    "draw_chain",
    "final_evaluation",
    "get_profile",
    "load_dataset",
    "plot_anytime",
    "run_search",
    "seed_everything",
    "select_device",
    "setup",
    "train",
]
