"""Distributed writes: fork a writable session, write on workers, merge, commit."""

from __future__ import annotations

import multiprocessing as mp
import pickle
from concurrent.futures import ProcessPoolExecutor

import numpy as np
import pytest
import zarr

import icechunk as ic
from engine.storage_kinds import NewStorage
from icechunk.distributed import extract_session, merge_sessions

N = 8


def _repo(storage: ic.Storage) -> ic.Repository:
    repo = ic.Repository.create(storage)
    session = repo.writable_session("main")
    zarr.create_array(session.store, name="a", shape=(N,), chunks=(1,), dtype="i4", fill_value=0)
    session.commit("init")
    return repo


def _write(blob: bytes, start: int, stop: int) -> bytes:
    fork = pickle.loads(blob)
    arr = zarr.open_array(fork.store, path="a", mode="r+")
    arr[start:stop] = np.arange(start, stop, dtype="i4") + 100
    return pickle.dumps(fork)


def _expected() -> np.ndarray:
    return np.arange(N, dtype="i4") + 100


def test_fork_write_merge_commit_in_process(new_storage: NewStorage) -> None:
    repo = _repo(new_storage())
    session = repo.writable_session("main")
    forks = [session.fork(), session.fork()]
    assert all(isinstance(f, ic.ForkSession) and not f.read_only for f in forks)
    back = [
        pickle.loads(_write(pickle.dumps(forks[0]), 0, N // 2)),
        pickle.loads(_write(pickle.dumps(forks[1]), N // 2, N)),
    ]
    assert all(isinstance(f, ic.ForkSession) and f.has_uncommitted_changes for f in back)
    assert not session.has_uncommitted_changes
    session.merge(*back)
    assert session.has_uncommitted_changes
    session.commit("merged")
    arr = zarr.open_array(repo.readonly_session("main").store, path="a", mode="r")
    np.testing.assert_array_equal(arr[:], _expected())


def test_fork_write_merge_commit_in_worker_processes(new_storage: NewStorage) -> None:
    repo = _repo(new_storage())
    session = repo.writable_session("main")
    ctx = mp.get_context("spawn")
    with ProcessPoolExecutor(max_workers=2, mp_context=ctx) as pool:
        futures = [
            pool.submit(_write, pickle.dumps(session.fork()), i, i + N // 2) for i in (0, N // 2)
        ]
        back = [pickle.loads(f.result()) for f in futures]
    session.merge(*back)
    session.commit("merged")
    arr = zarr.open_array(repo.readonly_session("main").store, path="a", mode="r")
    np.testing.assert_array_equal(arr[:], _expected())


def test_fork_store_pickles(new_storage: NewStorage) -> None:
    repo = _repo(new_storage())
    fork = repo.writable_session("main").fork()
    store = pickle.loads(pickle.dumps(fork.store))
    assert isinstance(store.session, ic.ForkSession)
    assert not store.read_only


def test_read_only_session_cannot_fork(new_storage: NewStorage) -> None:
    repo = _repo(new_storage())
    with pytest.raises(ic.SessionStateError) as info:
        repo.readonly_session("main").fork()
    assert info.value.kind == "cannot-fork-read-only-session"


def test_fork_cannot_commit(new_storage: NewStorage) -> None:
    repo = _repo(new_storage())
    fork = repo.writable_session("main").fork()
    zarr.open_array(fork.store, path="a", mode="r+")[0] = 1
    with pytest.raises(ic.SessionStateError) as info:
        fork.commit("nope")
    assert info.value.kind == "commit-not-allowed"
    assert "merge" in str(info.value)


def test_writable_session_and_store_still_refuse_pickling(new_storage: NewStorage) -> None:
    repo = _repo(new_storage())
    session = repo.writable_session("main")
    session.fork()
    for obj in (session, session.store):
        with pytest.raises(ValueError, match=r"Session\.fork\(\)"):
            pickle.dumps(obj)


def test_read_only_session_cannot_merge(new_storage: NewStorage) -> None:
    repo = _repo(new_storage())
    fork = repo.writable_session("main").fork()
    with pytest.raises(ic.ReadOnlyError):
        repo.readonly_session("main").merge(fork)


def test_fork_inherits_uncommitted_changes(new_storage: NewStorage) -> None:
    repo = _repo(new_storage())
    session = repo.writable_session("main")
    zarr.open_array(session.store, path="a", mode="r+")[0] = 5
    fork = session.fork()
    assert not fork.has_uncommitted_changes
    assert zarr.open_array(fork.store, path="a", mode="r")[0] == 5
    fork = pickle.loads(pickle.dumps(fork))
    assert not fork.has_uncommitted_changes


def test_overlapping_writes_last_merged_wins(new_storage: NewStorage) -> None:
    repo = _repo(new_storage())
    session = repo.writable_session("main")
    first, second = session.fork(), session.fork()
    zarr.open_array(first.store, path="a", mode="r+")[0] = 1
    zarr.open_array(second.store, path="a", mode="r+")[0] = 2
    session.merge(first, second)
    assert zarr.open_array(session.store, path="a", mode="r")[0] == 2


def test_merge_of_fork_from_another_base_is_accepted(new_storage: NewStorage) -> None:
    # The reference wheel does not compare base snapshots when merging; neither do we.
    repo = _repo(new_storage())
    old = repo.writable_session("main")
    mover = repo.writable_session("main")
    zarr.open_array(mover.store, path="a", mode="r+")[2] = 9
    mover.commit("advance")
    stale = old.fork()
    zarr.open_array(stale.store, path="a", mode="r+")[3] = 7
    session = repo.writable_session("main")
    session.merge(stale)
    session.commit("merged a stale fork")
    arr = zarr.open_array(repo.readonly_session("main").store, path="a", mode="r")
    assert arr[2] == 9 and arr[3] == 7


def test_forks_merge_into_forks_and_merge_sessions(new_storage: NewStorage) -> None:
    repo = _repo(new_storage())
    session = repo.writable_session("main")
    a, b, c = session.fork(), session.fork(), session.fork()
    zarr.open_array(b.store, path="a", mode="r+")[1] = 11
    zarr.open_array(c.store, path="a", mode="r+")[2] = 22
    merged = merge_sessions(a, [b, [c]])
    assert merged is a
    assert isinstance(extract_session(zarr.open_array(a.store, path="a")), ic.ForkSession)
    with pytest.raises(TypeError):
        merge_sessions(session)
    session.merge(merged)
    session.commit("tree merge")
    arr = zarr.open_array(repo.readonly_session("main").store, path="a", mode="r")
    np.testing.assert_array_equal(arr[:3], [0, 11, 22])
