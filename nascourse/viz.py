"""Plots shared by every chapter: anytime curves and architecture drawings.

The anytime curve is how the course compares search methods (survey Sec. 4 compares them
by accuracy *and* GPU days): the best validation accuracy found so far, against the compute
spent to find it. Every chapter draws it with ``plot_anytime`` from a ``History``.
"""

from __future__ import annotations

import warnings
from typing import Mapping, Sequence, Union

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.patches import FancyArrowPatch, FancyBboxPatch

from .loop import History
from .recycling.network import BranchUnit
from .spaces.cell201 import EDGES, Cell201Architecture
from .spaces.chain import ChainArchitecture
from .spaces.darts_genotype import Genotype

__all__ = ["plot_anytime", "draw_chain", "draw_units", "draw_cell", "anytime_on_grid", "draw_genet"]

COST_LABELS = {
    "seconds": "compute spent (training seconds)",
    "epochs": "compute spent (training epochs)",
    "trials": "architectures evaluated",
}

Runs = Union[History, Sequence[History], Mapping[str, Union[History, Sequence[History]]]]


def _as_groups(runs: Runs) -> dict[str, list[History]]:
    if isinstance(runs, History):
        return {"search": [runs]}
    if isinstance(runs, Mapping):
        return {label: [r] if isinstance(r, History) else list(r) for label, r in runs.items()}
    return {"search": list(runs)}


def plot_anytime(runs: Runs, cost: str = "seconds", ax=None, title: str | None = None, band: str = "range"):
    """Best accuracy found so far vs. compute spent.

    ``runs`` is one ``History``, a list of them (repeats of one method with different seeds),
    or a mapping from a method's label to either. Repeats are drawn as their median on a common
    grid of cost, with a band from the worst to the best repeat (``band="range"``) or over the
    middle half of them (``band="quartiles"``, better for many seeds).
    """
    if cost not in COST_LABELS:
        raise ValueError(f"cost must be one of {sorted(COST_LABELS)}, got {cost!r}.")
    if band not in ("range", "quartiles"):
        raise ValueError(f"band must be 'range' or 'quartiles', got {band!r}.")
    ax = ax or plt.subplots(figsize=(7, 4))[1]
    groups = {label: [h for h in histories if len(h)] for label, histories in _as_groups(runs).items()}
    ends = [h.anytime(cost)[0][-1] for histories in groups.values() for h in histories]
    grid = np.linspace(0, max(ends, default=1.0), 300)
    for label, histories in groups.items():
        if len(histories) == 1:
            spent, best = histories[0].anytime(cost)
            ax.step(spent, best, where="post", marker=".", label=label)
            continue
        if not histories:
            continue
        stacked = anytime_on_grid(histories, grid, cost)
        with warnings.catch_warnings():  # columns before any repeat's first trial are all NaN: left blank
            warnings.simplefilter("ignore", RuntimeWarning)
            median = np.nanmedian(stacked, axis=0)
            low, high = np.nanpercentile(stacked, [25, 75] if band == "quartiles" else [0, 100], axis=0)
        line = ax.plot(grid, median, label=f"{label} (median of {len(histories)})")[0]
        ax.fill_between(grid, low, high, color=line.get_color(), alpha=0.2, linewidth=0)
    ax.set_xlabel(COST_LABELS[cost])
    ax.set_ylabel("best validation accuracy so far")
    ax.set_title(title or "Anytime performance")
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right")
    return ax


