"""The survey's Tables 1 and 2 as data (Ren et al. 2021, Sec. 4): nascourse.literature and data/survey/."""

import re
from pathlib import Path

import matplotlib.pyplot as plt
import pytest
from matplotlib.collections import PathCollection

from nascourse import literature
from nascourse.literature import load_survey_table, plot_cost_vs_error, plot_params_vs_error, summarise_by_kind

SURVEY_MD = Path(__file__).resolve().parents[2] / "shared" / "survey" / "ren-et-al-2020-nas-survey.md"


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def by_method(rows, method, **where):
    found = [r for r in rows if r["method"] == method and all(r[k] == v for k, v in where.items())]
    assert len(found) == 1, f"expected one row {method!r} {where}, found {len(found)}"
    return found[0]


def points_drawn(ax):
    return sum(len(c.get_offsets()) for c in ax.collections if isinstance(c, PathCollection))


# --- (a) the transcription: counts and values as printed ---------------------------------------

def test_every_row_of_both_tables_is_there_in_its_group():
    cifar, imagenet = load_survey_table("cifar10"), load_survey_table("imagenet")
    assert len(cifar) == 52
    assert len(imagenet) == 27
    count = lambda rows, kind: sum(r["kind"] == kind for r in rows)
    assert [count(cifar, k) for k in literature.KINDS] == [6, 11, 7, 17, 6, 5]
    assert [count(imagenet, k) for k in literature.KINDS] == [5, 5, 4, 10, 1, 2]


def test_table1_values_as_printed():
    rows = load_survey_table("cifar10")
    nasnet = by_method(rows, "NASNet-A")
    assert (nasnet["kind"], nasnet["reference"], nasnet["top1_error"], nasnet["params_millions"],
            nasnet["gpu_days"]) == ("RL", 31, 3.41, 3.3, 2000.0)
    assert (nasnet["modular"], nasnet["continuous"], nasnet["recycling"], nasnet["incomplete"], nasnet["cutout"]) == \
        (True, False, False, False, False)
    assert by_method(rows, "NASNet-A + Cutout")["top1_error"] == 2.65
    assert by_method(rows, "NASNet-A + Cutout")["cutout"] is True
    darts = by_method(rows, "DARTS (2nd order) + Cutout")
    assert (darts["kind"], darts["top1_error"], darts["params_millions"], darts["gpu_days"]) == ("GO", 2.76, 3.3, 4.0)
    assert (darts["modular"], darts["continuous"], darts["recycling"], darts["incomplete"]) == (True, True, False, True)
    assert by_method(rows, "DARTS (1st order) + Cutout")["gpu_days"] == 1.5
    enas = by_method(rows, "ENAS + micro")
    assert (enas["top1_error"], enas["params_millions"], enas["gpu_days"]) == (3.54, 4.6, 0.5)
    assert by_method(rows, "ENAS + macro")["modular"] is False
    assert by_method(rows, "NAS-RL")["gpu_days"] == 22400.0  # printed "22,400"
    assert by_method(rows, "NAO-Cutout")["cutout"] is True  # "-Cutout", not "+ Cutout"
    assert by_method(rows, "Path-level EAS")["recycling"] is True


def test_table1_rows_printed_without_their_group_belong_to_the_group_above():
    rows = load_survey_table("cifar10")
    assert by_method(rows, "FPNAS + Cutout")["kind"] == "RL"
    assert by_method(rows, "AmoebaNet")["kind"] == "EA"
    assert by_method(rows, "AmoebaNet")["gpu_days"] == 3150.0
    assert by_method(rows, "GDAS-NSAS")["kind"] == "GO"
    pc = by_method(rows, "PC-DARTS + Cutout")
    assert (pc["kind"], pc["top1_error"], pc["params_millions"], pc["gpu_days"]) == ("GO", 2.57, 3.6, 0.1)


def test_missing_values_are_none():
    cifar = load_survey_table("cifar10")
    assert all(r["gpu_days"] is None for r in cifar if r["kind"] == "Human")  # printed "-"
    assert by_method(cifar, "GeNet")["params_millions"] is None  # printed "N/A"
    assert by_method(cifar, "ProxlessNAS-G + Cutout")["gpu_days"] is None
    assert all(r["top5_error"] is None for r in cifar)  # CIFAR-10 has no top-5
    imagenet = load_survey_table("imagenet")
    assert by_method(imagenet, "FPNAS")["top5_error"] is None  # "73.3/N/A"
    assert by_method(imagenet, "Block-QNN")["params_millions"] is None


