"""Writing spec-v1 repositories, as Icechunk 2.x does: ours read back by 1.1.21 and 2.3.0.

``Repository.create(..., spec_version=1)`` makes a v1 repository (refs as JSON objects,
parent ids inside snapshots); commits, branches and tags write v1 files. Both the 1.x
wheel and the real 2.x wheel must read the result exactly as we do, and commit on top.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import zarr
from interop import harness

import icechunk as ic
from engine.storage_kinds import NewStorage

pytestmark = pytest.mark.interop


def _dump(path: Path) -> dict[str, Any]:
    spec = importlib.util.spec_from_file_location("_v1_write_dump", harness.script_path("dump"))
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    result: dict[str, Any] = module.dump(str(path))
    return result


def _build(storage: ic.Storage) -> dict[str, str]:
    repo = ic.Repository.create(storage, spec_version=1)
    assert repo.spec_version == ic.SpecVersion.v1
    session = repo.writable_session("main")
    arr = zarr.create_array(
        session.store, name="a", shape=(6,), chunks=(2,), dtype="i4", dimension_names=["x"]
    )
    arr[:] = np.arange(6)
    zarr.create_group(session.store, path="g", attributes={"k": "v"})
    one = session.commit("one", metadata={"author": "ours", "n": 1})
    repo.create_branch("dev", one)
    repo.create_tag("t1", one)
    repo.create_tag("gone", one)
    repo.delete_tag("gone")
    session = repo.writable_session("dev")
    zarr.open_array(session.store, path="a")[0] = 9
    two = session.commit("two")
    session = repo.writable_session("main")
    zarr.open_array(session.store, path="a")[5] = 8
    three = session.commit("three")
    return {"one": one, "two": two, "three": three}


def test_v1_repository_lifecycle(new_storage: NewStorage) -> None:
    ids = _build(new_storage())
    repo = ic.Repository.open(new_storage())
    assert repo.spec_version == ic.SpecVersion.v1
    assert repo.list_branches() == {"main", "dev"}
    assert repo.list_tags() == {"t1"}
    with pytest.raises(ic.IcechunkError):
        repo.create_tag("gone", ids["one"])  # deleted tag names are never reused
    assert [s.message for s in repo.ancestry(branch="main")] == [
        "three",
        "one",
        "Repository initialized",
    ]
    main = zarr.open_array(repo.readonly_session("main").store, path="a", mode="r")[:]
    np.testing.assert_array_equal(main, [0, 1, 2, 3, 4, 8])
    diff = repo.diff(from_snapshot_id=ids["one"], to_branch="dev")
    assert diff.updated_chunks == {"/a": [[0]]}
    # A stale session loses against the moved branch, exactly as on spec v2.
    stale = repo.writable_session("main")
    repo.reset_branch("main", ids["one"])
    zarr.create_group(stale.store, path="late")
    with pytest.raises(ic.ConflictError):
        stale.commit("late")
    repo.delete_branch("dev")
    assert repo.list_branches() == {"main"}


@pytest.mark.local_only(reason="the reference wheels' dump script opens a local directory")
@pytest.mark.parametrize("reader", ["v1", "real"])
def test_reference_wheels_read_our_v1_repository(tmp_path: Path, reader: str) -> None:
    path = tmp_path / "repo"
    _build(ic.local_filesystem_storage(str(path)))
    python = harness.v1_python() if reader == "v1" else harness.real_python()
    theirs = harness.run_script("dump", path, python=python)
    ours = _dump(path)
    ours.pop("ops_log", None)
    theirs.pop("ops_log", None)
    assert theirs == ours

    # They commit on top of our v1 files, and we read their commit.
    harness.run_script("commit_on_top", path, "dev", python=python)
    repo = ic.Repository.open(ic.local_filesystem_storage(str(path)))
    tip = repo.lookup_snapshot(repo.lookup_branch("dev"))
    assert tip.message == "commit on top"
    on_top = zarr.open_array(repo.readonly_session("dev").store, path="on_top", mode="r")
    np.testing.assert_array_equal(on_top[:], np.arange(150).reshape(3, 50))


def test_spec_version_argument_is_validated(new_storage: NewStorage) -> None:
    with pytest.raises(ic.InvalidInputError, match="Unsupported version 3"):
        ic.Repository.create(new_storage("x"), spec_version=3)
    repo = ic.Repository.create(new_storage(), spec_version=ic.SpecVersion.v1)
    assert repo.spec_version == 1
    with pytest.raises(ic.FormatError, match=r"at least version 2\.0"):
        repo.set_status(ic.RepoStatus(ic.RepoAvailability.read_only))