def draw_chain(architecture: ChainArchitecture, ax=None, title: str | None = None):
    """Draw a chain architecture left to right: z^(0) (input), each layer, the classifier; skips as arcs."""
    names = ["input\nz(0)"] + [
        f"{layer.operation}" + (f"\n{layer.channels} ch" if layer.channels else "") for layer in architecture.layers
    ] + ["avg pool\n+ linear"]
    width = max(6.0, 1.6 * len(names))
    ax = ax or plt.subplots(figsize=(width, 2.6))[1]
    colours = {"conv": "#8ecae6", "maxp": "#ffb703", "avgp": "#fb8500"}
    for i, name in enumerate(names):
        kind = name[:4]
        face = colours.get(kind, "#dddddd")
        ax.add_patch(FancyBboxPatch((i * 1.6 - 0.6, -0.35), 1.2, 0.7, boxstyle="round,pad=0.05", fc=face, ec="black"))
        ax.text(i * 1.6, 0, name, ha="center", va="center", fontsize=8)
        if i:
            ax.add_patch(FancyArrowPatch(((i - 1) * 1.6 + 0.65, 0), (i * 1.6 - 0.65, 0), arrowstyle="-|>", mutation_scale=10))
    for i, layer in enumerate(architecture.layers, start=1):
        for k in layer.skips:  # z^(k) -> input of layer i (Eq. 2)
            ax.add_patch(
                FancyArrowPatch(
                    (k * 1.6, 0.4), (i * 1.6, 0.4), connectionstyle=f"arc3,rad=-{0.25 + 0.05 * (i - k)}",
                    arrowstyle="-|>", mutation_scale=10, color="#d62828",
                )
            )
    ax.set_xlim(-0.9, (len(names) - 1) * 1.6 + 0.9)
    ax.set_ylim(-0.6, 1.2 + 0.2 * len(architecture.layers) * any(l.skips for l in architecture.layers))
    ax.set_aspect("equal")
    ax.axis("off")
    ax.set_title(title or str(architecture), fontsize=9)
    return ax


def draw_units(net, ax=None, title: str | None = None):
    """Draw a recyclable network (chapter 04) unit by unit; a multi-branch unit shows its branches stacked."""
    ax = ax or plt.subplots(figsize=(2.2 * len(net.units) + 1, 2.8))[1]
    for column, unit in enumerate(net.units):
        parts = list(unit.branches) if isinstance(unit, BranchUnit) else [unit]
        for row, part in enumerate(parts):
            y = (row - (len(parts) - 1) / 2) * 0.9
            label = part.describe() if hasattr(part, "describe") else type(part).__name__
            face = "#8ecae6" if "conv" in label else "#ffb703"
            ax.add_patch(FancyBboxPatch((column * 2.2 - 0.95, y - 0.35), 1.9, 0.7, boxstyle="round,pad=0.02", fc=face, ec="black"))
            ax.text(column * 2.2, y, label, ha="center", va="center", fontsize=7)
        if isinstance(unit, BranchUnit):
            ax.text(column * 2.2, -0.45 * len(parts) - 0.3, f"merge: {unit.merge}", ha="center", fontsize=7)
        if column:
            ax.add_patch(FancyArrowPatch(((column - 1) * 2.2 + 0.97, 0), (column * 2.2 - 0.97, 0), arrowstyle="-|>", mutation_scale=8))
    ax.set_xlim(-1.2, len(net.units) * 2.2 - 1.0)
    ax.set_ylim(-2, 2)
    ax.axis("off")
    ax.set_title(title or net.describe(), fontsize=9)
    return ax


# ---------------------------------------------------------------------------------------------------
# Cells as graphs (chapter 02) and anytime curves with quartile bands.

_OPERATION_COLOURS = {
    "sep_conv": "#8ecae6", "dil_conv": "#90e0b0", "conv_7x1": "#cdb4db", "conv": "#8ecae6",
    "max_pool": "#ffb703", "avg_pool": "#fb8500", "avgpool": "#fb8500", "skip": "#bbbbbb", "none": "#eeeeee",
}


def _operation_colour(name: str) -> str:
    for prefix, colour in _OPERATION_COLOURS.items():
        if name.startswith(prefix):
            return colour
    return "#dddddd"


def _draw_node(ax, xy, label, face):
    ax.add_patch(FancyBboxPatch((xy[0] - 0.42, xy[1] - 0.24), 0.84, 0.48, boxstyle="round,pad=0.04",
                                fc=face, ec="black", zorder=3))
    ax.text(xy[0], xy[1], label, ha="center", va="center", fontsize=8, zorder=4)


