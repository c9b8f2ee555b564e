"""Chapter 01's early NAS methods: NAS-RL, MetaQNN, Large-scale Evolution, GeNet, and the spaces' token view.

Each core update is checked on a case small enough to verify by hand.
"""

import math
import random

import pytest
import torch

from nascourse import EvaluationResult, RandomSearch, run_search
from nascourse.exercises import ch01
from nascourse.exercises.core import FAILED, NOT_ATTEMPTED, PASSED
from nascourse.spaces import ArchitectureError, Cell201Space, ChainSpace, GeNetSpace
from nascourse.spaces.genet import GeNetArchitecture, decode_stage
from nascourse.strategies import NASRL, GeNet, LargeScaleEvolution, MetaQNN, WeightInheritingEvaluator
from nascourse.strategies.evolution import inherit_weights
from nascourse.strategies.genet import crossover, flip_bits, roulette_selection
from nascourse.strategies.metaqnn import epsilon_schedule, no_consecutive_pooling, q_update
from nascourse.strategies.nas_rl import Controller, reinforce_loss

CHAIN = dict(operations=("conv3x3", "conv1x1", "maxpool3x3"), channel_choices=(4, 8), max_layers=3)


def result(accuracy: float) -> EvaluationResult:
    return EvaluationResult(accuracy, cost_seconds=1.0, cost_epochs=1.0, parameters=0)


def conv3x3_score(architecture) -> EvaluationResult:
    """A made-up, deterministic evaluator on Cell201Space: the more conv3x3 edges, the better."""
    return result(architecture.operations.count("conv3x3") / 6)


# ------------------------------------------------------------------------------ the token view
@pytest.mark.parametrize("space", [ChainSpace(**CHAIN), ChainSpace(**CHAIN, skip_connections=True),
                                   ChainSpace(**CHAIN, min_layers=2), Cell201Space(), GeNetSpace((3, 4))],
                         ids=["chain", "chain-skips", "chain-min2", "cell201", "genet"])
def test_tokens_round_trip_and_every_token_sequence_is_an_architecture(space):
    rng = random.Random(0)
    for _ in range(100):
        architecture = space.sample(rng)
        tokens = space.to_tokens(architecture)
        assert space.from_tokens(tokens) == architecture
        assert set(tokens) <= set(space.vocabulary())
    for _ in range(100):  # a random walk through the allowed tokens always ends in a valid architecture
        tokens = []
        while choices := space.token_choices(tokens):
            tokens.append(rng.choice(choices))
        space.decode(space.encode(space.from_tokens(tokens)))


def test_chain_tokens_by_hand():
    space = ChainSpace(**CHAIN, skip_connections=True)
    architecture = space.decode("conv3x3:8 > maxpool3x3 > conv1x1:4<0")
    assert space.to_tokens(architecture) == ("conv3x3:8", "maxpool3x3", "no-skip", "conv1x1:4", "skip", "no-skip")
    assert space.to_tokens(space.decode("conv3x3:8")) == ("conv3x3:8", "end")  # shorter than the depth limit
    assert "end" not in space.token_choices(())  # at least one layer
    assert space.token_choices(("conv3x3:8",)) == space.layer_tokens() + ("end",)
    assert space.token_choices(("conv3x3:8", "maxpool3x3")) == ("skip", "no-skip")


def test_token_errors_name_the_step():
    space = ChainSpace(**CHAIN)
    with pytest.raises(ArchitectureError, match="Step 0: token 'conv7x7:8' is not allowed"):
        space.from_tokens(["conv7x7:8", "end"])
    with pytest.raises(ArchitectureError, match="incomplete"):
        space.from_tokens(["conv3x3:8"])
    with pytest.raises(ArchitectureError, match="already complete"):
        space.from_tokens(["conv3x3:8", "end", "conv3x3:8"])


