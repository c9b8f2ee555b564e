"""Chapter 04's experiments over several seeds; the notebook's summary quotes this script's output.

    python experiments/ch04_seeds.py                  # quick profile, seeds 0-4: the growth sweep and the searches
    python experiments/ch04_seeds.py --part growth    # only the grown-versus-scratch sweep (about a minute)
    python experiments/ch04_seeds.py --seeds 3        # seeds 0-2

Every seed runs what the notebook runs (same networks, budgets and searches), so a column's minimum
over the seeds is what the notebook's assertions may rely on. The growth sweep also trains the grown
network in the settings the notebook used before (no symmetry-breaking noise, a BatchNorm that is the
identity in eval mode only, a third of the learning rate) and every mix of noise (0 or Net2Net's
``WIDEN_NOISE``) and learning rate (the profile's, or a third of it, for the grown network and the
fresh one alike), so that each change can be judged on its own.

Each finished seed is appended to a log (``--log``, default ``runs/ch04_seeds.jsonl``); a rerun with
the same profile and part skips the seeds already there and prints the table over all of them.
"""

import argparse
import json
import os

import numpy as np
import torch

import nascourse
from nascourse.recycling import search as recycling, transforms
from nascourse.recycling.network import MorphNet
from nascourse.train import accuracy

# (label, noise of the widenings, BatchNorm of the deepening set from training images?, learning-rate factor)
GROWTH_VARIANTS = [
    ("before: noise 0, BN eval-only, lr/3", 0.0, False, 1 / 3),
    ("noise 0, lr/3", 0.0, True, 1 / 3),
    ("noise 0, lr", 0.0, True, 1.0),
    ("noise 0.1, lr/3", transforms.WIDEN_NOISE, True, 1 / 3),
    ("noise 0.1, lr (notebook)", transforms.WIDEN_NOISE, True, 1.0),
    ("noise 0.1, BN eval-only, lr", transforms.WIDEN_NOISE, False, 1.0),
]


def base_network(data, profile, seed: int):
    torch.manual_seed(seed)
    base = MorphNet.plain(data.input_shape, data.num_classes, widths=(8, 16), pool_after=(0,), hidden=(16,))
    result = nascourse.train(base, data, epochs=profile.epochs, seed=seed,
                             batch_size=profile.batch_size, learning_rate=profile.learning_rate)
    return base, result


def grow(base, data, seed: int, noise: float, set_statistics: bool):
    """The notebook's growth: widen both convolutions, deepen once."""
    generator = torch.Generator().manual_seed(seed)
    grown = transforms.net2wider_conv(base, 0, 16, noise=noise, generator=generator)
    grown = transforms.net2wider_conv(grown, 2, 32, noise=noise, generator=generator)
    images = recycling.statistics_images(data) if set_statistics else None
    return transforms.net2deeper_conv(grown, 3, images=images)


def closest_copy_distance(weight_before: torch.Tensor, weight_after: torch.Tensor, old: int) -> float:
    """The smallest distance, after training, between a new filter and the old filter it was copied from.

    Which old filter a new one copies is read before training: the nearest one (exactly equal at noise 0).
    """
    before = weight_before.flatten(1)
    origin = torch.cdist(before[old:], before[:old]).argmin(dim=1)
    after = weight_after.detach().flatten(1)
    return (after[old:] - after[origin]).norm(dim=1).min().item()


def growth(seed: int, data, profile, base=None, base_result=None) -> dict:
    if base is None:
        base, base_result = base_network(data, profile, seed)
    rate, epochs = profile.learning_rate, profile.epochs
    row = {"parent": base_result.final_accuracy}
    for label, noise, set_statistics, factor in GROWTH_VARIANTS:
        grown = grow(base, data, seed, noise, set_statistics)
        filters_before = grown.units[0].conv.weight.detach().clone()
        if label.endswith("(notebook)"):
            row["grown@0"] = accuracy(grown, data.val)
        result = nascourse.train(grown, data, epochs=epochs, seed=seed, batch_size=profile.batch_size,
                                 learning_rate=rate * factor)
        row[f"{label} @1"] = result.curve[0].val_accuracy
        row[f"{label} @end"] = result.final_accuracy
        if factor == 1.0 and set_statistics:
            row[f"copy distance, noise {noise:g}"] = closest_copy_distance(filters_before, grown.units[0].conv.weight, 8)
    for label, factor in (("scratch, lr/3", 1 / 3), ("scratch, lr", 1.0)):
        scratch = recycling.from_scratch(grow(base, data, seed, 0.0, False), seed=seed)
        result = nascourse.train(scratch, data, epochs=epochs, seed=seed, batch_size=profile.batch_size,
                                 learning_rate=rate * factor)
        row[f"{label} @1"] = result.curve[0].val_accuracy
        row[f"{label} @end"] = result.final_accuracy
    return row


