"""Every exercise checker accepts its reference, reports the untouched stub as not attempted,
and rejects plausible wrong answers a learner might write (the chapters' own wrong answers are in
tests/test_chNN_exercises.py)."""

import importlib

import pytest
import torch

from nascourse.exercises import ch00
from nascourse.exercises.core import FAILED, NOT_ATTEMPTED, PASSED, Exercise
from nascourse.spaces import ChainSpace


def _every_exercise() -> list[Exercise]:
    """Every exercise of every chapter module (nascourse/exercises/ch00.py ... ch06.py)."""
    found = []
    for chapter in range(7):
        module = importlib.import_module(f"nascourse.exercises.ch0{chapter}")
        found += [value for value in vars(module).values() if isinstance(value, Exercise)]
    return found


ALL_EXERCISES = _every_exercise()


def stub(*args):
    raise NotImplementedError


@pytest.mark.parametrize("exercise", ALL_EXERCISES, ids=lambda e: e.where)
def test_reference_solution_passes(exercise):
    assert exercise.evaluate(exercise.reference).status == PASSED


@pytest.mark.parametrize("exercise", ALL_EXERCISES, ids=lambda e: e.where)
def test_untouched_stub_is_not_attempted_and_check_falls_back_to_reference(exercise, capsys):
    assert exercise.evaluate(stub).status == NOT_ATTEMPTED
    assert exercise.check(stub) is exercise.reference
    assert "not attempted" in capsys.readouterr().out


def test_an_empty_body_counts_as_not_attempted():
    assert ch00.best_so_far.evaluate(lambda accuracies: None).status == NOT_ATTEMPTED