# ------------------------------------------------------------------------------------ NAS-RL
def test_reinforce_raises_the_probability_of_a_rewarded_token():
    space = Cell201Space(operations=("none", "conv3x3"))
    torch.manual_seed(0)
    controller = Controller(space.vocabulary(), hidden_size=8, layers=1)
    tokens = ("conv3x3",) * 6
    before = controller.distributions(space, tokens)[0]["conv3x3"]
    log_probability, _ = controller.log_probability(space, [tokens])
    loss = reinforce_loss(log_probability, torch.tensor([1.0]), baseline=0.5)  # rewarded above the baseline
    loss.backward()
    with torch.no_grad():
        for parameter in controller.parameters():
            parameter -= 0.1 * parameter.grad
    after = controller.distributions(space, tokens)[0]["conv3x3"]
    assert after > before


def test_reinforce_loss_gradient_is_the_textbook_one_for_a_single_softmax():
    logits = torch.tensor([0.2, -0.4, 1.0], requires_grad=True)
    log_probability = torch.log_softmax(logits, 0)[1]
    reinforce_loss(log_probability[None], torch.tensor([0.9]), baseline=0.6).backward()
    expected = -(0.9 - 0.6) * (torch.tensor([0.0, 1.0, 0.0]) - torch.softmax(logits.detach(), 0))
    assert torch.allclose(logits.grad, expected)


def test_controller_log_probability_matches_its_step_distributions():
    space = ChainSpace(**CHAIN, skip_connections=True)
    torch.manual_seed(1)
    controller = Controller(space.vocabulary())
    generator = torch.Generator().manual_seed(0)
    sequences = [controller.sample(space, generator) for _ in range(5)]
    log_probabilities, entropies = controller.log_probability(space, sequences)
    for k, tokens in enumerate(sequences):
        steps = controller.distributions(space, tokens)
        assert math.isclose(float(log_probabilities[k].detach()), sum(math.log(d[t]) for d, t in zip(steps, tokens)), rel_tol=1e-5)
        expected_entropy = sum(-sum(p * math.log(p) for p in d.values()) for d in steps)
        assert math.isclose(float(entropies[k].detach()), expected_entropy, rel_tol=1e-5)


def test_nas_rl_learns_to_prefer_rewarded_operations():
    space = Cell201Space(operations=("none", "skip", "conv3x3"))
    strategy = NASRL(space, batch_size=5, learning_rate=0.1, seed=0)
    history = run_search(space, strategy, conv3x3_score, trials=150, progress=False)
    accuracies = history.accuracies()
    assert accuracies[-30:].mean() > accuracies[:30].mean() + 0.15
    assert len(strategy.trace) == 1 + 150 // 5
    trials, probabilities = strategy.probabilities(step=0)
    assert probabilities["conv3x3"][-1] > probabilities["conv3x3"][0]


def test_nas_rl_baseline_is_the_first_batch_mean_then_a_moving_average():
    # chapter 01's text: before the first step the batch's mean reward is its baseline; after each step,
    # b <- decay * b + (1 - decay) * R for every reward of the batch just used
    space = Cell201Space(operations=("none", "skip", "conv3x3"))
    strategy = NASRL(space, batch_size=2, baseline_decay=0.5, seed=0)
    for reward in (0.2, 0.6, 1.0, 0.0):
        strategy.tell(strategy.ask(), result(reward))
    first = 0.5 * (0.5 * 0.4 + 0.5 * 0.2) + 0.5 * 0.6  # starts at mean(0.2, 0.6) = 0.4
    second = 0.5 * (0.5 * first + 0.5 * 1.0) + 0.5 * 0.0
    assert strategy.trace[0]["baseline"] is None
    assert strategy.trace[1]["baseline"] == pytest.approx(first)
    assert strategy.trace[2]["baseline"] == pytest.approx(second)


def test_nas_rl_needs_a_space_with_a_token_view():
    class NoTokens(GeNetSpace):
        def vocabulary(self):
            return super(GeNetSpace, self).vocabulary()

    with pytest.raises(NotImplementedError, match="sequence-of-decisions view"):
        NASRL(NoTokens())


