"""The code of the "Distributed Writes with dask" pages and the migration guide's
parallel-writes section, run as written except: the tutorial dataset is
``synthetic_rasm()`` (no network), paths are pytest temp dirs, process pools use two
spawned workers, and the pre-2.0 spellings are checked to fail clearly.
"""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("dask")

import dask
import dask.array as da
import xarray as xr
import zarr
from dask_recipes import N_TIME, synthetic_rasm, write_timestamp

import icechunk
import icechunk.dask
import icechunk.xarray
from icechunk import Repository, Session, local_filesystem_storage
from icechunk.distributed import merge_sessions

SCHEDULERS = ["threads", "processes", "sync"]


def _snapshot_id_like(text: str) -> bool:
    return len(text) == 20 and text.isalnum() and text.isupper()


def _docs_repo(path: Path) -> tuple[Repository, da.Array]:
    """The dask page up to the first commit: a repository, a dask array, the zarr target."""
    storage = icechunk.local_filesystem_storage(str(path))
    repo = icechunk.Repository.create(storage)
    session = repo.writable_session("main")

    shape = (100, 100)
    dask_chunks = (20, 20)
    dask_array = da.random.random(shape, chunks=dask_chunks)

    zarr_chunks = (10, 10)
    group = zarr.group(store=session.store, overwrite=True)
    group.create_array(
        "array", shape=shape, chunks=zarr_chunks, dtype="f8", fill_value=float("nan")
    )
    session.commit("initialize array")
    return repo, dask_array


@pytest.fixture(params=SCHEDULERS)
def scheduler(request: pytest.FixtureRequest) -> Iterator[str]:
    """Each of dask's local schedulers in turn (processes: the shared spawned pool)."""
    if request.param == "processes":
        request.getfixturevalue("processes_scheduler")
        yield "processes"
    else:
        with dask.config.set(scheduler=request.param):
            yield request.param


def test_store_dask_fork_merge_commit(tmp_path: Path, scheduler: str) -> None:
    repo, dask_array = _docs_repo(tmp_path / "repo")
    expected = dask_array.compute(scheduler="sync")

    session = repo.writable_session("main")
    fork = session.fork()
    zarray = zarr.open_array(fork.store, path="array")
    # The `scheduler` fixture has made dask use that scheduler.
    remote_session = icechunk.dask.store_dask(sources=[dask_array], targets=[zarray])
    assert isinstance(remote_session, icechunk.ForkSession)
    assert not session.has_uncommitted_changes

    session.merge(remote_session)
    snapshot = session.commit("wrote a dask array!")
    assert _snapshot_id_like(snapshot)

    written = zarr.open_array(repo.readonly_session("main").store, path="array")
    np.testing.assert_array_equal(written[:], expected)
    assert written.nchunks_initialized == 100  # every 10x10 chunk survived the merges


@pytest.mark.usefixtures("processes_scheduler")
@pytest.mark.parametrize("split_every", [2, 3, None])
def test_store_dask_several_arrays_and_regions(tmp_path: Path, split_every: int | None) -> None:
    repo = Repository.create(local_filesystem_storage(str(tmp_path / "repo")))
    session = repo.writable_session("main")
    group = zarr.group(store=session.store)
    group.create_array("a", shape=(12, 6), chunks=(2, 3), dtype="i4", fill_value=-1)
    group.create_array("b", shape=(9,), chunks=(3,), dtype="f4", fill_value=0)
    session.commit("two arrays")

    session = repo.writable_session("main")
    fork = session.fork()
    a = zarr.open_array(fork.store, path="a")
    b = zarr.open_array(fork.store, path="b")
    top = da.arange(36, dtype="i4", chunks=6).reshape(6, 6).rechunk((2, 3))
    tail = da.full((6,), 2.5, dtype="f4", chunks=3)
    merged = icechunk.dask.store_dask(
        sources=[top, tail],
        targets=[a, b],
        regions=[(slice(6, 12), slice(None)), (slice(3, 9),)],
        split_every=split_every,
    )
    session.merge(merged)
    session.commit("regions")

    store = repo.readonly_session("main").store
    expected_a = np.full((12, 6), -1, dtype="i4")
    expected_a[6:] = np.arange(36).reshape(6, 6)
    np.testing.assert_array_equal(zarr.open_array(store, path="a")[:], expected_a)
    np.testing.assert_array_equal(
        zarr.open_array(store, path="b")[:], np.array([0, 0, 0] + [2.5] * 6, dtype="f4")
    )


