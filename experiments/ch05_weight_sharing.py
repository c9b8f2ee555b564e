"""Chapter 05, weight sharing measured on the benchmark: ranking quality, multi-model forgetting, ENAS.

* ranking: SPOS (uniform single path) and FairNAS (strict fairness) supernets on the digits; at
  checkpoints, Kendall tau / Spearman / top-10 hit rate of shared-weight validation accuracy (after
  BatchNorm recalibration, and for SPOS also without) against the benchmark over 100 of its cells;
* forgetting: 4 early paths for 4 epochs, then the rest of the space for 8 (``--early-epochs``,
  ``--later-epochs``), with the control run; the drop right after the switch is the forgetting proper (a
  supernet that stopped would keep the early paths where they were), the gap to the control mixes it with the
  control's extra training;
* evolution: SPOS's second stage, the evolutionary search (Guo et al. 2020, Algorithm 1), against one-shot + random
  sampling (Bender et al. 2018; Li & Talwalkar 2019) with the same number of supernet evaluations. Each supernet
  (``--spos-epochs`` of uniform single-path training, one per seed) scores every distinct path of the space once;
  both searches then look those scores up, ``--search-seeds`` times at each setting: the chapter's scaled-down one
  (population 10, top-k 3, 5 generations: 50 evaluations) and the paper's (50, 10, 20: 1,000 evaluations). Reports
  the returned cell's shared-weight score and its benchmark test accuracy (mean over the table's seeds), paired
  over (supernet, search seed). Each finished supernet is appended to ``--log``; a rerun resumes from it;
* enas: ENAS's returned cell (benchmark test accuracy, mean over the table's seeds) against random search
  given the same cost in the benchmark's training seconds (ENAS's counted multiply-accumulates at the build
  machine's speed, ``Benchmark.seconds_for``: the same on every machine).

    python experiments/ch05_weight_sharing.py --part all --seeds 3
    python experiments/ch05_weight_sharing.py --part evolution --seeds 5 --spos-epochs 8
    python experiments/ch05_weight_sharing.py --part evolution --seeds 3 --spos-epochs 32
"""

from __future__ import annotations

import argparse
import itertools
import json
import os

import numpy as np
import torch

import nascourse
from nascourse.bench import Benchmark, BenchmarkEvaluator
from nascourse.data import load_dataset
from nascourse.spaces.cell201 import Cell201Architecture
from nascourse.stats import difference_test, kendall_tau, win_probability
from nascourse.strategies import RandomSearch
from nascourse.weight_sharing import (ENAS, OneShotTrainer, evolutionary_search, live_architecture,
                                      multi_model_forgetting, random_sampling_search, ranking_quality)

SEARCH_SETTINGS = {"chapter (10, 3, 5)": (10, 3, 5), "paper (50, 10, 20)": (50, 10, 20)}  # population, top-k, T


def ranking(args, data, bench, out):
    checkpoints = [c for c in (0, 1, 2, 4, 8, 16, 32) if c <= args.epochs]
    for label, options in (("spos", {"sampling": "uniform"}), ("spos, no recalibration", {"sampling": "uniform"}),
                           ("fairnas", {"sampling": "fair"})):
        runs = []
        for seed in range(args.seeds):
            trainer = OneShotTrainer(data, args.epochs, seed=seed, **options)
            result = ranking_quality(trainer, bench, 100, checkpoints, sample_seed=seed,
                                     recalibrate="no recalibration" not in label)
            print(f"--- {label}, seed {seed}\n{result.table()}", flush=True)
            runs.append({k: getattr(result, k) for k in ("epochs", "seconds", "kendall", "spearman",
                                                           "top_k_hit_rate", "selected_accuracy", "standalone")})
        kendall = np.array([r["kendall"] for r in runs])
        print(f"=== {label}: Kendall mean over {args.seeds} seeds by epoch {checkpoints}: "
              f"{np.array2string(np.nanmean(kendall, 0), precision=3)}; Spearman "
              f"{np.array2string(np.nanmean([r['spearman'] for r in runs], 0), precision=3)}; top-10 hit "
              f"{np.array2string(np.mean([r['top_k_hit_rate'] for r in runs], 0), precision=2)}; seconds "
              f"{np.array2string(np.mean([r['seconds'] for r in runs], 0), precision=1)}", flush=True)
        out[label] = runs


