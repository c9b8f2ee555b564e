"""Specifications of the weight-sharing library (chapter 05): the one-shot supernet, SPOS, ENAS,
ranking quality and multi-model forgetting."""

from __future__ import annotations

import random
from collections import Counter

import numpy as np
import pytest
import torch

from nascourse.bench import Benchmark
from nascourse.data import load_dataset
from nascourse.spaces.base import ArchitectureError
from nascourse.spaces.cell201 import EDGES, Cell201Space
from nascourse.weight_sharing import (ENAS, OneShotSupernet, OneShotTrainer, fair_paths, live_architecture,
                                      multi_model_forgetting, path_accuracy, rank_agreement, ranking_quality,
                                      recalibrate_batchnorm, standalone_network, uniform_paths)
from nascourse.weight_sharing.ranking import seed_targets, standalone_agreement, target_agreement

OPERATIONS = ("none", "skip", "conv3x3", "avgpool3x3")
SPACE = Cell201Space(OPERATIONS, channels=4)
ALL_CONV = "|conv3x3~0|+|conv3x3~0|conv3x3~1|+|conv3x3~0|conv3x3~1|conv3x3~2|"
MIXED = "|conv3x3~0|+|skip~0|avgpool3x3~1|+|none~0|conv3x3~1|conv3x3~2|"


@pytest.fixture(scope="module")
def digits():
    torch.set_num_threads(1)
    return load_dataset("digits")


@pytest.fixture(scope="module")
def bench():
    return Benchmark.load()


def scrambled_supernet(seed: int = 0) -> OneShotSupernet:
    """A supernet whose BatchNorms have non-trivial affine weights and running statistics."""
    torch.manual_seed(seed)
    net = OneShotSupernet((1, 8, 8), 10)
    for module in net.modules():
        if isinstance(module, torch.nn.BatchNorm2d):
            module.running_mean.normal_()
            module.running_var.uniform_(0.5, 2.0)
            module.weight.data.normal_()
            module.bias.data.normal_()
    return net.eval()


def cell_layers(net: OneShotSupernet):
    from nascourse.relaxation.cell201_supernet import SearchCell201
    return [layer for layer in net.net.features if isinstance(layer, SearchCell201)]


# --- the single path ------------------------------------------------------------------------------


def test_single_path_runs_only_the_chosen_convolutions():
    net = scrambled_supernet()
    calls = Counter()
    for c, cell in enumerate(cell_layers(net)):
        for e, edge in enumerate(cell.edges):
            edge.ops["conv3x3"].register_forward_hook(lambda *_, key=(c, e): calls.update([key]))
    architecture = SPACE.decode(MIXED)
    net(torch.randn(3, 1, 8, 8), architecture)
    chosen = {e for e, op in enumerate(architecture.operations) if op == "conv3x3"}
    assert calls == Counter({(c, e): 1 for c in range(3) for e in chosen})


def test_single_path_equals_the_standalone_network_with_inherited_weights():
    net = scrambled_supernet()
    x = torch.randn(6, 1, 8, 8)
    rng = random.Random(0)
    for _ in range(30):  # random cells, dead edges included
        architecture = SPACE.sample(rng)
        standalone = standalone_network(net, architecture).eval()
        assert torch.allclose(standalone(x), net(x, architecture), atol=1e-6), str(architecture)


def test_output_depends_only_on_the_weights_of_the_chosen_operations():
    net = scrambled_supernet()
    architecture = SPACE.decode(MIXED)
    x = torch.randn(4, 1, 8, 8)
    before = net(x, architecture)
    with torch.no_grad():  # change every convolution the path does not use
        for cell in cell_layers(net):
            for edge, op in zip(cell.edges, architecture.operations):
                if op != "conv3x3":
                    edge.ops["conv3x3"][0].weight.add_(1.0)
    assert torch.equal(net(x, architecture), before)
    with torch.no_grad():  # now one it does use
        cell_layers(net)[0].edges[0].ops["conv3x3"][0].weight.add_(1.0)
    assert not torch.allclose(net(x, architecture), before)


