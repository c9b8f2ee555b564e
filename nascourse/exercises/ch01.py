"""Exercises of chapter 01, "Early NAS": reference solutions and their checks.

Read the references only after trying: they are the answers.
"""

from __future__ import annotations

import torch

from .core import Case, Exercise

__all__ = ["reinforce_gradient", "q_learning_update", "genet_code_length", "genet_decode", "roulette_probabilities",
           "reinforce_step"]


# 1. The REINFORCE gradient of one categorical decision ------------------------------------------
def _reinforce_gradient(logits: torch.Tensor, token: int, advantage: float) -> torch.Tensor:
    """d/d logits of (R - b) * log softmax(logits)[token]  =  (R - b) * (onehot(token) - softmax(logits))."""
    onehot = torch.zeros_like(logits)
    onehot[token] = 1.0
    return advantage * (onehot - torch.softmax(logits, dim=0))


reinforce_gradient = Exercise(
    "reinforce_gradient",
    _reinforce_gradient,
    [
        Case("uniform logits over 4 tokens, token 2 rewarded above the baseline",
             (torch.zeros(4, dtype=torch.float64), 2, 0.5)),
        Case("peaked logits, token 0 rewarded below the baseline",
             (torch.tensor([2.0, 0.0, -1.0], dtype=torch.float64), 0, -0.3)),
        Case("a reward equal to the baseline teaches nothing",
             (torch.tensor([0.5, -0.5], dtype=torch.float64), 1, 0.0)),
        Case("an unlikely token, well rewarded",
             (torch.tensor([3.0, 1.0, -2.0, 0.0, 0.5], dtype=torch.float64), 2, 1.0)),
    ],
    hint="log softmax(z)[a] = z[a] - log sum_j exp(z[j]); its derivative with respect to z[j] is "
    "1[j = a] - softmax(z)[j]. Multiply the whole vector by the advantage R - b. Check yourself with "
    "torch.autograd: z.requires_grad_(); (advantage * torch.log_softmax(z, 0)[a]).backward(); z.grad.",
)


# 2. One Q-learning update ---------------------------------------------------------------------------
def _q_learning_update(q_value: float, reward: float, next_q_values: list[float], alpha: float, gamma: float) -> float:
    future = max(next_q_values) if next_q_values else 0.0  # no next state: the episode ended
    return (1 - alpha) * q_value + alpha * (reward + gamma * future)


q_learning_update = Exercise(
    "q_learning_update",
    _q_learning_update,
    [
        Case("the terminal transition: reward 0.9, no next state", (0.5, 0.9, [], 0.1, 1.0)),
        Case("an inner transition: no reward, the best next action is worth 0.8", (0.5, 0.0, [0.5, 0.8, 0.6], 0.1, 1.0)),
        Case("a discount below one", (0.2, 0.0, [0.7, 0.4], 0.5, 0.9)),
        Case("alpha = 1 forgets the old value", (0.3, 0.6, [], 1.0, 1.0)),
    ],
    hint="Q(s,a) <- (1 - alpha) Q(s,a) + alpha [r + gamma max_a' Q(s',a')]. When next_q_values is empty the "
    "transition ended the network: there is no future term (use 0, not max of an empty list).",
)


