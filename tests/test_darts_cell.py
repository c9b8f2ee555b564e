"""The NASNet/DARTS cell space: genotype text, operations, the network builder, counting, sampling and mutation."""

import itertools
import math
import random
from collections import Counter

import pytest
import torch

from nascourse.spaces.base import ArchitectureError
from nascourse.spaces.darts_cell import DartsCellSpace
from nascourse.spaces.darts_genotype import Genotype, cell_depth, cell_width, count_cell, loose_ends
from nascourse.spaces.darts_network import EVALUATION_SKELETON, Skeleton, auxiliary_loss, build_network
from nascourse.spaces.darts_ops import PRIMITIVES, FactorizedReduce, Zero, build_operation
from nascourse.spaces.darts_published import PUBLISHED, genotype

NAMES = sorted(PUBLISHED)
SEARCH_SIZE = Skeleton(cells=5, channels=8)
SEARCH_ORDER = ("skip_connect", "sep_conv_3x3", "max_pool_3x3")


# ----------------------------------------------------------------------------------- genotype text
@pytest.mark.parametrize("name", NAMES)
def test_published_genotype_prints_back_to_the_same_text(name):
    entry = PUBLISHED[name]
    assert str(entry.genotype) == entry.text
    assert Genotype.parse(str(entry.genotype)) == entry.genotype


def test_the_range_form_of_darts_search_logs_parses_to_the_same_genotype():
    text = PUBLISHED["PC-DARTS"].text.replace("normal_concat=[2, 3, 4, 5]", "normal_concat=range(2, 6)")
    text = "genotype = " + text.replace("reduce_concat=[2, 3, 4, 5]", "reduce_concat=range(2, 6)")
    assert Genotype.parse(text) == genotype("PC-DARTS")
    assert str(Genotype.parse(text)) == PUBLISHED["PC-DARTS"].text


def test_parsing_never_executes_code(tmp_path):
    marker = tmp_path / "executed"
    with pytest.raises(ArchitectureError, match="literal"):
        Genotype.parse(f"Genotype(normal=open({str(marker)!r}, 'w'), normal_concat=[2])")
    assert not marker.exists()
    with pytest.raises(ArchitectureError, match="Genotype"):
        Genotype.parse("__import__('os').getcwd()")


@pytest.mark.parametrize(
    "text, message",
    [
        ("Genotype(normal=[('sep_conv_3x3', 0)], normal_concat=[2])", "even number"),
        ("Genotype(normal=[('sep_conv_9x9', 0), ('skip_connect', 1)], normal_concat=[2])", "unknown operation"),
        ("Genotype(normal=[('sep_conv_3x3', 0), ('skip_connect', 2)], normal_concat=[2])", "may only read nodes 0..1"),
        ("Genotype(normal=[('sep_conv_3x3', 0), ('skip_connect', 1)], normal_concat=[3])", "distinct intermediate"),
        ("Genotype(normal=[('sep_conv_3x3', 0), ('skip_connect', 1)])", "missing"),
        ("Genotype(normal=[('sep_conv_3x3', 0), ('skip_connect', 1)], normal_concat=[2], colour=[1])", "Unknown Genotype field"),
        ("Genotype(normal=[('sep_conv_3x3', 0), ('skip_connect', 1)], normal_concat=[2]", "Not a genotype"),
        ("Genotype(normal=[('sep_conv_3x3', '0'), ('skip_connect', 1)], normal_concat=[2])", "every edge is an"),
    ],
)
def test_a_malformed_genotype_gets_an_error_that_says_what_is_wrong(text, message):
    with pytest.raises(ArchitectureError, match=message):
        Genotype.parse(text)


def test_loose_ends_are_the_nodes_no_node_reads():
    assert loose_ends(genotype("NASNet-A").reduce) == (4, 5, 6)
    assert loose_ends(genotype("AmoebaNet-A").reduce) == (3, 4, 6)
    assert loose_ends(genotype("AmoebaNet-A").normal) == (4, 5, 6)
    for name in ("NASNet-A", "AmoebaNet-A", "ENAS"):  # NASNet-style cells concatenate their loose ends
        for kind in ("normal", "reduce"):
            edges, concat = genotype(name).cell(kind)
            assert tuple(concat) == loose_ends(edges), (name, kind)


