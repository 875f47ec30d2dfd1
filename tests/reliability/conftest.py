"""Shared fixtures of the reliability tests: one parametrized storage backend.

A new backend (S3, GCS, Azure...) joins every fault test by adding one entry to
:data:`BACKENDS` that returns a fresh, empty storage for a test.
"""

from __future__ import annotations

import multiprocessing as mp
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

import icechunk as ic

sys.path.insert(0, str(Path(__file__).parent))

from servers.fixtures import s3_bucket, s3_server  # noqa: F401  (pytest fixtures)

BACKENDS: dict[str, Callable[[Path], ic.Storage]] = {
    "memory": lambda tmp: ic.in_memory_storage(),
    "local": lambda tmp: ic.local_filesystem_storage(str(tmp / "repo")),
}


@pytest.fixture(scope="session")
def processes() -> mp.context.ForkServerContext:
    """Start child processes from a forkserver that imported icechunk and the worker
    modules once: a child starts in ~0.1 s instead of seconds."""
    context = mp.get_context("forkserver")
    context.set_forkserver_preload(["icechunk", "zarr", "numpy", "maint_writer", "s3_workers", "crash_writer"])
    return context


@pytest.fixture(params=sorted(BACKENDS))
def fresh_storage(request: pytest.FixtureRequest, tmp_path: Path) -> ic.Storage:
    """An empty storage of each registered backend."""
    return BACKENDS[request.param](tmp_path)
