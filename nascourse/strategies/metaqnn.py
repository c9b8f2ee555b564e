"""MetaQNN: choosing layers as a Markov decision process, learned by Q-learning (survey Sec. 2;
Baker et al., 2017, "Designing Neural Network Architectures using Reinforcement Learning").

Survey: "MetaQNN regards the selection process of the network architecture as a Markov decision
process, and uses Q-learning to record rewards". The agent's **state** is where it stands in the
network (MetaQNN: the layer depth and the current layer); an **action** picks the next layer, or the
terminate action, which ends the network. Only the finished network earns a reward, its validation
accuracy; every other transition earns 0. Q-learning learns the value of each (state, action):

    Q(s_i, u) <- (1 - alpha) Q(s_i, u) + alpha [ r_t + gamma * max_{u' in U(s_j)} Q(s_j, u') ]

from the terminal transition backwards. MetaQNN's other ingredients, all here:

* **epsilon-greedy** actions, epsilon decreasing in stages: first pure exploration (epsilon = 1, i.e.
  random search), then epsilon = 0.9, 0.8, ..., 0.1 (``PAPER_SCHEDULE``, scaled to the budget);
* **experience replay**: every sampled network and its accuracy stays in a replay memory, and after
  each new network the agent replays a batch of remembered ones through the update above;
* a network sampled twice is not trained twice: the agent learns from its stored accuracy and samples
  again;
* Q starts at 0.5, alpha = 0.01, gamma = 1 in the paper (our default alpha is larger: our budgets are
  a hundred networks, not thousands);
* the paper's constraints on transitions: a depth limit and a terminate action (the space's own
  token view: ``ChainSpace`` stops at ``max_layers`` and offers "end"), and no pooling layer directly
  after a pooling layer (``no_consecutive_pooling``). MetaQNN's rules about representation size and
  fully connected layers have nothing to act on in our spaces: every operation keeps the resolution and
  the classifier is fixed.
"""

from __future__ import annotations

import math
from typing import Any, Callable, Hashable, Sequence

from ..loop import EvaluationResult
from ..spaces.base import SearchSpace
from ..spaces.chain import ChainSpace
from .base import Strategy

__all__ = ["PAPER_SCHEDULE", "epsilon_schedule", "q_update", "no_consecutive_pooling", "MetaQNN"]

# MetaQNN's CIFAR-10 schedule: (epsilon, number of networks sampled at it).
PAPER_SCHEDULE: tuple[tuple[float, int], ...] = (
    (1.0, 1500), (0.9, 100), (0.8, 100), (0.7, 100), (0.6, 150),
    (0.5, 150), (0.4, 150), (0.3, 150), (0.2, 150), (0.1, 150),
)

Rule = Callable[[Sequence[str], tuple[str, ...]], tuple[str, ...]]


def epsilon_schedule(trials: int, stages: Sequence[tuple[float, int]] = PAPER_SCHEDULE) -> list[tuple[float, int]]:
    """``stages`` scaled to ``trials`` networks in all, keeping their proportions (largest remainders)."""
    if not isinstance(trials, int) or trials < 1:
        raise ValueError(f"trials must be a positive integer, got {trials!r}.")
    total = sum(count for _, count in stages)
    shares = [trials * count / total for _, count in stages]
    counts = [math.floor(share) for share in shares]
    by_remainder = sorted(range(len(stages)), key=lambda i: shares[i] - counts[i], reverse=True)
    for i in by_remainder[: trials - sum(counts)]:
        counts[i] += 1
    return [(epsilon, count) for (epsilon, _), count in zip(stages, counts) if count]


def q_update(q: dict, state: Hashable, action: str, reward: float, next_state: Hashable | None,
             next_actions: Sequence[str], alpha: float, gamma: float, initial: float = 0.5) -> float:
    """One Q-learning update of ``q[(state, action)]``; returns the new value.

    ``next_actions`` are the actions allowed in ``next_state``; none (or ``next_state`` None) means the
    transition ended the episode, so no future value is added.
    """
    future = max((q.get((next_state, a), initial) for a in next_actions), default=0.0) if next_state is not None else 0.0
    value = (1 - alpha) * q.get((state, action), initial) + alpha * (reward + gamma * future)
    q[(state, action)] = value
    return value


def no_consecutive_pooling(tokens: Sequence[str], choices: tuple[str, ...]) -> tuple[str, ...]:
    """MetaQNN's rule: a pooling layer may not follow a pooling layer."""
    if tokens and "pool" in tokens[-1]:
        kept = tuple(choice for choice in choices if "pool" not in choice)
        return kept or choices
    return choices


def default_rules(space: SearchSpace) -> tuple[Rule, ...]:
    """The paper's transition rules that apply to ``space`` (pooling rules only mean something in a chain)."""
    return (no_consecutive_pooling,) if isinstance(space, ChainSpace) else ()


