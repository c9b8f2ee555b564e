"""NAO: Neural Architecture Optimization, gradient ascent in a learned continuous space of cells
(survey Sec. 3.2 and Table 1, "SMBO"; Luo, Tian, Qin, Chen, Liu, NeurIPS 2018, arXiv:1808.07233).

Survey: NAO "chose to encode the entire network architecture to map the originally discrete network architecture to
continuous embedded encoding. Then, the output of the performance predictor is maximized by the gradient optimization
method to obtain the optimal embedded coding. Finally, a decoder is used to discretize the optimal continuous
representation". Three networks, trained together on the architectures evaluated so far:

* the **encoder** E reads a cell's token sequence x = (x_1, ..., x_T) (here the operation on each of the six edges)
  with an embedding and an LSTM; the cell's embedding is the sequence of hidden states e_x = (h_1, ..., h_T);
* the **performance predictor** f averages them, e_bar = (1/T) sum_t h_t, and maps e_bar to a score with a small MLP,
  trained with squared error:  L_pp = sum_x (s_x - f(E(x)))^2;
* the **decoder** D is an LSTM, started from e_bar, that attends over h_1..h_T and writes x back token by token,
  trained by maximum likelihood:  L_rec = -sum_x log P_D(x | E(x)).

The joint loss is the paper's   L = lambda * L_pp + (1 - lambda) * L_rec.

The optimisation step: for each of the top-k evaluated cells, move every hidden state uphill on the predictor,

    h'_t = h_t + eta * d f / d h_t,        e_x' = (h'_1, ..., h'_T),

and decode e_x' into a new cell x'. As in the paper, eta is increased until x' is a cell not evaluated yet (here:
doubled, up to ``tries`` times). The new cells are evaluated, added to the training set, and the round repeats.

As an ask/tell strategy: the first ``initial`` asks are random cells (the same draws as ``RandomSearch`` with the same
seed); after that, whenever its queue is empty the strategy trains the three networks from scratch on every cell told
so far and queues ``batch`` new cells, one per top cell, in the order of their sources' accuracy. A source whose every
step decodes to a known cell gives nothing; the batch is then topped up with random unseen cells, counted in
``random_fills`` (say so when you report a run).

Sized for a CPU and simplified, each named in chapter 03: one-layer LSTMs of 32 units and a one-hidden-layer MLP, full-
batch Adam; the accuracies are scaled to [0, 1] by the min and max seen (so that lambda weighs two losses of similar
size); the networks are retrained from scratch each round (deterministic for a seed); the paper's augmentation by
symmetric architectures is left out (training cells are the canonical forms, and "new" means a new class of
equivalent cells).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Sequence

import torch
from torch import nn

from ..loop import EvaluationResult
from ..spaces.cell201 import Cell201Space
from .base import Strategy
from .nas_rl import one_thread

__all__ = ["NAOModel", "NAO", "NAORound", "nao_loss", "train_nao", "ascend"]


class NAOModel(nn.Module):
    """Encoder (embedding + LSTM), performance predictor (MLP on the mean state), decoder (LSTM with attention)."""

    def __init__(self, vocabulary_size: int, length: int, embedding: int = 16, hidden: int = 32, predictor_hidden: int = 64):
        super().__init__()
        for name, value in (("vocabulary_size", vocabulary_size), ("length", length), ("embedding", embedding),
                            ("hidden", hidden), ("predictor_hidden", predictor_hidden)):
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"NAOModel's {name} must be a positive integer, got {value!r}.")
        self.vocabulary_size, self.length = vocabulary_size, length
        self.start = vocabulary_size  # the decoder's input before its first token
        self.encoder_embedding = nn.Embedding(vocabulary_size, embedding)
        self.encoder = nn.LSTM(embedding, hidden, batch_first=True)
        self.predictor = nn.Sequential(nn.Linear(hidden, predictor_hidden), nn.ReLU(), nn.Linear(predictor_hidden, 1))
        self.decoder_embedding = nn.Embedding(vocabulary_size + 1, embedding)
        self.decoder = nn.LSTMCell(embedding, hidden)
        self.combine = nn.Linear(2 * hidden, hidden)  # [decoder state; attention context] -> attentional state
        self.output = nn.Linear(hidden, vocabulary_size)

    def encode(self, tokens: torch.Tensor) -> torch.Tensor:
        """E: token indices (B, T) -> hidden states e_x = (h_1..h_T), shape (B, T, hidden)."""
        states, _ = self.encoder(self.encoder_embedding(tokens))
        return states

    def predict(self, states: torch.Tensor) -> torch.Tensor:
        """f: the MLP on e_bar, the mean of the states (B, T, hidden) -> scores (B,)."""
        return self.predictor(states.mean(dim=1))[:, 0]

    def _step(self, previous: torch.Tensor, state: tuple, states: torch.Tensor) -> tuple[torch.Tensor, tuple]:
        """One decoder step: logits over the vocabulary (B, V) for the next token, and the new LSTM state."""
        h, c = self.decoder(self.decoder_embedding(previous), state)
        weights = torch.softmax(torch.einsum("bh,bth->bt", h, states), dim=1)  # dot-product attention over h_1..h_T
        context = torch.einsum("bt,bth->bh", weights, states)
        return self.output(torch.tanh(self.combine(torch.cat([h, context], dim=1)))), (h, c)

    def decode_logits(self, states: torch.Tensor, tokens: torch.Tensor) -> torch.Tensor:
        """log P_D's logits for the given sequences (teacher forcing): (B, T, V). The decoder starts from e_bar."""
        mean = states.mean(dim=1)
        state, previous, logits = (mean, mean), torch.full_like(tokens[:, 0], self.start), []
        for t in range(tokens.shape[1]):
            step_logits, state = self._step(previous, state, states)
            logits.append(step_logits)
            previous = tokens[:, t]
        return torch.stack(logits, dim=1)

    @torch.no_grad()
    def decode(self, states: torch.Tensor) -> torch.Tensor:
        """D, greedy: hidden states (B, T, hidden) -> the most likely token at each step, (B, T)."""
        mean = states.mean(dim=1)
        state = (mean, mean)
        previous = torch.full((states.shape[0],), self.start, dtype=torch.long)
        tokens = []
        for _ in range(self.length):
            step_logits, state = self._step(previous, state, states)
            previous = step_logits.argmax(dim=1)
            tokens.append(previous)
        return torch.stack(tokens, dim=1)


