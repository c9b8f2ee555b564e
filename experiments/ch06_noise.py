"""Chapter 06, section 4: can a comparison tell search strategies apart? Noise, seeds and a second benchmark.

Every discrete strategy of the course, 100 candidates per search, ``--seeds`` search seeds per method, on:

* the digits table with one training run per lookup (the course's usual search signal);
* the digits table with the mean of its four runs per lookup (noise-free with respect to the table);
* NAS-Bench-201 CIFAR-10 (read from ``--nb201`` or ``$NASCOURSE_NB201``; skipped when it is not there).

Per table and method it prints the returned cell's test accuracy (mean, standard deviation, median), the mean
difference to random search with its 95% bootstrap interval, Vargha-Delaney A, and the paired Wilcoxon test
(Holm-corrected over the methods of the table).

    python experiments/ch06_noise.py                    # 100 seeds, as the notebook
    python experiments/ch06_noise.py --seeds 200 --first-seed 1000
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np

from nascourse import compare
from nascourse.bench import BenchmarkError


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, default=100)
    parser.add_argument("--first-seed", type=int, default=0)
    parser.add_argument("--candidates", type=int, default=100)
    parser.add_argument("--nb201", default=None, help="folder of NAS-Bench-201's CSVs (default: $NASCOURSE_NB201)")
    parser.add_argument("--workers", type=int, default=None)
    args = parser.parse_args()
    if args.nb201:
        os.environ["NASCOURSE_NB201"] = args.nb201  # the worker processes read it too
    settings = {"digits, one run per lookup": dict(table="digits", average=1),
                "digits, mean of 4 runs per lookup": dict(table="digits", average=4)}
    try:
        compare.load_table("nb201-cifar10")
        settings["NAS-Bench-201, CIFAR-10"] = dict(table="nb201-cifar10")
    except BenchmarkError as missing:
        print(f"NAS-Bench-201 skipped: {missing}\n")
    started = time.perf_counter()
    for name, options in settings.items():
        methods = [m for m in compare.TABLE_METHODS if m != "Hyperband"
                   and not (options["table"] != "digits" and m == "GeNet genetic algorithm")]
        jobs = [(compare.table_job, dict(method=m, seed=args.first_seed + s, budget=args.candidates, unit="trials",
                                         **options)) for m in methods for s in range(args.seeds)]
        flat = compare.run_jobs(jobs, workers=args.workers, description=name)
        runs = {m: [run for run in flat if run.method == m] for m in methods}
        table = compare.load_table(options["table"])
        rows = compare.compare_at(runs, table, args.candidates, families=compare.FAMILIES)
        print(compare.format_table(rows, f"{name}: {args.candidates} candidates, seeds {args.first_seed}.."
                                         f"{args.first_seed + args.seeds - 1}"))
        for row in rows:
            values = compare.returned_on_grid(runs[row.method], table, [args.candidates])[:, 0]
            print(f"   {row.method:30} mean {values.mean():.4f}  sd {values.std(ddof=1):.4f}  median {row.median:.4f}")
        print()
    print(f"{time.perf_counter() - started:.0f} s wall")


if __name__ == "__main__":
    main()
