"""One cost unit on every machine: counted multiply-accumulates, charged at the benchmark machine's speed.

A search that trains here (a supernet, ENAS) is compared with table lookups whose seconds were recorded on the
machine that built the table. These tests pin down the counter (nascourse.compute), the conversion
(Benchmark.seconds_for), and that a comparison comes out the same when this machine is made three times faster or
three times slower: every clock the library reads is scaled, and nothing the comparison decides may move."""

import time

import numpy as np
import pytest
import torch
from torch import nn

from nascourse import compare
from nascourse.bench import Benchmark
from nascourse.compute import TRAINING_FACTOR, MacCounter, count_macs, layer_macs
from nascourse.data import load_dataset
from nascourse.weight_sharing import ENAS


@pytest.fixture(scope="module")
def bench():
    return Benchmark.load()


# ------------------------------------------------------------------------------------------ the counter
def test_a_convolution_costs_its_output_size_times_its_kernel_volume():
    conv = nn.Conv2d(3, 8, kernel_size=3, padding=1)
    with torch.no_grad(), MacCounter() as counter:
        conv(torch.zeros(2, 3, 5, 5))
    assert counter.macs == 2 * 8 * 5 * 5 * (3 * 3 * 3)


def test_a_grouped_convolution_reads_only_its_group_of_input_channels():
    conv = nn.Conv2d(4, 4, kernel_size=3, padding=1, groups=4)
    assert layer_macs(conv, torch.zeros(1, 4, 6, 6)) == 4 * 6 * 6 * 9


def test_a_linear_layer_costs_outputs_times_inputs():
    with torch.no_grad(), MacCounter() as counter:
        nn.Linear(10, 3)(torch.zeros(4, 10))
    assert counter.macs == 4 * 3 * 10


def test_a_pass_that_records_gradients_counts_forward_and_backward():
    layer = nn.Linear(10, 3)
    with MacCounter() as counter:
        layer(torch.zeros(4, 10)).sum().backward()
    assert TRAINING_FACTOR == 3 and counter.macs == 3 * 4 * 3 * 10


def test_nothing_is_counted_outside_the_counter_and_counters_nest():
    layer = nn.Linear(5, 5)
    with torch.no_grad():
        outer = MacCounter()
        with outer:
            layer(torch.zeros(1, 5))
            with MacCounter() as inner:
                layer(torch.zeros(1, 5))
        layer(torch.zeros(1, 5))  # not counted by anyone
        with outer:  # entered again: keeps adding
            layer(torch.zeros(1, 5))
    assert inner.macs == 25 and outer.macs == 75


def test_a_counter_cannot_be_entered_twice_at_once():
    counter = MacCounter()
    with counter, pytest.raises(RuntimeError, match="already counting"):
        with counter:
            pass


def test_count_macs_gives_what_the_benchmark_recorded_for_its_cells(bench):
    data = load_dataset("digits")
    for row in (0, 137, len(bench) - 1):
        model = bench.space.build(bench.architectures[row], data.input_shape, data.num_classes)
        assert count_macs(model, data.input_shape) == bench.flops[row]


# --------------------------------------------------------------------------------------- the conversion
def test_the_conversion_charges_the_table_s_own_trainings_what_they_cost_on_average(bench):
    finished = np.isfinite(bench.val_accuracy[:, :, -1])
    macs = TRAINING_FACTOR * bench.flops[:, None] * bench.training_images * bench.protocol.epochs
    charged = bench.seconds_for(float(np.broadcast_to(macs, finished.shape)[finished].sum()))
    assert charged == pytest.approx(bench.train_seconds[:, :, -1][finished].sum(), rel=1e-9)
    assert bench.seconds_for(2e9) == pytest.approx(2 * bench.seconds_for(1e9))


def test_the_conversion_refuses_a_negative_or_missing_count(bench):
    for wrong in (-1.0, float("nan")):
        with pytest.raises(ValueError, match="non-negative"):
            bench.seconds_for(wrong)


