"""Chapter 05's "training to convergence?" measurements on the course benchmark, with more seeds than the notebook.

Prints, in order:
1. rank consistency (MdeNAS): Spearman/Kendall between accuracy after epoch k and the final accuracy;
2. performance prediction (Baker et al., PNAS): held-out Spearman of a ridge predictor by training-set
   size and epochs seen, against the accuracy after epoch k alone;
3. training-free proxies: Spearman/Kendall against the table over random samples of cells, and time;
4. searches at equal recorded training time, over many seeds: random search, early stopping (median rule;
   Domhan's extrapolation rule), successive halving, Hyperband, BOHB: the table's accuracy of the cell each
   would return, and the chance a run beats a run of random search; then BOHB against Hyperband and random
   search, paired by seed (test accuracy of the returned cell, mean difference, 95% bootstrap interval, Wilcoxon);
5. (with --curves N) learning-curve extrapolation on N cells really trained for --curve-epochs epochs.

    python experiments/ch05_estimation.py                    # about a minute on 2 cores
    python experiments/ch05_estimation.py --parts 4 --seeds 20 --trials 30     # searches only, small budget
    python experiments/ch05_estimation.py --parts 4 --seeds 100                # BOHB's paired tests (chapter 05b)
    python experiments/ch05_estimation.py --parts --curves 6 --curve-epochs 15  # curve extrapolation only
"""

import argparse
import random
import time

import numpy as np
import torch

from nascourse import RandomSearch, run_search
from nascourse.bench import Benchmark, BenchmarkEvaluator
from nascourse.data import load_dataset
from nascourse.estimation import (BOHB, ExtrapolationRule, Hyperband, MedianStoppingRule, SuccessiveHalving, TableTraining,
                                  early_stopping_search, evaluate_predictor, extrapolate, proxy_correlations,
                                  rank_consistency)
from nascourse.loop import History
from nascourse.stats import difference_test, win_probability
from nascourse.train import train


def searches(bench: Benchmark, seeds: int, trials: int) -> None:
    space = bench.space
    start = time.perf_counter()
    random_runs = [run_search(space, RandomSearch(space, seed=s), BenchmarkEvaluator(bench, rng_seed=s), trials,
                              progress=False) for s in range(seeds)]
    print(f"  (random search: {time.perf_counter() - start:.1f} s to run {seeds} seeds)")
    budget = float(np.median([h[-1].cumulative_seconds for h in random_runs]))
    methods = {
        # each runs until it has spent the budget (a few candidates more than needed are cheap on the table)
        "early stop (median)": lambda s: early_stopping_search(space, TableTraining(bench, rng_seed=s), 3 * trials,
                                                               MedianStoppingRule(), seed=s),
        "early stop (Domhan)": lambda s: early_stopping_search(space, TableTraining(bench, rng_seed=s), 3 * trials,
                                                               ExtrapolationRule(3), decision_epochs=(2,), seed=s),
        "successive halving": lambda s: _repeated_halving(bench, s, budget),
        "Hyperband": lambda s: Hyperband(space, max_epochs=3, eta=3, seed=s).run(TableTraining(bench, rng_seed=s),
                                                                                  max_seconds=budget),
        "BOHB": lambda s: BOHB(space, max_epochs=3, eta=3, seed=s).run(TableTraining(bench, rng_seed=s),
                                                                        max_seconds=budget),
    }
    runs = {"random search": random_runs}
    for name, run in methods.items():
        start = time.perf_counter()
        runs[name] = [run(s) for s in range(seeds)]
        print(f"  ({name}: {time.perf_counter() - start:.1f} s to run {seeds} seeds)")
    final = bench.final_validation()
    print(f"\n4. searches, {seeds} seeds; budget = random search's {trials} trials = {budget:.0f} s of recorded training "
          f"(table best {final.max():.3f}, median {np.median(final):.3f})")
    print(f"{'method':22} " + " ".join(f"{f'{f:.0%} budget':>19}" for f in (0.25, 0.5, 1.0))
          + f" {'P(>rs) at 100%':>15} {'fully trained':>14}")
    baseline = None
    for name, histories in runs.items():
        cells = []
        for fraction in (0.25, 0.5, 1.0):
            values = np.array([bench.returned_accuracy(h, fraction * budget) for h in histories])
            q1, q3 = np.percentile(values, [25, 75])
            cells.append(f"{np.median(values):.4f} [{q1:.3f}-{q3:.3f}]")
        if baseline is None:
            baseline = values
        full = np.mean([sum(t.ok and t.cumulative_seconds <= budget for t in h) for h in histories])
        print(f"{name:22} " + " ".join(f"{c:>19}" for c in cells) + f" {win_probability(values, baseline):>15.2f}"
              f" {full:>14.1f}")
    print("(median [quartiles] over seeds of the table's mean-over-seeds final validation accuracy of the cell each "
          "search returns; 'fully trained': cells trained to 3 epochs within the budget)")
    test = {name: np.array([bench.returned_accuracy(h, budget, split="test") for h in histories])
            for name, histories in runs.items()}
    print(f"\npaired by seed at the full budget ({seeds} seeds; test accuracy of the returned cell, mean of the table's "
          "seeds): difference [95% bootstrap interval], Wilcoxon p, Vargha-Delaney A")
    for name, against in (("BOHB", "Hyperband"), ("BOHB", "random search"), ("Hyperband", "random search")):
        effect = difference_test(test[name], list(range(seeds)), test[against], list(range(seeds)))
        print(f"  {name} - {against}: {effect['difference']:+.4f} [{effect['low']:+.4f}, {effect['high']:+.4f}], "
              f"p = {effect['p']:.3f}, A = {win_probability(test[name], test[against]):.2f}")


