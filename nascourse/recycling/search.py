"""Searches that recycle a trained network instead of starting from scratch (survey Sec. 3.3).

* **NASH** (Elsken et al., 2017, "Simple and efficient architecture search for CNNs"):
  hill-climbing. Apply a few random network morphisms to the current model, train each
  child briefly with a cosine (SGDR-style) schedule, move to the best child, repeat.
* **EAS** (Cai et al., 2018, "Efficient Architecture Search by Network Transformation"):
  a meta-controller reads an encoding of the current network's layers and chooses
  Net2Wider / Net2Deeper actions; trained with REINFORCE on the transformed networks'
  accuracy after short training, reward tanh(acc * pi / 2).
* **Path-level EAS** (Cai et al., 2018, "Path-Level Network Transformation for Efficient
  Architecture Search"): the actions turn a layer into a multi-branch cell (replication-add,
  split-concat) and then transform inside its branches (another kernel size, an identity-initialised
  layer); here a small REINFORCE policy chooses which kind of transformation to apply at each step.
* **N2N learning** (Ashok et al., 2018, "N2N Learning: Network to Network Compression via
  Policy Gradient Reinforcement Learning"): a policy removes layers, then shrinks the
  remaining ones; each student is trained by knowledge distillation from the teacher;
  reward R = C(2 - C) * acc_student / acc_teacher with C = 1 - params_student / params_teacher.

Every candidate is recorded in a ``History``, so these searches are plotted and compared
with the same anytime curves as every other method of the course.
"""

from __future__ import annotations

import copy
import math
import random
from dataclasses import asdict, dataclass, field
from typing import Callable, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from ..data import DatasetSplits
from ..loop import EvaluationResult, History
from ..train import TrainingResult, accuracy, count_parameters, train
from .network import MorphNet
from .transforms import (
    Morphism,
    apply_morphism,
    can_remove,
    can_resize,
    net2deeper_conv,
    net2wider_conv,
    possible_morphisms,
    remove_unit,
    shrink_conv,
)

__all__ = [
    "RecyclingResult",
    "record",
    "from_scratch",
    "grown_versus_scratch",
    "statistics_images",
    "nash_hill_climbing",
    "parameter_matched_plain",
    "EASController",
    "eas_search",
    "PATH_ACTIONS",
    "PathLevelPolicy",
    "path_level_eas",
    "distillation_loss",
    "N2NPolicy",
    "n2n_compress",
    "n2n_controls",
]


@dataclass
class RecyclingResult:
    """The outcome of a recycling search: the best network (with its weights) and every candidate."""

    best: MorphNet
    best_accuracy: float
    history: History
    log: list[str] = field(default_factory=list)  # what happened, step by step, in words
    # The RL searches' action probabilities: one dict before the first update and one after each update.
    trace: list[dict] = field(default_factory=list)
    # N2N: every candidate as it was before its training (inherited weights), in the order of ``history``.
    starts: list[MorphNet] = field(default_factory=list)
    best_index: int | None = None  # the index of ``best`` in ``history`` (and ``starts``), where it is a candidate


def record(history: History, net: nn.Module, result: TrainingResult, description: str | None = None) -> None:
    """Add one trained candidate to a history, in the record every evaluator of the course returns."""
    history.add(
        description or net.describe(),
        EvaluationResult(
            accuracy=result.final_accuracy,
            cost_seconds=result.seconds,
            cost_epochs=float(result.epochs),
            parameters=count_parameters(net),
            status="diverged" if result.diverged else "ok",
            curve=[asdict(r) for r in result.curve],
        ),
    )


def from_scratch(net: nn.Module, seed: int = 0) -> nn.Module:
    """The same architecture with fresh random weights: the baseline that recycling must beat."""
    fresh = copy.deepcopy(net)
    torch.manual_seed(seed)
    for module in fresh.modules():
        if hasattr(module, "reset_running_stats"):
            module.reset_running_stats()
        if hasattr(module, "reset_parameters"):
            module.reset_parameters()
    return fresh


def statistics_images(data: DatasetSplits, count: int = 1024) -> torch.Tensor:
    """The first ``count`` training images: the batch from which Net2Deeper sets a new BatchNorm."""
    return data.train.x[:count]


