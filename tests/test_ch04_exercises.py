"""Chapter 04's new exercise (Net2Deeper's BatchNorm in training mode): the checker accepts the reference, calls
the untouched stub not attempted, and rejects plausible wrong answers; the reference makes a BatchNorm the
identity in both modes. (Chapter 04's first three exercises are tested in tests/test_exercises.py.)"""

import pytest
import torch

from nascourse.exercises import ch04
from nascourse.exercises.core import FAILED




# plausible wrong answers -----------------------------------------------------------------------------------
def unbiased_variance(x, eps):
    mean, variance = x.mean(dim=(0, 2, 3)), x.var(dim=(0, 2, 3))  # torch's default divides by count - 1
    return torch.sqrt(variance + eps), mean, mean, variance


def forgets_eps(x, eps):
    mean, variance = x.mean(dim=(0, 2, 3)), x.var(dim=(0, 2, 3), unbiased=False)
    return torch.sqrt(variance), mean, mean, variance


def eval_mode_identity_only(x, eps):
    channels = x.shape[1]
    ones = torch.ones(channels, dtype=x.dtype)
    return torch.sqrt(ones + eps), torch.zeros(channels, dtype=x.dtype), torch.zeros(channels, dtype=x.dtype), ones


def variance_instead_of_standard_deviation(x, eps):
    mean, variance = x.mean(dim=(0, 2, 3)), x.var(dim=(0, 2, 3), unbiased=False)
    return variance + eps, mean, mean, variance


def statistics_over_the_batch_only(x, eps):
    mean, variance = x.mean(dim=0).mean(dim=(1, 2)), x.var(dim=0, unbiased=False).mean(dim=(1, 2))
    return torch.sqrt(variance + eps), mean, mean, variance


def running_variance_with_eps(x, eps):
    mean, variance = x.mean(dim=(0, 2, 3)), x.var(dim=(0, 2, 3), unbiased=False)
    return torch.sqrt(variance + eps), mean, mean, variance + eps  # eval mode then adds eps twice


@pytest.mark.parametrize("wrong", [unbiased_variance, forgets_eps, eval_mode_identity_only,
                                   variance_instead_of_standard_deviation, statistics_over_the_batch_only,
                                   running_variance_with_eps], ids=lambda f: f.__name__)
def test_plausible_wrong_answers_are_rejected(wrong, capsys):
    assert ch04.deeper_batchnorm.evaluate(wrong).status == FAILED
    assert ch04.deeper_batchnorm.check(wrong) is ch04.deeper_batchnorm.reference
    assert "hint" in capsys.readouterr().out


@pytest.mark.parametrize("mode", ["train", "eval"])
def test_reference_makes_the_batchnorm_the_identity_in_both_modes(mode):
    generator = torch.Generator().manual_seed(3)
    x = torch.relu(torch.randn(6, 4, 5, 5, generator=generator, dtype=torch.float64)) * 3 + 0.2
    bn = torch.nn.BatchNorm2d(4, eps=1e-3).double()
    gamma, beta, mean, variance = ch04.deeper_batchnorm.reference(x, bn.eps)
    with torch.no_grad():
        bn.weight.copy_(gamma)
        bn.bias.copy_(beta)
        bn.running_mean.copy_(mean)
        bn.running_var.copy_(variance)
        getattr(bn, mode)()
        assert torch.allclose(bn(x), x, atol=1e-10)


def test_reference_agrees_with_the_library_net2deeper():
    from nascourse.recycling.network import MorphNet
    from nascourse.recycling.transforms import net2deeper_conv

    torch.manual_seed(0)
    net = MorphNet.plain((1, 8, 8), 3, widths=(4,), pool_after=(), hidden=()).double()
    images = torch.randn(16, 1, 8, 8, dtype=torch.float64)
    deeper = net2deeper_conv(net, 1, images=images)
    with torch.no_grad():
        x = net.train().units[0](images)
    gamma, beta, mean, variance = ch04.deeper_batchnorm.reference(x, deeper.units[1].bn.eps)
    bn = deeper.units[1].bn
    for got, expected in ((bn.weight, gamma), (bn.bias, beta), (bn.running_mean, mean), (bn.running_var, variance)):
        assert torch.allclose(got, expected)
