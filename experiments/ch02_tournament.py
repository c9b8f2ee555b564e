"""Chapter 02, exercise 4: what aging evolution's tournament buys, S = 5 against S = 1, on the course's benchmark.

The notebook's cell after exercise 4 runs the learner's ``aging_evolution`` 20 times at search seeds
``NASCOURSE_SEED + run`` (run = 0..19) with tournament size S = 5 and again with S = 1 (the parent a random member:
mutation and aging without selection), P = 20. This script runs the same protocol over any seeds, so that the figures
the notebook quotes from NASCOURSE_SEED 0, 20, 40, 60 and 80 (search seeds 0-99 in disjoint blocks of 20) can be made
again:

    python experiments/ch02_tournament.py                    # search seeds 0-99, quick profile's budget
    python experiments/ch02_tournament.py --seeds 20         # search seeds 0-19 (NASCOURSE_SEED 0 only)
    python experiments/ch02_tournament.py --trials 300       # the full profile's budget

The protocol is the notebook's: the search is the exercise's reference solution
(``nascourse.exercises.ch02.aging_evolution.reference``, AmoebaNet's Algorithm 1). Each search takes all its random
choices from one ``random.Random(seed)`` in the library's order (sample; the S tournament draws; the mutation), so
with S = 5 it evaluates exactly the cells of ``RegularizedEvolution(space, 20, 5, seed=seed)`` (checked here, as the
notebook asserts); it looks cells up with ``BenchmarkEvaluator(bench, rng_seed=seed)``, and the S = 5 and S = 1
searches of a seed are a pair. A diverged training scores minus infinity, so it never wins a tournament. Within each
block of 20 seeds (one notebook run) every search is judged at the same cost, the fewest recorded training seconds
any of the block's 40 searches spent, by the table's test accuracy (mean over its trainings) of the cell it would
return (its best by validation within that budget).

Printed per block and pooled over all pairs (each pair judged at its block's budget, as in the notebook): in how many
runs the last 30 proposals of S = 5 had a higher mean validation accuracy than those of S = 1 (the notebook asserts
>= 15 of 20), and the paired difference S = 5 - S = 1 in the returned cell's test accuracy with its 95% bootstrap
interval and Wilcoxon p (``nascourse.stats.difference_test``), better / tied / worse and Vargha-Delaney A.

Table lookups are fast: 100 pairs take well under a minute on one core, so there is no log to resume.
"""

from __future__ import annotations

import argparse
import math
import random

import numpy as np

import nascourse
from nascourse import exercises
from nascourse.bench import Benchmark, BenchmarkEvaluator
from nascourse.stats import difference_test, win_probability
from nascourse.strategies import RegularizedEvolution

BLOCK = 20  # pairs per notebook run
POPULATION = 20  # P, as in the notebook
LAST = 30  # proposals whose mean accuracy shows what the search proposes late


def search(bench: Benchmark, seed: int, tournament_size: int, trials: int) -> nascourse.History:
    """One search of the notebook's ``your_search``, with the exercise's reference as the learner's function."""
    space = bench.space
    rng, lookups, history = random.Random(seed), BenchmarkEvaluator(bench, rng_seed=seed), nascourse.History()

    def evaluate(architecture):
        result = lookups(architecture)
        history.add(space.encode(architecture), result)
        return -math.inf if math.isnan(result.accuracy) else result.accuracy

    exercises.ch02.aging_evolution.reference(
        lambda: space.sample(rng), lambda architecture: space.mutate(architecture, rng), evaluate,
        lambda members: [rng.randrange(members) for _ in range(tournament_size)], trials, POPULATION)
    return history


def run_block(bench: Benchmark, seeds: list[int], trials: int) -> dict:
    """The notebook's cell at one NASCOURSE_SEED: S = 5 and S = 1 on the same seeds, judged at the block's cost."""
    runs = {size: [search(bench, s, size, trials) for s in seeds] for size in (5, 1)}
    for s, history in zip(seeds, runs[5]):  # as the notebook asserts: with S = 5 this is the library's search
        library = nascourse.run_search(bench.space, RegularizedEvolution(bench.space, POPULATION, 5, seed=s),
                                       BenchmarkEvaluator(bench, rng_seed=s), trials=trials, progress=False)
        if [t.architecture for t in history] != [t.architecture for t in library]:
            raise RuntimeError(f"seed {s}: the reference aging_evolution and RegularizedEvolution evaluated different "
                               "cells; the protocol no longer matches the notebook's")
    late = {size: np.array([np.nanmean(h.accuracies()[-LAST:]) for h in histories])
            for size, histories in runs.items()}
    budget = min(h.trials[-1].cumulative_seconds for histories in runs.values() for h in histories)
    returned = {size: np.array([bench.returned_accuracy(h, budget, split="test") for h in histories])
                for size, histories in runs.items()}
    return {"seeds": list(seeds), "budget": budget, "selected": late[5] > late[1], "five": returned[5],
            "one": returned[1]}


def report(label: str, seeds: list[int], selected: np.ndarray, five: np.ndarray, one: np.ndarray) -> None:
    effect = difference_test(five, seeds, one, seeds)
    wins, ties = int((five > one).sum()), int((five == one).sum())
    print(f"{label}: S = 5's last {LAST} proposals better in {int(selected.sum())} of {len(seeds)} runs; returned cell "
          f"S = 5 - S = 1 = {effect['difference']:+.4f} (95% interval {effect['low']:+.4f} to {effect['high']:+.4f}; "
          f"Wilcoxon p = {effect['p']:.2f}{'' if effect['paired'] else ', UNPAIRED'}); better {wins}, tied {ties}, "
          f"worse {len(seeds) - wins - ties}; A = {win_probability(five, one):.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bench", default=None, help="benchmark file (default: the course's data/bench file)")
    parser.add_argument("--seeds", type=int, default=100,
                        help="run search seeds 0 .. SEEDS-1, a multiple of 20: block b is the notebook at "
                        "NASCOURSE_SEED = 20 b (default 100: NASCOURSE_SEED 0, 20, 40, 60, 80)")
    parser.add_argument("--trials", type=int, default=100, help="trials per search (quick profile 100, full 300)")
    args = parser.parse_args()
    if args.seeds <= 0 or args.seeds % BLOCK:
        parser.error(f"--seeds must be a positive multiple of {BLOCK} (one block of {BLOCK} pairs per notebook run); "
                     f"got {args.seeds}")
    if args.trials < POPULATION + LAST:
        parser.error(f"--trials must be at least the population ({POPULATION}) plus the {LAST} late proposals "
                     f"compared; got {args.trials}")

    bench = Benchmark.load(args.bench)
    print(bench)
    print(f"aging evolution, P = {POPULATION}, {args.trials} trials per search; search seeds 0-{args.seeds - 1}")
    blocks = []
    for first in range(0, args.seeds, BLOCK):
        block = run_block(bench, list(range(first, first + BLOCK)), args.trials)
        blocks.append(block)
        report(f"seeds {first}-{first + BLOCK - 1} (NASCOURSE_SEED {first}; budget {block['budget']:.0f} s)",
               block["seeds"], block["selected"], block["five"], block["one"])
    if len(blocks) > 1:
        report(f"pooled over the {args.seeds} pairs", sum((b["seeds"] for b in blocks), []),
               *(np.concatenate([b[key] for b in blocks]) for key in ("selected", "five", "one")))


if __name__ == "__main__":
    main()
