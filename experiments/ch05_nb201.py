"""Chapter 05 against NAS-Bench-201: training-free proxies and the cell-only predictor, with the papers' figures.

Prints, per dataset of NAS-Bench-201 (its final accuracies, mean over its training seeds):
1. synflow on NAS-Bench-201's real networks (C = 16, N = 5, full-size inputs) over a random sample of cells,
   and the parameter count (the baseline) on the same sample and on all 15,625 cells: Spearman and Kendall
   against the test accuracy (and Spearman against the validation accuracy), MACs counted per cell;
2. the ridge predictor on the cell's one-hot operations, trained on 50 / 100 / 500 random cells' validation
   accuracy, ranking the held-out cells by test accuracy, over --repeats random splits;
3. the published figures it can be compared with (only those checked against their source).

    NASCOURSE_NB201=../shared/nb201 python experiments/ch05_nb201.py                # 163 s measured on one shared core
    NASCOURSE_NB201=../shared/nb201 python experiments/ch05_nb201.py --cells 200 --other-cells 0   # CIFAR-10 only

NASWOT and grad-norm are left out: they need the datasets' images, which the course does not download.
The parameter count of a cell is the table's closed form (``NB201Table.parameters``), which equals the count
of the built network (tests/test_nb201_estimation.py), so it costs nothing on all 15,625 cells.
"""

import argparse
import random
import time

import numpy as np
import torch
from scipy.stats import kendalltau

from nascourse.bench.nb201 import NB201Table
from nascourse.estimation import evaluate_cell_predictor, nb201_proxy_correlations
from nascourse.stats import spearman

# Abdelfattah, Mehrotra, Dudziak & Lane, "Zero-Cost Proxies for Lightweight NAS" (ICLR 2021), Table 1: Spearman
# of synflow with the test accuracy over all 15,625 cells (200 epochs; CIFAR-10 = the cifar10-valid setting, as
# here), read from the authors' notebook github.com/SamsungLabs/zero-cost-nas, notebooks/nasbench201_correlations.ipynb
# (the paper rounds them to 0.74 / 0.76 / 0.75).
PUBLISHED_SYNFLOW = {"cifar10": 0.737, "cifar100": 0.763, "ImageNet16-120": 0.751}
DATASETS = ("cifar10", "cifar100", "ImageNet16-120")


def proxies(table: NB201Table, cells: int, seed: int) -> None:
    start = time.perf_counter()
    synflow, = nb201_proxy_correlations(table, ("synflow",), sample_size=cells, seed=seed)
    seconds = time.perf_counter() - start
    rows = sorted(random.Random(seed).sample(range(len(table)), cells))  # the sample the function drew
    test = table.test_accuracy
    print(f"  {synflow.line()}")
    print(f"  {'':16} {synflow.lowest_scores} cells at synflow 0 (no path from the input), ranked last; "
          f"{seconds:.0f} s on this machine")
    print(f"  {'parameter_count':16} Spearman {spearman(table.parameters[rows], test[rows]):6.3f} (validation "
          f"{spearman(table.parameters[rows], table.val_accuracy[rows]):6.3f})  Kendall "
          f"{kendalltau(table.parameters[rows], test[rows]).statistic:6.3f}  on the same {cells} cells")
    print(f"  {'parameter_count':16} Spearman {spearman(table.parameters, test):6.3f}  Kendall "
          f"{kendalltau(table.parameters, test).statistic:6.3f}  on all {len(table):,} cells")
    print(f"  published synflow Spearman over all {len(table):,} cells (Abdelfattah et al. 2021, Table 1): "
          f"{PUBLISHED_SYNFLOW[table.dataset]:.3f}")


def predictors(table: NB201Table, train_sizes, repeats: int, seed: int, both_features: bool) -> None:
    for canonical in (True, False) if both_features else (True,):
        print(f"  features: {'canonical cell (equivalent cells alike)' if canonical else 'exact cell'}")
        for train_size in train_sizes:
            start = time.perf_counter()
            report = evaluate_cell_predictor(table, train_size, repeats, seed, canonical=canonical)
            print(f"    {report.line()}  [{time.perf_counter() - start:.1f} s]")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=None, help="folder of NAS-Bench-201's CSVs (default: $NASCOURSE_NB201)")
    parser.add_argument("--cells", type=int, default=1000, help="cells synflow scores on CIFAR-10")
    parser.add_argument("--other-cells", type=int, default=300,
                        help="cells synflow scores on CIFAR-100 and ImageNet16-120 (0: skip those datasets)")
    parser.add_argument("--seed", type=int, default=0, help="draws the sample, initialises the networks, splits")
    parser.add_argument("--train-sizes", type=int, nargs="+", default=[50, 100, 500])
    parser.add_argument("--repeats", type=int, default=20, help="random train/test splits per train size")
    args = parser.parse_args()
    torch.set_num_threads(1)
    total = time.perf_counter()
    for dataset in DATASETS:
        cells = args.cells if dataset == "cifar10" else args.other_cells
        if not cells:
            continue
        table = NB201Table.load(args.data, dataset)
        print(f"\n{dataset} ({len(table):,} cells, test accuracy best {table.test_accuracy.max():.4f}, median "
              f"{np.median(table.test_accuracy):.4f}); seed {args.seed}")
        print(f" 1. proxies on {cells} random cells (random.Random({args.seed}).sample), networks initialised with "
              f"torch.manual_seed({args.seed})")
        proxies(table, cells, args.seed)
        print(f" 2. cell-only ridge predictor (ridge 1), {args.repeats} splits from numpy default_rng({args.seed})")
        predictors(table, args.train_sizes, args.repeats, args.seed, both_features=dataset == "cifar10")
    print(f"\nParameter count: no published figure checked against its source (unverified). "
          f"Total {time.perf_counter() - total:.0f} s.")


if __name__ == "__main__":
    main()