def parameter_matched_plain(
    reference: MorphNet,
    target_parameters: int,
    widths: Sequence[int] = (8, 16),
    hidden: Sequence[int] = (16,),
    pool_after: Sequence[int] = (0,),
) -> MorphNet:
    """The plain network ``MorphNet.plain(widths, hidden)`` with every width scaled by one factor, chosen so
    that its parameter count is the closest to ``target_parameters``: a control of equal size for a grown
    network (the same hand-designed shape, only wider). Fresh random weights; ``reference`` gives the input
    shape and classes."""
    if target_parameters < 1:
        raise ValueError(f"target_parameters must be a positive parameter count, got {target_parameters}.")

    def build(factor: float) -> MorphNet:
        return MorphNet.plain(reference.input_shape, reference.num_classes,
                              widths=[max(1, round(w * factor)) for w in widths], pool_after=pool_after,
                              hidden=[max(1, round(h * factor)) for h in hidden])

    factors = [0.25 + 0.01 * i for i in range(2000)]  # 0.25x .. 20x the given widths
    best = min(factors, key=lambda f: abs(count_parameters(build(f)) - target_parameters))
    return build(best)


def grown_versus_scratch(
    grown: nn.Module,
    data: DatasetSplits,
    epochs: int,
    learning_rate: float = 0.05,
    batch_size: int = 32,
    fine_tune_factor: float = 1.0,
    seed: int = 0,
) -> tuple[TrainingResult, TrainingResult]:
    """Train a grown network (weights inherited) and the same architecture from scratch, for the same epochs.

    Both get the same schedule and, by default, the same learning rate: the comparison is then
    about the starting weights alone. ``fine_tune_factor`` < 1 trains the grown network with
    ``learning_rate * fine_tune_factor`` instead (a smaller rate keeps inherited weights closer to
    where they were; on chapter 04's digits it cost accuracy, see ``experiments/ch04_seeds.py``).
    ``grown`` itself is trained in place; returns (grown's result, scratch's result).
    """
    scratch = from_scratch(grown, seed=seed)
    grown_result = train(grown, data, epochs=epochs, batch_size=batch_size,
                         learning_rate=learning_rate * fine_tune_factor, seed=seed)
    scratch_result = train(scratch, data, epochs=epochs, batch_size=batch_size, learning_rate=learning_rate, seed=seed)
    return grown_result, scratch_result


def _progress(total: int, description: str, enabled: bool):
    if not enabled:
        return None
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=description, unit="net")


# --------------------------------------------------------------------------------------- NASH
def nash_hill_climbing(
    start: MorphNet,
    data: DatasetSplits,
    steps: int = 3,
    children: int = 4,
    morphisms_per_child: int = 2,
    epochs_per_child: int = 2,
    learning_rate: float = 0.05,
    batch_size: int = 32,
    max_width: int = 64,
    morphism_names: Sequence[str] = ("deepen", "widen", "add_skip", "insert_layer"),
    seed: int = 0,
    progress: bool = True,
) -> RecyclingResult:
    """NASH: hill-climbing by network morphisms, starting from a trained ``start`` network.

    At every step, ``children`` children of the current model each receive
    ``morphisms_per_child`` random morphisms (so each starts computing exactly what its
    parent computes), are trained for ``epochs_per_child`` epochs with a cosine-annealed
    learning rate, and the best of them by validation accuracy becomes the next model.
    Widening stops at ``max_width`` channels to keep children CPU-sized. Widening breaks the
    copies' symmetry with Net2Net's noise; deepening sets its BatchNorm from training images
    (``statistics_images``), so a child starts from its parent's function in both modes.
    """
    rng = random.Random(seed)
    generator = torch.Generator().manual_seed(seed)
    images = statistics_images(data)
    parent = copy.deepcopy(start)
    parent_accuracy = accuracy(parent, data.val)
    best, best_accuracy = parent, parent_accuracy
    history = History()
    log = [f"start: {parent.describe()}  val {parent_accuracy:.3f}"]
    bar = _progress(steps * children, "NASH", progress)
    for step in range(1, steps + 1):
        trained_children = []
        for _ in range(children):
            child, applied = parent, []
            for _ in range(morphisms_per_child):
                options = [
                    m for m in possible_morphisms(child, names=morphism_names)
                    if m.name != "widen" or m.amount <= max_width
                ]
                morphism = rng.choice(options)
                child = apply_morphism(child, morphism, generator, images=images)
                applied.append(str(morphism))
            result = train(child, data, epochs=epochs_per_child, batch_size=batch_size,
                           learning_rate=learning_rate, seed=rng.randrange(2**31))
            record(history, child, result)
            trained_children.append((result.final_accuracy, child, applied))
            if bar is not None:
                bar.update()
        scored = [c for c in trained_children if not math.isnan(c[0])]
        if not scored:
            log.append(f"step {step}: every child diverged; keeping the parent")
            continue
        parent_accuracy, parent, applied = max(scored, key=lambda c: c[0])
        log.append(f"step {step}: {' + '.join(applied)} -> {parent.describe()}  val {parent_accuracy:.3f}")
        if parent_accuracy > best_accuracy:
            best, best_accuracy = parent, parent_accuracy
    if bar is not None:
        bar.close()
    return RecyclingResult(best, best_accuracy, history, log)