def nao_loss(model: NAOModel, tokens: torch.Tensor, targets: torch.Tensor, lam: float) -> tuple[torch.Tensor, float, float]:
    """L = lambda * L_pp + (1 - lambda) * L_rec, both as means over the cells (and tokens); also returns the two parts."""
    states = model.encode(tokens)
    prediction = ((model.predict(states) - targets) ** 2).mean()
    logits = model.decode_logits(states, tokens)
    reconstruction = nn.functional.cross_entropy(logits.reshape(-1, model.vocabulary_size), tokens.reshape(-1))
    return lam * prediction + (1 - lam) * reconstruction, prediction.item(), reconstruction.item()


def train_nao(model: NAOModel, tokens: torch.Tensor, targets: torch.Tensor, lam: float = 0.5, epochs: int = 100,
              lr: float = 0.01) -> dict:
    """Train encoder, predictor and decoder together on (cells, scores), full batch with Adam.

    ``tokens``: (N, T) token indices; ``targets``: (N,) scores. Returns the last epoch's two losses."""
    if not 0 < lam < 1:
        raise ValueError(f"lam (lambda) weighs prediction against reconstruction and must lie strictly between 0 "
                         f"and 1, got {lam!r}: at 0 the predictor learns nothing, at 1 the decoder.")
    if tokens.ndim != 2 or targets.shape != (tokens.shape[0],) or tokens.shape[0] < 1:
        raise ValueError(f"train_nao needs tokens (N, T) and targets (N,) with N >= 1; got {tuple(tokens.shape)} "
                         f"and {tuple(targets.shape)}.")
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    model.train()
    for _ in range(epochs):
        optimizer.zero_grad()
        loss, prediction, reconstruction = nao_loss(model, tokens, targets, lam)
        loss.backward()
        optimizer.step()
    model.eval()
    return {"prediction_loss": prediction, "reconstruction_loss": reconstruction}


