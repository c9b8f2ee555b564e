"""Comparing NAS methods fairly on the course benchmark (survey Sec. 4 and 5; chapter 06).

The survey's Sec. 5 asks for "baselines and shared protocols": methods compared in the same space, with the
same training pipeline, under the same budget, over many seeds. This package is that protocol for the course:

* **one unit of cost**, the benchmark's training seconds: what the build machine recorded for a candidate's
  training (CPU time of one thread). A search that trains here (a supernet) is charged the multiply-accumulates
  it counts (``nascourse.compute``) at the build machine's speed (``Benchmark.seconds_for``), never the seconds
  it took here: those depend on the machine, the count does not, so the comparison comes out the same on a
  laptop three times slower or a server three times faster;
* **what a search returns**, not what it saw: at each budget, the cell the search would hand over (its best by
  validation accuracy, or the cell a supernet derives), scored by the benchmark's mean *test* accuracy over its
  training seeds: the value of the cell, not of one lucky run of it;
* **many seeds, an effect size and a test**: per method, the median and quartiles over seeds, a bootstrap
  confidence interval of the median; against random search, the difference in mean accuracy with a bootstrap
  confidence interval, the Vargha-Delaney A (the probability that a run beats a run of random search), and a
  two-sided test with Holm's correction for comparing many methods. Runs of two methods that share a seed are
  paired (the same seed draws the same first cells and the same table lookups), so the test is then Wilcoxon's
  signed-rank test on the per-seed differences, else Mann-Whitney U. A test that is not significant does not
  show that two methods are equal: the interval of the difference says how large a difference the runs still
  allow.

The parts, from the bottom up:

* ``runs``: ``Run``, what a search returns after each amount of cost, and ``returned_on_grid``;
* ``jobs``: the searches (``table_job``, ``strategy_run``, ``relaxation_job``, ``one_shot_job``), the tables they
  run on (``load_table``, ``table_data``) and the methods compared, read from ``nascourse.registry``
  (``table_methods()``, ``family()``; ``TABLE_METHODS`` and ``FAMILIES`` hold them as registered at import);
* ``pool``: ``run_jobs`` runs the jobs in worker processes, one thread each, so a 2-core machine does two at a
  time; each worker loads the benchmark and the data once;
* ``report``: ``compare_at`` ranks and tests the methods at one budget, ``format_table`` prints the ranking,
  ``plot_returned`` draws the anytime curves.

The statistics (``bootstrap_interval``, ``holm``, the Vargha-Delaney A, the paired or unpaired test) are
``nascourse.stats``; the first two are re-exported here.
"""

from ..stats import bootstrap_interval, holm
from ..registry import family
from .jobs import (FAMILIES, TABLE_METHODS, TABLES, load_table, one_shot_job, relaxation_job, strategy_run,
                   table_data, table_job, table_methods)
from .pool import run_jobs
from .report import ComparisonRow, compare_at, format_table, plot_returned
from .runs import Run, returned_on_grid

__all__ = ["Run", "returned_on_grid", "bootstrap_interval", "holm", "ComparisonRow", "compare_at", "format_table",
           "plot_returned", "TABLE_METHODS", "FAMILIES", "table_methods", "family", "TABLES", "load_table", "table_data", "table_job",
           "strategy_run", "relaxation_job", "one_shot_job", "run_jobs"]
