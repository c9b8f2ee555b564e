"""NAO (Luo et al., NeurIPS 2018) on the benchmark's cells: an encoder into a continuous space, a predictor on the
embedding, gradient ascent there, and a decoder back to a cell (nascourse/strategies/nao.py)."""

import random

import pytest
import torch

from nascourse.bench import Benchmark, BenchmarkEvaluator
from nascourse.loop import EvaluationResult, run_search
from nascourse.spaces import ChainSpace
from nascourse.stats import spearman
from nascourse.strategies.nao import NAO, NAOModel, ascend, nao_loss, train_nao


@pytest.fixture(scope="module")
def bench():
    return Benchmark.load()


@pytest.fixture(scope="module")
def trained(bench):
    """NAO's model trained on 40 distinct cells of the table with their mean validation accuracy; 30 held out."""
    space = bench.space
    cells = random.Random(0).sample(space.unique_architectures(), 70)
    nao = NAO(space, seed=0)
    round_ = nao.fit(cells[:40], [bench.mean_accuracy(c) for c in cells[:40]], torch_seed=0)
    return nao, round_, cells[:40], cells[40:]


def test_the_encoder_decoder_reconstructs_its_training_cells(trained):
    nao, round_, cells, _ = trained
    tokens = nao.tokens(cells)
    decoded = nao.model.decode(nao.model.encode(tokens))
    exact = (decoded == tokens).all(dim=1).float().mean().item()
    assert exact >= 0.95 and round_.reconstruction_accuracy == pytest.approx(exact)
    assert nao.cells(decoded[:5]) == [nao.space.as_architecture(c) for c in cells[:5]] or exact < 1


def test_the_embedding_is_one_hidden_state_per_token_and_the_predictor_reads_their_mean(trained):
    nao, _, cells, _ = trained
    states = nao.model.encode(nao.tokens(cells[:3]))
    assert states.shape == (3, 6, nao.hidden)
    mean_only = nao.model.predictor(states.mean(dim=1))[:, 0]
    assert torch.allclose(nao.model.predict(states), mean_only)


def test_the_predictor_ranks_held_out_cells_better_than_chance(trained, bench):
    nao, _, _, held_out = trained
    assert spearman(nao.predict(held_out), [bench.mean_accuracy(c) for c in held_out]) > 0.3


def test_a_small_gradient_step_raises_the_predicted_accuracy_and_a_step_down_lowers_it(trained):
    nao, _, cells, _ = trained
    tokens = nao.tokens(cells)
    states, up, gradient = ascend(nao.model, tokens, eta=0.05)
    _, down, _ = ascend(nao.model, tokens, eta=-0.05)
    f = nao.model.predict
    moving = gradient.flatten(1).norm(dim=1) > 1e-6  # a cell on a flat part of the ReLU MLP has nowhere to go
    assert moving.sum() >= 0.9 * len(cells)
    assert (f(up) > f(states))[moving].all() and (f(down) < f(states))[moving].all()
    # every hidden state h_t moves by eta * df/dh_t: f reads their mean, so all T states move alike
    assert torch.allclose(up - states, 0.05 * gradient, atol=1e-6) and torch.allclose(gradient[:, 0], gradient[:, -1])


def test_the_joint_loss_is_lambda_times_prediction_plus_one_minus_lambda_times_reconstruction(bench):
    cells = random.Random(1).sample(bench.space.unique_architectures(), 8)
    tokens, targets = NAO(bench.space).tokens(cells), torch.linspace(0, 1, len(cells))
    torch.manual_seed(0)
    model = NAOModel(4, 6)
    states = model.encode(tokens)
    squared_error = ((model.predict(states) - targets) ** 2).mean()
    log_likelihood = torch.log_softmax(model.decode_logits(states, tokens), dim=2).gather(2, tokens[..., None]).mean()
    for lam in (0.2, 0.7):
        loss, prediction, reconstruction = nao_loss(model, tokens, targets, lam)
        assert prediction == pytest.approx(squared_error.item(), rel=1e-5)
        assert reconstruction == pytest.approx(-log_likelihood.item(), rel=1e-5)
        assert loss.item() == pytest.approx(lam * prediction + (1 - lam) * reconstruction, rel=1e-5)