# ----------------------------------------------------------------------------------- operations
@pytest.mark.parametrize("name", PRIMITIVES + ("sep_conv_7x7", "conv_7x1_1x7"))
@pytest.mark.parametrize("size", [8, 7])
def test_every_operation_keeps_channels_and_halves_the_size_with_stride_two(name, size):
    x = torch.randn(2, 6, size, size)
    assert build_operation(name, 6, stride=1)(x).shape == (2, 6, size, size)
    half = math.ceil(size / 2)
    assert build_operation(name, 6, stride=2)(x).shape == (2, 6, half, half)


def test_skip_connect_is_the_identity_but_a_factorized_reduce_when_striding():
    x = torch.randn(1, 4, 6, 6)
    assert torch.equal(build_operation("skip_connect", 4)(x), x)
    assert isinstance(build_operation("skip_connect", 4, stride=2), FactorizedReduce)
    assert isinstance(build_operation("none", 4, stride=2), Zero)
    assert torch.count_nonzero(build_operation("none", 4)(x)) == 0


def test_factorized_reduce_reads_the_odd_pixels_too():
    reduce = FactorizedReduce(1, 2, affine=False).eval()
    x = torch.zeros(1, 1, 4, 4)
    x[0, 0, 1, 1] = 1.0  # an odd pixel: a plain stride-2 1x1 convolution never sees it
    out = reduce(x)
    assert out[0, 0].abs().sum() == 0 and out[0, 1].abs().sum() > 0


def test_factorized_reduce_reads_the_even_even_and_odd_odd_pixels_and_no_others():
    reduce = FactorizedReduce(3, 4, affine=False).eval()
    x = (torch.rand(1, 3, 6, 6) + 0.5).requires_grad_()  # positive, so the leading ReLU passes every pixel's gradient
    rows, columns = torch.meshgrid(torch.arange(6), torch.arange(6), indexing="ij")
    even_even, odd_odd = (rows % 2 == 0) & (columns % 2 == 0), (rows % 2 == 1) & (columns % 2 == 1)

    def read(channels):  # the input pixels that move these output channels: where the gradient is not zero
        x.grad = None
        reduce(x)[:, channels].abs().sum().backward()
        return x.grad.abs().sum(dim=(0, 1)) > 0

    assert torch.equal(read(slice(0, 2)), even_even)  # the first path: (even row, even column)
    assert torch.equal(read(slice(2, 4)), odd_odd)  # the shifted path: (odd row, odd column)
    everything = read(slice(0, 4))
    assert torch.equal(everything, even_even | odd_odd)
    assert everything.sum() == 18  # half of the 36 pixels; the (even, odd) and (odd, even) ones are never read


def test_affine_false_leaves_batchnorm_without_parameters():
    with_affine = sum(p.numel() for p in build_operation("sep_conv_3x3", 8).parameters())
    without = sum(p.numel() for p in build_operation("sep_conv_3x3", 8, affine=False).parameters())
    assert with_affine - without == 4 * 8  # two BatchNorms, each a scale and a shift per channel


def test_an_unknown_operation_or_stride_is_refused_clearly():
    with pytest.raises(ValueError, match="Unknown cell operation"):
        build_operation("conv_9x9", 4)
    with pytest.raises(ValueError, match="stride"):
        build_operation("sep_conv_3x3", 4, stride=3)


# ----------------------------------------------------------------------------------- the network builder
@pytest.mark.parametrize("name", NAMES)
def test_published_cell_builds_and_trains_one_step_at_search_size(name, one_thread):
    torch.manual_seed(0)
    network = build_network(genotype(name), (1, 8, 8), 10, SEARCH_SIZE)
    logits = network(torch.randn(4, 1, 8, 8))
    assert logits.shape == (4, 10)
    logits.sum().backward()
    assert all(p.grad is not None for p in network.parameters())


