"""How fast is the tabular benchmark? Loading the shipped file, then one million random queries.

    python benchmarks/bench_queries.py [--path FILE] [--queries N]

Prints the seconds for loading (checksum included), for N lookups of random raw architectures
(each mapped to its canonical row) with their final validation accuracy, and for N full
``query`` records. The course's target: loading plus one million lookups under 10 seconds.
"""

import argparse
import random
import time

from nascourse.bench import Benchmark


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--path", default=None)
    parser.add_argument("--queries", type=int, default=1_000_000)
    args = parser.parse_args()

    start = time.perf_counter()
    benchmark = Benchmark.load(args.path)
    load_seconds = time.perf_counter() - start
    raw = [str(a) for a in benchmark.space.enumerate()]
    rng = random.Random(0)
    asked = [rng.choice(raw) for _ in range(args.queries)]

    start = time.perf_counter()
    last = benchmark.protocol.epochs - 1
    accuracies = [benchmark.val_accuracy[benchmark.row(a), 0, last] for a in asked]
    lookup_seconds = time.perf_counter() - start

    start = time.perf_counter()
    for architecture in asked[: args.queries // 10]:
        benchmark.query(architecture)
    record_seconds = (time.perf_counter() - start) * 10

    print(benchmark)
    print(f"load (with checksum):                {load_seconds:6.2f} s")
    print(f"{args.queries:,} lookups (row + accuracy): {lookup_seconds:6.2f} s")
    print(f"{args.queries:,} full query records:     {record_seconds:6.2f} s (extrapolated from a tenth)")
    print(f"load + lookups: {load_seconds + lookup_seconds:.2f} s (target: under 10 s); mean accuracy {sum(accuracies) / len(accuracies):.3f}")


if __name__ == "__main__":
    main()
