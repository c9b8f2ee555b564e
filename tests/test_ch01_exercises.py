"""Chapter 01's REINFORCE-step exercise: the checker accepts the reference, calls the untouched stub not attempted,
rejects plausible wrong updates, and the reference is what autograd and the library's baseline rule give.
(The chapter's other exercises are checked by the notebook and test_exercises.py's walk over every chapter.)"""

import math

import pytest
import torch

from nascourse.exercises import ch01
from nascourse.exercises.core import FAILED, NOT_ATTEMPTED, PASSED

exercise = ch01.reinforce_step


def stub(logits, batch, baseline, learning_rate, decay):
    raise NotImplementedError


def test_reference_passes_and_stub_is_not_attempted(capsys):
    assert exercise.evaluate(exercise.reference).status == PASSED
    assert exercise.evaluate(stub).status == NOT_ATTEMPTED
    assert exercise.check(stub) is exercise.reference
    assert "not attempted" in capsys.readouterr().out


def by_autograd(logits, batch, baseline, learning_rate, decay):
    """A correct answer written another way: differentiate the REINFORCE objective."""
    rewards = torch.tensor([reward for _, reward in batch], dtype=logits.dtype)
    b = float(rewards.mean()) if baseline is None else baseline
    theta = logits.clone().requires_grad_()
    log_p = torch.stack([torch.log_softmax(theta, 1)[range(len(tokens)), tokens].sum() for tokens, _ in batch])
    ((rewards - b) * log_p).mean().backward()
    for reward in rewards.tolist():
        b = decay * b + (1 - decay) * reward
    return (logits + learning_rate * theta.grad).detach(), b


def test_an_autograd_answer_passes():
    assert exercise.evaluate(by_autograd).status == PASSED


def _mutated(**change):
    """by_autograd with one plausible mistake."""

    def wrong(logits, batch, baseline, learning_rate, decay):
        rewards = [reward for _, reward in batch]
        b = sum(rewards) / len(rewards) if baseline is None else baseline
        if change.get("first_baseline_zero") and baseline is None:
            b = 0.0
        if change.get("baseline_moved_first"):
            for reward in rewards:
                b = decay * b + (1 - decay) * reward
        advantage_base = 0.0 if change.get("no_baseline") else b
        theta = logits.clone().requires_grad_()
        total = 0.0
        for tokens, reward in batch:
            total = total + (reward - advantage_base) * torch.log_softmax(theta, 1)[range(len(tokens)), tokens].sum()
        (total if change.get("sum_over_batch") else total / len(batch)).backward()
        sign = -1.0 if change.get("descends") else 1.0
        new_logits = (logits + sign * learning_rate * theta.grad).detach()
        if change.get("baseline_moved_first"):
            return new_logits, b
        if change.get("batch_mean_once"):
            return new_logits, decay * b + (1 - decay) * sum(rewards) / len(rewards)
        if change.get("decay_swapped"):
            for reward in rewards:
                b = (1 - decay) * b + decay * reward
            return new_logits, b
        for reward in rewards:
            b = decay * b + (1 - decay) * reward
        return new_logits, b

    wrong.__name__ = next(iter(change))
    return wrong


@pytest.mark.parametrize("wrong", [_mutated(no_baseline=True), _mutated(baseline_moved_first=True),
                                   _mutated(first_baseline_zero=True), _mutated(sum_over_batch=True),
                                   _mutated(descends=True), _mutated(batch_mean_once=True),
                                   _mutated(decay_swapped=True)], ids=lambda f: f.__name__)
def test_plausible_wrong_updates_are_rejected_with_a_hint(wrong):
    result = exercise.evaluate(wrong)
    assert result.status == FAILED and "hint:" in result.message


def test_the_baseline_follows_the_library_rule():
    """The same baseline rule as NAS-RL's strategy (nas_rl.NASRL.update): first batch's mean, then the moving average."""
    logits = torch.zeros(2, 3, dtype=torch.float64)
    batches = [[([0, 1], 0.9), ([2, 2], 0.4)], [([1, 1], 0.8)], [([0, 0], 0.6), ([1, 2], 0.7), ([2, 0], 0.5)]]
    b, expected = None, None
    for batch in batches:
        logits, b = exercise.reference(logits, batch, b, 1.0, 0.9)
        rewards = [reward for _, reward in batch]
        expected = sum(rewards) / len(rewards) if expected is None else expected
        for reward in rewards:
            expected = 0.9 * expected + 0.1 * reward
        assert math.isclose(b, expected)


def test_a_step_makes_the_rewarded_tokens_more_likely():
    logits = torch.zeros(1, 4, dtype=torch.float64)
    new, _ = exercise.reference(logits, [([2], 0.9), ([0], 0.1)], 0.5, 1.0, 0.9)
    p = torch.softmax(new, 1)[0]
    assert p[2] > 0.25 > p[0] and math.isclose(float(p.sum()), 1.0)
