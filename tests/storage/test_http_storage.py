"""Read-only HTTP storage: a repository published by a plain web server."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import zarr
from servers import http_file_server

import icechunk as ic
from icechunk.storage import PutMode

from . import asynctest


def _write_repo(path: Path) -> str:
    repo = ic.Repository.create(ic.local_filesystem_storage(str(path)))
    session = repo.writable_session("main")
    arr = zarr.create_array(session.store, name="a", shape=(6,), chunks=(2,), dtype="i4")
    arr[:] = np.arange(6)
    snapshot = session.commit("data")
    repo.create_tag("v1", snapshot)
    return snapshot


def test_repository_is_readable_over_http_and_writes_fail_clearly(tmp_path: Path) -> None:
    snapshot = _write_repo(tmp_path / "repo")
    with http_file_server(tmp_path) as url:
        storage = ic.http_storage(f"{url}/repo")
        assert "type: HTTP" in repr(storage)
        repo = ic.Repository.open(storage)
        assert repo.lookup_tag("v1") == snapshot
        store = repo.readonly_session(branch="main").store
        np.testing.assert_array_equal(zarr.open_array(store, path="a", mode="r")[:], range(6))
        with pytest.raises(ic.ReadOnlyError) as info:
            repo.create_branch("dev", snapshot)
        assert info.value.kind == ic.ErrorKind.READ_ONLY_STORAGE
    # nothing was written to the served directory by the failed attempt
    assert not (tmp_path / "repo" / "refs" / "branch.dev").exists()


@asynctest
async def test_http_storage_reads_ranges_and_refuses_writes(tmp_path: Path) -> None:
    (tmp_path / "dir").mkdir()
    (tmp_path / "dir" / "obj").write_bytes(b"0123456789")
    with http_file_server(tmp_path) as url:
        storage = ic.http_storage(url)
        assert not storage.can_write
        assert await storage.get("dir/obj") == b"0123456789"
        assert await storage.get("dir/obj", (2, 5)) == b"234"
        assert await storage.get("dir/obj", (8, None)) == b"89"
        assert await storage.get("dir/obj", (10, 20)) == b""
        assert await storage.get_suffix("dir/obj", 3) == b"789"
        info = await storage.head("dir/obj")
        assert info is not None and info.size_bytes == 10 and info.version is not None
        assert await storage.head("dir/missing") is None
        with pytest.raises(ic.NotFoundError):
            await storage.get("dir/missing")
        for write in (
            storage.put("dir/obj", b"x"),
            storage.put("new", b"x", mode=PutMode.CREATE),
            storage.delete_batch(["dir/obj"]),
        ):
            with pytest.raises(ic.ReadOnlyError):
                await write
        with pytest.raises(ic.StorageError, match="does not support listing"):
            [i async for i in storage.list()]
    assert (tmp_path / "dir" / "obj").read_bytes() == b"0123456789"


def test_http_storage_rejects_non_http_urls() -> None:
    with pytest.raises(ic.InvalidInputError):
        ic.http_storage("s3://bucket/repo")