def only_the_deepest(choices, max_layers, skips):
    return choices**max_layers * (2 ** (max_layers * (max_layers - 1) // 2) if skips else 1)


def one_skip_bit_per_layer(choices, max_layers, skips):
    return sum(choices**depth * (2 ** (depth - 1) if skips else 1) for depth in range(1, max_layers + 1))


def forgets_input_channels(c_in, c_out, k, bias):
    return c_out * k * k + (c_out if bias else 0)


def sorted_instead_of_running(accuracies):
    return sorted(accuracies)


def off_by_one_running_max(accuracies):
    return [max(accuracies[:t]) if t else accuracies[0] for t in range(len(accuracies))]


def returns_the_last_candidate(sample, evaluate, trials):
    for _ in range(trials):
        architecture = sample()
    return architecture, evaluate(architecture)


def keeps_the_last_of_ties(sample, evaluate, trials):
    best, best_accuracy = None, -1.0
    for _ in range(trials):
        architecture = sample()
        if evaluate(architecture) >= best_accuracy:
            best, best_accuracy = architecture, evaluate(architecture)
    return best, best_accuracy


@pytest.mark.parametrize(
    "exercise, wrong",
    [
        (ch00.count_chain_architectures, only_the_deepest),
        (ch00.count_chain_architectures, one_skip_bit_per_layer),
        (ch00.conv_parameters, forgets_input_channels),
        (ch00.best_so_far, sorted_instead_of_running),
        (ch00.best_so_far, off_by_one_running_max),
        (ch00.random_search, returns_the_last_candidate),
        (ch00.random_search, keeps_the_last_of_ties),
    ],
    ids=lambda x: getattr(x, "name", getattr(x, "__name__", "")),
)
def test_plausible_wrong_answers_are_rejected_with_feedback(exercise, wrong, capsys):
    result = exercise.evaluate(wrong)
    assert result.status == FAILED
    assert "hint:" in result.message and ("expected" in result.message or "raised" in result.message)
    assert exercise.check(wrong) is exercise.reference
    assert "failed" in capsys.readouterr().out


def test_a_crashing_answer_is_reported_not_raised():
    result = ch00.conv_parameters.evaluate(lambda *args: 1 / 0)
    assert result.status == FAILED and "ZeroDivisionError" in result.message


def test_a_correct_answer_is_returned_for_the_rest_of_the_notebook(capsys):
    def mine(accuracies):
        best, out = float("-inf"), []
        for accuracy in accuracies:
            best = max(best, accuracy)
            out.append(best)
        return out

    assert ch00.best_so_far.check(mine) is mine
    assert "passed" in capsys.readouterr().out


def test_count_reference_agrees_with_the_library_space():
    space = ChainSpace(skip_connections=True, max_layers=4)
    choices = len(space.layer_choices())
    assert ch00.count_chain_architectures.reference(choices, 4, True) == space.count()


def test_conv_reference_agrees_with_torch():
    conv = torch.nn.Conv2d(8, 16, 5, bias=True)
    assert ch00.conv_parameters.reference(8, 16, 5, True) == sum(p.numel() for p in conv.parameters())


# ---------------------------------------------------------------------------- chapter 04
from nascourse.exercises import ch04  # noqa: E402

CH04 = [ch04.wider_linear, ch04.identity_kernel, ch04.n2n_reward]


@pytest.mark.parametrize("exercise", CH04, ids=lambda e: e.name)
def test_ch04_reference_passes_and_stub_is_not_attempted(exercise):
    assert exercise.evaluate(exercise.reference).status == PASSED
    assert exercise.evaluate(stub).status == NOT_ATTEMPTED


def forgets_to_divide(weight_in, bias_in, weight_out, mapping):
    return weight_in[mapping], bias_in[mapping], weight_out[:, mapping]


def divides_every_column_by_two(weight_in, bias_in, weight_out, mapping):
    return weight_in[mapping], bias_in[mapping], weight_out[:, mapping] / 2


def all_ones_kernel_on_the_diagonal(channels, kernel_size):
    weight = torch.zeros(channels, channels, kernel_size, kernel_size)
    weight[range(channels), range(channels)] = 1.0
    return weight


def identity_in_the_corner(channels, kernel_size):
    weight = torch.zeros(channels, channels, kernel_size, kernel_size)
    weight[range(channels), range(channels), 0, 0] = 1.0
    return weight


def reward_linear_in_compression(student_parameters, teacher_parameters, student_accuracy, teacher_accuracy):
    return (1 - student_parameters / teacher_parameters) * student_accuracy / teacher_accuracy


@pytest.mark.parametrize(
    "exercise, wrong",
    [
        (ch04.wider_linear, forgets_to_divide),
        (ch04.wider_linear, divides_every_column_by_two),
        (ch04.identity_kernel, all_ones_kernel_on_the_diagonal),
        (ch04.identity_kernel, identity_in_the_corner),
        (ch04.n2n_reward, reward_linear_in_compression),
    ],
    ids=lambda x: getattr(x, "name", getattr(x, "__name__", "")),
)
def test_ch04_plausible_wrong_answers_are_rejected(exercise, wrong):
    result = exercise.evaluate(wrong)
    assert result.status == FAILED and "hint:" in result.message


def test_wider_linear_reference_preserves_the_function():
    generator = torch.Generator().manual_seed(0)
    w1, b1, w2 = (torch.randn(3, 4, generator=generator, dtype=torch.float64),
                  torch.randn(3, generator=generator, dtype=torch.float64),
                  torch.randn(2, 3, generator=generator, dtype=torch.float64))
    x = torch.randn(5, 4, generator=generator, dtype=torch.float64)
    n1, nb1, n2 = ch04.wider_linear.reference(w1, b1, w2, [0, 1, 2, 2, 0, 1])
    before = torch.relu(x @ w1.T + b1) @ w2.T
    after = torch.relu(x @ n1.T + nb1) @ n2.T
    assert torch.allclose(before, after, atol=1e-12)


def test_identity_kernel_reference_copies_its_input():
    x = torch.randn(2, 4, 6, 6)
    y = torch.nn.functional.conv2d(x, ch04.identity_kernel.reference(4, 3), padding=1)
    assert torch.allclose(x, y)


def test_every_exercise_says_where_its_hint_and_solution_are(capsys):
    """A learner can ask for the hint before trying, and the untouched stub's message says where the solution is."""
    import importlib

    from nascourse.exercises.core import Exercise

    found = 0
    for chapter in range(7):
        module = importlib.import_module(f"nascourse.exercises.ch0{chapter}")
        for attribute, exercise in vars(module).items():
            if not isinstance(exercise, Exercise):
                continue
            found += 1
            assert exercise.name == attribute, f"{exercise.where} must be reachable under its own name"
            assert exercise.solution_path() == f"nascourse/exercises/ch0{chapter}.py"
            exercise.show_hint()
            assert exercise.hint in capsys.readouterr().out

            def untouched(*args):
                raise NotImplementedError

            exercise.check(untouched)
            message = capsys.readouterr().out
            assert f"{exercise.where}.show_hint()" in message and exercise.solution_path() in message
    assert found >= 20, "every chapter's exercises were found"
