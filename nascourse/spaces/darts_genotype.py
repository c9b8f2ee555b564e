"""A DARTS cell written down: the ``Genotype`` of the published code, and what can be read off it.

A cell is a DAG with two inputs and ``B`` intermediate nodes (survey Sec. 3.1):

* the inputs ``c_{k-2}`` and ``c_{k-1}`` (numbered 0 and 1) are the outputs of the two previous cells;
* intermediate node ``i`` (numbered ``i + 2``) adds two operations applied to two earlier nodes:
  ``x_i = o_a(x_a) + o_b(x_b)``,  ``a, b < i + 2``;
* the cell's output concatenates intermediate nodes along the channels: all of them in DARTS,
  the "loose ends" (nodes no other node reads) in NASNet, ENAS and AmoebaNet.

A cell is written as the ``Genotype`` text of the published code: one ``(operation, input)`` pair
per edge, two consecutive pairs per node, for instance DARTS (2nd order)'s normal cell::

    Genotype(normal=[('sep_conv_3x3', 0), ('sep_conv_3x3', 1), ('sep_conv_3x3', 0), ('sep_conv_3x3', 1),
                     ('sep_conv_3x3', 1), ('skip_connect', 0), ('skip_connect', 0), ('dil_conv_3x3', 2)],
             normal_concat=[2, 3, 4, 5], reduce=[...], reduce_concat=[2, 3, 4, 5])

``Genotype.parse`` reads that text with Python's ``ast`` (never ``eval``), and ``str(genotype)``
writes it back. ``loose_ends``, ``cell_depth`` and ``cell_width`` read a cell's structure;
``count_cell`` counts the cells of ``B`` nodes.
"""

from __future__ import annotations

import ast
import math
from dataclasses import dataclass
from typing import Sequence

from .base import ArchitectureError
from .darts_ops import OPERATIONS as CELL_OPERATIONS

__all__ = ["CELL_FIELDS", "Genotype", "loose_ends", "cell_depth", "cell_width", "count_cell"]

CELL_FIELDS = ("normal", "normal_concat", "reduce", "reduce_concat")


def _format_cell(entries: Sequence[tuple[str, int]]) -> str:
    return "[" + ", ".join(f"({op!r}, {index})" for op, index in entries) + "]"


def _check_cell(entries: tuple, concat: tuple, name: str) -> None:
    """Raise ``ArchitectureError`` saying what is wrong with one cell of a genotype."""
    if len(entries) % 2:
        raise ArchitectureError(
            f"{name} has {len(entries)} (operation, input) pairs; a cell needs two per intermediate node, "
            "an even number."
        )
    for position, entry in enumerate(entries):
        if not (isinstance(entry, tuple) and len(entry) == 2 and isinstance(entry[0], str)
                and isinstance(entry[1], int) and not isinstance(entry[1], bool)):
            raise ArchitectureError(
                f"{name}[{position}] is {entry!r}; every edge is an (operation, input) pair such as ('sep_conv_3x3', 0)."
            )
        op, source = entry
        node = position // 2 + 2
        if op not in CELL_OPERATIONS:
            raise ArchitectureError(f"{name}[{position}]: unknown operation {op!r}; known: {sorted(CELL_OPERATIONS)}.")
        if not 0 <= source < node:
            raise ArchitectureError(
                f"{name}[{position}] = {entry!r} feeds node {node}, which may only read nodes 0..{node - 1} "
                "(0 and 1 are the cell's inputs c_{k-2} and c_{k-1}, 2.. the earlier intermediate nodes)."
            )
    nodes = len(entries) // 2
    if entries and not concat:
        raise ArchitectureError(f"{name}_concat is empty: a cell must output at least one intermediate node.")
    if len(set(concat)) != len(concat) or any(not isinstance(i, int) or not 2 <= i < nodes + 2 for i in concat):
        raise ArchitectureError(
            f"{name}_concat = {list(concat)} must list distinct intermediate nodes among {list(range(2, nodes + 2))}."
        )
    if not entries and concat:
        raise ArchitectureError(f"{name} has no nodes, so {name}_concat must be empty too.")


