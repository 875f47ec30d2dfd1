"""xarray round trips through IcechunkStore (to_zarr and to_icechunk): write, commit, reopen,
append, regions, time travel, dask."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr

import icechunk as ic
from engine.storage_kinds import NewStorage
from icechunk.xarray import _XarrayDatasetWriter, to_icechunk

pytest.importorskip("dask")


_MEMORY = pytest.param(
    "memory", marks=pytest.mark.local_only(reason="in-memory storage: the same in the S3 pass")
)


@pytest.fixture(params=[_MEMORY, "backend"])
def repo(request: pytest.FixtureRequest, new_storage: NewStorage) -> ic.Repository:
    if request.param == "memory":
        return ic.Repository.create(ic.in_memory_storage())
    return ic.Repository.create(new_storage())


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


# ---------------------------------------------------------------- icechunk.xarray.to_icechunk


def _open(session: ic.Session, group: str | None = None) -> xr.Dataset:
    ds: xr.Dataset = xr.open_zarr(session.store, group=group, consolidated=False)
    return ds.load()


@pytest.mark.parametrize("lazy", [False, True], ids=["numpy", "dask"])
def test_to_icechunk_round_trip_and_commit(repo: ic.Repository, lazy: bool) -> None:
    ds = make_dataset(n_time=8)
    source = ds.chunk({"time": 2}) if lazy else ds
    session = repo.writable_session("main")
    to_icechunk(source, session, mode="w")
    session.commit("to_icechunk")
    xr.testing.assert_identical(open_at(repo, branch="main"), ds)


def test_to_icechunk_modes(repo: ic.Repository) -> None:
    ds = make_dataset(n_time=4).chunk({"time": 2})
    session = repo.writable_session("main")
    to_icechunk(ds, session)  # default "w-": create
    with pytest.raises(FileExistsError):
        to_icechunk(ds, session, mode="w-")
    doubled = ds.assign(temperature=ds.temperature * 2)
    to_icechunk(doubled, session, mode="a")  # "a" overrides existing variables
    xr.testing.assert_identical(_open(session), doubled.compute())
    to_icechunk(ds[["counts"]], session, mode="w")  # "w" replaces the whole group
    assert set(_open(session).data_vars) == {"counts"}
    with pytest.raises(ValueError, match="non-pre-existing variables"):
        to_icechunk(ds[["temperature"]], session, mode="r+")
    tripled = ds[["counts"]].assign(counts=ds.counts * 3)
    to_icechunk(tripled, session, mode="r+")  # "r+" rewrites values only
    xr.testing.assert_identical(_open(session), tripled.compute())
    session.commit("modes")


def test_to_icechunk_append_dim_and_a_minus(repo: ic.Repository) -> None:
    first = make_dataset(n_time=4)
    more = make_dataset(n_time=3, start="2024-01-05")
    session = repo.writable_session("main")
    to_icechunk(first.chunk({"time": 2}), session)
    to_icechunk(more.drop_vars("elevation").chunk({"time": 2}), session, append_dim="time")
    combined = xr.concat([first, more.drop_vars("elevation")], dim="time", data_vars="minimal")
    xr.testing.assert_identical(_open(session), combined)
    # "a-" appends only the variables along append_dim; "elevation" is left untouched.
    extra = make_dataset(n_time=1, start="2024-01-08")
    to_icechunk(extra.chunk({"time": 1}), session, mode="a-", append_dim="time")
    back = _open(session)
    assert back.sizes["time"] == 8
    xr.testing.assert_identical(back["elevation"], first["elevation"])
    session.commit("appends")


@pytest.mark.parametrize("region", ["auto", {"time": slice(2, 4)}, {"time": "auto"}])
def test_to_icechunk_region(repo: ic.Repository, region: object) -> None:
    ds = make_dataset(n_time=6)
    session = repo.writable_session("main")
    to_icechunk(
        ds.chunk({"time": 2}),
        session,
        encoding={"temperature": {"chunks": (2, 4, 5)}, "counts": {"chunks": (2, 4)}},
    )
    session.commit("template")
    session = repo.writable_session("main")
    part = ds.isel(time=slice(2, 4))
    update = part.assign(temperature=part.temperature + 100, counts=part.counts + 1)
    update = update.drop_vars(["elevation", "lat", "lon"])
    to_icechunk(update.chunk({"time": 2}), session, region=region)  # type: ignore[arg-type]
    session.commit("region")
    expected = ds.copy(deep=True)
    expected["temperature"][2:4] = update.temperature
    expected["counts"][2:4] = update.counts
    xr.testing.assert_identical(open_at(repo, branch="main"), expected)


def test_to_icechunk_encoding_and_group(repo: ic.Repository) -> None:
    ds = make_dataset(n_time=6)
    session = repo.writable_session("main")
    to_icechunk(
        ds.chunk({"time": 3}),
        session,
        group="nested/level",
        encoding={"temperature": {"chunks": (3, 2, 5), "dtype": "float32"}},
    )
    back = xr.open_zarr(session.store, group="nested/level", consolidated=False)
    assert back["temperature"].encoding["chunks"] == (3, 2, 5)
    assert back["temperature"].encoding["dtype"] == np.dtype("float32")
    np.testing.assert_allclose(back["temperature"].values, ds.temperature.values, rtol=1e-6)


@pytest.mark.parametrize("name", [None, "temperature", "lat"])
def test_to_icechunk_data_array(repo: ic.Repository, name: str | None) -> None:
    da = make_dataset(n_time=4)["temperature"].rename(name).chunk({"time": 2})
    session = repo.writable_session("main")
    to_icechunk(da, session, mode="w")
    session.commit("data array")
    store = repo.readonly_session("main").store
    back = xr.open_dataarray(store, engine="zarr", consolidated=False).load()
    xr.testing.assert_identical(back, da.compute())


def test_to_icechunk_repeated_in_one_session(repo: ic.Repository) -> None:
    ds = make_dataset(n_time=4).chunk({"time": 1})
    session = repo.writable_session("main")
    to_icechunk(ds, session)
    to_icechunk(ds, session, mode="w")
    to_icechunk(ds, session, group="copy")
    session.commit("three writes, one commit")
    xr.testing.assert_identical(open_at(repo, branch="main"), ds.compute())


def test_writer_in_three_steps(repo: ic.Repository) -> None:
    ds = make_dataset(n_time=4).chunk({"time": 2})
    session = repo.writable_session("main")
    writer = _XarrayDatasetWriter(ds, store=session.store)
    writer._open_group(group="steps", mode="w", append_dim=None, region=None)
    writer.write_metadata()
    meta_only = xr.open_zarr(session.store, group="steps", consolidated=False)
    assert meta_only.attrs == ds.attrs
    assert np.isnan(meta_only["temperature"].values).all()  # no data written yet
    writer.write_eager()
    np.testing.assert_array_equal(
        xr.open_zarr(session.store, group="steps", consolidated=False)["lat"].values,
        ds.lat.values,
    )
    # Lazy writes go through a fork, merged back by the caller.
    fork = session.fork()
    writer._retarget_lazy_writes(fork)
    merged = writer.write_lazy(split_every=2)
    assert isinstance(merged, ic.ForkSession)
    session.merge(merged)
    session.commit("three steps")
    back = xr.open_zarr(repo.readonly_session("main").store, group="steps", consolidated=False)
    xr.testing.assert_identical(back.load(), ds.compute())
