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
from .spaces.chain import ChainArchitecture

__all__ = ["plot_anytime", "draw_chain", "draw_units"]

COST_LABELS = {
    "seconds": "compute spent (training wall time, s)",
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


def plot_anytime(runs: Runs, cost: str = "seconds", ax=None, title: str | None = None):
    """Best accuracy found so far vs. compute spent.

    ``runs`` is one ``History``, a list of them (repeats of one method with different seeds),
    or a mapping from a method's label to either. Repeats are drawn as their median with a
    band from the worst to the best repeat, on a common grid of cost.
    """
    if cost not in COST_LABELS:
        raise ValueError(f"cost must be one of {sorted(COST_LABELS)}, got {cost!r}.")
    ax = ax or plt.subplots(figsize=(7, 4))[1]
    for label, histories in _as_groups(runs).items():
        curves = [h.anytime(cost) for h in histories if len(h)]
        if not curves:
            continue
        if len(curves) == 1:
            spent, best = curves[0]
            ax.step(spent, best, where="post", marker=".", label=label)
            continue
        grid = np.linspace(0, max(spent[-1] for spent, _ in curves), 200)
        # best-so-far is a step function: at cost c it is the value of the last trial finished by c
        stacked = np.array(
            [
                np.where(grid >= spent[0], best[np.clip(np.searchsorted(spent, grid, side="right") - 1, 0, None)], np.nan)
                for spent, best in curves
            ]
        )
        with warnings.catch_warnings():  # columns before any repeat's first trial are all NaN: left blank
            warnings.simplefilter("ignore", RuntimeWarning)
            median = np.nanmedian(stacked, axis=0)
            low, high = np.nanmin(stacked, axis=0), np.nanmax(stacked, axis=0)
        line = ax.plot(grid, median, label=f"{label} (median of {len(curves)})")[0]
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
    from .recycling.network import BranchUnit

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