# ------------------------------------------------------------------ REINFORCE, shared by EAS and N2N
@dataclass
class _Candidate:
    net: MorphNet
    accuracy: float
    reward: float


def _reinforce(
    name: str,
    policy: nn.Module,
    sample: Callable[[], tuple[MorphNet, torch.Tensor, list[str]]],
    train_candidate: Callable[[MorphNet, int], TrainingResult],
    reward_of: Callable[[MorphNet, float], float],
    updates: int,
    per_update: int,
    policy_learning_rate: float,
    baseline_decay: float,
    generator: torch.Generator,
    progress: bool,
    snapshot: Callable[[], dict] | None = None,
) -> tuple[History, list[_Candidate], list[str], list[dict]]:
    """REINFORCE with a moving-average baseline: loss = -(R - b) log p(actions), averaged per update.

    ``sample`` draws a network and the log-probability of the actions that made it;
    ``train_candidate(net, seed)`` trains it in place; ``reward_of(net, accuracy)`` scores it;
    ``snapshot()`` (optional) reads the policy's action probabilities, before the first update and
    after every update: the returned trace shows what the policy learns. A learning rate of 0
    leaves the policy as it started (random choices at its initial probabilities): the control.
    """
    optimizer = torch.optim.Adam(policy.parameters(), lr=policy_learning_rate) if policy_learning_rate > 0 else None
    baseline = None
    history, candidates, log = History(), [], []
    trace = [snapshot()] if snapshot is not None else []
    bar = _progress(updates * per_update, name, progress)
    for update in range(1, updates + 1):
        losses, rewards = [], []
        for _ in range(per_update):
            net, log_probability, _ = sample()
            result = train_candidate(net, int(torch.randint(2**31, (1,), generator=generator)))
            record(history, net, result)
            accuracy_reached = 0.0 if math.isnan(result.final_accuracy) else result.final_accuracy
            reward = reward_of(net, accuracy_reached)
            baseline = reward if baseline is None else baseline_decay * baseline + (1 - baseline_decay) * reward
            losses.append(-(reward - baseline) * log_probability)
            rewards.append(reward)
            candidates.append(_Candidate(net, accuracy_reached, reward))
            if bar is not None:
                bar.update()
        if optimizer is not None:
            optimizer.zero_grad()
            torch.stack(losses).mean().backward()
            optimizer.step()
        if snapshot is not None:
            trace.append(snapshot())
        log.append(f"update {update}: mean reward {sum(rewards) / len(rewards):.3f}, "
                   f"best accuracy so far {max(c.accuracy for c in candidates):.3f}")
    if bar is not None:
        bar.close()
    return history, candidates, log, trace


# ---------------------------------------------------------------------------------------- EAS
_KINDS = ("conv", "pool", "residual", "branch", "concat")


