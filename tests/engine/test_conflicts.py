"""Rebasing a session over commits that landed first: conflict detection and solving."""

from __future__ import annotations

import json
import os
import pickle
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
import zarr
from interop import harness

import icechunk as ic
from engine.storage_kinds import NewStorage

REPO_ROOT = Path(__file__).resolve().parents[2]

Edit = Callable[[ic.Session], None]


def _setup(storage: ic.Storage) -> ic.Repository:
    repo = ic.Repository.create(storage)
    session = repo.writable_session("main")
    root = zarr.group(session.store)
    root.create_array("a", shape=(4,), chunks=(1,), dtype="i4", fill_value=0)
    root.create_group("g")
    session.commit("init")
    return repo


def _write(index: int | slice, value: int) -> Edit:
    def edit(session: ic.Session) -> None:
        zarr.open_array(session.store, path="a", mode="r+")[index] = value

    return edit


def _attrs(path: str) -> Edit:
    def edit(session: ic.Session) -> None:
        zarr.open(session.store, path=path, mode="r+").attrs["x"] = 1

    return edit


def _delete(path: str) -> Edit:
    def edit(session: ic.Session) -> None:
        del zarr.open_group(session.store, mode="r+")[path]

    return edit


def _race(new_storage: NewStorage, theirs: Edit, ours: Edit) -> tuple[ic.Repository, ic.Session]:
    repo = _setup(new_storage())
    first, second = repo.writable_session("main"), repo.writable_session("main")
    theirs(first)
    first.commit("theirs")
    ours(second)
    return repo, second


def _values(repo: ic.Repository) -> list[int]:
    arr = zarr.open_array(repo.readonly_session("main").store, path="a", mode="r")
    return [int(v) for v in arr[:]]


def _summary(err: ic.RebaseFailedError) -> list[tuple[str, str, list[list[int]] | None]]:
    return sorted((c.conflict_type.name, c.path, c.conflicted_chunks) for c in err.conflicts)


def test_disjoint_chunks_rebase_and_land(new_storage: NewStorage) -> None:
    repo, session = _race(new_storage, _write(0, 1), _write(1, 2))
    with pytest.raises(ic.ConflictError):
        session.commit("plain")
    session.commit("ours", rebase_with=ic.ConflictDetector())
    assert _values(repo) == [1, 2, 0, 0]
    assert len(list(repo.ancestry(branch="main"))) == 4


def test_same_chunk_fails_with_detector(new_storage: NewStorage) -> None:
    _, session = _race(new_storage, _write(0, 1), _write(slice(0, 2), 2))
    with pytest.raises(ic.RebaseFailedError) as info:
        session.commit("ours", rebase_with=ic.ConflictDetector())
    assert _summary(info.value) == [("ChunkDoubleUpdate", "/a", [[0]])]
    assert info.value.kind == ic.ErrorKind.REBASE_FAILED
    assert session.has_uncommitted_changes


@pytest.mark.parametrize(
    ("choice", "expected"),
    [(ic.VersionSelection.UseOurs, [2, 2, 0, 0]), (ic.VersionSelection.UseTheirs, [1, 2, 0, 0])],
)
def test_basic_solver_chunk_choice(
    new_storage: NewStorage, choice: ic.VersionSelection, expected: list[int]
) -> None:
    repo, session = _race(new_storage, _write(0, 1), _write(slice(0, 2), 2))
    session.commit("ours", rebase_with=ic.BasicConflictSolver(on_chunk_conflict=choice))
    assert _values(repo) == expected


def test_basic_solver_fail_choice(new_storage: NewStorage) -> None:
    _, session = _race(new_storage, _write(0, 1), _write(0, 2))
    solver = ic.BasicConflictSolver(on_chunk_conflict=ic.VersionSelection.Fail)
    with pytest.raises(ic.RebaseFailedError) as info:
        session.commit("ours", rebase_with=solver)
    assert _summary(info.value) == [("ChunkDoubleUpdate", "/a", [[0]])]


def test_metadata_double_update(new_storage: NewStorage) -> None:
    _, session = _race(new_storage, _attrs("g"), _attrs("g"))
    with pytest.raises(ic.RebaseFailedError) as info:
        session.rebase(ic.BasicConflictSolver())
    assert _summary(info.value) == [("ZarrMetadataDoubleUpdate", "/g", None)]


def test_delete_of_updated_array(new_storage: NewStorage) -> None:
    repo, session = _race(new_storage, _write(0, 1), _delete("a"))
    with pytest.raises(ic.RebaseFailedError) as info:
        session.rebase(ic.BasicConflictSolver(fail_on_delete_of_updated_array=True))
    assert _summary(info.value) == [("DeleteOfUpdatedArray", "/a", None)]
    session.commit("ours", rebase_with=ic.BasicConflictSolver())
    assert "a" not in zarr.open_group(repo.readonly_session("main").store, mode="r")


def test_explicit_rebase_then_commit(new_storage: NewStorage) -> None:
    repo, session = _race(new_storage, _write(3, 7), _write(2, 5))
    tip = repo.lookup_branch("main")
    assert session.snapshot_id != tip
    session.rebase(ic.ConflictDetector())
    assert session.snapshot_id == tip
    assert session.has_uncommitted_changes
    assert _values_of(session) == [0, 0, 5, 7]
    session.commit("ours")
    assert _values(repo) == [0, 0, 5, 7]


