"""One storage fixture for the whole engine suite; see :mod:`engine.storage_kinds`."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from pathlib import Path

import pytest
from servers.fixtures import s3_server

import icechunk as ic
from engine.storage_kinds import ENV_VAR, NewStorage, storage_kind

_FIXTURES = (s3_server,)  # requested by name through request.getfixturevalue
_ENGINE_DIR = Path(__file__).resolve().parent


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "local_only(reason): the test needs the local filesystem itself; "
        f"deselected when {ENV_VAR}=s3 runs the engine suite on S3",
    )


@pytest.fixture
def new_storage(request: pytest.FixtureRequest, tmp_path: Path) -> NewStorage:
    """Factory of storages for this test: ``new_storage("name")`` -> an ``ic.Storage``.

    The same name gives the same location again (to reopen a repository); a different name
    gives an independent, empty location. Local: ``tmp_path / name``; S3: prefix ``name`` in a
    fresh moto bucket for this test.
    """
    if storage_kind() == "local":
        return lambda name="repo": ic.local_filesystem_storage(str(tmp_path / name))
    endpoint = request.getfixturevalue("s3_server")
    bucket = endpoint.create_bucket()

    def make(name: str = "repo") -> ic.Storage:
        storage: ic.Storage = ic.s3_storage(**endpoint.storage_kwargs(bucket, name))
        return storage

    return make


@pytest.fixture
def unique_storage(new_storage: NewStorage) -> Callable[[], ic.Storage]:
    """Factory of fresh, independent storages (for hypothesis tests: one per example)."""
    counter = itertools.count()
    return lambda: new_storage(f"repo-{next(counter)}")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if storage_kind() != "s3":
        return
    keep: list[pytest.Item] = []
    dropped: list[pytest.Item] = []
    reasons: dict[str, int] = {}
    for item in items:
        if _ENGINE_DIR not in Path(str(item.path)).resolve().parents:
            keep.append(item)
            continue
        marker = item.get_closest_marker("local_only")
        if marker is not None:
            reason = str(marker.kwargs.get("reason") or (marker.args or ["(no reason)"])[0])
            reasons[f"local_only: {reason}"] = reasons.get(f"local_only: {reason}", 0) + 1
            dropped.append(item)
        elif "new_storage" not in getattr(item, "fixturenames", ()):
            reasons["storage-independent (does not use new_storage)"] = (
                reasons.get("storage-independent (does not use new_storage)", 0) + 1
            )
            dropped.append(item)
        else:
            keep.append(item)
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = keep
    config.stash[_REASONS] = reasons


_REASONS = pytest.StashKey[dict[str, int]]()


def pytest_report_header(config: pytest.Config) -> str | None:
    if storage_kind() != "s3":
        return None
    return (
        f"{ENV_VAR}=s3: tests/engine runs on S3 (moto); tests marked local_only and tests "
        "that do not use new_storage are deselected"
    )


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    reasons = terminalreporter.config.stash.get(_REASONS, None)
    if not reasons:
        return
    terminalreporter.section(f"engine suite on S3 ({ENV_VAR}=s3): deselected tests")
    for reason, count in sorted(reasons.items()):
        terminalreporter.write_line(f"{count:4d}  {reason}")
