"""Store listing and chunk-kind codes behave like the real package.

Two behaviours that callers of the real wheel rely on:

* ``list_dir`` on an array names its ``c`` directory even when no chunk was written
  (zarr tools walk into ``c`` to find chunks; the real store always offers it);
* the ``kinds`` column of ``array_chunk_iterator`` is a ``uint8`` array and its values
  compare equal to the ``ChunkType`` members.
"""

from __future__ import annotations

import asyncio
from typing import Any

import numpy as np
import zarr
from zarr.core.buffer import default_buffer_prototype

import icechunk as ic


async def _names(store: ic.IcechunkStore, prefix: str) -> list[str]:
    return sorted([name async for name in store.list_dir(prefix)])


def _fresh_session() -> ic.Session:
    repo = ic.Repository.create(ic.in_memory_storage())
    return repo.writable_session("main")


async def test_empty_array_lists_its_chunk_directory() -> None:
    session = _fresh_session()
    group = zarr.group(store=session.store)
    group.create_array("temps", shape=(6,), chunks=(3,), dtype="f8")
    assert await _names(session.store, "temps") == ["c", "zarr.json"]
    assert await _names(session.store, "temps/c") == []
    # Only the array's own directory gains ``c``: the root lists nodes, not chunk dirs.
    assert await _names(session.store, "") == ["temps", "zarr.json"]
    # Listing every key still reports real keys only.
    assert sorted([k async for k in session.store.list()]) == ["temps/zarr.json", "zarr.json"]


async def test_chunk_directory_is_listed_once_when_chunks_exist() -> None:
    session = _fresh_session()
    group = zarr.group(store=session.store)
    array = group.create_array("grid", shape=(2, 2), chunks=(1, 1), dtype="i2")
    array[:] = 7
    assert await _names(session.store, "grid") == ["c", "zarr.json"]
    assert await _names(session.store, "grid/c") == ["0", "1"]


async def test_groups_and_missing_paths_have_no_chunk_directory() -> None:
    session = _fresh_session()
    zarr.group(store=session.store).create_group("sub")
    assert await _names(session.store, "sub") == ["zarr.json"]
    assert await _names(session.store, "nowhere") == []


def _drain(iterator: Any) -> list[Any]:
    async def collect() -> list[Any]:
        return [batch async for batch in iterator]

    return asyncio.run(collect())


def test_chunk_kind_codes_compare_with_chunk_type() -> None:
    repo = ic.Repository.create(ic.in_memory_storage())
    session = repo.writable_session("main")
    group = zarr.group(store=session.store)
    array = group.create_array("v", shape=(2,), chunks=(1,), dtype="i4", compressors=None)
    array[0] = 5
    session.store.set_virtual_ref(
        "v/c/1", "s3://bucket/file.nc", offset=10, length=4, validate_container=False
    )
    session.commit("mixed")
    reader = repo.readonly_session(branch="main")
    (batch,) = _drain(reader.store.array_chunk_iterator("v", batch_size=10))
    coords, kinds = batch[0], batch[1]
    assert kinds.dtype == np.uint8
    by_coord = {tuple(c.tolist()): k for c, k in zip(coords, kinds, strict=True)}
    assert by_coord[(0,)] == ic.ChunkType.inline
    assert by_coord[(1,)] == ic.ChunkType.virtual
    assert by_coord[(1,)] != ic.ChunkType.native


def test_chunk_type_reads_like_the_real_members() -> None:
    assert int(ic.ChunkType.native) == 1
    assert ic.ChunkType.virtual == 2
    assert repr(ic.ChunkType.inline) == "ChunkType.inline"
    assert str(ic.ChunkType.uninitialized) == "ChunkType.uninitialized"
    assert [m.name for m in ic.ChunkType] == ["uninitialized", "native", "virtual", "inline"]


def test_deleting_an_array_keeps_nodes_stored_below_it() -> None:
    # Zarr never nests nodes under an array, but the store allows it; the real package
    # deletes only the array itself (a group's deletion still takes its whole subtree).
    repo = ic.Repository.create(ic.in_memory_storage())
    session = repo.writable_session("main")
    store = session.store
    array_meta = zarr.create_array(
        zarr.storage.MemoryStore(), shape=(1,), dtype="int8"
    ).metadata.to_buffer_dict(default_buffer_prototype())["zarr.json"]
    group_meta = zarr.create_group(zarr.storage.MemoryStore()).metadata.to_buffer_dict(
        default_buffer_prototype()
    )["zarr.json"]

    async def run() -> tuple[list[str], list[str]]:
        await store.set("a/zarr.json", array_meta)
        await store.set("a/b/zarr.json", array_meta)
        await store.set("g/zarr.json", group_meta)
        await store.set("g/c/zarr.json", array_meta)
        await store.delete("a/zarr.json")
        after_array = sorted([k async for k in store.list_prefix("")])
        await store.delete("g/zarr.json")
        after_group = sorted([k async for k in store.list_prefix("")])
        return after_array, after_group

    after_array, after_group = asyncio.run(run())
    assert after_array == ["a/b/zarr.json", "g/c/zarr.json", "g/zarr.json"]
    assert after_group == ["a/b/zarr.json"]