def test_table2_prints_accuracies_and_the_loader_turns_them_into_errors():
    rows = load_survey_table("imagenet")
    nasnet = by_method(rows, "NASNet-A")  # 74.0/91.6
    assert (nasnet["top1_accuracy"], nasnet["top5_accuracy"]) == (74.0, 91.6)
    assert (nasnet["top1_error"], nasnet["top5_error"]) == (26.0, 8.4)
    darts = by_method(rows, "DARTS")
    assert (darts["top1_error"], darts["params_millions"], darts["image_size"], darts["gpu_days"]) == (26.7, 4.7, 224.0, 4.0)
    assert by_method(rows, "SGAS")["top1_error"] == 24.38  # 75.62
    assert by_method(rows, "AmoebaNet", params_millions=469.0)["top1_error"] == 16.1


def test_table2_takes_its_strategy_marks_from_table1():
    rows = load_survey_table("imagenet")
    assert all(r[m] is None for r in rows if r["kind"] == "Human" for m in literature.MARKS)
    assert all(r[m] is not None for r in rows if r["kind"] != "Human" for m in literature.MARKS)
    assert by_method(rows, "DARTS")["continuous"] is True
    assert by_method(rows, "ProxylessNAS")["modular"] is False  # the GO row of [103]: ProxlessNAS-G
    assert by_method(rows, "Path-level EAS")["strategy"] == "recycling"
    assert by_method(rows, "GeNet")["strategy"] == "global"


def test_derived_year_and_strategy():
    rows = load_survey_table("cifar10")
    assert by_method(rows, "NASNet-A")["year"] == 2018
    assert by_method(rows, "Neuro-Cell-based Evolution + Cutout")["year"] == 2018  # "ECML PKDD18"
    # several marks: continuous beats recycling beats modular beats incomplete
    assert by_method(rows, "Neuro-Cell-based Evolution + Cutout")["strategy"] == "recycling"
    assert by_method(rows, "DARTS (2nd order) + Cutout")["strategy"] == "continuous"
    assert by_method(rows, "PNAS")["strategy"] == "modular"
    assert by_method(rows, "Large-scale Evolution")["strategy"] == "incomplete"
    assert by_method(rows, "NAS-RL")["strategy"] == "global"
    assert by_method(rows, "WRN")["strategy"] == "hand-designed"


# --- (b) the CSV against the survey's own text ---------------------------------------------------

def parse_survey_table(text: str, caption: str):
    """The tab-separated table after the line starting with ``caption``: one dict per row with the
    group, the printed name, the marks (Table 1) and the last numeric cells."""
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(caption))
    table, kind = [], None
    for line in lines[start + 1:]:
        if "\t" not in line:
            if table:
                break
            continue
        cells = line.split("\t")
        if cells[0] in literature.KINDS:
            kind = cells[0]
        name_cell = next((c for c in cells if re.search(r"\[\d+\]\s*$", c)), None)
        if name_cell is None:  # the header lines
            continue
        name, reference = re.fullmatch(r"\s*(.*?)\s*\[(\d+)\]\s*", name_cell).groups()
        after_name = cells[cells.index(name_cell) + 1:]
        values = [c for c in after_name[1:] if c.strip() and c.strip() != "✓"]
        table.append({"kind": kind, "name": name, "reference": int(reference), "cells": after_name, "values": values})
    return table


def number(cell: str):
    cell = cell.strip()
    return None if cell in ("-", "N/A") else float(cell.replace(",", ""))


def squash(name: str) -> str:
    return re.sub(r"\\text|[^A-Za-z0-9]", "", name).lower()


@pytest.fixture(scope="module")
def survey_text():
    if not SURVEY_MD.is_file():
        pytest.skip(f"the survey's text is not here ({SURVEY_MD}); it lives in the course's shared folder, "
                    "which a bare checkout (CI) does not have")
    return SURVEY_MD.read_text(encoding="utf-8")


def test_table1_csv_matches_the_survey_text(survey_text):
    printed = parse_survey_table(survey_text, "Table 1.")
    rows = load_survey_table("cifar10")
    assert len(printed) == len(rows) == 52
    for source, row in zip(printed, rows):
        assert (row["kind"], squash(row["method"]), row["reference"]) == \
            (source["kind"], squash(source["name"]), source["reference"])
        error, params, days = source["values"][-3:]
        assert (row["top1_error"], row["params_millions"], row["gpu_days"]) == (number(error), number(params), number(days)), row["method"]
        marks = [c.strip() == "✓" for c in source["cells"][1:5]]  # the four cells after the venue
        assert [row[m] for m in literature.MARKS] == marks, row["method"]
        assert row["venue"] == source["cells"][0]