class EASController(nn.Module):
    """EAS's meta-controller: a bidirectional LSTM over the layers, and two actors.

    Each layer is encoded by embeddings of its kind, kernel size and width; the Net2Wider
    actor gives every layer a probability of being widened, the Net2Deeper actor a
    distribution over where to insert a new layer (slot 0 = insert nothing).
    """

    def __init__(self, hidden_size: int = 32, kernel_sizes: Sequence[int] = (0, 1, 3, 5, 7), max_width: int = 256):
        super().__init__()
        self.kernel_sizes = tuple(kernel_sizes)
        self.width_buckets = int(math.log2(max_width)) + 1  # widths are embedded by their log2
        self.kind_embedding = nn.Embedding(len(_KINDS), hidden_size)
        self.kernel_embedding = nn.Embedding(len(self.kernel_sizes), hidden_size)
        self.width_embedding = nn.Embedding(self.width_buckets, hidden_size)
        self.encoder = nn.LSTM(hidden_size, hidden_size, batch_first=True, bidirectional=True)
        self.wider_actor = nn.Linear(2 * hidden_size, 1)
        self.deeper_actor = nn.Linear(2 * hidden_size, 1)
        self.no_deepen = nn.Parameter(torch.zeros(1))  # the logit of "insert nothing"

    def forward(self, layer_specs: list[tuple[str, int, int]]) -> tuple[torch.Tensor, torch.Tensor]:
        """(kind, kernel, width) per layer -> widen logits (L,), deepen logits (L + 1,)."""
        kinds = torch.tensor([_KINDS.index(kind) for kind, _, _ in layer_specs])
        kernels = torch.tensor([self.kernel_sizes.index(kernel) if kernel in self.kernel_sizes else 0
                                for _, kernel, _ in layer_specs])
        widths = torch.tensor([min(int(math.log2(max(width, 1))), self.width_buckets - 1) for _, _, width in layer_specs])
        tokens = self.kind_embedding(kinds) + self.kernel_embedding(kernels) + self.width_embedding(widths)
        states, _ = self.encoder(tokens.unsqueeze(0))  # (1, L, 2 * hidden)
        states = states.squeeze(0)
        widen_logits = self.wider_actor(states).squeeze(-1)
        deepen_logits = torch.cat([self.no_deepen, self.deeper_actor(states).squeeze(-1)])  # slot p: after layer p-1
        return widen_logits, deepen_logits


def _eas_episode(
    controller: EASController,
    start: MorphNet,
    transform_steps: int,
    max_width: int,
    generator: torch.Generator,
    images: torch.Tensor | None = None,
) -> tuple[MorphNet, torch.Tensor, list[str]]:
    """Let the controller transform ``start``; return the network, the log-probability of its actions, and them."""
    net, log_probability, actions = start, torch.zeros(()), []
    for _ in range(transform_steps):
        specs = net.layer_specs()
        widen_logits, deepen_logits = controller(specs)
        # Net2Wider actor: one Bernoulli decision per convolution that may still grow.
        for index, (kind, _, width) in enumerate(specs):
            if kind != "conv" or 2 * width > max_width:
                continue
            decision = torch.distributions.Bernoulli(logits=widen_logits[index])
            widen = torch.bernoulli(torch.sigmoid(widen_logits[index]).detach(), generator=generator)
            log_probability = log_probability + decision.log_prob(widen)
            if widen.item() == 1:
                try:
                    net = net2wider_conv(net, index, 2 * width, generator=generator)  # Net2Net's noise
                    actions.append(f"widen {index} to {2 * width}")
                except ValueError:
                    pass  # this layer feeds a unit that cannot be widened into; the action is a no-op
        # Net2Deeper actor: where to insert an identity layer (slot 0: nowhere).
        choice = torch.distributions.Categorical(logits=deepen_logits)
        slot = int(torch.multinomial(torch.softmax(deepen_logits.detach(), dim=0), 1, generator=generator))
        log_probability = log_probability + choice.log_prob(torch.tensor(slot))
        if slot > 0:
            net = net2deeper_conv(net, slot, images=images)
            actions.append(f"deepen after {slot - 1}")
    return net, log_probability, actions


def eas_reward(net, accuracy_reached: float) -> float:
    """EAS's reward, tanh(acc * pi / 2): it stresses gains near high accuracy (Cai et al., 2018)."""
    return math.tanh(accuracy_reached * math.pi / 2)


