"""Training a candidate, evaluating it, and the reproducibility of a whole search on the CPU."""

import math

import matplotlib.pyplot as plt
import pytest
import torch
from torch import nn

import nascourse
from nascourse import ChainSpace, RandomSearch, TrainingEvaluator, final_evaluation, run_search, train
from nascourse.cli import main as command_line


@pytest.fixture(scope="module")
def digits():
    return nascourse.load_dataset("digits")


@pytest.fixture(scope="module")
def space():
    return ChainSpace(channel_choices=(8, 16), max_layers=3, skip_connections=True)


def test_training_returns_a_learning_curve_that_improves(digits, space):
    torch.manual_seed(0)
    model = space.build("conv3x3:16 > conv3x3:16", digits.input_shape, digits.num_classes)
    result = train(model, digits, epochs=3, batch_size=32, learning_rate=0.1)
    assert [r.epoch for r in result.curve] == [1, 2, 3]
    assert result.curve[-1].train_loss < result.curve[0].train_loss
    assert result.final_accuracy > 0.8
    assert all(b.seconds >= a.seconds for a, b in zip(result.curve, result.curve[1:]))


class ExplodingNetwork(nn.Module):
    """Produces NaN logits: stands in for a candidate whose training diverges."""

    def __init__(self):
        super().__init__()
        self.scale = nn.Parameter(torch.tensor(float("nan")))

    def forward(self, x):
        return x.flatten(1)[:, :10] * self.scale


def test_a_diverging_run_ends_early_and_is_reported_not_raised(digits):
    result = train(ExplodingNetwork(), digits, epochs=5)
    assert result.diverged and result.curve == []
    assert math.isnan(result.final_accuracy)


def test_bad_training_budgets_are_rejected(digits):
    with pytest.raises(ValueError, match="epochs must be a positive integer"):
        train(nn.Linear(64, 10), digits, epochs=0)


def test_the_evaluator_returns_the_shared_result_record(digits, space):
    result = TrainingEvaluator(space, digits, epochs=2, batch_size=32)("conv3x3:8 > maxpool3x3")
    assert result.status == "ok" and 0.0 <= result.accuracy <= 1.0
    assert result.cost_epochs == 2 and result.cost_seconds > 0
    assert result.parameters == nascourse.count_parameters(space.build("conv3x3:8 > maxpool3x3", (1, 8, 8), 10))
    assert len(result.curve) == 2 and result.curve[-1]["val_accuracy"] == result.accuracy


def test_the_evaluator_rejects_a_malformed_architecture_clearly(digits, space):
    with pytest.raises(nascourse.ArchitectureError, match="Layer 1"):
        TrainingEvaluator(space, digits, epochs=1)("conv3x3:12")


def test_same_seed_on_cpu_gives_the_same_search_result_twice(digits, space):
    def search(seed):
        evaluator = TrainingEvaluator(space, digits, epochs=1, batch_size=64, seed=seed)
        return run_search(space, RandomSearch(space, seed=seed), evaluator, trials=3, progress=False)

    first, second, other = search(1), search(1), search(2)
    assert [(t.architecture, t.accuracy) for t in first] == [(t.architecture, t.accuracy) for t in second]
    assert [(t.architecture, t.accuracy) for t in first] != [(t.architecture, t.accuracy) for t in other]


def test_final_evaluation_trains_on_train_and_validation_and_reports_test(digits, space, monkeypatch):
    seen = {}
    real_train = nascourse.evaluation.train

    def spy(model, data, **kwargs):
        seen.update(kwargs)
        return real_train(model, data, **kwargs)

    monkeypatch.setattr(nascourse.evaluation, "train", spy)
    report = final_evaluation(space, "conv3x3:16 > conv3x3:16", digits, epochs=2, batch_size=32, learning_rate=0.1)
    assert len(seen["train_split"]) == len(digits.train) + len(digits.val)
    assert seen["eval_split"] is digits.test
    assert 0.5 < report.test_accuracy <= 1.0 and "test accuracy" in str(report)


def test_anytime_plot_draws_one_curve_per_method_and_a_band_for_repeats():
    histories = []
    for offset in (0.0, 0.1):
        history = nascourse.History()
        for accuracy in (0.2, 0.5, 0.4):
            history.add("a", nascourse.EvaluationResult(accuracy + offset, 1.0, 1.0, 1))
        histories.append(history)
    ax = nascourse.plot_anytime({"single": histories[0], "repeats": histories}, cost="epochs")
    assert len(ax.get_lines()) == 2 and len(ax.collections) == 1
    plt.close("all")


def test_doctor_reports_environment_and_exits_zero(capsys):
    assert command_line(["doctor"]) == 0
    printed = capsys.readouterr().out
    for heading in ("torch", "profile", "device", "datasets", "kernel"):
        assert heading in printed
    assert "digits yes" in printed
