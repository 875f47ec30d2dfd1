"""ConflictResolver: choices map onto BasicConflictSolver; rebase and commit are explicit."""

from __future__ import annotations

from pathlib import Path

import pytest
import zarr

import icechunk as ic
from icechunk_widgets import ConflictResolver
from icechunk_widgets import _conflict_data as data

from .conftest import MessageRecorder
from .scenarios import conflicting, make_history


def test_solver_from_choices_maps_each_kind() -> None:
    solver = data.solver_from_choices({"ChunkDoubleUpdate": "theirs",
                                       "DeleteOfUpdatedArray": "ours"})
    assert solver.on_chunk_conflict is ic.VersionSelection.UseTheirs
    assert not solver.fail_on_delete_of_updated_array
    assert solver.fail_on_delete_of_updated_group  # default stays the safe "fail"
    code = data.solver_code({"ChunkDoubleUpdate": "ours"}, "msg")
    assert "VersionSelection.UseOurs" in code and "session.commit('msg')" in code
    compile(code, "<solver>", "exec")


def test_only_choices_the_solver_supports_are_accepted() -> None:
    data.validate_choice("ChunkDoubleUpdate", "theirs")
    with pytest.raises(ValueError, match="BasicConflictSolver"):
        data.validate_choice("DeleteOfUpdatedArray", "theirs")
    assert data.options_for("ZarrMetadataDoubleUpdate") == ["fail"]
    rows = [{"path": "/b", "kind": "K"}, {"path": "/a", "kind": "Z"}, {"path": "/a", "kind": "A"}]
    groups = data.group_by_path(rows)
    assert [g["path"] for g in groups] == ["/a", "/b"]
    assert [c["kind"] for c in groups[0]["conflicts"]] == ["A", "Z"]


def test_choose_theirs_rebase_commit(tmp_path: Path, drive: type[MessageRecorder]) -> None:
    repo, mine, their_id = conflicting(tmp_path / "r")
    base = mine.snapshot_id
    with pytest.raises(ic.ConflictError):
        mine.commit("mine")
    w = ConflictResolver(mine, repo=repo)
    assert w.stage == "conflicts" and w.expected_parent == base and w.actual_parent == their_id
    assert [c["message"] for c in w.landed] == ["theirs: fives"]
    kinds = [c["kind"] for g in w.groups for c in g["conflicts"]]
    assert kinds == ["ChunkDoubleUpdate"] and w.groups[0]["conflicts"][0]["chunks"] == [[0, 0]]
    assert repo.lookup_branch("main") == their_id  # preview committed nothing
    msgs = drive(w)
    bad = msgs.custom({"id": 1, "op": "commit", "args": {"message": "too early"}})
    assert bad["error"]["type"] == "SessionStateError"
    msgs.custom({"id": 2, "op": "choose", "args": {"kind": "ChunkDoubleUpdate",
                                                     "choice": "theirs"}})
    assert "UseTheirs" in w.code
    assert msgs.custom({"id": 3, "op": "rebase", "args": {}})["result"] == 0
    assert w.stage == "ready" and repo.lookup_branch("main") == their_id
    committed: list[str] = []
    w.on_commit(committed.append)
    sid = msgs.custom({"id": 4, "op": "commit", "args": {"message": "mine, rebased"}})["result"]
    assert repo.lookup_branch("main") == sid == w.committed_id and committed == [sid]
    arr = zarr.open_array(repo.readonly_session("main").store, path="temp", mode="r")
    assert arr[0, 0] == 5 and arr[2, 0] == 8  # theirs kept where both wrote; ours elsewhere


def test_choose_ours_keeps_our_chunks(tmp_path: Path) -> None:
    repo, mine, _ = conflicting(tmp_path / "r")
    w = ConflictResolver(mine, repo=repo)
    w.choose("ChunkDoubleUpdate", "ours")
    assert w.rebase() == 0
    w.commit("ours wins")
    assert zarr.open_array(repo.readonly_session("main").store, path="temp")[0, 0] == 7


def test_fail_choice_leaves_conflicts_and_keeps_changes(tmp_path: Path) -> None:
    repo, mine, _ = conflicting(tmp_path / "r")
    w = ConflictResolver(mine, repo=repo, preview=False)
    assert w.stage == "detect" and w.groups == []
    assert w.rebase() == 1 and w.stage == "conflicts"
    assert mine.has_uncommitted_changes
    assert zarr.open_array(mine.store, path="temp")[0, 0] == 7


def test_branch_moving_again_loops_back(tmp_path: Path) -> None:
    repo, mine, _ = conflicting(tmp_path / "r")
    w = ConflictResolver(mine, repo=repo)
    w.choose("ChunkDoubleUpdate", "theirs")
    w.rebase()
    other = repo.writable_session("main")
    zarr.open_array(other.store, path="temp")[2, 0] = 1  # our remaining chunk (1, 0)
    again = other.commit("another one")
    with pytest.raises(ic.ConflictError):
        w.commit("mine")
    assert w.stage == "conflicts" and w.actual_parent == again
    assert [c["message"] for c in w.landed] == ["another one"]
    w.choose("ChunkDoubleUpdate", "ours")  # theirs again would leave nothing to commit
    assert w.rebase() == 0
    assert repo.lookup_branch("main") == again  # still nothing committed implicitly
    w.commit("finally")


def test_metadata_conflict_shows_sides_and_cannot_be_solved(tmp_path: Path) -> None:
    repo, _ = make_history(tmp_path / "r")
    mine = repo.writable_session("main")
    theirs = repo.writable_session("main")
    zarr.open_array(theirs.store, path="temp").attrs["units"] = "K"
    theirs.commit("theirs: units")
    zarr.open_array(mine.store, path="temp").attrs["units"] = "C"
    w = ConflictResolver(mine, repo=repo)
    conflict = w.groups[0]["conflicts"][0]
    assert conflict["kind"] == "ZarrMetadataDoubleUpdate" and conflict["options"] == ["fail"]
    sides = conflict["sides"]
    assert sides["ours"]["attributes"] == {"units": "C"}
    assert sides["theirs"]["attributes"] == {"units": "K"}
    assert sides["base"]["attributes"] == {}
    with pytest.raises(ValueError):
        w.choose("ZarrMetadataDoubleUpdate", "ours")


def test_from_error_alone_is_read_only_but_explains() -> None:
    c = ic.Conflict(ic.ConflictType.ChunkDoubleUpdate, "/temp", [[0, 0]])
    w = ConflictResolver(ic.RebaseFailedError("S" * 20, [c]))
    assert w.groups[0]["path"] == "/temp"
    with pytest.raises(ValueError, match="session="):
        w.rebase()
    bundle, _ = w._repr_mimebundle_()
    assert "ChunkDoubleUpdate" in bundle["text/html"] and "BasicConflictSolver" in bundle["text/html"]
    assert "session.rebase(solver)" in bundle["text/plain"]