def _brief_training(data: DatasetSplits, epochs: int, batch_size: int, learning_rate: float):
    """How the RL searches train a transformed network before it earns its reward."""
    def train_candidate(net, batch_seed):
        return train(net, data, epochs=epochs, batch_size=batch_size, learning_rate=learning_rate, seed=batch_seed)
    return train_candidate


def eas_search(
    start: MorphNet,
    data: DatasetSplits,
    updates: int = 3,
    episodes_per_update: int = 4,
    transform_steps: int = 2,
    epochs_per_network: int = 2,
    learning_rate: float = 0.05,
    batch_size: int = 32,
    max_width: int = 64,
    controller_learning_rate: float = 0.01,
    baseline_decay: float = 0.7,
    seed: int = 0,
    progress: bool = True,
) -> RecyclingResult:
    """EAS: REINFORCE a meta-controller whose actions are function-preserving Net2Net transforms.

    Every episode starts from the trained ``start`` network, applies ``transform_steps``
    rounds of (widen decisions, one deepen decision), trains the result briefly, and earns
    reward tanh(acc * pi / 2) (EAS's transform, which stresses gains near high accuracy).
    The controller follows the policy gradient (reward - baseline) * grad log p(actions),
    with an exponential moving-average baseline. Widening breaks the copies' symmetry with
    Net2Net's noise; deepening sets its BatchNorm from training images (``statistics_images``).
    """
    torch.manual_seed(seed)
    generator = torch.Generator().manual_seed(seed)
    controller = EASController(max_width=max(max_width, 256))
    images = statistics_images(data)

    def sample():
        net, log_probability, actions = _eas_episode(controller, start, transform_steps, max_width, generator, images)
        return (copy.deepcopy(net) if net is start else net), log_probability, actions  # never train `start` itself

    train_candidate = _brief_training(data, epochs_per_network, batch_size, learning_rate)

    specs = start.layer_specs()

    def snapshot() -> dict:
        """What the actors would do on the start network: P(widen) per layer, P(insert at slot)."""
        with torch.no_grad():
            widen_logits, deepen_logits = controller(specs)
        return {"widen": torch.sigmoid(widen_logits).tolist(), "deepen": torch.softmax(deepen_logits, 0).tolist()}

    history, candidates, log, trace = _reinforce(
        "EAS", controller, sample, train_candidate,
        reward_of=eas_reward,
        updates=updates, per_update=episodes_per_update, policy_learning_rate=controller_learning_rate,
        baseline_decay=baseline_decay, generator=generator, progress=progress, snapshot=snapshot,
    )
    start_accuracy = accuracy(start, data.val)
    best = max(candidates, key=lambda c: c.accuracy)
    if best.accuracy <= start_accuracy:  # no transformed network beat the one we started from
        best = _Candidate(copy.deepcopy(start), start_accuracy, math.nan)
    log = [f"start: {start.describe()}  val {start_accuracy:.3f}"] + log
    log.append(f"best: {best.net.describe()}  val {best.accuracy:.3f}")
    return RecyclingResult(best.net, best.accuracy, history, log, trace=trace)


# ------------------------------------------------------------------------------ Path-level EAS
# The kinds of path-level transformation the policy chooses among (transforms.py implements each):
# make a cell out of a layer (Fig. 11(a), (b)), or transform inside one of a cell's branches.
PATH_ACTIONS = ("replication_add", "split_concat", "branch_kernel", "branch_deepen")


def _path_moves(net: MorphNet, action: str) -> list[Morphism]:
    """The valid moves of one kind on ``net``: cells from ConvUnits, or moves inside existing branches."""
    if action in ("replication_add", "split_concat"):
        return possible_morphisms(net, names=(action,))
    if action == "branch_kernel":
        return [m for m in possible_morphisms(net, names=("widen_kernel",)) if m.branch is not None]
    if action == "branch_deepen":
        return possible_morphisms(net, names=("deepen_branch",))
    raise ValueError(f"Unknown path-level action {action!r}; known actions are {list(PATH_ACTIONS)}.")


