"""Chapter 05, weight sharing measured on the benchmark: ranking quality, multi-model forgetting, ENAS.

* ranking: SPOS (uniform single path) and FairNAS (strict fairness) supernets on the digits; at
  checkpoints, Kendall tau / Spearman / top-10 hit rate of shared-weight validation accuracy (after
  BatchNorm recalibration, and for SPOS also without) against the benchmark over 100 of its cells;
* fairness: the chapter's comparison at equal training compute: SPOS (uniform single path) for ``--fair-spos-epochs``
  epochs against FairNAS (strict fairness, m = 4 paths per update) for a quarter of them, both scored at the
  same checkpoints of counted training MACs on ``--fair-cells`` cells (the notebook's 60); Kendall tau-b and top-k
  against the one yardstick's targets (each seed's target the mean of the other seeds);
* forgetting: 4 early paths for 4 epochs, then the rest of the space for 8 (``--early-epochs``,
  ``--later-epochs``), against the control, a copy of the supernet paused at the switch (equal updates of the early
  paths; only the other paths' training differs): the early paths' loss to it after the switch is forgetting net
  of transfer;
* evolution: SPOS's second stage, the evolutionary search (Guo et al. 2020, Algorithm 1), against one-shot + random
  sampling (Bender et al. 2018; Li & Talwalkar 2019) with the same number of supernet evaluations. Each supernet
  (``--spos-epochs`` of uniform single-path training, one per seed) scores every distinct path of the space once;
  both searches then look those scores up, ``--search-seeds`` times at each setting: the chapter's scaled-down one
  (population 10, top-k 3, 5 generations: 50 evaluations) and the paper's (50, 10, 20: 1,000 evaluations). Reports
  the returned cell's shared-weight score and its benchmark test accuracy (mean over the table's seeds), paired
  over (supernet, search seed). Each finished supernet is appended to ``--log``; a rerun resumes from it;
* enas: ENAS's returned cell (benchmark test accuracy, mean over the table's seeds) against random search
  given the same cost in the benchmark's training seconds (ENAS's counted multiply-accumulates at the build
  machine's speed, ``Benchmark.seconds_for``: the same on every machine; the final selection included); the
  policy's share of each operation after every epoch, and the mean reward of 20 cells sampled by the initial and
  by the trained controller on the final supernet (what REINFORCE learned, apart from the shared weights).

    python experiments/ch05_weight_sharing.py --part all --seeds 3
    python experiments/ch05_weight_sharing.py --part fairness --seeds 5
    python experiments/ch05_weight_sharing.py --part forgetting --seeds 5 --early-epochs 2 --later-epochs 4
    python experiments/ch05_weight_sharing.py --part enas --seeds 5 --enas-epochs 4
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


def fairness(args, data, bench, out):
    """SPOS against FairNAS at equal counted training compute, ranking quality at matching checkpoints."""
    spos_checkpoints = [c for c in (0, 2, 8) if c <= args.fair_spos_epochs] + [args.fair_spos_epochs]
    spos_checkpoints = sorted(set(spos_checkpoints))
    fair_checkpoints = [c / 4 for c in spos_checkpoints]  # m = 4 paths per update: a quarter of the epochs
    rows = {"SPOS": [], "FairNAS": []}
    for seed in range(args.seeds):
        for label, sampling, checkpoints in (("SPOS", "uniform", spos_checkpoints),
                                             ("FairNAS", "fair", fair_checkpoints)):
            trainer = OneShotTrainer(data, max(1, int(np.ceil(checkpoints[-1]))), seed=seed, sampling=sampling)
            result = ranking_quality(trainer, bench, args.fair_cells, checkpoints, sample_seed=seed)
            rows[label].append({"macs": result.macs, "kendall": result.kendall, "top_k": result.top_k_hit_rate,
                                "selected": result.selected_accuracy, "standalone": result.standalone["kendall"]})
            print(f"--- {label}, seed {seed}: training {np.round([bench.seconds_for(m) for m in result.macs], 2).tolist()} "
                  f"s (benchmark's unit); Kendall {np.round(result.kendall, 3).tolist()}; top-{result.top_k} "
                  f"{np.round(result.top_k_hit_rate, 2).tolist()}; one stand-alone run {result.standalone['kendall']:.3f}",
                  flush=True)
    for index, epochs in enumerate(spos_checkpoints):
        spos = np.array([r["kendall"][index] for r in rows["SPOS"]])
        fair = np.array([r["kendall"][index] for r in rows["FairNAS"]])
        test = difference_test(fair, range(args.seeds), spos, range(args.seeds))
        print(f"=== SPOS {epochs} epochs vs FairNAS {epochs / 4:g} epochs ({args.fair_cells} cells, seeds 0-{args.seeds - 1}): "
              f"Kendall SPOS {np.round(spos, 3).tolist()}, FairNAS {np.round(fair, 3).tolist()}; FairNAS minus SPOS "
              f"{test['difference']:+.3f} [{test['low']:+.3f}, {test['high']:+.3f}] (paired by seed, p = {test['p']:.2f}); "
              f"top-k SPOS {np.round([r['top_k'][index] for r in rows['SPOS']], 2).tolist()}, FairNAS "
              f"{np.round([r['top_k'][index] for r in rows['FairNAS']], 2).tolist()}", flush=True)
    out["fairness"] = rows


def forgetting(args, data, bench, out):
    out["forgetting"] = []
    drops, losses, deepest = [], [], []
    for seed in range(args.seeds):
        steps_per_epoch = OneShotTrainer(data, 1).steps_per_epoch
        curves = multi_model_forgetting(data, early=4, early_epochs=args.early_epochs, later_epochs=args.later_epochs,
                                        tracked_later=2, record_every=max(1, int(steps_per_epoch * args.record_every)),
                                        seed=seed)
        drops.append(float(curves.immediate_drop().mean()))
        losses.append(curves.loss_to_paused().mean(axis=0))
        deepest.append(float(losses[-1].max()))
        print(f"--- forgetting, seed {seed}\n{curves.summary()}\ndrop right after the switch: {drops[-1]:+.3f}",
              flush=True)
        out["forgetting"].append({"steps": curves.steps, "switch": curves.switch_step, "early": curves.early,
                                  "early_curves": curves.early_curves.tolist(), "paused": curves.paused_accuracy,
                                  "later_curves": curves.later_curves.tolist(), "immediate_drop": drops[-1]})
    print(f"=== forgetting ({args.early_epochs} + {args.later_epochs} epochs, records every {args.record_every:g} epoch, "
          f"{args.seeds} seeds): mean loss of the early paths to the paused control right after the switch per seed "
          f"{np.round(drops, 3).tolist()} (positive in {sum(d > 0 for d in drops)} of {len(drops)}); largest mean loss "
          f"after the switch {np.round(deepest, 3).tolist()}; mean over the records after the switch "
          f"{np.round([float(np.mean(x)) for x in losses], 3).tolist()}; at the end "
          f"{np.round([float(x[-1]) for x in losses], 3).tolist()}", flush=True)


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
    returned, seconds, local, policy = [], [], [], []
    for seed in range(args.seeds):
        search = ENAS(data, epochs=args.enas_epochs, seed=seed)
        chosen = search.search()
        returned.append(float(test[bench.row(chosen)]))
        seconds.append(bench.seconds_for(search.macs))
        local.append(search.seconds)
        print(f"ENAS seed {seed}: {seconds[-1]:.1f} s in the benchmark's unit ({search.seconds:.1f} s here), returned {chosen} test {returned[-1]:.3f}; greedy "
              f"{search.most_likely()} test {test[bench.row(search.most_likely())]:.3f}", flush=True)
        initial, trained = search.policy_reward(search.initial_controller), search.policy_reward()
        shares = [search.initial_shares] + [h["shares"] for h in search.history]
        print(f"  policy: share of each operation per epoch (0 = initial) "
              f"{ {name: [round(s[name], 2) for s in shares] for name in search.supernet.operations} }; "
              f"mean reward of 20 sampled cells on the final supernet: initial policy {initial:.3f}, trained {trained:.3f}",
              flush=True)
        policy.append((initial, trained, shares))
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
    gains = [trained - initial for initial, trained, _ in policy]
    print(f"=== ENAS's controller: trained minus initial policy's mean reward on the same supernet per seed "
          f"{np.round(gains, 3).tolist()}", flush=True)
    out["enas"] = {"returned": returned, "seconds": seconds, "local_seconds": local, "random": random_returned,
                   "policy": policy}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--part", choices=("ranking", "fairness", "forgetting", "evolution", "enas", "all"),
                        default="all")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=32, help="supernet epochs for the ranking study")
    parser.add_argument("--spos-epochs", type=int, default=8, help="evolution: epochs of each supernet")
    parser.add_argument("--search-seeds", type=int, default=40, help="evolution: searches per supernet and setting")
    parser.add_argument("--log", default=os.path.join("runs", "ch05_spos_search.jsonl"),
                        help="evolution: resumable log of the supernets' path scores")
    parser.add_argument("--enas-epochs", type=int, default=10)
    parser.add_argument("--early-epochs", type=int, default=4, help="forgetting: epochs on the early paths")
    parser.add_argument("--later-epochs", type=int, default=8, help="forgetting: epochs on the rest of the space")
    parser.add_argument("--record-every", type=float, default=0.5, help="forgetting: epochs between records")
    parser.add_argument("--fair-spos-epochs", type=int, default=8, help="fairness: SPOS's epochs (FairNAS a quarter)")
    parser.add_argument("--fair-cells", type=int, default=60, help="fairness: cells scored")
    parser.add_argument("--out", default=None, help="write the measurements as JSON here")
    args = parser.parse_args()
    torch.set_num_threads(1)
    data, bench, out = load_dataset("digits"), Benchmark.load(), {"args": vars(args)}
    for part in ("ranking", "fairness", "forgetting", "evolution", "enas"):
        if args.part in (part, "all"):
            globals()[part](args, data, bench, out)
    if args.out:
        with open(args.out, "w") as handle:
            json.dump(out, handle, indent=1, default=float)


if __name__ == "__main__":
    main()
