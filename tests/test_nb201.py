"""NAS-Bench-201 as a table of the library: names, sizes, the reader, and searches running on it unchanged.

The tests that need NAS-Bench-201's results read ``../shared/nb201`` beside the repository (or
``$NASCOURSE_NB201``); they skip when the files are not there, and fail when NASCOURSE_NB201 is set (as in CI)
but the files are missing.
"""

import csv
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from nascourse import RandomSearch, run_search
from nascourse.bench import BenchmarkError
from nascourse.bench.nb201 import (DATASETS, EPOCHS, MACS_PER_SECOND, NB201Space, NB201Table, convert,
                                   estimated_training_seconds, network_cost, to_course, to_nb201)
from nascourse.compare import Run, returned_on_grid
from nascourse.compute import count_macs
from nascourse.spaces.base import ArchitectureError
from nascourse.strategies import RegularizedEvolution

NB201_EXAMPLE = "|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|skip_connect~2|"
COURSE_EXAMPLE = "|conv3x3~0|+|conv3x3~0|avgpool3x3~1|+|skip~0|conv3x3~1|skip~2|"
ALL_NONE = "|none~0|+|none~0|none~1|+|none~0|none~1|none~2|"
ALL_SKIP = "|skip_connect~0|+|skip_connect~0|skip_connect~1|+|skip_connect~0|skip_connect~1|skip_connect~2|"
HEADER = ["file id", "arch str", "cfg name", "C", "N", "train accuracy", "validation accuracy", "test accuracy"]


@pytest.fixture(scope="module")
def folder(nb201_folder) -> Path:
    return nb201_folder


@pytest.fixture(scope="module")
def cifar10(folder) -> NB201Table:
    return NB201Table.load(folder, "cifar10")


def _read_rows(path: Path) -> list[dict]:
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))


def _write(path: Path, rows: list[list], header=HEADER) -> Path:
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)
    return path


# ------------------------------------------------------------------------------------------- names and sizes
def test_names_map_both_ways_in_the_same_edge_order():
    assert to_course(NB201_EXAMPLE) == COURSE_EXAMPLE
    assert to_nb201(COURSE_EXAMPLE) == NB201_EXAMPLE
    assert to_nb201(NB201_EXAMPLE) == NB201_EXAMPLE
    space = NB201Space()
    cell = space.decode(to_course(NB201_EXAMPLE))  # decoding checks each edge's ~source against its place
    assert cell.edge(0, 1) == cell.edge(0, 2) == cell.edge(1, 3) == "conv3x3"
    assert cell.edge(1, 2) == "avgpool3x3" and cell.edge(0, 3) == cell.edge(2, 3) == "skip"
    assert to_nb201(cell) == NB201_EXAMPLE
    with pytest.raises(ArchitectureError):
        to_nb201("|nor_conv_3x3~1|+|none~0|none~1|+|none~0|none~1|none~2|")  # an edge from the wrong node


def test_the_space_has_nas_bench_201s_five_operations():
    space = NB201Space()
    assert space.operations == ("none", "skip", "conv1x1", "conv3x3", "avgpool3x3")
    assert (space.channels, space.cells_per_stage, space.count(), space.count_unique()) == (16, 5, 15_625, 4_660)


@pytest.mark.parametrize("cell, dataset", [
    (ALL_NONE, "cifar10"),
    ("|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|nor_conv_3x3~0|nor_conv_3x3~1|nor_conv_3x3~2|", "cifar10"),
    ("|nor_conv_1x1~0|+|none~0|none~1|+|skip_connect~0|none~1|nor_conv_3x3~2|", "cifar100"),  # a dead 3x3
    (NB201_EXAMPLE.replace("avg_pool_3x3~1", "nor_conv_1x1~1"), "ImageNet16-120"),
])
def test_closed_form_size_matches_the_built_network(cell, dataset):
    spec = DATASETS[dataset]
    shape = (3, spec.resolution, spec.resolution)
    network = NB201Space().build(to_course(cell), shape, spec.classes)
    parameters, macs = network_cost(NB201Space().decode(to_course(cell)).operations, dataset)
    assert int(parameters[0]) == sum(p.numel() for p in network.parameters())
    assert int(macs[0]) == count_macs(network, shape)
    assert network(torch.randn(2, *shape)).shape == (2, spec.classes)


# ------------------------------------------------------------------------------------------- the shared CSVs
def test_every_file_lists_the_whole_space_once(folder):
    space = NB201Space()
    everything = {str(a) for a in space.enumerate()}
    for spec in DATASETS.values():
        rows = _read_rows(folder / spec.file)
        assert len(rows) == 15_625
        assert {to_course(row["arch str"]) for row in rows} == everything
        assert all(to_nb201(to_course(row["arch str"])) == row["arch str"] for row in rows)  # round trip