@pytest.mark.parametrize("name", NAMES)
def test_published_cell_runs_forward_and_backward_at_evaluation_size(name, one_thread):
    torch.manual_seed(0)
    network = build_network(genotype(name))  # 20 cells, C = 36, auxiliary head, drop-path 0.2
    x, y = torch.randn(2, 3, 32, 32), torch.tensor([3, 7])
    logits = network(x)
    assert logits.shape == (2, 10) and network.auxiliary_logits.shape == (2, 10)
    auxiliary_loss(network)(logits, x, y).backward()
    assert network.stem[0].weight.grad is not None and network.auxiliary_head.classifier.weight.grad is not None
    network.eval()
    with torch.no_grad():
        network(x[:1])
    assert network.auxiliary_logits is None  # the auxiliary head only trains


def test_darts_second_order_has_the_published_parameter_count():
    """DARTS reports 3.3M; its code logs 3,349,342 for this cell at 20 cells, C = 36 (auxiliary head excluded)."""
    with torch.device("meta"):
        network = build_network(genotype("DARTS (2nd order)"))
    assert network.parameter_count() == 3_349_342
    assert network.parameter_count(auxiliary=True) > network.parameter_count()


def test_reductions_sit_at_one_third_and_two_thirds_of_the_depth():
    assert EVALUATION_SKELETON.reduction_positions() == (6, 13)
    network = build_network(genotype("DARTS (2nd order)"), (1, 8, 8), 10, Skeleton(cells=8, channels=4))
    assert [i for i, reduces in enumerate(network.reduces) if reduces] == [2, 5]


def test_drop_path_only_acts_while_training(one_thread):
    torch.manual_seed(0)
    network = build_network(genotype("DARTS (1st order)"), (1, 8, 8), 10, Skeleton(cells=3, channels=4, drop_path=0.5))
    x = torch.randn(3, 1, 8, 8)
    network.eval()
    with torch.no_grad():
        assert torch.equal(network(x), network(x))
    network.train()
    with torch.no_grad():
        assert not torch.equal(network(x), network(x))


@pytest.mark.parametrize("reduction", ["cell", "max_pool", "avg_pool", "conv"])
@pytest.mark.parametrize("dense", [False, True])
def test_every_macro_skeleton_builds_a_working_network(reduction, dense, one_thread):
    skeleton = Skeleton(cells=5, channels=4, reduction=reduction, dense=dense, auxiliary=True)
    network = build_network(genotype("PC-DARTS"), (1, 8, 8), 10, skeleton)
    network(torch.randn(2, 1, 8, 8)).sum().backward()
    cells = sum(type(layer).__name__ == "Cell" for layer in network.layers)
    assert cells == (5 if reduction == "cell" else 3)


def test_dense_connections_feed_every_earlier_map_of_the_stage():
    plain = build_network(genotype("PC-DARTS"), (1, 8, 8), 10, Skeleton(cells=6, channels=4, reduction="avg_pool"))
    dense = build_network(genotype("PC-DARTS"), (1, 8, 8), 10,
                          Skeleton(cells=6, channels=4, reduction="avg_pool", dense=True))
    # the second cell of the first stage reads the stem and the first cell: 12 + 16 channels instead of 16
    assert plain.layers[1].preprocess1[1].in_channels == 16
    assert dense.layers[1].preprocess1[1].in_channels == 12 + 16


def test_a_genotype_without_reduction_cell_needs_a_skeleton_that_reduces_otherwise():
    normal_only = Genotype(genotype("DARTS (2nd order)").normal, (2, 3, 4, 5))
    with pytest.raises(ArchitectureError, match="no reduction cell"):
        build_network(normal_only, (1, 8, 8), 10, Skeleton(cells=5, channels=4))
    build_network(normal_only, (1, 8, 8), 10, Skeleton(cells=5, channels=4, reduction="max_pool"))


def test_a_bad_skeleton_is_refused_clearly():
    with pytest.raises(ValueError, match="reduction must be one of"):
        Skeleton(reduction="stride")
    with pytest.raises(ValueError, match="at least 3 cells"):
        Skeleton(cells=2)


# ----------------------------------------------------------------------------------- the space
def test_sampled_and_mutated_architectures_belong_to_the_space_and_round_trip():
    space = DartsCellSpace()
    rng = random.Random(0)
    architecture = space.sample(rng)
    for _ in range(300):
        mutated = space.mutate(architecture, rng)
        assert mutated != architecture
        space.validate(mutated)
        assert space.decode(space.encode(mutated)) == mutated
        architecture = mutated


