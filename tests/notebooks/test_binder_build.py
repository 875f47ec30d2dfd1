"""Binder builds this repository: repo2docker's own build plan, replayed without Docker.

repo2docker needs a Docker daemon only to build and run the image: with ``--no-build --debug``
it inspects the repository and prints the Dockerfile it would build. These tests

1. run repo2docker that way on a copy of the files git knows (what Binder clones) and check it
   found binder/ (runtime.txt, requirements.txt, postBuild) and plans to install them;
2. replay that plan in a fresh virtual environment: the Python minor version repo2docker chose,
   repo2docker's base environment (its conda lock, installed with pip), then the Dockerfile's
   own ``RUN`` steps that touch binder/, verbatim, in ``/bin/sh`` from the repository root;
3. run ``pip check`` there, import the widgets, list the JupyterLab extensions, and execute
   every notebook with nbclient in that environment's kernel.

Differences from a real Binder build: pip instead of conda/mamba for the base environment, the
machine's Python 3.11 patch release, root instead of the ``jovyan`` user, and the requirements
step reuses pip's cache (``--no-cache-dir`` dropped) so a rerun takes minutes, not ten.

This needs PyPI and takes long (measured twice on 2 cores at load 10-20: 21 and 18 min, of which
13-16.5 build the environment and 4 run the notebooks), so it runs under ``make binder-check`` (BINDER_CHECK=1)
and skips in ``make test``; the offline checks of binder/ are in test_binder.py and
test_binder_badge.py.
"""

from __future__ import annotations

import json
import re
import shutil
import socket
import subprocess
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS = sorted((REPO_ROOT / "notebooks").glob("*.ipynb"))
RUNNER = Path(__file__).with_name("binder_run_notebook.py")
REPO2DOCKER = "jupyter-repo2docker==2026.4.0"
# repo2docker's venv is kept between runs; the Binder environment is rebuilt every run.
CACHE = REPO_ROOT / "build" / "binder-check"
# Conda packages of repo2docker's base environment and their names on PyPI (None: not on PyPI).
CONDA_TO_PYPI: dict[str, str | None] = {
    "python": None, "nodejs": None, "jupyterhub-singleuser": "jupyterhub",
}
INSTALL_TIMEOUT_S = 1800
ANSI_ESCAPE = re.compile(r"\x1b\[[0-9;]*m")

pytestmark = [
    pytest.mark.slow,
    pytest.mark.xdist_group("binder-build"),
    # Not skipped but deselected outside `make binder-check` (tests/notebooks/conftest.py):
    # it needs PyPI and 10-20 minutes.
    pytest.mark.binder_build,
]


@dataclass(frozen=True)
class Plan:
    """What ``repo2docker --no-build --debug`` printed for the repository copy."""

    source: Path
    log: str
    dockerfile: str
    base_env: Path  # repo2docker's conda/environment.py-X.Y.yml (its lock file sits next to it)


@dataclass(frozen=True)
class BinderEnv:
    """The replayed build: its interpreter prefix, HOME and repository directory."""

    prefix: Path
    home: Path
    repo: Path
    env: dict[str, str]


def _run(args: list[str], **kwargs: Any) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(args, capture_output=True, text=True, timeout=INSTALL_TIMEOUT_S,
                            **kwargs)
    assert result.returncode == 0, (
        f"{' '.join(map(str, args))} failed ({result.returncode}):\n"
        f"{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    )
    return result


def instructions(dockerfile: str) -> list[tuple[str, str]]:
    """The Dockerfile's instructions as (keyword, arguments), continuation lines joined."""
    joined = re.sub(r"\\\n", " ", dockerfile)
    found = []
    for line in joined.splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            keyword, _, rest = line.strip().partition(" ")
            found.append((keyword.upper(), " ".join(rest.split())))
    return found


def repository_steps(dockerfile: str) -> list[str]:
    """The ``RUN`` commands that act on binder/ files, in build order."""
    return [args for keyword, args in instructions(dockerfile)
            if keyword == "RUN" and "binder/" in args]


def base_packages(environment_yml: Path) -> list[str]:
    """repo2docker's base environment as pip requirements pinned to its linux-64 lock."""
    dependencies = environment_yml.read_text().partition("dependencies:")[2]
    names = re.findall(r"^- ([A-Za-z0-9_.-]+)", dependencies, re.MULTILINE)
    lock = environment_yml.with_name(environment_yml.stem + "-linux-64.lock").read_text()
    pins = []
    for name in names:
        pypi = CONDA_TO_PYPI.get(name, name)
        if pypi is None:
            continue
        match = re.search(rf"/{re.escape(name)}-([0-9][^-]*)-[^-/]+\.(?:conda|tar\.bz2)", lock)
        assert match, f"{name} is not in {environment_yml.name}'s lock"
        pins.append(f"{pypi}=={match.group(1)}")
    return pins


def _copy_source(dest: Path) -> Path:
    """The files git tracks plus new unignored ones: what Binder clones, with local edits."""
    listed = _run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
                  cwd=REPO_ROOT).stdout
    for name in filter(None, listed.split("\0")):
        src = REPO_ROOT / name
        if src.is_file():
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / name)
    return dest