def _values_of(session: ic.Session) -> list[int]:
    return [int(v) for v in zarr.open_array(session.store, path="a", mode="r")[:]]


def test_rebase_over_several_commits(new_storage: NewStorage) -> None:
    repo = _setup(new_storage())
    ours = repo.writable_session("main")
    for i in range(3):
        other = repo.writable_session("main")
        _write(i, i + 1)(other)
        other.commit(f"c{i}")
    _write(3, 9)(ours)
    ours.commit("ours", rebase_with=ic.ConflictDetector())
    assert _values(repo) == [1, 2, 3, 9]


def test_conflict_objects() -> None:
    conflict = ic.Conflict(ic.ConflictType.ChunkDoubleUpdate, "/a", [[0, 1]])
    assert repr(conflict) == (
        "<icechunk.conflicts.Conflict>\nconflict_type: ChunkDoubleUpdate\npath: /a\n"
        "conflicted_chunks: [[0, 1]]"
    )
    assert str(ic.ConflictType.ChunkDoubleUpdate) == "Chunk double update"
    copy = pickle.loads(pickle.dumps(conflict))
    assert (copy.conflict_type, copy.path, copy.conflicted_chunks) == (
        conflict.conflict_type,
        conflict.path,
        conflict.conflicted_chunks,
    )
    err = pickle.loads(pickle.dumps(ic.RebaseFailedError("SNAP", [conflict])))
    assert err.snapshot == "SNAP"
    assert err.conflicts[0].path == "/a"


_SCRIPT = r"""
import json, sys, tempfile
import icechunk as ic, zarr

def setup():
    repo = ic.Repository.create(ic.local_filesystem_storage(tempfile.mkdtemp()))
    s = repo.writable_session("main")
    root = zarr.group(s.store)
    root.create_array("a", shape=(4,), chunks=(1,), dtype="i4", fill_value=0)
    root.create_array("b", shape=(4,), chunks=(1,), dtype="i4", fill_value=0)
    root.create_group("g")
    root.create_group("h")
    s.commit("init")
    return repo

repo = setup()
theirs, ours = repo.writable_session("main"), repo.writable_session("main")
zarr.open_array(theirs.store, path="a", mode="r+")[1:3] = 1
zarr.open(theirs.store, path="g", mode="r+").attrs["x"] = 1
zarr.open(theirs.store, path="b", mode="r+").attrs["x"] = 1
del zarr.open_group(theirs.store, mode="r+")["h"]
zarr.open_group(theirs.store, mode="r+").create_group("n")
theirs.commit("theirs")
zarr.open_array(ours.store, path="a", mode="r+")[0:3] = 2
zarr.open(ours.store, path="g", mode="r+").attrs["y"] = 2
zarr.open_array(ours.store, path="b", mode="r+")[0] = 2
zarr.open(ours.store, path="h", mode="r+").attrs["y"] = 2
zarr.open_group(ours.store, mode="r+").create_array("n", shape=(1,), dtype="i4")
try:
    ours.rebase(ic.ConflictDetector())
    out = []
except ic.RebaseFailedError as e:
    out = sorted([repr(c.conflict_type), c.path, c.conflicted_chunks] for c in e.conflicts)
json.dump(out, sys.stdout)
"""


def _run(python: Path | str, pythonpath: str, cwd: Path) -> list[list[object]]:
    env = {**os.environ, "ICECHUNK_LOG": "error", "PYTHONPATH": pythonpath}
    done = subprocess.run(
        [str(python), "-c", _SCRIPT], capture_output=True, text=True, env=env, check=True, cwd=cwd
    )
    result: list[list[object]] = json.loads(done.stdout)
    return result


@pytest.mark.interop
def test_conflicts_match_reference_wheel(tmp_path: Path) -> None:
    ours = _run(sys.executable, str(REPO_ROOT), tmp_path)
    assert ours == _run(harness.real_python(), "", tmp_path)
    assert {c[0] for c in ours} >= {
        "ChunkDoubleUpdate",
        "ZarrMetadataDoubleUpdate",
        "ChunksUpdatedInUpdatedArray",
        "ZarrMetadataUpdateOfDeletedGroup",
        "NewNodeConflictsWithExistingNode",
    }


def test_commit_lands_when_the_solver_resolves_every_change_away(new_storage: NewStorage) -> None:
    # Same behaviour as the reference: the session had changes when commit was called,
    # so the rebased (now empty) commit is still recorded instead of failing as empty.
    repo = ic.Repository.create(new_storage())
    setup = repo.writable_session("main")
    zarr.create_array(setup.store, name="a", shape=(4,), chunks=(2,), dtype="i4")[:] = 1
    setup.commit("setup")
    ours, theirs = repo.writable_session("main"), repo.writable_session("main")
    zarr.open_array(theirs.store, path="a")[0] = 5
    zarr.open_array(ours.store, path="a")[0] = 6
    landed_theirs = theirs.commit("theirs")
    solver = ic.BasicConflictSolver(on_chunk_conflict=ic.VersionSelection.UseTheirs)
    sid = ours.commit("ours", rebase_with=solver)
    assert repo.lookup_snapshot(sid).parent_id == landed_theirs
    assert not ours.has_uncommitted_changes
    assert zarr.open_array(repo.readonly_session("main").store, path="a")[0] == 5
    with pytest.raises(ic.SessionStateError, match="no changes made to the session"):
        repo.writable_session("main").commit("empty", rebase_with=solver)
