"""NASNet's cell space: five decisions per block, read by an RNN controller (Zoph et al., 2018, Sec. 3)."""

import itertools
import random

import pytest
import torch
import torch.nn.functional as F

from nascourse.loop import EvaluationResult, run_search
from nascourse.spaces import ArchitectureError, NASNetArchitecture, NASNetCellSpace, Skeleton, build_network
from nascourse.spaces.darts_published import PUBLISHED
from nascourse.spaces.nasnet import Block, count_nasnet_cell
from nascourse.strategies import NASRL

SMALL = Skeleton(cells=3, channels=4)
QUICK_OPERATIONS = ("skip_connect", "max_pool_3x3", "sep_conv_3x3")


def small_space(blocks=2, operations=QUICK_OPERATIONS, **options):
    return NASNetCellSpace(operations=operations, blocks=blocks, skeleton=SMALL, **options)


def one_block_cell(combine="add"):
    return [(1, 0, "sep_conv_3x3", "skip_connect", combine)]


# ------------------------------------------------------------------------------------------ text and tokens
def test_sampled_architectures_encode_to_one_text_and_decode_back():
    space, rng = NASNetCellSpace(), random.Random(0)
    for _ in range(50):
        architecture = space.sample(rng)
        text = space.encode(architecture)
        assert space.decode(text) == architecture
        assert space.encode(space.decode(text)) == text


def test_the_token_sequence_is_the_controllers_five_decisions_per_block_normal_cell_first():
    space, rng = small_space(blocks=3), random.Random(1)
    for _ in range(30):
        architecture = space.sample(rng)
        tokens = space.to_tokens(architecture)
        assert len(tokens) == 2 * 5 * space.blocks
        assert space.from_tokens(tokens) == architecture
        first = architecture.normal[0]
        assert tokens[:5] == (f"h{first.first}", f"h{first.second}", first.first_op, first.second_op, first.combine)


def test_a_block_may_only_read_the_hidden_states_made_before_it():
    space = small_space(blocks=3)
    tokens = []
    for step in range(2 * 5 * space.blocks):
        choices = space.token_choices(tokens)
        block, decision = (step % 15) // 5, step % 5
        if decision < 2:
            assert choices == tuple(f"h{s}" for s in range(block + 2)), "the two inputs, then the earlier blocks"
        elif decision < 4:
            assert choices == QUICK_OPERATIONS
        else:
            assert choices == ("add", "concat")
        assert set(choices) <= set(space.vocabulary())
        tokens.append(choices[-1])  # the newest state, the last operation, concatenation
    assert space.token_choices(tokens) == (), "complete after 2 x 5B decisions"
    architecture = space.from_tokens(tokens)
    assert [block.first for block in architecture.normal] == [1, 2, 3]


def test_a_token_sequence_that_reads_a_later_block_is_refused_at_its_step():
    space = small_space(blocks=2)
    tokens = list(space.to_tokens(space.sample(random.Random(0))))
    tokens[0] = "h2"  # block 0 reading block 0
    with pytest.raises(ArchitectureError, match="Step 0: token 'h2' is not allowed"):
        space.from_tokens(tokens)
    with pytest.raises(ArchitectureError, match="incomplete"):
        space.from_tokens(space.to_tokens(space.sample(random.Random(0)))[:-1])


# ------------------------------------------------------------------------------------------------ counting
def test_count_is_the_product_over_blocks_of_inputs_squared_operations_squared_and_combinations():
    assert count_nasnet_cell(2, 4, 2) == (2**2 * 4**2 * 2) * (3**2 * 4**2 * 2)
    space = NASNetCellSpace()  # B = 5 over 8 operations
    assert space.count() == count_nasnet_cell(5, 8, 2) ** 2


@pytest.mark.parametrize("blocks, operations", [(1, ("skip_connect",)), (1, ("skip_connect", "max_pool_3x3")),
                                                (2, ("skip_connect",))])