@pytest.fixture(scope="module")
def repo2docker() -> Path:
    venv = CACHE / "repo2docker"
    exe = venv / "bin" / "repo2docker"
    version = REPO2DOCKER.partition("==")[2]
    if not (exe.exists() and version in _run([str(exe), "--version"]).stdout):
        shutil.rmtree(venv, ignore_errors=True)
        _run(["python3", "-m", "venv", str(venv)])
        _run([str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet", REPO2DOCKER])
    return exe


@pytest.fixture(scope="module")
def plan(repo2docker: Path, tmp_path_factory: pytest.TempPathFactory) -> Plan:
    source = _copy_source(tmp_path_factory.mktemp("binder") / "repo")
    result = _run([str(repo2docker), "--no-build", "--debug", "--user-id", "1000",
                   "--user-name", "jovyan", str(source)])
    dockerfile = result.stdout[result.stdout.index("FROM "):]
    version = re.search(r"Building conda environment for python=(\d+\.\d+)", result.stderr)
    assert version, f"repo2docker did not pick the conda/Python build pack:\n{result.stderr}"
    conda_dir = _run([str(repo2docker.with_name("python")), "-c",
                      "import os, repo2docker.buildpacks.conda as c; "
                      "print(os.path.dirname(c.__file__))"]).stdout.strip()
    base_env = Path(conda_dir) / f"environment.py-{version.group(1)}.yml"
    return Plan(source=source, log=result.stderr, dockerfile=dockerfile, base_env=base_env)


def test_repo2docker_finds_the_binder_folder(plan: Plan) -> None:
    runtime = (plan.source / "binder" / "runtime.txt").read_text().strip()
    assert f"Building conda environment for python={runtime.removeprefix('python-')}" in plan.log
    copies = [args for keyword, args in instructions(plan.dockerfile) if keyword == "COPY"]
    assert any(args.endswith("src/binder/requirements.txt ${REPO_DIR}/binder/requirements.txt")
               for args in copies), copies


def test_repo2docker_installs_requirements_then_runs_post_build(plan: Plan) -> None:
    steps = repository_steps(plan.dockerfile)
    assert steps[0] == (
        '${KERNEL_PYTHON_PREFIX}/bin/pip install --no-cache-dir -r "binder/requirements.txt"'
    ), steps
    assert steps[-1] == "./binder/postBuild", steps
    # With binder/ present, the root pyproject.toml is left to postBuild.
    runs = [args for keyword, args in instructions(plan.dockerfile) if keyword == "RUN"]
    assert not [run for run in runs if "pip install" in run and run not in steps], runs


@pytest.fixture(scope="module")
def binder_env(plan: Plan, tmp_path_factory: pytest.TempPathFactory) -> BinderEnv:
    work = tmp_path_factory.mktemp("binder-env")
    minor = plan.base_env.name.removeprefix("environment.py-3.").removesuffix(".yml")
    python = _run(["bash", str(REPO_ROOT / "scripts" / "find_python.sh"), minor, minor]).stdout
    prefix, home = work / "notebook-env", work / "home"
    home.mkdir()
    _run([python.strip(), "-m", "venv", str(prefix)])
    pip = [str(prefix / "bin" / "python"), "-m", "pip", "install", "--quiet"]
    _run([*pip, *base_packages(plan.base_env)])
    env = {
        "PATH": f"{prefix}/bin:{home}/.local/bin:/usr/local/bin:/usr/bin:/bin",
        "HOME": str(home), "USER": "jovyan", "SHELL": "/bin/bash", "LANG": "C.UTF-8",
        "KERNEL_PYTHON_PREFIX": str(prefix), "NB_PYTHON_PREFIX": str(prefix),
        "REPO_DIR": str(plan.source),
    }
    for step in repository_steps(plan.dockerfile):
        _run(["/bin/sh", "-c", step.replace(" --no-cache-dir", "")], cwd=plan.source, env=env)
    return BinderEnv(prefix=prefix, home=home, repo=plan.source, env=env)


def _python(binder: BinderEnv, code: str) -> str:
    return _run([str(binder.prefix / "bin" / "python"), "-c", code], cwd=binder.repo,
                env=binder.env).stdout


def test_binder_environment_has_no_broken_requirements(binder_env: BinderEnv) -> None:
    _run([str(binder_env.prefix / "bin" / "python"), "-m", "pip", "check"], env=binder_env.env)


def test_post_build_installed_this_checkout_and_the_demo_repository(
    binder_env: BinderEnv,
) -> None:
    out = _python(binder_env, (
        "import icechunk, icechunk_widgets, anywidget\n"
        "repo = icechunk.Repository.open(icechunk.local_filesystem_storage('demo-repo'))\n"
        "print(icechunk.__file__)\n"
        "print(sorted(repo.list_branches()))\n"
        "print(isinstance(icechunk_widgets.HistoryBrowser(repo), anywidget.AnyWidget))\n"
    )).splitlines()
    assert Path(out[0]).is_relative_to(binder_env.repo), out
    assert "main" in out[1], out
    assert out[2] == "True", out


def test_every_jupyter_server_extension_loads(binder_env: BinderEnv) -> None:
    listing = _run([str(binder_env.prefix / "bin" / "jupyter"), "server", "extension", "list"],
                   env=binder_env.env)
    text = ANSI_ESCAPE.sub("", listing.stdout + listing.stderr)
    validated = re.findall(r"Validating (\S+?)\.\.\.\n\s+(.*)", text)
    assert {"jupyterlab", "notebook"} <= {name for name, _ in validated}, text
    assert all(result.endswith("OK") for _, result in validated), text


def _get(url: str) -> str:
    with urllib.request.urlopen(url, timeout=30) as response:
        body: bytes = response.read()
    return body.decode()


def test_jupyterlab_serves_the_badge_notebook_with_the_widget_extensions(
    binder_env: BinderEnv, tmp_path: Path,
) -> None:
    """What the badge opens (``/lab/tree/<labpath>``) loads, and JupyterLab's page lists the
    widget front-end extensions (anywidget's and ipywidgets' manager) it will load."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    base, token = f"http://127.0.0.1:{port}", "binder-check"
    log = tmp_path / "jupyterlab.log"
    with log.open("w") as stderr:
        server = subprocess.Popen(
            # --allow-root: this replay runs as root, Binder as jovyan.
            [str(binder_env.prefix / "bin" / "jupyter"), "lab", "--no-browser", "--allow-root",
             "--ip=127.0.0.1", f"--port={port}", f"--IdentityProvider.token={token}"],
            cwd=binder_env.repo, env=binder_env.env, stdout=subprocess.DEVNULL, stderr=stderr,
        )
    try:
        page = ""
        for _ in range(180):
            try:
                page = _get(f"{base}/lab/tree/notebooks/01_quickstart.ipynb?token={token}")
                break
            except OSError:
                assert server.poll() is None, log.read_text()[-3000:]
                time.sleep(1)
        assert page, "JupyterLab did not answer within 180 s"
        config = json.loads(re.search(r'id="jupyter-config-data"[^>]*>(.*?)</script>', page,
                                      re.DOTALL).group(1))  # type: ignore[union-attr]
        loaded = {ext["name"] for ext in config["federated_extensions"]}
        assert {"@jupyter-widgets/jupyterlab-manager", "anywidget"} <= loaded, loaded
        contents = json.loads(_get(f"{base}/api/contents/notebooks/01_quickstart.ipynb"
                                   f"?token={token}&content=0"))
        assert contents["type"] == "notebook", contents
    finally:
        server.terminate()
        server.wait(timeout=60)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_notebook_runs_in_the_binder_environment(
    binder_env: BinderEnv, path: Path, tmp_path: Path,
) -> None:
    notebook = binder_env.repo / "notebooks" / path.name
    result = subprocess.run(
        [str(binder_env.prefix / "bin" / "python"), str(RUNNER), str(notebook), str(tmp_path)],
        capture_output=True, text=True, env=binder_env.env, timeout=INSTALL_TIMEOUT_S,
    )
    assert result.stdout.strip(), f"{path.name}: no report\n{result.stderr[-3000:]}"
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert result.returncode == 0, f"{path.name} failed in the Binder environment:\n{report}"
    assert Path(report["icechunk"]).is_relative_to(binder_env.repo), report
    if "icechunk_widgets" in path.read_text():
        assert report["widget_views"] > 0, f"{path.name} displayed no widget: {report}"