def test_table2_csv_matches_the_survey_text(survey_text):
    printed = parse_survey_table(survey_text, "Table 2.")
    rows = load_survey_table("imagenet")
    assert len(printed) == len(rows) == 27
    for source, row in zip(printed, rows):
        assert (row["kind"], squash(row["method"]), row["reference"]) == \
            (source["kind"], squash(source["name"]), source["reference"])
        accuracies, params, size, days = source["values"][-4:]
        top1, top5 = accuracies.split("/", 1)
        assert (row["top1_accuracy"], row["top5_accuracy"]) == (number(top1), number(top5)), row["method"]
        assert (row["params_millions"], row["image_size"], row["gpu_days"]) == (number(params), number(size), number(days))


# --- (c) clear errors ----------------------------------------------------------------------------

def test_a_bad_table_name_says_which_names_exist():
    with pytest.raises(ValueError, match="cifar10.*imagenet"):
        load_survey_table("cifar100")


def test_a_missing_or_damaged_file_is_reported(tmp_path):
    with pytest.raises(FileNotFoundError, match="table1_cifar10.csv"):
        load_survey_table("cifar10", folder=tmp_path)
    source = literature.SURVEY_DIR / "table1_cifar10.csv"
    damaged = source.read_text(encoding="utf-8").replace("RL,NAS-RL,11,ICLR17,false", "RL,NAS-RL,11,ICLR17,yes", 1)
    (tmp_path / "table1_cifar10.csv").write_text(damaged, encoding="utf-8")
    with pytest.raises(ValueError, match="line 8.*'yes'"):
        load_survey_table("cifar10", folder=tmp_path)


# --- summaries -----------------------------------------------------------------------------------

def test_summarise_by_kind_counts_and_medians_skip_missing_values():
    rows = [
        {"kind": "RL", "top1_error": 3.0, "gpu_days": 100.0},
        {"kind": "RL", "top1_error": 5.0, "gpu_days": None},
        {"kind": "RL", "top1_error": 4.0, "gpu_days": 2000.0},
        {"kind": "GO", "top1_error": None, "gpu_days": 1.0},
    ]
    summary = summarise_by_kind(rows)
    assert list(summary) == ["RL", "GO"]  # the survey's order, groups without rows left out
    assert summary["RL"] == {"count": 3, "median_error": 4.0, "best_error": 3.0, "median_gpu_days": 1050.0,
                             "min_gpu_days": 100.0, "costed": 2}
    assert summary["GO"]["median_error"] is None and summary["GO"]["median_gpu_days"] == 1.0


def test_summary_of_table1():
    summary = summarise_by_kind(load_survey_table("cifar10"))
    assert sum(s["count"] for s in summary.values()) == 52
    assert summary["Human"]["median_gpu_days"] is None
    assert summary["GO"]["min_gpu_days"] == 0.1  # PC-DARTS
    assert summary["SMBO"]["best_error"] == 2.11  # NAO-Cutout


# --- (d) plots -----------------------------------------------------------------------------------

@pytest.mark.parametrize("which", ["cifar10", "imagenet"])
def test_cost_plot_draws_every_row_once(which):
    rows = load_survey_table(which)
    ax = plot_cost_vs_error(rows)
    assert points_drawn(ax) == len(rows)  # hand-designed and cost-N/A rows sit in their bands
    assert ax.get_xscale() == "log"
    assert "GPU days" in ax.get_xlabel() and "(%)" in ax.get_ylabel()
    assert ("Table 1" if which == "cifar10" else "Table 2") in ax.get_title()


@pytest.mark.parametrize("which", ["cifar10", "imagenet"])
def test_params_plot_draws_every_row_with_a_size(which):
    rows = load_survey_table(which)
    ax = plot_params_vs_error(rows)
    assert points_drawn(ax) == sum(r["params_millions"] is not None for r in rows)
    assert ax.get_xscale() == "log" and "parameters" in ax.get_xlabel()


def test_plots_draw_on_a_given_axes_and_survive_missing_values():
    rows = [r for r in load_survey_table("cifar10") if r["kind"] in ("Human", "GO")]
    rows[-1] = {**rows[-1], "top1_error": None}
    rows[-2] = {**rows[-2], "params_millions": None, "gpu_days": None}
    _, (left, right) = plt.subplots(1, 2)
    assert plot_cost_vs_error(rows, ax=left, annotate=["SGAS"]) is left
    assert points_drawn(left) == len(rows) - 1
    assert plot_params_vs_error(rows, ax=right, annotate=None) is right
    assert points_drawn(right) == sum(r["params_millions"] is not None and r["top1_error"] is not None for r in rows)
    assert [t.get_text() for t in left.texts if t.get_text() == "SGAS"] == ["SGAS"]
    only_hand = [r for r in rows if r["kind"] == "Human"]
    assert points_drawn(plot_cost_vs_error(only_hand)) == len(only_hand)  # no costed row at all
