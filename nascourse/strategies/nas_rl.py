"""NAS-RL: an RNN controller that writes architectures token by token, trained with REINFORCE
(survey Sec. 2; Zoph & Le, 2017, "Neural Architecture Search with Reinforcement Learning").

Survey: "the architecture of a neural network can be described as a variable-length string. [...] use
RNN as a controller to generate such a string, and then use RL to optimize the controller". At step
``t`` the controller (an LSTM) reads the token it emitted at ``t-1`` and outputs a softmax over the
tokens the space allows there; the sampled tokens ``a_1..a_T`` are built into a network, trained, and
its validation accuracy ``R`` is the reward. The controller's parameters ``theta`` follow the REINFORCE
estimate of the gradient of the expected reward over a batch of ``m`` architectures:

    grad_theta J(theta) ~= 1/m  sum_{k=1}^{m}  sum_{t=1}^{T}  grad_theta log P(a_t | a_{(t-1):1}; theta) (R_k - b)

with ``b`` an exponential moving average of earlier rewards (the baseline lowers the variance and
keeps the estimate unbiased): after each step, ``b <- decay * b + (1 - decay) * R`` for every reward of the
batch just used; the first batch, which has no earlier rewards, uses its own mean reward. Added here, as
later controllers (ENAS) do: an entropy bonus, which keeps the controller from committing to one
architecture after a handful of samples.

Simplifications, named in chapter 01: a skip decision is a "skip"/"no-skip" token of the same softmax,
where NAS-RL scores a connection by attention between the layers' anchor points; and the reward is the
validation accuracy itself (NAS-RL cubed the best accuracy of the last five epochs).
"""

from __future__ import annotations

import math
from contextlib import contextmanager
from typing import Any, Iterator, Sequence

import torch
from torch import nn

from ..loop import EvaluationResult
from ..spaces.base import SearchSpace
from .base import Strategy

__all__ = ["Controller", "NASRL", "reinforce_loss"]


