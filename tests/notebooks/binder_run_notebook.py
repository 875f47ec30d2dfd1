"""Run one notebook with nbclient in the interpreter that runs this script; report it as JSON.

Used by test_binder_build.py inside the replayed Binder environment, whose Python has nbclient
(from jupyterlab) but not this test suite. usage: python binder_run_notebook.py NOTEBOOK WORKDIR

Prints one JSON object: ``icechunk`` (the file the kernel imported), ``widget_views`` (how many
outputs carry a widget view) and, on failure, ``error``. Exits 1 when a cell failed.
"""

from __future__ import annotations

import json
import sys

import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError, CellTimeoutError, DeadKernelError

WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
CELL_TIMEOUT_S = 300


def main(notebook: str, workdir: str) -> int:
    nb = nbformat.read(notebook, as_version=4)
    nb.cells.append(nbformat.v4.new_code_cell("import icechunk\nprint(icechunk.__file__)"))
    client = NotebookClient(nb, timeout=CELL_TIMEOUT_S, kernel_name="python3",
                            resources={"metadata": {"path": workdir}})
    report: dict[str, object] = {}
    try:
        client.execute()
    except (CellExecutionError, CellTimeoutError, DeadKernelError) as error:
        report["error"] = str(error)[-4000:]
    outputs = [out for cell in nb.cells if cell.cell_type == "code" for out in cell.outputs]
    report["widget_views"] = sum(WIDGET_VIEW in out.get("data", {}) for out in outputs)
    last = nb.cells[-1].outputs
    report["icechunk"] = last[0].get("text", "").strip() if last else ""
    print(json.dumps(report))
    return 1 if "error" in report else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2]))
