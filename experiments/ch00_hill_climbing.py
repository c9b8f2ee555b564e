"""Chapter 00, section 12: exercise 5's hill climbing against random search on the course's benchmark, many seeds.

The notebook's cell runs 20 paired searches at search seeds ``20 * NASCOURSE_SEED + s`` (s = 0..19); this script
runs the same cell's protocol over any seeds, so that the figures the notebook quotes from NASCOURSE_SEED 0 to 4
(search seeds 0-99) can be made again:

    python experiments/ch00_hill_climbing.py                     # search seeds 0-99, quick profile's budget
    python experiments/ch00_hill_climbing.py --seeds 20          # search seeds 0-19 (NASCOURSE_SEED 0 only)
    python experiments/ch00_hill_climbing.py --trials 300 --start 20   # the full profile's budget

The protocol is the notebook's: the strategy is the exercise's reference solution
(``nascourse.exercises.ch00.hill_climbing.reference``: ``start`` random cells, then each time a mutation of the best
so far); random search runs with the same seed, and both look cells up with the same stream of training seeds
(``BenchmarkEvaluator(bench, rng_seed=seed)``), so the two searches of a seed are a pair. Within each block of 20
seeds (one notebook run) every search is judged at the same cost, the fewest recorded training seconds any of the
block's 40 searches spent, by the table's test accuracy (mean over its trainings) of the cell it would return (its
best by validation within that budget).

Printed per block: its budget and how many cells each strategy evaluated within it (medians). Per block and pooled
over all pairs (each pair judged at its block's budget, as in the notebook): the paired difference hill climbing -
random search with its 95% bootstrap interval and Wilcoxon p (``nascourse.stats.difference_test``), better / tied /
worse, Vargha-Delaney A, and in how many runs hill climbing's proposals after its random start had a higher mean
validation accuracy than random search's proposals (the notebook asserts >= 15 of 20).

Table lookups are fast: 100 pairs take well under a minute on one core, so there is no log to resume.
"""

from __future__ import annotations

import argparse

import numpy as np

import nascourse
from nascourse import exercises
from nascourse.bench import Benchmark, BenchmarkEvaluator
from nascourse.stats import difference_test, win_probability

BLOCK = 20  # pairs per notebook run


def run_block(bench: Benchmark, seeds: list[int], trials: int, start: int) -> dict:
    """The notebook's cell at one NASCOURSE_SEED: paired searches, judged at the block's equal cost."""
    climbing = exercises.ch00.hill_climbing.reference
    climbs, draws = [], []
    for s in seeds:
        climbs.append(nascourse.run_search(bench.space, climbing(bench.space, seed=s, start=start),
                                           BenchmarkEvaluator(bench, rng_seed=s), trials=trials, progress=False))
        draws.append(nascourse.run_search(bench.space, nascourse.RandomSearch(bench.space, seed=s),
                                          BenchmarkEvaluator(bench, rng_seed=s), trials=trials, progress=False))
    budget = min(h.trials[-1].cumulative_seconds for h in climbs + draws)
    within = [float(np.median([sum(t.cumulative_seconds <= budget for t in h) for h in runs]))
              for runs in (climbs, draws)]
    return {
        "within": within,
        "seeds": list(seeds),
        "budget": budget,
        "climbed": np.array([bench.returned_accuracy(h, budget, split="test") for h in climbs]),
        "drawn": np.array([bench.returned_accuracy(h, budget, split="test") for h in draws]),
        "better_proposals": np.array([np.nanmean(c.accuracies()[start:]) > np.nanmean(d.accuracies())
                                      for c, d in zip(climbs, draws)]),
    }


def report(label: str, seeds: list[int], climbed: np.ndarray, drawn: np.ndarray, better_proposals: np.ndarray) -> None:
    effect = difference_test(climbed, seeds, drawn, seeds)
    wins, ties = int((climbed > drawn).sum()), int((climbed == drawn).sum())
    print(f"{label}: hill climbing - random search = {effect['difference']:+.4f} (95% interval {effect['low']:+.4f} "
          f"to {effect['high']:+.4f}; Wilcoxon p = {effect['p']:.2f}{'' if effect['paired'] else ', UNPAIRED'}); "
          f"better {wins}, tied {ties}, worse {len(seeds) - wins - ties}; A = {win_probability(climbed, drawn):.2f}; "
          f"hill climbing's proposals better in {int(better_proposals.sum())} of {len(seeds)} runs")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bench", default=None, help="benchmark file (default: the course's data/bench file)")
    parser.add_argument("--seeds", type=int, default=100,
                        help="run search seeds 0 .. SEEDS-1, a multiple of 20: block b is the notebook at "
                        "NASCOURSE_SEED = b (default 100: NASCOURSE_SEED 0-4)")
    parser.add_argument("--trials", type=int, default=100, help="trials per search (quick profile 100, full 300)")
    parser.add_argument("--start", type=int, default=10, help="hill climbing's random starts (quick 10, full 20)")
    args = parser.parse_args()
    first, end = 0, args.seeds
    if end <= 0 or end % BLOCK:
        parser.error(f"--seeds must be a positive multiple of {BLOCK} (one block of {BLOCK} pairs per notebook run); "
                     f"got {end}")
    if not 1 <= args.start <= args.trials:
        parser.error(f"--start must be between 1 and --trials ({args.trials}); got {args.start}")

    bench = Benchmark.load(args.bench)
    print(bench)
    print(f"{args.trials} trials per search, hill climbing's first {args.start} random; search seeds {first}-{end - 1}")
    blocks = []
    for block_start in range(first, end, BLOCK):
        block = run_block(bench, list(range(block_start, block_start + BLOCK)), args.trials, args.start)
        blocks.append(block)
        report(f"seeds {block_start}-{block_start + BLOCK - 1} (NASCOURSE_SEED {block_start // BLOCK}; budget "
               f"{block['budget']:.0f} s, within it hill climbing evaluates {block['within'][0]:g} cells, random "
               f"search {block['within'][1]:g}: medians)",
               block["seeds"], block["climbed"], block["drawn"], block["better_proposals"])
    if len(blocks) > 1:
        report(f"pooled over the {end - first} pairs", sum((b["seeds"] for b in blocks), []),
               *(np.concatenate([b[key] for b in blocks]) for key in ("climbed", "drawn", "better_proposals")))


if __name__ == "__main__":
    main()
