"""Repository, branch, tag, history and session behaviour on memory and the suite's backend.

The backend is the local filesystem, or S3 on moto in the ``ICECHUNK_TEST_STORAGE=s3`` pass
(see ``engine.storage_kinds``).
"""

from __future__ import annotations

import datetime as dt
import pickle
from typing import Any

import numpy as np
import pytest
import zarr

import icechunk as ic
from engine.storage_kinds import NewStorage

INITIAL = "1CECHNKREP0F1RSTCMT0"


_MEMORY = pytest.param(
    "memory", marks=pytest.mark.local_only(reason="in-memory storage: the same in the S3 pass")
)


@pytest.fixture(params=[_MEMORY, "backend"])
def storage(request: pytest.FixtureRequest, new_storage: NewStorage) -> ic.Storage:
    if request.param == "memory":
        return ic.in_memory_storage()
    return new_storage("repos/one")


@pytest.fixture
def repo(storage: ic.Storage) -> ic.Repository:
    return ic.Repository.create(storage)


def write_array(session: ic.Session, path: str = "x", values: Any = None) -> zarr.Array:
    group = zarr.open_group(session.store, mode="a")
    data = np.arange(100, dtype="int32") if values is None else values
    arr = group.create_array(path, shape=data.shape, chunks=(10,), dtype=data.dtype)
    arr[:] = data
    return arr


def test_create_gives_main_at_initial_snapshot(repo: ic.Repository) -> None:
    assert repo.list_branches() == {"main"}
    assert repo.lookup_branch("main") == INITIAL
    [first] = list(repo.ancestry(branch="main"))
    assert first.id == INITIAL
    assert first.parent_id is None
    assert first.message == "Repository initialized"
    assert first.written_at.tzinfo is not None


def test_create_twice_fails_and_open_works(storage: ic.Storage) -> None:
    ic.Repository.create(storage)
    assert ic.Repository.exists(storage)
    with pytest.raises(ic.IcechunkError):
        ic.Repository.create(storage)
    assert ic.Repository.open(storage).lookup_branch("main") == INITIAL


def test_open_missing_repository_raises_typed_error(new_storage: NewStorage) -> None:
    storage = new_storage("nothing")
    assert not ic.Repository.exists(storage)
    with pytest.raises(ic.RepositoryNotFoundError):
        ic.Repository.open(storage)
    assert ic.Repository.open_or_create(storage).list_branches() == {"main"}


def test_commit_and_read_back(repo: ic.Repository) -> None:
    session = repo.writable_session("main")
    assert not session.read_only and session.branch == "main"
    write_array(session)
    assert session.has_uncommitted_changes
    sid = session.commit("first", metadata={"author": "me"})
    assert session.read_only and session.snapshot_id == sid
    assert not session.has_uncommitted_changes
    assert repo.lookup_branch("main") == sid
    info = next(iter(repo.ancestry(branch="main")))
    assert (info.id, info.parent_id, info.message) == (sid, INITIAL, "first")
    assert info.metadata == {"author": "me"}
    arr = zarr.open_array(repo.readonly_session("main").store, path="x", mode="r")
    np.testing.assert_array_equal(arr[:], np.arange(100))


def test_large_chunks_are_native_and_small_inline(repo: ic.Repository, storage: ic.Storage) -> None:
    session = repo.writable_session("main")
    group = zarr.open_group(session.store, mode="a")
    small = group.create_array("small", shape=(4,), chunks=(4,), dtype="int8", compressors=None)
    small[:] = 1
    big = group.create_array("big", shape=(1000,), chunks=(1000,), dtype="float64", compressors=None)
    big[:] = np.random.default_rng(0).random(1000)
    session.commit("data")
    ro = repo.readonly_session("main")
    np.testing.assert_array_equal(zarr.open_array(ro.store, path="small")[:], [1, 1, 1, 1])
    np.testing.assert_array_equal(zarr.open_array(ro.store, path="big")[:], big[:])


def test_time_travel_and_tags(repo: ic.Repository) -> None:
    s1 = repo.writable_session("main")
    write_array(s1)
    first = s1.commit("one")
    repo.create_tag("v1", first)
    s2 = repo.writable_session("main")
    zarr.open_array(s2.store, path="x")[:10] = -1
    second = s2.commit("two")
    assert [s.id for s in repo.ancestry(branch="main")] == [second, first, INITIAL]
    assert [s.id for s in repo.ancestry(tag="v1")] == [first, INITIAL]
    old = zarr.open_array(repo.readonly_session(tag="v1").store, path="x", mode="r")
    assert old[0] == 0
    new = zarr.open_array(repo.readonly_session(snapshot_id=second).store, path="x", mode="r")
    assert new[0] == -1
    at_first = repo.readonly_session("main", as_of=repo.lookup_snapshot(first).written_at)
    assert at_first.snapshot_id == first


