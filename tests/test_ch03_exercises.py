"""Chapter 03's checkers accept their references, call the untouched stub not attempted, and reject plausible
wrong answers; the references agree with the library they teach."""

import pytest
import torch
import torch.nn.functional as F

from nascourse.exercises import ch03
from nascourse.exercises.core import FAILED
from nascourse.relaxation.mixing import PartialChannelMixing, darts_weights, gumbel_weights
from nascourse.relaxation.supernet import derive_cell




# plausible wrong answers -----------------------------------------------------------------------------------
def alpha_as_weights(outputs, alpha):
    return (alpha.view(-1, *[1] * (outputs.dim() - 1)) * outputs).sum(0)


def strongest_operation_only(outputs, alpha):
    return outputs[int(alpha.argmax())]


def normalised_but_not_exponentiated(outputs, alpha):
    weights = alpha.abs() / alpha.abs().sum().clamp_min(1e-12)
    return (weights.view(-1, *[1] * (outputs.dim() - 1)) * outputs).sum(0)


def none_may_win(strengths, operations, node_edges):
    cell, start = [], 0
    for count in node_edges:
        best = [(float(strengths[start + s].max()), s, operations[int(strengths[start + s].argmax())]) for s in range(count)]
        best.sort(key=lambda c: -c[0])
        cell.extend((name, source) for _, source, name in best[:2])
        start += count
    return cell


def two_strongest_pairs(strengths, operations, node_edges):
    """Ranks (edge, operation) pairs, so one edge may be chosen twice."""
    cell, start = [], 0
    for count in node_edges:
        pairs = [(float(strengths[start + s, k]), s, name) for s in range(count)
                 for k, name in enumerate(operations) if name != "none"]
        pairs.sort(key=lambda c: -c[0])
        cell.extend((name, source) for _, source, name in pairs[:2])
        start += count
    return cell


def edges_in_input_order(strengths, operations, node_edges):
    cell, start = [], 0
    for count in node_edges:
        best = []
        for s in range(count):
            row = strengths[start + s]
            best.append(max((float(row[k]), s, name) for k, name in enumerate(operations) if name != "none"))
        kept = sorted(sorted(best, key=lambda c: -c[0])[:2], key=lambda c: c[1])
        cell.extend((name, source) for _, source, name in kept)
        start += count
    return cell


def one_log_only(alpha, uniform, temperature):
    logits = (F.log_softmax(alpha, dim=-1) - torch.log(uniform)) / temperature
    soft = F.softmax(logits, dim=-1)
    return F.one_hot(logits.argmax(-1), alpha.shape[-1]).to(soft.dtype), soft


def temperature_on_alpha_only(alpha, uniform, temperature):
    logits = F.log_softmax(alpha, dim=-1) / temperature - torch.log(-torch.log(uniform))
    soft = F.softmax(logits, dim=-1)
    return F.one_hot(logits.argmax(-1), alpha.shape[-1]).to(soft.dtype), soft


def no_temperature(alpha, uniform, temperature):
    return ch03.gumbel_sample.reference(alpha, uniform, 1.0)


def forward_difference(gradient, w, v, scale=0.01):
    epsilon = scale / v.norm()
    return (gradient(w + epsilon * v) - gradient(w)) / epsilon


def unnormalised_step(gradient, w, v, scale=0.01):
    return (gradient(w + scale * v) - gradient(w - scale * v)) / (2 * scale)


def missing_the_two(gradient, w, v, scale=0.01):
    epsilon = scale / v.norm()
    return (gradient(w + epsilon * v) - gradient(w - epsilon * v)) / epsilon


def beta_softmax_over_all_edges(alpha, beta, node_edges):
    return torch.softmax(alpha, dim=-1) * torch.softmax(beta, dim=0)[:, None]


def beta_through_a_sigmoid(alpha, beta, node_edges):
    return torch.softmax(alpha, dim=-1) * torch.sigmoid(beta)[:, None]


def raw_alpha_times_edge_weight(alpha, beta, node_edges):
    return alpha * ch03.edge_normalised_strengths.reference(torch.zeros_like(alpha), beta, node_edges) * alpha.shape[1]


def one_softmax_per_node(alpha, beta, node_edges):
    """I-DARTS's node softmax over alpha + beta: edges compete, but not as PC-DARTS weighs them."""
    rows, start = [], 0
    for count in node_edges:
        block = alpha[start: start + count] + beta[start: start + count, None]
        rows.append(torch.softmax(block.flatten(), dim=0).view_as(block))
        start += count
    return torch.cat(rows)


def alpha_softmax_only(alpha, beta, node_edges):
    return torch.softmax(alpha, dim=-1)


