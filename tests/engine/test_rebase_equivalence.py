"""Hypothesis: two sessions rebased onto each other equal the same writes done serially.

Sessions A and B start from one base commit; A commits first, then B commits with
``rebase_with``. Writes are whole chunks, so the chunk-level solvers have a serial
equivalent: UseOurs gives "A then B", UseTheirs gives "B then A", and ConflictDetector
succeeds exactly when A and B touched disjoint chunks (then both orders agree) and
otherwise reports exactly the overlapping chunk indices.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import zarr
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import icechunk as ic
from engine.storage_kinds import examples

#: Arrays of the base commit: name -> (shape, chunk shape).
ARRAYS = {"a": ((4, 4), (2, 2)), "b": ((6,), (2,))}

Write = tuple[str, tuple[int, ...], int]  # array, chunk index, value


def _chunk_index(name: str) -> st.SearchStrategy[tuple[int, ...]]:
    shape, chunks = ARRAYS[name]
    return st.tuples(*(st.integers(0, s // c - 1) for s, c in zip(shape, chunks, strict=True)))


writes = st.lists(
    st.sampled_from(sorted(ARRAYS)).flatmap(
        lambda name: st.tuples(st.just(name), _chunk_index(name), st.integers(0, 3))
    ),
    max_size=6,
)
# Each session may also add an array of its own and set attributes on its own group.
extras = st.fixed_dictionaries(
    {"new_array": st.booleans(), "attr": st.none() | st.integers(0, 9)}
)


def _base(repo: ic.Repository) -> str:
    session = repo.writable_session("main")
    root = zarr.group(store=session.store)
    for name, (shape, chunks) in ARRAYS.items():
        root.create_array(name, shape=shape, chunks=chunks, dtype="i4", fill_value=0)
    root.create_group("A")
    root.create_group("B")
    return session.commit("base")


def _apply(session: ic.Session, who: str, ops: list[Write], extra: dict[str, Any]) -> None:
    root = zarr.open_group(session.store, mode="r+")
    for name, index, value in ops:
        _, chunks = ARRAYS[name]
        region = tuple(slice(i * c, (i + 1) * c) for i, c in zip(index, chunks, strict=True))
        root[name][region] = value  # type: ignore[index]
    if extra["new_array"]:
        root.create_array(f"new_{who}", shape=(2,), chunks=(1,), dtype="i4", fill_value=0)[:] = 7
    if extra["attr"] is not None:
        root[who].attrs["v"] = extra["attr"]


def _commit(repo: ic.Repository, who: str, ops: list[Write], extra: dict[str, Any]) -> None:
    session = repo.writable_session("main")
    _apply(session, who, ops, extra)
    session.commit(who, allow_empty=True)


def _contents(repo: ic.Repository) -> dict[str, Any]:
    root = zarr.open_group(repo.readonly_session("main").store, mode="r")
    out: dict[str, Any] = {}
    for name, node in sorted(root.members(max_depth=None)):
        out[name] = (
            np.asarray(node[...]).tolist() if isinstance(node, zarr.Array) else dict(node.attrs)
        )
    return out


def _serial(first: tuple[str, list[Write], dict[str, Any]], second: tuple[str, list[Write], dict[str, Any]]) -> dict[str, Any]:
    # The oracle: the same commits done one after the other, in memory.
    repo = ic.Repository.create(ic.in_memory_storage())
    _base(repo)
    _commit(repo, *first)
    _commit(repo, *second)
    return _contents(repo)


def _touched(ops: list[Write]) -> set[tuple[str, tuple[int, ...]]]:
    return {(name, index) for name, index, _ in ops}


@settings(max_examples=examples(40), suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    ops_a=writes,
    ops_b=writes,
    extra_a=extras,
    extra_b=extras,
    solver=st.sampled_from(["UseOurs", "UseTheirs", "Detector"]),
)
def test_rebased_sessions_equal_serial_writes(
    unique_storage: Callable[[], ic.Storage],
    ops_a: list[Write],
    ops_b: list[Write],
    extra_a: dict[str, Any],
    extra_b: dict[str, Any],
    solver: str,
) -> None:
    repo = ic.Repository.create(unique_storage())  # the backend under test
    _base(repo)
    session_a = repo.writable_session("main")
    session_b = repo.writable_session("main")
    _apply(session_a, "A", ops_a, extra_a)
    _apply(session_b, "B", ops_b, extra_b)
    commit_a = session_a.commit("A", allow_empty=True)

    a, b = ("A", ops_a, extra_a), ("B", ops_b, extra_b)
    overlap = _touched(ops_a) & _touched(ops_b)
    if solver == "Detector":
        rebase_with: ic.ConflictSolver = ic.ConflictDetector()
        expected = _serial(a, b)
    else:
        rebase_with = ic.BasicConflictSolver(
            on_chunk_conflict=getattr(ic.VersionSelection, solver)
        )
        expected = _serial(a, b) if solver == "UseOurs" else _serial(b, a)
    try:
        commit_b = session_b.commit("B", rebase_with=rebase_with, allow_empty=True)
    except ic.RebaseFailedError as err:
        assert solver == "Detector" and overlap
        found = {
            (c.path.lstrip("/"), tuple(idx))
            for c in err.conflicts
            for idx in c.conflicted_chunks or []
        }
        assert {c.conflict_type for c in err.conflicts} == {ic.ConflictType.ChunkDoubleUpdate}
        assert found == overlap
        assert err.snapshot == commit_a
        return
    assert solver != "Detector" or not overlap
    assert _contents(repo) == expected
    assert [s.id for s in repo.ancestry(branch="main")][:2] == [commit_b, commit_a]