def _repeated_halving(bench: Benchmark, seed: int, budget: float) -> History:
    """Successive halving of 9 cells (9 at 1 epoch, the best 3 continued to 3 epochs), repeated until the budget
    is spent."""
    training, history, round_ = TableTraining(bench, rng_seed=seed), History(), 0
    while not history.trials or history[-1].cumulative_seconds < budget:
        SuccessiveHalving(bench.space, candidates=9, min_epochs=1, max_epochs=3, eta=3,
                          seed=seed * 100_003 + round_).run(training, history=history)
        round_ += 1
    return history


def curves(count: int, epochs: int, seed: int) -> None:
    bench_space = Benchmark.load().space
    data = load_dataset("digits")
    rng = random.Random(seed)
    cells = [a for a in bench_space.unique_architectures() if "conv3x3" in a.operations]
    chosen = rng.sample(cells, count)
    print(f"\n5. learning-curve extrapolation: {count} cells trained {epochs} epochs (cosine schedule), "
          f"predict epoch {epochs} from the first k")
    observed = (3, 5, 8, epochs // 2 + 3)
    errors = {k: [] for k in observed}
    coverage = {k: [] for k in observed}
    for cell in chosen:
        torch.manual_seed(seed)
        model = bench_space.build(cell, data.input_shape, data.num_classes)
        result = train(model, data, epochs=epochs, batch_size=32, learning_rate=0.1, seed=seed)
        curve = [r.val_accuracy for r in result.curve]
        line = []
        for k in observed:
            try:
                prediction = extrapolate(curve[:k], epochs)
            except ValueError:
                line.append(f"k={k}: no fit")
                continue
            errors[k].append(prediction.mean - curve[-1])
            coverage[k].append(abs(prediction.mean - curve[-1]) <= 2 * prediction.std)
            line.append(f"k={k}: {prediction.mean:.3f}+-{prediction.std:.3f}")
        print(f"  {str(cell):60} final {curve[-1]:.3f}; " + "; ".join(line))
    for k in observed:
        if errors[k]:
            e = np.array(errors[k])
            print(f"  k={k:>2}: mean error {e.mean():+.3f}, mean |error| {np.abs(e).mean():.3f}, "
                  f"truth within 2 std in {np.mean(coverage[k]):.0%} of cells")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bench", default=None, help="benchmark file (default: the shipped one)")
    parser.add_argument("--seeds", type=int, default=10, help="seeds per search method (default 10)")
    parser.add_argument("--trials", type=int, default=100, help="random-search trials that set the budget (100)")
    parser.add_argument("--proxy-samples", type=int, default=200, help="cells per proxy measurement (200)")
    parser.add_argument("--curves", type=int, default=0, help="cells to train for curve extrapolation (0: skip)")
    parser.add_argument("--curve-epochs", type=int, default=20)
    parser.add_argument("--parts", type=int, nargs="*", default=[1, 2, 3, 4], help="which of parts 1-4 to run")
    args = parser.parse_args()
    torch.set_num_threads(1)
    bench = Benchmark.load(args.bench)
    print(bench.summary(), "\n")

    if 1 in args.parts:
        print("1.", rank_consistency(bench).table())
        print(rank_consistency(bench, target="mean").table())
    if 2 in args.parts:
        predictors(bench)
    if 3 in args.parts:
        print(f"\n3. training-free proxies vs the table's final validation accuracy (mean over seeds), "
              f"{args.proxy_samples} random cells, 3 samples")
        for seed in range(3):
            for report in proxy_correlations(bench, sample_size=args.proxy_samples, seed=seed):
                print(f"   sample {seed}: {report.line()}")
    if 4 in args.parts:
        searches(bench, args.seeds, args.trials)
    if args.curves:
        curves(args.curves, args.curve_epochs, seed=0)


def predictors(bench: Benchmark) -> None:
    print("\n2. performance prediction: ridge on one-hot cell + accuracy after epochs 1..k, 20 random splits")
    for train_size in (50, 100, 200, 400):
        for epochs_seen in (0, 1, 2):
            print("  ", evaluate_predictor(bench, train_size, epochs_seen, repeats=20).line())
    for epochs_seen in (1, 2):
        print("   curve only:", evaluate_predictor(bench, 200, epochs_seen, repeats=20, use_architecture=False).line())


if __name__ == "__main__":
    main()
