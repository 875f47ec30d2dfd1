"""Run interop scripts under the real icechunk wheels (or under pyicechunk) and read their JSON.

The real wheels live in their own virtual environments, built by ``make``:

- ``.venv-real``: Python >= 3.12 with ``icechunk==2.3.0`` (spec-v2 repositories);
- ``.venv-v1``: Python 3.11 with ``icechunk==1.1.21`` (spec-v1 repositories).

``make test`` exports their interpreters as ``ICECHUNK_REAL_PYTHON`` and ``ICECHUNK_V1_PYTHON``;
without the variables the venvs next to the repository root are used. A missing interpreter
is a test *failure*: a skipped interop test proves nothing. Set
``ICECHUNK_ALLOW_SKIP_INTEROP=1`` to turn that failure into a skip (e.g. on a laptop without
Python 3.12).

Scripts in ``tests/interop/scripts/`` use only the public icechunk API, so each one runs under
either wheel and under our package (``run_ours`` uses the interpreter running the tests).
"""

from __future__ import annotations

import functools
import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
SCRIPTS_DIR = Path(__file__).resolve().parent / "scripts"
DEFAULT_TIMEOUT = 300.0

REAL_ENV_VAR = "ICECHUNK_REAL_PYTHON"
V1_ENV_VAR = "ICECHUNK_V1_PYTHON"
ALLOW_SKIP_ENV_VAR = "ICECHUNK_ALLOW_SKIP_INTEROP"

REAL_VERSION_PREFIX = "2."
V1_VERSION_PREFIX = "1."

# Crockford base32 snapshot ids: 12 bytes -> 20 characters.
_SNAPSHOT_ID = re.compile(r"^[0-9A-HJKMNP-TV-Z]{20}$")
# Keys whose values legitimately differ between two otherwise identical runs.
_VOLATILE_KEYS = frozenset({"written_at", "updated_at", "backup_path"})


class InteropError(AssertionError):
    """A script run under another interpreter failed or printed something that is not JSON."""


def _missing(what: str, detail: str) -> None:
    message = (
        f"{what} is not available: {detail}\n"
        "Build it with `make .venv-real .venv-v1` (or run `make test`, which builds it). "
        f"Set {ALLOW_SKIP_ENV_VAR}=1 to skip interop tests instead of failing them."
    )
    if os.environ.get(ALLOW_SKIP_ENV_VAR) == "1":
        pytest.skip(message)
    pytest.fail(message, pytrace=False)


def _resolve(env_var: str, venv_dir: str, what: str, version_prefix: str) -> str:
    configured = os.environ.get(env_var)
    candidate = Path(configured) if configured else REPO_ROOT / venv_dir / "bin" / "python"
    source = f"${env_var}={configured}" if configured else f"{candidate} (no ${env_var} set)"
    if not candidate.exists():
        _missing(what, f"{source} does not exist")
    version = _icechunk_version(str(candidate))
    if version is None:
        _missing(what, f"{source} cannot import icechunk")
    assert version is not None
    if not version.startswith(version_prefix):
        _missing(what, f"{source} has icechunk {version}, expected {version_prefix}x")
    return str(candidate)


@functools.cache
def _icechunk_version(python: str) -> str | None:
    proc = subprocess.run(
        [python, "-c", "import icechunk; print(icechunk.__version__)"],
        capture_output=True,
        text=True,
        timeout=120,
        env=_clean_env(),
        cwd=SCRIPTS_DIR,
        check=False,
    )
    return proc.stdout.strip() if proc.returncode == 0 else None


def real_python() -> str:
    """Interpreter of the venv with the real ``icechunk`` 2.x wheel (fails if missing)."""
    return _resolve(REAL_ENV_VAR, ".venv-real", "The real icechunk 2.x wheel", REAL_VERSION_PREFIX)


def v1_python() -> str:
    """Interpreter of the venv with ``icechunk`` 1.1.21, which writes spec-v1 repositories."""
    return _resolve(V1_ENV_VAR, ".venv-v1", "The icechunk 1.1.21 wheel", V1_VERSION_PREFIX)


def ours_python() -> str:
    """Interpreter running the tests, where ``import icechunk`` is pyicechunk."""
    return sys.executable


def real_version() -> str:
    """``icechunk.__version__`` of the real 2.x wheel."""
    version = _icechunk_version(real_python())
    assert version is not None
    return version


def _clean_env() -> dict[str, str]:
    # PYTHONPATH could put this checkout (and so our `icechunk`) ahead of the real wheel.
    env = {k: v for k, v in os.environ.items() if k not in {"PYTHONPATH", "PYTHONHOME"}}
    env["PYTHONIOENCODING"] = "utf-8"
    # icechunk 1.1.21 logs warnings to *stdout*, which would corrupt the JSON result.
    env.setdefault("ICECHUNK_LOG", "error")
    env.setdefault("PYTHONHASHSEED", "0")
    return env