def _draw_edge(ax, start, end, label, rad, dashed=False):
    """An arrow from ``start`` to ``end`` bent by ``rad`` (matplotlib's arc3), its operation written on it."""
    colour = "#888888" if dashed else "black"
    ax.add_patch(FancyArrowPatch(start, end, connectionstyle=f"arc3,rad={rad}", arrowstyle="-|>", mutation_scale=9,
                                 shrinkA=16, shrinkB=16, lw=0.9, color=colour, linestyle="--" if dashed else "-",
                                 zorder=1))
    if label:
        (x0, y0), (x1, y1) = start, end
        # the quadratic curve of arc3 passes through midpoint + rad/2 * (dy, -dx) at its middle
        x, y = (x0 + x1) / 2 + rad / 2 * (y1 - y0), (y0 + y1) / 2 - rad / 2 * (x1 - x0)
        ax.text(x, y, label, ha="center", va="center", fontsize=6.5, zorder=5,
                bbox=dict(boxstyle="round,pad=0.15", fc=_operation_colour(label), ec="none", alpha=0.95))


def draw_cell(cell, kind: str = "normal", ax=None, title: str | None = None):
    """Draw a cell as a graph: its inputs, its nodes, each edge's operation, and what it outputs.

    ``cell`` is a ``Genotype`` (NASNet/DARTS cells: inputs c_{k-2} and c_{k-1}, intermediate nodes that add
    their two edges, the concatenation of ``concat`` as output c_{k}; ``kind`` picks "normal" or "reduce"),
    or a ``Cell201Architecture`` (NAS-Bench-201 cells: node 0 is the input, node 3 the output; ``none``
    edges are left out).
    """
    if isinstance(cell, Cell201Architecture):
        ax = ax or plt.subplots(figsize=(6.5, 2.8))[1]
        positions = {0: (0.0, 0.0), 1: (1.8, 0.9), 2: (3.6, -0.9), 3: (5.4, 0.0)}
        names = {0: "input", 1: "node 1", 2: "node 2", 3: "output"}
        for node, xy in positions.items():
            _draw_node(ax, xy, names[node], "#f2e8cf" if node in (0, 3) else "white")
        for op, (source, target) in zip(cell.operations, EDGES):
            if op != "none":
                _draw_edge(ax, positions[source], positions[target], op, rad=0.18 if target - source > 1 else 0.0)
        ax.set_xlim(-0.7, 6.1)
        ax.set_ylim(-1.7, 1.7)
        ax.set_aspect("equal")
        ax.axis("off")
        ax.set_title(title or str(cell), fontsize=8)
        return ax
    if not isinstance(cell, Genotype):
        raise TypeError(f"draw_cell draws a Genotype or a Cell201Architecture, got {type(cell).__name__}.")
    edges, concat = cell.cell(kind)
    if not edges:
        raise ValueError(f"This genotype has no {kind} cell to draw (its {kind} list is empty).")
    nodes = len(edges) // 2
    step = 2.6  # horizontal distance between nodes
    ax = ax or plt.subplots(figsize=(0.95 * step * (nodes + 1) + 1.5, 4.2))[1]
    # NASNet's way of drawing a cell: every edge's operation is a box that feeds the node adding the two.
    positions = {0: (0.0, 1.5), 1: (0.0, -1.5)}
    for node in range(nodes):
        positions[node + 2] = (step * (node + 1), 0.75 if node % 2 == 0 else -0.75)
    output = (step * (nodes + 1), 0.0)
    _draw_node(ax, positions[0], "$c_{k-2}$", "#f2e8cf")
    _draw_node(ax, positions[1], "$c_{k-1}$", "#f2e8cf")
    for node in range(nodes):
        x, y = positions[node + 2]
        ax.add_patch(plt.Circle((x, y), 0.22, fc="white", ec="black", zorder=3))
        ax.text(x, y, "+", ha="center", va="center", fontsize=10, zorder=4)
        ax.text(x + 0.3, y, str(node + 2), ha="left", va="center", fontsize=8, fontweight="bold", zorder=4)
        for side, (op, source) in zip((1, -1), (edges[2 * node], edges[2 * node + 1])):
            box = (x - 1.15, y + 0.42 * side)
            sx, sy = positions[source]
            bend = 0.0 if abs(box[0] - sx) < step else 0.25 * (1 if sy >= box[1] else -1)
            ax.add_patch(FancyArrowPatch((sx, sy), (box[0] - 0.55, box[1]), connectionstyle=f"arc3,rad={bend}",
                                         arrowstyle="-", lw=0.8, color="#555555", shrinkA=14, shrinkB=0, zorder=1))
            ax.add_patch(FancyArrowPatch((box[0] + 0.55, box[1]), (x, y), arrowstyle="-|>", mutation_scale=8,
                                         lw=0.8, color="black", shrinkA=0, shrinkB=8, zorder=2))
            ax.text(box[0], box[1], op, ha="center", va="center", fontsize=7, zorder=5,
                    bbox=dict(boxstyle="round,pad=0.25", fc=_operation_colour(op), ec="black", lw=0.5))
    _draw_node(ax, output, "$c_{k}$\nconcat", "#f2e8cf")
    for node in concat:
        _draw_edge(ax, positions[node], output, "", rad=0.0, dashed=True)
    ax.set_xlim(-0.7, output[0] + 0.7)
    ax.set_ylim(-2.1, 2.1)
    ax.set_aspect("equal")
    ax.axis("off")
    ax.set_title(title or f"{kind} cell (output: concat of nodes {list(concat)})", fontsize=9)
    return ax


