"""Specifications of the continuous-relaxation library (chapter 03, survey Sec. 3.2): the mixing rules of
DARTS, GDAS, I-DARTS and PC-DARTS, the bilevel architecture gradient, the two supernets with their
discretisation (Eq. 5), and the search loop with its checkpoints and P-DARTS's stages."""

from __future__ import annotations

import copy
import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.func import functional_call

from nascourse.data import load_dataset
from nascourse.relaxation import Cell201Supernet, Supernet
from nascourse.relaxation.bilevel import exact_second_order_gradient, first_order_gradient, second_order_gradient
from nascourse.relaxation.mixing import (darts_weights, edge_normalisation, gumbel_weights, node_slices,
                                         node_softmax_weights)
from nascourse.relaxation.search import (CheckpointError, SearchConfig, pdarts_search, prune_operations,
                                         relaxation_search, search_step)
from nascourse.relaxation.supernet import channel_shuffle
from nascourse.spaces.base import ArchitectureError
from nascourse.spaces.cell201 import Cell201Architecture, Cell201Space
from nascourse.spaces.darts_genotype import Genotype
from nascourse.spaces.darts_ops import PRIMITIVES

DARTS_NODE_EDGES = (2, 3, 4, 5)  # four intermediate nodes: 14 edges
SPACE = Cell201Space(("none", "skip", "conv3x3", "avgpool3x3"), channels=4)  # the benchmark's space


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """Two cores are shared by several workers; one thread keeps timings steady and results bit-exact."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def digits():
    """A quarter of the digits training split: enough batches for a search epoch in a fraction of a second."""
    return load_dataset("digits", train_subset=256)


def node_sums(weights: torch.Tensor, node_edges=DARTS_NODE_EDGES) -> torch.Tensor:
    """The sum of a weight matrix (or vector) over each node's block of rows."""
    return torch.stack([weights[rows].sum() for rows in node_slices(node_edges)])


