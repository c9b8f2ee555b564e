"""The survey's comparison tables as data: Ren et al. (2021), "A Comprehensive Survey of Neural
Architecture Search: Challenges and Solutions", ACM Computing Surveys 54(4), Sec. 4, Table 1
(CIFAR-10) and Table 2 (ImageNet).

The tables live in ``data/survey/*.csv`` exactly as printed (``data/survey/README.md`` lists the
columns and every reading decision). ``load_survey_table`` reads one into a list of dicts and adds
a few derived keys so that both tables can be plotted and summarised the same way:

- ``table``: ``"cifar10"`` or ``"imagenet"``;
- ``year``: the publication year read off the venue (``"CVPR18"`` -> 2018);
- ``top1_error`` / ``top5_error``: Table 2 prints *accuracies*, so there they are ``100 - accuracy``
  (Table 1 prints the CIFAR-10 error itself and has no top-5);
- the optimisation-strategy marks of Sec. 3 (``modular``, ``continuous``, ``recycling``,
  ``incomplete``): Table 2 leaves them out because "the search strategy adopted by the corresponding
  NAS is consistent with Table 1", so they are copied from the Table 1 row with the same search
  method and reference number (``None`` where Table 1 has no such row, and for hand-designed nets);
- ``strategy``: the one mark a plot's marker shows (``STRATEGY_PRECEDENCE`` says which).

Numbers are floats, ``None`` where the table prints "-" or "N/A".
"""

from __future__ import annotations

import csv
import math
import statistics
from pathlib import Path
from typing import Iterable, Sequence

import matplotlib.pyplot as plt
from matplotlib.lines import Line2D
from matplotlib.transforms import Bbox
from matplotlib.ticker import FixedLocator, FuncFormatter, LogLocator, NullLocator

__all__ = [
    "TABLES",
    "KINDS",
    "STRATEGY_PRECEDENCE",
    "load_survey_table",
    "summarise_by_kind",
    "plot_cost_vs_error",
    "plot_params_vs_error",
]

SURVEY_DIR = Path(__file__).resolve().parent.parent / "data" / "survey"

TABLES = {
    "cifar10": ("table1_cifar10.csv", "Survey Table 1 (CIFAR-10)"),
    "imagenet": ("table2_imagenet.csv", "Survey Table 2 (ImageNet)"),
}

# The survey's row groups, in its order: hand-designed networks, then the five search methods.
KINDS = ("Human", "RL", "EA", "GO", "RS", "SMBO")
KIND_NAMES = {
    "Human": "hand-designed",
    "RL": "reinforcement learning",
    "EA": "evolution",
    "GO": "gradient (GO)",
    "RS": "random search",
    "SMBO": "model-based (SMBO)",
}
KIND_COLOURS = {
    "Human": "#7f7f7f",
    "RL": "#1f77b4",
    "EA": "#2ca02c",
    "GO": "#d62728",
    "RS": "#ff7f0e",
    "SMBO": "#9467bd",
}

_MARKER_SIZE = 60  # scatter size (points squared)

MARKS = ("modular", "continuous", "recycling", "incomplete")
# A row with several marks is drawn with the first of these it has: the rarer marks that define a
# family of methods (continuous relaxation, architecture recycling) win over the near-universal
# ones (modular cells, incomplete training). "global" = none of the four marks.
STRATEGY_PRECEDENCE = ("continuous", "recycling", "modular", "incomplete")
STRATEGY_MARKERS = {
    "continuous": "D",
    "recycling": "^",
    "modular": "s",
    "incomplete": "v",
    "global": "o",
    "unknown": "P",
    "hand-designed": "*",
}
STRATEGY_NAMES = {
    "continuous": "continuous search space",
    "recycling": "architecture recycle",
    "modular": "modular search (cells)",
    "incomplete": "incomplete training only",
    "global": "none (global search, full training)",
    "unknown": "not in Table 1",
    "hand-designed": "hand-designed",
}

_NUMBER_COLUMNS = ("top1_error", "top1_accuracy", "top5_accuracy", "params_millions", "image_size", "gpu_days")


