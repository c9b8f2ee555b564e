"""Chapter 02, section 8: regularized evolution against random search on the course's benchmark, many seeds.

For each budget (trials) and each of ``--searches`` seeds, runs aging evolution (P = 20, S = 5, the notebook's
setting) and random search with the same evaluator seed, then prints, per budget:

* the median and quartiles of the test accuracy (mean of the benchmark's seeds) of the architecture each search
  returns (its best by validation accuracy), and the share of the table it beats;
* head to head on the same seed: how often evolution returned the better, the same, or the worse architecture;
* the same for the non-regularized variant that removes the worst instead of the oldest (``aging=False``).

Table lookups are fast: the whole script takes about a minute.

    python experiments/ch02_evolution.py --searches 100
"""

from __future__ import annotations

import argparse

import numpy as np

from nascourse import RandomSearch, run_search
from nascourse.bench import Benchmark, BenchmarkEvaluator
from nascourse.strategies import RegularizedEvolution


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bench", default=None, help="benchmark file (default: the course's data/bench file)")
    parser.add_argument("--searches", type=int, default=100)
    parser.add_argument("--budgets", type=int, nargs="+", default=[50, 100, 200, 400])
    args = parser.parse_args()

    bench = Benchmark.load(args.bench)
    space = bench.space
    test = np.nanmean(bench.test_accuracy[:, :, -1], axis=1)
    print(bench)
    print(f"test accuracy in the table: median {np.median(test):.3f}, best {test.max():.3f}")
    seed_gap = np.abs(bench.test_accuracy[:, 0, -1] - bench.test_accuracy[:, 1, -1])
    good = test >= np.quantile(test, 0.9)
    print(f"seed noise: median |seed 0 - seed 1| test accuracy among the best 10% of cells: {np.median(seed_gap[good]):.3f}")
    strategies = {
        "evolution (aging)": lambda seed: RegularizedEvolution(space, 20, 5, seed=seed),
        "evolution (remove worst)": lambda seed: RegularizedEvolution(space, 20, 5, seed=seed, aging=False),
        "random search": lambda seed: RandomSearch(space, seed=seed),
    }
    for budget in args.budgets:
        found = {name: [] for name in strategies}
        for seed in range(args.searches):
            for name, make in strategies.items():
                history = run_search(space, make(seed), BenchmarkEvaluator(bench, rng_seed=seed), trials=budget,
                                     progress=False)
                found[name].append(test[bench.row(history.best().architecture)])
        print(f"\nbudget {budget} trials, {args.searches} searches each")
        for name, values in found.items():
            q1, median, q3 = np.percentile(values, [25, 50, 75])
            print(f"  {name:26} returned architecture's test accuracy: median {median:.4f} "
                  f"(quartiles {q1:.4f}-{q3:.4f}), beats {(test < median).mean():.1%} of the table")
        baseline = np.array(found["random search"])
        for name in ("evolution (aging)", "evolution (remove worst)"):
            values = np.array(found[name])
            print(f"  {name} vs random search, same seed: better {int((values > baseline).sum())}, "
                  f"same {int((values == baseline).sum())}, worse {int((values < baseline).sum())}")


if __name__ == "__main__":
    main()
