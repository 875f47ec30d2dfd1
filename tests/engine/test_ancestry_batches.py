"""Blocking ancestry iteration pulls entries in batches; it must see the same history."""

from __future__ import annotations

import asyncio

import zarr

import icechunk as ic
from engine.storage_kinds import NewStorage


def _repo_with_commits(storage: ic.Storage, n: int) -> ic.Repository:
    repo = ic.Repository.create(storage)
    for i in range(n):
        session = repo.writable_session("main")
        zarr.create_group(session.store, path=f"g{i}")
        session.commit(f"commit {i}")
    return repo


def test_blocking_and_async_ancestry_agree(new_storage: NewStorage) -> None:
    repo = _repo_with_commits(new_storage(), 12)
    blocking = [s.message for s in repo.ancestry(branch="main")]
    assert blocking == [f"commit {i}" for i in reversed(range(12))] + [blocking[-1]]

    async def collect() -> list[str]:
        return [s.message async for s in repo.ancestry(branch="main")]

    assert asyncio.run(collect()) == blocking
    # Partly blocking, then async: the buffered batch is not lost or repeated.
    it = repo.ancestry(branch="main")
    head = [next(it).message for _ in range(3)]

    async def rest() -> list[str]:
        return [s.message async for s in it]  # type: ignore[attr-defined]

    assert head + asyncio.run(rest()) == blocking
    assert list(it) == []