def _number(text: str) -> float | None:
    return float(text) if text.strip() else None


def _boolean(text: str, where: str) -> bool:
    if text not in ("true", "false"):
        raise ValueError(f"{where}: expected 'true' or 'false', got {text!r}; is the CSV file damaged?")
    return text == "true"


def _year(venue: str) -> int:
    digits = venue[-2:]
    if not digits.isdigit():
        raise ValueError(f"venue {venue!r} does not end in a two-digit year")
    return 2000 + int(digits)


def _strategy(row: dict) -> str:
    if row["kind"] == "Human":
        return "hand-designed"
    if row["modular"] is None:
        return "unknown"
    return next((mark for mark in STRATEGY_PRECEDENCE if row[mark]), "global")


def _read_csv(which: str, folder: Path) -> list[dict]:
    path = folder / TABLES[which][0]
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing; it ships with the course in data/survey/.")
    with open(path, newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def load_survey_table(which: str, folder: str | Path | None = None) -> list[dict]:
    """One of the survey's comparison tables (Ren et al. 2021, Sec. 4) as a list of dict rows.

    ``which`` is ``"cifar10"`` (Table 1, 52 rows) or ``"imagenet"`` (Table 2, 27 rows). Every row
    has ``kind`` (``"Human"``, ``"RL"``, ``"EA"``, ``"GO"``, ``"RS"``, ``"SMBO"``), ``method`` and
    ``reference`` (the name and citation number as printed), ``venue``, ``year``, ``params_millions``,
    ``gpu_days``, ``top1_error``, ``top5_error``, the four marks, ``cutout`` and ``strategy``; the
    module docstring says which are derived. Missing values are ``None``.
    """
    if which not in TABLES:
        raise ValueError(f"which must be one of {sorted(TABLES)} (Table 1 = 'cifar10', Table 2 = 'imagenet'), got {which!r}.")
    folder = Path(folder) if folder is not None else SURVEY_DIR
    rows = []
    for number, raw in enumerate(_read_csv(which, folder), start=2):
        where = f"{TABLES[which][0]} line {number}"
        if raw["kind"] not in KINDS:
            raise ValueError(f"{where}: unknown kind {raw['kind']!r}; expected one of {KINDS}.")
        row = {"table": which, "kind": raw["kind"], "method": raw["method"], "reference": int(raw["reference"]),
               "venue": raw["venue"], "year": _year(raw["venue"])}
        for column in _NUMBER_COLUMNS:
            if column in raw:
                row[column] = _number(raw[column])
        if which == "cifar10":
            row["top5_error"] = None
            for mark in (*MARKS, "cutout"):
                row[mark] = _boolean(raw[mark], where)
        else:
            row["top1_error"] = None if row["top1_accuracy"] is None else round(100 - row["top1_accuracy"], 2)
            row["top5_error"] = None if row["top5_accuracy"] is None else round(100 - row["top5_accuracy"], 2)
            row["cutout"] = None  # Table 2 does not say
        rows.append(row)
    if which == "imagenet":
        _inherit_marks(rows, load_survey_table("cifar10", folder))
    for row in rows:
        row["strategy"] = _strategy(row)
    return rows


def _inherit_marks(rows: list[dict], table1: list[dict]) -> None:
    """Copy Sec. 3's marks from Table 1 by (search method, reference), as Table 2's caption says;
    ``None`` where Table 1 has no such row or its rows for that key disagree."""
    marks_by_key: dict[tuple[str, int], set] = {}
    for source in table1:
        marks_by_key.setdefault((source["kind"], source["reference"]), set()).add(tuple(source[m] for m in MARKS))
    for row in rows:
        found = marks_by_key.get((row["kind"], row["reference"]), set()) if row["kind"] != "Human" else set()
        marks = next(iter(found)) if len(found) == 1 else (None,) * len(MARKS)
        row.update(zip(MARKS, marks))


def summarise_by_kind(rows: Iterable[dict], metric: str = "top1_error") -> dict[str, dict]:
    """Per search method (row group): how many rows, and the median / best error and GPU days.

    Returns ``{kind: {"count", "median_error", "best_error", "median_gpu_days", "min_gpu_days",
    "costed"}}`` in the survey's group order; ``costed`` counts the rows whose GPU days are printed
    (medians skip missing values; ``None`` when a group has none).
    """
    rows = list(rows)
    summary = {}
    for kind in KINDS:
        group = [row for row in rows if row["kind"] == kind]
        if not group:
            continue
        errors = [row[metric] for row in group if row.get(metric) is not None]
        days = [row["gpu_days"] for row in group if row["gpu_days"] is not None]
        summary[kind] = {
            "count": len(group),
            "median_error": round(statistics.median(errors), 4) if errors else None,
            "best_error": min(errors) if errors else None,
            "median_gpu_days": round(statistics.median(days), 4) if days else None,
            "min_gpu_days": min(days) if days else None,
            "costed": len(days),
        }
    return summary


# --- plots ---------------------------------------------------------------------------------------

def _title(rows: Sequence[dict], what: str) -> str:
    tables = {row.get("table") for row in rows}
    name = TABLES[tables.pop()][1] if len(tables) == 1 and None not in tables else "Survey tables"
    return f"{name}: {what}"


def _error_label(rows: Sequence[dict], metric: str) -> str:
    dataset = {"cifar10": "CIFAR-10 ", "imagenet": "ImageNet "}.get(rows[0].get("table"), "") if rows else ""
    which = "top-5" if metric == "top5_error" else "top-1" if rows and rows[0].get("table") == "imagenet" else "test"
    return f"{dataset}{which} error (%)"


def _axes(ax):
    if ax is None:
        _, ax = plt.subplots(figsize=(8.5, 4.8), layout="constrained")
    return ax


def _scatter(ax, points: list[tuple[float, float, dict]]) -> None:
    """One scatter collection per (search method, strategy): colour by method, marker by strategy."""
    groups: dict[tuple[str, str], list[tuple[float, float]]] = {}
    for x, y, row in points:
        groups.setdefault((row["kind"], row["strategy"]), []).append((x, y))
    for (kind, strategy), xy in groups.items():
        marker = STRATEGY_MARKERS[strategy]
        ax.scatter(*zip(*xy), s=_MARKER_SIZE * (2.2 if marker == "*" else 1), marker=marker,
                   color=KIND_COLOURS[kind], edgecolor="white", linewidth=0.7, alpha=0.9, zorder=3)


def _legends(ax, rows: Sequence[dict], extra: Sequence[Line2D] = ()):
    kinds = [kind for kind in KINDS if any(row["kind"] == kind for row in rows)]
    colour_handles = [Line2D([], [], linestyle="", marker="o", markersize=8, color=KIND_COLOURS[kind],
                             label=f"{kind}: {KIND_NAMES[kind]}") for kind in kinds]
    strategies = [name for name in STRATEGY_MARKERS if any(row["strategy"] == name for row in rows)]
    marker_handles = [Line2D([], [], linestyle="", marker=STRATEGY_MARKERS[name], markersize=10 if name == "hand-designed" else 7,
                             color="#444444", label=STRATEGY_NAMES[name]) for name in strategies]
    marker_handles += list(extra)
    first = ax.legend(handles=colour_handles, title="search method (colour)", loc="upper left",
                      bbox_to_anchor=(1.01, 1.0), frameon=False, fontsize=8, title_fontsize=9, alignment="left")
    ax.add_artist(first)
    ax.legend(handles=marker_handles, title="strategy (marker; first of\ncontinuous > recycle > modular\n> incomplete)",
              loc="upper left", bbox_to_anchor=(1.01, 0.52), frameon=False, fontsize=8, title_fontsize=8,
              alignment="left")


def _pareto(points: list[tuple[float, float, dict]]) -> list[dict]:
    """The rows no other row beats on both axes (lower x and lower error)."""
    front, best = [], math.inf
    for x, y, row in sorted(points, key=lambda p: (p[0], p[1])):
        if y < best:
            front.append(row)
            best = y
    return front


# Where a label may go relative to its point (offset in points, alignment), tried in this order.
_LABEL_SPOTS = tuple((sx * dx, sy * dy, "left" if sx > 0 else "right", "top" if sy < 0 else "bottom")
                     for dx, dy in ((7, 3), (12, 9), (18, 16)) for sy in (-1, 1) for sx in (1, -1))


def _annotate(ax, placed: list[tuple[float, float, dict]], annotate) -> None:
    """Name some points: each label takes the first spot around its point where it covers neither
    an earlier label nor any marker (after the figure's layout is done, so the boxes are final)."""
    if annotate is None:
        return
    if annotate == "pareto":
        chosen_ids = {id(row) for row in _pareto(placed)}
        chosen = [p for p in placed if id(p[2]) in chosen_ids]
    else:
        chosen = [p for p in placed if p[2]["method"] in set(annotate)]
    figure = ax.figure
    figure.draw_without_rendering()  # run the layout so that display coordinates are final
    renderer = figure.canvas.get_renderer()
    radius = math.sqrt(_MARKER_SIZE) / 2 * figure.dpi / 72
    taken = []
    for collection in ax.collections:
        for cx, cy in ax.transData.transform(collection.get_offsets()):
            taken.append(Bbox.from_extents(cx - radius, cy - radius, cx + radius, cy + radius))
    style = dict(textcoords="offset points", fontsize=7.5, color="#222222", zorder=4,
                 bbox=dict(boxstyle="round,pad=0.1", facecolor="white", edgecolor="none", alpha=0.6))
    for x, y, row in sorted(chosen, key=lambda p: (p[0], p[1])):
        for dx, dy, ha, va in _LABEL_SPOTS:
            label = ax.annotate(row["method"], (x, y), xytext=(dx, dy), ha=ha, va=va, **style)
            box = label.get_window_extent(renderer)
            if not any(box.overlaps(other) for other in taken):
                break
            label.remove()
        else:  # crowded everywhere: the first spot, drawn under the markers so that none is hidden
            dx, dy, ha, va = _LABEL_SPOTS[0]
            label = ax.annotate(row["method"], (x, y), xytext=(dx, dy), ha=ha, va=va, **{**style, "zorder": 2.5})
            box = label.get_window_extent(renderer)
        taken.append(box)


def _draw_front(ax, placed: list[tuple[float, float, dict]], right: float) -> bool:
    """The lowest error reached for at most a given x, as a dashed step line; False if too few points."""
    front = [(x, y) for x, y, row in placed if id(row) in {id(r) for r in _pareto(placed)}]
    if len(front) < 2:
        return False
    xs, ys = zip(*sorted(front))
    ax.step([*xs, right], [*ys, ys[-1]], where="post", color="#555555", linestyle="--", linewidth=0.9,
            alpha=0.7, zorder=2)
    return True


def _strip(rows: list[dict], metric: str, centre: float) -> list[tuple[float, float, dict]]:
    """Points for a band at 10**centre on a log axis: sorted by error, alternately nudged left and
    right by 0.15 decades so that rows with close errors stay apart (a strip plot)."""
    ordered = sorted(rows, key=lambda row: row[metric])
    return [(10 ** (centre + (0.15 if k % 2 else -0.15)), row[metric], row) for k, row in enumerate(ordered)]


def plot_cost_vs_error(rows: Sequence[dict], ax=None, metric: str = "top1_error", annotate="pareto"):
    """Error against search cost (GPU days, log axis), as the survey's Sec. 4 compares NAS methods.

    Colour = search method (row group), marker = optimisation strategy (``STRATEGY_PRECEDENCE``
    picks one mark for a row with several). Rows without a search cost are not dropped: the
    hand-designed networks sit in a grey band left of the axis ("no search") and NAS rows whose
    cost the table gives as N/A in a band on the right ("not reported"). Rows without the error
    are left out and counted in the legend. A dashed step line is the Pareto front: the lowest
    error printed for at most that cost. ``annotate`` = ``"pareto"`` names the rows on that front,
    a list of method names names those rows, ``None`` names none.
    Returns the Axes; every drawn row is one point of one of its scatter collections.
    """
    rows = list(rows)
    ax = _axes(ax)
    shown = [row for row in rows if row.get(metric) is not None]
    costed = [row for row in shown if row["gpu_days"] is not None and row["gpu_days"] > 0]
    if costed:
        low = math.floor(math.log10(min(row["gpu_days"] for row in costed)))
        high = max(math.ceil(math.log10(max(row["gpu_days"] for row in costed))), low + 1)
    else:
        low, high = -1, 4
    hand = [row for row in shown if row["gpu_days"] is None and row["kind"] == "Human"]
    unreported = [row for row in shown if row["gpu_days"] is None and row["kind"] != "Human"]
    bands = ([(low - 1, "hand-\ndesigned\n(no search)")] if hand else []) + \
            ([(high + 1, "cost\nnot\nreported")] if unreported else [])

    placed = [(row["gpu_days"], row[metric], row) for row in costed]
    _scatter(ax, placed + _strip(hand, metric, low - 1) + _strip(unreported, metric, high + 1))

    ax.set_xscale("log")
    ax.set_xlim(10 ** (low - 1.5 if hand else low - 0.3), 10 ** (high + 1.5 if unreported else high + 0.3))
    for centre, label in bands:
        ax.axvspan(10 ** (centre - 0.5), 10 ** (centre + 0.5), color="#f0f0f0", zorder=0)
        ax.text(10 ** centre, 1.0, label, transform=ax.get_xaxis_transform(), ha="center", va="top",
                fontsize=7.5, color="#555555", linespacing=1.1)
    decades = list(range(low, high + 1))
    ax.xaxis.set_major_locator(FixedLocator([10.0 ** d for d in decades]))
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:,.10g}"))
    minor = [m * 10.0 ** d for d in decades[:-1] for m in range(2, 10)]
    ax.xaxis.set_minor_locator(FixedLocator(minor) if minor else NullLocator())
    ax.margins(y=0.12)
    bottom, top = ax.get_ylim()
    ax.set_ylim(bottom, top + 0.08 * (top - bottom))  # room for the band labels
    _finish(ax, rows, shown, placed, metric, annotate, right=10 ** (high + 0.5),
            xlabel="search cost (GPU days, log scale)", what="error vs. search cost", per="cost",
            missing_note=f"{len(rows) - len(shown)} rows without {metric}")
    return ax


