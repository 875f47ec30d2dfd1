"""Real-browser fixtures: Debian Chromium via Playwright, and one real JupyterLab server.

Chromium is the Debian package (``make test`` installs it); Playwright only drives it
(``executable_path``), so no browser download is needed. The JupyterLab server runs on a
free loopback port with its own config, runtime, settings and workspace directories, and
its kernels import this checkout (``PYTHONPATH``). A missing Chromium fails, never skips.
"""

from __future__ import annotations

import ctypes
import json
import os
import re
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import nbformat
import pytest
from jupyter_client import BlockingKernelClient
from playwright.sync_api import Browser, Page, expect

ROOT = Path(__file__).resolve().parents[3]
# The session's one Chromium (the `chromium` fixture) lives in tests/conftest.py, shared with
# the demo test: a second sync Playwright in the same process would fail.
IMAGES = ROOT / "docs" / "images"
# Kernels import zarr, icechunk and build repositories before a widget shows: on a loaded
# 2-core machine (the first widget of a session imports and builds everything) that takes
# well over Playwright's 5 s default for expect(); 45 s still flaked once under load.
expect.set_options(timeout=90_000)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def wait_for_port(port: int, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.1)
    raise TimeoutError(f"nothing listening on port {port}")


def _die_with_parent() -> None:  # no orphaned servers if pytest is killed
    ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


@dataclass
class Lab:
    """A running JupyterLab server and what tests need to drive it."""

    root: Path
    runtime: Path
    port: int
    token: str
    proc: subprocess.Popen[bytes]
    log: Path
    clients: dict[str, BlockingKernelClient] = field(default_factory=dict)
    sessions: dict[str, str] = field(default_factory=dict)

    def url(self, path: str) -> str:
        sep = "&" if "?" in path else "?"
        return f"http://127.0.0.1:{self.port}{path}{sep}token={self.token}"

    def api(self, path: str, method: str = "GET", body: Any = None) -> Any:
        req = urllib.request.Request(
            f"http://127.0.0.1:{self.port}{path}", method=method,
            data=None if body is None else json.dumps(body).encode(),
            headers={"Authorization": f"token {self.token}", "Content-Type": "application/json"},
        )
        with urllib.request.urlopen(req, timeout=30) as resp:
            text = resp.read()
            return json.loads(text) if text else None

    def write_notebook(self, name: str, cells: list[str]) -> None:
        nb = nbformat.v4.new_notebook()
        nb.cells = [nbformat.v4.new_code_cell(c) for c in cells]
        nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                     "language": "python"}
        nbformat.write(nb, self.root / name)

    def connect_kernel(self, name: str) -> None:
        """Connect a client to the kernel the UI started for notebook ``name``."""
        deadline = time.monotonic() + 60
        while True:
            sessions = [x for x in self.api("/api/sessions") if x.get("path") == name]
            if sessions:
                break
            if time.monotonic() > deadline:
                raise TimeoutError(f"no kernel session for {name}")
            time.sleep(0.2)
        self.sessions[name] = sessions[0]["id"]
        kernel_id = sessions[0]["kernel"]["id"]
        client = BlockingKernelClient(connection_file=str(self.runtime / f"kernel-{kernel_id}.json"))
        client.load_connection_file()
        client.start_channels(hb=False)  # heartbeat lags under load; kernel_info is the check
        client.wait_for_ready(timeout=60)
        self.clients[name] = client

    def eval(self, name: str, expr: str) -> str:
        """Evaluate ``expr`` in the notebook's kernel; its repr as a string."""
        client = self.clients[name]
        msg_id = client.execute("", silent=True, user_expressions={"v": expr})
        while True:
            reply = client.get_shell_msg(timeout=30)
            if reply["parent_header"].get("msg_id") == msg_id:
                break
        value = reply["content"]["user_expressions"]["v"]
        if value["status"] != "ok":
            raise AssertionError(f"{expr!r} failed in the kernel: {value}")
        return str(value["data"]["text/plain"])

    def stop_kernel(self, name: str) -> None:
        client = self.clients.pop(name, None)
        if client is not None:
            _stop_channels(client)
        session = self.sessions.pop(name, None)
        if session is not None:
            self.api(f"/api/sessions/{session}", "DELETE")


