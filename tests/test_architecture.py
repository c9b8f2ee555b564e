"""The library's shape: which of its modules may import which (issue 18).

The import graph of ``nascourse`` is read from the source with ``ast``, nothing is imported. A node is a module of
the package (a package is its ``__init__``); there is an edge a -> b when a's source imports b anywhere: at the top,
inside a function or a class, under ``if TYPE_CHECKING``. An import hidden in a function still couples the two
modules, so it counts too.

The rules:

* the graph has no cycle: every module can be read, tested and changed from the bottom up;
* ``nascourse.stats``, the statistics every layer uses, sits at the bottom and imports nothing from ``nascourse``
  (only numpy, scipy and the standard library);
* a module imports only from its own layer or below (``LAYERS``, as CONTRIBUTING.md draws them).
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

PACKAGE = "nascourse"
ROOT = Path(__file__).resolve().parents[1] / PACKAGE


# --------------------------------------------------------------------------------------- reading the graph
def module_name(path: Path, root: Path = ROOT) -> str:
    """``nascourse/bench/table.py`` -> ``nascourse.bench.table``; ``nascourse/bench/__init__.py`` -> ``nascourse.bench``."""
    parts = [root.name, *path.relative_to(root).with_suffix("").parts]
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def package_of(path: Path, root: Path = ROOT) -> str:
    """The package a relative import in ``path`` starts from: the module's parent, or a package itself."""
    name = module_name(path, root)
    return name if path.name == "__init__.py" else name.rpartition(".")[0]


def imported_names(path: Path, root: Path = ROOT) -> list[tuple[str, list[str]]]:
    """Every import statement of ``path``, wherever it sits: (absolute module, the names taken from it).

    ``import a.b`` gives ("a.b", []); ``from .x import y, z`` gives (the resolved ".x", ["y", "z"])."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        if isinstance(node, ast.Import):
            found += [(alias.name, []) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: one dot is this package, each further dot one package up
                base = package_of(path, root).split(".")
                base = base[:len(base) - (node.level - 1)]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            found.append((module, [alias.name for alias in node.names]))
    return found


def import_graph(root: Path = ROOT) -> dict[str, set[str]]:
    """module -> the package's modules it imports. ``from pkg import name`` points at ``pkg.name`` when that is a
    module of the package, else at ``pkg`` (a package means its ``__init__``)."""
    files = sorted(root.rglob("*.py"))
    modules = {module_name(path, root) for path in files}
    graph: dict[str, set[str]] = {}
    for path in files:
        edges = set()
        for module, names in imported_names(path, root):
            if module != root.name and not module.startswith(root.name + "."):
                continue  # numpy, torch, the standard library...
            targets = [f"{module}.{name}" for name in names if f"{module}.{name}" in modules]
            if len(targets) < len(names) or not names:  # some names are objects of the module itself
                targets.append(module)
            edges.update(target for target in targets if target in modules)
        name = module_name(path, root)
        graph[name] = edges - {name}  # `from . import x` inside a package's own __init__ is no self-cycle
    return graph


def external_imports(path: Path, root: Path = ROOT) -> set[str]:
    """The top-level names of the distributions ``path`` imports from outside the package (numpy, os, ...)."""
    return {module.split(".")[0] for module, _ in imported_names(path, root)
            if module != root.name and not module.startswith(root.name + ".")}


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """A cycle of ``graph`` as its nodes with the first repeated at the end (``[a, b, c, a]``), or None.

    Depth-first search: a cycle closes when an edge leads back to a node still on the current path."""
    state: dict[str, str] = {}  # "open": on the current path; "done": every path from it explored
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = "open"
        path.append(node)
        for successor in sorted(graph.get(node, ())):
            if state.get(successor) == "open":
                return path[path.index(successor):] + [successor]
            if successor not in state:
                cycle = visit(successor)
                if cycle:
                    return cycle
        path.pop()
        state[node] = "done"
        return None

    for start in sorted(graph):
        if start not in state:
            cycle = visit(start)
            if cycle:
                return cycle
    return None


def show(cycle: list[str]) -> str:
    return " -> ".join(cycle)


# The layers, bottom to top, by the first name under ``nascourse`` ("" is ``nascourse/__init__.py``).
LAYERS = [
    ("statistics, data and settings", {"stats", "data", "literature", "profile", "compute", "checkpoints", "excerpts"}),
    ("spaces and their operations", {"spaces"}),
    ("training and evaluation", {"train", "evaluation", "loop", "final_training", "bench"}),
    ("search methods", {"strategies", "relaxation", "recycling", "weight_sharing", "estimation", "parallel"}),
    ("the registry of methods and spaces", {"registry"}),
    ("comparison and plots", {"compare", "viz"}),
    ("entry points", {"cli", "exercises", "__main__", ""}),
]


def layer_of(module: str) -> int:
    part = module.split(".")[1] if "." in module else ""
    for number, (_, members) in enumerate(LAYERS):
        if part in members:
            return number
    raise AssertionError(f"{module} is in no layer: add it to LAYERS (and to CONTRIBUTING.md's table)")


# ----------------------------------------------------------------------------------------------- the rules
def test_the_cycle_finder_finds_a_cycle_and_accepts_a_tree():
    """The check can fail: in a made-up graph with a loop it reports the loop, in one without it reports none."""
    looped = {"a": {"b"}, "b": {"c", "d"}, "c": {"a"}, "d": set()}
    assert show(find_cycle(looped)) == "a -> b -> c -> a"
    assert find_cycle({"a": {"a"}}) == ["a", "a"]
    assert find_cycle({"a": {"b", "c"}, "b": {"c"}, "c": set()}) is None


def test_the_graph_reader_resolves_relative_imports_and_submodules(tmp_path):
    """``from .. import x`` and ``from ..pkg import submodule`` point at the submodule, a name at its module."""
    root = tmp_path / "lib"
    (root / "inner").mkdir(parents=True)
    (root / "__init__.py").write_text("from .inner import helper\n")
    (root / "inner" / "__init__.py").write_text("from .helper import tool\n")
    (root / "inner" / "helper.py").write_text("def tool():\n    from .. import base\n    from ..inner import helper\n")
    (root / "base.py").write_text("import lib.inner\nfrom lib.base import nothing\n")
    assert import_graph(root) == {"lib": {"lib.inner.helper"}, "lib.inner": {"lib.inner.helper"},
                                  "lib.inner.helper": {"lib.base"}, "lib.base": {"lib.inner"}}


def test_the_library_has_no_import_cycle():
    graph = import_graph()
    assert "nascourse.bench.table" in graph and graph["nascourse.bench.table"]  # the reader did read the library
    cycle = find_cycle(graph)
    assert cycle is None, f"import cycle: {show(cycle)}"


def test_stats_is_the_bottom_layer():
    """Statistics import numpy, scipy and the standard library, nothing of the course's own."""
    assert import_graph()[f"{PACKAGE}.stats"] == set()
    allowed = {"numpy", "scipy", "__future__", *sys.stdlib_module_names}
    assert external_imports(ROOT / "stats.py") <= allowed


def test_every_module_imports_only_from_its_layer_or_below():
    upward = [f"{module} ({LAYERS[layer_of(module)][0]}) imports {target} ({LAYERS[layer_of(target)][0]})"
              for module, targets in sorted(import_graph().items()) for target in sorted(targets)
              if layer_of(target) > layer_of(module)]
    assert not upward, "imports that reach up a layer:\n" + "\n".join(upward)


def test_the_layer_check_can_fail():
    assert layer_of("nascourse.stats") < layer_of("nascourse.compare.jobs") < layer_of("nascourse.cli.search")