def test_edges_leaving_a_node_that_receives_nothing_are_dropped():
    # node 1 receives nothing, so the convolution 1 -> 3 has no input
    cell = SPACE.decode("|none~0|+|skip~0|none~1|+|none~0|conv3x3~1|skip~2|")
    assert live_architecture(cell).operations == ("none", "skip", "none", "none", "none", "skip")


# --- BatchNorm recalibration ----------------------------------------------------------------------


def test_recalibration_recomputes_running_stats_as_the_average_over_its_batches(digits):
    net = scrambled_supernet()
    stem_conv, stem_bn = net.net.features[0][0], net.net.features[0][1]
    generator_seed = 7
    recalibrate_batchnorm(net, ALL_CONV, digits.train, batches=2, batch_size=50,
                          generator=torch.Generator().manual_seed(generator_seed))
    # the same two batches, by hand: the mean over batches of each batch's per-channel mean
    order = torch.randperm(len(digits.train), generator=torch.Generator().manual_seed(generator_seed))
    with torch.no_grad():
        means = [stem_conv(digits.train.x[order[i:i + 50]]).mean(dim=(0, 2, 3)) for i in (0, 50)]
    assert torch.allclose(stem_bn.running_mean, torch.stack(means).mean(0), atol=1e-5)
    assert stem_bn.momentum == 0.1 and not net.training  # settings and mode restored


def test_recalibration_resets_the_batchnorms_off_the_path(digits):
    net = scrambled_supernet()
    unused = cell_layers(net)[0].edges[0].ops["conv3x3"][1]  # edge (0, 1) carries skip below
    recalibrate_batchnorm(net, "|skip~0|+|skip~0|skip~1|+|skip~0|skip~1|skip~2|", digits.train, batches=1)
    assert torch.equal(unused.running_mean, torch.zeros(4)) and torch.equal(unused.running_var, torch.ones(4))


# --- SPOS sampling and training -------------------------------------------------------------------


def test_uniform_sampling_draws_every_operation_of_every_edge_equally_often():
    sample, rng = uniform_paths(OPERATIONS), random.Random(0)
    counts = Counter((e, op) for _ in range(8000) for (a,) in [sample(rng)] for e, op in enumerate(a.operations))
    frequencies = np.array([counts[(e, op)] / 8000 for e in range(len(EDGES)) for op in OPERATIONS])
    assert np.abs(frequencies - 0.25).max() < 0.02  # 4 standard errors of a binomial share at n = 8000


def test_fair_sampling_trains_each_operation_of_each_edge_exactly_once_per_step():
    paths = fair_paths(OPERATIONS)(random.Random(3))
    assert len(paths) == len(OPERATIONS)
    for edge in range(len(EDGES)):
        assert sorted(p.operations[edge] for p in paths) == sorted(OPERATIONS)


def test_trainer_trains_the_paths_its_sampler_gives(digits):
    seen = []
    trainer = OneShotTrainer(digits, epochs=1, sampler=lambda rng: seen.append(ALL_CONV) or [ALL_CONV])
    before = trainer.supernet.net.features[1].edges[0].ops["conv3x3"][0].weight.clone()
    trainer.train(steps=3)
    assert len(seen) == 3 and trainer.steps == 3
    assert not torch.equal(trainer.supernet.net.features[1].edges[0].ops["conv3x3"][0].weight, before)


def test_same_seed_gives_the_same_shared_weight_scores(digits):
    scores = []
    for _ in range(2):
        trainer = OneShotTrainer(digits, epochs=1, seed=5)
        trainer.train(steps=10)
        scores.append([trainer.score(a) for a in (ALL_CONV, MIXED)])
    assert scores[0] == scores[1]


