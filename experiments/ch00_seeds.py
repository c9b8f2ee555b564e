"""Chapter 00's experiment over several seeds: random search vs. a hand-designed chain.

Prints, per seed, the best validation accuracy found, the test accuracy of the searched
architecture and of the hand-designed one (both retrained on train + validation), and a summary.
The numbers quoted in notebooks/00_the_nas_loop.ipynb come from this script:

    python experiments/ch00_seeds.py            # quick profile, seeds 0-4 (a few minutes on a CPU)
    python experiments/ch00_seeds.py --seeds 10
"""

import argparse

import numpy as np

import nascourse

HAND_DESIGNED = "conv3x3:16 > conv3x3:32"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, default=5, help="number of seeds, from 0 (default 5)")
    args = parser.parse_args()
    profile = nascourse.get_profile()
    device = nascourse.select_device()
    data = nascourse.load_dataset(profile.dataset, device=device, train_subset=profile.train_subset)
    space = nascourse.ChainSpace(
        channel_choices=profile.channel_choices, max_layers=profile.max_layers, skip_connections=True
    )
    budget = dict(epochs=profile.epochs, batch_size=profile.batch_size, learning_rate=profile.learning_rate)
    print(f"profile {profile.name}, device {device}, {profile.search_trials} candidates per search")
    print(f"{'seed':>4}  {'best val':>8}  {'searched test':>13}  {'hand test':>9}  best architecture")
    searched, hand = [], []
    for seed in range(args.seeds):
        evaluator = nascourse.TrainingEvaluator(space, data, seed=seed, **budget)
        history = nascourse.run_search(
            space, nascourse.RandomSearch(space, seed=seed), evaluator, profile.search_trials, progress=False
        )
        best = history.best()
        found = nascourse.final_evaluation(space, best.architecture, data, seed=seed, **budget)
        baseline = nascourse.final_evaluation(space, HAND_DESIGNED, data, seed=seed, **budget)
        searched.append(found.test_accuracy)
        hand.append(baseline.test_accuracy)
        print(f"{seed:>4}  {best.accuracy:>8.3f}  {found.test_accuracy:>13.3f}  {baseline.test_accuracy:>9.3f}  {best.architecture}")
    searched, hand = np.array(searched), np.array(hand)
    print(
        f"searched test accuracy: mean {searched.mean():.3f} (min {searched.min():.3f}, max {searched.max():.3f}); "
        f"hand-designed: mean {hand.mean():.3f} (min {hand.min():.3f}, max {hand.max():.3f}); "
        f"searched better in {(searched > hand + 0.01).sum()}, tied in {(abs(searched - hand) <= 0.01).sum()}, "
        f"worse in {(searched < hand - 0.01).sum()} of {len(searched)} seeds"
    )


if __name__ == "__main__":
    main()
