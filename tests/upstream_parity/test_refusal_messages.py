"""Refusals carry the wording the real package uses, so `match=` patterns written
against the real wheel also match ours; a store copy starts unopened like zarr's stores.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
import zarr

import icechunk as ic
from icechunk.distributed import merge_sessions


def _repo() -> ic.Repository:
    return ic.Repository.create(ic.in_memory_storage())


def test_forks_refuse_commit_and_flush_with_the_reference_wording() -> None:
    fork = _repo().writable_session("main").fork()
    with pytest.raises(ic.SessionStateError, match="commits are not allowed"):
        fork.commit("nope")
    with pytest.raises(ic.SessionStateError, match="cannot flush a forked session"):
        fork.flush("nope")


def test_merge_sessions_names_the_rejected_type() -> None:
    session = _repo().writable_session("main")
    with pytest.raises(TypeError, match="Received 'Session'"):
        merge_sessions(session, session.fork())  # type: ignore[arg-type]


def test_opening_a_missing_repository_says_it_does_not_exist(tmp_path: Path) -> None:
    target = tmp_path / "absent"
    with pytest.raises(ic.RepositoryNotFoundError, match="the repository doesn't exist"):
        ic.Repository.open(ic.local_filesystem_storage(str(target)))
    assert not target.exists()


async def test_store_copy_with_other_read_only_flag_starts_unopened() -> None:
    session = _repo().writable_session("main")
    writer = session.store.with_read_only(read_only=False)
    assert not writer._is_open
    assert not writer.read_only
    zarr.group(store=writer).create_group("made-through-the-copy")  # zarr opens it on use
    assert writer._is_open
    reader = session.store.with_read_only(read_only=True)
    assert reader.read_only and not reader._is_open
    assert session.store._is_open  # the original is untouched


async def test_missing_snapshot_object_is_reported_as_object_not_found(tmp_path: Path) -> None:
    storage = ic.local_filesystem_storage(str(tmp_path / "repo"))
    ic.Repository.create(storage)
    for snapshot in (tmp_path / "repo" / "snapshots").iterdir():
        snapshot.unlink()
    repo = ic.Repository.open(storage)
    with pytest.raises(ic.SnapshotNotFoundError, match=r"object not found.*1CECHNKREP0F1RSTCMT0"):
        [key async for key in repo.writable_session("main").store.list()]


async def test_deprecated_totals_name_the_variant_called() -> None:
    repo = _repo()
    with pytest.warns(DeprecationWarning, match="total_chunks_storage_async is deprecated"):
        assert await repo.total_chunks_storage_async() == 0
    with pytest.warns(DeprecationWarning, match="^total_chunks_storage is deprecated"):
        assert repo.total_chunks_storage() == 0


def test_html_reprs_open_with_the_shared_frame_and_qualified_titles() -> None:
    repo = _repo()
    session = repo.writable_session("main")
    frame = '<div class="icechunk-repr">'
    for html in (repo._repr_html_(), session._repr_html_(), session.store._repr_html_()):
        assert frame in html
    assert "icechunk.session.Session" in session._repr_html_()
    assert "read_only" in session._repr_html_()
    storage_html = ic.in_memory_storage()._repr_html_()
    assert frame in storage_html and "icechunk.Storage" in storage_html
    assert "in-memory" in storage_html
    (info,) = repo.ancestry(branch="main")
    assert "icechunk.snapshots.SnapshotInfo" in info._repr_html_()


def test_ancestry_resolves_its_start_when_called() -> None:
    # Like the real package, a missing ref fails at the call, before any iteration.
    repo = _repo()
    with pytest.raises(ic.RefNotFoundError, match="nope"):
        repo.ancestry(branch="nope")
    with pytest.raises(ic.RefNotFoundError, match="nope"):
        repo.ancestry(tag="nope")
    with pytest.raises(ValueError, match="one of branch, tag or snapshot_id"):
        repo.ancestry()
    assert [s.message for s in repo.ancestry(branch="main")] == ["Repository initialized"]


def test_snapshot_ids_parse_as_leniently_as_the_real_package() -> None:
    # Case, Crockford's letter aliases and the unused trailing bits are all ignored.
    repo = _repo()
    (initial,) = repo.ancestry(branch="main")
    for spelling in (initial.id.lower(), "I" + initial.id[1:], initial.id[:-1] + "1"):
        (found,) = repo.ancestry(snapshot_id=spelling)
        assert found.id == initial.id
    with pytest.raises(ic.InvalidInputError, match="invalid snapshot id"):
        repo.ancestry(snapshot_id=initial.id[:-1] + "U")


def test_read_only_store_writes_use_the_reference_wording() -> None:
    store = _repo().readonly_session("main").store
    payload = zarr.core.buffer.default_buffer_prototype().buffer.from_bytes(b"{}")
    with pytest.raises(ic.ReadOnlyError, match="read-only store"):
        asyncio.run(store.set("zarr.json", payload))
