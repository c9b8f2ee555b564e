"""Chapter 04's controls over several seeds (issue 20, items 9 and 14); the notebook quotes this script's output.

    python experiments/ch04_controls.py                  # quick profile, seeds 0-4, every part
    python experiments/ch04_controls.py --part nash      # NASH against a parameter-matched baseline
    python experiments/ch04_controls.py --part n2n       # N2N's student against the same student without
                                                         # distillation and from scratch
    python experiments/ch04_controls.py --part path      # Path-level EAS's policy against random path-level moves

Every seed runs what the notebook runs (same networks, budgets and searches):

* nash: NASH's best child; its architecture trained from scratch for the lineage's total epochs; the
  starting architecture as long; and the starting architecture made wider until it has as many parameters as
  NASH's best (``parameter_matched_plain``), as long. The comparison that credits the architecture, not its
  size, is NASH's architecture from scratch against the matched plain network.
* n2n: N2N's best student (highest reward), retrained from its inherited weights with and without
  distillation, and from fresh weights with and without distillation, all with the same epochs and batches
  (``n2n_controls``).
* path: ``path_level_eas`` with its REINFORCE policy, and with a policy learning rate of 0 (uniformly random
  kinds of path-level transformation), at the same budget; start network as in the notebook.

Each finished seed of a part is appended to ``runs/ch04_controls_<part>.jsonl`` (``--log-dir``); a rerun skips
what is there, so the parts may run as separate processes at the same time. The summary gives each column's per-seed values and the paired differences with
``nascourse.stats.difference_test`` (mean, 95 % bootstrap interval, Wilcoxon p) and Vargha-Delaney A.
"""

import argparse
import json
import os

import numpy as np
import torch

import nascourse
from nascourse.recycling import search as recycling
from nascourse.recycling.network import MorphNet
from nascourse.stats import difference_test, vargha_delaney_a

PAIRS = {
    "nash": [("NASH arch scratch", "matched plain scratch"), ("NASH best", "matched plain scratch"),
             ("NASH best", "start arch scratch"), ("NASH arch scratch", "start arch scratch")],
    "n2n": [("inherited + distillation", "inherited, no distillation"),
            ("inherited + distillation", "scratch, no distillation"),
            ("inherited, no distillation", "scratch, no distillation"),
            ("scratch + distillation", "scratch, no distillation")],
    "path": [("policy best", "random best"), ("policy median", "random median"),
             ("policy best", "start longer")],
}


def base_network(data, profile, seed: int):
    torch.manual_seed(seed)
    base = MorphNet.plain(data.input_shape, data.num_classes, widths=(8, 16), pool_after=(0,), hidden=(16,))
    nascourse.train(base, data, epochs=profile.epochs, seed=seed,
                    batch_size=profile.batch_size, learning_rate=profile.learning_rate)
    return base


def nash_part(seed, data, profile, budget, short) -> dict:
    base = base_network(data, profile, seed)
    steps = 3
    nash = recycling.nash_hill_climbing(base, data, steps=steps, children=4, morphisms_per_child=2,
                                        epochs_per_child=short, seed=seed, progress=False, **budget)
    lineage = profile.epochs + steps * short
    parameters = nascourse.count_parameters(nash.best)
    matched = recycling.parameter_matched_plain(base, parameters)
    torch.manual_seed(seed)
    return {
        "NASH best": nash.best_accuracy,
        "NASH arch scratch": nascourse.train(recycling.from_scratch(nash.best, seed), data, epochs=lineage,
                                             seed=seed, **budget).final_accuracy,
        "matched plain scratch": nascourse.train(matched, data, epochs=lineage, seed=seed, **budget).final_accuracy,
        "start arch scratch": nascourse.train(recycling.from_scratch(base, seed), data, epochs=lineage, seed=seed,
                                              **budget).final_accuracy,
        "NASH / start parameters": parameters / nascourse.count_parameters(base),
        "matched / NASH parameters": nascourse.count_parameters(matched) / parameters,
    }


