"""Version-control scenario: conflicts, rebase, diff, amend and moves; prints the outcomes.

Creates a repository at ``argv[1]`` and plays a fixed script of concurrent sessions on
separate branches that all start from one base commit. Uses only the public icechunk API,
so it runs under the real 2.x wheel and under pyicechunk; the test compares the JSON.

Snapshot ids are replaced by the message of their commit, so two runs compare equal when
they did the same thing. Error messages differ between implementations; the error class
and ``kind`` are reported instead.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from typing import Any

import numpy as np
import zarr

import icechunk as ic

Writer = Callable[[zarr.Group], None]


class Scenario:
    """The repository plus a map from snapshot ids to commit messages."""

    def __init__(self, path: str) -> None:
        self.repo = ic.Repository.create(ic.local_filesystem_storage(path))
        self.base = self._make_base()

    def label(self, snapshot_id: str) -> str:
        return str(self.repo.lookup_snapshot(snapshot_id).message)

    def _make_base(self) -> str:
        session = self.repo.writable_session("main")
        root = zarr.group(store=session.store, attributes={"title": "base"})
        data = root.create_group("data", attributes={"kind": "data"})
        a = data.create_array("a", shape=(6, 6), chunks=(2, 2), dtype="i4", fill_value=-1)
        a[:] = 0
        b = data.create_array("b", shape=(4,), chunks=(2,), dtype="f8", fill_value=0.0)
        b[:] = 1.5
        meta = root.create_group("meta", attributes={"v": 0})
        meta.create_group("inner")
        root.create_array("top", shape=(3,), chunks=(1,), dtype="i2", fill_value=0)
        return session.commit("base")

    def branch(self, name: str) -> None:
        self.repo.create_branch(name, self.base)

    def commit(self, branch: str, message: str, write: Writer) -> str:
        session = self.repo.writable_session(branch)
        write(zarr.open_group(session.store, mode="r+"))
        return session.commit(message)

    def ancestry(self, branch: str) -> list[str]:
        return [snap.message for snap in self.repo.ancestry(branch=branch)]


def outcome(action: Callable[[], Any]) -> dict[str, Any]:
    """What an action did: its result, or the error class, kind and any conflicts."""
    try:
        result = action()
    except ic.RebaseFailedError as err:
        return {"error": "RebaseFailedError", "conflicts": conflicts(err)}
    except ic.IcechunkError as err:
        return {"error": type(err).__name__, "kind": getattr(err, "kind", None)}
    return {"ok": result}


def conflicts(err: ic.RebaseFailedError) -> list[Any]:
    found = [
        [repr(c.conflict_type), c.path, sorted(c.conflicted_chunks or [])]
        for c in err.conflicts
    ]
    return sorted(found)


def diff_json(diff: Any) -> dict[str, Any]:
    return {
        "new_groups": sorted(diff.new_groups),
        "new_arrays": sorted(diff.new_arrays),
        "deleted_groups": sorted(diff.deleted_groups),
        "deleted_arrays": sorted(diff.deleted_arrays),
        "updated_groups": sorted(diff.updated_groups),
        "updated_arrays": sorted(diff.updated_arrays),
        "updated_chunks": {k: sorted(v) for k, v in sorted(diff.updated_chunks.items())},
        "moved_nodes": [list(m) for m in diff.moved_nodes],
        "text": repr(diff),
    }


# ---------------------------------------------------------------------- conflict cases
def _set(path: str, index: Any, value: Any) -> Writer:
    def write(root: zarr.Group) -> None:
        root[path][index] = value  # type: ignore[index]

    return write


def _attrs(path: str, **attrs: Any) -> Writer:
    def write(root: zarr.Group) -> None:
        root[path].attrs.update(attrs)

    return write


def _delete(path: str) -> Writer:
    def write(root: zarr.Group) -> None:
        del root[path]

    return write


def _new_group(path: str) -> Writer:
    def write(root: zarr.Group) -> None:
        root.create_group(path)

    return write


def _resize(path: str, shape: tuple[int, ...]) -> Writer:
    def write(root: zarr.Group) -> None:
        root[path].resize(shape)  # type: ignore[union-attr]

    return write


def _both(*writers: Writer) -> Writer:
    def write(root: zarr.Group) -> None:
        for w in writers:
            w(root)

    return write


CASES: dict[str, tuple[Writer, Writer]] = {
    # name: (theirs, ours)
    "chunk_double_update": (
        _set("data/a", (slice(0, 4), slice(0, 2)), 1),
        _set("data/a", (slice(2, 6), slice(0, 4)), 2),
    ),
    "disjoint_chunks": (_set("data/a", (0, 0), 1), _set("data/a", (5, 5), 2)),
    "new_node_over_existing": (_new_group("fresh"), _new_group("fresh")),
    "metadata_double_update": (_attrs("meta", v=1), _attrs("meta", v=2)),
    "metadata_update_of_deleted_array": (_delete("top"), _attrs("top", note="x")),
    "metadata_update_of_deleted_group": (_delete("meta/inner"), _attrs("meta/inner", n=1)),
    "chunks_in_deleted_array": (_delete("data/b"), _set("data/b", 0, 9.0)),
    "chunks_in_updated_array": (_resize("data/b", (8,)), _set("data/b", 0, 9.0)),
    "delete_of_updated_array": (_set("data/b", 3, 7.0), _delete("data/b")),
    "delete_of_updated_group": (_attrs("meta/inner", n=2), _delete("meta/inner")),
    "metadata_and_chunks": (
        _both(_attrs("data/a", r=1), _set("data/a", (slice(0, 2), slice(0, 6)), 1)),
        _both(_attrs("data/a", r=2), _set("data/a", (slice(0, 4), slice(0, 2)), 2)),
    ),
    "new_node_in_deleted_group": (_delete("meta/inner"), _new_group("meta/inner/child")),
    "many_at_once": (
        _both(_set("data/a", (0, 0), 5), _attrs("meta", v=3), _delete("top")),
        _both(_set("data/a", (slice(0, 2), slice(0, 6)), 6), _attrs("meta", v=4),
              _set("top", 1, 4)),
    ),
}


def conflict_cases(sc: Scenario) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, (theirs, ours) in CASES.items():
        sc.branch(name)
        session = sc.repo.writable_session(name)
        ours(zarr.open_group(session.store, mode="r+"))
        status = diff_json(session.status())
        sc.commit(name, f"{name}: theirs", theirs)
        commit = outcome(lambda s=session: s.commit("ours"))
        detector = outcome(lambda s=session: s.rebase(ic.ConflictDetector()))
        basic = outcome(lambda s=session: s.rebase(ic.BasicConflictSolver()))
        landed = outcome(lambda s=session, n=name: sc.label(s.commit(f"{n}: ours")))
        out[name] = {
            "status": status,
            "commit": commit,
            "detector": detector,
            "basic": basic,
            "landed": landed,
            "ancestry": sc.ancestry(name),
        }
    return out


def solver_choices(sc: Scenario) -> dict[str, Any]:
    """Which side's chunks survive under UseOurs / UseTheirs / Fail."""
    out: dict[str, Any] = {}
    for choice in ("UseOurs", "UseTheirs", "Fail"):
        name = f"solver_{choice}"
        sc.branch(name)
        session = sc.repo.writable_session(name)
        zarr.open_array(session.store, path="data/a")[0:2, 0:4] = 2
        sc.commit(name, f"{name}: theirs", _set("data/a", (slice(0, 2), slice(0, 2)), 1))
        solver = ic.BasicConflictSolver(on_chunk_conflict=getattr(ic.VersionSelection, choice))
        result = outcome(lambda s=session, v=solver: sc.label(s.commit("ours", rebase_with=v)))
        values = zarr.open_array(sc.repo.readonly_session(name).store, path="data/a")[0:2, 0:4]
        out[choice] = {"result": result, "values": np.asarray(values).tolist()}
    return out