def test_nao_runs_through_run_search_and_proposes_valid_new_cells(bench):
    space = bench.space
    nao = NAO(space, initial=10, batch=5, epochs=60, seed=3)
    history = run_search(space, nao, BenchmarkEvaluator(bench, rng_seed=3), trials=30, progress=False)
    assert len(history) == 30 and len(nao.rounds) == 4  # 10 random cells, then 4 rounds of 5
    seen = set()
    for trial in history:
        cell = space.decode(trial.architecture)  # a valid cell of the space: its string parses
        bench.row(cell)  # and the table has it
        if trial.index >= 10:
            assert space.canonical(cell) not in seen, f"trial {trial.index} proposes a cell already evaluated"
        seen.add(space.canonical(cell))
    for round_ in nao.rounds:  # each round: `batch` cells, from gradient steps or (failing those) random top-ups
        assert len(round_.proposals) + round_.random_fills == 5 and len(round_.proposals) == len(round_.etas)
    assert sum(len(r.proposals) for r in nao.rounds) >= 10  # mostly from gradient steps
    assert all(gain > 0 for r in nao.rounds for gain in r.predicted_gain)  # each step went up the predictor


def test_the_first_cells_are_random_searchs_draws_at_the_same_seed(bench):
    from nascourse.strategies import RandomSearch

    space = bench.space
    nao, rs = NAO(space, initial=8, seed=5), RandomSearch(space, seed=5)
    assert [nao.ask() for _ in range(8)] == [rs.ask() for _ in range(8)]


def test_the_same_seed_repeats_the_proposals(bench):
    space = bench.space

    def proposals(seed):
        nao = NAO(space, initial=6, batch=4, epochs=25, seed=seed)
        return [t.architecture for t in run_search(space, nao, BenchmarkEvaluator(bench, rng_seed=0), trials=14,
                                                   progress=False)]

    first = proposals(0)
    assert proposals(0) == first and proposals(1) != first


def test_a_failed_candidate_counts_as_the_worst_seen(bench):
    space = bench.space
    nao = NAO(space, seed=0)
    cells = [nao.ask() for _ in range(2)]
    nao.tell(cells[0], EvaluationResult(0.8, 1.0, 1.0, 0))
    nao.tell(cells[1], EvaluationResult(float("nan"), 1.0, 1.0, 0, status="diverged"))
    assert nao.examples[space.canonical(cells[1])] == 0.8 or space.equivalent(*cells)


@pytest.mark.parametrize("options, message", [
    (dict(lam=0.0), "lam"), (dict(lam=1.0), "lam"), (dict(initial=1), "initial"), (dict(batch=0), "batch"),
    (dict(eta=-1.0), "eta"), (dict(eta=float("nan")), "eta"), (dict(tries=0), "tries"), (dict(epochs=2.5), "epochs"),
    (dict(top_k=0), "top_k"), (dict(lr=0), "lr"),
])
def test_bad_arguments_are_refused_with_the_name_of_the_argument(bench, options, message):
    with pytest.raises(ValueError, match=message):
        NAO(bench.space, **options)


def test_a_space_without_a_cells_token_sequence_is_refused():
    with pytest.raises(TypeError, match="Cell201Space"):
        NAO(ChainSpace(), seed=0)


def test_train_nao_refuses_lambda_outside_0_1_and_mismatched_targets():
    model = NAOModel(4, 6)
    tokens = torch.zeros(3, 6, dtype=torch.long)
    with pytest.raises(ValueError, match="strictly between 0 and 1"):
        train_nao(model, tokens, torch.zeros(3), lam=1.0)
    with pytest.raises(ValueError, match="targets"):
        train_nao(model, tokens, torch.zeros(4))
    with pytest.raises(ValueError, match="hidden"):
        NAOModel(4, 6, hidden=0)