# ------------------------------------------------------------------------------------ MetaQNN
def test_q_update_matches_the_formula():
    q = {("s", "a"): 0.5, ("t", "x"): 0.8, ("t", "y"): 0.2}
    value = q_update(q, "s", "a", reward=0.0, next_state="t", next_actions=["x", "y"], alpha=0.1, gamma=0.9)
    assert math.isclose(value, 0.9 * 0.5 + 0.1 * (0.0 + 0.9 * 0.8))
    assert q[("s", "a")] == value
    terminal = q_update(q, "t", "x", reward=0.95, next_state=None, next_actions=[], alpha=0.5, gamma=1.0)
    assert math.isclose(terminal, 0.5 * 0.8 + 0.5 * 0.95)
    unseen = q_update(q, "u", "z", reward=0.0, next_state="t", next_actions=["y"], alpha=1.0, gamma=1.0)
    assert unseen == 0.2  # alpha = 1: the target only; Q(t, y) is the best of the allowed next actions


def test_reward_reaches_the_first_decision_only_through_the_chain_of_states():
    space = Cell201Space(operations=("none", "conv3x3"))
    agent = MetaQNN(space, schedule=[(1.0, 10)], alpha=1.0, gamma=1.0, initial_q=0.0, replay_updates=0)
    tokens = ("conv3x3",) * 6
    agent.learn(tokens, 0.7)  # alpha = 1, Q starts at 0: one backward pass carries the reward to the start
    assert agent.q_values(())["conv3x3"] == 0.7
    assert agent.q_values(())["none"] == 0.0


def test_a_q_value_stays_at_its_initial_value_while_the_best_value_ahead_is_still_initial():
    # chapter 01's MetaQNN text: with gamma = 1 and no reward before the end, Q(s, u) is pulled toward the best
    # value one step ahead, which counts the untried actions there at the initial 0.5
    space = Cell201Space(operations=("none", "conv3x3"))
    agent = MetaQNN(space, schedule=[(1.0, 10)], alpha=0.5, gamma=1.0, initial_q=0.5, replay_updates=0)
    poor = ("conv3x3",) * 6
    for _ in range(5):
        agent.learn(poor, 0.2)  # below 0.5: the terminal value falls, the untried "none" ahead stays at 0.5
    assert agent.q_values(poor[:5])["conv3x3"] < 0.5  # the terminal transition moves toward the accuracy
    assert all(agent.q_values(poor[:t])["conv3x3"] == 0.5 for t in range(5))  # every earlier one stays put
    agent.learn(("conv3x3",) * 5 + ("none",), 0.9)  # the other last action, now tried, lifts the best value ahead
    agent.learn(poor, 0.2)
    assert agent.q_values(poor[:4])["conv3x3"] > 0.5  # one step back, the value now moves


def test_epsilon_schedule_keeps_the_papers_proportions_and_decreases():
    schedule = epsilon_schedule(27)  # the paper's 2,700 networks, scaled by 1/100
    assert sum(n for _, n in schedule) == 27
    assert schedule[0] == (1.0, 15)
    epsilons = [eps for eps, _ in schedule]
    assert epsilons == sorted(epsilons, reverse=True) and epsilons[-1] == 0.1
    agent = MetaQNN(Cell201Space(), schedule=[(1.0, 2), (0.5, 1)])
    seen = []
    for _ in range(4):
        seen.append(agent.epsilon())
        agent.tell(agent.ask(), result(0.5))
    assert seen == [1.0, 1.0, 0.5, 0.5]  # after the schedule: its last epsilon
    with pytest.raises(ValueError, match="number of trials"):
        MetaQNN(Cell201Space())


