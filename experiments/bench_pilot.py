"""Choosing the benchmark's training recipe: is its ranking signal or seed noise?

Trains a random sample of unique cells for two seeds with one candidate recipe and prints the
time per job, the spread of final validation accuracy, and the seed-to-seed Spearman rank
correlation. The recipe in ``nascourse.bench.Protocol`` was picked with this script.

    python experiments/bench_pilot.py --channels 16 --batch-size 32 --epochs 8 --sample 40
"""

import argparse
import random
from dataclasses import replace

import numpy as np
import torch

from nascourse.bench import Protocol
from nascourse.bench.build import _run_job
from nascourse.stats import spearman


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--operations", nargs="+", default=None)
    parser.add_argument("--channels", type=int, default=None)
    parser.add_argument("--batch-size", type=int, default=None)
    parser.add_argument("--epochs", type=int, default=None)
    parser.add_argument("--learning-rate", type=float, default=None)
    parser.add_argument("--sample", type=int, default=40, help="how many unique cells to train")
    args = parser.parse_args()
    chosen = {"operations": tuple(args.operations) if args.operations else None, "channels": args.channels,
              "batch_size": args.batch_size, "epochs": args.epochs, "learning_rate": args.learning_rate}
    protocol = replace(Protocol(), **{k: v for k, v in chosen.items() if v is not None})
    unique = [str(a) for a in protocol.space().unique_architectures()]
    cells = random.Random(0).sample(unique, min(args.sample, len(unique)))
    torch.set_num_threads(1)
    finals = {seed: [] for seed in protocol.seeds[:2]}
    cpu_seconds = []
    for cell in cells:
        for seed in finals:
            record = _run_job((protocol.to_dict(), cell, seed))
            finals[seed].append(record["curve"][-1][1] if record["curve"] else float("nan"))
            cpu_seconds.append(record["cpu_seconds"])
    seconds = float(np.mean(cpu_seconds))
    a, b = (np.array(v) for v in finals.values())
    mean = (a + b) / 2
    print(protocol)
    print(f"{len(unique)} unique cells; sampled {len(cells)}; {seconds:.2f} CPU seconds per job (one thread)")
    print(f"final val accuracy: best {mean.max():.3f}, median {np.median(mean):.3f}, worst {mean.min():.3f}")
    print(f"seed-to-seed Spearman: {spearman(a, b):.3f}; among the better half: "
          f"{spearman(a[mean >= np.median(mean)], b[mean >= np.median(mean)]):.3f}")
    print(f"estimated build: {seconds * len(unique) * len(protocol.seeds) / 3600 / 2:.2f} h on 2 cores")


if __name__ == "__main__":
    main()