class PathLevelPolicy(nn.Module):
    """A categorical distribution over ``PATH_ACTIONS`` for each transformation step (a tabular policy).

    Simplification: Path-level EAS encodes the cell with a tree-structured LSTM and a tree-structured
    controller decides, node by node, the allocation (replication or split), the merge (add or
    concatenation), the number of branches and each edge's operation. Here the policy only learns
    *which kind* of path-level transformation pays at each step; where it is applied is drawn
    uniformly among the valid places.
    """

    def __init__(self, steps: int):
        super().__init__()
        self.logits = nn.Parameter(torch.zeros(steps, len(PATH_ACTIONS)))  # uniform at the start

    def probabilities(self) -> torch.Tensor:
        return torch.softmax(self.logits, dim=1)


def _path_episode(
    policy: PathLevelPolicy, start: MorphNet, generator: torch.Generator, images: torch.Tensor
) -> tuple[MorphNet, torch.Tensor, list[str]]:
    """One episode: at each step choose a kind (only kinds with a valid move: the others are masked out),
    then a place uniformly; apply it. Returns the network, log p(kinds chosen), and the moves in words."""
    net, log_probability, actions = start, torch.zeros(()), []
    for step in range(policy.logits.shape[0]):
        moves = {action: _path_moves(net, action) for action in PATH_ACTIONS}
        allowed = torch.tensor([bool(moves[action]) for action in PATH_ACTIONS])
        logits = policy.logits[step].masked_fill(~allowed, float("-inf"))
        choice = torch.distributions.Categorical(logits=logits)
        kind = int(torch.multinomial(torch.softmax(logits.detach(), 0), 1, generator=generator))
        log_probability = log_probability + choice.log_prob(torch.tensor(kind))
        options = moves[PATH_ACTIONS[kind]]
        move = options[int(torch.randint(len(options), (1,), generator=generator))]
        net = apply_morphism(net, move, generator, images=images)
        actions.append(str(move))
    return net, log_probability, actions


def path_level_eas(
    start: MorphNet,
    data: DatasetSplits,
    updates: int = 3,
    episodes_per_update: int = 4,
    transform_steps: int = 2,
    epochs_per_network: int = 2,
    learning_rate: float = 0.05,
    batch_size: int = 32,
    policy_learning_rate: float = 0.3,
    baseline_decay: float = 0.7,
    seed: int = 0,
    progress: bool = True,
) -> RecyclingResult:
    """Path-level EAS, small: REINFORCE a policy over path-level transformations of ``start``.

    Every episode starts from the trained ``start`` network and applies ``transform_steps``
    transformations, each function-preserving: make a multi-branch cell out of a ConvUnit
    (replication-add or split-concat, 2 branches), widen the kernel of a cell's branch (3x3 -> 5x5,
    network morphism's kernel-size morphing), or put an identity-initialised layer on a branch
    (survey Fig. 11(c); BatchNorm set from training images). The network is trained briefly and
    earns EAS's reward tanh(acc * pi / 2). ``policy_learning_rate=0`` keeps the policy uniform:
    random path-level transformations at the same budget, the control.
    """
    torch.manual_seed(seed)
    generator = torch.Generator().manual_seed(seed)
    policy = PathLevelPolicy(transform_steps)
    images = statistics_images(data)

    def sample():
        return _path_episode(policy, start, generator, images)

    train_candidate = _brief_training(data, epochs_per_network, batch_size, learning_rate)

    def snapshot() -> dict:
        with torch.no_grad():
            return {"actions": policy.probabilities().tolist()}

    history, candidates, log, trace = _reinforce(
        "Path-level EAS", policy, sample, train_candidate,
        reward_of=eas_reward,
        updates=updates, per_update=episodes_per_update, policy_learning_rate=policy_learning_rate,
        baseline_decay=baseline_decay, generator=generator, progress=progress, snapshot=snapshot,
    )
    start_accuracy = accuracy(start, data.val)
    best_index = max(range(len(candidates)), key=lambda i: candidates[i].accuracy)
    best = candidates[best_index]
    log = [f"start: {start.describe()}  val {start_accuracy:.3f}"] + log
    log.append(f"best: {best.net.describe()}  val {best.accuracy:.3f}")
    return RecyclingResult(best.net, best.accuracy, history, log, trace=trace, best_index=best_index)