def test_scoring_compute_is_counted_apart_from_training(digits):
    trainer = OneShotTrainer(digits, epochs=1, seed=1)
    trainer.train(steps=2)
    training = trainer.macs
    assert trainer.scoring_macs == 0
    trainer.score(ALL_CONV)
    once = trainer.scoring_macs
    assert once > 0 and trainer.macs == training  # scoring is not training
    trainer.score(ALL_CONV, recalibrate=False)
    assert 0 < trainer.scoring_macs - once < once  # without recalibration only the validation pass is paid


def test_score_does_not_depend_on_what_was_scored_before(digits):
    trainer = OneShotTrainer(digits, epochs=1, seed=1)
    trainer.train(steps=10)
    first = trainer.score(MIXED)
    trainer.score(ALL_CONV)
    assert trainer.score(MIXED) == first


# --- ENAS -----------------------------------------------------------------------------------------


def test_reinforce_step_raises_the_probability_of_the_rewarded_architecture(digits):
    enas = ENAS(digits, epochs=1, seed=0)
    good, bad = SPACE.decode(ALL_CONV), SPACE.decode(MIXED)
    before_good, before_bad = enas.probability(good), enas.probability(bad)
    enas.controller_step([good, bad], [1.0, 0.0])  # baseline 0.5: advantage +0.5 and -0.5
    assert enas.probability(good) > before_good and enas.probability(bad) < before_bad


def test_enas_derive_scores_by_the_reward_rule_and_charges_it(digits):
    enas = ENAS(digits, epochs=1, controller_steps=2, seed=4)
    enas.search_epoch()
    before = enas.macs
    chosen = enas.derive(samples=3)
    assert enas.macs > before  # the final selection's scoring is search compute
    rewards = [path_accuracy(enas.supernet, a, digits.val, batch_statistics=True) for a, _ in enas.final_candidates]
    assert [score for _, score in enas.final_candidates] == rewards and str(chosen) == enas.final_candidates[
        int(np.argmax(rewards))][0]


def test_enas_records_its_policy_and_compares_it_with_the_initial_one(digits):
    enas = ENAS(digits, epochs=1, controller_steps=2, seed=4)
    assert enas.initial_shares == enas.operation_shares(enas.initial_controller)
    assert sum(enas.initial_shares.values()) == pytest.approx(1.0)
    good = SPACE.decode(ALL_CONV)
    for _ in range(20):
        enas.controller_step([good], [1.0])  # the baseline trails a constant reward of 1: conv3x3 gains
        enas.baseline = 0.0
    assert enas.operation_shares()["conv3x3"] > enas.initial_shares["conv3x3"] + 0.2
    assert enas.policy_reward(enas.initial_controller) != enas.policy_reward()  # two policies, one supernet


def test_enas_search_is_reproducible_and_returns_its_best_sample(digits):
    results = []
    for _ in range(2):
        enas = ENAS(digits, epochs=1, controller_steps=3, seed=2)
        chosen = enas.search(samples=3)
        results.append((str(chosen), enas.history[-1]["mean_reward"], enas.final_candidates))
    assert results[0] == results[1]
    candidates = results[0][2]
    assert results[0][0] == max(candidates, key=lambda c: c[1])[0]


# --- ranking quality --------------------------------------------------------------------------------


def test_rank_agreement_is_perfect_when_the_estimate_equals_the_truth():
    truth = np.random.default_rng(0).random(30)
    assert rank_agreement(truth, truth, top_k=5) == {"kendall": 1.0, "spearman": 1.0, "top_k_hit_rate": 1.0}
    reversed_ = rank_agreement(-truth, truth, top_k=5)
    assert reversed_["kendall"] == pytest.approx(-1.0) and reversed_["spearman"] == pytest.approx(-1.0)


def test_ranking_quality_reports_correlations_in_range_at_each_checkpoint(digits, bench):
    trainer = OneShotTrainer(digits, epochs=1, seed=0)
    result = ranking_quality(trainer, bench, architectures=12, checkpoints=(0.5, 1), top_k=3)
    assert result.epochs == [pytest.approx(0.5, abs=0.03), 1.0] and len(result.scores[0]) == 12
    for value in result.kendall + result.spearman:
        assert -1.0 <= value <= 1.0
    assert all(0.0 <= value <= 1.0 for value in result.top_k_hit_rate)
    assert result.seconds[0] < result.seconds[1]
    assert 0 < result.scoring_macs[0] < result.scoring_macs[1]  # the scoring of both checkpoints, counted
    assert -1 <= result.standalone["kendall"] <= 1