def ascend(model: NAOModel, tokens: torch.Tensor, eta: float) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The optimisation step: e' = e + eta * d f / d e for each cell of ``tokens`` (B, T).

    Returns (e, e', d f / d e), each (B, T, hidden). f sums over the batch, so each cell gets its own gradient."""
    states = model.encode(tokens).detach().requires_grad_(True)
    (gradient,) = torch.autograd.grad(model.predict(states).sum(), states)
    return states.detach(), states.detach() + eta * gradient, gradient


@dataclass
class NAORound:
    """What one round of NAO did: on how many cells it trained, how well, and what it proposed."""

    trained_on: int
    reconstruction_accuracy: float  # share of the training cells decoded exactly from their own embedding
    prediction_loss: float
    reconstruction_loss: float
    proposals: list = field(default_factory=list)  # the new cells, from gradient steps, in order
    sources: list = field(default_factory=list)  # the top cell each proposal was stepped from
    etas: list = field(default_factory=list)  # the step size that first decoded to a new cell
    predicted_gain: list = field(default_factory=list)  # f(e') - f(e), in the scaled units the predictor learned
    random_fills: int = 0  # random unseen cells added because the steps gave fewer than ``batch``


class NAO(Strategy):
    """Random cells first; then rounds of: train E, f, D on all evaluated cells; step the top-k up f; decode."""

    def __init__(self, space: Cell201Space, initial: int = 20, batch: int = 10, top_k: int | None = None,
                 lam: float = 0.5, eta: float = 1.0, tries: int = 12, epochs: int = 100, lr: float = 0.01,
                 hidden: int = 32, seed: int = 0):
        if not isinstance(space, Cell201Space):
            raise TypeError(f"NAO encodes a cell as its sequence of operations, one per edge: give it a Cell201Space "
                            f"(the benchmark's space, e.g. Benchmark.load().space), not a {type(space).__name__}.")
        top_k = 2 * batch if top_k is None else top_k
        for name, value, least in (("initial", initial, 2), ("batch", batch, 1), ("top_k", top_k, 1),
                                   ("tries", tries, 1), ("epochs", epochs, 1), ("hidden", hidden, 1)):
            if not isinstance(value, int) or isinstance(value, bool) or value < least:
                raise ValueError(f"NAO's {name} must be an integer >= {least}, got {value!r}.")
        if not 0 < lam < 1:
            raise ValueError(f"lam must lie strictly between 0 and 1 (L = lam * L_pp + (1 - lam) * L_rec), got {lam!r}.")
        for name, value in (("eta", eta), ("lr", lr)):
            if not (isinstance(value, (int, float)) and math.isfinite(value) and value > 0):
                raise ValueError(f"NAO's {name} must be a positive number, got {value!r}.")
        super().__init__(space, seed)
        self.initial, self.batch, self.top_k, self.lam, self.eta, self.tries = initial, batch, top_k, lam, eta, tries
        self.epochs, self.lr, self.hidden = epochs, lr, hidden
        self.vocabulary = tuple(space.vocabulary())
        self.index = {token: i for i, token in enumerate(self.vocabulary)}
        self.examples: dict[Any, float] = {}  # canonical cell -> its (latest) validation accuracy
        self.asked: set = set()  # canonical cells proposed so far (told or not): never proposed again by a step
        self.asks = 0
        self.queue: list = []
        self.rounds: list[NAORound] = []
        self.model: NAOModel | None = None
        self._scale = (0.0, 1.0)  # (min, max) accuracy the last model was trained on

    # -- tokens ---------------------------------------------------------------------------------------------
    def tokens(self, cells: Sequence[Any]) -> torch.Tensor:
        """Cells -> token indices (N, T): the operation on each edge, as an index into the space's vocabulary."""
        return torch.tensor([[self.index[op] for op in self.space.to_tokens(cell)] for cell in cells], dtype=torch.long)

    def cells(self, tokens: torch.Tensor) -> list:
        return [self.space.from_tokens([self.vocabulary[i] for i in row]) for row in tokens.tolist()]

    # -- the model ------------------------------------------------------------------------------------------
    def fit(self, cells: Sequence[Any], accuracies: Sequence[float], torch_seed: int = 0) -> NAORound:
        """Train a fresh encoder-predictor-decoder on (cells, accuracies); the model is kept in ``self.model``."""
        tokens = self.tokens(cells)
        accuracies = torch.tensor([float(a) for a in accuracies])
        low, high = float(accuracies.min()), float(accuracies.max())
        self._scale = (low, high if high > low else low + 1.0)
        with torch.random.fork_rng(devices=[]), one_thread():
            torch.manual_seed(torch_seed)
            self.model = NAOModel(len(self.vocabulary), tokens.shape[1], hidden=self.hidden)
            losses = train_nao(self.model, tokens, (accuracies - self._scale[0]) / (self._scale[1] - self._scale[0]),
                               self.lam, self.epochs, self.lr)
            with torch.no_grad():
                exact = (self.model.decode(self.model.encode(tokens)) == tokens).all(dim=1).float().mean()
        return NAORound(len(cells), float(exact), losses["prediction_loss"], losses["reconstruction_loss"])

    @torch.no_grad()
    def predict_states(self, states: torch.Tensor) -> list[float]:
        """f on embeddings (B, T, hidden), in the accuracy's own units (the model learned them scaled to [0, 1])."""
        if self.model is None:
            raise RuntimeError("NAO has not trained its model yet: call fit, or ask after `initial` cells were told.")
        low, high = self._scale
        return (low + self.model.predict(states) * (high - low)).tolist()

    @torch.no_grad()
    def predict(self, cells: Sequence[Any]) -> list[float]:
        """The trained predictor's accuracy for each cell: f(E(x)), in the accuracy's own units."""
        if self.model is None:
            raise RuntimeError("NAO has not trained its model yet: call fit, or ask after `initial` cells were told.")
        with one_thread():
            return self.predict_states(self.model.encode(self.tokens(cells)))

    def step(self, sources: Sequence[Any], taken: set) -> tuple[list, list, list, list]:
        """For each source cell, the first eta in eta, 2 eta, 4 eta, ... whose decoded e' is a cell whose canonical
        form is not in ``taken`` (which grows with each accepted cell). Returns the accepted (cells, sources, etas,
        predicted gains); a source with no new cell after ``tries`` steps is left out."""
        found: dict[int, tuple] = {}
        with one_thread():
            tokens = self.tokens(sources)
            states, _, gradient = ascend(self.model, tokens, self.eta)
            before = self.model.predict(states).detach()
            for attempt in range(self.tries):
                eta = self.eta * 2 ** attempt
                moved = states + eta * gradient
                decoded = self.cells(self.model.decode(moved))
                after = self.model.predict(moved).detach()
                for i, cell in enumerate(decoded):
                    if i in found:
                        continue
                    canonical = self.space.canonical(cell)
                    if canonical not in taken:
                        taken.add(canonical)
                        found[i] = (cell, sources[i], eta, float(after[i] - before[i]))
                if len(found) == len(sources):
                    break
        accepted = [found[i] for i in sorted(found)]
        return ([a[0] for a in accepted], [a[1] for a in accepted], [a[2] for a in accepted],
                [a[3] for a in accepted])

    # -- ask / tell -----------------------------------------------------------------------------------------
    def _round(self) -> None:
        cells = list(self.examples)
        accuracies = [self.examples[cell] for cell in cells]
        round_ = self.fit(cells, accuracies, torch_seed=self.rng.randrange(2**31))
        order = sorted(range(len(cells)), key=lambda i: -accuracies[i])  # best first; ties keep their order
        taken = set(self.asked)
        proposals, sources, etas, gains = self.step([cells[i] for i in order[: self.top_k]], taken)
        proposals, sources, etas, gains = proposals[: self.batch], sources[: self.batch], etas[: self.batch], gains[: self.batch]
        round_.proposals, round_.sources, round_.etas, round_.predicted_gain = list(proposals), sources, etas, gains
        while len(proposals) < self.batch:  # top up with random cells not proposed before
            for _ in range(200):
                cell = self.space.sample(self.rng)
                if self.space.canonical(cell) not in taken:
                    break
            taken.add(self.space.canonical(cell))
            proposals.append(cell)
            round_.random_fills += 1
        self.rounds.append(round_)
        self.queue = list(proposals)

    def ask(self) -> Any:
        self.asks += 1
        if self.asks <= self.initial or len(self.examples) < 2:
            cell = self.space.sample(self.rng)
        else:
            if not self.queue:
                self._round()
            cell = self.queue.pop(0)
        self.asked.add(self.space.canonical(cell))
        return cell

    def tell(self, architecture: Any, result: EvaluationResult) -> None:
        # A failed candidate is an example too: the worst accuracy seen so far, so the predictor avoids its kind.
        accuracy = result.accuracy
        if math.isnan(accuracy):
            accuracy = min(self.examples.values(), default=0.0)
        self.examples[self.space.canonical(architecture)] = float(accuracy)
