"""Repository.garbage_collect and chunk_storage_stats.

The counts in ``test_expire_then_gc`` are those the real icechunk 2.3.0 gives for the same
history (its own test suite asserts them against an object store).
"""

from __future__ import annotations

import builtins
import datetime as dt
import os
import time
from pathlib import Path

import numpy as np
import pytest
import zarr
from zarr.core.sync import sync

import icechunk as ic
from engine.maintenance_helpers import (
    ancestry_ids,
    keys,
    new_repo,
    now_after_writes,
    op_kinds,
    read,
    total_size,
    write,
    written_at,
)
from engine.storage_kinds import NewStorage
from icechunk._gc import _drop_from_info, _RepoChanged, created_entirely_before
from icechunk.errors import ErrorKind, StorageError
from icechunk.format.ids import SnapshotId
from icechunk.format.model import RepoInfo, RepoStatusData, SnapshotEntry, UpdateKind
from icechunk.storage._local_reclaim import TEMP_PREFIX
from icechunk.storage.memory import InMemoryStorage

LONG_AGO = dt.datetime(2000, 1, 1, tzinfo=dt.UTC)
_MEMORY_TOO = pytest.mark.local_only(reason="in-memory storage: the same in the S3 pass")


def _storage(kind: str, new_storage: NewStorage) -> ic.Storage:
    return ic.in_memory_storage() if kind == "memory" else new_storage()


def _counts(storage: ic.Storage) -> dict[str, int]:
    return {p: len(keys(storage, p)) for p in ("snapshots", "manifests", "chunks", "transactions")}


@pytest.mark.parametrize("kind", [pytest.param("memory", marks=_MEMORY_TOO), "backend"])
@pytest.mark.parametrize("use_async", [False, True])
async def test_expire_then_gc(kind: str, use_async: bool, new_storage: NewStorage) -> None:
    storage = _storage(kind, new_storage)
    repo = ic.Repository.create(storage, config=ic.RepositoryConfig(inline_chunk_threshold_bytes=0))
    session = repo.writable_session("main")
    zarr.group(store=session.store).create_array(
        "array", shape=(1000,), chunks=(10,), dtype="i4", fill_value=-1
    )
    session.commit("array created")
    for i in range(20):
        session = repo.writable_session("main")
        zarr.open_array(session.store, path="array")[i] = i
        session.commit(f"written coord {i}")
    old = now_after_writes()
    session = repo.writable_session("main")
    zarr.open_array(session.store, path="array")[999] = 0
    session.commit("written coord 999")
    assert _counts(storage) == {"snapshots": 23, "manifests": 21, "chunks": 21, "transactions": 23}

    expired = await repo.expire_snapshots_async(old) if use_async else repo.expire_snapshots(old)
    assert len(expired) == 21
    space_before = total_size(storage)

    gc = repo.garbage_collect_async if use_async else repo.garbage_collect
    dry = gc(old, dry_run=True)
    dry = await dry if use_async else dry  # type: ignore[misc]
    assert total_size(storage) == space_before
    assert (dry.chunks_deleted, dry.snapshots_deleted, dry.manifests_deleted) == (18, 21, 20)
    assert (dry.attributes_deleted, dry.transaction_logs_deleted) == (0, 0)

    result = gc(old)
    result = await result if use_async else result  # type: ignore[misc]
    assert result == dry
    assert space_before - result.bytes_deleted == total_size(storage)
    # The expired ancestors' tx logs survive through the tip's pruned_ancestor_tx_logs.
    assert _counts(storage) == {"snapshots": 2, "manifests": 1, "chunks": 3, "transactions": 23}
    array = zarr.open_array(repo.readonly_session(branch="main").store, path="array", mode="r")
    assert array[999] == 0
    assert list(array[:20]) == list(range(20))


def test_unreferenced_expired_tx_logs_are_deleted(new_storage: NewStorage) -> None:
    repo = new_repo(new_storage())
    storage = repo.storage
    write(repo, "main", 0, 1)
    write(repo, "main", 1, 2)
    snap_b = write(repo, "main", 2, 3)
    repo.create_branch("doomed", snap_b)
    write(repo, "doomed", 3, 4)
    write(repo, "doomed", 3, 5)
    threshold = now_after_writes()
    write(repo, "main", 3, 6)
    expired = repo.expire_snapshots(threshold, delete_expired_branches=True)
    assert len(expired) == 5
    assert "doomed" not in repo.list_branches()
    result = repo.garbage_collect(threshold)
    assert result.snapshots_deleted == 5
    assert result.transaction_logs_deleted == 2
    assert len(keys(storage, "transactions")) == 5
    assert read(repo, branch="main") == [1, 2, 3, 6]