@contextmanager
def one_thread() -> Iterator[None]:
    """Run the controller's tiny tensor operations on one thread: splitting a 35-unit LSTM step across
    cores only adds synchronisation, and on a busy machine each step waits for the other core."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


class Controller(nn.Module):
    """An LSTM that emits one token per step: embedding of the previous token -> LSTM -> logits.

    The logits cover the whole vocabulary; at each step only the tokens the space allows there compete
    (a softmax over that subset), so every sampled sequence is a valid architecture.
    """

    def __init__(self, vocabulary: Sequence[str], hidden_size: int = 35, layers: int = 2):
        super().__init__()
        self.vocabulary = tuple(vocabulary)
        self.index = {token: i for i, token in enumerate(self.vocabulary)}
        self.start = len(self.vocabulary)  # the embedding of "nothing emitted yet"
        self.embedding = nn.Embedding(len(self.vocabulary) + 1, hidden_size)
        # stacked LSTM cells, stepped by hand: one token at a time is all a controller ever does
        self.cells = nn.ModuleList(nn.LSTMCell(hidden_size, hidden_size) for _ in range(layers))
        self.head = nn.Linear(hidden_size, len(self.vocabulary))

    def _logits(self, previous: int, state: list | None):
        """One step: (index of the previous token, per-layer (h, c) or None) -> (logits over the vocabulary, new state)."""
        x = self.embedding(torch.tensor([previous]))  # (1, hidden)
        new_state = []
        for layer, cell in enumerate(self.cells):
            h, c = cell(x, None if state is None else state[layer])
            new_state.append((h, c))
            x = h
        return self.head(x[0]), new_state

    def _allowed_log_probabilities(self, logits: torch.Tensor, allowed: Sequence[str]) -> torch.Tensor:
        """log softmax over the allowed tokens only, in the order of ``allowed``: (len(allowed),)."""
        return torch.log_softmax(logits[[self.index[token] for token in allowed]], dim=0)

    @torch.no_grad()
    def sample(self, space: SearchSpace, generator: torch.Generator) -> tuple[str, ...]:
        """Emit tokens until the space says the architecture is complete."""
        tokens: list[str] = []
        previous, state = self.start, None
        while allowed := space.token_choices(tokens):
            logits, state = self._logits(previous, state)
            probabilities = self._allowed_log_probabilities(logits, allowed).exp()
            token = allowed[int(torch.multinomial(probabilities, 1, generator=generator))]
            tokens.append(token)
            previous = self.index[token]
        return tuple(tokens)

    def log_probability(self, space: SearchSpace, sequences: Sequence[Sequence[str]]) -> tuple[torch.Tensor, torch.Tensor]:
        """For each token sequence ``a^k``: log P(a^k; theta) = sum_t log P(a_t | a_(t-1):1; theta), and the summed
        entropy of its steps' distributions; both (m,) and differentiable in theta.

        The sequences are fed back token by token, all m at once (shorter ones are masked after their end).
        """
        m, length = len(sequences), max(len(tokens) for tokens in sequences)
        log_probability, entropy = torch.zeros(m), torch.zeros(m)
        previous = torch.full((m,), self.start)
        state = None
        for step in range(length):
            allowed = torch.zeros(m, len(self.vocabulary), dtype=torch.bool)
            chosen = torch.zeros(m, dtype=torch.long)
            active = torch.tensor([step < len(tokens) for tokens in sequences])
            for k, tokens in enumerate(sequences):
                if step < len(tokens):
                    allowed[k, [self.index[t] for t in space.token_choices(tokens[:step])]] = True
                    chosen[k] = self.index[tokens[step]]
                else:
                    allowed[k, chosen[k]] = True  # a finished sequence: a dummy step, masked out below
            x = self.embedding(previous)  # (m, hidden)
            new_state = []
            for layer, cell in enumerate(self.cells):
                h, c = cell(x, None if state is None else state[layer])
                new_state.append((h, c))
                x = h
            state = new_state
            log_probabilities = torch.log_softmax(self.head(x).masked_fill(~allowed, -math.inf), dim=1)  # (m, V)
            step_entropy = -(log_probabilities.exp() * log_probabilities.masked_fill(~allowed, 0.0)).sum(dim=1)
            log_probability = log_probability + torch.where(active, log_probabilities.gather(1, chosen[:, None])[:, 0], 0.0)
            entropy = entropy + torch.where(active, step_entropy, 0.0)
            previous = chosen
        return log_probability, entropy

    @torch.no_grad()
    def distributions(self, space: SearchSpace, tokens: Sequence[str] | None = None) -> list[dict[str, float]]:
        """The controller's distribution at every step along ``tokens`` (default: its most likely sequence,
        each step taking the most probable token)."""
        result: list[dict[str, float]] = []
        emitted: list[str] = []
        previous, state = self.start, None
        while allowed := space.token_choices(emitted):
            if tokens is not None and len(emitted) == len(tokens):
                break
            logits, state = self._logits(previous, state)
            probabilities = self._allowed_log_probabilities(logits, allowed).exp()
            result.append(dict(zip(allowed, probabilities.tolist())))
            token = tokens[len(emitted)] if tokens is not None else allowed[int(probabilities.argmax())]
            emitted.append(token)
            previous = self.index[token]
        return result


def reinforce_loss(log_probabilities: torch.Tensor, rewards: torch.Tensor, baseline: float,
                   entropies: torch.Tensor | None = None, entropy_weight: float = 0.0) -> torch.Tensor:
    """The loss whose gradient is minus the REINFORCE estimate: -1/m sum_k (R_k - b) log P(a^k), minus the
    entropy bonus. ``log_probabilities``, ``rewards``, ``entropies``: (m,), one entry per architecture."""
    advantages = rewards - baseline  # a constant: no gradient flows through the reward
    loss = -(advantages * log_probabilities).mean()
    if entropies is not None and entropy_weight:
        loss = loss - entropy_weight * entropies.mean()
    return loss


class NASRL(Strategy):
    """NAS-RL's controller as a strategy: ``ask`` samples a token sequence, ``tell`` collects its reward,
    and every ``batch_size`` architectures the controller takes one REINFORCE step (Adam).

    Works on any space with a sequence-of-decisions view (``ChainSpace``, ``Cell201Space``, ``GeNetSpace``).
    NAS-RL's controller had 2 LSTM layers of 35 units, as here; its learning rate (0.0006) suited
    12,800 samples, ours is larger because our searches sample a hundred.
    """

    def __init__(self, space: SearchSpace, batch_size: int = 5, learning_rate: float = 0.05,
                 baseline_decay: float = 0.9, entropy_weight: float = 0.01, hidden_size: int = 35,
                 layers: int = 2, seed: int = 0):
        super().__init__(space, seed)
        if batch_size < 1 or learning_rate <= 0 or not 0 <= baseline_decay < 1 or entropy_weight < 0:
            raise ValueError(
                "Need batch_size >= 1, learning_rate > 0, 0 <= baseline_decay < 1 and entropy_weight >= 0; got "
                f"{batch_size}, {learning_rate}, {baseline_decay}, {entropy_weight}."
            )
        with torch.random.fork_rng(devices=[]):  # seed the controller's initial weights, leave the global RNG alone
            torch.manual_seed(seed)
            self.controller = Controller(space.vocabulary(), hidden_size, layers)
        self.optimizer = torch.optim.Adam(self.controller.parameters(), lr=learning_rate)
        self.generator = torch.Generator().manual_seed(seed)
        self.batch_size = batch_size
        self.baseline_decay = baseline_decay
        self.entropy_weight = entropy_weight
        self.baseline: float | None = None
        self.batch: list[tuple[tuple[str, ...], float]] = []
        self.rewards: list[float] = []  # every reward, in the order the architectures were told
        self.trace: list[dict] = [self._snapshot()]  # the controller's most likely sequence after each update

    def ask(self) -> Any:
        with one_thread():
            return self.space.from_tokens(self.controller.sample(self.space, self.generator))

    def tell(self, architecture: Any, result: EvaluationResult) -> None:
        reward = 0.0 if math.isnan(result.accuracy) else float(result.accuracy)  # a diverged network earns 0
        self.batch.append((self.space.to_tokens(architecture), reward))
        self.rewards.append(reward)
        if len(self.batch) == self.batch_size:
            with one_thread():
                self.update()

    def update(self) -> float:
        """One REINFORCE step on the collected batch; returns the loss. Then the baseline moves."""
        rewards = torch.tensor([reward for _, reward in self.batch])
        if self.baseline is None:  # the first batch is its own baseline
            self.baseline = float(rewards.mean())
        log_probabilities, entropies = self.controller.log_probability(self.space, [tokens for tokens, _ in self.batch])
        loss = reinforce_loss(log_probabilities, rewards, self.baseline, entropies, self.entropy_weight)
        self.optimizer.zero_grad()
        loss.backward()
        self.optimizer.step()
        for reward in rewards.tolist():  # b <- decay * b + (1 - decay) * R, over the batch in order
            self.baseline = self.baseline_decay * self.baseline + (1 - self.baseline_decay) * reward
        self.batch = []
        self.trace.append(self._snapshot())
        return float(loss.detach())

    def _snapshot(self) -> dict:
        distributions = self.controller.distributions(self.space)
        most_likely = tuple(max(d, key=d.get) for d in distributions)
        return {"trials": len(self.rewards), "baseline": self.baseline, "tokens": most_likely,
                "distributions": distributions}

    def probabilities(self, step: int = 0) -> tuple[list[int], dict[str, list[float]]]:
        """For a plot: after how many trials each update happened, and the probability of every token at
        ``step`` of the controller's most likely sequence at that time (step 0: the first decision)."""
        trials = [snapshot["trials"] for snapshot in self.trace]
        at_step = [snapshot["distributions"][step] if step < len(snapshot["distributions"]) else {}
                   for snapshot in self.trace]
        tokens = dict.fromkeys(token for distribution in at_step for token in distribution)
        return trials, {token: [distribution.get(token, math.nan) for distribution in at_step] for token in tokens}
