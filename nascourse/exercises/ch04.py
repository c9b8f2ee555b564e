"""Exercises of chapter 04, "Architecture recycling": reference solutions and their checks.

Read the references only after trying: they are the answers.
"""

from __future__ import annotations

import torch

from .core import Case, Exercise

__all__ = ["wider_linear", "identity_kernel", "n2n_reward", "deeper_batchnorm"]


# 1. Net2WiderNet for a linear layer ------------------------------------------------------------
def _wider_linear(weight_in, bias_in, weight_out, mapping):
    """Widen hidden layer h = relu(weight_in x + bias_in), read by y = weight_out h, to len(mapping) units.

    New unit j copies old unit mapping[j]; every old unit's outgoing weights are divided by the
    number of its copies, so y is unchanged.
    """
    mapping = torch.as_tensor(mapping)
    copies = torch.bincount(mapping, minlength=weight_in.shape[0]).to(weight_out.dtype)
    return weight_in[mapping].clone(), bias_in[mapping].clone(), (weight_out[:, mapping] / copies[mapping]).clone()


def _linear_case(seed: int, inputs: int, hidden: int, outputs: int, mapping: list[int]):
    def make():
        generator = torch.Generator().manual_seed(seed)
        return (
            torch.randn(hidden, inputs, generator=generator, dtype=torch.float64),
            torch.randn(hidden, generator=generator, dtype=torch.float64),
            torch.randn(outputs, hidden, generator=generator, dtype=torch.float64),
            mapping,
        )

    return make


wider_linear = Exercise(
    "wider_linear",
    _wider_linear,
    [
        Case("3 -> 4 hidden units, unit 0 copied once", _linear_case(0, 5, 3, 2, [0, 1, 2, 0])),
        Case("2 -> 5 hidden units, unit 1 copied three times", _linear_case(1, 4, 2, 3, [0, 1, 1, 1, 0])),
        Case("no widening at all (identity mapping)", _linear_case(2, 3, 3, 3, [0, 1, 2])),
    ],
    hint="New unit j is a copy of old unit g(j) = mapping[j]: copy row g(j) of weight_in and bias_in. In weight_out, "
    "column j is old column g(j) divided by how many new units copy g(j) (torch.bincount counts them).",
)


# 2. Net2DeeperNet's identity convolution ------------------------------------------------------------
def _identity_kernel(channels: int, kernel_size: int) -> torch.Tensor:
    weight = torch.zeros(channels, channels, kernel_size, kernel_size)
    centre = kernel_size // 2
    weight[torch.arange(channels), torch.arange(channels), centre, centre] = 1.0
    return weight


identity_kernel = Exercise(
    "identity_kernel",
    _identity_kernel,
    [
        Case("1 channel, 3x3", (1, 3)),
        Case("4 channels, 3x3", (4, 3)),
        Case("3 channels, 5x5", (3, 5)),
        Case("2 channels, 1x1", (2, 1)),
    ],
    hint="A Conv2d weight has shape (out_channels, in_channels, k, k). Output channel c must copy input channel c: "
    "a single 1 at [c, c, k // 2, k // 2], zeros everywhere else.",
)


# 3. N2N's reward ----------------------------------------------------------------------------------
def _n2n_reward(student_parameters: int, teacher_parameters: int, student_accuracy: float, teacher_accuracy: float) -> float:
    compression = 1 - student_parameters / teacher_parameters
    return compression * (2 - compression) * student_accuracy / teacher_accuracy


n2n_reward = Exercise(
    "n2n_reward",
    _n2n_reward,
    [
        Case("no compression earns nothing", (1000, 1000, 0.9, 0.9)),
        Case("half the parameters, same accuracy", (500, 1000, 0.9, 0.9)),
        Case("a tenth of the parameters, lower accuracy", (100, 1000, 0.6, 0.9)),
        Case("a student better than its teacher", (250, 1000, 0.95, 0.9)),
    ],
    hint="R = R_c * R_a with C = 1 - student_parameters / teacher_parameters, R_c = C (2 - C), "
    "R_a = student_accuracy / teacher_accuracy.",
)


# 4. Net2DeeperNet's BatchNorm, the identity in training mode too -----------------------------------
def _deeper_batchnorm(x: torch.Tensor, eps: float):
    """gamma, beta, running_mean, running_var for a new BatchNorm2d that gives back its input x (B, C, H, W).

    Training mode normalises with the batch's per-channel mean mu and *biased* variance var (divided by
    the count, not count - 1): gamma (x - mu) / sqrt(var + eps) + beta = x needs gamma = sqrt(var + eps)
    and beta = mu. Eval mode uses the running statistics instead: running_mean = mu, running_var = var
    make it the same computation, so the layer is the identity in both modes on this batch.
    """
    mean = x.mean(dim=(0, 2, 3))
    variance = x.var(dim=(0, 2, 3), unbiased=False)
    return torch.sqrt(variance + eps), mean.clone(), mean.clone(), variance


def _activations_case(seed: int, shape: tuple[int, int, int, int], eps: float):
    def make():
        generator = torch.Generator().manual_seed(seed)
        channels = shape[1]
        # the output of a ReLU: non-negative, each channel with its own scale and offset
        scale = 0.5 + 2 * torch.rand(channels, generator=generator, dtype=torch.float64)
        x = torch.relu(torch.randn(shape, generator=generator, dtype=torch.float64) + 0.3)
        return x * scale.view(1, -1, 1, 1), eps

    return make


deeper_batchnorm = Exercise(
    "deeper_batchnorm",
    _deeper_batchnorm,
    [
        Case("a batch of 8, 3 channels of 4x4, eps 1e-5", _activations_case(0, (8, 3, 4, 4), 1e-5)),
        Case("a batch of 2, 5 channels of 3x3 (few values: biased and unbiased variance differ)",
             _activations_case(1, (2, 5, 3, 3), 1e-5)),
        Case("a large eps, 0.5 (it must not be left out)", _activations_case(2, (4, 2, 5, 5), 0.5)),
    ],
    hint="Per channel (average over dims 0, 2 and 3): mu = x.mean(...), var = x.var(..., unbiased=False), the "
    "variance BatchNorm normalises with in training mode. Then gamma = sqrt(var + eps) undoes the division, "
    "beta = mu puts the mean back, and the running statistics (mu, var) make eval mode compute the same.",
)
