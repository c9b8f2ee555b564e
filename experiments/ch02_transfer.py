"""Chapter 02, section 10: do cells keep their rank when stacked deeper and wider? (the depth gap of P-DARTS)

The course's benchmark ranked every cell of its NAS-Bench-201-style space in a shallow, narrow network. This
script picks cells spread evenly over the better half of that ranking (the rule of the notebook), trains each in
a network with ``--depth`` times the cells per stage and ``--width`` times the channels, with the benchmark's own
recipe (or ``--epochs``) and both of its training seeds, and prints Spearman rank correlations:

* shallow (benchmark, mean of seeds) vs deep (mean of seeds): does the ranking transfer?
* shallow seed 0 vs shallow seed 1, deep seed 0 vs deep seed 1: how well does each network rank against itself?

Also the same for cells spread over the whole ranking, where the bad cells make correlation easy.

    python experiments/ch02_transfer.py --cells 16            # about 15-30 minutes on 2 CPU cores
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import time

import numpy as np
import torch

from nascourse.bench import Benchmark
from nascourse.stats import spearman

_worker = {}


def _train(job: tuple[dict, str, int, int, int, int]) -> tuple[str, int, float, float]:
    """One (cell, seed) in the deep stack, in a worker process with one thread."""
    protocol_record, architecture, seed, depth, width, epochs = job
    torch.set_num_threads(1)
    from nascourse import TrainingEvaluator, load_dataset
    from nascourse.bench import Protocol
    from nascourse.spaces import Cell201Space

    protocol = Protocol.from_dict(protocol_record)
    if "data" not in _worker:
        _worker["data"] = load_dataset(protocol.dataset, split_seed=protocol.split_seed)
    space = Cell201Space(protocol.operations, channels=width * protocol.channels,
                         cells_per_stage=depth * protocol.cells_per_stage)
    evaluator = TrainingEvaluator(space, _worker["data"], epochs=epochs, batch_size=protocol.batch_size,
                                  learning_rate=protocol.learning_rate, seed=seed)
    result = evaluator(architecture)
    return architecture, seed, result.accuracy, result.cost_seconds


def spread(order: np.ndarray, count: int) -> np.ndarray:
    return order[np.linspace(0, len(order) - 1, count).round().astype(int)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bench", default=None, help="benchmark file (default: the course's data/bench file)")
    parser.add_argument("--cells", type=int, default=16, help="cells from the better half (and as many from all)")
    parser.add_argument("--depth", type=int, default=2, help="times the benchmark's cells per stage")
    parser.add_argument("--width", type=int, default=2, help="times the benchmark's channels")
    parser.add_argument("--epochs", type=int, default=None, help="epochs in the deep stack (default: the benchmark's)")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    args = parser.parse_args()

    bench = Benchmark.load(args.bench)
    protocol = bench.protocol
    shallow = bench.final_validation()
    order = np.argsort(-shallow)
    groups = {"better half": spread(order[: len(order) // 2], args.cells), "whole range": spread(order, args.cells)}
    rows = sorted({int(row) for picked in groups.values() for row in picked})
    epochs = args.epochs or protocol.epochs
    jobs = [(protocol.to_dict(), bench.architectures[row], seed, args.depth, args.width, epochs)
            for row in rows for seed in bench.seeds]
    print(bench)
    print(f"deep stack: {args.depth * protocol.cells_per_stage} cells per stage, {args.width * protocol.channels} "
          f"channels, {epochs} epochs; {len(rows)} cells x {len(bench.seeds)} seeds = {len(jobs)} trainings on {args.workers} workers")
    start = time.perf_counter()
    deep: dict[tuple[str, int], float] = {}
    seconds = []
    with multiprocessing.get_context("spawn").Pool(args.workers) as pool:
        for architecture, seed, accuracy, cost in pool.imap_unordered(_train, jobs):
            deep[(architecture, seed)] = accuracy
            seconds.append(cost)
    print(f"done in {time.perf_counter() - start:.0f} s; median {np.median(seconds):.1f} s of training per network")

    for label, picked in groups.items():
        names = [bench.architectures[row] for row in picked]
        deep_by_seed = np.array([[deep[(name, seed)] for name in names] for seed in bench.seeds])
        print(f"\n{label}: {len(picked)} cells, shallow validation accuracy {shallow[picked].min():.3f}-"
              f"{shallow[picked].max():.3f}, deep {deep_by_seed.mean(0).min():.3f}-{deep_by_seed.mean(0).max():.3f}")
        print(f"  Spearman shallow vs deep (means of seeds):  {spearman(shallow[picked], deep_by_seed.mean(0)):+.2f}")
        print(f"  Spearman shallow seed 0 vs seed 1:          "
              f"{spearman(bench.final_validation(0)[picked], bench.final_validation(1)[picked]):+.2f}")
        print(f"  Spearman deep seed 0 vs seed 1:             {spearman(deep_by_seed[0], deep_by_seed[1]):+.2f}")
        top = max(1, len(picked) // 4)
        best_shallow = set(np.argsort(-shallow[picked])[:top])
        best_deep = set(np.argsort(-deep_by_seed.mean(0))[:top])
        print(f"  top {top} by shallow rank that are also top {top} in the deep stack: {len(best_shallow & best_deep)}")
        for name, s, d in sorted(zip(names, shallow[picked], deep_by_seed.mean(0)), key=lambda item: -item[1]):
            print(f"    {name:60} shallow {s:.3f}  deep {d:.3f}")


if __name__ == "__main__":
    main()
