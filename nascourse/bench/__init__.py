"""The course's own tabular benchmark over a NAS-Bench-201-style cell space (survey Sec. 3.1, 4).

``Benchmark.load()`` reads the table shipped in ``data/bench/``; ``build_benchmark`` (or
``python -m nascourse bench build``) rebuilds it. ``NB201Table`` reads NAS-Bench-201's results (``nb201``),
the literature's table of the same cell space, and answers searches the same way. The rank statistics the
chapters measure the table with (``spearman``, ``win_probability``) live in ``nascourse.stats``.
"""

from .build import Protocol, build_benchmark
from .nb201 import NB201Evaluator, NB201Space, NB201Table
from .table import Benchmark, BenchmarkError, BenchmarkEvaluator, BenchmarkRecord

__all__ = ["Benchmark", "BenchmarkError", "BenchmarkEvaluator", "BenchmarkRecord", "NB201Evaluator", "NB201Space",
           "NB201Table", "Protocol", "build_benchmark"]