@pytest.mark.parametrize(
    "exercise, wrong",
    [
        (ch03.mixed_operation, alpha_as_weights),
        (ch03.mixed_operation, strongest_operation_only),
        (ch03.mixed_operation, normalised_but_not_exponentiated),
        (ch03.discretise, none_may_win),
        (ch03.discretise, two_strongest_pairs),
        (ch03.discretise, edges_in_input_order),
        (ch03.gumbel_sample, one_log_only),
        (ch03.gumbel_sample, temperature_on_alpha_only),
        (ch03.gumbel_sample, no_temperature),
        (ch03.finite_difference_hvp, forward_difference),
        (ch03.finite_difference_hvp, unnormalised_step),
        (ch03.finite_difference_hvp, missing_the_two),
        (ch03.edge_normalised_strengths, beta_softmax_over_all_edges),
        (ch03.edge_normalised_strengths, beta_through_a_sigmoid),
        (ch03.edge_normalised_strengths, raw_alpha_times_edge_weight),
        (ch03.edge_normalised_strengths, one_softmax_per_node),
        (ch03.edge_normalised_strengths, alpha_softmax_only),
    ],
    ids=lambda x: getattr(x, "name", getattr(x, "__name__", "")),
)
def test_plausible_wrong_answers_are_rejected_with_a_hint(exercise, wrong):
    result = exercise.evaluate(wrong)
    assert result.status == FAILED and "hint:" in result.message


# the references teach what the library does ------------------------------------------------------------------
def test_mixed_operation_reference_is_the_library_softmax_mixture():
    generator = torch.Generator().manual_seed(0)
    outputs, alpha = torch.randn(8, 2, 3, 4, 4, generator=generator), torch.randn(1, 8, generator=generator)
    expected = sum(w * out for w, out in zip(darts_weights(alpha)[0], outputs))
    torch.testing.assert_close(ch03.mixed_operation.reference(outputs, alpha[0]), expected)


def test_discretise_reference_is_the_library_derive_cell():
    operations = ("none", "max_pool_3x3", "avg_pool_3x3", "skip_connect", "sep_conv_3x3")
    for seed in range(20):
        strengths = torch.softmax(torch.randn(14, 5, generator=torch.Generator().manual_seed(seed)), dim=1)
        expected = derive_cell(strengths, [operations] * 14, (2, 3, 4, 5))
        assert ch03.discretise.reference(strengths, operations, (2, 3, 4, 5)) == expected


def test_gumbel_reference_is_the_library_sample_in_value_and_gradient():
    alpha = torch.randn(6, 4, generator=torch.Generator().manual_seed(3), requires_grad=True)
    library = gumbel_weights(alpha, 0.5, generator=torch.Generator().manual_seed(7))
    uniform = torch.rand(6, 4, generator=torch.Generator().manual_seed(7)).clamp(1e-20, 1.0 - 1e-7)
    hard, soft = ch03.gumbel_sample.reference(alpha, uniform, 0.5)
    straight_through = hard - soft.detach() + soft
    torch.testing.assert_close(library, straight_through)
    assert torch.equal(library.detach(), hard.detach())  # one operation per edge, in value
    probe = torch.randn(6, 4, generator=torch.Generator().manual_seed(11))
    (library_grad,) = torch.autograd.grad((library * probe).sum(), alpha)
    (reference_grad,) = torch.autograd.grad((straight_through * probe).sum(), alpha)
    torch.testing.assert_close(library_grad, reference_grad)  # the gradient is the tempered softmax's


def test_finite_difference_reference_approximates_the_exact_hessian_vector_product():
    w = torch.tensor([1.0, -2.0, 0.5], dtype=torch.float64)
    v = torch.tensor([3.0, 0.0, 4.0], dtype=torch.float64)

    def loss(x):
        return (x**4).sum() / 4 + x[0] * x[1]

    _, exact = torch.autograd.functional.hvp(loss, w, v)
    gradient = lambda x: torch.autograd.functional.jacobian(loss, x)  # noqa: E731
    approximate = ch03.finite_difference_hvp.reference(gradient, w, v)
    torch.testing.assert_close(approximate, exact, rtol=1e-4, atol=1e-6)


def test_edge_normalised_strengths_reference_is_the_library_pcdarts_rule():
    generator = torch.Generator().manual_seed(5)
    for node_edges in [(1, 2, 3), (2, 3, 4, 5)]:
        alpha = torch.randn(sum(node_edges), 4, generator=generator)
        beta = torch.randn(sum(node_edges), generator=generator)
        expected = PartialChannelMixing().strengths(alpha, node_edges, beta=beta)
        torch.testing.assert_close(ch03.edge_normalised_strengths.reference(alpha, beta, node_edges), expected)
        sums = ch03.edge_normalised_strengths.reference(alpha, beta, node_edges).sum(dim=1)
        start = 0
        for count in node_edges:  # each node's strengths add up to 1 over its edges and operations
            torch.testing.assert_close(sums[start: start + count].sum(), torch.tensor(1.0))
            start += count
