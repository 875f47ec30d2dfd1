"""Repository.diff, Session.status and Repository.ops_log.

Expected values were observed by running the same operations under the real icechunk
2.3.0 wheel.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
import zarr
from interop import harness

import icechunk
from engine.storage_kinds import NewStorage
from icechunk import Diff, ErrorKind, InvalidInputError, Repository, Update, UpdateType


def _repo(storage: icechunk.Storage) -> Repository:
    return Repository.create(storage)


def _fields(diff: Diff) -> dict[str, Any]:
    return {
        "new_groups": diff.new_groups,
        "new_arrays": diff.new_arrays,
        "deleted_groups": diff.deleted_groups,
        "deleted_arrays": diff.deleted_arrays,
        "updated_groups": diff.updated_groups,
        "updated_arrays": diff.updated_arrays,
        "updated_chunks": diff.updated_chunks,
        "moved_nodes": diff.moved_nodes,
    }


def _first_commit(repo: Repository) -> tuple[str, Diff]:
    s = repo.writable_session("main")
    root = zarr.group(s.store)
    g = root.create_group("g", attributes={"a": 1})
    arr = g.create_array("arr", shape=(4, 4), chunks=(2, 2), dtype="i4")
    arr[:2, :] = 1
    root.create_array("y", shape=(2,), chunks=(1,), dtype="i1")
    root.create_group("tmp")
    status = s.status()
    return s.commit("c1"), status


def test_status_before_commit_and_diff_of_first_commit(new_storage: NewStorage) -> None:
    repo = _repo(new_storage())
    init = repo.lookup_branch("main")
    c1, status = _first_commit(repo)
    assert _fields(status) == {
        "new_groups": {"/", "/g", "/tmp"},
        "new_arrays": {"/g/arr", "/y"},
        "deleted_groups": set(),
        "deleted_arrays": set(),
        "updated_groups": set(),
        "updated_arrays": set(),
        "updated_chunks": {"/g/arr": [[0, 0], [0, 1]]},
        "moved_nodes": [],
    }
    assert not status.is_empty()
    diff = repo.diff(from_snapshot_id=init, to_branch="main")
    assert diff == status
    assert repr(diff) == (
        "Groups created:\n    /\n    /g\n    /tmp\n\n"
        "Arrays created:\n    /g/arr\n    /y\n\n"
        "Chunks updated:\n    /g/arr:\n        [0, 0]\n        [0, 1]\n"
    )
    assert str(diff) == repr(diff)
    assert c1 == repo.lookup_branch("main")


def test_updates_and_deletes(new_storage: NewStorage) -> None:
    repo = _repo(new_storage())
    c1, _ = _first_commit(repo)
    s = repo.writable_session("main")
    assert s.status().is_empty()
    assert repr(s.status()) == ""
    root = zarr.open_group(s.store)
    root["g"].attrs["b"] = 2
    root["g/arr"].attrs["q"] = "x"
    zarr.open_array(s.store, path="g/arr")[3, 3] = 5
    del root["tmp"]
    del root["y"]
    status = s.status()
    c2 = s.commit("c2")
    diff = repo.diff(from_snapshot_id=c1, to_snapshot_id=c2)
    assert diff == status
    assert _fields(diff) == {
        "new_groups": set(),
        "new_arrays": set(),
        "deleted_groups": {"/tmp"},
        "deleted_arrays": {"/y"},
        "updated_groups": {"/g"},
        "updated_arrays": {"/g/arr"},
        "updated_chunks": {"/g/arr": [[1, 1]]},
        "moved_nodes": [],
    }
    assert repr(diff) == (
        "Group definitions updated:\n    /g\n\n"
        "Array definitions updated:\n    /g/arr\n\n"
        "Groups deleted:\n    /tmp\n\n"
        "Arrays deleted:\n    /y\n\n"
        "Chunks updated:\n    /g/arr:\n        [1, 1]\n"
    )
    page = diff._repr_html_()
    assert "icechunk.snapshots.Diff" in page and "<code>/tmp</code>" in page


def test_multi_commit_ranges_cancel_created_then_deleted(new_storage: NewStorage) -> None:
    repo = _repo(new_storage())
    s = repo.writable_session("main")
    root = zarr.group(s.store)
    root.create_group("g")
    root.create_array("a", shape=(3,), chunks=(1,), dtype="i1")[:] = 1
    c1 = s.commit("c1")
    s = repo.writable_session("main")
    root = zarr.open_group(s.store)
    root.create_group("n")
    del root["n"]
    zarr.open_array(s.store, path="a")[0] = 0
    del root["a"]
    assert repr(s.status()) == "Arrays deleted:\n    /a\n\n"
    c2 = s.commit("c2")
    s = repo.writable_session("main")
    root = zarr.open_group(s.store)
    root.create_array("b", shape=(3,), chunks=(1,), dtype="i1")[:] = 2
    root["g"].attrs["z"] = 1
    c3 = s.commit("c3")
    s = repo.writable_session("main")
    del zarr.open_group(s.store)["b"]
    c4 = s.commit("c4")
    s = repo.writable_session("main")
    zarr.open_group(s.store).create_array("b", shape=(3,), chunks=(1,), dtype="i1")[1] = 2
    c5 = s.commit("c5")

    assert repr(repo.diff(from_snapshot_id=c2, to_snapshot_id=c4)) == (
        "Group definitions updated:\n    /g\n\n"
    )
    assert repr(repo.diff(from_snapshot_id=c1, to_snapshot_id=c4)) == (
        "Group definitions updated:\n    /g\n\nArrays deleted:\n    /a\n\n"
    )
    assert repr(repo.diff(from_snapshot_id=c3, to_snapshot_id=c5)) == (
        "Arrays created:\n    /b\n\nArrays deleted:\n    /b\n\n"
        "Chunks updated:\n    /b:\n        [1]\n"
    )
    assert repr(repo.diff(from_snapshot_id=c1, to_branch="main")) == (
        "Arrays created:\n    /b\n\nGroup definitions updated:\n    /g\n\n"
        "Arrays deleted:\n    /a\n\nChunks updated:\n    /b:\n        [1]\n"
    )
    repo.create_tag("t3", c3)
    assert repo.diff(from_tag="t3", to_branch="main") == repo.diff(
        from_snapshot_id=c3, to_snapshot_id=c5
    )
    async_diff = asyncio.run(repo.diff_async(from_snapshot_id=c3, to_snapshot_id=c5))
    assert async_diff == repo.diff(from_snapshot_id=c3, to_snapshot_id=c5)


def test_many_chunks_are_summarised(new_storage: NewStorage) -> None:
    repo = _repo(new_storage())
    s = repo.writable_session("main")
    zarr.group(s.store).create_array("arr", shape=(30, 12), chunks=(1, 1), dtype="i1")[:] = 1
    text = repr(s.status())
    assert text.endswith("        [0, 9]\n        ... 350 more\n")
    assert len(s.status().updated_chunks["/arr"]) == 360


def test_non_ancestor_and_bad_arguments(new_storage: NewStorage) -> None:
    repo = _repo(new_storage())
    init = repo.lookup_branch("main")
    c1, _ = _first_commit(repo)
    for start, end in ((c1, init), (c1, c1)):
        with pytest.raises(InvalidInputError, match="ancestry doesn't include") as info:
            repo.diff(from_snapshot_id=start, to_snapshot_id=end)
        assert info.value.kind == ErrorKind.BAD_SNAPSHOT_CHAIN_FOR_DIFF
    with pytest.raises(ValueError, match="Must provide one of"):
        repo.diff(from_snapshot_id=init)
    with pytest.raises(icechunk.RefNotFoundError):
        repo.diff(from_branch="main", to_branch="nope")


# ---------------------------------------------------------------------- ops log
# Observed under icechunk 2.3.0 for the operations of test_ops_log_kinds, newest first.
REAL_KINDS = [
    "MetadataChanged",
    "BranchDeleted",
    "TagDeleted",
    "BranchReset",
    "TagCreated",
    "BranchCreated",
    "NewCommit",
    "NewCommit",
    "RepoInitialized",
]


def _ops_sequence(repo: Repository) -> tuple[str, str]:
    s = repo.writable_session("main")
    zarr.group(s.store).create_group("g")
    c1 = s.commit("c1")
    s = repo.writable_session("main")
    zarr.open_group(s.store).create_group("h")
    c2 = s.commit("c2")
    repo.create_branch("dev", c1)
    repo.create_tag("v1", c1)
    repo.reset_branch("dev", c2)
    repo.delete_tag("v1")
    repo.delete_branch("dev")
    repo.set_metadata({"a": 1})
    return c1, c2


def test_ops_log_kinds(new_storage: NewStorage) -> None:
    repo = _repo(new_storage())
    c1, c2 = _ops_sequence(repo)
    ops = list(repo.ops_log())
    assert [type(u.kind).__name__ for u in ops] == REAL_KINDS
    assert all(isinstance(u, Update) and isinstance(u.kind, UpdateType) for u in ops)
    times = [u.updated_at for u in ops]
    assert times == sorted(times, reverse=True)
    assert ops[0].backup_path is None and all(u.backup_path for u in ops[1:])
    assert isinstance(ops[1].kind, UpdateType.BranchDeleted)
    assert ops[1].kind.name == "dev" and ops[1].kind.previous_snap_id == c2
    assert isinstance(ops[3].kind, UpdateType.BranchReset)
    assert ops[3].kind.previous_snap_id == c1
    assert isinstance(ops[6].kind, UpdateType.NewCommit)
    assert (ops[6].kind.branch, ops[6].kind.new_snap_id) == ("main", c2)
    assert repr(ops[4].kind) == 'icechunk.ops.UpdateType.TagCreated(name="v1")'
    assert repr(ops[0]).startswith(
        "<icechunk.ops.Update>\nkind: icechunk.ops.UpdateType.MetadataChanged()\n"
    )
    assert "icechunk.ops.Update" in ops[0]._repr_html_()

    async def collect() -> list[Update]:
        return [u async for u in repo.ops_log_async()]

    assert asyncio.run(collect()) == ops


def test_ops_log_follows_backups(new_storage: NewStorage) -> None:
    config = icechunk.RepositoryConfig.default()
    config.num_updates_per_repo_info_file = 3
    repo = Repository.create(new_storage(), config)
    _ops_sequence(repo)
    assert [type(u.kind).__name__ for u in repo.ops_log()] == REAL_KINDS


# ---------------------------------------------------------------------- interop
@pytest.mark.interop
def test_diff_matches_real_wheel(real_sample_repo: Any) -> None:
    """Our diff of every parent->child range of a real repository equals the real one."""
    repo = Repository.open(icechunk.local_filesystem_storage(str(real_sample_repo.path)))
    real = real_sample_repo.dump
    checked = 0
    for snap_id, snap in real["snapshots"].items():
        expected = snap["diff_from_parent"]
        if expected is None:
            continue
        diff = repo.diff(from_snapshot_id=snap["parent_id"], to_snapshot_id=snap_id)
        ours: dict[str, Any] = {
            name: sorted(getattr(diff, name)) for name in list(_fields(diff))[:6]
        }
        ours["updated_chunks"] = {p: sorted(v) for p, v in diff.updated_chunks.items()}
        if diff.moved_nodes:
            ours["moved_nodes"] = sorted(list(m) for m in diff.moved_nodes)
        assert ours == expected, snap["message"]
        checked += 1
    assert checked >= 4


@pytest.mark.interop
def test_dump_under_ours_equals_real(real_sample_repo: Any) -> None:
    """dump.py (diffs and ops log included) under pyicechunk matches the real wheel's."""
    ours = harness.run_ours("dump", real_sample_repo.path)
    assert harness.normalize_dump(ours) == harness.normalize_dump(real_sample_repo.dump)
    assert [e["kind"] for e in ours["ops_log"]] == [
        e["kind"] for e in real_sample_repo.dump["ops_log"]
    ]

