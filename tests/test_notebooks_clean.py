"""Notebooks are committed without outputs or execution counts, so diffs stay readable."""

import json
import re
from pathlib import Path

import pytest

NOTEBOOKS = sorted((Path(__file__).parent.parent / "notebooks").glob("*.ipynb"))


def test_the_course_has_notebooks():
    assert NOTEBOOKS, "notebooks/ holds no chapter"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_is_stored_without_outputs(path):
    cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
    dirty = [
        i for i, cell in enumerate(cells)
        if cell["cell_type"] == "code" and (cell.get("outputs") or cell.get("execution_count") is not None)
    ]
    assert not dirty, (
        f"{path.name}: code cells {dirty} hold outputs or execution counts. Clear them before committing "
        f"(`jupyter nbconvert --clear-output --inplace {path}` or JupyterLab's Edit > Clear Outputs of All Cells)."
    )


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_is_numbered_as_a_chapter(path):
    """``NN_title.ipynb``, or ``NNa_title.ipynb`` / ``NNb_...`` for a chapter in parts (chapter 05)."""
    assert re.fullmatch(r"\d\d[a-z]?_\w+\.ipynb", path.name), \
        f"{path.name} should be named like 00_title.ipynb (or 05a_title.ipynb for the first part of a chapter)"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_every_cell_has_a_unique_id(path):
    """nbformat 4.5 gives each cell an id; a cell inserted by a script without one makes nbformat warn (and will be
    an error in its later versions)."""
    notebook = json.loads(path.read_text(encoding="utf-8"))
    ids = [cell.get("id") for cell in notebook["cells"]]
    missing = [i for i, cell_id in enumerate(ids) if not cell_id]
    assert not missing, f"{path.name}: cells {missing} have no id; give each a short unique one (e.g. uuid4().hex[:8])"
    assert len(set(ids)) == len(ids), f"{path.name}: cell ids repeat"
