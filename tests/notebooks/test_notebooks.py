"""Every notebook in notebooks/ runs top to bottom in a fresh kernel, and is committed clean.

Each notebook runs with nbclient in its own kernel whose working directory is a fresh temporary
folder, so notebooks cannot lean on files next to them or on each other. The kernel imports the
``icechunk`` of this checkout (PYTHONPATH), not whatever copy the virtual environment installed.
A failing cell fails the test with the notebook name, the cell number, its source and the error.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import nbformat
import pytest
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError, CellTimeoutError

REPO_ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS = REPO_ROOT / "notebooks"
EXECUTED = sorted(NOTEBOOKS.glob("*.ipynb"))
CELL_TIMEOUT_S = int(os.environ.get("NOTEBOOK_CELL_TIMEOUT", "180"))
# A cell tagged like this may keep its outputs in git: a rendered static repr is its point.
KEEP_OUTPUT_TAG = "keep-output"
ANSI_ESCAPE = re.compile(r"\x1b\[[0-9;]*m")
WHICH_ICECHUNK = "import icechunk as _ic\nprint(_ic.__file__)"


def _ids(paths: list[Path]) -> list[str]:
    return [p.name for p in paths]


def _code_cells(nb: Any) -> list[tuple[int, Any]]:
    return [(i, cell) for i, cell in enumerate(nb.cells) if cell.cell_type == "code"]


def _describe_failure(nb: Any, path: Path, error: Exception) -> str:
    """Name the notebook and the cell that failed, with its source and the error."""
    failing = [
        (i, cell)
        for i, cell in _code_cells(nb)
        if any(out.get("output_type") == "error" for out in cell.get("outputs", []))
    ]
    where = "a cell (timed out or kernel died)"
    source = ""
    if failing:
        index, cell = failing[0]
        where = f"cell {index} (execution count {cell.get('execution_count')})"
        source = "\n".join("    " + line for line in cell.source.splitlines())
    detail = ANSI_ESCAPE.sub("", str(error)).strip().splitlines()
    tail = "\n".join(detail[-25:])
    return f"{path.relative_to(REPO_ROOT)} failed in {where}:\n{source}\n\n{tail}"


def test_notebooks_exist() -> None:
    """The newcomer path needs at least the quickstart; an empty glob must not pass silently."""
    assert (NOTEBOOKS / "01_quickstart.ipynb") in EXECUTED


@pytest.mark.slow
@pytest.mark.parametrize("path", EXECUTED, ids=_ids(EXECUTED))
def test_notebook_runs(path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Execute the notebook in a fresh kernel in an empty temporary working directory."""
    nb = nbformat.read(path, as_version=4)
    pythonpath = os.environ.get("PYTHONPATH")
    monkeypatch.setenv(
        "PYTHONPATH", str(REPO_ROOT) + (os.pathsep + pythonpath if pythonpath else "")
    )
    # Dask/distributed and Jupyter write state under HOME-like places; keep it in the test dir.
    monkeypatch.setenv("DASK_TEMPORARY_DIRECTORY", str(tmp_path / "dask"))
    client = NotebookClient(
        nb,
        timeout=CELL_TIMEOUT_S,
        kernel_name="python3",
        resources={"metadata": {"path": str(tmp_path)}},
        allow_errors=False,
    )
    # One extra cell, run last, reports which icechunk the kernel imported.
    nb.cells.append(nbformat.v4.new_code_cell(WHICH_ICECHUNK, id="which-icechunk"))
    failure = None
    try:
        client.execute()
    except (CellExecutionError, CellTimeoutError, RuntimeError) as error:
        failure = _describe_failure(nb, path, error)
    if failure is not None:  # outside the except block: no chained-traceback noise
        pytest.fail(failure, pytrace=False)
    imported = "".join(out.get("text", "") for out in nb.cells[-1].outputs).strip()
    assert Path(imported).is_relative_to(REPO_ROOT), f"kernel imported {imported}"


@pytest.mark.parametrize("path", EXECUTED, ids=_ids(EXECUTED))
def test_notebook_committed_without_outputs(path: Path) -> None:
    """Outputs are not committed (they go stale and bloat diffs) unless a cell opts in."""
    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    dirty = [
        index
        for index, cell in _code_cells(nb)
        if KEEP_OUTPUT_TAG not in cell.metadata.get("tags", [])
        and (cell.get("outputs") or cell.get("execution_count") is not None)
    ]
    assert not dirty, (
        f"{path.name}: cells {dirty} carry outputs or execution counts; clear them "
        f"(JupyterLab: Edit > Clear Outputs of All Cells) or tag the cell {KEEP_OUTPUT_TAG!r}"
    )