def test_a_known_cell_answers_what_the_file_says(folder, cifar10):
    record = next(row for row in _read_rows(folder / "nasbench201_cifar10.csv") if row["arch str"] == NB201_EXAMPLE)
    cell = NB201Space().decode(COURSE_EXAMPLE)
    for form in (NB201_EXAMPLE, COURSE_EXAMPLE, cell):
        assert cifar10.row(form) == int(record["file id"])
        assert cifar10.mean_accuracy(form, "test") == pytest.approx(float(record["test accuracy"]) / 100)
        assert cifar10.mean_accuracy(form, "val") == pytest.approx(float(record["validation accuracy"]) / 100)
    assert len(cifar10) == 15_625 and "cifar10" in repr(cifar10)


def test_the_all_none_cell_is_at_chance_and_the_all_skip_cell_where_darts_collapses(cifar10):
    assert round(cifar10.mean_accuracy(ALL_NONE, "test") * 100, 2) == 10.00
    assert round(cifar10.mean_accuracy(ALL_SKIP, "test") * 100, 2) == 39.99
    assert round(cifar10.mean_accuracy(ALL_SKIP, "val") * 100, 2) == 39.77  # what NAS-Bench-201 reports for DARTS


def test_sizes_match_nas_bench_201s_reported_range(cifar10):
    assert (cifar10.parameters.min(), cifar10.parameters.max()) == (73_306, 1_531_546)  # 0.07 .. 1.53 MB
    assert round(cifar10.flops.min() / 1e6, 2) == 7.78 and round(cifar10.flops.max() / 1e6, 2) == 220.12


def test_equivalent_cells_keep_their_own_rows_and_share_a_class(cifar10):
    # node 1 feeds nothing (its edges to nodes 2 and 3 are none), so the operation into it does not matter
    dead_3x3 = "|nor_conv_3x3~0|+|none~0|none~1|+|skip_connect~0|none~1|none~2|"
    dead_pool = "|avg_pool_3x3~0|+|none~0|none~1|+|skip_connect~0|none~1|none~2|"
    space = cifar10.space
    assert space.equivalent(to_course(dead_3x3), to_course(dead_pool))
    assert cifar10.row(dead_3x3) != cifar10.row(dead_pool)  # NAS-Bench-201 trained each: two rows, two values
    assert cifar10.classes[cifar10.row(dead_3x3)] == cifar10.classes[cifar10.row(dead_pool)]
    rows = cifar10.equivalent_rows(dead_3x3)
    assert {cifar10.row(dead_3x3), cifar10.row(dead_pool)} <= set(rows.tolist())
    assert all(space.equivalent(cifar10.architectures[r], to_course(dead_3x3)) for r in rows)
    # dead convolutions still run in NAS-Bench-201's network, so equivalent cells differ in size
    assert cifar10.flops[cifar10.row(dead_3x3)] > cifar10.flops[cifar10.row(dead_pool)]
    assert cifar10.unique_count == 4_660  # the paper counts 6,466 with a narrower check: see the module


# ------------------------------------------------------------------------------------------- searches on it
def test_strategies_and_comparison_run_on_the_table_unchanged(cifar10):
    histories = []
    for seed in range(2):
        for strategy in (RandomSearch(cifar10.space, seed=seed),
                         RegularizedEvolution(cifar10.space, population_size=10, sample_size=3, seed=seed)):
            histories.append(run_search(cifar10.space, strategy, cifar10.evaluator(), 40, progress=False))
    for history in histories:
        assert len(history) == 40 and all(t.cost_epochs == EPOCHS for t in history)
        for trial in history:
            row = cifar10.row(trial.architecture)
            assert trial.accuracy == cifar10.val_accuracy[row]
            assert trial.cost_seconds == pytest.approx(cifar10.train_seconds[row])
        best = max(history, key=lambda t: t.accuracy)
        assert cifar10.returned_accuracy(history, split="test") == cifar10.mean_accuracy(best.architecture, "test")
    runs = [Run.from_history("search", i, history) for i, history in enumerate(histories)]
    grid = [1e3, 1e4, 1e6]
    values = returned_on_grid(runs, cifar10, grid, "test")
    assert values.shape == (4, 3) and np.all(np.isfinite(values[:, -1]))
    assert np.all((values[:, -1] > 0.1) & (values[:, -1] <= 1))


def test_the_cost_of_a_query_is_proportional_to_the_cells_macs(cifar10):
    result = cifar10.evaluator()(NB201_EXAMPLE)
    row = cifar10.row(NB201_EXAMPLE)
    expected = 3 * cifar10.flops[row] * 25_000 * EPOCHS / MACS_PER_SECOND
    assert result.cost_seconds == pytest.approx(expected)
    assert estimated_training_seconds(cifar10.flops[row]) == pytest.approx(expected)
    assert result.cost_epochs == EPOCHS and result.parameters == cifar10.parameters[row]


