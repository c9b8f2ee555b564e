"""The NAS-Bench-201-style cell space: strings, counting, and equivalence classes that mean "same function"."""

import random
import zlib

import pytest
import torch

from nascourse.spaces import ArchitectureError
from nascourse.spaces.cell201 import EDGES, OPERATIONS, Cell, Cell201Architecture, Cell201Space

SMALL = ("none", "skip", "conv1x1", "avgpool3x3")


def test_the_space_has_five_to_the_six_cells():
    space = Cell201Space()
    assert space.count() == 5 ** 6 == len(list(space.enumerate()))
    assert len(set(space.enumerate())) == space.count()


def test_strings_round_trip_in_the_nas_bench_201_form():
    space = Cell201Space()
    text = "|conv3x3~0|+|skip~0|conv1x1~1|+|none~0|avgpool3x3~1|conv3x3~2|"
    architecture = space.decode(text)
    assert architecture.operations == ("conv3x3", "skip", "conv1x1", "none", "avgpool3x3", "conv3x3")
    assert architecture.edge(1, 3) == "avgpool3x3"
    assert space.encode(architecture) == text
    rng = random.Random(0)
    for _ in range(50):
        sample = space.sample(rng)
        assert space.decode(space.encode(sample)) == sample


@pytest.mark.parametrize("bad, message", [
    ("|conv3x3~0|+|skip~0|conv1x1~1|", "3 groups"),
    ("|conv3x3~0|+|skip~0|+|none~0|none~1|none~2|", "must list 2 edge"),
    ("|conv3x3~1|+|skip~0|none~1|+|none~0|none~1|none~2|", "must come from node 0"),
    ("|conv7x7~0|+|skip~0|none~1|+|none~0|none~1|none~2|", "Unknown operation 'conv7x7'"),
])
def test_malformed_strings_say_what_is_wrong(bad, message):
    with pytest.raises(ArchitectureError, match=message):
        Cell201Space().decode(bad)


def test_a_smaller_operation_set_refuses_the_others():
    space = Cell201Space(operations=SMALL)
    assert space.count() == 4 ** 6
    with pytest.raises(ArchitectureError, match="conv3x3"):
        space.decode("|conv3x3~0|+|skip~0|none~1|+|none~0|none~1|none~2|")
    with pytest.raises(ValueError, match="distinct names"):
        Cell201Space(operations=("none", "sep_conv"))


def test_mutation_changes_exactly_one_edge():
    space = Cell201Space()
    rng = random.Random(1)
    for _ in range(100):
        parent = space.sample(rng)
        child = space.mutate(parent, rng)
        assert sum(a != b for a, b in zip(parent.operations, child.operations)) == 1


def test_equivalences_by_hand():
    space = Cell201Space()
    same = space.equivalent
    # isomorphic: intermediate nodes 1 and 2 swap places when no edge joins them
    assert same("|conv3x3~0|+|conv1x1~0|none~1|+|none~0|skip~1|conv1x1~2|",
                "|conv1x1~0|+|conv3x3~0|none~1|+|none~0|conv1x1~1|skip~2|")
    # a dead edge: node 2 never receives anything, so what leaves it does not matter
    assert same("|conv3x3~0|+|none~0|none~1|+|none~0|skip~1|conv3x3~2|",
                "|conv3x3~0|+|none~0|none~1|+|none~0|skip~1|none~2|")
    # an identity on the way: conv(skip(x)) is conv(x)
    assert same("|skip~0|+|none~0|none~1|+|none~0|conv3x3~1|none~2|",
                "|none~0|+|none~0|none~1|+|conv3x3~0|none~1|none~2|")
    # no path from input to output: every such cell outputs zeros
    assert same("|conv3x3~0|+|conv3x3~0|none~1|+|none~0|none~1|none~2|",
                "|none~0|+|none~0|none~1|+|none~0|none~1|none~2|")
    # but a convolution is not linear: conv(x + y) is not conv(x) + conv(y)
    assert not same("|conv1x1~0|+|skip~0|skip~1|+|none~0|none~1|conv3x3~2|",
                    "|conv1x1~0|+|none~0|none~1|+|conv3x3~0|conv3x3~1|none~2|")
    # while average pooling is: pool(x + y) = pool(x) + pool(y)
    assert same("|conv1x1~0|+|skip~0|skip~1|+|none~0|none~1|avgpool3x3~2|",
                "|conv1x1~0|+|none~0|none~1|+|avgpool3x3~0|avgpool3x3~1|none~2|")