@dataclass(frozen=True)
class Genotype:
    """A discrete cell architecture: edges of the normal and the reduction cell and what each outputs.

    ``normal[2 i]`` and ``normal[2 i + 1]`` are the two ``(operation, input)`` edges of intermediate node
    ``i + 2``; ``normal_concat`` lists the nodes concatenated into the cell's output. ``reduce`` is empty
    for networks that reduce the resolution without a reduction cell (Block-QNN, Dpp-net, Hierarchical-EAS).
    """

    normal: tuple[tuple[str, int], ...]
    normal_concat: tuple[int, ...]
    reduce: tuple[tuple[str, int], ...] = ()
    reduce_concat: tuple[int, ...] = ()

    def __post_init__(self) -> None:
        for name in CELL_FIELDS:  # accept lists (as in published code); store tuples (hashable, immutable)
            value = getattr(self, name)
            if isinstance(value, range):
                value = list(value)
            if not isinstance(value, (list, tuple)):
                raise ArchitectureError(f"Genotype.{name} must be a list, got {type(value).__name__}.")
            if name.endswith("concat"):
                stored = tuple(value)
            else:
                stored = tuple(tuple(entry) if isinstance(entry, list) else entry for entry in value)
            object.__setattr__(self, name, stored)
        if not self.normal:
            raise ArchitectureError("Genotype.normal is empty: the normal cell needs at least one node (two edges).")
        _check_cell(self.normal, self.normal_concat, "normal")
        _check_cell(self.reduce, self.reduce_concat, "reduce")

    # -- the text form of published code --------------------------------------------------------
    def __str__(self) -> str:
        return (
            f"Genotype(normal={_format_cell(self.normal)}, normal_concat={list(self.normal_concat)}, "
            f"reduce={_format_cell(self.reduce)}, reduce_concat={list(self.reduce_concat)})"
        )

    __repr__ = __str__

    @classmethod
    def parse(cls, text: str) -> "Genotype":
        """Read the ``Genotype(normal=[...], normal_concat=[...], reduce=[...], reduce_concat=[...])`` text.

        Safe: the text is parsed with ``ast`` and only literals are read (lists, tuples, strings, integers,
        and ``range(a, b)`` for the concat lists, as DARTS's search code prints them); nothing is executed.
        """
        example = "Genotype(normal=[('sep_conv_3x3', 0), ('skip_connect', 1)], normal_concat=[2], reduce=[], reduce_concat=[])"
        if not isinstance(text, str):
            raise ArchitectureError(f"A genotype is read from a string, got {type(text).__name__}.")
        source = text.strip()
        if source.startswith("genotype") and "=" in source.split("(", 1)[0]:
            source = source.split("=", 1)[1].strip()  # a line copied from a DARTS log: "genotype = Genotype(...)"
        try:
            tree = ast.parse(source, mode="eval")
        except SyntaxError as error:
            raise ArchitectureError(f"Not a genotype: {error.msg} in {text!r}. Write it like {example}.") from None
        call = tree.body
        if not (isinstance(call, ast.Call) and isinstance(call.func, ast.Name) and call.func.id == "Genotype"):
            raise ArchitectureError(f"A genotype is written as a call Genotype(...), e.g. {example}; got {text!r}.")
        if len(call.args) > len(CELL_FIELDS):
            raise ArchitectureError(f"Genotype takes at most {len(CELL_FIELDS)} values {CELL_FIELDS}; got {len(call.args)}.")
        values: dict[str, ast.expr] = dict(zip(CELL_FIELDS, call.args))
        for keyword in call.keywords:
            if keyword.arg not in CELL_FIELDS:
                raise ArchitectureError(f"Unknown Genotype field {keyword.arg!r}; the fields are {CELL_FIELDS}.")
            if keyword.arg in values:
                raise ArchitectureError(f"Genotype field {keyword.arg!r} is given twice.")
            values[keyword.arg] = keyword.value
        missing = [name for name in ("normal", "normal_concat") if name not in values]
        if missing:
            raise ArchitectureError(f"Genotype is missing {missing}; write it like {example}.")
        fields = {name: _literal(values[name], name) for name in values}
        return cls(**fields)

    # -- structure --------------------------------------------------------------------------------
    def cell(self, kind: str) -> tuple[tuple[tuple[str, int], ...], tuple[int, ...]]:
        """``(edges, concat)`` of the "normal" or the "reduce" cell."""
        if kind not in ("normal", "reduce"):
            raise ValueError(f"kind must be 'normal' or 'reduce', got {kind!r}.")
        return getattr(self, kind), getattr(self, f"{kind}_concat")

    def nodes(self, kind: str = "normal") -> int:
        """Number of intermediate nodes B of a cell."""
        return len(self.cell(kind)[0]) // 2

    def operations(self) -> list[str]:
        return [op for op, _ in self.normal + self.reduce]


