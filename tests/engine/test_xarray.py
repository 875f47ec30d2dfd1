"""xarray round trips through IcechunkStore: write, commit, reopen, append, time travel, dask."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import xarray as xr

import icechunk as ic

pytest.importorskip("dask")


@pytest.fixture(params=["memory", "local"])
def repo(request: pytest.FixtureRequest, tmp_path: Path) -> ic.Repository:
    if request.param == "memory":
        return ic.Repository.create(ic.in_memory_storage())
    return ic.Repository.create(ic.local_filesystem_storage(str(tmp_path / "repo")))


def make_dataset(n_time: int = 6, start: str = "2024-01-01") -> xr.Dataset:
    """Several variables: float with NaN, int, datetime64 coordinate, string attrs, dims."""
    rng = np.random.default_rng(7)
    time = np.datetime64(start, "ns") + np.arange(n_time) * np.timedelta64(1, "D")
    lat = np.array([-10.0, 0.0, 10.0, 20.0])
    lon = np.arange(5, dtype="float32") * 2.5
    temp = rng.standard_normal((n_time, lat.size, lon.size))
    temp[0, 1, 2] = np.nan
    temp[-1, :, 0] = np.nan
    counts = rng.integers(0, 1000, size=(n_time, lat.size), dtype="int64")
    return xr.Dataset(
        data_vars={
            "temperature": (
                ("time", "lat", "lon"),
                temp,
                {"units": "K", "long_name": "air temperature 🧊"},
            ),
            "counts": (("time", "lat"), counts, {"description": "number of observations"}),
            "elevation": (("lat", "lon"), rng.uniform(0, 3000, (lat.size, lon.size))),
        },
        coords={
            "time": time,
            "lat": ("lat", lat, {"units": "degrees_north"}),
            "lon": ("lon", lon, {"units": "degrees_east"}),
        },
        attrs={"title": "pyicechunk xarray test", "institution": "nowhere", "version": 3},
    )


def open_at(
    repo: ic.Repository, *, branch: str | None = None, snapshot_id: str | None = None
) -> xr.Dataset:
    session = repo.readonly_session(branch=branch, snapshot_id=snapshot_id)
    ds: xr.Dataset = xr.open_zarr(session.store, consolidated=False, zarr_format=3)
    return ds.load()


def test_write_commit_and_read_back(repo: ic.Repository) -> None:
    ds = make_dataset()
    session = repo.writable_session("main")
    ds.to_zarr(session.store, consolidated=False, zarr_format=3)
    snapshot = session.commit("write dataset")

    back = open_at(repo, branch="main")
    xr.testing.assert_identical(back, ds)
    assert back["time"].dtype == np.dtype("datetime64[ns]")
    assert back["counts"].dtype == np.dtype("int64")
    assert np.isnan(back["temperature"].values[0, 1, 2])
    xr.testing.assert_identical(open_at(repo, snapshot_id=snapshot), ds)


def test_append_then_time_travel(repo: ic.Repository) -> None:
    first = make_dataset(n_time=4)
    session = repo.writable_session("main")
    first.to_zarr(session.store, consolidated=False, zarr_format=3)
    v1 = session.commit("first four days")

    more = make_dataset(n_time=3, start="2024-01-05")
    session = repo.writable_session("main")
    more.drop_vars(["elevation", "lat", "lon"]).to_zarr(
        session.store, consolidated=False, append_dim="time"
    )
    v2 = session.commit("three more days")

    combined = xr.concat([first, more.drop_vars("elevation")], dim="time", data_vars="minimal")
    latest = open_at(repo, branch="main")
    assert latest.sizes["time"] == 7
    xr.testing.assert_identical(latest, combined)
    xr.testing.assert_identical(open_at(repo, snapshot_id=v2), combined)
    # The first commit still shows the old, shorter dataset.
    xr.testing.assert_identical(open_at(repo, snapshot_id=v1), first)
    assert [info.message for info in repo.ancestry(branch="main")][:2] == [
        "three more days",
        "first four days",
    ]


def test_dask_chunked_write(repo: ic.Repository) -> None:
    ds = make_dataset(n_time=10).chunk({"time": 3, "lat": 2})
    session = repo.writable_session("main")
    ds.to_zarr(session.store, consolidated=False, zarr_format=3, compute=True)
    session.commit("dask write")

    back = open_at(repo, branch="main")
    xr.testing.assert_identical(back, ds.compute())
    lazy = xr.open_zarr(repo.readonly_session(branch="main").store, consolidated=False)
    assert lazy["temperature"].encoding["chunks"] == (3, 2, 5)