def test_no_pooling_after_pooling():
    assert no_consecutive_pooling(("maxpool3x3",), ("conv3x3:8", "maxpool3x3", "end")) == ("conv3x3:8", "end")
    assert no_consecutive_pooling(("conv3x3:8",), ("conv3x3:8", "maxpool3x3")) == ("conv3x3:8", "maxpool3x3")
    agent = MetaQNN(ChainSpace(**CHAIN), trials=50, seed=0)
    for _ in range(50):
        architecture = agent.ask()
        layers = [layer.operation for layer in architecture.layers]
        assert not any("pool" in a and "pool" in b for a, b in zip(layers, layers[1:]))
        agent.tell(architecture, result(0.5))


def test_metaqnn_does_not_train_a_network_twice_and_exploits_what_it_learned():
    space = Cell201Space(operations=("none", "conv3x3"))
    agent = MetaQNN(space, schedule=[(1.0, 20), (0.1, 20)], seed=0)
    history = run_search(space, agent, conv3x3_score, trials=40, progress=False)
    architectures = [trial.architecture for trial in history]
    assert len(set(architectures)) == len(architectures)
    assert history.accuracies()[20:].mean() > history.accuracies()[:20].mean()


# ----------------------------------------------------------------------------- Large-scale Evolution
def test_evolution_starts_without_convolutions():
    space = ChainSpace(**CHAIN, skip_connections=True)
    strategy = LargeScaleEvolution(space, population_size=3)
    for _ in range(3):
        first = strategy.ask()
        assert all(layer.operation == "maxpool3x3" for layer in first.layers)
        strategy.tell(first, result(0.1))


@pytest.mark.parametrize("space", [ChainSpace(**CHAIN, skip_connections=True), Cell201Space(), GeNetSpace((3, 4))],
                         ids=["chain", "cell201", "genet"])
def test_every_mutation_yields_a_valid_different_architecture(space):
    rng = random.Random(0)
    for name, mutation in space.named_mutations().items():
        changed = 0
        for _ in range(50):
            parent = space.sample(rng)
            child = mutation(parent, rng)
            if child is None:  # does not apply to this parent (e.g. no skip to remove)
                continue
            assert child != parent, name
            space.decode(space.encode(child))  # valid
            changed += 1
        assert changed, f"{name} never applied"


def test_tournament_kills_the_worse_and_copies_the_better():
    space = Cell201Space(operations=("none", "conv3x3"))
    strategy = LargeScaleEvolution(space, population_size=2, weight_inheritance=False, seed=0)
    for accuracy in (0.2, 0.6):
        strategy.tell(strategy.ask(), result(accuracy))
    b = strategy.population[1]
    child = strategy.ask()
    assert [member.fitness for member in strategy.population] == [0.6]  # the worse died
    assert strategy.pending.parent_id == b.id and strategy.pending.mutation == "alter_operation"
    assert sum(x != y for x, y in zip(child.operations, b.architecture.operations)) == 1


def test_weight_inheritance_copies_matching_tensors_only():
    space = ChainSpace(**CHAIN)
    torch.manual_seed(0)
    parent_architecture = space.decode("conv3x3:8 > conv1x1:4")
    child_architecture = space.decode("conv3x3:4 > conv3x3:8 > conv1x1:4")  # a convolution inserted in front
    parent = space.build(parent_architecture, (1, 8, 8), 10)
    child = space.build(child_architecture, (1, 8, 8), 10)
    correspondence = space.weight_correspondence(parent_architecture, child_architecture)
    copied = inherit_weights(parent.state_dict(), child, correspondence)
    # the parent's first layer read the image (1 channel), its continuation reads 4 channels: shapes differ
    assert "operations.1.0.weight" not in copied
    assert "operations.1.1.weight" in copied  # its batch norm (8 channels) matches
    assert torch.equal(child.operations[1][1].weight, parent.operations[0][1].weight)
    assert "operations.2.0.weight" in copied  # the last layer: same shapes, continued
    assert torch.equal(child.operations[2][0].weight, parent.operations[1][0].weight)
    assert "classifier.weight" in copied
    assert not any(name.startswith("operations.0.") for name in copied)  # the new layer starts fresh
    # without a correspondence, tensors with the same name and shape are copied
    same = space.build(parent_architecture, (1, 8, 8), 10)
    assert len(inherit_weights(parent.state_dict(), same)) == len(same.state_dict())
    assert all(torch.equal(x, y) for x, y in zip(same.state_dict().values(), parent.state_dict().values()))