def n2n_part(seed, data, profile, budget, short) -> dict:
    torch.manual_seed(seed)
    teacher = MorphNet.plain(data.input_shape, data.num_classes, widths=(32, 32, 64), pool_after=(1,), hidden=(64,))
    teacher_result = nascourse.train(teacher, data, epochs=profile.epochs, seed=seed, **budget)
    n2n = recycling.n2n_compress(teacher, data, updates=3, students_per_update=4, epochs_per_student=short,
                                 seed=seed, progress=False, **budget)
    controls = recycling.n2n_controls(n2n, teacher, data, epochs=short, seed=seed, **budget)
    row = {name: result.final_accuracy for name, result in controls.items()}
    row["teacher"] = teacher_result.final_accuracy
    row["student / teacher parameters"] = nascourse.count_parameters(n2n.best) / nascourse.count_parameters(teacher)
    return row


def path_part(seed, data, profile, budget, short) -> dict:
    base = base_network(data, profile, seed)
    row = {}
    for name, rate in (("policy", 0.3), ("random", 0.0)):
        result = recycling.path_level_eas(base, data, updates=3, episodes_per_update=4, transform_steps=2,
                                          epochs_per_network=short, policy_learning_rate=rate, seed=seed,
                                          progress=False, **budget)
        accuracies = [t.accuracy for t in result.history]
        row[f"{name} best"] = max(accuracies)
        row[f"{name} median"] = float(np.median(accuracies))
        row[f"{name} last-update median"] = float(np.median(accuracies[-4:]))
    row["start longer"] = nascourse.train(recycling.from_scratch(base, seed), data, epochs=profile.epochs + 2 * short,
                                          seed=seed, **budget).final_accuracy
    return row


PARTS = {"nash": nash_part, "n2n": n2n_part, "path": path_part}


def summary(part: str, rows: dict) -> None:
    seeds = sorted(rows)
    print(f"\npart {part}, seeds {seeds}")
    columns = list(rows[seeds[0]])
    print(f"{'':32}" + "".join(f"{s:>7}" for s in seeds) + f"{'mean':>8}")
    for column in columns:
        values = [rows[s][column] for s in seeds]
        print(f"{column:32}" + "".join(f"{v:>7.3f}" for v in values) + f"{np.mean(values):>8.3f}")
    for a, b in PAIRS[part]:
        x, y = [rows[s][a] for s in seeds], [rows[s][b] for s in seeds]
        test = difference_test(x, seeds, y, seeds)
        print(f"{a} - {b}: {test['difference']:+.3f} [{test['low']:+.3f}, {test['high']:+.3f}], "
              f"p = {test['p']:.3f} ({'paired' if test['paired'] else 'unpaired'}), A = {vargha_delaney_a(x, y):.2f}, "
              f"ahead on {sum(u > v for u, v in zip(x, y))} of {len(seeds)} seeds")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, default=5, help="run seeds 0 .. SEEDS-1")
    parser.add_argument("--part", choices=("all",) + tuple(PARTS), default="all")
    parser.add_argument("--log-dir", default="runs", help="folder of the resumable logs, one per part")
    args = parser.parse_args()
    torch.set_num_threads(1)
    profile = nascourse.get_profile()
    data = nascourse.load_dataset(profile.dataset, device=nascourse.select_device(), train_subset=profile.train_subset)
    budget = dict(batch_size=profile.batch_size, learning_rate=profile.learning_rate)
    short = max(1, profile.epochs // 3)
    parts = list(PARTS) if args.part == "all" else [args.part]
    os.makedirs(args.log_dir, exist_ok=True)
    done = {part: {} for part in parts}
    for part in parts:
        path = os.path.join(args.log_dir, f"ch04_controls_{part}.jsonl")
        if os.path.exists(path):
            with open(path) as log:
                for line in log:
                    entry = json.loads(line)
                    if entry["profile"] == profile.name:
                        done[part][entry["seed"]] = entry["row"]
        for seed in range(args.seeds):
            if seed not in done[part]:
                done[part][seed] = PARTS[part](seed, data, profile, budget, short)
                with open(path, "a") as log:
                    log.write(json.dumps({"profile": profile.name, "part": part, "seed": seed,
                                          "row": done[part][seed]}) + "\n")
            print(f"{part} seed {seed}: " + ", ".join(f"{k} {v:.3f}" for k, v in done[part][seed].items()), flush=True)
    for part in parts:
        summary(part, {s: done[part][s] for s in range(args.seeds)})


if __name__ == "__main__":
    main()
