"""Rearrange sessions: moving groups and arrays, move records, move conflicts.

Behaviour measured on the real 2.3.0 wheel; tests/interop/test_vc_scenario.py runs the
same moves under both implementations.
"""

from __future__ import annotations

import asyncio

import numpy as np
import pytest
import zarr

import icechunk as ic
from engine.storage_kinds import NewStorage
from icechunk._moves import blocked_move, moved_path


@pytest.fixture
def repo(new_storage: NewStorage) -> ic.Repository:
    repo = ic.Repository.create(new_storage())
    session = repo.writable_session("main")
    root = zarr.group(store=session.store)
    group = root.create_group("my/old/path")
    arr = group.create_array("array", shape=(4, 4), chunks=(2, 2), dtype="i4", fill_value=42)
    arr[0:2, 0:2] = 1
    root.create_array("top", shape=(2,), chunks=(1,), dtype="i4", fill_value=0)
    root.create_array("z", shape=(2,), chunks=(1,), dtype="i4", fill_value=0)
    session.commit("create")
    return repo


def _keys(session: ic.Session) -> list[str]:
    async def collect() -> list[str]:
        return sorted([k async for k in session.store.list()])

    return asyncio.run(collect())


def test_move_group_with_its_subtree(repo: ic.Repository) -> None:
    session = repo.rearrange_session("main")
    assert session.mode == ic.SessionMode.rearrange and not session.read_only
    node_id = session.get_node_id("/my/old/path/array")
    session.move("/my/old", "/my/new")
    assert session.has_uncommitted_changes
    assert "my/new/path/array/c/0/0" in _keys(session)
    assert not any(k.startswith("my/old") for k in _keys(session))
    assert session.get_node_id("/my/new/path/array") == node_id
    assert session.status().moved_nodes == [
        ("/my/old", "/my/new"),
        ("/my/old/path", "/my/new/path"),
        ("/my/old/path/array", "/my/new/path/array"),
    ]
    moved = session.commit("renamed")
    assert session.mode == ic.SessionMode.readonly

    values = zarr.open_array(repo.readonly_session("main").store, path="my/new/path/array")
    expected = np.full((4, 4), 42)
    expected[0:2, 0:2] = 1
    np.testing.assert_array_equal(values[:], expected)
    parent = repo.lookup_snapshot(moved).parent_id
    assert parent is not None
    diff = repo.diff(from_snapshot_id=parent, to_snapshot_id=moved)
    assert diff.moved_nodes[0] == ("/my/old", "/my/new")
    assert repr(diff).startswith("Nodes moved/renamed:\n    /my/old -> /my/new\n")


def test_records_name_base_and_final_paths(repo: ic.Repository) -> None:
    session = repo.rearrange_session("main")
    session.move("/top", "/x")
    session.move("/x", "/y")
    assert session.status().moved_nodes == [("/top", "/y")]
    session.move("/y", "/top")
    assert session.status().moved_nodes == []
    assert session.has_uncommitted_changes  # moves happened, even if they cancel out
    session.move("/top", "/my/top")
    session.move("/my", "/m2")
    session.move("/m2/old", "/o")
    session.move("/z", "/my")
    assert session.status().moved_nodes == [
        ("/my", "/m2"),
        ("/top", "/m2/top"),
        ("/z", "/my"),
        ("/my/old", "/o"),
        ("/my/old/path", "/o/path"),
        ("/my/old/path/array", "/o/path/array"),
    ]
    session.commit("shuffle")
    members = zarr.open_group(repo.readonly_session("main").store, mode="r").members(max_depth=None)
    assert sorted(name for name, _ in members) == [
        "m2", "m2/top", "my", "o", "o/path", "o/path/array",
    ]


@pytest.mark.parametrize(
    ("source", "target", "error", "kind"),
    [
        ("/my/old/path", "/my/old/path", ic.SessionStateError, "move-into-self-or-descendant"),
        ("/my", "/my/old/x", ic.SessionStateError, "move-into-self-or-descendant"),
        ("/not-found", "/my/new", ic.NodeNotFoundError, "node-not-found"),
        ("/top", "/my", ic.AlreadyExistsError, "move-wont-overwrite"),
        ("/top", "/nope/top", ic.SessionStateError, "move-destination-parent-missing"),
        ("/my/old", "/top/old", ic.SessionStateError, "move-destination-parent-not-group"),
        ("top", "/x", ic.InvalidInputError, "invalid-path"),
        ("/top", "x", ic.InvalidInputError, "invalid-path"),
    ],
)
def test_move_errors(
    repo: ic.Repository, source: str, target: str, error: type[Exception], kind: str
) -> None:
    session = repo.rearrange_session("main")
    with pytest.raises(error) as info:
        session.move(source, target)
    assert getattr(info.value, "kind", None) == kind
    assert not session.has_uncommitted_changes