def forgetting(args, data, bench, out):
    out["forgetting"] = []
    drops = []
    for seed in range(args.seeds):
        curves = multi_model_forgetting(data, early=4, early_epochs=args.early_epochs, later_epochs=args.later_epochs,
                                        seed=seed, control=True)
        drops.append(float(curves.immediate_drop().mean()))
        print(f"--- forgetting, seed {seed}\n{curves.summary()}\ndrop right after the switch: {drops[-1]:+.3f}",
              flush=True)
        out["forgetting"].append({"steps": curves.steps, "switch": curves.switch_step, "early": curves.early,
                                  "early_curves": curves.early_curves.tolist(),
                                  "control_curves": curves.control_curves.tolist(),
                                  "later_curves": curves.later_curves.tolist(), "immediate_drop": drops[-1]})
    print(f"=== forgetting ({args.early_epochs} + {args.later_epochs} epochs, {args.seeds} seeds): mean drop of the early "
          f"paths right after the switch per seed {np.round(drops, 3).tolist()}; positive in {sum(d > 0 for d in drops)} "
          f"of {len(drops)}", flush=True)


def _path_scores(args, data, seed: int) -> dict[str, float]:
    """Every distinct path's shared-weight score on the supernet of ``seed`` (from the log, or measured and logged)."""
    identity = {"part": "evolution", "spos_epochs": args.spos_epochs, "seed": seed}
    if os.path.exists(args.log):
        with open(args.log) as log:
            for line in log:
                entry = json.loads(line)
                if entry["identity"] == identity:
                    return entry["scores"]
    trainer = OneShotTrainer(data, epochs=args.spos_epochs, seed=seed)
    operations = trainer.supernet.operations
    paths = sorted({str(live_architecture(Cell201Architecture(choice)))
                    for choice in itertools.product(operations, repeat=6)})
    trainer.train_until(args.spos_epochs)
    scores = {path: trainer.score(path) for path in paths}
    os.makedirs(os.path.dirname(args.log) or ".", exist_ok=True)
    with open(args.log, "a") as log:
        log.write(json.dumps({"identity": identity, "operations": operations, "scores": scores}) + "\n")
    return scores


def evolution(args, data, bench, out):
    test = np.nanmean(bench.test_accuracy[:, :, -1], axis=1)
    operations = tuple(bench.protocol.operations)
    out["evolution"] = {}
    rows = {}  # setting -> method -> list over (supernet, search seed) of (score, test accuracy)
    for seed in range(args.seeds):
        scores = _path_scores(args, data, seed)
        paths = list(scores)
        fitness = lambda architecture: scores[str(live_architecture(architecture))]
        tau = kendall_tau([scores[p] for p in paths], [test[bench.row(p)] for p in paths])
        favourite = max(paths, key=lambda p: scores[p])
        print(f"--- supernet seed {seed} ({args.spos_epochs} epochs): {len(paths)} paths, Kendall of shared-weight "
              f"score vs benchmark test {tau:.3f}; its favourite path has test {test[bench.row(favourite)]:.4f} "
              f"(table's best cell {np.nanmax(test):.4f})", flush=True)
        for setting, (population, top_k, generations) in SEARCH_SETTINGS.items():
            for s in range(args.search_seeds):
                found = {"SPOS": evolutionary_search(fitness, operations, population, top_k, generations, seed=s),
                         "random": random_sampling_search(fitness, operations, population * generations, seed=s)}
                for method, result in found.items():
                    rows.setdefault(setting, {}).setdefault(method, []).append(
                        (result.best_score, float(test[bench.row(result.best)])))
    for setting, methods in rows.items():
        population, top_k, generations = SEARCH_SETTINGS[setting]
        ea, rs = np.array(methods["SPOS"]), np.array(methods["random"])  # (supernets * searches, 2): score, test
        lines = [f"=== {setting}: {population * generations} evaluations each, {args.seeds} supernets x "
                 f"{args.search_seeds} search seeds (SPOS minus random sampling, same supernet and seed)"]
        for column, name in ((0, "shared-weight score"), (1, "benchmark test accuracy")):
            differences = ea[:, column] - rs[:, column]
            # the supernets are the independent replicates: the search seeds on one supernet share its errors
            per_supernet = differences.reshape(args.seeds, args.search_seeds).mean(axis=1)
            over_supernets = difference_test(per_supernet, range(args.seeds), np.zeros(args.seeds), range(args.seeds))
            pairs = range(len(differences))
            pooled = difference_test(ea[:, column], pairs, rs[:, column], pairs)
            lines.append(f"  {name}: SPOS {ea[:, column].mean():.4f}, random sampling {rs[:, column].mean():.4f}; "
                         f"SPOS higher in {np.mean(differences > 0):.0%} of the pairs, lower in "
                         f"{np.mean(differences < 0):.0%}; mean difference per supernet "
                         f"{np.round(per_supernet, 4).tolist()}: {over_supernets['difference']:+.4f} "
                         f"[{over_supernets['low']:+.4f}, {over_supernets['high']:+.4f}] "
                         f"(p = {over_supernets['p']:.3g}, {args.seeds} supernets); all pairs pooled "
                         f"[{pooled['low']:+.4f}, {pooled['high']:+.4f}]")
        print("\n".join(lines), flush=True)
        out["evolution"][setting] = {"SPOS": ea.tolist(), "random": rs.tolist()}


