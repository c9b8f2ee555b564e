"""Plots of a relaxation search: the operation strengths per edge, and a search's derived cells over epochs."""

from __future__ import annotations

from typing import Sequence

import matplotlib.pyplot as plt
import numpy as np

from .mixing import node_slices

__all__ = ["edge_labels", "plot_strengths", "plot_collapse"]


def edge_labels(node_edges: Sequence[int], first_node: int = 2) -> list[str]:
    """'source→node' for each edge, edges grouped by node: DARTS's (2, 3) gives 0→2, 1→2, 0→3, 1→3, 2→3.

    ``first_node`` is the number of the first node that has incoming edges (2 in a DARTS cell, whose
    nodes 0 and 1 are its inputs; 1 in the benchmark's cell, whose node 0 is the input)."""
    return [f"{source}→{first_node + node}" for node, rows in enumerate(node_slices(node_edges))
            for source in range(rows.stop - rows.start)]


def plot_strengths(strengths, operations: Sequence[str], node_edges: Sequence[int], ax=None, title: str | None = None,
                   relative: bool = True, first_node: int = 2, limit: float | None = None):
    """A heatmap of (edges, operations) strengths, one row per edge.

    With ``relative`` the colour is the strength minus the uniform share 1 / operations on a diverging
    scale centred at 0: early in a search every weight is close to uniform, and the departures are
    what the search has learned. ``limit`` fixes the colour scale (to compare epochs); each cell also
    prints the strength itself.
    """
    values = np.asarray(strengths, dtype=float)
    if values.shape != (sum(node_edges), len(operations)):
        raise ValueError(f"strengths of shape {values.shape} do not match {sum(node_edges)} edges x "
                         f"{len(operations)} operations.")
    ax = ax or plt.subplots(figsize=(0.75 * len(operations) + 2, 0.3 * len(values) + 1.2))[1]
    shown = values - 1.0 / len(operations) if relative else values
    bound = limit if limit is not None else max(float(np.abs(shown).max()), 1e-6)
    image = ax.imshow(shown, cmap="RdBu_r" if relative else "viridis", aspect="auto",
                      vmin=-bound if relative else 0.0, vmax=bound)
    ax.set_xticks(range(len(operations)), operations, rotation=40, ha="right", fontsize=7)
    ax.set_yticks(range(len(values)), edge_labels(node_edges, first_node), fontsize=7)
    for row in range(values.shape[0]):
        for column in range(values.shape[1]):
            ax.text(column, row, f"{values[row, column]:.3f}", ha="center", va="center", fontsize=5.5)
    plt.colorbar(image, ax=ax, fraction=0.05, label="weight − 1/|O|" if relative else "weight")
    ax.set_title(title or "", fontsize=9)
    return ax


def plot_collapse(curves: dict[str, Sequence[float]], shares: dict[str, Sequence[float]] | None = None, ax=None,
                  reference: dict[str, float] | None = None, title: str | None = None, ylabel: str = "accuracy",
                  styles: dict[str, dict] | None = None):
    """Accuracy of the derived cell after every search epoch (one line per run), and optionally the share
    of parameter-free operations in it on a second axis (dashed). ``reference`` draws horizontal lines
    (e.g. the benchmark's best and median cell, random search); ``styles`` gives matplotlib keyword arguments
    for some curves (e.g. a dotted line for a remedy drawn over its run). Returns (ax, share axis or None)."""
    ax = ax or plt.subplots(figsize=(9, 4.5))[1]
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for index, (label, values) in enumerate(curves.items()):
        epochs = np.arange(1, len(values) + 1)
        style = dict(marker="o", markersize=3, color=colours[index % len(colours)])
        style.update((styles or {}).get(label, {}))
        ax.plot(epochs, values, label=label, **style)
    for index, (label, value) in enumerate((reference or {}).items()):
        ax.axhline(value, color="grey", linestyle=[":", "--", "-."][index % 3], linewidth=1, label=label)
    ax.set_xlabel("search epoch")
    ax.set_ylabel(ylabel)
    ax.grid(alpha=0.3)
    twin = None
    if shares:
        twin = ax.twinx()
        for index, (label, values) in enumerate(shares.items()):
            twin.plot(np.arange(1, len(values) + 1), values, linestyle="--", alpha=0.6,
                      color=colours[index % len(colours)], label=label)
        twin.set_ylim(-0.02, 1.02)
        twin.set_ylabel("parameter-free share of the derived cell (dashed)")
    handles, labels = ax.get_legend_handles_labels()
    if twin is not None:
        more_handles, more_labels = twin.get_legend_handles_labels()
        handles, labels = handles + more_handles, labels + more_labels
    ax.legend(handles, labels, fontsize=7, loc="lower right")
    ax.set_title(title or "", fontsize=10)
    return ax, twin
