"""DARTS-ES's signal: the Hessian of the validation loss in alpha, and the rule that stops a search on it."""

import torch
from torch.func import functional_call

from nascourse.relaxation import Cell201Supernet
from nascourse.relaxation.curvature import alpha_hessian, dominant_eigenvalue, early_stop_epoch


def _tiny_supernet_and_batch():
    torch.manual_seed(0)
    model = Cell201Supernet((1, 8, 8), 10, channels=2)
    x = torch.randn(16, 1, 8, 8, generator=torch.Generator().manual_seed(1))
    y = torch.arange(16) % 10
    return model, (x, y)


def test_the_hessian_built_from_hessian_vector_products_is_autograds_hessian():
    model, (x, y) = _tiny_supernet_and_batch()

    def loss(alpha):
        return torch.nn.functional.cross_entropy(functional_call(model, {"alpha": alpha}, (x,)), y)

    expected = torch.autograd.functional.hessian(loss, model.alpha.detach().clone()).reshape(24, 24)
    torch.testing.assert_close(alpha_hessian(model, (x, y)), (expected + expected.T) / 2, rtol=1e-4, atol=1e-6)
    assert dominant_eigenvalue(model, (x, y)) == float(torch.linalg.eigvalsh(alpha_hessian(model, (x, y)))[-1])


def test_measuring_the_curvature_leaves_the_batchnorm_statistics_alone():
    model, batch = _tiny_supernet_and_batch()
    before = {name: buffer.clone() for name, buffer in model.named_buffers()}
    dominant_eigenvalue(model, batch)
    for name, buffer in model.named_buffers():
        assert torch.equal(buffer, before[name]), name


def test_early_stopping_fires_when_the_eigenvalue_grows_by_a_third_over_a_window():
    flat = [1.0] * 12
    assert early_stop_epoch(flat, window=3) is None
    growing = [1.0] * 6 + [1.2, 1.4, 1.6]
    # at epoch index 7 the ratio is 1.0 / mean(1.0, 1.2, 1.4) = 0.83; at 8 it is 1.0 / mean(1.2, 1.4, 1.6) = 0.71
    assert early_stop_epoch(growing, window=3) == 8
    assert early_stop_epoch(growing[:8], window=3) is None
    assert early_stop_epoch(growing, window=3, threshold=0.9) == 7


def test_early_stopping_can_ignore_the_first_rise_from_initialisation():
    eigenvalues = [0.1, 0.3, 0.3, 0.3, 0.3, 0.3, 0.3, 0.3]
    assert early_stop_epoch(eigenvalues, window=2) == 3  # 0.2 / 0.3 < 0.75: the rise out of initialisation
    assert early_stop_epoch(eigenvalues, window=2, start=1) is None