def enas(args, data, bench, out):
    test = np.nanmean(bench.test_accuracy[:, :, -1], axis=1)
    returned, seconds, local = [], [], []
    for seed in range(args.seeds):
        search = ENAS(data, epochs=args.enas_epochs, seed=seed)
        chosen = search.search()
        returned.append(float(test[bench.row(chosen)]))
        seconds.append(bench.seconds_for(search.macs))
        local.append(search.seconds)
        print(f"ENAS seed {seed}: {seconds[-1]:.1f} s in the benchmark's unit ({search.seconds:.1f} s here), returned {chosen} test {returned[-1]:.3f}; greedy "
              f"{search.most_likely()} test {test[bench.row(search.most_likely())]:.3f}", flush=True)
    budget = float(np.median(seconds))
    space = bench.space
    random_returned = []
    for seed in range(20):
        history = nascourse.run_search(space, RandomSearch(space, seed=seed), BenchmarkEvaluator(bench, rng_seed=seed),
                                       trials=100, progress=False)
        # ENAS can cost less than one training: random search then gets its first candidate
        random_returned.append(bench.returned_accuracy(history, max(budget, history[0].cumulative_seconds), "test"))
    print(f"=== ENAS ({args.enas_epochs} epochs, {args.seeds} seeds): returned test median {np.median(returned):.3f} "
          f"{np.round(returned, 3).tolist()}; search {budget:.1f} s (benchmark's unit); random search with that budget (20 seeds): "
          f"median {np.median(random_returned):.3f}; P(ENAS beats random) {win_probability(returned, random_returned):.2f}; "
          f"median cell of the table {np.nanmedian(test):.3f}", flush=True)
    out["enas"] = {"returned": returned, "seconds": seconds, "local_seconds": local, "random": random_returned}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--part", choices=("ranking", "forgetting", "evolution", "enas", "all"), default="all")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=32, help="supernet epochs for the ranking study")
    parser.add_argument("--spos-epochs", type=int, default=8, help="evolution: epochs of each supernet")
    parser.add_argument("--search-seeds", type=int, default=40, help="evolution: searches per supernet and setting")
    parser.add_argument("--log", default=os.path.join("runs", "ch05_spos_search.jsonl"),
                        help="evolution: resumable log of the supernets' path scores")
    parser.add_argument("--enas-epochs", type=int, default=10)
    parser.add_argument("--early-epochs", type=int, default=4, help="forgetting: epochs on the early paths")
    parser.add_argument("--later-epochs", type=int, default=8, help="forgetting: epochs on the rest of the space")
    parser.add_argument("--out", default=None, help="write the measurements as JSON here")
    args = parser.parse_args()
    torch.set_num_threads(1)
    data, bench, out = load_dataset("digits"), Benchmark.load(), {"args": vars(args)}
    for part in ("ranking", "forgetting", "evolution", "enas"):
        if args.part in (part, "all"):
            globals()[part](args, data, bench, out)
    if args.out:
        with open(args.out, "w") as handle:
            json.dump(out, handle, indent=1, default=float)


if __name__ == "__main__":
    main()