class MetaQNN(Strategy):
    """Tabular Q-learning over the space's sequence of decisions, with MetaQNN's schedule and replay."""

    def __init__(self, space: SearchSpace, trials: int | None = None,
                 schedule: Sequence[tuple[float, int]] | None = None, alpha: float = 0.1, gamma: float = 1.0,
                 initial_q: float = 0.5, replay_updates: int = 100, rules: Sequence[Rule] | None = None,
                 reuse_known: bool = True, seed: int = 0):
        super().__init__(space, seed)
        if schedule is None:
            if trials is None:
                raise ValueError("Give MetaQNN the search's number of trials (to scale the paper's epsilon "
                                 "schedule to it) or an explicit schedule of (epsilon, networks) stages.")
            schedule = epsilon_schedule(trials)
        if not schedule or any(not 0 <= eps <= 1 or n < 1 for eps, n in schedule):
            raise ValueError(f"A schedule is a list of (epsilon in [0, 1], networks >= 1) stages; got {schedule!r}.")
        if not 0 < alpha <= 1 or not 0 <= gamma <= 1 or replay_updates < 0:
            raise ValueError(f"Need 0 < alpha <= 1, 0 <= gamma <= 1, replay_updates >= 0; got {alpha}, {gamma}, "
                             f"{replay_updates}.")
        space.vocabulary()  # a clear error now if the space has no sequence-of-decisions view
        self.schedule = [(float(eps), int(n)) for eps, n in schedule]
        self.alpha, self.gamma, self.initial_q = alpha, gamma, initial_q
        self.replay_updates = replay_updates
        self.rules = tuple(default_rules(space) if rules is None else rules)
        self.reuse_known = reuse_known
        self.q: dict[tuple[Hashable, str], float] = {}
        self.memory: list[tuple[tuple[str, ...], float]] = []  # the replay memory: (tokens, accuracy)
        self.known: dict[str, float] = {}  # accuracy of every network trained so far, by its string
        self.proposed = 0  # networks proposed for training: the position in the schedule
        self.epsilons: list[float] = []  # epsilon used for each proposal, for plots
        self.reused = 0  # samples answered from `known` instead of being trained again
        self._actions: dict[tuple[str, ...], tuple[str, ...]] = {}

    # --- the MDP ----------------------------------------------------------------------------------------
    def actions(self, tokens: Sequence[str]) -> tuple[str, ...]:
        """U(s): the actions allowed after ``tokens``, the space's choices filtered by the rules."""
        tokens = tuple(tokens)
        if tokens not in self._actions:  # remembered: replay asks for the same prefixes again and again
            choices = self.space.token_choices(tokens)
            for rule in self.rules:
                choices = rule(tokens, choices)
            self._actions[tokens] = choices
        return self._actions[tokens]

    def epsilon(self) -> float:
        """Epsilon for the next proposal: the stage of the schedule it falls in (the last stage after that)."""
        position = self.proposed
        for epsilon, count in self.schedule:
            if position < count:
                return epsilon
            position -= count
        return self.schedule[-1][0]

    def q_values(self, tokens: Sequence[str] = ()) -> dict[str, float]:
        """Q(s, u) for every action u allowed after ``tokens`` (default: the start state)."""
        state = self.space.decision_state(tokens)
        return {action: self.q.get((state, action), self.initial_q) for action in self.actions(tokens)}

    def _episode(self, epsilon: float) -> tuple[str, ...]:
        tokens: list[str] = []
        while actions := self.actions(tokens):
            if self.rng.random() < epsilon:
                tokens.append(self.rng.choice(actions))
            else:  # greedy, ties broken at random (at the start every Q is the same 0.5)
                values = self.q_values(tokens)
                best = max(values.values())
                tokens.append(self.rng.choice([a for a in actions if values[a] == best]))
        return tuple(tokens)

    def learn(self, tokens: Sequence[str], accuracy: float) -> None:
        """Update Q along one episode, from the terminal transition back to the first (reward only at the end)."""
        tokens = tuple(tokens)
        for t in reversed(range(len(tokens))):
            state = self.space.decision_state(tokens[:t])
            terminal = t == len(tokens) - 1
            next_state = None if terminal else self.space.decision_state(tokens[: t + 1])
            next_actions = () if terminal else self.actions(tokens[: t + 1])
            q_update(self.q, state, tokens[t], accuracy if terminal else 0.0, next_state, next_actions,
                     self.alpha, self.gamma, self.initial_q)

    def _remember(self, tokens: tuple[str, ...], accuracy: float) -> None:
        """Store an experience, then replay a batch drawn from the memory (which now holds it)."""
        self.memory.append((tokens, accuracy))
        for _ in range(self.replay_updates):
            self.learn(*self.rng.choice(self.memory))

    # --- ask / tell ------------------------------------------------------------------------------------
    def ask(self) -> Any:
        epsilon = self.epsilon()
        for _ in range(100):
            tokens = self._episode(epsilon)
            text = self.space.encode(self.space.from_tokens(tokens))
            if not (self.reuse_known and text in self.known):
                break
            self.reused += 1
            self.learn(tokens, self.known[text])  # already trained: learn from its stored accuracy, sample again
        # (after 100 repeats in a row the agent has as good as converged: the repeat is proposed and trained)
        self.proposed += 1
        self.epsilons.append(epsilon)
        return self.space.from_tokens(tokens)

    def tell(self, architecture: Any, result: EvaluationResult) -> None:
        accuracy = 0.0 if math.isnan(result.accuracy) else float(result.accuracy)
        self.known[self.space.encode(architecture)] = accuracy
        self._remember(self.space.to_tokens(architecture), accuracy)
