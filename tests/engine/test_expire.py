"""Repository.expire_snapshots: which snapshots go, how survivors are re-parented, refs.

The expected values were measured on the real icechunk 2.3.0 wheel with the same
histories (see the interop tests for the cross-implementation checks).
"""

from __future__ import annotations

import datetime as dt

import pytest

import icechunk as ic
from engine.maintenance_helpers import (
    ancestry_ids,
    keys,
    new_repo,
    now_after_writes,
    op_kinds,
    read,
    write,
    written_at,
)
from engine.storage_kinds import NewStorage
from icechunk.errors import AlreadyExistsError, ErrorKind
from icechunk.format.ids import SnapshotId
from icechunk.format.repo_info import decode_repo_info

INITIAL = "1CECHNKREP0F1RSTCMT0"


def _raw_repo(repo: ic.Repository) -> bytes:
    from zarr.core.sync import sync

    data: bytes = sync(repo.storage.get("repo"))
    return data


def _pruned(repo: ic.Repository, snapshot_id: str) -> list[str] | None:
    info = decode_repo_info(_raw_repo(repo))
    logs = info.snapshots[SnapshotId.parse(snapshot_id)].pruned_ancestor_tx_logs
    return None if logs is None else [str(x) for x in logs]


@pytest.fixture
def history(new_storage: NewStorage) -> tuple[ic.Repository, list[str]]:
    """main: create, w0 (branch feat), w1 (tag t1), w2, then tip 'new' after the cut."""
    repo = new_repo(new_storage())
    snaps = [write(repo, "main", i, i) for i in range(4)]
    repo.create_branch("feat", snaps[1])
    repo.create_tag("t1", snaps[2])
    snaps.append(write(repo, "main", 3, 99))
    return repo, snaps


def test_expire_keeps_ref_tips_and_reparents_onto_the_root(
    history: tuple[ic.Repository, list[str]],
) -> None:
    repo, snaps = history
    cutoff = written_at(repo, snaps[4])
    expired = repo.expire_snapshots(cutoff)
    assert expired == {snaps[0], snaps[3]}
    assert ancestry_ids(repo, branch="main") == [snaps[4], INITIAL]
    assert ancestry_ids(repo, branch="feat") == [snaps[1], INITIAL]
    assert ancestry_ids(repo, tag="t1") == [snaps[2], snaps[1], INITIAL]
    # The skipped ancestors' transaction logs stay referenced, oldest first.
    assert _pruned(repo, snaps[4]) == snaps[:4]
    assert _pruned(repo, snaps[1]) == [snaps[0]]
    assert _pruned(repo, snaps[2]) is None
    assert read(repo, branch="main") == [0, 1, 2, 99]
    assert read(repo, branch="feat") == [0, 1, -1, -1]


def test_the_bound_is_exclusive(history: tuple[ic.Repository, list[str]]) -> None:
    repo, snaps = history
    expired = repo.expire_snapshots(written_at(repo, snaps[3]))
    assert snaps[3] not in expired
    assert expired == {snaps[0]}
    assert ancestry_ids(repo, branch="main")[:2] == [snaps[4], snaps[3]]


def test_expiration_is_one_logged_update(history: tuple[ic.Repository, list[str]]) -> None:
    repo, snaps = history
    before = len(list(repo.ops_log()))
    repo.expire_snapshots(written_at(repo, snaps[4]))
    assert len(list(repo.ops_log())) == before + 1
    assert op_kinds(repo, 1) == ["ExpirationRan"]


def test_nothing_to_expire_still_logs_the_run(new_storage: NewStorage) -> None:
    repo = new_repo(new_storage())
    snap = write(repo, "main", 0, 1)
    assert repo.expire_snapshots(dt.datetime(2000, 1, 1, tzinfo=dt.UTC)) == set()
    assert op_kinds(repo, 2) == ["ExpirationRan", "NewCommit"]
    assert ancestry_ids(repo, branch="main") == [snap, INITIAL]


def test_expired_refs_are_deleted_when_asked(history: tuple[ic.Repository, list[str]]) -> None:
    repo, snaps = history
    expired = repo.expire_snapshots(
        written_at(repo, snaps[4]), delete_expired_branches=True, delete_expired_tags=True
    )
    assert expired == set(snaps[:4])
    assert repo.list_branches() == {"main"}
    assert repo.list_tags() == set()
    assert ancestry_ids(repo, branch="main") == [snaps[4], INITIAL]
    with pytest.raises(AlreadyExistsError) as info:
        repo.create_tag("t1", snaps[4])
    assert info.value.kind == ErrorKind.TAG_PREVIOUSLY_DELETED


def test_main_tip_never_expires_but_a_branch_sharing_it_is_deleted(new_storage: NewStorage) -> None:
    repo = new_repo(new_storage())
    write(repo, "main", 0, 1)
    tip = write(repo, "main", 1, 2)
    repo.create_branch("same", tip)
    later = dt.datetime.now(dt.UTC) + dt.timedelta(days=1)
    expired = repo.expire_snapshots(later, delete_expired_branches=True)
    assert tip not in expired
    assert repo.list_branches() == {"main"}
    assert ancestry_ids(repo, branch="main") == [tip, INITIAL]
    assert read(repo, branch="main") == [1, 2, -1, -1]


