"""Start the demo: build the demo repository, then serve JupyterLab (or the Panel explorer).

``make demo`` runs ``python scripts/demo_server.py lab``; ``make demo DEMO=panel`` runs
``python scripts/demo_server.py panel``. The tests in tests/demo/ call this same script.

JupyterLab listens on 127.0.0.1 only, with a random token, and opens at the quickstart
notebook. Its settings, runtime files and workspaces live in a fresh state folder, so a
previous session's open tabs or a user's own JupyterLab configuration never leak in, and
news and update checks are off (they would call the internet). The URL with the token is
printed on a line starting with ``DEMO_URL``.

JupyterLab serves a scratch copy of notebooks/ (plus a ``demo-repo`` link to the demo
repository) from the state folder: running and autosaving notebooks in the demo never writes
outputs into the checkout, where the notebook tests require output-free notebooks.
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import importlib.util
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
START_NOTEBOOK = "notebooks/01_quickstart.ipynb"
PANEL_MODULE = "icechunk_widgets.panel_app"
STARTUP_TIMEOUT_S = 120.0


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def die_with_parent() -> None:
    """Ask the kernel to SIGTERM this child when its parent dies (Linux PR_SET_PDEATHSIG)."""
    # Not Linux: no prctl, but the process group kill on shutdown still applies.
    with contextlib.suppress(OSError):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)


def lab_environment(state: Path) -> dict[str, str]:
    """Environment for a JupyterLab whose every piece of state lives under ``state``."""
    settings = state / "settings" / "@jupyterlab" / "apputils-extension"
    settings.mkdir(parents=True, exist_ok=True)
    (settings / "notification.jupyterlab-settings").write_text(
        json.dumps({"checkForUpdates": False, "fetchNews": "false"})
    )
    pythonpath = os.environ.get("PYTHONPATH")
    return dict(
        os.environ,
        JUPYTER_CONFIG_DIR=str(state / "config"),
        JUPYTER_DATA_DIR=str(state / "data"),
        JUPYTER_RUNTIME_DIR=str(state / "runtime"),
        JUPYTERLAB_SETTINGS_DIR=str(state / "settings"),
        JUPYTERLAB_WORKSPACES_DIR=str(state / "workspaces"),
        # Kernels import this checkout's icechunk, whichever copy the venv installed.
        PYTHONPATH=str(ROOT) + (os.pathsep + pythonpath if pythonpath else ""),
    )


def lab_command(port: int, token: str, root: Path) -> list[str]:
    """The ``jupyter lab`` command line: loopback, fixed port, token, no browser, offline."""
    command = [
        sys.executable, "-m", "jupyter", "lab", "--no-browser",
        "--ServerApp.ip=127.0.0.1", f"--ServerApp.port={port}", "--ServerApp.port_retries=0",
        f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={root}",
        f"--LabApp.default_url=/lab/tree/{START_NOTEBOOK}",
        "--LabApp.news_url=None",
        "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
        "--LabApp.extension_manager=readonly",
    ]
    if os.geteuid() == 0:  # containers and CI often run as root; Jupyter refuses without this
        command.append("--allow-root")
    return command


def scratch_workspace(state: Path, repo: Path) -> Path:
    """Copy notebooks/ into ``state`` and link the demo repository next to it."""
    workspace = state / "workspace"
    shutil.rmtree(workspace, ignore_errors=True)
    shutil.copytree(ROOT / "notebooks", workspace / "notebooks",
                    ignore=shutil.ignore_patterns(".ipynb_checkpoints"))
    (workspace / "demo-repo").symlink_to(repo, target_is_directory=True)
    return workspace


def wait_until_up(proc: subprocess.Popen[bytes], port: int, token: str, log: Path) -> None:
    """Poll ``/api/status`` until the server answers; fail with the log if it exits first."""
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/api/status", headers={"Authorization": f"token {token}"}
    )
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"JupyterLab exited with code {proc.returncode}; log: {log}\n"
                             + log.read_text(errors="replace")[-3000:])
        try:
            with urllib.request.urlopen(request, timeout=2) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.25)
    raise SystemExit(f"JupyterLab did not answer within {STARTUP_TIMEOUT_S:.0f} s; log: {log}")


def build_demo_repo(repo: Path) -> None:
    """Run scripts/demo.py in a child process so its output and failures are plain to see."""
    subprocess.run([sys.executable, str(ROOT / "scripts" / "demo.py"), str(repo)], check=True,
                   env=dict(os.environ, PYTHONPATH=str(ROOT)))


def serve(proc: subprocess.Popen[bytes]) -> int:
    """Wait for the server; on Ctrl+C or SIGTERM stop it (and its kernels) and exit 0."""
    stopping = False

    def stop(signum: int, _frame: object) -> None:
        nonlocal stopping
        stopping = True
        proc.send_signal(signal.SIGTERM)

    signal.signal(signal.SIGTERM, stop)
    # Ctrl+C must work even when started from a shell that ignores SIGINT for background jobs.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        code = proc.wait()
    except KeyboardInterrupt:
        stopping = True
        proc.send_signal(signal.SIGTERM)
        try:
            code = proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            code = proc.wait()
    # A stop we asked for is a normal end, not a failure for `make`.
    return 0 if stopping else code


def run_lab(args: argparse.Namespace) -> int:
    """Start JupyterLab at the quickstart notebook and print its URL with the token."""
    if importlib.util.find_spec("jupyterlab") is None:
        raise SystemExit("jupyterlab is not installed in this environment: run `make demo`, "
                         "which installs the `notebooks` extra")
    state = Path(args.state_dir or tempfile.mkdtemp(prefix="pyicechunk-demo-lab-")).resolve()
    state.mkdir(parents=True, exist_ok=True)
    port = args.port or free_port()
    token = secrets.token_hex(24)
    log = state / "jupyterlab.log"
    root = Path(args.root).resolve() if args.root else scratch_workspace(state, args.repo)
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            lab_command(port, token, root), stdout=out,
            stderr=subprocess.STDOUT, env=lab_environment(state), preexec_fn=die_with_parent,
        )
    wait_until_up(proc, port, token, log)
    url = f"http://127.0.0.1:{port}/lab/tree/{START_NOTEBOOK}?token={token}"
    print(f"\nJupyterLab is running (log: {log}). Open the quickstart notebook at:\n"
          f"DEMO_URL {url}\n"
          f"Notebooks are served from {root} (a scratch copy unless --root was given);\n"
          f"the demo repository is {args.repo} (`demo-repo` there). Press Ctrl+C to stop.",
          flush=True)
    return serve(proc)


def run_panel(args: argparse.Namespace) -> int:
    """Serve the Panel repository explorer from icechunk_widgets, if this checkout has it."""
    if importlib.util.find_spec("icechunk_widgets") is None or \
            importlib.util.find_spec(PANEL_MODULE) is None:
        print(f"The Panel explorer ({PANEL_MODULE}) is not part of this checkout yet. "
              "Use `make demo` for JupyterLab, or update to a version with icechunk_widgets' "
              "Panel app.", file=sys.stderr)
        return 2
    proc = subprocess.Popen([sys.executable, "-m", PANEL_MODULE, str(args.repo)],
                            env=dict(os.environ, PYTHONPATH=str(ROOT)), preexec_fn=die_with_parent)
    return serve(proc)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("mode", choices=["lab", "panel"], nargs="?", default="lab")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--repo", type=Path, default=ROOT / "demo-repo",
                        help="where to build the demo repository")
    parser.add_argument("--root", type=Path, default=None,
                        help="serve this folder (must contain notebooks/) instead of a scratch "
                             "copy of the checkout's notebooks")
    parser.add_argument("--state-dir", type=Path, default=None,
                        help="JupyterLab settings/runtime/workspaces (default: a new temp folder)")
    parser.add_argument("--no-build", action="store_true", help="reuse an existing demo repository")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Build the demo repository unless asked not to, then start the chosen server."""
    args = parse_args(argv)
    args.repo = args.repo.resolve()
    if not args.no_build:
        build_demo_repo(args.repo)
    return run_lab(args) if args.mode == "lab" else run_panel(args)


if __name__ == "__main__":
    sys.exit(main())
