"""NASH, EAS and N2N learning run for real on small budgets, and keep their promises."""

import copy

import pytest
import torch
import torch.nn.functional as F

from nascourse import load_dataset
from nascourse.recycling import search as recycling
from nascourse.recycling.network import MorphNet
from nascourse.train import count_parameters, train


@pytest.fixture(scope="module")
def digits():
    return load_dataset("digits")


@pytest.fixture(scope="module")
def trained_base(digits):
    torch.manual_seed(0)
    net = MorphNet.plain(digits.input_shape, digits.num_classes, widths=(8, 16), pool_after=(0,), hidden=(16,))
    train(net, digits, epochs=2, batch_size=32, learning_rate=0.1)
    return net


def same_weights(a, b):
    return all(torch.equal(x, y) for x, y in zip(a.state_dict().values(), b.state_dict().values()))


def test_nash_trains_every_child_and_leaves_the_start_network_alone(digits, trained_base):
    before = copy.deepcopy(trained_base)
    result = recycling.nash_hill_climbing(trained_base, digits, steps=2, children=2, epochs_per_child=1,
                                          batch_size=64, progress=False)
    assert len(result.history) == 4
    assert same_weights(before, trained_base)
    assert result.best_accuracy >= result.history.best().accuracy
    assert count_parameters(result.best) >= count_parameters(trained_base)  # morphisms only grow a network


def test_eas_records_every_episode_and_keeps_the_best(digits, trained_base):
    result = recycling.eas_search(trained_base, digits, updates=2, episodes_per_update=2, epochs_per_network=1,
                                  batch_size=64, progress=False)
    assert len(result.history) == 4
    assert result.best_accuracy >= max(t.accuracy for t in result.history)


def test_eas_controller_scores_every_layer_and_every_insert_slot(trained_base):
    widen, deepen = recycling.EASController()(trained_base.layer_specs())
    assert widen.shape == (len(trained_base.units),) and deepen.shape == (len(trained_base.units) + 1,)


def test_eas_trace_reads_the_actors_probabilities_before_and_after_every_update(digits, trained_base):
    result = recycling.eas_search(trained_base, digits, updates=2, episodes_per_update=2, epochs_per_network=1,
                                  batch_size=64, progress=False)
    assert len(result.trace) == 3
    for snapshot in result.trace:
        assert len(snapshot["widen"]) == len(trained_base.units)
        assert all(0 < p < 1 for p in snapshot["widen"])
        assert abs(sum(snapshot["deepen"]) - 1) < 1e-5 and len(snapshot["deepen"]) == len(trained_base.units) + 1
    assert result.trace[0] != result.trace[-1], "REINFORCE moved the controller"


@pytest.fixture(scope="module")
def n2n_result(digits, trained_base):
    return recycling.n2n_compress(trained_base, digits, updates=2, students_per_update=3, epochs_per_student=1,
                                  batch_size=64, progress=False)


def test_n2n_students_are_smaller_than_their_teacher(n2n_result, trained_base):
    teacher_parameters = count_parameters(trained_base)
    assert len(n2n_result.history) == 6
    assert all(t.parameters <= teacher_parameters for t in n2n_result.history)
    assert any(t.parameters < teacher_parameters for t in n2n_result.history)


def test_n2n_keeps_each_students_inherited_start_and_its_policy_trace(n2n_result):
    assert len(n2n_result.starts) == len(n2n_result.history) == 6
    assert [s.describe() for s in n2n_result.starts] == [t.architecture for t in n2n_result.history]
    assert n2n_result.starts[n2n_result.best_index].describe() == n2n_result.best.describe()
    assert len(n2n_result.trace) == 3 and all(0 < p < 1 for p in n2n_result.trace[-1]["remove"])


def test_n2n_controls_train_the_same_architecture_four_ways(digits, trained_base, n2n_result):
    controls = recycling.n2n_controls(n2n_result, trained_base, digits, epochs=1, batch_size=64)
    assert set(controls) == {"inherited + distillation", "inherited, no distillation",
                             "scratch + distillation", "scratch, no distillation"}
    assert all(result.epochs == 1 for result in controls.values())
    # inherited weights start from the teacher's function, fresh ones from chance
    assert controls["inherited, no distillation"].curve[0].val_accuracy > \
        controls["scratch, no distillation"].curve[0].val_accuracy
    with pytest.raises(ValueError, match="out of range"):
        recycling.n2n_controls(n2n_result, trained_base, digits, epochs=1, index=99)