# ------------------------------------------------------------------- a machine 3x faster or 3x slower
def scaled_clocks(monkeypatch, factor):
    """Make this machine ``factor`` times slower (factor 3) or faster (1/3): every clock runs scaled."""
    process, wall = time.process_time, time.perf_counter
    monkeypatch.setattr(time, "process_time", lambda: process() * factor)
    monkeypatch.setattr(time, "perf_counter", lambda: wall() * factor)


def comparison_at_the_supernets_cost(seed=3):
    """Chapter 06's small-budget comparison, in miniature: supernet searches set the budget, table searches
    spend it, and the methods are ranked at it."""
    runs = {"random search": [compare.table_job("random search", seed + s, budget=6.0) for s in range(4)],
            "DARTS": [compare.relaxation_job("darts", seed + s, epochs=1) for s in range(2)],
            "one-shot + random sampling": [compare.one_shot_job(seed + s, checkpoints=[0.5], cells=4) for s in range(2)]}
    small_budget = float(max(run.spent for name in ("DARTS", "one-shot + random sampling") for run in runs[name]))
    rows = compare.compare_at(runs, compare.load_table("digits"), small_budget)
    return runs, small_budget, rows


def enas_against_random_search(bench, seed=3):
    """Chapter 05's ENAS comparison, in miniature: random search given what ENAS cost."""
    from nascourse.bench import BenchmarkEvaluator
    from nascourse.loop import run_search
    from nascourse.strategies import RandomSearch

    search = ENAS(compare.table_data(), epochs=1, controller_steps=3, seed=seed)
    search.search_epoch()
    budget = bench.seconds_for(search.macs)
    history = run_search(bench.space, RandomSearch(bench.space, seed=seed), BenchmarkEvaluator(bench, rng_seed=seed),
                         trials=20, progress=False)
    # as chapter 05 does: ENAS can cost less than one of the table's trainings, so random search gets the
    # budget or its first candidate, whichever costs more
    return budget, search.seconds, bench.returned_accuracy(history, max(budget, history[0].cumulative_seconds), "test")


@pytest.mark.parametrize("factor", [3.0, 1 / 3], ids=["3x slower", "3x faster"])
def test_a_comparison_comes_out_the_same_on_a_machine_three_times_faster_or_slower(monkeypatch, factor):
    runs, small_budget, rows = comparison_at_the_supernets_cost()
    with monkeypatch.context() as patch:
        scaled_clocks(patch, factor)
        scaled_runs, scaled_budget, scaled_rows = comparison_at_the_supernets_cost()
    # the clocks were really scaled: the seconds the supernets took here moved with the machine ...
    local = [run.extra["local_seconds"] for run in runs["DARTS"]]
    scaled_local = [run.extra["local_seconds"] for run in scaled_runs["DARTS"]]
    assert np.median(scaled_local) / np.median(local) == pytest.approx(factor, rel=0.6)
    # ... and nothing the comparison decides did: budgets, cost points, returned cells, ranking and tests
    assert scaled_budget == small_budget
    for name in runs:
        assert [(r.seconds, r.architectures) for r in scaled_runs[name]] == [(r.seconds, r.architectures)
                                                                           for r in runs[name]]
    assert [(r.method, r.median, r.p_value) for r in scaled_rows] == [(r.method, r.median, r.p_value) for r in rows]
    assert next(r for r in rows if r.method == "random search").runs >= 2, "random search returned cells by the budget"


@pytest.mark.parametrize("factor", [3.0, 1 / 3], ids=["3x slower", "3x faster"])
def test_enas_buys_random_search_the_same_budget_on_any_machine(bench, monkeypatch, factor):
    budget, local, returned = enas_against_random_search(bench)
    with monkeypatch.context() as patch:
        scaled_clocks(patch, factor)
        scaled_budget, scaled_local, scaled_returned = enas_against_random_search(bench)
    assert scaled_local / local == pytest.approx(factor, rel=0.6)
    assert scaled_budget == budget and scaled_returned == returned
