"""The fast DARTS supernet is the literal one, only faster; and what a search step costs.

``Supernet`` shares parameter-free operations between edges, never computes ``none`` and runs in
channels-last layout on the CPU. ``LiteralSupernet`` is DARTS's code structure: every operation on
every edge, summed in a Python loop. Loaded with the same weights and alpha they must be the same
function, with the same gradients, or the speed-up is a different network.
"""

import pytest
import torch
import torch.nn.functional as F

from nascourse.relaxation import Cell201Supernet, Supernet
from nascourse.relaxation.cost import StepCost, step_cost
from nascourse.relaxation.literal import LiteralSupernet


@pytest.fixture(autouse=True)
def one_thread():
    """Tiny tensors: a second thread only adds contention on a shared 2-core machine (40x slower seen)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _twin_supernets() -> tuple[Supernet, LiteralSupernet]:
    torch.manual_seed(0)
    fast = Supernet((1, 8, 8), 10, cells=5, channels=4)
    with torch.no_grad():  # alpha far from uniform, so that a wrong weight on any operation shows
        fast.alpha_normal.normal_()
        fast.alpha_reduce.normal_()
    literal = LiteralSupernet((1, 8, 8), 10, cells=5, channels=4).copy_from(fast)
    return fast, literal


def _batch(size: int = 4) -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(1)
    return torch.randn(size, 1, 8, 8, generator=generator), torch.randint(0, 10, (size,), generator=generator)


def test_the_two_supernets_have_the_same_parameters_under_the_same_names():
    fast, literal = _twin_supernets()
    shapes = {name: p.shape for name, p in fast.named_parameters()}
    assert shapes == {name: p.shape for name, p in literal.named_parameters()}
    assert [type(c).__name__ for c in literal.cells] == ["LiteralCell"] * 5
    reductions = [False, True, False, True, False]
    assert [c.reduction for c in fast.cells] == [c.reduction for c in literal.cells] == reductions
    # the literal supernet really holds every operation on every edge, pooling with its own BatchNorm
    edge = literal.cells[0].edges[0]
    assert list(edge.ops) == ["none", "max_pool_3x3", "avg_pool_3x3", "skip_connect",
                              "sep_conv_3x3", "sep_conv_5x5", "dil_conv_3x3", "dil_conv_5x5"]
    assert isinstance(edge.ops["max_pool_3x3"][1], torch.nn.BatchNorm2d)


def test_same_logits_and_same_gradients_in_normal_and_reduction_cells():
    fast, literal = _twin_supernets()
    x, y = _batch()
    fast_logits, literal_logits = fast(x), literal(x)  # train mode: BatchNorm uses the batch statistics
    torch.testing.assert_close(fast_logits, literal_logits, rtol=1e-5, atol=1e-5)
    F.cross_entropy(fast_logits, y).backward()
    F.cross_entropy(literal_logits, y).backward()
    for name in ("alpha_normal", "alpha_reduce"):  # the architecture gradient of both cell kinds
        fast_grad, literal_grad = getattr(fast, name).grad, getattr(literal, name).grad
        assert fast_grad.abs().sum() > 0
        torch.testing.assert_close(fast_grad, literal_grad, rtol=1e-4, atol=1e-6)
    literal_parameters = dict(literal.named_parameters())
    for name, parameter in fast.named_parameters():
        torch.testing.assert_close(parameter.grad, literal_parameters[name].grad, rtol=1e-4, atol=1e-5, msg=name)


def test_a_wrong_alpha_would_be_caught():
    fast, literal = _twin_supernets()
    with torch.no_grad():
        literal.alpha_reduce[3, 5] += 1.0  # one operation of one reduction-cell edge weighed differently
    x, _ = _batch()
    assert not torch.allclose(fast(x), literal(x), rtol=1e-5, atol=1e-5)


def test_pooling_statistics_agree_after_training_so_evaluation_agrees_too():
    fast, literal = _twin_supernets()
    x, _ = _batch(8)
    fast(x), literal(x)  # one training forward updates every BatchNorm's running statistics
    fast.eval(), literal.eval()
    with torch.no_grad():
        torch.testing.assert_close(fast(x), literal(x), rtol=1e-5, atol=1e-5)


def test_copy_from_refuses_a_supernet_of_another_shape_or_method():
    literal = LiteralSupernet((1, 8, 8), 10, cells=5, channels=4)
    with pytest.raises(ValueError, match="shape"):
        literal.copy_from(Supernet((1, 8, 8), 10, cells=5, channels=6))
    with pytest.raises(ValueError, match="method 'darts'"):
        literal.copy_from(Supernet((1, 8, 8), 10, cells=5, channels=4, method="gdas"))


def test_step_cost_times_a_step_and_measures_more_memory_for_a_larger_batch():
    torch.manual_seed(0)
    model = Cell201Supernet((1, 8, 8), 10, channels=4)
    before = {name: value.clone() for name, value in model.state_dict().items()}
    small = step_cost(model, _batch(8), _batch(8), steps=1, warmup=1)
    large = step_cost(model, _batch(32), _batch(32), steps=1, warmup=1, order=2)
    assert isinstance(small, StepCost) and small.device == "cpu"
    assert small.method == "darts, order 1" and large.method == "darts, order 2"
    assert small.seconds_per_step > 0
    # the activations kept for backward grow with the batch: at least 4 x 8 x 8 x 4 bytes per extra image
    assert large.peak_memory_bytes > small.peak_memory_bytes + 24 * 4 * 8 * 8 * 4
    for name, value in model.state_dict().items():  # it measured a copy: the caller's model is untouched
        assert torch.equal(value, before[name]), name


@pytest.mark.parametrize("method", ["darts", "gdas", "pcdarts", "idarts"])
def test_the_channels_last_layout_changes_no_result_of_any_method(method, monkeypatch):
    torch.manual_seed(0)
    model = Supernet((1, 8, 8), 10, cells=3, channels=8, method=method)
    x, y = _batch()
    results = []
    for channels_last in (True, False):
        monkeypatch.setattr(Supernet, "channels_last_on_cpu", channels_last)
        model.zero_grad()
        torch.manual_seed(1)  # GDAS: the same Gumbel sample both times
        logits = model(x)
        F.cross_entropy(logits, y).backward()
        results.append((logits, [alpha.grad.clone() for alpha in model.arch_parameters()]))
    (fast_logits, fast_grads), (plain_logits, plain_grads) = results
    torch.testing.assert_close(fast_logits, plain_logits, rtol=1e-5, atol=1e-5)
    for fast_grad, plain_grad in zip(fast_grads, plain_grads):
        torch.testing.assert_close(fast_grad, plain_grad, rtol=1e-4, atol=1e-6)
