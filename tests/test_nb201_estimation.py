"""Zero-cost proxies and the cell-only predictor scored against NAS-Bench-201 (needs the shared CSVs)."""

import random

import numpy as np
import pytest
import torch
from scipy.stats import kendalltau, spearmanr

from nascourse.bench.nb201 import NB201Table
from nascourse.compute import TRAINING_FACTOR
from nascourse.estimation import (cell_features, evaluate_cell_predictor, nb201_proxy_correlations,
                                  nb201_proxy_scores)

ALL_NONE = "|none~0|+|none~0|none~1|+|none~0|none~1|none~2|"
# a few real cells: all 3x3 convolutions (the largest network), a mixed one, all skip connections, all pooling
CELLS = ["|conv3x3~0|+|conv3x3~0|conv3x3~1|+|conv3x3~0|conv3x3~1|conv3x3~2|",
         "|conv1x1~0|+|skip~0|conv3x3~1|+|avgpool3x3~0|conv1x1~1|skip~2|",
         "|skip~0|+|skip~0|skip~1|+|skip~0|skip~1|skip~2|",
         "|avgpool3x3~0|+|avgpool3x3~0|avgpool3x3~1|+|avgpool3x3~0|avgpool3x3~1|avgpool3x3~2|"]


@pytest.fixture(scope="module")
def table(nb201_folder) -> NB201Table:
    return NB201Table.load(nb201_folder, "cifar10")


def test_synflow_on_real_networks_is_positive_and_the_all_none_cell_scores_lowest(table):
    rows = [table.row(cell) for cell in CELLS] + [table.row(ALL_NONE)]
    scores, macs = nb201_proxy_scores(table, rows, "synflow")
    assert np.all(np.isfinite(scores))
    assert np.all(scores[:-1] > 0)
    assert scores[-1] == 0.0 and scores[-1] < scores[:-1].min()  # no path from the input: nothing flows
    # the count is one forward and one backward pass of one image through the real network
    np.testing.assert_array_equal(macs, TRAINING_FACTOR * table.flops[rows])
    # the networks are NAS-Bench-201's: the parameter count of each built network is the table's closed form
    counts, no_macs = nb201_proxy_scores(table, rows, "parameter_count")
    np.testing.assert_array_equal(counts, table.parameters[rows])
    assert not no_macs.any()


def test_a_sample_is_correlated_with_the_table_as_scipy_computes_it(table):
    report, = nb201_proxy_correlations(table, ("parameter_count",), sample_size=30, seed=1)
    rows = sorted(random.Random(1).sample(range(len(table)), 30))  # the sample the function draws
    parameters, test = table.parameters[rows].astype(float), table.test_accuracy[rows]
    assert report.architectures == 30 and report.dataset == "cifar10"
    assert report.spearman == pytest.approx(spearmanr(parameters, test).statistic)
    assert report.kendall == pytest.approx(kendalltau(parameters, test).statistic)
    assert report.validation_spearman == pytest.approx(spearmanr(parameters, table.val_accuracy[rows]).statistic)
    assert report.macs_per_cell == 0 and 0 <= report.top10_hit_rate <= 1


def test_proxies_that_need_images_are_refused_without_data(table):
    for proxy in ("naswot", "grad_norm"):
        with pytest.raises(ValueError, match="needs a minibatch of real cifar10 images"):
            nb201_proxy_correlations(table, ("synflow", proxy), sample_size=10)
    with pytest.raises(ValueError, match=r"shape \(B, 3, 32, 32\)"):
        nb201_proxy_scores(table, [0], "naswot", data=(torch.zeros(4, 3, 16, 16), None))
    # with a batch they run (random images here: the course has no CIFAR-10 offline)
    images, labels = torch.randn(4, 3, 32, 32, generator=torch.Generator().manual_seed(0)), torch.arange(4)
    scores, macs = nb201_proxy_scores(table, [table.row(CELLS[1])], "grad_norm", data=(images, labels))
    assert np.isfinite(scores).all() and scores[0] > 0 and macs[0] > 0


def test_the_cell_predictor_ranks_held_out_cells_and_repeats_with_its_seed(table):
    assert cell_features(table, [table.row(CELLS[0])]).shape == (1, 30)
    report = evaluate_cell_predictor(table, train_size=100, repeats=3, seed=0)
    # measured: 0.72 at seed 0; over 50 splits 0.69 +- 0.08 per split, so 0.4 leaves a wide margin
    assert report.spearman > 0.4 and report.kendall > 0.25
    assert report.train_size == 100 and report.repeats == 3
    assert report == evaluate_cell_predictor(table, train_size=100, repeats=3, seed=0)
    assert report.spearman != evaluate_cell_predictor(table, train_size=100, repeats=3, seed=1).spearman
    with pytest.raises(ValueError, match="train_size"):
        evaluate_cell_predictor(table, train_size=len(table))


def test_synflow_in_place_scores_what_the_copy_scores():
    # needs no NAS-Bench-201 data: only its space, which builds the networks
    from nascourse.bench.nb201 import NB201Space
    from nascourse.estimation import synflow

    torch.manual_seed(0)
    model = NB201Space().build(CELLS[1], (3, 32, 32), 10)
    images = torch.zeros(1, 3, 32, 32)
    on_copy = synflow(model, images)
    assert next(model.parameters()).dtype == torch.float32  # the copy left the model alone
    assert synflow(model, images, in_place=True) == pytest.approx(on_copy, rel=1e-12)
    assert next(model.parameters()).dtype == torch.float64  # in place: the model became the scored form