def searches(seed: int, data, profile, base, base_result) -> dict:
    budget = dict(batch_size=profile.batch_size, learning_rate=profile.learning_rate)
    short = max(1, profile.epochs // 3)
    steps = 3
    nash = recycling.nash_hill_climbing(base, data, steps=steps, children=4, morphisms_per_child=2,
                                        epochs_per_child=short, seed=seed, progress=False, **budget)
    lineage_epochs = profile.epochs + steps * short
    nash_scratch = nascourse.train(recycling.from_scratch(nash.best, seed), data, epochs=lineage_epochs, seed=seed, **budget)
    base_longer = nascourse.train(recycling.from_scratch(base, seed), data, epochs=lineage_epochs, seed=seed, **budget)
    eas = recycling.eas_search(base, data, updates=3, episodes_per_update=4, transform_steps=2,
                               epochs_per_network=short, seed=seed, progress=False, **budget)

    torch.manual_seed(seed)
    teacher = MorphNet.plain(data.input_shape, data.num_classes, widths=(32, 32, 64), pool_after=(1,), hidden=(64,))
    teacher_result = nascourse.train(teacher, data, epochs=profile.epochs, seed=seed, **budget)
    n2n = recycling.n2n_compress(teacher, data, updates=3, students_per_update=4, epochs_per_student=short,
                                 seed=seed, progress=False, **budget)
    teacher_parameters = nascourse.count_parameters(teacher)
    students = [t for t in n2n.history if t.ok]
    close = [t for t in students if t.accuracy >= teacher_result.final_accuracy - 0.05]
    smallest = min((t.parameters for t in close), default=float("nan")) / teacher_parameters
    nash_children = [t.accuracy for t in nash.history]
    eas_children = [t.accuracy for t in eas.history]
    return {
        "NASH best": nash.best_accuracy,
        "NASH child max": max(nash_children),
        "NASH child min": min(nash_children),
        "NASH arch scratch": nash_scratch.final_accuracy,
        "start arch scratch": base_longer.final_accuracy,
        "NASH params": nascourse.count_parameters(nash.best) / nascourse.count_parameters(base),
        "EAS best": eas.best_accuracy,
        "EAS child max": max(eas_children),
        "EAS child median": float(np.median(eas_children)),
        "EAS child min": min(eas_children),
        "teacher": teacher_result.final_accuracy,
        "N2N smallest<=5pt": smallest,
        "N2N smallest": min(t.parameters for t in students) / teacher_parameters,
        "N2N best@<=25%": max((t.accuracy for t in students if t.parameters <= teacher_parameters / 4), default=float("nan")),
    }


def one_seed(seed: int, data, profile, part: str) -> dict:
    base, base_result = base_network(data, profile, seed)
    row = growth(seed, data, profile, base, base_result)
    if part == "all":
        row.update(searches(seed, data, profile, base, base_result))
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, default=5, help="run seeds 0 .. SEEDS-1")
    parser.add_argument("--part", choices=("all", "growth"), default="all", help="everything, or the growth sweep only")
    parser.add_argument("--log", default=os.path.join("runs", "ch04_seeds.jsonl"), help="resumable log of finished seeds")
    args = parser.parse_args()
    profile = nascourse.get_profile()
    data = nascourse.load_dataset(profile.dataset, device=nascourse.select_device(), train_subset=profile.train_subset)
    done = {}
    if os.path.exists(args.log):
        with open(args.log) as log:
            for line in log:
                entry = json.loads(line)
                if entry["profile"] == profile.name and entry["part"] == args.part:
                    done[entry["seed"]] = entry["row"]
    os.makedirs(os.path.dirname(args.log) or ".", exist_ok=True)
    rows = []
    for seed in range(args.seeds):
        if seed not in done:
            done[seed] = one_seed(seed, data, profile, args.part)
            with open(args.log, "a") as log:
                log.write(json.dumps({"profile": profile.name, "part": args.part, "seed": seed, "row": done[seed]}) + "\n")
        rows.append(done[seed])
        print(f"seed {seed}: " + ", ".join(f"{k} {v:.3f}" for k, v in rows[-1].items()), flush=True)
    print()
    print(f"profile {profile.name}, part {args.part}, seeds 0-{args.seeds - 1}")
    print(f"{'':38}" + "".join(f"{f'seed {s}':>8}" for s in range(len(rows))) + f"{'min':>8}{'mean':>8}{'max':>8}")
    for column in rows[0]:
        values = [r[column] for r in rows]
        print(f"{column:38}" + "".join(f"{v:>8.3f}" for v in values)
              + f"{np.nanmin(values):>8.3f}{np.nanmean(values):>8.3f}{np.nanmax(values):>8.3f}")


if __name__ == "__main__":
    main()
