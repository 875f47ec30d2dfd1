"""Local storage durability: immutable objects are flushed in one batch before a publish."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

import icechunk.storage.local as local
from icechunk.storage import LocalFileSystemStorage, PutMode

from . import asynctest


@pytest.fixture
def root(tmp_path: Path) -> Path:
    return tmp_path / "root"


def _record_fsyncs(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Replace os.fsync in the local module by a recorder that still syncs."""
    inodes: list[int] = []
    real = os.fsync

    def recording(fd: int) -> None:
        inodes.append(os.fstat(fd).st_ino)
        real(fd)

    monkeypatch.setattr(local.os, "fsync", recording)
    return inodes


@asynctest
async def test_syncfs_runs_once_before_the_publishing_write(
    root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[int] = []
    monkeypatch.setattr(local, "_SYNCFS", lambda fd: calls.append(fd) or 0)
    fsyncs = _record_fsyncs(monkeypatch)
    storage = LocalFileSystemStorage(root)
    for i in range(5):
        await storage.put(f"chunks/c{i}", b"x" * 100)
    await storage.put("manifests/m", b"m")
    assert calls == [] and fsyncs == []  # nothing flushed per object
    await storage.put("repo", b"r", mode=PutMode.CREATE)
    assert len(calls) == 1  # one filesystem flush before the repo info write
    assert (root / "repo").stat().st_ino in fsyncs  # the publish itself is fsync'd
    assert await storage.get("chunks/c3") == b"x" * 100


@asynctest
async def test_fallback_fsyncs_every_deferred_file_before_publishing(
    root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(local, "_SYNCFS", None)
    fsyncs = _record_fsyncs(monkeypatch)
    storage = LocalFileSystemStorage(root)
    keys = [f"chunks/c{i}" for i in range(20)] + ["snapshots/s", "transactions/t", "overwritten/b"]
    for key in keys:
        await storage.put(key, key.encode())
    assert fsyncs == []
    await storage.put("repo", b"r", mode=PutMode.CREATE)
    synced = set(fsyncs)
    for key in keys:
        assert (root / key).stat().st_ino in synced
    for directory in (root, root / "chunks", root / "snapshots"):
        assert directory.stat().st_ino in synced
    # Already durable: the next publish does not sync them again.
    fsyncs.clear()
    await storage.put("refs/x", b"y")
    assert (root / "chunks" / "c0").stat().st_ino not in set(fsyncs)


@asynctest
async def test_fsync_off_never_syncs(root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[int] = []
    monkeypatch.setattr(local, "_SYNCFS", lambda fd: calls.append(fd) or 0)
    fsyncs = _record_fsyncs(monkeypatch)
    storage = LocalFileSystemStorage(root, fsync=False)
    await storage.put("chunks/a", b"a")
    await storage.put("repo", b"r", mode=PutMode.CREATE)
    assert calls == [] and fsyncs == []


def test_syncfs_is_found_on_linux() -> None:
    if os.uname().sysname != "Linux":
        pytest.skip("syncfs(2) is Linux-only; other systems use the per-file fallback")
    assert local._SYNCFS is not None
