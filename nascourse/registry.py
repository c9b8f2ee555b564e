"""The course's methods and spaces, each declared once: the command line and the comparisons read them here.

A **strategy** entry says what a learner needs to find and run a method: its command-line ``name``
(``regularized``), the ``label`` tables and plots print (``regularized evolution``), its ``family`` as in
survey Table 1's search-strategy column (RS, RL, EA, GO, SMBO), the spaces it can search, and how it is
built. The strategy class itself says whether it can be asked a batch before hearing the results
(``Strategy.check_batch``, used by parallel evaluation).

Three kinds of method share the table:

* ``"sampling"``: an ask/tell strategy (survey Fig. 1's loop), run by ``run_search``; ``build`` makes it;
* ``"relaxation"``: a supernet trained by gradient descent (chapter 03), run by ``relaxation_search``;
* ``"schedule"`` and ``"one-shot"``: methods the comparisons run in their own way (Hyperband's partial
  trainings, a weight-sharing supernet), listed so that their family is known.

A **space** entry names a search space and builds it from a search's settings (the profile's budgets).

Adding a strategy is one file (the class) and one ``register(StrategyEntry(...))`` call; the command line's
``--strategy`` choices and help, its space checks, and ``nascourse.compare``'s list of table methods follow.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

from .bench.build import Protocol
from .spaces import ChainSpace, DartsCellSpace, GeNetSpace, NASNetCellSpace, Skeleton
from .spaces.base import SearchSpace
from .strategies import (GeNet, LargeScaleEvolution, MetaQNN, NASRL, PredictorGuidedSearch, RandomSearch,
                         RegularizedEvolution, Strategy)

__all__ = ["StrategyEntry", "SpaceEntry", "STRATEGIES", "SPACES", "register", "register_space", "unregister",
           "strategy", "strategies", "space", "family"]

KINDS = ("sampling", "relaxation", "schedule", "one-shot")


@dataclass(frozen=True)
class StrategyEntry:
    """One method of the course.

    ``build(space, trials=, seed=, population=, weight_inheritance=)`` makes a sampling strategy: ``trials`` is
    the number of candidates the search will evaluate (MetaQNN plans its schedule for it), ``population``
    the population of an evolutionary method (None: the method's own default). ``space_options`` are settings
    the method needs from its space (MetaQNN's chains have no skip connections). ``warmup_fraction``: for a
    relaxation, the share of the epochs that train the weights alone before alpha moves."""

    name: str
    label: str
    family: str
    kind: str
    spaces: tuple[str, ...]
    summary: str
    build: Callable[..., Strategy] | None = None
    space_options: Mapping[str, Any] = field(default_factory=dict)
    warmup_fraction: float = 0.0

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"kind must be one of {KINDS}, got {self.kind!r}.")
        if (self.kind == "sampling") != (self.build is not None):
            raise ValueError(f"{self.name}: a sampling strategy needs build (and only it has one).")
        if not self.spaces:
            raise ValueError(f"{self.name}: name at least one space it can search.")


@dataclass(frozen=True)
class SpaceEntry:
    """One search space: ``build(settings)`` makes it from a search's settings (``channel_choices``,
    ``max_layers``, ``cells``, ``channels``, and a strategy's ``space_options``)."""

    name: str
    summary: str
    build: Callable[[Mapping[str, Any]], SearchSpace]


STRATEGIES: dict[str, StrategyEntry] = {}
SPACES: dict[str, SpaceEntry] = {}


def register(entry: StrategyEntry) -> StrategyEntry:
    """Add a method; its name and label must be new, and its spaces known."""
    taken = {name for e in STRATEGIES.values() for name in (e.name, e.label)}
    clash = {entry.name, entry.label} & taken
    if clash:
        raise ValueError(f"A method called {sorted(clash)[0]!r} is registered already; choose another name.")
    unknown = set(entry.spaces) - set(SPACES)
    if unknown:
        raise ValueError(f"{entry.name}: unknown space(s) {sorted(unknown)}; registered spaces: {sorted(SPACES)}.")
    STRATEGIES[entry.name] = entry
    return entry


def register_space(entry: SpaceEntry) -> SpaceEntry:
    if entry.name in SPACES:
        raise ValueError(f"A space called {entry.name!r} is registered already; choose another name.")
    SPACES[entry.name] = entry
    return entry


def unregister(name: str) -> None:
    """Remove a method (by name or label), e.g. one a test registered."""
    STRATEGIES.pop(strategy(name).name)


def strategy(name: str) -> StrategyEntry:
    """The method called ``name``: its command-line name or its label."""
    for entry in STRATEGIES.values():
        if name in (entry.name, entry.label):
            return entry
    raise ValueError(f"Unknown method {name!r}; the course has {', '.join(STRATEGIES)} "
                     f"(or by label: {', '.join(e.label for e in STRATEGIES.values())}).")


def family(name: str) -> str:
    """The family of a method (its name or label) as in survey Table 1's search-strategy column; "" if unknown."""
    return next((e.family for e in STRATEGIES.values() if name in (e.name, e.label)), "")


def strategies(kind: str | None = None, space: str | None = None) -> list[StrategyEntry]:
    """The registered methods, in registration order, optionally of one kind and able to search one space."""
    return [e for e in STRATEGIES.values() if (kind is None or e.kind == kind) and (space is None or space in e.spaces)]


def space(name: str) -> SpaceEntry:
    if name not in SPACES:
        raise ValueError(f"Unknown space {name!r}; the course has {', '.join(SPACES)}.")
    return SPACES[name]


# ------------------------------------------------------------------------------------------------ the spaces
register_space(SpaceEntry(
    "chain", "layer chains with skip connections (Eq. 2; chapters 00-01)",
    lambda s: ChainSpace(channel_choices=tuple(s["channel_choices"]), max_layers=s["max_layers"],
                         skip_connections=s.get("skip_connections", True))))
register_space(SpaceEntry(
    "genet", "GeNet's binary codes of stages of nodes",  # GeNet's MNIST stages (3, 4 nodes), the two smallest widths
    lambda s: GeNetSpace(nodes_per_stage=(3, 4), channels=tuple(s["channel_choices"][:2]))))
register_space(SpaceEntry(
    "darts", "DARTS's normal and reduction cells, stacked into cells x channels (chapter 02)",
    lambda s: DartsCellSpace(skeleton=Skeleton(cells=s["cells"], channels=s["channels"]))))
register_space(SpaceEntry(
    "nasnet", "NASNet's own cells: five decisions per block, B = 5, add or concatenate (chapter 02)",
    lambda s: NASNetCellSpace(skeleton=Skeleton(cells=s["cells"], channels=s["channels"]))))
register_space(SpaceEntry(
    "benchmark", "the course benchmark's NAS-Bench-201-style cells (table lookups)",
    lambda s: Protocol().space()))  # the benchmark's cells, as the table holds them


# ---------------------------------------------------------------------------------------------- the methods
def _evolution(space, trials, seed, population=None, weight_inheritance=False):
    initial = "random" if isinstance(space, DartsCellSpace) else "simplest"  # DARTS's space names no simplest cell
    return LargeScaleEvolution(space, population_size=population or 10, initial=initial,
                               weight_inheritance=weight_inheritance, seed=seed)


def _regularized(space, trials, seed, population=None, weight_inheritance=False):
    population = population or 20  # Real et al.'s P = 100, S = 25, scaled: S = P / 4 (chapter 02: 20 and 5)
    return RegularizedEvolution(space, population_size=population, sample_size=max(2, population // 4), seed=seed)


register(StrategyEntry(
    "random", "random search", "RS", "sampling", ("chain", "genet", "darts", "nasnet", "benchmark"), "random search",
    build=lambda space, trials, seed, population=None, weight_inheritance=False: RandomSearch(space, seed=seed)))
register(StrategyEntry(
    "reinforce", "REINFORCE (NAS-RL)", "RL", "sampling", ("chain", "genet", "nasnet", "benchmark"),
    "NAS-RL (REINFORCE, LSTM controller)",
    build=lambda space, trials, seed, population=None, weight_inheritance=False: NASRL(space, seed=seed)))
register(StrategyEntry(
    "qlearning", "Q-learning (MetaQNN)", "RL", "sampling", ("chain", "genet", "benchmark"),
    "MetaQNN (Q-learning, replay)", space_options={"skip_connections": False},  # MetaQNN's chains: Eq. 1
    build=lambda space, trials, seed, population=None, weight_inheritance=False: MetaQNN(space, trials=trials,
                                                                                          seed=seed)))
register(StrategyEntry(
    "evolution", "large-scale evolution", "EA", "sampling", ("chain", "genet", "darts", "nasnet", "benchmark"),
    "Large-scale Evolution", build=_evolution))
register(StrategyEntry(
    "regularized", "regularized evolution", "EA", "sampling", ("chain", "genet", "darts", "nasnet", "benchmark"),
    "regularized (aging) evolution", build=_regularized))
register(StrategyEntry(
    "genet", "GeNet genetic algorithm", "EA", "sampling", ("genet", "benchmark"),
    "GeNet (genetic algorithm on bits)",
    build=lambda space, trials, seed, population=None, weight_inheritance=False: GeNet(
        space, population_size=population or 10, seed=seed)))
register(StrategyEntry(
    "predictor", "predictor-guided (SMBO)", "SMBO", "sampling", ("benchmark",),
    "a ridge predictor picks the next cell",
    build=lambda space, trials, seed, population=None, weight_inheritance=False: PredictorGuidedSearch(
        space, seed=seed)))
register(StrategyEntry("hyperband", "Hyperband", "RS + early stop", "schedule", ("benchmark",),
                       "Hyperband's partial trainings (chapter 05)"))
register(StrategyEntry("bohb", "BOHB", "SMBO + halving", "schedule", ("benchmark",),
                       "Hyperband's brackets, candidates from a TPE model (Falkner et al.; chapter 05b)"))
register(StrategyEntry("darts", "DARTS", "GO", "relaxation", ("darts", "benchmark"), "DARTS (softmax mixing)"))
register(StrategyEntry("gdas", "GDAS", "GO", "relaxation", ("darts", "benchmark"), "GDAS (one Gumbel-sampled path)"))
register(StrategyEntry("pcdarts", "PC-DARTS", "GO", "relaxation", ("darts", "benchmark"),
                       "PC-DARTS (partial channels, edge normalisation)",
                       warmup_fraction=0.3))  # PC-DARTS: 15 of 50 epochs train the weights alone
register(StrategyEntry("idarts", "I-DARTS", "GO", "relaxation", ("darts", "benchmark"),
                       "I-DARTS (one softmax over a node's inputs)"))
register(StrategyEntry("pdarts", "P-DARTS", "GO", "relaxation", ("darts",), "P-DARTS (three deepening stages)",
                       warmup_fraction=0.4))  # P-DARTS: 10 of 25 epochs per stage
register(StrategyEntry("one-shot", "one-shot + random sampling", "RS + one-shot", "one-shot", ("benchmark",),
                       "a one-shot supernet trained on uniform single paths (SPOS's training), then the best of sampled cells by "
                       "shared-weight accuracy (Bender et al.; Li & Talwalkar; chapter 05)"))
