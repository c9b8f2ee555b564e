"""Chapter 04's experiments over several seeds; the notebook's summary quotes this script's output.

    python experiments/ch04_seeds.py              # quick profile, seeds 0-4 (a quarter of an hour or more on a CPU)
    python experiments/ch04_seeds.py --seeds 3    # seeds 0-2

Every seed runs what the notebook runs (same networks, budgets and searches), so a column's minimum
over the seeds is what the notebook's assertions may rely on.
"""

import argparse

import numpy as np
import torch

import nascourse
from nascourse.recycling import search as recycling, transforms
from nascourse.recycling.network import MorphNet
from nascourse.train import accuracy


def one_seed(seed: int, data, profile) -> dict:
    budget = dict(batch_size=profile.batch_size, learning_rate=profile.learning_rate)
    short = max(1, profile.epochs // 3)
    steps = 3
    torch.manual_seed(seed)
    base = MorphNet.plain(data.input_shape, data.num_classes, widths=(8, 16), pool_after=(0,), hidden=(16,))
    base_result = nascourse.train(base, data, epochs=profile.epochs, seed=seed, **budget)

    generator = torch.Generator().manual_seed(seed)
    grown = transforms.net2wider_conv(base, 0, 16, generator=generator)
    grown = transforms.net2wider_conv(grown, 2, 32, generator=generator)
    grown = transforms.net2deeper_conv(grown, 3)
    fresh_untrained = accuracy(recycling.from_scratch(grown, seed=seed), data.val)
    grown_result, scratch_result = recycling.grown_versus_scratch(grown, data, epochs=profile.epochs, seed=seed, **budget)

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
        "parent": base_result.final_accuracy,
        "fresh@0": fresh_untrained,
        "grown@1": grown_result.curve[0].val_accuracy,
        "scratch@1": scratch_result.curve[0].val_accuracy,
        "grown@end": grown_result.final_accuracy,
        "scratch@end": scratch_result.final_accuracy,
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, default=5, help="run seeds 0 .. SEEDS-1")
    args = parser.parse_args()
    profile = nascourse.get_profile()
    data = nascourse.load_dataset(profile.dataset, device=nascourse.select_device(), train_subset=profile.train_subset)
    rows = []
    for seed in range(args.seeds):
        rows.append(one_seed(seed, data, profile))
        print(f"seed {seed}: " + ", ".join(f"{k} {v:.3f}" for k, v in rows[-1].items()), flush=True)
    print()
    print(f"{'':20}" + "".join(f"{f'seed {s}':>9}" for s in range(len(rows))) + f"{'min':>9}{'mean':>9}{'max':>9}")
    for column in rows[0]:
        values = [r[column] for r in rows]
        print(f"{column:20}" + "".join(f"{v:>9.3f}" for v in values)
              + f"{np.nanmin(values):>9.3f}{np.nanmean(values):>9.3f}{np.nanmax(values):>9.3f}")


if __name__ == "__main__":
    main()