# ---------------------------------------------------------------------- amend
def amend_case(sc: Scenario) -> dict[str, Any]:
    sc.branch("amend")
    first = sc.commit("amend", "to amend", _set("data/a", (0, 0), 3))
    session = sc.repo.writable_session("amend")
    zarr.open_array(session.store, path="data/b")[0] = 8.0
    amended = session.amend("amended", metadata={"n": 1})
    reworded = sc.repo.writable_session("amend").amend("reworded", allow_empty=True)
    initial = sc.repo.lookup_snapshot(sc.base).parent_id
    assert initial is not None
    sc.repo.create_branch("amend_initial", initial)
    first_commit = sc.repo.writable_session("amend_initial")
    zarr.group(store=first_commit.store)
    stale = sc.repo.writable_session("amend")
    zarr.open_array(stale.store, path="data/b")[1] = 8.0
    sc.commit("amend", "moved on", _set("data/b", 2, 8.0))
    kinds = [type(u.kind).__name__.lstrip("_") for u in sc.repo.ops_log()]
    return {
        "ancestry": sc.ancestry("amend"),
        "amended_parent": sc.label(str(sc.repo.lookup_snapshot(amended).parent_id)),
        "reworded_metadata": sc.repo.lookup_snapshot(reworded).metadata,
        "old_tip_kept": sc.repo.lookup_snapshot(first).message,
        "diff": diff_json(sc.repo.diff(from_snapshot_id=sc.base, to_snapshot_id=reworded)),
        "session_after": [session.read_only, session.snapshot_id == amended],
        "empty": outcome(lambda: sc.repo.writable_session("amend").amend("nothing")),
        "initial": outcome(lambda: first_commit.amend("first")),
        "stale": outcome(lambda: stale.amend("stale")),
        "read_only": outcome(lambda: sc.repo.readonly_session("amend").amend("x")),
        "ops_log_kinds": kinds[:4],
    }


