"""The registry is the one list of methods and spaces: a strategy registered there is known to the command line
(its choices, its help, its space checks) and to the comparisons, with nothing else to edit."""

from __future__ import annotations

import json

import pytest

from nascourse import compare, registry
from nascourse.cli import main
from nascourse.strategies import RandomSearch, Strategy


class HillClimbing(Strategy):
    """A method of one's own, small enough for a test: mutate the best cell seen so far (random at first)."""

    def __init__(self, space, seed=0):
        super().__init__(space, seed)
        self.best = None  # (accuracy, architecture)

    def ask(self):
        if self.best is None:
            return self.space.sample(self.rng)
        return self.space.mutate(self.best[1], self.rng)

    def tell(self, architecture, result):
        if result.status == "ok" and (self.best is None or result.accuracy > self.best[0]):
            self.best = (result.accuracy, architecture)


@pytest.fixture
def hill_climbing():
    entry = registry.register(registry.StrategyEntry(
        "hill", "hill climbing", "EA", "sampling", ("benchmark",), "mutate the best cell so far",
        build=lambda space, trials, seed, population=None, weight_inheritance=False: HillClimbing(space, seed=seed)))
    yield entry
    registry.unregister("hill")


def test_the_command_line_runs_a_newly_registered_strategy(hill_climbing, tmp_path, capsys):
    run_dir = tmp_path / "hill"
    assert main(["search", "--strategy", "hill", "--dataset", "bench", "--trials", "12", "--run-dir", str(run_dir)]) == 0
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["strategy"] == "hill" and summary["trials"] == 12
    lines = (run_dir / "history.jsonl").read_text().splitlines()
    assert len(lines) == 12
    with pytest.raises(SystemExit):
        main(["search", "--help"])
    assert "mutate the best cell so far" in capsys.readouterr().out, "the help lists it"


def test_the_command_line_checks_its_spaces_from_the_registry(hill_climbing, tmp_path, capsys):
    assert main(["search", "--strategy", "hill", "--space", "chain", "--run-dir", str(tmp_path / "run")]) == 2
    message = capsys.readouterr().err
    assert "hill cannot search the chain space; it searches benchmark" in message


def test_the_comparison_runs_a_newly_registered_strategy(hill_climbing):
    assert "hill climbing" in compare.table_methods()
    assert compare.family("hill climbing") == "EA"
    run = compare.table_job("hill climbing", seed=0, budget=60.0)
    assert run.method == "hill climbing" and run.trials > 1 and run.spent >= 60.0, "it searched until the budget"
    assert run.returned_at(60.0) is not None
    rows = compare.compare_at({"random search": [compare.table_job("random search", seed, 60.0) for seed in range(3)],
                               "hill climbing": [run] + [compare.table_job("hill climbing", seed, 60.0)
                                                         for seed in (1, 2)]},
                              compare.load_table("digits"), budget=60.0)
    assert {row.method: row.family for row in rows}["hill climbing"] == "EA", "the table names its family"


def test_after_unregistering_the_method_is_gone(hill_climbing):
    registry.unregister("hill climbing")  # by label
    with pytest.raises(ValueError, match="Unknown method 'hill'"):
        registry.strategy("hill")
    registry.register(hill_climbing)  # for the fixture's own clean-up


def test_a_name_or_label_cannot_be_taken_twice():
    entry = registry.strategy("random")
    with pytest.raises(ValueError, match="registered already"):
        registry.register(entry)
    with pytest.raises(ValueError, match="unknown space"):
        registry.register(registry.StrategyEntry("x", "x", "RS", "sampling", ("nowhere",), "x",
                                                 build=lambda space, trials, seed, **_: RandomSearch(space, seed=seed)))


def test_one_method_one_entry_three_names_bound_together():
    entry = registry.strategy("regularized")
    assert registry.strategy("regularized evolution") is entry
    assert type(entry.build(registry.space("benchmark").build({}), trials=10, seed=0)).__name__ == \
        "RegularizedEvolution"


def test_every_sampling_strategy_builds_on_every_space_it_declares():
    settings = {"channel_choices": [8, 16], "max_layers": 3, "cells": 3, "channels": 4}
    for entry in registry.strategies(kind="sampling"):
        for name in entry.spaces:
            space = registry.space(name).build({**settings, **entry.space_options})
            strategy = entry.build(space, trials=10, seed=0, population=4)
            space.encode(strategy.ask())  # it proposes an architecture of that space