def test_count_matches_enumeration_and_each_architecture_is_its_own_decision_sequence(blocks, operations):
    space = small_space(blocks=blocks, operations=operations)
    architectures = list(space.enumerate())
    assert len(architectures) == len(set(architectures)) == space.count()
    tokens = {space.to_tokens(architecture) for architecture in architectures}
    assert len(tokens) == space.count()


def test_the_cell_outputs_its_loose_ends():
    architecture = NASNetArchitecture(
        normal=[(1, 0, "skip_connect", "skip_connect", "add"), (2, 1, "skip_connect", "skip_connect", "add"),
                (1, 1, "skip_connect", "skip_connect", "concat")],
        reduce=[(0, 1, "skip_connect", "skip_connect", "add")] * 3)
    assert architecture.outputs("normal") == (3, 4), "block 0 (state 2) is read by block 1"
    assert architecture.outputs("reduce") == (2, 3, 4)


# ---------------------------------------------------------------------------------------------- networks
def test_the_network_maps_images_to_logits_and_trains_one_step(one_thread):
    space = small_space()
    torch.manual_seed(0)
    network = space.build(space.sample(random.Random(3)), (1, 8, 8), 10)
    x, y = torch.randn(6, 1, 8, 8), torch.randint(0, 10, (6,))
    before = [p.detach().clone() for p in network.parameters()]
    loss = F.cross_entropy(network(x), y)
    loss.backward()
    torch.optim.SGD(network.parameters(), lr=0.1).step()
    assert network(x).shape == (6, 10)
    assert any(not torch.equal(a, b) for a, b in zip(before, network.parameters()))


def test_a_concatenating_block_is_projected_back_to_the_cells_channels(one_thread):
    space = NASNetCellSpace(operations=("skip_connect", "sep_conv_3x3"), blocks=1, skeleton=SMALL)
    adding = space.build(NASNetArchitecture(one_block_cell("add"), one_block_cell("add")), (1, 8, 8), 10)
    joining = space.build(NASNetArchitecture(one_block_cell("concat"), one_block_cell("add")), (1, 8, 8), 10)
    normal = joining.layers[0]
    assert list(normal.projections) == ["0"] and not adding.layers[0].projections
    projection = normal.projections["0"][0]
    assert (projection.in_channels, projection.out_channels, projection.kernel_size) == (8, 4, (1, 1))
    assert normal.out_channels == adding.layers[0].out_channels == 4, "the cell's width does not change"
    assert joining(torch.randn(2, 1, 8, 8)).shape == (2, 10)


def test_a_cell_that_only_adds_is_the_same_network_as_its_genotype(one_thread):
    genotype = PUBLISHED["NASNet-A"].genotype
    skeleton = Skeleton(cells=5, channels=8)
    space = NASNetCellSpace(skeleton=skeleton)  # NASNet's operations that the library builds, B = 5
    architecture = space.from_genotype(genotype)
    assert all(block.combine == "add" for kind in ("normal", "reduce") for block in architecture.cell(kind))
    assert architecture.outputs("reduce") == genotype.reduce_concat
    torch.manual_seed(0)
    ours = space.build(architecture, (1, 8, 8), 10).eval()
    torch.manual_seed(0)
    darts = build_network(genotype, (1, 8, 8), 10, skeleton).eval()
    x = torch.randn(3, 1, 8, 8)
    assert ours.parameter_count() == darts.parameter_count()
    assert torch.allclose(ours(x), darts(x))


def test_a_genotype_that_does_not_concatenate_its_loose_ends_is_refused():
    with pytest.raises(ArchitectureError, match="not its loose ends"):
        NASNetCellSpace().from_genotype(PUBLISHED["DARTS (2nd order)"].genotype)


# --------------------------------------------------------------------------------------- search operators
def test_mutation_changes_one_decision_and_stays_in_the_space():
    space, rng = small_space(blocks=3), random.Random(2)
    architecture = space.sample(rng)
    for _ in range(40):
        child = space.mutate(architecture, rng)
        changed = sum(a != b for a, b in zip(space.to_tokens(architecture), space.to_tokens(child)))
        assert changed == 1
        space.validate(child)
        architecture = child