# =============================================================================== 1. mixing rules
def test_darts_weights_are_a_softmax_over_each_edges_operations():
    """Eq. 4: every edge's weights are positive, sum to 1, and are exp(alpha) / sum exp(alpha)."""
    alpha = torch.randn(14, 8, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    weights = darts_weights(alpha)
    torch.testing.assert_close(weights.sum(dim=1), torch.ones(14, dtype=torch.float64))
    assert (weights > 0).all()
    torch.testing.assert_close(weights[3], alpha[3].exp() / alpha[3].exp().sum())


def test_gumbel_weights_are_one_hot_in_value():
    """GDAS's forward pass runs exactly one operation per edge: each row is a one-hot vector."""
    alpha = torch.randn(14, 8, generator=torch.Generator().manual_seed(1))
    weights = gumbel_weights(alpha, temperature=5.0, generator=torch.Generator().manual_seed(2))
    one_hot = F.one_hot(weights.argmax(dim=1), 8).float()
    # 1 - s + s may round to 1 - 2^-24: equal up to float32 rounding, not bit for bit
    torch.testing.assert_close(weights, one_hot, rtol=0, atol=1e-6)


def test_gumbel_weights_pass_the_gradient_of_the_tempered_softmax_of_the_same_noise():
    """Straight-through Gumbel-softmax: the value is the hard sample, the gradient is that of
    softmax((log softmax(alpha) + g) / temperature) with the very noise g that drew the sample."""
    temperature = 0.7
    alpha = torch.randn(4, 5, dtype=torch.float64, generator=torch.Generator().manual_seed(3), requires_grad=True)
    upstream = torch.randn(4, 5, dtype=torch.float64, generator=torch.Generator().manual_seed(4))
    hard = gumbel_weights(alpha, temperature, generator=torch.Generator().manual_seed(5))
    (straight_through,) = torch.autograd.grad((hard * upstream).sum(), alpha)

    # the same noise, drawn from an identically seeded generator (g = -log(-log(u)), u ~ U(0, 1))
    uniform = torch.rand(alpha.shape, generator=torch.Generator().manual_seed(5), dtype=torch.float64)
    gumbel = -torch.log(-torch.log(uniform))
    soft = F.softmax((F.log_softmax(alpha, dim=-1) + gumbel) / temperature, dim=-1)
    (expected,) = torch.autograd.grad((soft * upstream).sum(), alpha)

    torch.testing.assert_close(straight_through, expected)
    assert torch.equal(hard.argmax(dim=1), soft.argmax(dim=1))  # the sample is the soft vector's argmax
    assert straight_through.abs().sum() > 0


def test_gumbel_samples_follow_softmax_alpha_over_many_draws():
    """The Gumbel-max trick: argmax(log p + g) is a draw from p = softmax(alpha), at any temperature."""
    alpha = torch.tensor([1.0, 0.0, -1.0, 0.5], dtype=torch.float64)
    draws = 40_000  # one row per draw: the rows get independent noise
    rows = alpha.expand(draws, 4)
    samples = gumbel_weights(rows, temperature=3.0, generator=torch.Generator().manual_seed(6))
    frequencies = samples.sum(dim=0) / draws
    # standard error sqrt(p (1 - p) / n) <= 0.0025; 0.012 is almost five of them
    torch.testing.assert_close(frequencies, F.softmax(alpha, dim=0), rtol=0, atol=0.012)
    # the temperature shapes only the gradient: the same noise gives the same sample at another temperature
    colder = gumbel_weights(rows, temperature=0.1, generator=torch.Generator().manual_seed(6))
    assert torch.equal(colder.argmax(dim=1), samples.argmax(dim=1))


@pytest.mark.parametrize("temperature", [0.0, -1.0])
def test_a_non_positive_gumbel_temperature_is_refused(temperature):
    with pytest.raises(ValueError, match="temperature must be positive"):
        gumbel_weights(torch.zeros(2, 3), temperature)


def test_idarts_weights_sum_to_one_per_node_not_per_edge():
    """I-DARTS: one softmax over all (edge, operation) pairs of a node, so edges compete."""
    alpha = torch.randn(14, 8, generator=torch.Generator().manual_seed(7), dtype=torch.float64)
    weights = node_softmax_weights(alpha, DARTS_NODE_EDGES)
    torch.testing.assert_close(node_sums(weights), torch.ones(4, dtype=torch.float64))
    assert not torch.allclose(weights.sum(dim=1), torch.ones(14, dtype=torch.float64))
    block = alpha[2:5]  # node 1 of the cell: its three incoming edges
    torch.testing.assert_close(weights[2:5], block.exp() / block.exp().sum())


def test_pcdarts_edge_normalisation_sums_to_one_per_node():
    beta = torch.randn(14, generator=torch.Generator().manual_seed(8), dtype=torch.float64)
    scale = edge_normalisation(beta, DARTS_NODE_EDGES)
    assert scale.shape == (14,)
    torch.testing.assert_close(node_sums(scale), torch.ones(4, dtype=torch.float64))
    torch.testing.assert_close(scale[5:9], F.softmax(beta[5:9], dim=0))


def test_node_wise_rules_refuse_a_node_grouping_that_does_not_cover_the_rows():
    """14 rows grouped as 2 + 3 would silently drop 9 edges; the rules say so instead."""
    with pytest.raises(ValueError, match="group 5 edges, but there are 14 rows"):
        node_softmax_weights(torch.zeros(14, 8), (2, 3))
    with pytest.raises(ValueError, match="group 5 edges, but there are 14 rows"):
        edge_normalisation(torch.zeros(14), (2, 3))


# =============================================================================== 2. the bilevel gradient
class TinyMixture(nn.Module):
    """A toy two-level problem in float64, small enough for double backward and finite differences.

    alpha mixes three "operations" of a 3-vector (linear, tanh of linear, plain tanh) by softmax(alpha);
    a linear classifier reads the mixture. No BatchNorm, so a forward pass changes no state.
    (B, 3) -> (B, 2).
    """

    def __init__(self, seed: int = 0):
        super().__init__()
        torch.manual_seed(seed)
        self.linear = nn.Linear(3, 3)
        self.squashed = nn.Linear(3, 3)
        self.classifier = nn.Linear(3, 2)
        self.alpha = nn.Parameter(0.5 * torch.randn(3))
        self.double()
        self.fail_at_call: int | None = None  # raise inside the forward pass with this index (0-based)
        self.calls = 0

    def arch_parameters(self) -> list[nn.Parameter]:
        return [self.alpha]

    def weight_parameters(self) -> list[nn.Parameter]:
        return [p for name, p in self.named_parameters() if name != "alpha"]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.fail_at_call is not None and self.calls == self.fail_at_call:
            raise RuntimeError("simulated failure inside the forward pass")
        self.calls += 1
        w = F.softmax(self.alpha, dim=0)
        mixture = w[0] * self.linear(x) + w[1] * torch.tanh(self.squashed(x)) + w[2] * torch.tanh(x)
        return self.classifier(mixture)


def tiny_batches():
    g = torch.Generator().manual_seed(11)
    train = (torch.randn(16, 3, generator=g, dtype=torch.float64), torch.randint(0, 2, (16,), generator=g))
    val = (torch.randn(16, 3, generator=g, dtype=torch.float64), torch.randint(0, 2, (16,), generator=g))
    return train, val


XI = 0.5  # a large virtual step, so the second-order term is far from negligible


def test_the_exact_second_order_gradient_is_the_derivative_of_the_unrolled_validation_loss():
    """Check the reference itself: a central difference in alpha of
    f(alpha) = L_val(w - xi grad_w L_train(w, alpha), alpha), computed from scratch in float64."""
    model = TinyMixture()
    train, val = tiny_batches()
    names = [name for name, _ in model.named_parameters() if name != "alpha"]
    weights = {name: p.detach().clone().requires_grad_(True) for name, p in model.named_parameters() if name != "alpha"}

    def unrolled_validation_loss(alpha: torch.Tensor) -> float:
        train_loss = F.cross_entropy(functional_call(model, {**weights, "alpha": alpha}, (train[0],)), train[1])
        grads = torch.autograd.grad(train_loss, [weights[n] for n in names])
        virtual = {n: weights[n].detach() - XI * g for n, g in zip(names, grads)}
        return float(F.cross_entropy(functional_call(model, {**virtual, "alpha": alpha}, (val[0],)), val[1]))

    alpha, h = model.alpha.detach().clone(), 1e-5
    numerical = torch.zeros(3, dtype=torch.float64)
    for k in range(3):
        step = torch.zeros(3, dtype=torch.float64)
        step[k] = h
        numerical[k] = (unrolled_validation_loss(alpha + step) - unrolled_validation_loss(alpha - step)) / (2 * h)
    (exact,) = exact_second_order_gradient(model, train, val, XI)
    # central difference: truncation O(h^2) ~ 1e-10, rounding ~ 1e-16 / h ~ 1e-11
    torch.testing.assert_close(exact, numerical, rtol=0, atol=1e-8)


def test_the_finite_difference_second_order_gradient_matches_double_backward():
    """Eq. 8's central difference moves w by epsilon ||v|| = 0.01 either way, so its error is
    O(0.01^2 / 6) times xi and a third derivative of L_train: ~4e-8 measured on this model. The
    tolerance 1e-6 leaves a 25x margin; the second-order term (exact minus first order, ~5e-3) is
    thousands of times larger, so an estimate that dropped or mis-scaled it would fail."""
    model = TinyMixture()
    train, val = tiny_batches()
    (estimate,) = second_order_gradient(model, train, val, XI)
    (exact,) = exact_second_order_gradient(model, train, val, XI)
    (first,) = first_order_gradient(model, val)
    torch.testing.assert_close(estimate, exact, rtol=0, atol=1e-6)
    assert (exact - first).abs().max() > 1e-3  # the virtual step matters, so the check above is not vacuous


def test_second_order_with_xi_zero_is_the_first_order_gradient():
    model = TinyMixture()
    train, val = tiny_batches()
    (second,) = second_order_gradient(model, train, val, xi=0.0)
    (first,) = first_order_gradient(model, val)
    assert torch.equal(second, first)


def test_second_order_gradient_restores_the_weights_exactly():
    """The virtual step and the two perturbed copies of w are temporary: afterwards w is bit-identical."""
    model = TinyMixture()
    train, val = tiny_batches()
    before = [p.detach().clone() for p in model.weight_parameters()]
    second_order_gradient(model, train, val, XI)
    for original, now in zip(before, model.weight_parameters()):
        assert torch.equal(original, now)
    assert all(p.grad is None for p in model.parameters())  # no .grad left behind for an optimiser to apply


@pytest.mark.parametrize("fail_at_call", [1, 2, 3])  # at w', at w+ and at w-
def test_second_order_gradient_restores_the_weights_when_a_pass_fails(fail_at_call):
    model = TinyMixture()
    train, val = tiny_batches()
    before = [p.detach().clone() for p in model.weight_parameters()]
    model.fail_at_call = fail_at_call
    with pytest.raises(RuntimeError, match="simulated failure"):
        second_order_gradient(model, train, val, XI)
    for original, now in zip(before, model.weight_parameters()):
        assert torch.equal(original, now)


# =============================================================================== 3. the DARTS-space supernet
def tiny_supernet(method: str = "darts", channels: int = 4, **kwargs) -> Supernet:
    torch.manual_seed(0)
    return Supernet((1, 8, 8), 10, cells=3, channels=channels, method=method, **kwargs)


def test_second_order_gradient_leaves_batchnorm_running_statistics_as_they_were():
    """Its four passes measure a gradient; they must not move the statistics evaluation will use."""
    model = tiny_supernet()
    x, y = torch.randn(8, 1, 8, 8), torch.randint(0, 10, (8,))
    before = [b.clone() for b in model.buffers()]
    assert before, "the supernet has BatchNorm buffers, so the check is not vacuous"
    second_order_gradient(model, (x, y), (x + 1.0, y), xi=0.01)
    assert all(torch.equal(b, now) for b, now in zip(before, model.buffers()))
    first_order_gradient(model, (x + 1.0, y))  # a training pass does move them (the check above can fail)
    assert not all(torch.equal(b, now) for b, now in zip(before, model.buffers()))


def test_gdas_refuses_the_second_order_gradient(digits):
    """GDAS draws a new path in every forward pass: Eq. 8's four passes would each see another network."""
    model = tiny_supernet("gdas")
    with pytest.raises(ValueError, match="samples a new path in every forward pass.*order=1"):
        relaxation_search(model, digits, SearchConfig(epochs=1, batch_size=64, order=2), progress=False)
    batch = (torch.randn(4, 1, 8, 8), torch.randint(0, 10, (4,)))
    weights, arch = torch.optim.SGD(model.weight_parameters(), lr=0.1), torch.optim.Adam(model.arch_parameters())
    with pytest.raises(ValueError, match="samples a new path"):
        search_step(model, batch, batch, weights, arch, order=2, xi=0.01)
    search_step(model, batch, batch, weights, arch, order=1)  # first order is GDAS's own


def test_supernet_maps_images_to_class_logits():
    model = tiny_supernet()
    assert model(torch.randn(2, 1, 8, 8)).shape == (2, 10)


def test_arch_and_weight_parameters_split_all_parameters_in_two():
    """The two levels of Eq. 6 optimise disjoint sets that together are the whole network."""
    for method in ("darts", "pcdarts"):
        model = tiny_supernet(method)
        arch = {id(p) for p in model.arch_parameters()}
        weights = {id(p) for p in model.weight_parameters()}
        assert not arch & weights
        assert arch | weights == {id(p) for p in model.parameters()}


def test_alpha_has_one_row_per_edge_and_one_column_per_operation():
    model = tiny_supernet()
    assert model.alpha_normal.shape == model.alpha_reduce.shape == (14, len(PRIMITIVES)) == (14, 8)


def test_derive_gives_a_valid_genotype_with_two_real_inputs_per_node():
    model = tiny_supernet()
    genotype = model.derive()
    assert isinstance(genotype, Genotype)
    assert Genotype.parse(str(genotype)) == genotype
    for kind in ("normal", "reduce"):
        edges, concat = genotype.cell(kind)
        assert len(edges) == 8 and list(concat) == [2, 3, 4, 5]
        assert all(op != "none" for op, _ in edges)
        for node in range(4):  # two distinct inputs, each an earlier node
            sources = [source for _, source in edges[2 * node: 2 * node + 2]]
            assert len(set(sources)) == 2 and all(0 <= s < node + 2 for s in sources)


def column(name: str) -> int:
    return PRIMITIVES.index(name)


def hand_set_alpha() -> torch.Tensor:
    """An alpha whose Eq. 5 reading is worked out by hand below. Every row is 0 except the listed entries,
    so an edge's strength is softmax(row)[op]; on edge 0 ``none`` is strongest and must be passed over."""
    alpha = torch.zeros(14, 8)
    entries = {
        # node 2 (edges 0-1)
        0: {"none": 5.0, "sep_conv_3x3": 2.0},  # sep_conv_3x3 at 0.046: weak edge, but node 2 has only two
        1: {"skip_connect": 1.0, "max_pool_3x3": 0.5},  # skip 0.26
        # node 3 (edges 2-4)
        2: {"dil_conv_3x3": 3.0},  # 0.74
        3: {"max_pool_3x3": 1.0},  # 0.28
        4: {"sep_conv_5x5": 2.0},  # 0.51
        # node 4 (edges 5-8)
        5: {"avg_pool_3x3": 1.0},  # 0.28
        6: {"dil_conv_5x5": 4.0},  # 0.89
        7: {"skip_connect": 3.0, "sep_conv_3x3": 2.9},  # skip 0.53, then sep_conv_3x3 0.47
        8: {"sep_conv_3x3": 0.5},  # 0.19
        # node 5 (edges 9-13)
        9: {"sep_conv_3x3": 1.0},  # 0.28
        10: {"sep_conv_5x5": 1.5},  # 0.39
        11: {"max_pool_3x3": 0.2},  # 0.15
        12: {"dil_conv_3x3": 2.5},  # 0.64
        13: {"skip_connect": 3.5, "dil_conv_5x5": 3.0},  # skip 0.56, then dil_conv_5x5 0.34
    }
    for edge, values in entries.items():
        for name, value in values.items():
            alpha[edge, column(name)] = value
    return alpha


HAND_NORMAL = [  # strongest operation per edge, two strongest edges per node, strongest first
    ("skip_connect", 1), ("sep_conv_3x3", 0),
    ("dil_conv_3x3", 0), ("sep_conv_5x5", 2),
    ("dil_conv_5x5", 1), ("skip_connect", 2),
    ("dil_conv_3x3", 3), ("skip_connect", 4),
]


def test_derive_keeps_the_strongest_real_operation_per_edge_and_the_top_two_edges_per_node():
    """Eq. 5 on a hand-set alpha."""
    model = tiny_supernet()
    with torch.no_grad():
        model.alpha_normal.copy_(hand_set_alpha())
    assert list(model.derive().normal) == HAND_NORMAL


def test_max_skips_replaces_the_weakest_skip_connections_of_the_normal_cell():
    """P-DARTS's cap: the normal cell above has three skips (strengths 0.26, 0.53, 0.56). With at most one,
    the two weakest go: edge 1 falls back to max_pool_3x3 and edge 7 to sep_conv_3x3; the strongest stays."""
    model = tiny_supernet()
    with torch.no_grad():
        model.alpha_normal.copy_(hand_set_alpha())
        model.alpha_reduce.copy_(hand_set_alpha())  # the cap applies to the normal cell only
    capped = model.derive(max_skips=1)
    assert list(capped.normal) == [
        ("max_pool_3x3", 1), ("sep_conv_3x3", 0),
        ("dil_conv_3x3", 0), ("sep_conv_5x5", 2),
        ("dil_conv_5x5", 1), ("sep_conv_3x3", 2),
        ("dil_conv_3x3", 3), ("skip_connect", 4),
    ]
    assert list(capped.reduce) == HAND_NORMAL
    # with none allowed, node 5's edge 13 falls to dil_conv_5x5 (0.34), now weaker than edge 10 (0.39)
    assert list(model.derive(max_skips=0).normal)[6:] == [("dil_conv_3x3", 3), ("sep_conv_5x5", 1)]
    assert model.derive(max_skips=3).normal == model.derive().normal  # a cap that is not reached changes nothing


def test_gdas_runs_only_the_sampled_operation_of_each_edge():
    """GDAS's saving: one operation per edge in the forward pass. With one logit at +40 per edge the
    Gumbel sample is that operation (any other has probability ~e^-40); forward hooks on every
    parametric operation record which ran."""
    model = tiny_supernet("gdas").train()
    parametric = ("sep_conv_3x3", "sep_conv_5x5", "dil_conv_3x3", "dil_conv_5x5")
    chosen = [parametric[edge % 4] for edge in range(14)]
    with torch.no_grad():
        for alpha in model.arch_parameters():
            alpha.zero_()
            for edge, name in enumerate(chosen):
                alpha[edge, column(name)] = 40.0
    ran = []
    hooks = []
    for c, cell in enumerate(model.cells):
        for e, mixed_op in enumerate(cell.edges):
            for name, module in mixed_op.ops.items():
                hooks.append(module.register_forward_hook(lambda *_, key=(c, e, name): ran.append(key)))
    model(torch.randn(2, 1, 8, 8)).sum().backward()
    for hook in hooks:
        hook.remove()
    expected = [(c, e, chosen[e]) for c in range(3) for e in range(14)]
    assert sorted(ran) == sorted(expected)  # each sampled operation exactly once, nothing else
    assert len(hooks) > len(expected)  # other parametric operations existed and stayed idle
    sampled_rows = model.alpha_normal.grad
    assert sampled_rows is not None and sampled_rows.abs().sum() > 0  # alpha still learns through the sample


def test_pcdarts_operations_see_only_one_kth_of_the_channels():
    """PC-DARTS with K = 4 on cells of 8, 16 and 32 channels: every convolution on an edge (and the
    poolings' BatchNorms) is built for C / 4 channels; the rest bypass the operations."""
    model = tiny_supernet("pcdarts", channels=8, partial_channels=4)
    widths = [8, 16, 32]  # reductions at cells 1 and 2 double the width
    for cell, width in zip(model.cells, widths):
        convolutions = [m for m in cell.edges.modules() if isinstance(m, nn.Conv2d)]
        assert convolutions and all(conv.in_channels == width // 4 for conv in convolutions)
        norms = [m for m in cell.pool_norms.modules() if isinstance(m, nn.BatchNorm2d)]
        assert all(norm.num_features == width // 4 for norm in norms)
    assert [tuple(p.shape) for p in model.arch_parameters()] == [(14, 8), (14, 8), (14,), (14,)]
    assert model(torch.randn(2, 1, 8, 8)).shape == (2, 10)


def test_channel_shuffle_interleaves_the_groups():
    """ShuffleNet's shuffle on channels 0..5: two groups (0 1 2)(3 4 5) interleave to 0 3 1 4 2 5;
    three groups (0 1)(2 3)(4 5) to 0 2 4 1 3 5."""
    x = torch.arange(6.0).view(1, 6, 1, 1)
    assert channel_shuffle(x, 2).flatten().tolist() == [0, 3, 1, 4, 2, 5]
    assert channel_shuffle(x, 3).flatten().tolist() == [0, 2, 4, 1, 3, 5]
    wide = torch.randn(2, 12, 3, 3)
    shuffled = channel_shuffle(wide, 4)
    assert sorted(shuffled[0, :, 0, 0].tolist()) == sorted(wide[0, :, 0, 0].tolist())  # a permutation


def test_idarts_supernet_weights_sum_to_one_per_node():
    model = tiny_supernet("idarts")
    for kind in model.kinds:
        torch.testing.assert_close(node_sums(model.mixing_weights(kind)), torch.ones(4))
        torch.testing.assert_close(node_sums(model.operation_strengths(kind)), torch.ones(4))


def test_an_unknown_method_or_operation_is_refused_clearly():
    with pytest.raises(ValueError, match="Unknown relaxation method 'enas'"):
        Supernet((1, 8, 8), 10, cells=3, channels=4, method="enas")
    with pytest.raises(ArchitectureError, match="conv_9x9"):
        Supernet((1, 8, 8), 10, cells=3, channels=4, operations=("none", "conv_9x9"))
    with pytest.raises(ValueError, match="Unknown relaxation method 'enas'"):
        Cell201Supernet((1, 8, 8), 10, method="enas")
    with pytest.raises(ArchitectureError, match="conv5x5"):
        Cell201Supernet((1, 8, 8), 10, operations=("none", "skip", "conv5x5"))


# =============================================================================== 4. the benchmark-space supernet
def cell201(method: str = "darts", alpha: list[list[float]] | None = None) -> Cell201Supernet:
    torch.manual_seed(0)
    model = Cell201Supernet((1, 8, 8), 10, channels=4, method=method)
    if alpha is not None:
        with torch.no_grad():
            model.alpha.copy_(torch.tensor(alpha))
    return model


def test_a_derived_cell_is_an_architecture_the_benchmark_answers_for():
    from nascourse.bench import Benchmark

    bench = Benchmark.load()
    for method in ("darts", "gdas", "pcdarts", "idarts"):
        architecture = cell201(method).derive()
        assert isinstance(architecture, Cell201Architecture)
        record = bench.query(architecture)
        assert 0.0 <= record.val_accuracy <= 1.0
    # and a cell that drops edges (below) too
    assert 0.0 <= bench.query(cell201(alpha=NONE_ON_TWO_EDGES).derive()).test_accuracy <= 1.0


#                    none skip conv avgpool
NONE_ON_TWO_EDGES = [[0.0, 0.0, 2.0, 0.0],   # edge (0,1): conv3x3
                     [3.0, 0.0, 0.0, 0.0],   # edge (0,2): none
                     [0.0, 0.0, 0.0, 2.0],   # edge (1,2): avgpool3x3
                     [0.0, 2.0, 0.0, 0.0],   # edge (0,3): skip
                     [2.0, 0.0, 1.0, 0.0],   # edge (1,3): none, ahead of conv3x3
                     [0.0, 0.0, 2.0, 0.0]]   # edge (2,3): conv3x3


def test_derive_drops_the_edges_whose_strongest_operation_is_none():
    """NAS-Bench-201's discretisation: the argmax per edge, ``none`` included."""
    assert cell201(alpha=NONE_ON_TWO_EDGES).derive().operations == (
        "conv3x3", "none", "avgpool3x3", "skip", "none", "conv3x3")


def test_idarts_keeps_any_number_of_edges_per_node():
    """I-DARTS keeps every edge whose best real operation beats its node's uniform share: node 2's two
    edges are dominated by ``none`` (real operations at 1 / (2 e^5 + 6) < 1/8) and it keeps none of them;
    node 3 keeps all three (each at e^2 / (3 e^2 + 9) = 0.24 > 1/12)."""
    alpha = [[0.0, 0.0, 3.0, 0.0],   # node 1: conv3x3 at 0.87 > 1/4
             [5.0, 0.0, 0.0, 0.0],   # node 2
             [5.0, 0.0, 0.0, 0.0],
             [0.0, 2.0, 0.0, 0.0],   # node 3
             [0.0, 0.0, 2.0, 0.0],
             [0.0, 0.0, 0.0, 2.0]]
    assert cell201("idarts", alpha).derive().operations == ("conv3x3", "none", "none", "skip", "conv3x3", "avgpool3x3")


def test_max_skips_keeps_only_the_strongest_skips_of_the_benchmark_cell():
    """Skip is the strongest operation on edges 0 (0.68), 3 (0.61) and 5 (0.92); a capped skip falls back
    to its edge's next operation, which may be ``none``."""
    alpha = [[0.0, 3.0, 2.0, 0.0],   # skip, then conv3x3
             [0.0, 0.0, 1.0, 0.0],
             [0.0, 0.0, 1.0, 0.0],
             [1.0, 2.0, 0.0, 0.0],   # skip, then none
             [0.0, 0.0, 1.0, 0.0],
             [1.0, 4.0, 0.0, 0.0]]   # the strongest skip
    model = cell201(alpha=alpha)
    assert model.derive().operations == ("skip", "conv3x3", "conv3x3", "skip", "conv3x3", "skip")
    assert model.derive(max_skips=2).operations == ("skip", "conv3x3", "conv3x3", "none", "conv3x3", "skip")
    assert model.derive(max_skips=1).operations == ("conv3x3", "conv3x3", "conv3x3", "none", "conv3x3", "skip")
    assert model.derive(max_skips=0).operations.count("skip") == 0


def test_idarts_capped_skip_falls_back_by_the_idarts_rule():
    """Under I-DARTS a capped skip's edge takes its next operation only if that beats the node's share:
    on edge (2,3) conv3x3 is next (e^0.5 / 66.2 = 0.025) but below 1/12, so the edge becomes ``none``."""
    alpha = [[0.0, 0.0, 3.0, 0.0],   # node 1: conv3x3
             [0.0, 0.0, 0.0, 2.0],   # node 2: avgpool3x3 at 0.22 > 1/8
             [3.0, 0.0, 0.0, 0.0],   #         real operations at 0.03: none
             [0.0, 0.0, 0.0, 0.0],   # node 3: every pair at 0.015 < 1/12: none
             [0.0, 0.0, 0.0, 0.0],
             [0.0, 4.0, 0.5, 0.0]]   #         skip at 0.82
    model = cell201("idarts", alpha)
    assert model.derive().operations == ("conv3x3", "avgpool3x3", "none", "none", "none", "skip")
    assert model.derive(max_skips=0).operations == ("conv3x3", "avgpool3x3", "none", "none", "none", "none")


def test_capping_an_edge_that_has_only_skip_is_refused_instead_of_looping():
    model = Cell201Supernet((1, 8, 8), 10, operations=("skip",))
    assert model.derive().operations == ("skip",) * 6
    with pytest.raises(ArchitectureError, match="no other operation than 'skip'"):
        model.derive(max_skips=2)


# =============================================================================== 5. the search loop
FAST = SearchConfig(epochs=3, batch_size=32, arch_lr=3e-3)


def search_supernet(method: str = "darts", seed: int = 0) -> Cell201Supernet:
    torch.manual_seed(seed)
    return Cell201Supernet((1, 8, 8), 10, channels=4, method=method)


def test_a_search_keeps_one_snapshot_per_epoch_and_moves_alpha(digits):
    model = search_supernet()
    initial = model.alpha.detach().clone()
    result = relaxation_search(model, digits, FAST, progress=False)
    assert [s.epoch for s in result.snapshots] == [1, 2, 3]
    for snapshot in result.snapshots:
        strengths = torch.tensor(snapshot.strengths["cell"])
        assert strengths.shape == (6, 4)
        torch.testing.assert_close(strengths.sum(dim=1), torch.ones(6))
        assert isinstance(SPACE.decode(snapshot.architecture), Cell201Architecture)
        assert 0.0 <= snapshot.val_accuracy <= 1.0 and math.isfinite(snapshot.train_loss)
    assert result.architecture == str(model.derive())
    assert (model.alpha.detach() - initial).abs().max() > 1e-3


def test_warmup_epochs_train_the_weights_but_leave_alpha_alone(digits):
    model = search_supernet()
    initial_alpha = model.alpha.detach().clone()
    initial_weights = [p.detach().clone() for p in model.weight_parameters()]
    alphas, weights_moved = [], []

    def record(snapshot):
        alphas.append(model.alpha.detach().clone())
        weights_moved.append(any(not torch.equal(a, b) for a, b in zip(initial_weights, model.weight_parameters())))

    relaxation_search(model, digits, SearchConfig(epochs=2, batch_size=32, arch_lr=3e-3, warmup_epochs=1),
                      progress=False, on_epoch=record)
    assert torch.equal(alphas[0], initial_alpha) and weights_moved[0]
    assert not torch.equal(alphas[1], initial_alpha)


def comparable(result):
    """Everything a search records except the wall-clock seconds."""
    return [(s.epoch, s.train_loss, s.train_accuracy, s.val_accuracy, s.architecture, s.strengths, s.temperature)
            for s in result.snapshots]


@pytest.mark.parametrize("method", ["darts", "gdas"])  # GDAS also draws from the global generator
def test_a_resumed_search_ends_bit_identical_to_an_uninterrupted_one(digits, tmp_path, method):
    uninterrupted = relaxation_search(search_supernet(method), digits, FAST, progress=False)
    path = tmp_path / "search.pt"
    first = relaxation_search(search_supernet(method), digits, FAST, checkpoint=path, progress=False, max_epochs=1)
    assert len(first.snapshots) == 1 and path.exists()
    torch.manual_seed(12345)  # the global generator moves on before the resume, as in a new process
    resumed_model = search_supernet(method, seed=99)  # different initial values: the checkpoint must replace them
    resumed = relaxation_search(resumed_model, digits, FAST, checkpoint=path, resume=True, progress=False)
    assert comparable(resumed) == comparable(uninterrupted)


@pytest.fixture
def one_epoch_checkpoint(digits, tmp_path):
    path = tmp_path / "search.pt"
    relaxation_search(search_supernet(), digits, FAST, checkpoint=path, progress=False, max_epochs=1)
    return path


def test_a_checkpoint_loads_with_weights_only(one_epoch_checkpoint):
    """Only tensors and plain Python values: safe to load without unpickling arbitrary objects."""
    state = torch.load(one_epoch_checkpoint, weights_only=True)
    assert {"model", "weight_optimizer", "arch_optimizer", "snapshots"} <= set(state)
    assert len(state["snapshots"]) == 1


def test_a_truncated_checkpoint_is_refused_clearly(digits, one_epoch_checkpoint):
    data = one_epoch_checkpoint.read_bytes()
    one_epoch_checkpoint.write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="corrupt or not a nascourse relaxation search checkpoint"):
        relaxation_search(search_supernet(), digits, FAST, checkpoint=one_epoch_checkpoint, resume=True,
                          progress=False)


def test_a_foreign_file_is_refused_clearly(digits, tmp_path):
    path = tmp_path / "other.pt"
    torch.save({"weights": torch.zeros(3)}, path)
    with pytest.raises(CheckpointError, match="not a nascourse relaxation search checkpoint"):
        relaxation_search(search_supernet(), digits, FAST, checkpoint=path, resume=True, progress=False)


def test_a_checkpoint_of_another_search_is_refused(digits, one_epoch_checkpoint):
    other = SearchConfig(epochs=4, batch_size=32, arch_lr=3e-3)
    with pytest.raises(CheckpointError, match="belongs to another relaxation search.*config"):
        relaxation_search(search_supernet(), digits, other, checkpoint=one_epoch_checkpoint, resume=True,
                          progress=False)
    with pytest.raises(CheckpointError, match="seed"):
        relaxation_search(search_supernet(), digits, FAST, seed=1, checkpoint=one_epoch_checkpoint, resume=True,
                          progress=False)


@pytest.mark.parametrize("settings, message", [
    ({"order": 3}, "order must be 1 .* or 2"),
    ({"epochs": 0}, "epochs must be a positive integer"),
    ({"batch_size": 0}, "batch_size must be a positive integer"),
    ({"epochs": 2, "warmup_epochs": 2}, "warmup_epochs must be in"),
    ({"skip_dropout": 1.0}, "skip_dropout is a probability"),
])
def test_search_config_refuses_bad_values_with_a_clear_message(settings, message):
    with pytest.raises(ValueError, match=message):
        SearchConfig(**settings)


def test_prune_operations_keeps_none_and_the_strongest_others():
    """P-DARTS between stages: ``none`` always stays (it is not a candidate for the cell anyway)."""
    operations = [("none", "skip", "conv3x3", "avgpool3x3", "conv1x1")] * 2
    strengths = torch.tensor([[0.50, 0.10, 0.20, 0.15, 0.05],   # none strongest: still kept, plus two others
                              [0.01, 0.40, 0.09, 0.30, 0.20]])
    assert prune_operations(strengths, operations, keep=3) == (
        ("none", "conv3x3", "avgpool3x3"),
        ("none", "skip", "avgpool3x3"),
    )


@pytest.fixture(scope="module")
def few_digits():
    """128 training images: one weight step and one alpha step per epoch of the DARTS-space supernet."""
    return load_dataset("digits", train_subset=128)


def test_pdarts_prunes_the_operations_between_stages_and_caps_skips(few_digits):
    """Two tiny stages: the second supernet's edges hold ``none`` and the three strongest other operations
    of the first; its final normal cell keeps one skip connection of the two its uncapped derivation has
    (seed 2 is chosen for having two, so the cap is exercised)."""
    stages = [(3, 8, 0.0), (3, 4, 0.3)]
    done = pdarts_search(few_digits, stages, SearchConfig(epochs=1, batch_size=64), channels=4, seed=2, max_skips=1,
                         progress=False)
    (first, _), (second, result) = done
    assert all(len(ops) == 8 for ops in first.edge_operations["normal"])
    for kind in ("normal", "reduce"):
        expected = prune_operations(first.operation_strengths(kind), first.edge_operations[kind], 4)
        assert second.edge_operations[kind] == expected
        assert all(len(ops) == 4 and ops[0] == "none" for ops in expected)
    assert second.cells[0].skip_dropout == pytest.approx(0.3)  # the stage's skip dropout, first (only) epoch
    skips = [op for op, _ in second.derive().normal].count("skip_connect")
    assert skips == 2  # without the cap
    final = Genotype.parse(result.architecture)
    assert [op for op, _ in final.normal].count("skip_connect") == 1
    assert final == second.derive(max_skips=1)


def test_pdarts_refuses_a_stage_that_would_leave_only_none(few_digits):
    with pytest.raises(ValueError, match="operations per edge >= 2"):
        pdarts_search(few_digits, [(3, 8, 0.0), (3, 1, 0.0)], SearchConfig(epochs=1), channels=4, progress=False)
    with pytest.raises(ValueError, match="at least one stage"):
        pdarts_search(few_digits, [], SearchConfig(epochs=1), channels=4, progress=False)


def test_pdarts_is_determined_by_its_seed_not_by_the_global_generator(few_digits):
    """The stage builds its own supernet and draws skip-dropout masks: both must come from ``seed``,
    or two runs of a notebook cell would search different networks."""
    config = SearchConfig(epochs=1, batch_size=64)
    runs = []
    for global_seed in (1, 2):
        torch.manual_seed(global_seed)
        ((_, result),) = pdarts_search(few_digits, [(3, 8, 0.5)], config, channels=4, seed=0, progress=False)
        runs.append(comparable(result))
    assert runs[0] == runs[1]


def test_the_skip_cap_says_so_when_a_node_has_nothing_but_skips_to_choose_from():
    """P-DARTS with two operations per edge can leave a node whose edges offer only skip_connect: the cap
    cannot be met there, and saying so beats looping for ever."""
    from nascourse.relaxation.supernet import cap_skip_connections

    operations = [("none", "skip_connect")] * 2 + [("none", "sep_conv_3x3")] * 3
    strengths = torch.rand(5, 2, generator=torch.Generator().manual_seed(0))
    with pytest.raises(ArchitectureError, match="Cannot cap the skip connections at 0"):
        cap_skip_connections(strengths, operations, (2, 3), 0)


# --------------------------------------------------------------------------------------- the discretisation gap
def test_discretised_accuracy_runs_only_the_derived_cell_and_leaves_the_supernet_as_it_was():
    """A supernet whose softmax is already one-hot has no discretisation gap: keeping only its derived cell changes
    nothing. The measurement restores the supernet (its mode, BatchNorm's statistics) whatever it re-estimated."""
    from nascourse.data import Split
    from nascourse.relaxation.cell201_supernet import discretised_accuracy
    from nascourse.train import accuracy

    torch.manual_seed(0)
    model = Cell201Supernet((1, 8, 8), 10)
    images = Split(torch.randn(64, 1, 8, 8), torch.randint(0, 10, (64,)))
    model.train()
    model(images.x)  # running statistics away from their initial values
    with torch.no_grad():
        model.alpha.copy_(torch.tensor([[0.0, 0.0, 200.0, 0.0]] * 6))  # conv3x3 on every edge: exactly one-hot
    before = {k: v.clone() for k, v in model.state_dict().items()}
    assert str(model.derive()) == "|conv3x3~0|+|conv3x3~0|conv3x3~1|+|conv3x3~0|conv3x3~1|conv3x3~2|"
    assert discretised_accuracy(model, images) == accuracy(model, images)
    other = "|skip~0|+|none~0|avgpool3x3~1|+|skip~0|none~1|skip~2|"
    one_hot = copy.deepcopy(model)  # the same weights, alpha one-hot on the other cell
    with torch.no_grad():
        one_hot.alpha.copy_(200.0 * torch.eye(4)[[model.operations.index(op) for op in
                                                  Cell201Space().decode(other).operations]])
    assert discretised_accuracy(model, images, other) == accuracy(one_hot, images)
    model.eval(), one_hot.eval()
    model.fixed_cell = Cell201Space().decode(other)  # what discretised_accuracy sets while it measures
    with torch.no_grad():
        torch.testing.assert_close(model(images.x), one_hot(images.x), rtol=0, atol=0)
    model.fixed_cell = None
    model.train()
    discretised_accuracy(model, images, other, recalibrate=images)
    assert model.training and model.fixed_cell is None
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items()), "the supernet is left as it was"
    with pytest.raises(ArchitectureError, match="does not hold"):
        discretised_accuracy(Cell201Supernet((1, 8, 8), 10, operations=("none", "skip", "conv3x3")), images, other)