def test_dry_run_changes_nothing(new_storage: NewStorage) -> None:
    repo = new_repo(new_storage())
    first = write(repo, "main", 0, 1)
    write(repo, "main", 0, 2)
    repo.reset_branch("main", first)
    before = {p: keys(repo.storage, p) for p in ("snapshots", "chunks", "manifests")}
    log_before = list(repo.ops_log())
    summary = repo.garbage_collect(now_after_writes(), dry_run=True)
    assert summary.snapshots_deleted == 1 and summary.chunks_deleted == 1
    assert {p: keys(repo.storage, p) for p in before} == before
    assert list(repo.ops_log()) == log_before


def test_gc_logs_a_run_even_when_nothing_is_garbage(new_storage: NewStorage) -> None:
    repo = new_repo(new_storage())
    write(repo, "main", 0, 1)
    summary = repo.garbage_collect(now_after_writes())
    assert summary == ic.GCSummary()
    assert op_kinds(repo, 2) == ["GCRan", "NewCommit"]


def test_young_unreachable_snapshots_keep_their_data(new_storage: NewStorage) -> None:
    """A reset leaves snapshots only the repo info lists; GC keeps those newer than the cutoff."""
    repo = new_repo(new_storage())
    snaps = [write(repo, "main", i, i + 10) for i in range(3)]
    now_after_writes()  # on S3: snaps[3] lands in a later (listed) second than snaps[2]
    snaps.append(write(repo, "main", 3, 13))
    repo.reset_branch("main", snaps[1])
    cutoff = written_at(repo, snaps[3])  # snaps[2] is older, snaps[3] is not
    summary = repo.garbage_collect(cutoff)
    # snaps[2]'s chunk stays: snaps[3] still refers to it.
    assert (summary.snapshots_deleted, summary.chunks_deleted) == (1, 0)
    # snaps[3] survives and is re-parented over the dropped snaps[2] onto snaps[1].
    assert read(repo, snapshot_id=snaps[3]) == [10, 11, 12, 13]
    assert ancestry_ids(repo, snapshot_id=snaps[3])[:2] == [snaps[3], snaps[1]]
    with pytest.raises(ic.SnapshotNotFoundError):
        repo.lookup_snapshot(snaps[2])


def test_uncommitted_chunks_are_garbage_once_old_enough(new_storage: NewStorage) -> None:
    repo = new_repo(new_storage())
    write(repo, "main", 0, 1)
    session = repo.writable_session("main")
    zarr.open_array(session.store, path="a")[1] = 7  # written, never committed
    cutoff = now_after_writes()
    assert repo.garbage_collect(LONG_AGO).chunks_deleted == 0
    assert repo.garbage_collect(cutoff).chunks_deleted == 1
    assert read(repo, branch="main") == [1, -1, -1, -1]


def test_objects_written_after_the_cutoff_survive(new_storage: NewStorage) -> None:
    repo = new_repo(new_storage())
    first = write(repo, "main", 0, 1)
    cutoff = now_after_writes()
    write(repo, "main", 0, 2)
    repo.reset_branch("main", first)
    summary = repo.garbage_collect(cutoff)
    assert summary.snapshots_deleted == summary.chunks_deleted == 0


def test_unknown_objects_are_left_alone(new_storage: NewStorage) -> None:
    storage = new_storage()
    repo = new_repo(storage)
    write(repo, "main", 0, 1)
    sync(storage.put("chunks/not-an-id", b"x"))
    repo.garbage_collect(now_after_writes())
    assert sync(storage.exists("chunks/not-an-id"))


def test_tags_and_other_branches_protect_their_history(new_storage: NewStorage) -> None:
    repo = new_repo(new_storage())
    tagged = write(repo, "main", 0, 1)
    repo.create_tag("v1", tagged)
    branched = write(repo, "main", 1, 2)
    repo.create_branch("side", branched)
    write(repo, "side", 2, 3)
    repo.reset_branch("main", "1CECHNKREP0F1RSTCMT0")
    summary = repo.garbage_collect(now_after_writes())
    assert summary.snapshots_deleted == 0 and summary.chunks_deleted == 0
    assert read(repo, tag="v1") == [1, -1, -1, -1]
    assert read(repo, branch="side") == [1, 2, 3, -1]


def test_created_entirely_before_treats_whole_seconds_as_a_range() -> None:
    cutoff = dt.datetime(2025, 1, 1, 0, 0, 1, 500_000, tzinfo=dt.UTC)
    whole = dt.datetime(2025, 1, 1, 0, 0, 1, tzinfo=dt.UTC)
    assert not created_entirely_before(whole, cutoff)
    assert created_entirely_before(whole, cutoff + dt.timedelta(milliseconds=500))
    assert created_entirely_before(whole + dt.timedelta(microseconds=1), cutoff)
    assert not created_entirely_before(cutoff, cutoff)


