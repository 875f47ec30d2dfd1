"""The distributed-writes recipes on a real dask.distributed cluster of two worker
processes (loopback only, no dashboard), started once for this module."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

distributed = pytest.importorskip("distributed")

import dask.array as da  # noqa: E402
import xarray as xr  # noqa: E402
import zarr  # noqa: E402
from dask_recipes import synthetic_rasm, write_timestamp  # noqa: E402

import icechunk  # noqa: E402
import icechunk.dask  # noqa: E402
import icechunk.xarray  # noqa: E402
from icechunk import Repository, local_filesystem_storage  # noqa: E402


@pytest.fixture(scope="module")
def client() -> Iterator[distributed.Client]:
    cluster = distributed.LocalCluster(
        n_workers=2,
        processes=True,
        threads_per_worker=1,
        host="127.0.0.1",
        dashboard_address=None,
        silence_logs=logging.ERROR,
    )
    try:
        with distributed.Client(cluster) as client:
            yield client
    finally:
        cluster.close()


def _worker_pids(client: distributed.Client) -> set[int]:
    import os

    return set(client.run(os.getpid).values())


def test_cluster_has_two_worker_processes(client: distributed.Client) -> None:
    import os

    pids = _worker_pids(client)
    assert len(pids) == 2 and os.getpid() not in pids


def test_store_dask_on_cluster(tmp_path: Path, client: distributed.Client) -> None:
    repo = Repository.create(local_filesystem_storage(str(tmp_path / "repo")))
    session = repo.writable_session("main")
    shape, dask_chunks, zarr_chunks = (100, 100), (20, 20), (10, 10)
    dask_array = da.random.random(shape, chunks=dask_chunks)
    group = zarr.group(store=session.store, overwrite=True)
    group.create_array(
        "array", shape=shape, chunks=zarr_chunks, dtype="f8", fill_value=float("nan")
    )
    session.commit("initialize array")

    session = repo.writable_session("main")
    fork = session.fork()
    zarray = zarr.open_array(fork.store, path="array")
    remote_session = icechunk.dask.store_dask(sources=[dask_array], targets=[zarray], split_every=4)
    # The merged fork came back from the workers, not the one we passed in.
    assert isinstance(remote_session, icechunk.ForkSession) and remote_session is not fork
    session.merge(remote_session)
    session.commit("wrote a dask array!")

    written = zarr.open_array(repo.readonly_session("main").store, path="array")
    np.testing.assert_array_equal(written[:], dask_array.compute())
    assert written.nchunks_initialized == 100


def test_to_icechunk_round_trip_on_cluster(tmp_path: Path, client: distributed.Client) -> None:
    repo = Repository.create(local_filesystem_storage(str(tmp_path / "repo")))
    session = repo.writable_session("main")
    dataset = synthetic_rasm().chunk({"time": 1}).isel(time=slice(24))

    icechunk.xarray.to_icechunk(dataset, session, mode="w")
    session.commit("wrote an Xarray dataset!")

    roundtripped = xr.open_zarr(session.store, consolidated=False)
    assert dataset.identical(roundtripped)
    # A distributed read of the committed data works too: read-only sessions pickle.
    xr.testing.assert_identical(roundtripped.compute(), dataset.compute())


def test_region_writes_with_client_submit(tmp_path: Path, client: distributed.Client) -> None:
    ds = synthetic_rasm()
    repo = Repository.create(local_filesystem_storage(str(tmp_path / "repo")))
    session = repo.writable_session("main")
    template = xr.zeros_like(ds.chunk({"time": 1}))
    template.to_zarr(session.store, compute=False, mode="w", consolidated=False)
    session.commit("initialize store")

    session = repo.writable_session("main")
    fork = session.fork()
    futures = [
        client.submit(write_timestamp, itime=i, session=fork, pure=False)
        for i in range(ds.sizes["time"])
    ]
    session.merge(*client.gather(futures))
    session.commit("finished writes")

    ondisk = xr.open_zarr(repo.readonly_session(branch="main").store, consolidated=False)
    xr.testing.assert_identical(ds, ondisk)


def test_appends_in_one_session_on_cluster(tmp_path: Path, client: distributed.Client) -> None:
    # Two dask appends along different dimensions in one uncommitted session: the
    # second to_icechunk forks a session that already holds the first one's changes.
    repo = Repository.create(local_filesystem_storage(str(tmp_path / "repo")))
    nx, ny = 4, 7
    initial = xr.Dataset(
        {"a": (("x", "y"), np.full((nx, ny), 1.1))},
        coords={"x": np.arange(nx), "y": np.arange(ny)},
    ).chunk(x=3, y=6)
    session = repo.writable_session("main")
    icechunk.xarray.to_icechunk(initial, session, mode="w", split_every=2)
    session.commit("initial write")

    session = repo.writable_session("main")
    along_x = xr.Dataset(
        {"a": (("x", "y"), np.full((1, ny), 2.2))},
        coords={"x": [nx], "y": np.arange(ny)},
    ).chunk(x=1, y=6)
    icechunk.xarray.to_icechunk(along_x, session, append_dim="x", split_every=2)
    along_y = xr.Dataset(
        {"a": (("x", "y"), np.full((nx + 1, 1), 3.3))},
        coords={"x": np.arange(nx + 1), "y": [ny]},
    ).chunk(x=3, y=-1)
    # Writing one column into zarr chunks 6 wide is a partial-chunk write: allowed in
    # append mode, and only one task touches each chunk.
    icechunk.xarray.to_icechunk(along_y, session, append_dim="y", split_every=2)
    session.commit("two appends")

    result = xr.open_zarr(repo.readonly_session("main").store, consolidated=False)["a"].values
    expected = np.full((nx + 1, ny + 1), 1.1)
    expected[nx, :ny] = 2.2
    expected[:, ny] = 3.3
    np.testing.assert_array_equal(result, expected)