def test_only_rearrange_sessions_move_and_they_only_move(repo: ic.Repository) -> None:
    with pytest.raises(ic.SessionStateError) as err:
        repo.writable_session("main").move("/top", "/x")
    assert err.value.kind == "non-rearrange-session"
    with pytest.raises(ic.ReadOnlyError):
        repo.readonly_session("main").move("/top", "/x")
    session = repo.rearrange_session("main")
    with pytest.raises(ic.SessionStateError) as err:
        zarr.open_group(session.store, mode="r+").create_group("g")
    assert err.value.kind == "rearrange-session-only"
    with pytest.raises(ic.SessionStateError) as err:
        zarr.open_array(session.store, path="top")[0] = 5
    assert err.value.kind == "rearrange-session-only"
    with pytest.raises(ic.SessionStateError) as err:
        session.merge(repo.writable_session("main").fork())
    assert err.value.kind == "rearrange-session-only"
    with pytest.raises(ic.RefNotFoundError):
        repo.rearrange_session("nope")


def test_discard_undoes_moves(repo: ic.Repository) -> None:
    session = repo.rearrange_session("main")
    session.move("/top", "/t")
    session.discard_changes()
    assert not session.has_uncommitted_changes
    assert "top/zarr.json" in _keys(session) and "t/zarr.json" not in _keys(session)
    with pytest.raises(ic.SessionStateError) as err:
        session.commit("nothing")
    assert err.value.kind == "no-changes-to-commit"


def test_moves_rebase_over_writes_and_follow_new_children(repo: ic.Repository) -> None:
    mover = repo.rearrange_session("main")
    mover.move("/my/old", "/my/n2")
    writer = repo.writable_session("main")
    group = zarr.open_group(writer.store, path="my/old")
    group.create_array("fresh", shape=(2,), chunks=(1,), dtype="i4", fill_value=7)
    zarr.open_array(writer.store, path="top")[0] = 3
    writer.commit("fresh")
    mover.commit("moved", rebase_with=ic.ConflictDetector())
    root = zarr.open_group(repo.readonly_session("main").store, mode="r")
    assert root["my/n2/fresh"][:].tolist() == [7, 7]  # type: ignore[index, union-attr]
    assert root["top"][:].tolist() == [3, 0]  # type: ignore[index, union-attr]
    assert "old" not in root["my"]  # type: ignore[operator]


def test_rebase_over_a_move_always_fails(repo: ic.Repository) -> None:
    writer = repo.writable_session("main")
    zarr.open_array(writer.store, path="top")[1] = 1
    idle = repo.writable_session("main")
    mover = repo.rearrange_session("main")
    mover.move("/z", "/zz")
    mover.commit("moved")
    for session in (writer, idle):
        with pytest.raises(ic.RebaseFailedError) as err:
            session.rebase(ic.BasicConflictSolver())
        [conflict] = err.value.conflicts
        assert conflict.conflict_type == ic.ConflictType.MoveOperationCannotBeRebased
        assert conflict.path == ""


@pytest.mark.parametrize("theirs", ["delete source", "create destination"])
def test_moves_never_drop_nodes_on_rebase(repo: ic.Repository, theirs: str) -> None:
    mover = repo.rearrange_session("main")
    mover.move("/top", "/dest")
    writer = repo.writable_session("main")
    root = zarr.open_group(writer.store, mode="r+")
    if theirs == "delete source":
        del root["top"]
        blocked = "/top"
    else:
        root.create_group("dest")
        blocked = "/dest"
    writer.commit(theirs)
    with pytest.raises(ic.RebaseFailedError) as err:
        mover.rebase(ic.ConflictDetector())
    assert [(c.conflict_type, c.path) for c in err.value.conflicts] == [
        (ic.ConflictType.MoveOperationCannotBeRebased, blocked)
    ]


def test_amend_of_a_move_keeps_the_move_records(repo: ic.Repository) -> None:
    base = repo.lookup_branch("main")
    session = repo.rearrange_session("main")
    session.move("/z", "/z2")
    session.commit("move z")
    session = repo.rearrange_session("main")
    session.move("/top", "/t2")
    amended = session.amend("both moves")
    diff = repo.diff(from_snapshot_id=base, to_snapshot_id=amended)
    assert diff.moved_nodes == [("/top", "/t2"), ("/z", "/z2")]


def test_path_replay_helpers() -> None:
    moves = [("/a", "/b"), ("/b/c", "/d"), ("/ab", "/x")]
    assert moved_path("/a/c/e", moves) == "/d/e"
    assert moved_path("/ab", moves) == "/x"
    assert moved_path("/abc", moves) == "/abc"
    assert blocked_move({"/", "/a", "/a/c"}, moves[:2]) is None
    assert blocked_move({"/", "/a", "/b"}, moves[:1]) == "/b"
    assert blocked_move({"/"}, moves[:1]) == "/a"