def _literal(node: ast.expr, name: str):
    """The value of one Genotype field: a literal, or range(a[, b]) for a concat list."""
    if (name.endswith("concat") and isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
            and node.func.id == "range" and not node.keywords and 1 <= len(node.args) <= 2):
        try:
            bounds = [ast.literal_eval(arg) for arg in node.args]
        except ValueError:
            bounds = []
        if bounds and all(isinstance(b, int) for b in bounds):
            return list(range(*bounds))
    try:
        value = ast.literal_eval(node)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        raise ArchitectureError(
            f"Genotype field {name!r} must be a literal list (only strings, integers, lists and tuples; "
            f"range(a, b) for a concat), got {ast.unparse(node)!r}."
        ) from None
    if not isinstance(value, (list, tuple)):
        raise ArchitectureError(f"Genotype field {name!r} must be a list, got {value!r}.")
    return list(value)


def loose_ends(edges: Sequence[tuple[str, int]]) -> tuple[int, ...]:
    """Intermediate nodes that no other node reads: what NASNet, ENAS and AmoebaNet concatenate."""
    read = {source for _, source in edges}
    return tuple(node for node in range(2, len(edges) // 2 + 2) if node not in read)


def cell_depth(edges: Sequence[tuple[str, int]], concat: Sequence[int]) -> int:
    """Depth of a cell as Shu et al. define it ("Understanding Architectures Learnt by Cell-based Neural
    Architecture Search", ICLR 2020): the number of connections on the longest path from an input node to the
    cell's output, the final concatenation counting as one connection. A cell whose nodes all read the two
    inputs has depth 2; a chain of B nodes has depth B + 1."""
    depth = {0: 0, 1: 0}
    for node in range(len(edges) // 2):
        depth[node + 2] = 1 + max(depth[edges[2 * node][1]], depth[edges[2 * node + 1][1]])
    return 1 + max(depth[node] for node in concat)


def cell_width(edges: Sequence[tuple[str, int]]) -> float:
    """Width of a cell as Shu et al. define it, in units of the cell's channels c: the intermediate nodes
    connected to the input nodes, a node counting one half when only one of its two edges reads an input."""
    return sum(
        sum(1 for _, source in (edges[2 * node], edges[2 * node + 1]) if source < 2) / 2
        for node in range(len(edges) // 2)
    )


# ----------------------------------------------------------------------------------------- counting
def count_cell(nodes: int, operations: int, distinct_inputs: bool = True) -> int:
    """How many different cells of ``nodes`` intermediate nodes (not counting isomorphic graphs as one).

    Node ``i`` (0-based) reads two of the ``i + 2`` nodes before it, each through one of ``operations``
    operations, and adds the two. The sum does not depend on the order of its terms, so a node is an
    unordered pair of (input, operation) choices:

    * distinct inputs (DARTS):  C(i + 2, 2) * operations^2   per node;
    * inputs may repeat (NASNet): n (n + 1) / 2 with n = (i + 2) * operations   per node.

    A cell is the product over its nodes. The output (all nodes, or the loose ends) is fixed by the edges.
    """
    if nodes < 1 or operations < 1:
        raise ValueError(f"nodes and operations must be positive, got {nodes} and {operations}.")
    total = 1
    for i in range(nodes):
        inputs = i + 2
        if distinct_inputs:
            total *= math.comb(inputs, 2) * operations**2
        else:
            choices = inputs * operations
            total *= choices * (choices + 1) // 2
    return total
