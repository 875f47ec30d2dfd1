"""Session.amend and Session.flush: replacing the branch tip, detached snapshots.

The expected behaviour was measured on the real icechunk 2.3.0 wheel (see
tests/interop/test_vc_scenario.py for the side-by-side run).
"""

from __future__ import annotations

import pytest
import zarr

import icechunk as ic
from engine.storage_kinds import NewStorage
from icechunk.format.ids import SnapshotId


@pytest.fixture
def repo(new_storage: NewStorage) -> ic.Repository:
    repo = ic.Repository.create(new_storage())
    session = repo.writable_session("main")
    root = zarr.group(store=session.store)
    root.create_array("a", shape=(4,), chunks=(2,), dtype="i4", fill_value=0)
    session.commit("create a")
    return repo


def _write(repo: ic.Repository, index: slice, value: int) -> ic.Session:
    session = repo.writable_session("main")
    zarr.open_array(session.store, path="a")[index] = value
    return session


def test_amend_replaces_the_tip(repo: ic.Repository) -> None:
    base = repo.lookup_branch("main")
    first = _write(repo, slice(0, 2), 1).commit("first", metadata={"k": 1})
    session = _write(repo, slice(2, 4), 2)
    amended = session.amend("first, amended", metadata={"k": 2})

    assert repo.lookup_branch("main") == amended
    [tip, parent, _] = list(repo.ancestry(branch="main"))
    assert (tip.id, tip.message, tip.metadata) == (amended, "first, amended", {"k": 2})
    assert tip.parent_id == parent.id == base
    # The replaced snapshot is no longer on the branch but still in the repository.
    assert repo.lookup_snapshot(first).message == "first"
    assert session.read_only and session.snapshot_id == amended
    values = zarr.open_array(repo.readonly_session("main").store, path="a")[:]
    assert values.tolist() == [1, 1, 2, 2]


def test_amended_log_covers_both_commits(repo: ic.Repository) -> None:
    base = repo.lookup_branch("main")
    _write(repo, slice(0, 2), 1).commit("first")
    amended = _write(repo, slice(2, 4), 2).amend("amended")
    diff = repo.diff(from_snapshot_id=base, to_snapshot_id=amended)
    assert diff.updated_chunks == {"/a": [[0], [1]]}


def test_amend_of_created_then_deleted_node_leaves_no_trace(repo: ic.Repository) -> None:
    base = repo.lookup_branch("main")
    session = repo.writable_session("main")
    zarr.open_group(session.store).create_group("tmp")
    session.commit("add tmp")
    session = repo.writable_session("main")
    del zarr.open_group(session.store)["tmp"]
    amended = session.amend("nothing left")
    assert repo.diff(from_snapshot_id=base, to_snapshot_id=amended).is_empty()


def test_amend_records_commit_amended_in_ops_log(repo: ic.Repository) -> None:
    first = _write(repo, slice(0, 2), 1).commit("first")
    amended = repo.writable_session("main").amend("reworded", allow_empty=True)
    latest = next(iter(repo.ops_log()))
    assert type(latest.kind).__name__.endswith("CommitAmended")
    assert latest.kind.branch == "main"
    assert latest.kind.previous_snap_id == first
    assert latest.kind.new_snap_id == amended


def test_amend_rules(repo: ic.Repository, new_storage: NewStorage) -> None:
    with pytest.raises(ic.SessionStateError) as err:
        repo.writable_session("main").amend("no changes")
    assert err.value.kind == "no-changes-to-commit"

    fresh = ic.Repository.create(new_storage("fresh"))
    session = fresh.writable_session("main")
    zarr.group(store=session.store)
    with pytest.raises(ic.SessionStateError) as err:
        session.amend("first ever")
    assert err.value.kind == "no-amend-for-initial-commit"
    assert fresh.lookup_branch("main") == "1CECHNKREP0F1RSTCMT0"

    stale = _write(repo, slice(0, 1), 5)
    tip = _write(repo, slice(1, 2), 6).commit("moved on")
    with pytest.raises(ic.ConflictError):
        stale.amend("stale")
    assert repo.lookup_branch("main") == tip

    with pytest.raises(ic.SessionStateError) as err:
        repo.readonly_session("main").amend("ro", allow_empty=True)
    assert err.value.kind == "commit-not-allowed"
    with pytest.raises(TypeError):
        repo.writable_session("main").amend("m", {"k": 1})  # type: ignore[misc]


def test_forks_cannot_amend_or_flush(repo: ic.Repository) -> None:
    fork = repo.writable_session("main").fork()
    with pytest.raises(ic.SessionStateError):
        fork.amend("x", allow_empty=True)
    with pytest.raises(ic.SessionStateError):
        fork.flush("x")


def test_flush_makes_a_detached_snapshot(repo: ic.Repository) -> None:
    base = repo.lookup_branch("main")
    session = _write(repo, slice(0, 2), 3)
    detached = session.flush("detached", metadata={"d": True})
    assert repo.lookup_branch("main") == base
    info = repo.lookup_snapshot(detached)
    assert (info.parent_id, info.message, info.metadata) == (base, "detached", {"d": True})
    assert session.read_only and session.snapshot_id == detached
    latest = next(iter(repo.ops_log()))
    assert type(latest.kind).__name__.endswith("NewDetachedSnapshot")
    assert latest.kind.new_snap_id == detached
    repo.create_tag("kept", detached)
    values = zarr.open_array(repo.readonly_session(tag="kept").store, path="a")[:]
    assert values.tolist() == [3, 3, 0, 0]
    assert repo.diff(from_snapshot_id=base, to_tag="kept").updated_chunks == {"/a": [[0]]}


def test_commit_argument_types(repo: ic.Repository) -> None:
    session = repo.writable_session("main")
    with pytest.raises(TypeError):
        session.commit(5)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        session.commit("m", metadata=5, allow_empty=True)  # type: ignore[arg-type]
    assert SnapshotId.parse(session.commit("ok", allow_empty=True))


def _moved_after_amends(
    repo: ic.Repository, batches: list[list[tuple[str, str]]]
) -> list[tuple[str, str]]:
    session = repo.writable_session("main")
    zarr.group(store=session.store).create_group("g").create_array("x", shape=(1,), dtype="i1")
    session.commit("g and x")
    session = repo.writable_session("main")
    zarr.group(store=session.store).create_group("h")
    session.commit("h")  # the commit every batch amends
    for batch in batches:
        session = repo.rearrange_session("main")
        for source, dest in batch:
            session.move(source, dest)
        session.amend("moves")
    log = repo.inspect_transaction_log(repo.lookup_branch("main"))
    return sorted((m["from"], m["to"]) for m in log["moved_nodes"])


@pytest.mark.parametrize(
    ("batches", "expected"),
    [
        ([[("/g", "/g2")], [("/g2", "/g3")]], [("/g", "/g3"), ("/g/x", "/g3/x")]),
        ([[("/g", "/g2")], [("/g2", "/g")]], []),
        ([[("/g", "/g2"), ("/g2/x", "/x")], [("/g2", "/g")]], [("/g/x", "/x")]),
    ],
)
def test_amended_moves_collapse_per_node(
    repo: ic.Repository, batches: list[list[tuple[str, str]]], expected: list[tuple[str, str]]
) -> None:
    # Each node keeps one record, from where it was before the tip to where it ends up;
    # a node back at its starting path has none (the same log one commit would write).
    assert _moved_after_amends(repo, batches) == expected
