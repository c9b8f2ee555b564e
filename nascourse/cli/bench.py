"""``python -m nascourse bench``: build, inspect and query the course's tabular benchmark; convert NAS-Bench-201."""

from __future__ import annotations

import argparse
import sys
from dataclasses import replace
from pathlib import Path

from ..bench import Benchmark, BenchmarkError, Protocol, build_benchmark
from ..bench.nb201 import NB201Table, convert
from ..bench.table import default_path


def add_bench_parser(commands) -> None:
    bench = commands.add_parser("bench", help="build or inspect the course's tabular benchmark")
    bench_commands = bench.add_subparsers(dest="bench_command", required=True, metavar="ACTION")
    build = bench_commands.add_parser(
        "build", help="train every unique architecture (resumable: run it again to continue an interrupted build)"
    )
    build.add_argument("--out", default=None, help="final file (default: data/bench/cell201-digits.json.gz)")
    build.add_argument("--workers", type=int, default=None, help="worker processes (default: one per core)")
    build.add_argument("--limit", type=int, default=None, help="stop after this many new jobs (a trial run)")
    build.add_argument("--operations", nargs="+", default=None, help="operation set (default: the five of the space)")
    build.add_argument("--epochs", type=int, default=None, help="training epochs per architecture")
    build.add_argument("--channels", type=int, default=None, help="channels of the first stage")
    build.add_argument("--seeds", type=int, nargs="+", default=None, help="training seeds")
    info = bench_commands.add_parser("info", help="print what a benchmark file holds: spread, seed-to-seed Spearman")
    info.add_argument("--path", default=None, help="benchmark file (default: the shipped one)")
    query = bench_commands.add_parser(
        "query", help="look a cell up: its accuracies, training time and size, per trained seed and on average",
        description="Look a cell up in the benchmark, e.g. "
                    "python -m nascourse bench query '|conv3x3~0|+|skip~0|conv3x3~1|+|skip~0|none~1|conv3x3~2|'")
    query.add_argument("architecture", help="the cell's string (any equivalent form)")
    query.add_argument("--epoch", type=int, default=None, help="after this many training epochs (default: the last)")
    query.add_argument("--path", default=None, help="benchmark file (default: the shipped one)")
    convert = bench_commands.add_parser(
        "nb201-convert", help="write NAS-Bench-201's compact CSVs from its official release (needs the nb201 extra)")
    convert.add_argument("--release", required=True, help="the release file, e.g. NAS-Bench-201-v1_1-096897.pth")
    convert.add_argument("--out", required=True, help="folder for the CSVs (then: export NASCOURSE_NB201=FOLDER)")
    nb201_info = bench_commands.add_parser("nb201-info", help="summarise NAS-Bench-201's table of one dataset")
    nb201_info.add_argument("--path", default=None, help="folder of the CSVs or one CSV (default: $NASCOURSE_NB201)")
    nb201_info.add_argument("--dataset", default="cifar10", help="cifar10 (cifar10-valid), cifar100 or ImageNet16-120")


def bench_command(args: argparse.Namespace) -> int:
    if args.bench_command == "info":
        try:
            print(Benchmark.load(args.path).summary())
        except BenchmarkError as error:
            print(f"error: {error}", file=sys.stderr)
            return 1
        return 0
    if args.bench_command == "query":
        return _bench_query(args)
    if args.bench_command.startswith("nb201-"):
        return _nb201(args)
    chosen = {"operations": tuple(args.operations) if args.operations else None, "epochs": args.epochs,
              "channels": args.channels, "seeds": tuple(args.seeds) if args.seeds else None}
    protocol = replace(Protocol(), **{key: value for key, value in chosen.items() if value is not None})
    out = Path(args.out) if args.out else default_path()
    try:
        final = build_benchmark(out, protocol, workers=args.workers, limit=args.limit)
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    if final is None:
        print(f"not finished yet: run the same command again to continue ({out})")
        return 0
    print(Benchmark.load(final).summary())
    print(f"written: {final}")
    return 0


def _nb201(args: argparse.Namespace) -> int:
    try:
        if args.bench_command == "nb201-convert":
            for path in convert(args.release, args.out):
                print(f"written: {path}")
        else:
            print(NB201Table.load(args.path, args.dataset).summary())
    except (BenchmarkError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    return 0


def _bench_query(args: argparse.Namespace) -> int:
    try:
        bench = Benchmark.load(args.path)
        records = [bench.query(args.architecture, args.epoch, seed) for seed in bench.seeds]
    except BenchmarkError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    except ValueError as error:  # a malformed cell, an epoch outside the table
        print(f"error: {' '.join(str(error).split())}", file=sys.stderr)
        return 2
    first = records[0]
    print(f"{first.architecture} (canonical form): {first.parameters:,} parameters, {first.flops:,} FLOPs, "
          f"{first.latency_ms:.3f} ms")
    for record in records:
        print(f"  seed {record.seed}: after epoch {record.epoch}: validation {record.val_accuracy:.4f}, "
              f"test {record.test_accuracy:.4f}, train loss {record.train_loss:.4f}, {record.train_seconds:.2f} s")
    mean = lambda values: sum(values) / len(values)  # noqa: E731
    print(f"summary: mean of {len(records)} seeds after epoch {first.epoch}: validation "
          f"{mean([r.val_accuracy for r in records]):.4f}, test {mean([r.test_accuracy for r in records]):.4f}")
    return 0