# ---------------------------------------------------------------------- moves
def _members(session: ic.Session) -> list[str]:
    root = zarr.open_group(session.store, mode="r")
    return sorted(name for name, _ in root.members(max_depth=None))


def move_case(sc: Scenario) -> dict[str, Any]:
    sc.branch("moves")
    rs = sc.repo.rearrange_session("moves")
    errors = {
        "same": outcome(lambda: rs.move("/data", "/data")),
        "into_self": outcome(lambda: rs.move("/data", "/data/x")),
        "missing": outcome(lambda: rs.move("/nope", "/x")),
        "overwrite": outcome(lambda: rs.move("/top", "/meta")),
        "parent_missing": outcome(lambda: rs.move("/top", "/no/top")),
        "parent_array": outcome(lambda: rs.move("/meta", "/top/meta")),
        "relative": outcome(lambda: rs.move("top", "/x")),
        "write": outcome(lambda: zarr.open_group(rs.store, mode="r+").create_group("g")),
        "writable_move": outcome(lambda: sc.repo.writable_session("moves").move("/a", "/b")),
        "readonly_move": outcome(lambda: sc.repo.readonly_session("moves").move("/a", "/b")),
        "writable_move_existing": outcome(
            lambda: sc.repo.writable_session("moves").move("/top", "/b")
        ),
        "readonly_move_existing": outcome(
            lambda: sc.repo.readonly_session("moves").move("/top", "/b")
        ),
    }
    rs.move("/data", "/stuff")
    rs.move("/stuff/a", "/meta/a")
    rs.move("/top", "/t")
    rs.move("/t", "/top2")
    status = diff_json(rs.status())
    members = _members(rs)
    mode = str(rs.mode)
    moved = rs.commit("moved")
    values = zarr.open_array(sc.repo.readonly_session("moves").store, path="meta/a")[:]
    back = sc.repo.rearrange_session("moves")
    back.move("/top2", "/x")
    back.move("/x", "/top2")
    return {
        "errors": errors,
        "mode": mode,
        "status": status,
        "members": members,
        "diff": diff_json(sc.repo.diff(from_snapshot_id=sc.base, to_snapshot_id=moved)),
        "values": np.asarray(values).tolist(),
        "members_after": _members(sc.repo.readonly_session("moves")),
        "back_and_forth": [back.has_uncommitted_changes, back.status().moved_nodes],
        "empty_commit": outcome(lambda: sc.repo.rearrange_session("moves").commit("e")),
    }


def move_rebase_case(sc: Scenario) -> dict[str, Any]:
    sc.branch("move_rebase")
    writer = sc.repo.writable_session("move_rebase")
    zarr.open_array(writer.store, path="top")[0] = 1
    idle = sc.repo.writable_session("move_rebase")
    mover = sc.repo.rearrange_session("move_rebase")
    mover.move("/meta", "/meta2")
    late_mover = sc.repo.rearrange_session("move_rebase")
    late_mover.move("/data", "/data2")
    sc.commit("move_rebase", "move_rebase: write", _set("data/b", 1, 2.0))
    moved_over_write = outcome(lambda: sc.label(mover.commit("m", rebase_with=ic.ConflictDetector())))
    return {
        "moved_over_write": moved_over_write,
        "write_over_move": outcome(lambda: writer.rebase(ic.ConflictDetector())),
        "empty_over_move": outcome(lambda: idle.rebase(ic.ConflictDetector())),
        "move_over_move": outcome(lambda: late_mover.rebase(ic.BasicConflictSolver())),
        "members": _members(sc.repo.readonly_session("move_rebase")),
        "ancestry": sc.ancestry("move_rebase"),
    }


def main(path: str) -> None:
    sc = Scenario(path)
    result = {
        "conflicts": conflict_cases(sc),
        "solvers": solver_choices(sc),
        "amend": amend_case(sc),
        "moves": move_case(sc),
        "move_rebase": move_rebase_case(sc),
    }
    print(json.dumps(result, sort_keys=True))


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(f"usage: {sys.argv[0]} REPO_PATH")
    main(sys.argv[1])