# 3. How long is a GeNet code, how many networks does it describe? ---------------------------------
def _genet_code_length(nodes_per_stage: list[int]) -> tuple[int, int]:
    bits = sum(k * (k - 1) // 2 for k in nodes_per_stage)
    return bits, 2**bits


genet_code_length = Exercise(
    "genet_code_length",
    _genet_code_length,
    [
        Case("one stage of 2 nodes", ([2],)),
        Case("GeNet on MNIST: stages of 3 and 5 nodes", ([3, 5],)),
        Case("GeNet on CIFAR-10: stages of 3, 4 and 5 nodes", ([3, 4, 5],)),
        Case("this chapter's quick space", ([3, 4],)),
    ],
    hint="In a stage of K ordered nodes, every pair (i, j) with i < j may be connected: K (K - 1) / 2 bits. "
    "Add the stages' bits; every bit string is a code, so there are 2^bits codes. Return (bits, codes).",
)


# 4. Decoding a GeNet stage -------------------------------------------------------------------------------
def _genet_decode(bits: list[int], nodes: int) -> list[tuple[int, int]]:
    pairs = [(i, j) for j in range(2, nodes + 1) for i in range(1, j)]
    edges = [pair for pair, bit in zip(pairs, bits) if bit]
    kept = sorted({node for edge in edges for node in edge})
    if not kept:
        return [(0, nodes + 1)]
    edges += [(0, n) for n in kept if all(target != n for _, target in edges)]
    edges += [(n, nodes + 1) for n in kept if all(source != n for source, _ in edges)]
    return sorted(edges)


genet_decode = Exercise(
    "genet_decode",
    _genet_decode,
    [
        Case("K = 3, code 1-01: a chain v1 -> v2 -> v3", ([1, 0, 1], 3)),
        Case("K = 4, code 1-00-111: node 3 reads nothing from inside the stage", ([1, 0, 0, 1, 1, 1], 4)),
        Case("K = 4, code 0-00-001: nodes 1 and 2 are isolated", ([0, 0, 0, 0, 0, 1], 4)),
        Case("all zeros: no ordinary node is kept", ([0, 0, 0], 3)),
        Case("K = 3, code 1-10: two nodes read node 1", ([1, 1, 0], 3)),
    ],
    hint="Bits are in the order (1,2), (1,3), (2,3), (1,4), (2,4), (3,4), ... Keep the pairs whose bit is 1. A node "
    "touched by no kept pair is isolated: leave it out. Every kept node without an incoming pair reads node 0 "
    "(the default input), every kept node without an outgoing pair feeds node K+1 (the default output); with no "
    "kept node at all the stage is the single edge (0, K+1). Return the edges as a sorted list of (source, target).",
)


# 5. GeNet's roulette wheel -----------------------------------------------------------------------------
def _roulette_probabilities(fitnesses: list[float]) -> list[float]:
    lowest = min(fitnesses)
    weights = [f - lowest for f in fitnesses]
    total = sum(weights)
    if total == 0:
        return [1 / len(fitnesses)] * len(fitnesses)
    return [w / total for w in weights]


roulette_probabilities = Exercise(
    "roulette_probabilities",
    _roulette_probabilities,
    [
        Case("three individuals", ([0.9, 0.8, 0.6],)),
        Case("the worst is never selected", ([0.5, 0.7],)),
        Case("everyone equal: a uniform draw", ([0.8, 0.8, 0.8, 0.8],)),
        Case("close fitnesses become very different chances", ([0.95, 0.94, 0.93, 0.90],)),
    ],
    hint="GeNet selects individual n with probability proportional to r_n - r_min (its fitness above the worst "
    "one's). Divide by the sum; if every weight is 0, every individual gets 1 / N.",
)



# 6. One REINFORCE step of a controller, with its moving-average baseline ----------------------------------
def _reinforce_step(logits: torch.Tensor, batch: list[tuple[list[int], float]], baseline: float | None,
                    learning_rate: float, decay: float) -> tuple[torch.Tensor, float]:
    """logits: (T, O), one row per decision; batch: m pairs (tokens, reward), tokens one index per decision.

    theta <- theta + learning_rate * 1/m sum_k sum_t (R_k - b) grad log p(a_t^k), with b the baseline from
    BEFORE this batch (the batch's mean on the first step); then b <- decay * b + (1 - decay) * R_k for each
    reward in order."""
    rewards = [reward for _, reward in batch]
    b = sum(rewards) / len(rewards) if baseline is None else baseline
    probabilities = torch.softmax(logits, dim=1)
    gradient = torch.zeros_like(logits)
    for tokens, reward in batch:
        for t, token in enumerate(tokens):
            gradient[t] += (reward - b) * (torch.eye(logits.shape[1], dtype=logits.dtype)[token] - probabilities[t])
    new_logits = logits + learning_rate * gradient / len(batch)
    for reward in rewards:
        b = decay * b + (1 - decay) * reward
    return new_logits, b


def _logits(*rows: list[float]) -> torch.Tensor:
    return torch.tensor(rows, dtype=torch.float64)


reinforce_step = Exercise(
    "reinforce_step",
    _reinforce_step,
    [
        Case("the first step: no baseline yet, the batch's mean is the baseline",
             lambda: (_logits([0.0, 0.0, 0.0], [0.0, 0.0, 0.0]), [([0, 2], 0.9), ([1, 2], 0.5)], None, 1.0, 0.9)),
        Case("a later step: the baseline from before the batch",
             lambda: (_logits([0.5, -0.5, 0.0], [1.0, 0.0, -1.0]),
                      [([0, 0], 0.8), ([2, 1], 0.6), ([0, 2], 0.95)], 0.7, 2.0, 0.9)),
        Case("every reward above the baseline",
             lambda: (_logits([0.0, 1.0], [0.0, 0.0], [2.0, -2.0]), [([1, 0, 1], 0.9), ([0, 1, 1], 0.95)], 0.5,
                      0.5, 0.8)),
        Case("a batch of one, rewarded below the baseline",
             lambda: (_logits([0.2, 0.1, -0.3, 0.0]), [([3], 0.1)], 0.6, 5.0, 0.9)),
        Case("a reward equal to the baseline moves nothing, but the baseline still averages",
             lambda: (_logits([1.0, -1.0]), [([0], 0.5)], 0.5, 3.0, 0.9)),
    ],
    hint="Each decision t has its own softmax over its row of logits. With b the baseline BEFORE this batch (on the "
    "first step, baseline is None: use the batch's mean reward), the gradient of row t is the mean over the batch of "
    "(R_k - b)(e_{a_t} - softmax(row t)), exercise 1's vector for each decision. Step UP the gradient: new logits = "
    "logits + learning_rate * gradient. Only then move the baseline: for each reward of the batch, in order, "
    "b <- decay * b + (1 - decay) * R. Return (new_logits, new_baseline).",
)