def test_weight_inheriting_evaluator_passes_weights_down_a_lineage():
    from nascourse.data import DatasetSplits, Split

    generator = torch.Generator().manual_seed(0)
    split = Split(torch.randn(32, 1, 8, 8, generator=generator), torch.randint(0, 10, (32,), generator=generator))
    data = DatasetSplits("random", split, split, split, 10, (1, 8, 8), augment=False)
    space = ChainSpace(**CHAIN)
    strategy = LargeScaleEvolution(space, population_size=2, seed=0)
    evaluator = WeightInheritingEvaluator(space, data, strategy, epochs=1, batch_size=16)
    history = run_search(space, strategy, evaluator, trials=6, progress=False)
    assert len(history) == 6
    assert [copied for copied, _ in evaluator.inherited[:2]] == [0, 0]  # the first generation inherits nothing
    for record, (copied, total) in zip(strategy.log[2:], evaluator.inherited[2:]):
        if record["mutation"] == "identity":
            assert copied == total
        if record["mutation"] == "reset_weights":
            assert copied == 0
    assert set(evaluator.weights) <= strategy.alive()


def test_evolution_climbs_from_trivial_networks():
    space = Cell201Space(operations=("none", "skip", "conv3x3"))
    strategy = LargeScaleEvolution(space, population_size=5, weight_inheritance=False, seed=0)
    history = run_search(space, strategy, conv3x3_score, trials=80, progress=False)
    assert history.accuracies()[:5].max() == 0.0  # the simplest cell has no conv3x3
    assert history.best().accuracy >= 0.5
    assert sum(strategy.log[-1]["population"]) > sum(strategy.log[4]["population"])


# ------------------------------------------------------------------------------------- GeNet
def test_genet_decoding_of_a_known_code():
    space = GeNetSpace((3, 4), (4, 8))
    architecture = space.decode("1-01|1-00-111")
    assert architecture.bits == (1, 0, 1, 1, 0, 0, 1, 1, 1)
    first, second = space.stage_graphs(architecture)
    assert first == [(0, 1), (1, 2), (2, 3), (3, 4)]  # a plain chain through the stage
    # v1 -> v2, v1 -> v4, v2 -> v4, v3 -> v4; v3 has no input inside the stage so it reads v0; v4 feeds v5
    assert second == [(0, 1), (0, 3), (1, 2), (1, 4), (2, 4), (3, 4), (4, 5)]
    assert decode_stage([0, 0, 0, 0, 0, 1], 4) == [(0, 3), (3, 4), (4, 5)]  # isolated nodes 1, 2 dropped
    assert decode_stage([0, 0, 0], 3) == [(0, 4)]
    network = space.build(architecture, (1, 8, 8), 10)
    assert network(torch.randn(2, 1, 8, 8)).shape == (2, 10)
    assert space.count() == 2**9 and space.code_length() == 9


@pytest.mark.parametrize("bad, message", [("1-01", "2 stage"), ("1-01|1-0-111", "Stage 2"), ("1-01|1-00-112", "Stage 2")])
def test_genet_strings_say_what_is_wrong(bad, message):
    with pytest.raises(ArchitectureError, match=message):
        GeNetSpace((3, 4)).decode(bad)


