"""Shared fixtures: scratch repository paths and real-wheel sample repositories.

The sample repositories are written once per test run by ``tests/interop/scripts/
write_sample.py`` under the real wheels, then copied per test so tests may mutate them. Under
pytest-xdist every worker is its own pytest session, so the one-time build is guarded by a file
lock in the directory shared by all workers (the parent of each worker's base temp dir).
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from hypothesis import settings
from interop import harness
from interop.samples import SampleRepo

# Timing belongs in benchmarks/, not in unit tests: a loaded CI machine must not turn a
# slow example into a failure.
settings.register_profile("pyicechunk", deadline=None)
settings.load_profile("pyicechunk")

# Reliability figures (tests/reliability/figures.py): the run that starts first (the
# xdist controller, or a plain run) names the file; workers inherit it through the env.
_FIGURES_ENV = "ICECHUNK_FIGURES_FILE"
_FIGURES_OWNED = pytest.StashKey[str]()


def pytest_configure(config: pytest.Config) -> None:
    if _FIGURES_ENV not in os.environ:
        fd, path = tempfile.mkstemp(prefix="icechunk-figures-", suffix=".jsonl")
        os.close(fd)
        os.environ[_FIGURES_ENV] = path
        config.stash[_FIGURES_OWNED] = path


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    path = config.stash.get(_FIGURES_OWNED, None)
    if path is None or not os.path.exists(path):
        return
    lines = [json.loads(line) for line in Path(path).read_text().splitlines() if line]
    os.unlink(path)
    if lines:
        terminalreporter.section("reliability figures")
        for line in lines:
            terminalreporter.write_line(line)


@pytest.fixture
def tmp_repo_path(tmp_path: Path) -> Path:
    """A path for a new repository; the directory does not exist yet."""
    return tmp_path / "repo"


@pytest.fixture(scope="session")
def real_python() -> str:
    """Interpreter of the venv with the real icechunk 2.x wheel."""
    return harness.real_python()


@pytest.fixture(scope="session")
def v1_python() -> str:
    """Interpreter of the venv with icechunk 1.1.21 (writes spec-v1 repositories)."""
    return harness.v1_python()


def _shared_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    base = tmp_path_factory.getbasetemp()
    # Under xdist each worker's base temp dir is <run>/popen-gwN; their parent is shared.
    return base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base


@contextmanager
def _file_lock(path: Path) -> Iterator[None]:
    with path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _build_once(
    shared: Path, name: str, build: Callable[[Path], dict[str, Any]]
) -> tuple[Path, dict[str, Any]]:
    """Run ``build(repo_dir)`` once across all xdist workers; return the repo and its result."""
    target = shared / name
    result_file = shared / f"{name}.json"
    with _file_lock(shared / f"{name}.lock"):
        if not result_file.exists():
            if target.exists():  # a previous attempt failed half-way
                shutil.rmtree(target)
            result = build(target)
            tmp = result_file.with_suffix(".tmp")
            tmp.write_text(json.dumps(result))
            tmp.replace(result_file)
    return target, json.loads(result_file.read_text())


def _sample_builder(python: str) -> Callable[[Path], dict[str, Any]]:
    def build(target: Path) -> dict[str, Any]:
        info = harness.run_script("write_sample", target, python=python)
        dump = harness.run_script("dump", target, python=python)
        return {"info": info, "dump": dump}

    return build


def _copy_sample(source: tuple[Path, dict[str, Any]], dest: Path) -> SampleRepo:
    path, result = source
    shutil.copytree(path, dest)
    return SampleRepo(path=dest, info=result["info"], dump=result["dump"])


@pytest.fixture(scope="session")
def real_sample_source(
    tmp_path_factory: pytest.TempPathFactory, real_python: str
) -> tuple[Path, dict[str, Any]]:
    """The pristine sample repository written by the real 2.x wheel. Do not modify it."""
    shared = _shared_dir(tmp_path_factory)
    return _build_once(shared, "real-sample", _sample_builder(real_python))


@pytest.fixture(scope="session")
def v1_sample_source(
    tmp_path_factory: pytest.TempPathFactory, v1_python: str
) -> tuple[Path, dict[str, Any]]:
    """The pristine spec-v1 sample repository written by icechunk 1.1.21. Do not modify it."""
    shared = _shared_dir(tmp_path_factory)
    return _build_once(shared, "v1-sample", _sample_builder(v1_python))


@pytest.fixture
def real_sample_repo(real_sample_source: tuple[Path, dict[str, Any]], tmp_path: Path) -> SampleRepo:
    """A private copy of the real-wheel (spec v2) sample repository."""
    return _copy_sample(real_sample_source, tmp_path / "real-sample")


@pytest.fixture
def v1_sample_repo(v1_sample_source: tuple[Path, dict[str, Any]], tmp_path: Path) -> SampleRepo:
    """A private copy of the icechunk 1.1.21 (spec v1) sample repository."""
    return _copy_sample(v1_sample_source, tmp_path / "v1-sample")


CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
CHROME_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-dev-shm-usage",
]


@pytest.fixture(scope="module")
def chromium() -> Iterator[Any]:
    """A headless Debian Chromium for the browser tests of one module.

    While Playwright's sync API is open it keeps an event loop running in this thread: a
    second ``sync_playwright()`` fails, and so does every asyncio test (pytest-asyncio cannot
    start its runner). Module scope closes it before tests of any other module run, and
    browser tests take this fixture instead of starting their own.
    """
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: run `make test`, which installs Debian chromium")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROME_ARGS)
        yield browser
        browser.close()