def test_the_supernet_and_a_stand_alone_run_meet_the_same_targets(bench):
    rows = list(range(0, 760, 19))
    targets = seed_targets(bench, rows)
    final = bench.val_accuracy[rows, :, -1]
    assert targets.shape == (4, len(rows))
    assert np.allclose(targets[1], final[:, [0, 2, 3]].mean(axis=1))  # target 1 leaves out seed 1's run
    # a stand-alone run scored as the yardstick does equals target_agreement when its own target is the only one
    assert standalone_agreement(bench, rows, 4)["kendall"] == pytest.approx(np.mean(
        [target_agreement(final[:, s], targets[s:s + 1], 4)["kendall"] for s in range(4)]))


# --- multi-model forgetting -----------------------------------------------------------------------


def test_forgetting_records_early_paths_before_and_after_the_switch(digits):
    curves = multi_model_forgetting(digits, early=[ALL_CONV, MIXED], early_epochs=1, later_epochs=1,
                                    tracked_later=1, record_every=17)
    steps_per_epoch = 34
    assert curves.switch_step == steps_per_epoch and curves.steps == [17, 34, 51, 68]
    assert curves.early_curves.shape == (2, 4) and curves.later_curves.shape == (1, 4)
    assert curves.drop().shape == (2,)
    # the control, the supernet paused at the switch, still scores the early paths as they scored at the switch
    assert curves.paused_accuracy == curves.early_curves[:, 1].tolist()
    assert np.allclose(curves.loss_to_paused(), curves.early_curves[:, [1]] - curves.early_curves[:, 2:])


# --- clear errors ---------------------------------------------------------------------------------


def test_an_architecture_outside_the_space_is_refused():
    net = OneShotSupernet((1, 8, 8), 10)
    with pytest.raises(ArchitectureError, match="conv1x1"):
        net(torch.randn(2, 1, 8, 8), "|conv1x1~0|+|skip~0|skip~1|+|skip~0|skip~1|skip~2|")
    with pytest.raises(ArchitectureError, match="Cell201Architecture"):
        net(torch.randn(2, 1, 8, 8), [0, 1, 2, 3, 0, 1])


def test_images_of_the_wrong_shape_are_refused():
    with pytest.raises(ValueError, match=r"\(B, 1, 8, 8\)"):
        OneShotSupernet((1, 8, 8), 10)(torch.randn(2, 3, 8, 8), ALL_CONV)


def test_training_past_the_planned_epochs_is_refused(digits):
    trainer = OneShotTrainer(digits, epochs=1)
    trainer.train_until(1)
    with pytest.raises(RuntimeError, match="planned for 1 epochs"):
        trainer.train(steps=1)


def test_bad_settings_are_refused(digits, bench):
    with pytest.raises(ValueError, match="sampling"):
        OneShotTrainer(digits, epochs=1, sampling="greedy")
    with pytest.raises(ValueError, match="test"):
        OneShotTrainer(digits, epochs=1).score(ALL_CONV, split="test")
    with pytest.raises(ValueError, match="increasing"):
        ranking_quality(OneShotTrainer(digits, epochs=2), bench, 10, checkpoints=(2, 1))
    wider = OneShotTrainer(digits, epochs=1, supernet=OneShotSupernet((1, 8, 8), 10, channels=8))
    with pytest.raises(ValueError, match="does not match the benchmark"):
        ranking_quality(wider, bench, 10, checkpoints=(1,))
    with pytest.raises(ValueError, match="as many rewards"):
        ENAS(digits, epochs=1).controller_step([ALL_CONV], [1.0, 0.0])