class _FailingChunkDeletes(InMemoryStorage):
    """Memory storage whose chunk deletes fail, as a flaky object store's might."""

    async def _delete_batch(self, keys: builtins.list[str]) -> int:
        if any(k.startswith("manifests/") for k in keys):
            raise StorageError("simulated delete failure", ErrorKind.IO)
        return await super()._delete_batch(keys)


def test_failed_deletes_are_reported_and_later_phases_skipped() -> None:
    repo = new_repo(_FailingChunkDeletes())
    first = write(repo, "main", 0, 1)
    write(repo, "main", 1, 2)
    repo.reset_branch("main", first)
    summary = repo.garbage_collect(now_after_writes())
    assert summary.snapshots_deleted == 1
    assert summary.manifests_deleted == 0
    assert summary.objects_failed_to_delete == 1
    assert summary.delete_errors == ["simulated delete failure"]
    assert summary.skipped_phases == ["chunks"]
    assert read(repo, branch="main") == [1, -1, -1, -1]


@pytest.mark.parametrize(
    "kwargs",
    [
        {"max_snapshots_in_memory": 0},
        {"max_concurrent_manifest_fetches": 0},
        {"max_concurrent_listings": 0},
        {"max_concurrent_deletes": 0},
    ],
)
def test_zero_limits_are_value_errors(new_storage: NewStorage, kwargs: dict[str, int]) -> None:
    repo = new_repo(new_storage())
    with pytest.raises(ValueError, match="invalid zero value"):
        repo.garbage_collect(LONG_AGO, **kwargs)  # type: ignore[arg-type]


def test_naive_cutoff_is_a_type_error(new_storage: NewStorage) -> None:
    repo = new_repo(new_storage())
    with pytest.raises(TypeError, match="tzinfo"):
        repo.garbage_collect(dt.datetime(2020, 1, 1))


def test_summary_repr_matches_the_real_layout() -> None:
    text = repr(ic.GCSummary(bytes_deleted=3, chunks_deleted=1))
    assert text.startswith("<icechunk.ops.GCSummary>\nbytes_deleted: 3\nchunks_deleted: 1\n")
    assert text.endswith("delete_errors: []\nskipped_phases: []\n")
    assert "chunks_deleted" in ic.GCSummary()._repr_html_()


def test_chunk_storage_stats_counts_each_chunk_once(new_storage: NewStorage) -> None:
    config = ic.RepositoryConfig(inline_chunk_threshold_bytes=64)
    repo = ic.Repository.create(new_storage(), config=config)
    session = repo.writable_session("main")
    root = zarr.group(store=session.store)
    big = root.create_array("big", shape=(400,), chunks=(200,), dtype="i8", fill_value=0)
    small = root.create_array("small", shape=(2,), chunks=(1,), dtype="i1", fill_value=0)
    big[:] = np.random.default_rng(0).integers(0, 2**60, 400)
    small[:] = [5, 6]
    tip = session.commit("data")
    repo.create_tag("t", tip)
    stats = repo.chunk_storage_stats()
    native = sum(size for _, size in repo.storage.list_objects(prefix="chunks/"))
    assert stats.native_bytes == native > 0
    assert stats.inlined_bytes > 0 and stats.virtual_bytes == 0
    assert stats.total_bytes() == stats.non_virtual_bytes() == native + stats.inlined_bytes
    assert (stats + stats).native_bytes == 2 * native
    with pytest.warns(DeprecationWarning):
        assert repo.total_chunks_storage() == native


def _entry(sid: SnapshotId, parent: SnapshotId | None) -> SnapshotEntry:
    return SnapshotEntry(sid, parent, 0, "")


def _info(entries: list[SnapshotEntry], **branches: SnapshotId) -> RepoInfo:
    return RepoInfo(
        branches=dict(branches),
        tags={},
        deleted_tags=frozenset(),
        snapshots={e.id: e for e in entries},
        status=RepoStatusData(),
        latest_updates=(),
    )


def test_repo_info_update_reparents_over_dropped_runs_and_detects_races() -> None:
    root, a, b, c, new = (SnapshotId.random() for _ in range(5))
    entries = [_entry(root, None), _entry(a, root), _entry(b, a), _entry(c, b)]
    keep, drop = {root, a, c}, {b}
    info, record = _drop_from_info(_info(entries, main=c), keep, drop)
    assert set(info.snapshots) == {root, a, c}
    assert info.snapshots[c].parent_id == a  # nearest kept ancestor
    assert info.snapshots[c].pruned_ancestor_tx_logs == (b,)
    assert record.kind is UpdateKind.GC_RAN
    # A snapshot committed after the walk on top of a kept one is kept.
    later, _ = _drop_from_info(_info([*entries, _entry(new, c)], main=new), set(keep), drop)
    assert later.snapshots[new].parent_id == c
    # One built on a snapshot being dropped, or a ref moved onto one, restarts the run.
    with pytest.raises(_RepoChanged):
        _drop_from_info(_info([*entries, _entry(new, b)], main=c), set(keep), drop)
    with pytest.raises(_RepoChanged):
        _drop_from_info(_info(entries, main=c, side=b), set(keep), drop)


