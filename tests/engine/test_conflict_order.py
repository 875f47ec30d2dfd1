"""Order and completeness of the conflicts a rebase reports.

The real wheel lists metadata conflicts first, then chunks written into arrays whose
metadata the other side changed, then chunks both sides wrote; an array can appear in
both of the last two groups. (Its order among several arrays' chunk conflicts is not
stable; ours is by path.)
"""

from __future__ import annotations

import pytest
import zarr

import icechunk as ic
from engine.storage_kinds import NewStorage


def test_conflicts_are_listed_by_kind(new_storage: NewStorage) -> None:
    repo = ic.Repository.create(new_storage())
    session = repo.writable_session("main")
    root = zarr.group(store=session.store)
    root.create_array("foo/bar/some-array", shape=(10, 10), chunks=(1, 1), dtype="i4")
    root.create_array("other", shape=(4,), chunks=(1,), dtype="i4")
    session.commit("setup")

    ours, theirs = repo.writable_session("main"), repo.writable_session("main")
    for session, value in ((theirs, 1), (ours, 2)):
        group = zarr.open_group(session.store)
        array = group["foo/bar/some-array"]
        array[:, :] = value  # type: ignore[index]
        array.attrs["repo"] = value
        group["other"][0:value] = value  # type: ignore[index]
        group.attrs["x"] = value
    theirs.commit("theirs")

    with pytest.raises(ic.RebaseFailedError) as err:
        ours.rebase(ic.ConflictDetector())
    found = [(c.conflict_type, c.path, len(c.conflicted_chunks or [])) for c in err.value.conflicts]
    kind = ic.ConflictType
    assert found == [
        (kind.ZarrMetadataDoubleUpdate, "/foo/bar/some-array", 0),
        (kind.ZarrMetadataDoubleUpdate, "/", 0),
        (kind.ChunksUpdatedInUpdatedArray, "/foo/bar/some-array", 0),
        (kind.ChunkDoubleUpdate, "/foo/bar/some-array", 100),
        (kind.ChunkDoubleUpdate, "/other", 1),
    ]
    # One unsolvable conflict makes the basic solver report every conflict.
    with pytest.raises(ic.RebaseFailedError) as err:
        ours.rebase(ic.BasicConflictSolver())
    assert len(err.value.conflicts) == 5
