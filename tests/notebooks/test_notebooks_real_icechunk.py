"""The notebooks' code runs unchanged under the real ``icechunk`` 2.x wheel.

The README promises that notebook code ports between pyicechunk and ``icechunk``. This runs
every notebook's code cells, as one script in a temporary working directory, under
the reference interpreter of tests/interop (``.venv-real``, icechunk 2.3.0). A missing
reference interpreter fails the test, as in tests/interop.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import nbformat
import pytest
from interop import harness

NOTEBOOKS = Path(__file__).resolve().parents[2] / "notebooks"
PORTABLE = sorted(NOTEBOOKS.glob("*.ipynb"))
TIMEOUT_S = 300


def _script(path: Path) -> str:
    # Widget cells only display: the reference venv has no icechunk_widgets (it is ours).
    cells = [
        c.source
        for c in nbformat.read(path, as_version=4).cells
        if c.cell_type == "code" and "icechunk_widgets" not in c.source
    ]
    # Run inside a __main__ guard: worker processes (spawned by multiprocessing) re-import it.
    body = "\n\n".join(cells)
    return f"SOURCE = {body!r}\nif __name__ == '__main__':\n    exec(compile(SOURCE, {path.name!r}, 'exec'), {{'__name__': '__notebook__'}})\n"


@pytest.mark.interop
@pytest.mark.slow
@pytest.mark.parametrize("path", PORTABLE, ids=[p.name for p in PORTABLE])
def test_notebook_code_runs_under_real_icechunk(path: Path, tmp_path: Path) -> None:
    python = harness.real_python()
    script = tmp_path / "notebook.py"
    script.write_text(_script(path))
    # Without PYTHONPATH, so this checkout's `icechunk` cannot shadow the real wheel.
    env = {k: v for k, v in os.environ.items() if k not in {"PYTHONPATH", "PYTHONHOME"}}
    env.update(RUST_LOG="error", ICECHUNK_LOG="error")
    result = subprocess.run([python, str(script)], cwd=tmp_path, env=env, capture_output=True,
                            text=True, timeout=TIMEOUT_S)
    assert result.returncode == 0, (
        f"{path.name} failed under the real icechunk ({python}):\n{result.stderr[-4000:]}"
    )
