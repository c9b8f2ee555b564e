"""The global chain space of survey Sec. 2 (Eq. 1 and Eq. 2)."""

import random

import pytest
import torch

from nascourse.spaces import ArchitectureError, ChainArchitecture, ChainLayer, ChainSpace

SMALL = dict(operations=("conv3x3", "maxpool3x3"), channel_choices=(4, 8), max_layers=3)


def test_string_form_round_trips():
    space = ChainSpace(skip_connections=True)
    text = "conv3x3:16 > maxpool3x3 > conv5x5:32<0,1"
    architecture = space.decode(text)
    assert architecture.layers[2] == ChainLayer("conv5x5", 32, (0, 1))
    assert space.encode(architecture) == text


@pytest.mark.parametrize("skips", [False, True])
def test_count_matches_enumeration_on_a_small_space(skips):
    space = ChainSpace(**SMALL, skip_connections=skips)
    architectures = list(space.enumerate())
    assert len(architectures) == len(set(architectures)) == space.count()


def test_count_of_eq1_space_is_a_sum_of_powers():
    space = ChainSpace(**SMALL)  # 3 choices per layer: conv3x3:4, conv3x3:8, maxpool3x3
    assert space.count() == 3 + 3**2 + 3**3


def test_samples_and_mutants_are_valid_architectures():
    space = ChainSpace(skip_connections=True, max_layers=6)
    rng = random.Random(0)
    for _ in range(200):
        architecture = space.sample(rng)
        mutant = space.mutate(architecture, rng)
        assert mutant != architecture
        for candidate in (architecture, mutant):
            assert space.decode(space.encode(candidate)) == candidate


def test_sampling_is_repeatable_with_a_seed():
    space = ChainSpace(skip_connections=True)
    first = [space.sample(random.Random(5)) for _ in range(3)]
    second = [space.sample(random.Random(5)) for _ in range(3)]
    assert first == second


def test_sampling_reaches_every_depth():
    space = ChainSpace(max_layers=4)
    rng = random.Random(1)
    assert {len(space.sample(rng)) for _ in range(200)} == {1, 2, 3, 4}


@pytest.mark.parametrize("merge", ["sum", "concat"])
def test_every_sampled_network_maps_images_to_logits(merge):
    space = ChainSpace(skip_connections=True, merge=merge)
    rng = random.Random(2)
    for _ in range(20):
        network = space.build(space.sample(rng), (1, 8, 8), 10)
        assert network(torch.randn(3, 1, 8, 8)).shape == (3, 10)


def test_concat_merge_widens_the_layer_input():
    text = "conv3x3:8 > conv3x3:16 > conv1x1:8<0,1"
    summed = ChainSpace(skip_connections=True, merge="sum").build(text, (1, 8, 8), 10)
    concat = ChainSpace(skip_connections=True, merge="concat").build(text, (1, 8, 8), 10)
    first_conv = lambda net: net.operations[2][0]
    assert first_conv(summed).in_channels == 16  # z^(2)'s width; skips projected to it
    assert first_conv(concat).in_channels == 16 + 1 + 8  # z^(2), z^(0), z^(1) stacked


def test_a_skip_changes_what_the_network_computes():
    space = ChainSpace(skip_connections=True)
    x = torch.randn(2, 1, 8, 8)
    torch.manual_seed(0)
    plain = space.build("conv3x3:8 > maxpool3x3 > avgpool3x3", (1, 8, 8), 10).eval()
    torch.manual_seed(0)
    skipped = space.build("conv3x3:8 > maxpool3x3 > avgpool3x3<1", (1, 8, 8), 10).eval()
    assert not torch.allclose(plain(x), skipped(x))


@pytest.mark.parametrize(
    "text, message",
    [
        ("", "layers joined by ' > '"),
        ("conv3x3", "needs a width"),
        ("conv3x3:7", "needs a width from"),
        ("conv9x9:8", "unknown operation"),
        ("maxpool3x3:8", "keeps its input width"),
        ("conv3x3:8 > conv3x3:8<1", "not allowed"),
        ("conv3x3:8 >> conv3x3:8", "is not of the form"),
        ("conv3x3:8 > " * 5 + "conv3x3:8", "has 6 layers"),
    ],
)
def test_malformed_architectures_get_clear_errors(text, message):
    with pytest.raises(ArchitectureError, match=message):
        ChainSpace(skip_connections=True).decode(text)


def test_skips_are_rejected_in_an_eq1_space():
    with pytest.raises(ArchitectureError, match="no skip connections"):
        ChainSpace().decode("conv3x3:8 > conv3x3:8 > conv3x3:8<0")


def test_architectures_are_hashable_values():
    a = ChainArchitecture((ChainLayer("conv3x3", 8),))
    b = ChainArchitecture((ChainLayer("conv3x3", 8),))
    assert a == b and len({a, b}) == 1


def test_bad_space_settings_are_rejected():
    with pytest.raises(ValueError, match="Unknown or no operations"):
        ChainSpace(operations=("conv7x7",))
    with pytest.raises(ValueError, match="merge"):
        ChainSpace(merge="multiply")
    with pytest.raises(ValueError, match="min_layers"):
        ChainSpace(min_layers=3, max_layers=2)