def test_canonical_forms_are_representatives_without_dead_edges():
    space = Cell201Space()
    unique = space.unique_architectures()
    assert len(unique) == space.count_unique() == len(set(unique))
    assert space.count_unique() < space.count()
    representatives = set(unique)
    for architecture in space.enumerate():
        canonical = space.canonical(architecture)
        assert canonical in representatives
        assert space.canonical(canonical) == canonical
        assert canonical.operations.count("none") >= architecture.operations.count("none")


def _same_weights_everywhere(cell: Cell) -> Cell:
    """Give every convolution of one kind the same weights: then a cell is a fixed function of its input."""
    for key, module in cell.edges.items():
        for parameter_name, parameter in module.named_parameters():
            # zlib.crc32, not hash(): Python salts string hashes per process, so hash() would change the weights
            # (and, with unlucky draws, make two different functions agree to three decimals) from run to run.
            key_text = f"{type(module[0]).__name__}{module[0].kernel_size}{parameter_name}"
            generator = torch.Generator().manual_seed(zlib.crc32(key_text.encode()))
            with torch.no_grad():
                parameter.copy_(torch.randn(parameter.shape, generator=generator))
    return cell.eval()


def test_equivalent_cells_compute_the_same_function_and_others_do_not():
    """On a space small enough to try every cell: outputs agree exactly within a class and differ across classes."""
    space = Cell201Space(operations=SMALL, channels=3)
    x = torch.randn(2, 3, 6, 6, generator=torch.Generator().manual_seed(0))
    outputs_by_class = {}
    with torch.no_grad():
        for architecture in space.enumerate():
            output = _same_weights_everywhere(Cell(architecture, 3))(x)
            canonical = space.canonical(architecture)
            if canonical in outputs_by_class:
                torch.testing.assert_close(output, outputs_by_class[canonical], rtol=1e-5, atol=1e-5)
            else:
                outputs_by_class[canonical] = output
    distinct = {tuple(o.flatten().round(decimals=3).tolist()) for o in outputs_by_class.values()}
    assert len(outputs_by_class) == space.count_unique()
    assert len(distinct) == space.count_unique()


def test_equivalent_forms_build_the_same_network():
    space = Cell201Space(channels=4)
    raw = space.decode("|skip~0|+|conv3x3~0|none~1|+|none~0|conv1x1~1|conv3x3~2|")
    canonical = space.canonical(raw)
    torch.manual_seed(0)
    a = space.build(raw, (1, 8, 8), 10)
    torch.manual_seed(0)
    b = space.build(canonical, (1, 8, 8), 10)
    x = torch.randn(5, 1, 8, 8)
    torch.testing.assert_close(a(x), b(x))
    logits = a(x)
    assert logits.shape == (5, 10)
    logits.sum().backward()


def test_the_network_has_three_stages_that_halve_the_resolution():
    space = Cell201Space(channels=4, cells_per_stage=2)
    network = space.build("|conv3x3~0|+|skip~0|conv3x3~1|+|skip~0|none~1|conv3x3~2|", (1, 8, 8), 10)
    assert sum(isinstance(m, Cell) for m in network.modules()) == 6
    assert network.classifier.in_features == 16
    assert network(torch.randn(3, 1, 8, 8)).shape == (3, 10)


def test_a_cell_with_no_path_outputs_zeros():
    cell = Cell(Cell201Architecture(("none",) * len(EDGES)), 4)
    assert torch.count_nonzero(cell(torch.randn(1, 4, 5, 5))) == 0
    assert OPERATIONS == ("none", "skip", "conv1x1", "conv3x3", "avgpool3x3")


def test_the_parameter_free_share_counts_edges_without_weights():
    space = Cell201Space()
    assert space.decode("|skip~0|+|none~0|avgpool3x3~1|+|conv3x3~0|conv1x1~1|skip~2|").parameter_free_share() == 4 / 6
    assert space.decode("|conv3x3~0|+|conv3x3~0|conv3x3~1|+|conv3x3~0|conv3x3~1|conv3x3~2|").parameter_free_share() == 0