def test_refs_at_the_root_are_never_deleted(new_storage: NewStorage) -> None:
    repo = new_repo(new_storage())
    repo.create_branch("empty", INITIAL)
    repo.create_tag("start", INITIAL)
    write(repo, "main", 0, 1)
    later = dt.datetime.now(dt.UTC) + dt.timedelta(days=1)
    repo.expire_snapshots(later, delete_expired_branches=True, delete_expired_tags=True)
    assert repo.list_branches() == {"main", "empty"}
    assert repo.list_tags() == {"start"}


def test_a_second_expiration_splices_earlier_pruned_ids(new_storage: NewStorage) -> None:
    repo = new_repo(new_storage())
    snaps = [write(repo, "main", i % 4, i) for i in range(5)]
    repo.expire_snapshots(written_at(repo, snaps[2]))
    assert _pruned(repo, snaps[2]) == snaps[:2]
    repo.expire_snapshots(written_at(repo, snaps[4]))
    assert ancestry_ids(repo, branch="main") == [snaps[4], INITIAL]
    assert _pruned(repo, snaps[4]) == snaps[:4]


async def test_async_expire(history: tuple[ic.Repository, list[str]]) -> None:
    repo, snaps = history
    expired = await repo.expire_snapshots_async(written_at(repo, snaps[4]))
    assert expired == {snaps[0], snaps[3]}


def test_unreachable_snapshots_expire_too(new_storage: NewStorage) -> None:
    repo = new_repo(new_storage())
    first = write(repo, "main", 0, 1)
    dangling = write(repo, "main", 1, 2)
    repo.reset_branch("main", first)
    tip = write(repo, "main", 2, 3)
    expired = repo.expire_snapshots(written_at(repo, tip))
    assert expired == {first, dangling}
    with pytest.raises(ic.SnapshotNotFoundError):
        repo.lookup_snapshot(dangling)


@pytest.mark.parametrize(
    "bad",
    [dt.datetime(2020, 1, 1), "2020-01-01", 1577836800, dt.date(2020, 1, 1)],
    ids=["naive", "str", "int", "date"],
)
def test_bad_time_bounds_are_type_errors(new_storage: NewStorage, bad: object) -> None:
    repo = new_repo(new_storage())
    with pytest.raises(TypeError):
        repo.expire_snapshots(bad)  # type: ignore[arg-type]
    assert op_kinds(repo, 1) == ["RepoInitialized"]


def test_non_utc_time_zones_are_honoured(history: tuple[ic.Repository, list[str]]) -> None:
    repo, snaps = history
    plus_five = dt.timezone(dt.timedelta(hours=5))
    cutoff = written_at(repo, snaps[4]).astimezone(plus_five)
    assert repo.expire_snapshots(cutoff) == {snaps[0], snaps[3]}


def test_v1_expiration_adopts_the_oldest_kept_snapshot_onto_the_root() -> None:
    """Spec v1 has no repo file: expiration rewrites the kept snapshot's parent in place."""
    config = ic.RepositoryConfig(inline_chunk_threshold_bytes=0)
    storage = ic.in_memory_storage()
    repo = ic.Repository.create(storage, config=config, spec_version=1)
    root = ancestry_ids(repo, branch="main")[0]
    snaps = [write(repo, "main", i, i + 1) for i in range(4)]
    repo.create_tag("old", snaps[1])
    expired = repo.expire_snapshots(written_at(repo, snaps[2]))
    # main releases snaps[0..1]; the expired tag's tip is itself released and adopted.
    assert expired == {snaps[0], snaps[1]}
    assert ancestry_ids(repo, branch="main") == [snaps[3], snaps[2], root]
    assert ancestry_ids(repo, tag="old") == [snaps[1], root]
    assert read(repo, tag="old") == [1, 2, -1, -1]
    summary = repo.garbage_collect(now_after_writes())
    assert summary.snapshots_deleted == 1 and summary.transaction_logs_deleted == 1
    assert keys(storage, "snapshots") == {root, snaps[1], snaps[2], snaps[3]}
    assert read(repo, branch="main") == [1, 2, 3, 4]
    # Even main's expired tip is reported (it is kept, adopted onto the root), as the
    # real wheel does on v1; the tag already points at a child of the root.
    everything = repo.expire_snapshots(now_after_writes(), delete_expired_tags=True)
    assert everything == {snaps[2], snaps[3]}
    assert repo.list_tags() == set()
    assert ancestry_ids(repo, branch="main") == [snaps[3], root]
    with pytest.raises(ic.IcechunkError, match="upgrade") as info:
        repo.ops_log()
    assert info.value.kind == ErrorKind.UNSUPPORTED_SPEC_VERSION


def test_diff_over_an_expired_span_includes_the_pruned_commits(
    history: tuple[ic.Repository, list[str]],
) -> None:
    repo, snaps = history
    before = repo.diff(from_snapshot_id=INITIAL, to_snapshot_id=snaps[4])
    repo.expire_snapshots(written_at(repo, snaps[4]))
    after = repo.diff(from_snapshot_id=INITIAL, to_snapshot_id=snaps[4])
    assert after.updated_chunks == before.updated_chunks == {"/a": [[0], [1], [2], [3]]}
    assert after.new_arrays == before.new_arrays == {"/a"}