def test_branches(repo: ic.Repository) -> None:
    s = repo.writable_session("main")
    write_array(s)
    first = s.commit("one")
    repo.create_branch("dev", first)
    assert repo.list_branches() == {"main", "dev"}
    with pytest.raises(ic.AlreadyExistsError):
        repo.create_branch("dev", first)
    dev = repo.writable_session("dev")
    zarr.open_array(dev.store, path="x")[0] = 42
    dev_tip = dev.commit("on dev")
    assert repo.lookup_branch("main") == first
    repo.reset_branch("main", dev_tip)
    assert repo.lookup_branch("main") == dev_tip
    with pytest.raises(ic.ConflictError):
        repo.reset_branch("main", INITIAL, from_snapshot_id=first)
    repo.reset_branch("main", first, from_snapshot_id=dev_tip)
    repo.delete_branch("dev")
    assert repo.list_branches() == {"main"}
    with pytest.raises(ic.SessionStateError) as err:
        repo.delete_branch("main")
    assert err.value.kind == "cannot-delete-main"


def test_tags_are_never_reused(repo: ic.Repository) -> None:
    repo.create_tag("t", INITIAL)
    assert repo.lookup_tag("t") == INITIAL
    with pytest.raises(ic.AlreadyExistsError):
        repo.create_tag("t", INITIAL)
    repo.delete_tag("t")
    assert repo.list_tags() == set()
    with pytest.raises(ic.AlreadyExistsError) as err:
        repo.create_tag("t", INITIAL)
    assert err.value.kind == "tag-previously-deleted"
    with pytest.raises(ic.RefNotFoundError):
        repo.delete_tag("t")


# Spec v2 restricts no ref name (tests/reliability/test_ref_names.py); only non-text is bad.
@pytest.mark.parametrize("bad", ["\ud800", "a\udcffb"])
def test_bad_ref_names(repo: ic.Repository, bad: str) -> None:
    with pytest.raises(ic.InvalidInputError):
        repo.create_branch(bad, INITIAL)
    with pytest.raises(ic.InvalidInputError):
        repo.create_tag(bad, INITIAL)


def test_unknown_refs_and_snapshots(repo: ic.Repository) -> None:
    with pytest.raises(ic.RefNotFoundError) as err:
        repo.lookup_branch("nope")
    assert isinstance(err.value, KeyError)
    with pytest.raises(ic.RefNotFoundError):
        repo.lookup_tag("nope")
    with pytest.raises(ic.InvalidInputError) as bad:
        repo.create_branch("x", "not-an-id")
    assert isinstance(bad.value, ValueError) and bad.value.kind == "invalid-snapshot-id"
    missing = "0" * 20
    with pytest.raises(ic.SnapshotNotFoundError):
        repo.create_branch("x", missing)
    with pytest.raises(ic.SnapshotNotFoundError):
        repo.readonly_session(snapshot_id=missing)
    with pytest.raises(ic.RefNotFoundError):
        repo.writable_session("nope")


def test_conflicting_commit_raises_conflict_error(repo: ic.Repository) -> None:
    s = repo.writable_session("main")
    write_array(s)
    base = s.commit("base")
    a, b = repo.writable_session("main"), repo.writable_session("main")
    zarr.open_array(a.store, path="x")[0] = 1
    zarr.open_array(b.store, path="x")[50] = 2
    won = a.commit("a")
    with pytest.raises(ic.ConflictError) as err:
        b.commit("b")
    assert err.value.expected_parent == base
    assert err.value.actual_parent == won
    assert err.value.kind == "commit-conflict"
    assert repo.lookup_branch("main") == won


def test_empty_commit(repo: ic.Repository) -> None:
    s = repo.writable_session("main")
    with pytest.raises(ic.SessionStateError) as err:
        s.commit("nothing")
    assert err.value.kind == "no-changes-to-commit"
    sid = s.commit("nothing", allow_empty=True)
    assert repo.lookup_branch("main") == sid


def test_read_only_session_refuses_writes(repo: ic.Repository) -> None:
    ro = repo.readonly_session("main")
    assert ro.read_only and ro.store.read_only
    with pytest.raises((ic.IcechunkError, ValueError)):
        zarr.create_group(ro.store)
    with pytest.raises(ic.SessionStateError) as err:  # the real API's error for this
        ro.commit("no")
    assert err.value.kind == "commit-not-allowed"


def test_discard_changes(repo: ic.Repository) -> None:
    s = repo.writable_session("main")
    write_array(s)
    s.discard_changes()
    assert not s.has_uncommitted_changes
    assert list(zarr.open_group(s.store, mode="a").arrays()) == []


