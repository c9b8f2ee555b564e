"""Chapter 04's experiments over several seeds; the notebook's summary quotes this script's output.

    python experiments/ch04_seeds.py              # quick profile, seeds 0-2 (a few minutes on a CPU)
    python experiments/ch04_seeds.py --seeds 5
"""

import argparse

import numpy as np
import torch

import nascourse
from nascourse.recycling import search as recycling, transforms
from nascourse.recycling.network import MorphNet


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
    close = [t for t in n2n.history if t.ok and t.accuracy >= teacher_result.final_accuracy - 0.05]
    smallest = min((t.parameters for t in close), default=float("nan")) / nascourse.count_parameters(teacher)
    return {
        "parent": base_result.final_accuracy,
        "grown@1": grown_result.curve[0].val_accuracy,
        "scratch@1": scratch_result.curve[0].val_accuracy,
        "grown@end": grown_result.final_accuracy,
        "scratch@end": scratch_result.final_accuracy,
        "NASH best": nash.best_accuracy,
        "NASH arch scratch": nash_scratch.final_accuracy,
        "start arch scratch": base_longer.final_accuracy,
        "EAS best": eas.best_accuracy,
        "teacher": teacher_result.final_accuracy,
        "N2N smallest≤5pt": smallest,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, default=3)
    args = parser.parse_args()
    profile = nascourse.get_profile()
    data = nascourse.load_dataset(profile.dataset, device=nascourse.select_device(), train_subset=profile.train_subset)
    rows = [one_seed(seed, data, profile) for seed in range(args.seeds)]
    columns = list(rows[0])
    print("seed  " + "  ".join(f"{c:>17}" for c in columns))
    for seed, row in enumerate(rows):
        print(f"{seed:>4}  " + "  ".join(f"{row[c]:>17.3f}" for c in columns))
    print("mean  " + "  ".join(f"{np.nanmean([r[c] for r in rows]):>17.3f}" for c in columns))


if __name__ == "__main__":
    main()