# ------------------------------------------------------------------------------------------- small CSVs, errors
def test_a_small_csv_loads_and_answers(tmp_path):
    rows = [[0, NB201_EXAMPLE, "infer.tiny", 16, 5, 99.9, 90.7, 90.5],
            [1, ALL_NONE, "infer.tiny", 16, 5, 10.0, 9.7, 10.0],
            [2, ALL_SKIP, "infer.tiny", 16, 5, 50.0, 39.77, 39.99]]
    file = _write(tmp_path / "nasbench201_cifar100.csv", rows)
    for table in (NB201Table.load(file), NB201Table.load(tmp_path, "cifar100")):
        assert len(table) == 3
        assert table.mean_accuracy(COURSE_EXAMPLE, "test") == pytest.approx(0.905)
        assert table.mean_accuracy(ALL_SKIP, "val") == pytest.approx(0.3977)
        assert table.evaluator()(ALL_NONE).accuracy == pytest.approx(0.097)
        with pytest.raises(BenchmarkError, match="not in this table"):
            table.row("|conv1x1~0|+|none~0|none~1|+|none~0|none~1|none~2|")
    assert NB201Table.load(tmp_path, "cifar100").parameters[0] > NB201Table.load(file).parameters[0]  # 100 classes


def test_only_the_four_columns_are_needed(tmp_path, monkeypatch):
    file = _write(tmp_path / "mine.csv", [[ALL_SKIP, 50, 39.77, 39.99]],
                  header=["arch str", "train accuracy", "validation accuracy", "test accuracy"])
    monkeypatch.setenv("NASCOURSE_NB201", str(file))
    assert NB201Table.load().mean_accuracy(to_course(ALL_SKIP), "test") == pytest.approx(0.3999)


@pytest.mark.parametrize("header, row, message", [
    (HEADER[:6] + HEADER[7:], [0, ALL_NONE, "x", 16, 5, 10.0, 10.0], "lacks the column"),
    (HEADER, [0, "|conv7x7~0|+|none~0|none~1|+|none~0|none~1|none~2|", "x", 16, 5, 1, 1, 1], "line 2"),
    (HEADER, [0, ALL_NONE, "x", 16, 5, "ten", 10.0, 10.0], "line 2"),
    (HEADER, [0, ALL_NONE, "x", 16, 5, 0.1, 1000.0, 10.0], "percentages"),
])
def test_a_malformed_csv_says_what_is_wrong(tmp_path, header, row, message):
    file = _write(tmp_path / "bad.csv", [row], header=header)
    with pytest.raises(BenchmarkError, match=message):
        NB201Table.load(file)


def test_a_missing_path_says_where_to_get_the_data(tmp_path, monkeypatch):
    with pytest.raises(BenchmarkError, match="No NAS-Bench-201 file") as error:
        NB201Table.load(tmp_path / "nowhere", "cifar10")
    assert "D-X-Y/NAS-Bench-201" in str(error.value) and "NATS-Bench" in str(error.value)
    monkeypatch.delenv("NASCOURSE_NB201", raising=False)
    with pytest.raises(BenchmarkError, match="NASCOURSE_NB201"):
        NB201Table.load()
    with pytest.raises(ValueError, match="ImageNet16-120"):
        NB201Table.load(tmp_path, "imagenet")


# ------------------------------------------------------------------------------------------- conversion
def test_convert_without_the_api_package_says_how_to_install_it(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "nas_201_api", None)  # import fails, as when the extra is not installed
    with pytest.raises(BenchmarkError, match=r"\.\[nb201\]"):
        convert(tmp_path / "NAS-Bench-201-v1_1-096897.pth", tmp_path / "out")


class _FakeAPI:
    """The three calls ``convert`` makes of NAS-Bench-201's (or NATS-Bench's) API."""

    cells = [NB201_EXAMPLE, ALL_SKIP]

    def __len__(self):
        return len(self.cells)

    def arch(self, index):
        return self.cells[index]

    def get_more_info(self, index, dataset, hp, is_random):
        assert hp == "200" and is_random is False and dataset in {"cifar10-valid", "cifar100", "ImageNet16-120"}
        return {"train-accuracy": 50.0 + index, "valid-accuracy": 40.0 + index, "test-accuracy": 30.0 + index}


def test_convert_writes_the_compact_form_the_table_reads(tmp_path):
    written = convert(None, tmp_path, api=_FakeAPI())
    assert [path.name for path in written] == [spec.file for spec in DATASETS.values()]
    table = NB201Table.load(tmp_path, "ImageNet16-120")
    assert len(table) == 2 and table.mean_accuracy(ALL_SKIP, "test") == pytest.approx(0.31)


def test_the_command_line_summarises_the_table(folder, capsys):
    from nascourse.cli import main

    assert main(["bench", "nb201-info", "--path", str(folder), "--dataset", "cifar100"]) == 0
    assert "cifar100: 15,625 cells, 4,660 classes" in capsys.readouterr().out