def test_parameter_matched_plain_has_about_the_target_size(trained_base):
    for target in (3_000, 20_000, 60_000):
        matched = recycling.parameter_matched_plain(trained_base, target)
        assert abs(count_parameters(matched) - target) < 0.05 * target
        assert len(matched.units) == len(trained_base.units)  # the same shape, only wider
    with pytest.raises(ValueError, match="positive"):
        recycling.parameter_matched_plain(trained_base, 0)


def test_path_level_eas_chooses_among_path_level_transformations(digits, trained_base):
    result = recycling.path_level_eas(trained_base, digits, updates=2, episodes_per_update=2, epochs_per_network=1,
                                      batch_size=64, progress=False)
    assert len(result.history) == 4 and len(result.trace) == 3
    for trial in result.history:
        assert "branch-" in trial.architecture, "every episode starts by turning a layer into a cell"
    # at the first step the start network has no cell, so the two moves inside branches are masked out: their
    # logits get no gradient and stay at 0, so they keep equal probabilities while the allocations' move
    for snapshot in result.trace:
        first_step = snapshot["actions"][0]
        assert abs(first_step[2] - first_step[3]) < 1e-7
    assert result.trace[-1]["actions"][0][0] != result.trace[-1]["actions"][0][1]
    assert result.trace[0] != result.trace[-1], "REINFORCE moved the policy"
    frozen = recycling.path_level_eas(trained_base, digits, updates=1, episodes_per_update=2, epochs_per_network=1,
                                      batch_size=64, policy_learning_rate=0.0, progress=False)
    assert frozen.trace[0] == frozen.trace[-1], "a learning rate of 0 keeps the uniform policy: the random control"


def test_distillation_loss_is_cross_entropy_when_soft_targets_have_no_weight(trained_base):
    x, y = torch.randn(5, 1, 8, 8), torch.randint(0, 10, (5,))
    logits = torch.randn(5, 10)
    loss = recycling.distillation_loss(trained_base, weight=0.0)(logits, x, y)
    assert torch.allclose(loss, F.cross_entropy(logits, y))


def test_distillation_soft_term_vanishes_when_the_student_matches_the_teacher(trained_base):
    x, y = torch.randn(5, 1, 8, 8), torch.randint(0, 10, (5,))
    with torch.no_grad():
        teacher_logits = trained_base.eval()(x)
    loss = recycling.distillation_loss(trained_base, weight=1.0)(teacher_logits, x, y)
    assert loss.abs().item() < 1e-5


def test_from_scratch_keeps_the_architecture_and_draws_new_weights(trained_base):
    fresh = recycling.from_scratch(trained_base, seed=1)
    assert fresh.describe() == trained_base.describe()
    assert not same_weights(fresh, trained_base)
    assert all(torch.all(bn.running_var == 1) for bn in fresh.modules() if isinstance(bn, torch.nn.BatchNorm2d))


def test_grown_versus_scratch_trains_both_for_the_same_epochs(digits, trained_base):
    grown = copy.deepcopy(trained_base)
    grown_result, scratch_result = recycling.grown_versus_scratch(grown, digits, epochs=2, batch_size=64)
    assert grown_result.epochs == scratch_result.epochs == 2
    # one epoch after growing, inherited weights are ahead of fresh ones
    assert grown_result.curve[0].val_accuracy > scratch_result.curve[0].val_accuracy


def test_draw_units_draws_one_box_per_unit_and_per_branch(trained_base):
    import matplotlib.pyplot as plt

    from nascourse.recycling import transforms
    from nascourse.viz import draw_units

    split = transforms.split_concat(trained_base, 2, splits=2)
    ax = draw_units(split)
    boxes = [p for p in ax.patches if type(p).__name__ == "FancyBboxPatch"]
    assert len(boxes) == len(split.units) + 1  # the split unit shows two branches
    plt.close("all")
