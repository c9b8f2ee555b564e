"""Chapter 01's comparison on the tabular benchmark, with more seeds and budgets than the notebook runs.

For each method (random search, NAS-RL, MetaQNN, Large-scale Evolution) and each budget, runs the search
with seeds 0..N-1 on the benchmark and prints the best validation accuracy found within the training
seconds the cheapest run spent (median and quartiles over seeds), the seed-averaged accuracy of the cell
each search would return, for both the chance that a run beats a run of random search, the share of
repeated proposals, and the mean accuracy of the first and last 30 proposals.

    python experiments/ch01_bench_comparison.py                       # the shipped benchmark, 20 seeds
    python experiments/ch01_bench_comparison.py --bench /tmp/tiny.json.gz --seeds 10 --trials 150 300
"""

import argparse
import time

import numpy as np

import nascourse
from nascourse.bench import Benchmark, BenchmarkEvaluator
from nascourse.stats import win_probability
from nascourse.strategies import LargeScaleEvolution, MetaQNN, NASRL, RandomSearch
from nascourse.viz import anytime_on_grid


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bench", default=None, help="benchmark file (default: the shipped one)")
    parser.add_argument("--seeds", type=int, default=20, help="seeds per method, from 0 (default 20)")
    parser.add_argument("--trials", type=int, nargs="+", default=[150], help="trials per run (default 150)")
    args = parser.parse_args()
    bench = Benchmark.load(args.bench)
    space = bench.space
    print(bench.summary())
    final = bench.final_validation()
    for trials in args.trials:
        methods = {
            "random search": lambda s: RandomSearch(space, seed=s),
            "NAS-RL": lambda s: NASRL(space, seed=s),
            "MetaQNN": lambda s: MetaQNN(space, trials=trials, seed=s),
            "Large-scale Evolution": lambda s: LargeScaleEvolution(space, population_size=10, weight_inheritance=False, seed=s),
        }
        runs = {}
        for name, make in methods.items():
            start = time.perf_counter()
            runs[name] = [nascourse.run_search(space, make(s), BenchmarkEvaluator(bench, rng_seed=s), trials=trials,
                                               progress=False) for s in range(args.seeds)]
            print(f"  ({name}: {time.perf_counter() - start:.1f} s of search overhead)")
        budget = min(h.trials[-1].cumulative_seconds for histories in runs.values() for h in histories)
        seen = {name: anytime_on_grid(h, np.array([budget]))[:, 0] for name, h in runs.items()}

        handed = {name: np.array([bench.returned_accuracy(h, budget) for h in histories]) for name, histories in runs.items()}
        print(f"\n{trials} trials per run, {args.seeds} seeds, budget {budget:.0f} s of recorded training; "
              f"table best {np.nanmax(final):.3f}, median cell {np.nanmedian(final):.3f}")
        print(f"{'method':22} {'seen':>6} {'quartiles':>13} {'P(>rs)':>7} {'returned':>9} {'P(>rs)':>7} "
              f"{'repeats':>8} {'first 30':>9} {'last 30':>8}")
        for name in methods:
            q1, q3 = np.percentile(seen[name], [25, 75])
            repeats = np.mean([1 - len({t.architecture for t in h}) / len(h) for h in runs[name]])
            early = np.nanmean(np.concatenate([h.accuracies()[:30] for h in runs[name]]))
            late = np.nanmean(np.concatenate([h.accuracies()[-30:] for h in runs[name]]))
            print(f"{name:22} {np.median(seen[name]):>6.3f} {f'{q1:.3f}-{q3:.3f}':>13} "
                  f"{win_probability(seen[name], seen['random search']):>7.2f} {np.median(handed[name]):>9.3f} "
                  f"{win_probability(handed[name], handed['random search']):>7.2f} {repeats:>8.0%} {early:>9.3f} {late:>8.3f}")

if __name__ == "__main__":
    main()