def test_to_icechunk_round_trip(tmp_path: Path, scheduler: str) -> None:
    repo, _ = _docs_repo(tmp_path / "repo")

    session = repo.writable_session("main")
    dataset = synthetic_rasm().chunk({"time": 1}).isel(time=slice(24))

    # `to_icechunk` takes care of handling the forking
    icechunk.xarray.to_icechunk(dataset, session, mode="w")
    # remember you must commit before executing a distributed read.
    assert _snapshot_id_like(session.commit("wrote an Xarray dataset!"))

    roundtripped = xr.open_zarr(session.store, consolidated=False)
    assert dataset.identical(roundtripped)
    xr.testing.assert_identical(roundtripped, dataset)
    assert roundtripped.Tair.encoding["chunks"] == (1, 3, 4)
    # mode="w" replaced the root group, so the dask page's first array is gone.
    assert "array" not in zarr.open_group(session.store, mode="r")


def _init_for_region_writes(path: Path) -> tuple[xr.Dataset, Repository]:
    """The region-writes page up to its optional commit."""
    ds = synthetic_rasm().isel(time=slice(24))
    repo = Repository.create(local_filesystem_storage(str(path)))
    session = repo.writable_session("main")
    # The page builds the chunk shape as a set; with this dataset's sizes (24, 3, 4) it
    # iterates as (1, 3, 4): one time step per zarr chunk, as the recipe needs.
    chunks = {1 if dim == "time" else ds.sizes[dim] for dim in ds.Tair.dims}
    ds.to_zarr(session.store, compute=False, encoding={"Tair": {"chunks": chunks}}, mode="w")
    session.commit("initialize store")
    return ds, repo


def _assert_every_time_step_rewritten(session: Session) -> None:
    chunks = session.status().updated_chunks["/Tair"]
    assert sorted(tuple(c) for c in chunks) == [(t, 0, 0) for t in range(N_TIME)]


def test_region_writes_thread_pool_with_forks(tmp_path: Path) -> None:
    ds, repo = _init_for_region_writes(tmp_path / "repo")
    session = repo.writable_session("main")
    fork = session.fork()
    with ThreadPoolExecutor() as executor:
        futures = [
            executor.submit(write_timestamp, itime=i, session=fork) for i in range(ds.sizes["time"])
        ]
        sessions = [f.result() for f in futures]

    session = merge_sessions(fork, *sessions)  # merge_sessions folds forks together
    parent = repo.writable_session("main")
    parent.merge(session)
    _assert_every_time_step_rewritten(parent)
    parent.commit("finished writes")

    ondisk = xr.open_zarr(repo.readonly_session(branch="main").store, consolidated=False)
    xr.testing.assert_identical(ds, ondisk)


def test_region_writes_thread_pool_old_spelling_fails_clearly(tmp_path: Path) -> None:
    # The earlier page passes the session itself to threads and merges with
    # merge_sessions(session, ...); 2.x only merges forks there, and says so.
    ds, repo = _init_for_region_writes(tmp_path / "repo")
    session = repo.writable_session("main")
    with ThreadPoolExecutor() as executor:
        futures = [
            executor.submit(write_timestamp, itime=i, session=session)
            for i in range(ds.sizes["time"])
        ]
        sessions = [f.result() for f in futures]
    with pytest.raises(TypeError, match=r"Session\.merge"):
        merge_sessions(session, *sessions)
    # Nothing was lost: the threads wrote into the session, which still commits.
    _assert_every_time_step_rewritten(session)
    session.commit("finished writes")
    ondisk = xr.open_zarr(repo.readonly_session(branch="main").store, consolidated=False)
    xr.testing.assert_identical(ds, ondisk)


def test_region_writes_process_pool_migration_guide(
    tmp_path: Path, dask_process_pool: ProcessPoolExecutor
) -> None:
    ds, repo = _init_for_region_writes(tmp_path / "repo")
    session = repo.writable_session("main")
    # The guide opens `with ProcessPoolExecutor() as executor:`; the suite shares one
    # spawned pool so worker start-up is paid once.
    executor = dask_process_pool
    # obtain a writable session that can be pickled.
    fork = session.fork()
    # submit the writes, distribute `fork`
    futures = [
        executor.submit(write_timestamp, itime=i, session=fork) for i in range(ds.sizes["time"])
    ]
    # grab the Session objects from each individual write task
    remote_sessions = [f.result() for f in futures]

    assert all(isinstance(s, icechunk.ForkSession) for s in remote_sessions)
    # manually merge the remote sessions in to the local session
    session.merge(*remote_sessions)
    _assert_every_time_step_rewritten(session)
    session.commit("finished writes")

    ondisk = xr.open_zarr(repo.readonly_session(branch="main").store, consolidated=False)
    xr.testing.assert_identical(ds, ondisk)


def test_process_pool_refuses_the_unforked_session(
    tmp_path: Path, dask_process_pool: ProcessPoolExecutor
) -> None:
    _, repo = _init_for_region_writes(tmp_path / "repo")
    session = repo.writable_session("main")
    future = dask_process_pool.submit(write_timestamp, itime=0, session=session)
    with pytest.raises(ValueError, match=r"Session\.fork\(\)"):
        future.result()