def anytime_on_grid(histories: Sequence[History], grid: np.ndarray, cost: str = "seconds") -> np.ndarray:
    """Best-so-far accuracy of each history at each cost in ``grid``: (runs, len(grid)); NaN before a
    run's first finished trial. (Best-so-far is a step function: at cost c it is the best trial done by c.)"""
    rows = []
    for history in histories:
        spent, best = history.anytime(cost)
        index = np.searchsorted(spent, grid, side="right") - 1
        rows.append(np.where(index >= 0, best[np.clip(index, 0, None)], np.nan))
    return np.array(rows)


def draw_genet(space, architecture, ax=None, title: str | None = None):
    """Draw a GeNet code decoded (chapter 01): each stage's nodes left to right, v0 (default input) to
    v(K+1) (default output), its connections as arcs, isolated nodes greyed out; pooling between stages."""
    architecture = space.as_architecture(architecture)
    graphs = space.stage_graphs(architecture)
    total = sum(k + 2 for k in space.nodes_per_stage) + len(graphs) - 1
    ax = ax or plt.subplots(figsize=(max(6.0, 1.1 * total), 2.6))[1]
    x = 0.0
    for s, (edges, nodes) in enumerate(zip(graphs, space.nodes_per_stage)):
        if s:
            ax.add_patch(FancyBboxPatch((x - 0.35, -0.25), 0.7, 0.5, boxstyle="round,pad=0.03", fc="#ffb703", ec="black"))
            ax.text(x, 0, "pool", ha="center", va="center", fontsize=7)
            for start, end in (((x - 0.8, 0), (x - 0.37, 0)), ((x + 0.37, 0), (x + 0.8, 0))):
                ax.add_patch(FancyArrowPatch(start, end, arrowstyle="-|>", mutation_scale=8))
            x += 1.1
        kept = {node for edge in edges for node in edge}
        for node in range(nodes + 2):
            face = "#8ecae6" if node in kept else "#eeeeee"
            ax.add_patch(FancyBboxPatch((x + node - 0.3, -0.25), 0.6, 0.5, boxstyle="round,pad=0.03", fc=face,
                                        ec="black" if node in kept else "#bbbbbb"))
            ax.text(x + node, 0, f"v{node}", ha="center", va="center", fontsize=7,
                    color="black" if node in kept else "#999999")
        for source, target in edges:
            rad = 0.0 if target == source + 1 else -0.35 - 0.05 * (target - source)
            ax.add_patch(FancyArrowPatch((x + source + 0.3 * (rad == 0), 0.25 * (rad != 0)),
                                         (x + target - 0.3 * (rad == 0), 0.25 * (rad != 0)),
                                         connectionstyle=f"arc3,rad={rad}", arrowstyle="-|>", mutation_scale=8))
        ax.text(x + (nodes + 1) / 2, -0.6, f"stage {s + 1}: {'-'.join(str(architecture).split('|')[s:s + 1])}",
                ha="center", fontsize=8)
        x += nodes + 2 + 0.1
    ax.set_xlim(-0.6, x - 0.4)
    ax.set_ylim(-0.8, 1.4)
    ax.set_aspect("equal")
    ax.axis("off")
    ax.set_title(title or f"GeNet code {architecture}", fontsize=9)
    return ax