def test_pickling_rules(repo: ic.Repository, storage: ic.Storage) -> None:
    clone = pickle.loads(pickle.dumps(repo))
    ro = pickle.loads(pickle.dumps(repo.readonly_session("main")))
    assert ro.snapshot_id == INITIAL
    if "memory" not in type(storage).__name__.lower():  # in-memory data stays behind
        assert clone.lookup_branch("main") == INITIAL
    writable = repo.writable_session("main")
    with pytest.raises(ValueError, match="fork"):
        pickle.dumps(writable)
    with pytest.raises(ValueError, match="fork"):
        pickle.dumps(writable.store)
    err = pickle.loads(pickle.dumps(ic.ConflictError("A", "B")))
    assert (err.expected_parent, err.actual_parent) == ("A", "B")


def test_delete_and_recreate_nodes(repo: ic.Repository) -> None:
    s = repo.writable_session("main")
    write_array(s, "g/a")
    s.commit("one")
    s = repo.writable_session("main")
    group = zarr.open_group(s.store, mode="a")
    del group["g"]
    s.commit("delete")
    ro = zarr.open_group(repo.readonly_session("main").store, mode="r")
    assert "g" not in ro
    s = repo.writable_session("main")
    write_array(s, "g/a", np.full(100, 7, dtype="int32"))
    s.commit("recreate")
    arr = zarr.open_array(repo.readonly_session("main").store, path="g/a", mode="r")
    assert (arr[:] == 7).all()


def test_resize_drops_chunks_outside_the_grid(repo: ic.Repository) -> None:
    s = repo.writable_session("main")
    arr = write_array(s)
    s.commit("full")
    s = repo.writable_session("main")
    arr = zarr.open_array(s.store, path="x")
    arr.resize((25,))
    s.commit("shrink")
    s = repo.writable_session("main")
    arr = zarr.open_array(s.store, path="x")
    arr.resize((100,))
    s.commit("grow")
    back = zarr.open_array(repo.readonly_session("main").store, path="x", mode="r")[:]
    np.testing.assert_array_equal(back[:25], np.arange(25))
    assert (back[30:] == 0).all()


def test_attributes_and_metadata_are_verbatim(repo: ic.Repository) -> None:
    s = repo.writable_session("main")
    group = zarr.open_group(s.store, mode="a", attributes={"title": "é ü"})
    group.create_group("child", attributes={"n": 1})
    s.commit("attrs")
    ro = zarr.open_group(repo.readonly_session("main").store, mode="r")
    assert ro.attrs["title"] == "é ü"
    assert ro["child"].attrs["n"] == 1


def test_repository_metadata(repo: ic.Repository) -> None:
    assert repo.get_metadata() == {}
    repo.set_metadata({"project": "demo"})
    assert repo.update_metadata({"n": 2}) == {"project": "demo", "n": 2}
    assert repo.metadata == {"project": "demo", "n": 2}


def test_as_of_before_history_fails(repo: ic.Repository) -> None:
    with pytest.raises(ic.SnapshotNotFoundError):
        repo.readonly_session("main", as_of=dt.datetime(2000, 1, 1, tzinfo=dt.UTC))


async def test_async_api(storage: ic.Storage) -> None:
    repo = await ic.Repository.create_async(storage)
    assert await repo.list_branches_async() == {"main"}
    session = await repo.writable_session_async("main")
    await zarr.api.asynchronous.open_group(store=session.store, mode="a")
    sid = await session.commit_async("async")
    assert await repo.lookup_branch_async("main") == sid
    ids = [info.id async for info in repo.async_ancestry(branch="main")]
    assert ids == [sid, INITIAL]


def test_resize_to_zero_then_delete_chunks(repo: ic.Repository) -> None:
    """zarr deletes chunks outside the new grid after shrinking; that must not fail."""
    s = repo.writable_session("main")
    arr = write_array(s)
    arr.resize((0,))
    assert arr.shape == (0,)
    s.commit("emptied")
    back = zarr.open_array(repo.readonly_session("main").store, path="x", mode="r")
    assert back.shape == (0,)
    store = repo.writable_session("main").store
    import asyncio

    asyncio.run(store.delete("x/c/3"))  # outside the (empty) grid: a no-op


def test_shrink_then_grow_in_one_session_keeps_chunks_deleted(repo: ic.Repository) -> None:
    s = repo.writable_session("main")
    write_array(s)
    s.commit("full")
    s = repo.writable_session("main")
    arr = zarr.open_array(s.store, path="x")
    arr.resize((10,))
    arr.resize((100,))
    expected = np.zeros(100, dtype="int32")
    expected[:10] = np.arange(10)
    np.testing.assert_array_equal(arr[:], expected)
    s.commit("shrink and grow")
    back = zarr.open_array(repo.readonly_session("main").store, path="x", mode="r")[:]
    np.testing.assert_array_equal(back, expected)