def test_genet_operators():
    rng = random.Random(0)
    a = GeNetArchitecture(((1, 1, 1), (1,) * 6))
    b = GeNetArchitecture(((0, 0, 0), (0,) * 6))
    assert crossover(a, b, 1.0, rng) == (b, a)  # every stage swapped
    assert crossover(a, b, 0.0, rng) == (a, b)
    mixed = [crossover(a, b, 0.5, rng)[0] for _ in range(50)]
    assert all(stage in (a.stages[s], b.stages[s]) for m in mixed for s, stage in enumerate(m.stages))
    assert flip_bits(a, 1.0, rng) == b and flip_bits(a, 0.0, rng) == a
    draws = roulette_selection([0.9, 0.5, 0.7], 3000, rng)
    assert draws.count(1) == 0  # the worst has weight 0
    assert 0.6 < draws.count(0) / 3000 < 0.73  # weights 0.4 : 0.2
    assert sorted(set(roulette_selection([0.5, 0.5], 100, rng))) == [0, 1]


def test_genet_runs_generations_and_averages_repeated_scores():
    space = GeNetSpace((3, 4))
    strategy = GeNet(space, population_size=4, seed=0)

    def score(architecture):
        return result(sum(architecture.bits) / space.code_length())

    run_search(space, strategy, score, trials=12, progress=False)
    assert [len(g) for g in strategy.generations] == [4, 4, 4]
    for code, scores in strategy.scores.items():
        assert math.isclose(strategy.fitness(space.decode(code)), sum(scores) / len(scores))
    with pytest.raises(TypeError, match="GeNetSpace"):
        GeNet(ChainSpace(**CHAIN))
    with pytest.raises(ValueError, match="power of two"):  # 5 operations: not every bit string is a cell
        GeNet(Cell201Space())


# ------------------------------------------------------------------------- one code, several spaces
@pytest.mark.parametrize("make", [
    lambda space: NASRL(space, seed=1), lambda space: MetaQNN(space, trials=12, seed=1),
    lambda space: LargeScaleEvolution(space, population_size=3, weight_inheritance=False, seed=1),
], ids=["nas-rl", "metaqnn", "evolution"])
@pytest.mark.parametrize("space", [ChainSpace(**CHAIN, skip_connections=True), Cell201Space(), GeNetSpace((3, 4))],
                         ids=["chain", "cell201", "genet"])
def test_strategies_run_on_every_space_and_repeat_with_a_seed(make, space):
    def score(architecture):
        return result(random.Random(space.encode(architecture)).random())

    first = run_search(space, make(space), score, trials=12, progress=False)
    second = run_search(space, make(space), score, trials=12, progress=False)
    assert [t.architecture for t in first] == [t.architecture for t in second]


def test_a_search_resumes_from_its_log(tmp_path):
    space = Cell201Space()
    log = tmp_path / "search.jsonl"
    run_search(space, NASRL(space, seed=2), conv3x3_score, trials=7, log_path=log, progress=False)
    resumed = run_search(space, NASRL(space, seed=2), conv3x3_score, trials=12, log_path=log, progress=False)
    straight = run_search(space, NASRL(space, seed=2), conv3x3_score, trials=12, progress=False)
    assert [t.architecture for t in resumed] == [t.architecture for t in straight]


# -------------------------------------------------------------------------------- exercises
EXERCISES = [ch01.reinforce_gradient, ch01.q_learning_update, ch01.genet_code_length, ch01.genet_decode,
             ch01.roulette_probabilities]


def stub(*args):
    raise NotImplementedError


@pytest.mark.parametrize("exercise", EXERCISES, ids=lambda e: e.name)
def test_ch01_reference_passes_and_stub_is_not_attempted(exercise):
    assert exercise.evaluate(exercise.reference).status == PASSED
    assert exercise.evaluate(stub).status == NOT_ATTEMPTED


def forgets_the_softmax_term(logits, token, advantage):
    gradient = torch.zeros_like(logits)
    gradient[token] = advantage
    return gradient


def wrong_sign(logits, token, advantage):
    return -ch01.reinforce_gradient.reference(logits, token, advantage)