def test_commits_during_gc_survive() -> None:
    import threading

    from icechunk.testing import LatencyStorage

    storage = LatencyStorage(ic.in_memory_storage())
    repo = new_repo(storage)
    first = write(repo, "main", 0, 1)
    write(repo, "main", 1, 2)
    repo.reset_branch("main", first)  # leaves one old dangling snapshot
    cutoff = now_after_writes()
    storage.read_latency_ms = 3  # widen the window between GC's walk and its update
    results: list[ic.GCSummary] = []
    gc = threading.Thread(target=lambda: results.append(repo.garbage_collect(cutoff)))
    gc.start()
    tips = [write(ic.Repository.open(storage), "main", i, 10 + i) for i in (2, 3)]
    gc.join()
    storage.read_latency_ms = 0
    assert results[0].snapshots_deleted == 1
    assert repo.lookup_branch("main") == tips[-1]
    assert read(repo, branch="main") == [1, -1, 12, 13]
    assert ancestry_ids(repo, branch="main")[:3] == [tips[1], tips[0], first]


def test_maintenance_refuses_a_read_only_repository(new_storage: NewStorage) -> None:
    repo = new_repo(new_storage())
    write(repo, "main", 0, 1)
    repo.set_status(ic.RepoStatus(ic.RepoAvailability.read_only))
    now = now_after_writes()
    with pytest.raises(ic.ReadOnlyError):
        repo.garbage_collect(now)
    with pytest.raises(ic.ReadOnlyError):
        repo.expire_snapshots(now)
    with pytest.raises(ic.ReadOnlyError):
        repo.rewrite_manifests("x", branch="main")
    repo.set_status(ic.RepoStatus(ic.RepoAvailability.online))
    assert repo.garbage_collect(now).snapshots_deleted == 0


def _past_a_second_boundary() -> dt.datetime:
    """A cutoff every earlier write precedes by a whole second (stores list whole seconds)."""
    time.sleep(0.2)
    time.sleep(1 - dt.datetime.now(dt.UTC).microsecond / 1_000_000)
    return dt.datetime.now(dt.UTC)


def test_expire_then_gc_with_whole_second_listing_times(new_storage: NewStorage) -> None:
    storage = new_storage()  # S3 lists last-modified times in whole seconds
    repo = new_repo(storage)
    for i in range(4):
        write(repo, "main", i, i + 1)
    old = _past_a_second_boundary()
    tip = write(repo, "main", 0, 9)
    assert len(repo.expire_snapshots(old)) == 4
    before = {p: keys(storage, p) for p in ("snapshots", "manifests", "chunks")}
    summary = repo.garbage_collect(old)
    # Four expired snapshots go; of five manifests only the tip's stays; a[0]'s first
    # chunk was overwritten by the tip.
    assert (summary.snapshots_deleted, summary.manifests_deleted) == (4, 4)
    assert summary.chunks_deleted == 1
    assert keys(storage, "snapshots") == {tip, "1CECHNKREP0F1RSTCMT0"}
    assert len(keys(storage, "chunks")) == len(before["chunks"]) - 1
    assert read(repo, branch="main") == [9, 2, 3, 4]


@pytest.mark.local_only(reason="plants temporary files of interrupted local writes on disk")
@pytest.mark.parametrize("dry_run", [False, True])
def test_gc_removes_old_temporary_files_of_interrupted_writes(
    tmp_path: Path, dry_run: bool
) -> None:
    repo = ic.Repository.create(ic.local_filesystem_storage(str(tmp_path)))
    session = repo.writable_session("main")
    zarr.create_array(session.store, name="a", shape=(4,), chunks=(2,), dtype="i4")[:] = 7
    session.commit("one")
    # What a SIGKILL between writing and renaming leaves: one long ago, one just now.
    old = tmp_path / "snapshots" / f"{TEMP_PREFIX}old"
    young = tmp_path / "transactions" / f"{TEMP_PREFIX}young"
    for path in (old, young):
        path.write_bytes(b"partial")
    an_hour_ago = time.time() - 3600
    os.utime(old, (an_hour_ago, an_hour_ago))
    cutoff = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=5)

    repo.garbage_collect(cutoff, dry_run=dry_run)

    assert old.exists() == dry_run
    assert young.exists()  # may belong to a write in flight
    session = repo.readonly_session("main")
    assert zarr.open_array(session.store, path="a")[:].tolist() == [7, 7, 7, 7]
