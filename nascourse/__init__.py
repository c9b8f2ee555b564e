"""nascourse: the library behind the course on Neural Architecture Search.

The names a notebook needs, following the NAS loop of the survey's Fig. 1:

* run settings:   ``setup``, ``get_profile``, ``select_device``, ``seed_everything``
* data:           ``load_dataset``
* search space:   ``ChainSpace`` (Sec. 2, Eq. 1 and 2); chapter 01's ``GeNetSpace``; chapter 02's
                  ``DartsCellSpace``, ``Genotype``, ``Skeleton``, ``build_network`` (Sec. 3.1) and the benchmark's
                  ``Cell201Space``
* strategy:       ``RandomSearch``; chapter 01's ``NASRL``, ``MetaQNN``, ``LargeScaleEvolution``, ``GeNet``;
                  chapter 02's ``RegularizedEvolution``; chapter 05's ``PredictorGuidedSearch``
* evaluation:     ``TrainingEvaluator``, ``final_evaluation``, ``train``; the tabular benchmark
                  ``Benchmark`` (its lookups: ``BenchmarkEvaluator``; missing files: ``BenchmarkError``)
* the loop:       ``run_search``, ``History``
* plots:          ``plot_anytime``, ``draw_chain``, ``draw_cell``

The subpackages follow the survey: ``spaces``, ``strategies``, ``relaxation`` (Sec. 3.2), ``recycling``
(Sec. 3.3), ``weight_sharing`` and ``estimation`` (Sec. 3.4), ``bench``; ``compare`` runs fair comparisons,
``registry`` lists every method and space, ``stats`` holds the statistics, ``cli`` the command line.
"""

from .bench import Benchmark, BenchmarkError, BenchmarkEvaluator
from .data import DatasetUnavailableError, load_dataset
from .evaluation import FinalReport, TrainingEvaluator, final_evaluation
from .loop import EvaluationResult, History, Trial, run_search
from .profile import PROFILES, Profile, RunContext, get_profile, seed_everything, select_device, setup
from .spaces import (ArchitectureError, Cell201Space, ChainArchitecture, ChainLayer, ChainSpace, DartsCellSpace,
                     GeNetSpace, Genotype, Skeleton, build_network)
from .strategies import (GeNet, LargeScaleEvolution, MetaQNN, NASRL, PredictorGuidedSearch, RandomSearch,
                         RegularizedEvolution, Strategy)
from .train import count_parameters, train
from .viz import draw_cell, draw_chain, plot_anytime

__version__ = "0.1.0"

__all__ = [
    "ArchitectureError",
    "Benchmark",
    "BenchmarkError",
    "BenchmarkEvaluator",
    "Cell201Space",
    "ChainArchitecture",
    "ChainLayer",
    "ChainSpace",
    "DartsCellSpace",
    "DatasetUnavailableError",
    "EvaluationResult",
    "FinalReport",
    "GeNet",
    "GeNetSpace",
    "Genotype",
    "History",
    "LargeScaleEvolution",
    "MetaQNN",
    "NASRL",
    "PROFILES",
    "PredictorGuidedSearch",
    "Profile",
    "RandomSearch",
    "RegularizedEvolution",
    "RunContext",
    "Skeleton",
    "Strategy",
    "TrainingEvaluator",
    "Trial",
    "build_network",
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
