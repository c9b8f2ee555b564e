"""Chapter 03, the collapse measured: DARTS and its successors on the benchmark's cell space, many seeds.

For each method (DARTS first order, GDAS, PC-DARTS, I-DARTS) and seeds 0..N-1 this runs a search with
``Cell201Supernet`` (the benchmark's operations and skeleton) on the digits, derives the cell after every
epoch and looks it up in the course benchmark. It prints, per method, over seeds:

* the test accuracy (table mean over the benchmark's seeds) of the cell derived after the first epoch, the
  best epoch, and the last epoch; the share of parameter-free operations (none, skip, avgpool) in it;
* for DARTS, two remedies on the same runs: P-DARTS's cap of one skip connection on the derived cell, and
  DARTS-ES (Zela et al.): stop when the largest eigenvalue of grad^2_alpha L_val has grown too fast and return
  the cell of ``window`` epochs before;
* random search given the same budget in training seconds as one DARTS search took, scored the same way;
* P(method's returned cell beats random search's), ties counted half;
* the discretisation gap (SNAS's point): after every epoch, the supernet's accuracy on the alpha half with the
  relaxed (mixed) cell against the same weights running only the derived cell (``discretised_accuracy``).

With ``--out`` every run's per-epoch record is written as JSON, the operation strengths (softmax(alpha) per edge)
included, rounded to 4 decimals. Chapter 03 replays the file the repository keeps,
``experiments/results/ch03_collapse_darts_100.json``, made by

    python experiments/ch03_collapse.py --seeds 2 --epochs 100 --methods darts --no-curvature \
        --out experiments/results/ch03_collapse_darts_100.json

    python experiments/ch03_collapse.py --seeds 8 --epochs 30
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch

import nascourse
from nascourse.bench import Benchmark, BenchmarkEvaluator
from nascourse.relaxation import Cell201Supernet
from nascourse.relaxation.cell201_supernet import discretised_accuracy
from nascourse.relaxation.curvature import dominant_eigenvalue, early_stop_epoch
from nascourse.relaxation.search import SearchConfig, relaxation_search, split_for_search
from nascourse.stats import win_probability
from nascourse.strategies import RandomSearch


def parameter_free_share(architecture: str, bench: Benchmark) -> float:
    return bench.space.decode(architecture).parameter_free_share()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, default=8)
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--methods", nargs="+", default=["darts", "gdas", "pcdarts", "idarts"])
    parser.add_argument("--window", type=int, default=5, help="DARTS-ES window k (epochs)")
    parser.add_argument("--es-start", type=int, default=10, help="DARTS-ES ignores the curvature's rise in these first epochs")
    parser.add_argument("--no-curvature", action="store_true",
                        help="skip DARTS-ES's eigenvalue (the slow part); the other rows do not depend on it")
    parser.add_argument("--out", default=None, help="write every run's per-epoch record to this JSON file")
    args = parser.parse_args()
    torch.set_num_threads(1)

    bench = Benchmark.load()
    print(bench.summary())
    test = np.nanmean(bench.test_accuracy[:, :, -1], axis=1)
    print(f"table test accuracy: best {test.max():.3f}, median {np.median(test):.3f}")

    def table_test(architecture: str) -> float:
        return bench.mean_accuracy(architecture, split="test")

    data = nascourse.load_dataset("digits")
    config = SearchConfig(epochs=args.epochs, batch_size=args.batch_size)
    records: dict[str, list[dict]] = {}
    for method in args.methods:
        records[method] = []
        for seed in range(args.seeds):
            nascourse.seed_everything(seed)
            model = Cell201Supernet(data.input_shape, data.num_classes, method=method)
            _, alpha_half = split_for_search(data.train, seed)
            probe = (alpha_half.x[:256], alpha_half.y[:256])
            extra: list[dict] = []

            def on_epoch(snapshot, model=model, probe=probe, extra=extra, method=method, alpha_half=alpha_half):
                entry = {"capped": str(model.derive(max_skips=1)),
                         "discretised": discretised_accuracy(model, alpha_half),
                         "strengths": [[round(w, 4) for w in row] for row in model.operation_strengths().tolist()]}
                if method == "darts" and not args.no_curvature:
                    entry["eigenvalue"] = dominant_eigenvalue(model, probe)
                extra.append(entry)

            started = time.perf_counter()
            result = relaxation_search(model, data, config, seed=seed, progress=False, on_epoch=on_epoch)
            wall = time.perf_counter() - started
            def rounded(values):
                return [round(float(v), 4) for v in values]

            run = {
                "seed": seed, "seconds": bench.seconds_for(result.macs), "local_seconds": result.seconds,
                "wall_seconds": wall,
                "architectures": result.architectures(),
                "test": rounded(table_test(a) for a in result.architectures()),
                "parameter_free": rounded(parameter_free_share(a, bench) for a in result.architectures()),
                "supernet_val": rounded(s.val_accuracy for s in result.snapshots),
                "capped_test": rounded(table_test(e["capped"]) for e in extra),
                "discretised": rounded(e["discretised"] for e in extra),
                "strengths": [e["strengths"] for e in extra],
            }
            if method == "darts" and not args.no_curvature:
                run["eigenvalues"] = [e["eigenvalue"] for e in extra]
                stop = early_stop_epoch(run["eigenvalues"], window=args.window, start=args.es_start)
                run["early_stop_epoch"] = stop
                chosen = len(run["test"]) - 1 if stop is None else stop - args.window
                run["early_stop_test"] = run["test"][chosen]
            records[method].append(run)
            print(f"{method:8} seed {seed}: {run['seconds']:5.1f} s, last cell {result.architecture} "
                  f"test {run['test'][-1]:.3f}, parameter-free {run['parameter_free'][-1]:.0%}; supernet on the alpha "
                  f"half {run['supernet_val'][-1]:.3f} relaxed, {run['discretised'][-1]:.3f} with the derived cell only",
                  flush=True)

    # random search with the budget one DARTS search took, in the benchmark's seconds (the search's counted
    # multiply-accumulates at the build machine's speed: the same on every machine)
    budget = float(np.median([r["seconds"] for r in records.get("darts", records[args.methods[0]])]))
    space = bench.space
    random_returned = []
    for seed in range(max(args.seeds, 20)):
        history = nascourse.run_search(space, RandomSearch(space, seed=seed), BenchmarkEvaluator(bench, rng_seed=seed),
                                       trials=400, progress=False)
        random_returned.append(bench.returned_accuracy(history, budget, split="test"))
    random_returned = np.array(random_returned)

    def line(name: str, values) -> str:
        values = np.asarray(values, dtype=float)
        q1, q3 = np.percentile(values, [25, 75])
        return (f"{name:34} median {np.median(values):.3f} (quartiles {q1:.3f}-{q3:.3f}), "
                f"P(beats random search) {win_probability(values, random_returned):.2f}")

    print(f"\n{args.seeds} seeds, {args.epochs} epochs, batch {args.batch_size}; budget for random search "
          f"{budget:.1f} s of training (the median DARTS search)")
    print(line("random search (same budget)", random_returned))
    for method, runs in records.items():
        print(line(f"{method}: cell after epoch 1", [r["test"][0] for r in runs]))
        print(line(f"{method}: cell of the best epoch", [max(r["test"]) for r in runs]))
        print(line(f"{method}: cell after the last epoch", [r["test"][-1] for r in runs]))
        print(f"{'':34} parameter-free share: first epoch {np.mean([r['parameter_free'][0] for r in runs]):.0%}, "
              f"last {np.mean([r['parameter_free'][-1] for r in runs]):.0%}; "
              f"search {np.median([r['seconds'] for r in runs]):.1f} s")
        print(f"{'':34} discretisation gap, last epoch: supernet on the alpha half {np.median([r['supernet_val'][-1] for r in runs]):.3f} "
              f"relaxed, {np.median([r['discretised'][-1] for r in runs]):.3f} with the derived cell only (medians)")
        if method == "darts":
            print(line("darts + skip cap (at most 1)", [r["capped_test"][-1] for r in runs]))
        if method == "darts" and not args.no_curvature:
            print(line("darts-ES (eigenvalue stop)", [r["early_stop_test"] for r in runs]))
            stops = [r["early_stop_epoch"] for r in runs]
            print(f"{'':34} DARTS-ES stopped in {sum(s is not None for s in stops)} of {len(stops)} runs, at epochs "
                  f"{[s + 1 for s in stops if s is not None]}")
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        with open(args.out, "w") as handle:  # one line per run: small, and a diff shows which runs changed
            handle.write(json.dumps({"args": vars(args), "budget": budget, "random": random_returned.tolist()})[:-1])
            handle.write(', "runs": {')
            for index, (method, runs) in enumerate(records.items()):
                handle.write(("," if index else "") + f"\n{json.dumps(method)}: [")
                handle.write(",".join("\n" + json.dumps(run, separators=(",", ":")) for run in runs) + "]")
            handle.write("}}\n")


if __name__ == "__main__":
    main()