def _script_env(python: str) -> dict[str, str]:
    env = _clean_env()
    if python == ours_python():
        # Our scripts must import the checkout under test (a git worktree, say), not whatever
        # checkout the venv's editable install points at.
        env["PYTHONPATH"] = str(REPO_ROOT)
    return env


def script_path(script_name: str) -> Path:
    """Absolute path of ``tests/interop/scripts/<script_name>`` (``.py`` optional)."""
    name = script_name if script_name.endswith(".py") else f"{script_name}.py"
    path = SCRIPTS_DIR / name
    if not path.is_file():
        raise FileNotFoundError(f"no interop script {path}")
    return path


def run_script(
    script_name: str, *args: str | os.PathLike[str], python: str, timeout: float = DEFAULT_TIMEOUT
) -> Any:
    """Run an interop script under ``python`` and return its stdout parsed as JSON.

    Raises ``InteropError`` (an ``AssertionError``) with the command, exit code, stdout and
    stderr when the script fails, times out or prints something that is not JSON.
    """
    cmd = [python, str(script_path(script_name)), *map(str, args)]
    pretty = " ".join(cmd)
    try:
        proc = subprocess.run(
            cmd,
            capture_output=True,
            text=True,
            encoding="utf-8",
            timeout=timeout,
            env=_script_env(python),
            cwd=SCRIPTS_DIR,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        raise InteropError(
            f"timed out after {timeout}s: {pretty}\n--- stderr ---\n{_text(exc.stderr)}"
        ) from None
    if proc.returncode != 0:
        raise InteropError(
            f"exit code {proc.returncode}: {pretty}\n"
            f"--- stdout ---\n{proc.stdout[-5000:]}\n--- stderr ---\n{proc.stderr[-20000:]}"
        )
    return _parse_json(proc.stdout, pretty, proc.stderr)


def _text(value: str | bytes | None) -> str:
    if value is None:
        return ""
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else value


def _parse_json(stdout: str, pretty: str, stderr: str) -> Any:
    try:
        return json.loads(stdout)
    except json.JSONDecodeError:
        pass
    # Tolerate chatter before the result: the result is the last non-empty line.
    lines = [line for line in stdout.splitlines() if line.strip()]
    try:
        return json.loads(lines[-1])
    except (IndexError, json.JSONDecodeError):
        raise InteropError(
            f"output is not JSON: {pretty}\n--- stdout ---\n{stdout[-5000:]}\n"
            f"--- stderr ---\n{stderr[-5000:]}"
        ) from None


def run_real(
    script_name: str,
    *args: str | os.PathLike[str],
    python: str | None = None,
    timeout: float = DEFAULT_TIMEOUT,
) -> Any:
    """Run an interop script under the real 2.x wheel (or ``python``) and return its JSON."""
    return run_script(script_name, *args, python=python or real_python(), timeout=timeout)


def run_v1(
    script_name: str, *args: str | os.PathLike[str], timeout: float = DEFAULT_TIMEOUT
) -> Any:
    """Run an interop script under icechunk 1.1.21 and return its JSON."""
    return run_script(script_name, *args, python=v1_python(), timeout=timeout)


def run_ours(
    script_name: str, *args: str | os.PathLike[str], timeout: float = DEFAULT_TIMEOUT
) -> Any:
    """Run an interop script under pyicechunk, in a fresh process, and return its JSON."""
    return run_script(script_name, *args, python=ours_python(), timeout=timeout)


def snapshot_labels(dump: dict[str, Any]) -> dict[str, str]:
    """Map every snapshot id of a ``dump.py`` result to a label that does not depend on ids.

    Refs are visited in sorted order (``branch:dev`` < ``branch:main`` < ``tag:v1`` ...), each
    ancestry from the root to the tip; the n-th new id seen becomes ``S<n>``. Two repositories
    with the same history shape therefore get the same labels.
    """
    labels: dict[str, str] = {}
    for ref in sorted(dump["ancestry"]):
        for snap in reversed(dump["ancestry"][ref]):
            labels.setdefault(snap, f"S{len(labels)}")
    return labels


def normalize_dump(dump: dict[str, Any], *, drop: tuple[str, ...] = ()) -> dict[str, Any]:
    """Return ``dump`` with snapshot ids replaced by labels and run-specific values removed.

    Snapshot ids (as values or as dict keys) become ``S<n>`` (see ``snapshot_labels``); ids
    not in any ancestry become ``S?``. ``written_at``, ``updated_at`` and ``backup_path`` are
    dropped, as is every key named in ``drop`` (at any depth).
    """
    labels = snapshot_labels(dump)
    volatile = _VOLATILE_KEYS | set(drop)

    def relabel(value: Any) -> Any:
        if isinstance(value, dict):
            return {relabel(k): relabel(v) for k, v in value.items() if k not in volatile}
        if isinstance(value, list):
            return [relabel(v) for v in value]
        if isinstance(value, str) and _SNAPSHOT_ID.match(value):
            return labels.get(value, "S?")
        return value

    result: dict[str, Any] = relabel(dump)
    return result