def plot_params_vs_error(rows: Sequence[dict], ax=None, metric: str = "top1_error", annotate="pareto"):
    """Error against model size (millions of parameters, log axis), colour and marker as in
    ``plot_cost_vs_error``; hand-designed networks are stars among the others, and the dashed
    front is the lowest error printed for at most that size. Rows without #params or error are
    left out and counted in the legend. Returns the Axes.
    """
    rows = list(rows)
    ax = _axes(ax)
    shown = [row for row in rows if row.get(metric) is not None and row["params_millions"] is not None]
    placed = [(row["params_millions"], row[metric], row) for row in shown]
    _scatter(ax, placed)
    ax.set_xscale("log")
    ax.xaxis.set_major_locator(LogLocator(subs=(1, 2, 5)))
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:,.10g}"))
    ax.margins(x=0.08, y=0.08)
    ax.get_xlim()  # fix the limits before the front and the labels are placed
    _finish(ax, rows, shown, placed, metric, annotate, right=ax.get_xlim()[1],
            xlabel="model size (millions of parameters, log scale)", what="error vs. model size", per="size",
            missing_note=f"{len(rows) - len(shown)} rows without\n#params or {metric}")
    return ax


def _finish(ax, rows, shown, placed, metric, annotate, right, xlabel, what, per, missing_note):
    ax.set_autoscale_on(False)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(_error_label(rows, metric))
    ax.set_title(_title(rows, what))
    ax.grid(alpha=0.3, which="major")
    extra = []
    if _draw_front(ax, placed, right):
        extra.append(Line2D([], [], color="#555555", linestyle="--", linewidth=0.9,
                            label=f"lowest error for the {per}\n(Pareto front)"))
    if len(shown) < len(rows):
        extra.append(Line2D([], [], linestyle="", label=f"({missing_note} not shown)"))
    _legends(ax, shown, extra)
    _annotate(ax, placed, annotate)
