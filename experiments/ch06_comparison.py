"""Chapter 06's fair comparison, with the notebook's settings or larger ones.

Every search strategy of the course on the course benchmark, under one budget in the benchmark's training seconds
(supernet searches charged for their counted multiply-accumulates at the benchmark machine's speed), over many
seeds: the table-based strategies (random search, REINFORCE, Q-learning, large-scale and regularized evolution,
GeNet's genetic algorithm, predictor-guided search, Hyperband) and the supernet searches (DARTS, GDAS on the
benchmark's cell space, one-shot + random sampling). Prints the ranked tables at the supernets' own cost and at the full
budget, with effect sizes and tests against random search (paired Wilcoxon on shared seeds, Holm-corrected), and
the wall time of the whole run.
``--out`` keeps every run (JSON) for plotting.

    python experiments/ch06_comparison.py                                    # the notebook's quick settings
    python experiments/ch06_comparison.py --seeds 20 --darts-epochs 30 --gdas-epochs 60 --spos-checkpoints 2 8 32
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import asdict

import numpy as np

from nascourse import compare
from nascourse.bench import Benchmark


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, default=20)
    parser.add_argument("--budget", type=float, default=100.0, help="training seconds per table-based search")
    parser.add_argument("--darts-epochs", type=int, default=6)
    parser.add_argument("--gdas-epochs", type=int, default=12)
    parser.add_argument("--spos-checkpoints", type=float, nargs="+", default=[2, 6])
    parser.add_argument("--spos-cells", type=int, default=12)
    parser.add_argument("--workers", type=int, default=None)
    parser.add_argument("--out", default=None)
    args = parser.parse_args()
    bench = Benchmark.load()
    start = time.perf_counter()
    jobs = [(compare.table_job, dict(method=m, seed=s, budget=args.budget))
            for m in compare.TABLE_METHODS for s in range(args.seeds)]
    jobs += [(compare.relaxation_job, dict(method=m, seed=s, epochs=e))
             for m, e in (("darts", args.darts_epochs), ("gdas", args.gdas_epochs)) for s in range(args.seeds)]
    jobs += [(compare.one_shot_job, dict(seed=s, checkpoints=tuple(args.spos_checkpoints), cells=args.spos_cells))
             for s in range(args.seeds)]
    runs = compare.run_jobs(jobs, workers=args.workers)
    wall = time.perf_counter() - start
    by_method: dict[str, list[compare.Run]] = {}
    for run in runs:
        by_method.setdefault(run.method, []).append(run)
    supernets = ("DARTS", "GDAS", "one-shot + random sampling")
    # the dearest supernet search's median cost: every supernet search has finished and returns its final cell
    small = max(float(np.median([run.spent for run in by_method[name]])) for name in supernets)
    rows = compare.compare_at(by_method, bench, small, families=compare.FAMILIES)
    print(compare.format_table(rows, f"\nbudget {small:.2f} training seconds (the supernets' own cost), "
                                     f"{args.seeds} seeds per method"))
    table_only = {name: group for name, group in by_method.items() if name not in supernets}
    rows = compare.compare_at(table_only, bench, args.budget, families=compare.FAMILIES)
    print(compare.format_table(rows, f"\nbudget {args.budget:.0f} training seconds, the table-based methods"))
    for name in supernets:
        spent = np.median([run.spent for run in by_method[name]])
        value = np.median([bench.mean_accuracy(run.architectures[-1], "test") for run in by_method[name]])
        print(f"{name}: its whole search spent {spent:.1f} s (median) and returned cells of median test accuracy {value:.4f}")
    print(f"\nwhole comparison: {len(jobs)} searches in {wall:.0f} s wall")
    if args.out:
        with open(args.out, "w") as handle:
            json.dump({"args": vars(args), "wall_seconds": wall, "runs": [asdict(r) for r in runs]}, handle)


if __name__ == "__main__":
    main()
