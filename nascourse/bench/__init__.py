"""The course's own tabular benchmark over a NAS-Bench-201-style cell space (survey Sec. 3.1, 4).

``Benchmark.load()`` reads the table shipped in ``data/bench/``; ``build_benchmark`` (or
``python -m nascourse bench build``) rebuilds it.
"""

from .build import Protocol, build_benchmark
from .table import Benchmark, BenchmarkError, BenchmarkEvaluator, BenchmarkRecord, spearman, win_probability

__all__ = ["Benchmark", "BenchmarkError", "BenchmarkEvaluator", "BenchmarkRecord", "Protocol", "build_benchmark", "spearman",
           "win_probability"]