# ---------------------------------------------------------------------------------------- N2N
def distillation_loss(teacher: nn.Module, temperature: float = 4.0, weight: float = 0.9):
    """Knowledge distillation (Hinton et al., 2015): a loss for ``train(..., loss_function=...)``.

    weight * T^2 * KL(softmax(teacher / T) || softmax(student / T)) + (1 - weight) * cross-entropy.
    The T^2 keeps the soft term's gradients on the scale of the hard one.
    """
    teacher.eval()

    def loss(student_logits: torch.Tensor, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            teacher_logits = teacher(x)
        soft = F.kl_div(
            F.log_softmax(student_logits / temperature, dim=1),
            F.softmax(teacher_logits / temperature, dim=1),
            reduction="batchmean",
        )
        return weight * temperature**2 * soft + (1 - weight) * F.cross_entropy(student_logits, y)

    return loss


class N2NPolicy(nn.Module):
    """N2N's two-stage policy, one decision per layer: remove it? then, for kept convolutions, how much to keep.

    Simplification: the paper encodes layers with bidirectional LSTMs; with networks of a
    handful of layers we give every layer its own learnable logits (a tabular policy), which
    keeps the two stages and the reward of the paper.
    """

    SHRINK_RATIOS = (1.0, 0.75, 0.5, 0.25)

    def __init__(self, layers: int):
        super().__init__()
        self.remove_logits = nn.Parameter(torch.full((layers,), -1.0))  # start by keeping most layers
        self.shrink_logits = nn.Parameter(torch.zeros(layers, len(self.SHRINK_RATIOS)))


def _n2n_student(policy: N2NPolicy, teacher: MorphNet, generator: torch.Generator) -> tuple[MorphNet, torch.Tensor, list[str]]:
    """Sample a student: stage 1 removes layers, stage 2 shrinks the kept convolutions.

    Decisions the network cannot carry out (removing the last convolution, or one whose
    removal would put a pooling layer first; shrinking a layer that feeds a residual add)
    are forced "keep"s: they are not the policy's choice, so they add no log-probability.
    """
    log_probability, actions = torch.zeros(()), []
    student = teacher
    origin = list(range(len(teacher.units)))  # origin[i]: the teacher's index of the student's unit i
    # Stage 1, layer removal, from the last layer back so that earlier indices stay valid.
    for index in reversed(range(len(student.units))):
        convolutions = sum(kind == "conv" for kind, _, _ in student.layer_specs())
        if student.layer_specs()[index][0] != "conv" or convolutions == 1 or not can_remove(student, index):
            continue
        logit = policy.remove_logits[origin[index]]
        remove = torch.bernoulli(torch.sigmoid(logit).detach(), generator=generator)
        log_probability = log_probability + torch.distributions.Bernoulli(logits=logit).log_prob(remove)
        if remove.item() == 1:
            student = remove_unit(student, index)
            actions.append(f"remove {origin[index]}")
            del origin[index]
    # Stage 2, shrinkage of every kept convolution.
    for index, (kind, _, width) in enumerate(student.layer_specs()):
        if kind != "conv" or not can_resize(student, index):
            continue
        logits = policy.shrink_logits[origin[index]]
        ratio_index = int(torch.multinomial(torch.softmax(logits.detach(), 0), 1, generator=generator))
        log_probability = log_probability + torch.distributions.Categorical(logits=logits).log_prob(torch.tensor(ratio_index))
        new_width = max(1, round(width * N2NPolicy.SHRINK_RATIOS[ratio_index]))
        if new_width < width:
            student = shrink_conv(student, index, new_width)
            actions.append(f"shrink {origin[index]} to {new_width}")
    return (copy.deepcopy(student) if student is teacher else student), log_probability, actions


def n2n_compress(
    teacher: MorphNet,
    data: DatasetSplits,
    updates: int = 3,
    students_per_update: int = 4,
    epochs_per_student: int = 3,
    learning_rate: float = 0.05,
    batch_size: int = 32,
    temperature: float = 4.0,
    policy_learning_rate: float = 0.1,
    baseline_decay: float = 0.7,
    seed: int = 0,
    progress: bool = True,
) -> RecyclingResult:
    """N2N learning: REINFORCE a removal-then-shrink policy; students learn from the teacher by distillation.

    The result's ``best`` is the student with the highest reward (compression times kept
    accuracy), not the most accurate one; every student is in ``history`` for a
    parameters-versus-accuracy plot.
    """
    torch.manual_seed(seed)
    generator = torch.Generator().manual_seed(seed)
    teacher_accuracy = accuracy(teacher, data.val)
    teacher_parameters = count_parameters(teacher)
    policy = N2NPolicy(len(teacher.units))

    starts: list[MorphNet] = []

    def train_candidate(student, batch_seed):
        starts.append(copy.deepcopy(student))  # its inherited weights, for the controls (``n2n_controls``)
        return train(student, data, epochs=epochs_per_student, batch_size=batch_size, learning_rate=learning_rate,
                     seed=batch_seed, loss_function=distillation_loss(teacher, temperature))

    def reward_of(student, accuracy_reached):
        compression = 1 - count_parameters(student) / teacher_parameters
        return compression * (2 - compression) * accuracy_reached / teacher_accuracy  # R = R_c * R_a

    def snapshot() -> dict:
        """P(remove) per layer (stage 1) and the shrink ratios' probabilities per layer (stage 2)."""
        with torch.no_grad():
            return {"remove": torch.sigmoid(policy.remove_logits).tolist(),
                    "shrink": torch.softmax(policy.shrink_logits, dim=1).tolist()}

    history, candidates, log, trace = _reinforce(
        "N2N", policy, lambda: _n2n_student(policy, teacher, generator), train_candidate, reward_of,
        updates=updates, per_update=students_per_update, policy_learning_rate=policy_learning_rate,
        baseline_decay=baseline_decay, generator=generator, progress=progress, snapshot=snapshot,
    )
    best_index = max(range(len(candidates)), key=lambda i: candidates[i].reward)
    best = candidates[best_index]
    log = [f"teacher: {teacher.describe()}  val {teacher_accuracy:.3f}, {teacher_parameters:,} parameters"] + log
    log.append(f"best student: {best.net.describe()}  val {best.accuracy:.3f}, {count_parameters(best.net):,} parameters")
    return RecyclingResult(best.net, best.accuracy, history, log, trace=trace, starts=starts, best_index=best_index)


def n2n_controls(
    result: RecyclingResult,
    teacher: MorphNet,
    data: DatasetSplits,
    epochs: int,
    index: int | None = None,
    learning_rate: float = 0.05,
    batch_size: int = 32,
    temperature: float = 4.0,
    seed: int = 0,
) -> dict[str, TrainingResult]:
    """N2N's student against its controls: the same architecture, the same epochs and the same batch order.

    * "inherited + distillation": the student as N2N made it (the teacher's weights, cut down),
      trained by distillation: N2N itself, retrained here with ``seed`` so that the four runs pair up;
    * "inherited, no distillation": the same start, trained on the labels alone (cross-entropy);
    * "scratch + distillation": fresh random weights, distilled from the teacher;
    * "scratch, no distillation": fresh random weights, the labels alone: the plain baseline.

    ``index`` picks the candidate (default: N2N's best, ``result.best_index``).
    """
    if not result.starts:
        raise ValueError("n2n_controls needs the result of n2n_compress (it keeps every student's start).")
    index = result.best_index if index is None else index
    if not 0 <= index < len(result.starts):
        raise ValueError(f"index {index} out of range; the search trained students 0..{len(result.starts) - 1}.")
    start = result.starts[index]
    runs = {
        "inherited + distillation": (copy.deepcopy(start), True),
        "inherited, no distillation": (copy.deepcopy(start), False),
        "scratch + distillation": (from_scratch(start, seed=seed), True),
        "scratch, no distillation": (from_scratch(start, seed=seed), False),
    }
    return {
        name: train(net, data, epochs=epochs, batch_size=batch_size, learning_rate=learning_rate, seed=seed,
                    loss_function=distillation_loss(teacher, temperature) if distilled else None)
        for name, (net, distilled) in runs.items()
    }