def test_a_mutation_changes_exactly_one_edge_of_one_node():
    space = DartsCellSpace()
    rng = random.Random(1)
    for _ in range(200):
        parent = space.sample(rng)
        child = space.mutate(parent, rng)
        changed = []
        for kind in ("normal", "reduce"):
            for node in range(space.nodes):
                before = Counter(parent.cell(kind)[0][2 * node: 2 * node + 2])
                after = Counter(child.cell(kind)[0][2 * node: 2 * node + 2])
                if before != after:
                    changed.append(sum((before - after).values()))
        assert changed == [1]


def test_the_space_refuses_genotypes_that_break_its_rules():
    space = DartsCellSpace()
    with pytest.raises(ArchitectureError, match="nodes"):
        space.decode(PUBLISHED["NASNet-A"].text)  # five nodes, and sep_conv_7x7
    repeated = PUBLISHED["DARTS (2nd order)"].text.replace("('sep_conv_3x3', 0), ('sep_conv_3x3', 1)",
                                                           "('sep_conv_3x3', 0), ('sep_conv_5x5', 0)", 1)
    with pytest.raises(ArchitectureError, match="twice"):
        space.decode(repeated)
    nasnet_like = DartsCellSpace(operations=("sep_conv_3x3", "sep_conv_5x5", "sep_conv_7x7", "avg_pool_3x3",
                                             "max_pool_3x3", "skip_connect"), nodes=5, distinct_inputs=False,
                                 concat="loose_ends")
    assert nasnet_like.decode(PUBLISHED["NASNet-A"].text) == genotype("NASNet-A")


def test_darts_cell_space_has_about_ten_to_the_eighteen_architectures():
    """DARTS, Sec. 2.4 of its appendix: about 10^9 cells of each kind, (10^9)^2 = 10^18 pairs."""
    assert count_cell(4, 7) == 1 * 3 * 6 * 10 * 7**8
    assert 1e18 < DartsCellSpace().count() < 1.1e18


def _count_by_brute_force(space):
    """Every ordered choice of (operation, input) for every edge, deduplicated by what the network computes
    (a node's two edges commute): an enumeration independent of the formula."""
    singles = [[(op, source) for source in range(node + 2) for op in space.operations] for node in range(space.nodes)]
    cells = set()
    for choice in itertools.product(*(itertools.product(options, repeat=2) for options in singles)):
        if space.distinct_inputs and any(a[1] == b[1] for a, b in choice):
            continue
        cells.add(tuple(frozenset([a, b]) if a != b else (a,) for a, b in choice))
    return len(cells)


@pytest.mark.parametrize("distinct", [True, False])
@pytest.mark.parametrize("nodes, operations", [(1, 3), (2, 2), (3, 2)])
def test_the_counting_formula_matches_enumeration(nodes, operations, distinct):
    space = DartsCellSpace(operations=SEARCH_ORDER[:operations], nodes=nodes, distinct_inputs=distinct,
                           skeleton=Skeleton(reduction="max_pool"))
    assert _count_by_brute_force(space) == count_cell(nodes, operations, distinct) == space.count()
    assert len(set(space.enumerate())) == space.count()



def test_a_space_with_both_cells_counts_their_pairs_and_a_global_space_every_position():
    space = DartsCellSpace(operations=SEARCH_ORDER[:2], nodes=2, skeleton=Skeleton(cells=4))
    per_cell = count_cell(2, 2)
    assert space.count() == per_cell**2 == sum(1 for _ in space.enumerate())
    assert space.count_global() == per_cell**4


def test_depth_and_width_follow_shu_et_al():
    chain = [("sep_conv_3x3", 0), ("sep_conv_3x3", 1), ("sep_conv_3x3", 2), ("skip_connect", 1),
             ("sep_conv_3x3", 3), ("skip_connect", 0), ("sep_conv_3x3", 4), ("skip_connect", 0)]
    assert cell_depth(chain, [5]) == 5 and cell_width(chain) == 1 + 0.5 + 0.5 + 0.5
    wide = [(op, source) for _ in range(4) for op, source in (("sep_conv_3x3", 0), ("sep_conv_3x3", 1))]
    assert cell_depth(wide, [2, 3, 4, 5]) == 2 and cell_width(wide) == 4