def uses_the_mean_of_the_next_values(q_value, reward, next_q_values, alpha, gamma):
    future = sum(next_q_values) / len(next_q_values) if next_q_values else 0.0
    return (1 - alpha) * q_value + alpha * (reward + gamma * future)


def crashes_on_the_terminal_state(q_value, reward, next_q_values, alpha, gamma):
    return (1 - alpha) * q_value + alpha * (reward + gamma * max(next_q_values))


def counts_all_ordered_pairs(nodes_per_stage):
    bits = sum(k * (k - 1) for k in nodes_per_stage)
    return bits, 2**bits


def keeps_isolated_nodes(bits, nodes):
    pairs = [(i, j) for j in range(2, nodes + 1) for i in range(1, j)]
    edges = [pair for pair, bit in zip(pairs, bits) if bit]
    edges += [(0, n) for n in range(1, nodes + 1) if all(t != n for _, t in edges)]
    edges += [(n, nodes + 1) for n in range(1, nodes + 1) if all(s != n for s, _ in edges)]
    return sorted(edges)


def proportional_to_raw_fitness(fitnesses):
    return [f / sum(fitnesses) for f in fitnesses]


@pytest.mark.parametrize("exercise, wrong", [
    (ch01.reinforce_gradient, forgets_the_softmax_term),
    (ch01.reinforce_gradient, wrong_sign),
    (ch01.q_learning_update, uses_the_mean_of_the_next_values),
    (ch01.q_learning_update, crashes_on_the_terminal_state),
    (ch01.genet_code_length, counts_all_ordered_pairs),
    (ch01.genet_decode, keeps_isolated_nodes),
    (ch01.roulette_probabilities, proportional_to_raw_fitness),
], ids=lambda x: getattr(x, "name", getattr(x, "__name__", "")))
def test_ch01_plausible_wrong_answers_are_rejected(exercise, wrong):
    result_ = exercise.evaluate(wrong)
    assert result_.status == FAILED and "hint:" in result_.message


def test_reinforce_gradient_reference_agrees_with_autograd():
    logits = torch.tensor([0.3, -1.2, 2.0, 0.1], requires_grad=True)
    (0.7 * torch.log_softmax(logits, 0)[3]).backward()
    assert torch.allclose(ch01.reinforce_gradient.reference(logits.detach(), 3, 0.7), logits.grad)


def test_genet_decode_reference_agrees_with_the_library():
    rng = random.Random(0)
    for nodes in (2, 3, 4, 5):
        for _ in range(30):
            bits = [rng.randint(0, 1) for _ in range(nodes * (nodes - 1) // 2)]
            assert ch01.genet_decode.reference(bits, nodes) == decode_stage(bits, nodes)



@pytest.mark.parametrize("make, error, message", [
    (lambda: NASRL(Cell201Space(), batch_size=0), ValueError, "batch_size >= 1"),
    (lambda: MetaQNN(Cell201Space(), schedule=[(1.5, 10)]), ValueError, "epsilon in \\[0, 1\\]"),
    (lambda: LargeScaleEvolution(Cell201Space(), population_size=1), ValueError, "two individuals"),
    (lambda: LargeScaleEvolution(Cell201Space(), initial="human"), ValueError, "'simplest'"),
    (lambda: GeNet(GeNetSpace(), population_size=4, mutation_probability=2.0), ValueError, "probabilities in"),
    (lambda: GeNetSpace((3, 1)), ValueError, "at least 2 nodes"),
    (lambda: GeNetSpace((3, 4), channels=(8,)), ValueError, "one positive width per stage"),
    (lambda: WeightInheritingEvaluator(Cell201Space(), None, RandomSearch(Cell201Space()), epochs=1), TypeError,
     "LargeScaleEvolution"),
], ids=["nas-rl", "metaqnn", "evolution-size", "evolution-initial", "genet", "genet-nodes", "genet-widths", "inheritance"])
def test_bad_settings_say_what_to_change(make, error, message):
    with pytest.raises(error, match=message):
        make()