def test_the_simplest_cell_only_passes_the_previous_cell_on():
    space = small_space()
    simplest = space.simplest()
    identity = Block(1, 1, "skip_connect", "skip_connect", "add")
    assert all(block == identity for block in simplest.normal + simplest.reduce)
    space.build(simplest, (1, 8, 8), 10)


def test_nas_rl_runs_on_the_space_unchanged_and_its_controller_moves():
    space = small_space()
    strategy = NASRL(space, batch_size=2, seed=0)

    def score(architecture):  # a cheap reward: how many blocks concatenate
        blocks = architecture.normal + architecture.reduce
        return EvaluationResult(accuracy=sum(b.combine == "concat" for b in blocks) / len(blocks), cost_seconds=1.0,
                                cost_epochs=0.0, parameters=0)

    history = run_search(space, strategy, score, trials=6, progress=False)
    assert len(history) == 6 and len(strategy.trace) == 4, "an update every 2 trials, after the first snapshot"
    for trial in history:
        assert len(space.to_tokens(space.decode(trial.architecture))) == 2 * 5 * space.blocks
    first, last = strategy.trace[0]["distributions"], strategy.trace[-1]["distributions"]
    assert any(abs(a[t] - b[t]) > 1e-6 for a, b in zip(first, last) for t in a), "REINFORCE moved the controller"
    again = run_search(space, NASRL(space, batch_size=2, seed=0), score, trials=6, progress=False)
    assert [t.architecture for t in again] == [t.architecture for t in history], "a seed repeats the search"


# ------------------------------------------------------------------------------------------------ errors
@pytest.mark.parametrize("text, message", [
    ("NASNet(normal=[(2, 0, 'skip_connect', 'skip_connect', 'add')], reduce=[(1, 0, 'skip_connect', 'skip_connect', "
     "'add')])", "reads hidden state 2 as its first input; it may only read states 0..1"),
    ("NASNet(normal=[(1, 0, 'sep_conv_9x9', 'skip_connect', 'add')], reduce=[(1, 0, 'skip_connect', 'skip_connect', "
     "'add')])", "first operation 'sep_conv_9x9' is not in this space's operations"),
    ("NASNet(normal=[(1, 0, 'skip_connect', 'skip_connect', 'multiply')], reduce=[(1, 0, 'skip_connect', "
     "'skip_connect', 'add')])", "combines by 'multiply'"),
    ("NASNet(normal=[(1, 0, 'skip_connect', 'skip_connect')], reduce=[])", "a block is five decisions"),
    ("NASNet(normal=[(1, 0, 'skip_connect', 'skip_connect', 'add')] * 2, reduce=[])", "not a literal"),
    ("NASNet(normal=[(1, 0, 'skip_connect', 'skip_connect', 'add')], reduce=[])", "has 0 blocks"),
    ("Genotype(normal=[], normal_concat=[])", "Expected NASNet"),
    ("NASNet(normal=[", "Cannot read"),
])
def test_bad_architectures_say_what_is_wrong(text, message):
    space = NASNetCellSpace(operations=("skip_connect", "sep_conv_3x3"), blocks=1, skeleton=SMALL)
    with pytest.raises(ArchitectureError, match=message.replace("(", r"\(").replace(")", r"\)")):
        space.decode(text)


def test_bad_space_settings_say_what_is_wrong():
    with pytest.raises(ValueError, match="operations must be distinct"):
        NASNetCellSpace(operations=("none",))
    with pytest.raises(ValueError, match="blocks"):
        NASNetCellSpace(blocks=0)
    with pytest.raises(ValueError, match="combinations"):
        NASNetCellSpace(combinations=("add", "multiply"))
    with pytest.raises(ValueError, match="stacks a normal and a reduction cell"):
        NASNetCellSpace(skeleton=Skeleton(cells=3, reduction="max_pool"))


def test_enumerate_is_lazy_on_a_large_space():
    assert next(iter(NASNetCellSpace().enumerate())) is not None
    assert len(list(itertools.islice(NASNetCellSpace().enumerate(), 5))) == 5