@pytest.fixture(scope="session")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    tmp = tmp_path_factory.mktemp("lab")
    root = tmp / "root"
    root.mkdir()
    settings = tmp / "settings" / "@jupyterlab" / "apputils-extension"
    settings.mkdir(parents=True)
    (settings / "notification.jupyterlab-settings").write_text(
        '{"checkForUpdates": false, "fetchNews": "false"}')
    port, token = free_port(), secrets.token_hex(16)
    env = dict(os.environ, JUPYTER_CONFIG_DIR=f"{tmp}/config", JUPYTER_DATA_DIR=f"{tmp}/data",
               JUPYTER_RUNTIME_DIR=f"{tmp}/runtime", JUPYTERLAB_SETTINGS_DIR=f"{tmp}/settings",
               JUPYTERLAB_WORKSPACES_DIR=f"{tmp}/ws",
               PYTHONPATH=os.pathsep.join([str(ROOT), str(ROOT / "tests")]))
    log = tmp / "server.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "jupyter", "lab", "--no-browser", "--allow-root",
             "--ServerApp.ip=127.0.0.1", f"--ServerApp.port={port}", "--ServerApp.port_retries=0",
             f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={root}",
             "--LabApp.news_url=None",
             "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
             "--LabApp.extension_manager=readonly"],
            stdout=out, stderr=subprocess.STDOUT, env=env, start_new_session=True,
            preexec_fn=_die_with_parent,
        )
    server = Lab(root, tmp / "runtime", port, token, proc, log)
    deadline = time.monotonic() + 60
    while True:
        if proc.poll() is not None:
            pytest.fail(f"jupyter lab exited with {proc.returncode}; see {log}")
        try:
            server.api("/api/status")
            break
        except OSError:
            if time.monotonic() > deadline:
                pytest.fail(f"jupyter lab did not answer in 60 s; see {log}")
            time.sleep(0.2)
    yield server
    os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(15)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
    for name in list(server.clients):
        _stop_channels(server.clients.pop(name))


def _stop_channels(client: BlockingKernelClient) -> None:
    """Stop a kernel client's channels without hanging the run.

    Seen here: ``stop_channels`` blocked in a thread join at the end of a run whose test
    had failed mid-notebook, keeping pytest (and the server) alive.
    """
    worker = threading.Thread(target=client.stop_channels, daemon=True)
    worker.start()
    worker.join(5)


@pytest.fixture
def page(chromium: Browser) -> Iterator[Page]:
    context = chromium.new_context(viewport={"width": 1400, "height": 1000})
    tab = context.new_page()
    tab.set_default_timeout(30_000)
    yield tab
    context.close()


def open_and_run(lab: Lab, page: Page, name: str) -> None:
    """Open a notebook, let the UI start its kernel, run all cells, connect a kernel client.

    The UI starts the kernel itself: a kernel pre-started over REST still raised the
    "Select Kernel" dialog here, and accepting it may start a second kernel.
    """
    page.goto(lab.url(f"/lab/tree/{name}?reset"))
    dialog = page.locator(".jp-Dialog", has_text="Select Kernel")
    idle = page.locator(".jp-Notebook-ExecutionIndicator[data-status='idle']")
    deadline = time.monotonic() + 60
    while not (idle.is_visible() and page.locator(".jp-Notebook").is_visible()):
        if dialog.is_visible():
            dialog.locator(".jp-mod-accept").click()
        if time.monotonic() > deadline:
            raise TimeoutError("the notebook's kernel never became idle")
        time.sleep(0.2)
    # Under load the UI sometimes still asks for a kernel when cells first run; accept its
    # default and run again if nothing ran (cells that ran show a number in their prompt).
    executed = page.locator(".jp-InputPrompt", has_text=re.compile(r"\[[0-9*]+\]"))
    last_run = 0.0
    while executed.count() == 0:
        if dialog.is_visible():
            dialog.locator(".jp-mod-accept").click()
        elif time.monotonic() - last_run > 8:
            page.locator(".lm-MenuBar-itemLabel", has_text=re.compile(r"^Run$")).click()
            page.locator(".lm-Menu-itemLabel", has_text=re.compile(r"^Run All Cells$")).click()
            last_run = time.monotonic()
        if time.monotonic() > deadline + 60:
            raise TimeoutError("the notebook's cells never ran")
        time.sleep(0.2)
    lab.connect_kernel(name)


def screenshot(locator: Any, name: str) -> None:
    """Take the widget's picture; it replaces docs/images/ only with ICECHUNK_UPDATE_SCREENSHOTS=1.

    A plain test run must not rewrite tracked files, so by default the picture goes to a
    scratch folder (taking it still proves the widget renders).
    """
    target = IMAGES if os.environ.get("ICECHUNK_UPDATE_SCREENSHOTS") == "1" else _SCRATCH
    target.mkdir(parents=True, exist_ok=True)
    locator.screenshot(path=str(target / name))


_SCRATCH = Path(tempfile.gettempdir()) / "icechunk-widget-screenshots"
