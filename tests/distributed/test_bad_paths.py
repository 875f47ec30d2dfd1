"""Distributed writes that must fail, and fail clearly, without losing committed data."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("dask")

import dask.array as da
import xarray as xr
import zarr

import icechunk as ic
from icechunk.dask import UnsupportedDaskArgumentError, store_dask
from icechunk.distributed import merge_sessions
from icechunk.xarray import _XarrayDatasetWriter, to_icechunk


@pytest.fixture
def repo(tmp_path: Path) -> ic.Repository:
    repo = ic.Repository.create(ic.local_filesystem_storage(str(tmp_path / "repo")))
    session = repo.writable_session("main")
    root = zarr.group(session.store)
    root.create_array("a", shape=(8,), chunks=(2,), dtype="f8", fill_value=-1.0)
    root.create_group("g")
    session.commit("init")
    return repo


def _committed_a(repo: ic.Repository) -> np.ndarray:
    return zarr.open_array(repo.readonly_session("main").store, path="a")[:]


@pytest.mark.parametrize("kwarg", ["compute", "return_stored", "load_stored", "lock"])
def test_store_dask_rejects_reserved_kwargs(repo: ic.Repository, kwarg: str) -> None:
    fork = repo.writable_session("main").fork()
    target = zarr.open_array(fork.store, path="a")
    with pytest.raises(UnsupportedDaskArgumentError, match=kwarg) as info:
        store_dask(sources=[da.ones(8, chunks=2)], targets=[target], **{kwarg: True})
    assert isinstance(info.value, TypeError) and isinstance(info.value, ic.IcechunkError)
    assert not fork.has_uncommitted_changes  # nothing ran


def test_store_dask_is_keyword_only(repo: ic.Repository) -> None:
    session = repo.writable_session("main")
    target = zarr.open_array(session.store, path="a")
    with pytest.raises(TypeError):
        store_dask(session, sources=[da.ones(8, chunks=2)], targets=[target])  # type: ignore[misc]


@pytest.mark.parametrize("split_every", [0, 1, -3, 2.5, True])
def test_store_dask_rejects_bad_split_every(repo: ic.Repository, split_every: object) -> None:
    fork = repo.writable_session("main").fork()
    target = zarr.open_array(fork.store, path="a")
    with pytest.raises(ic.InvalidInputError, match="split_every"):
        store_dask(sources=[da.ones(8, chunks=2)], targets=[target], split_every=split_every)  # type: ignore[arg-type]


def test_store_dask_through_a_plain_session_says_to_fork(repo: ic.Repository) -> None:
    session = repo.writable_session("main")
    target = zarr.open_array(session.store, path="a")
    with pytest.raises(TypeError, match="ForkSession"):
        store_dask(sources=[da.ones(8, chunks=2)], targets=[target], scheduler="threads")


def test_store_dask_into_a_read_only_session(repo: ic.Repository) -> None:
    target = zarr.open_array(repo.readonly_session("main").store, path="a")
    with pytest.raises(ic.ReadOnlyError):
        store_dask(sources=[da.ones(8, chunks=2)], targets=[target], scheduler="threads")
    np.testing.assert_array_equal(_committed_a(repo), np.full(8, -1.0))


def test_to_icechunk_with_a_read_only_session(repo: ic.Repository) -> None:
    ds = xr.Dataset({"v": ("x", np.arange(4.0))}).chunk(x=2)
    with pytest.raises(ValueError, match="read-only"):
        to_icechunk(ds, repo.readonly_session("main"), group="new")
    assert "new" not in zarr.open_group(repo.readonly_session("main").store, mode="r")


def _two_forks(repo: ic.Repository) -> tuple[ic.Session, ic.ForkSession, ic.ForkSession]:
    session = repo.writable_session("main")
    return session, session.fork(), session.fork()


def test_forks_creating_the_same_array_do_not_merge(repo: ic.Repository) -> None:
    session, first, second = _two_forks(repo)
    zarr.create_array(first.store, name="new", shape=(2,), dtype="i4")
    zarr.create_array(second.store, name="new", shape=(3,), dtype="f8")
    with pytest.raises(ic.SessionStateError, match="created the same arrays: /new") as info:
        session.merge(first, second)
    assert info.value.kind == "merge-failed"
    # The first fork had been merged; the clash left the session otherwise intact.
    assert zarr.open_array(session.store, path="new").shape == (2,)


def test_forks_updating_one_array_differently_do_not_merge(repo: ic.Repository) -> None:
    session, first, second = _two_forks(repo)
    zarr.open_array(first.store, path="a").attrs["who"] = "first"
    zarr.open_array(second.store, path="a").attrs["who"] = "second"
    with pytest.raises(ic.SessionStateError, match="updated the same arrays"):
        merge_sessions(first, second)
    # Identical updates are not a conflict.
    third = session.fork()
    zarr.open_array(third.store, path="a").attrs["who"] = "first"
    merge_sessions(first, third)


def test_deleting_an_array_another_fork_wrote_does_not_merge(repo: ic.Repository) -> None:
    session, writer, deleter = _two_forks(repo)
    zarr.open_array(writer.store, path="a")[:2] = 5
    del zarr.open_group(deleter.store)["a"]
    with pytest.raises(ic.SessionStateError, match="Arrays were both deleted and modified: /a"):
        session.merge(writer, deleter)
    session.commit("only the write landed")
    np.testing.assert_array_equal(_committed_a(repo)[:2], [5, 5])


def test_deleting_a_group_another_fork_updated_does_not_merge(repo: ic.Repository) -> None:
    session, updater, deleter = _two_forks(repo)
    zarr.open_group(updater.store, path="g").attrs["x"] = 1
    del zarr.open_group(deleter.store)["g"]
    with pytest.raises(ic.SessionStateError, match="Groups were both deleted and modified: /g"):
        session.merge(deleter, updater)


def test_store_dask_tasks_with_conflicting_changes_fail_the_merge(repo: ic.Repository) -> None:
    # Two stored arrays whose targets live on different forks that both resized "a".
    session = repo.writable_session("main")
    first, second = session.fork(), session.fork()
    a1 = zarr.open_array(first.store, path="a")
    a2 = zarr.open_array(second.store, path="a")
    a1.resize((10,))
    a2.resize((12,))
    with pytest.raises(ic.SessionStateError, match="updated the same arrays"):
        store_dask(
            sources=[da.ones(10, chunks=2), da.ones(12, chunks=2)],
            targets=[a1, a2],
            scheduler="threads",
        )
    np.testing.assert_array_equal(_committed_a(repo), np.full(8, -1.0))


def test_unsafe_dask_chunks_are_refused_with_xarrays_message(repo: ic.Repository) -> None:
    ds = xr.Dataset({"v": (("t", "x"), np.arange(20.0).reshape(4, 5))}).chunk(t=3)
    session = repo.writable_session("main")
    with pytest.raises(ValueError, match=r"would overlap multiple Dask chunks"):
        to_icechunk(ds, session, group="unsafe", encoding={"v": {"chunks": (2, 5)}})
    # safe_chunks=False lets the caller take the risk: rows 0-1 (one task) are intact;
    # rows 2-3 share a zarr chunk between two tasks, so one task's rows are lost.
    to_icechunk(ds, session, group="risky", encoding={"v": {"chunks": (2, 5)}}, safe_chunks=False)
    back = xr.open_zarr(session.store, group="risky", consolidated=False)["v"].values
    np.testing.assert_array_equal(back[:2], ds["v"].values[:2])


def test_partial_chunk_region_write_is_refused_in_r_plus(repo: ic.Repository) -> None:
    ds = xr.Dataset({"v": ("t", np.arange(8.0))}, coords={"t": np.arange(8)})
    session = repo.writable_session("main")
    to_icechunk(ds.chunk(t=4), session, group="r", encoding={"v": {"chunks": (4,)}})
    one = (ds.isel(t=slice(1, 3)) * 10).chunk(t=2)
    with pytest.raises(ValueError, match="overlap multiple Dask chunks"):
        to_icechunk(one, session, group="r", region={"t": slice(1, 3)})
    # mode="a" accepts partial chunks, as in xarray.
    to_icechunk(one, session, group="r", region={"t": slice(1, 3)}, mode="a")
    values = xr.open_zarr(session.store, group="r", consolidated=False)["v"].values
    np.testing.assert_array_equal(values, [0, 10, 20, 3, 4, 5, 6, 7])


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"compute": False}, "compute"),
        ({"chunkmanager_store_kwargs": {"lock": True}}, "lock"),
    ],
)
def test_to_icechunk_rejects_unsupported_kwargs(
    repo: ic.Repository, kwargs: dict[str, object], match: str
) -> None:
    ds = xr.Dataset({"v": ("x", np.arange(4.0))}).chunk(x=2)
    with pytest.raises(UnsupportedDaskArgumentError, match=match):
        to_icechunk(ds, repo.writable_session("main"), group="k", **kwargs)  # type: ignore[arg-type]


def test_writer_steps_out_of_order(repo: ic.Repository) -> None:
    ds = xr.Dataset({"v": ("x", np.arange(4.0))})
    writer = _XarrayDatasetWriter(ds, store=repo.writable_session("main").store)
    for step in (writer.write_eager, writer.write_lazy):
        with pytest.raises(ValueError, match="write_metadata"):
            step()
    writer._open_group(group="w", mode="w", append_dim=None, region=None)
    writer.write_metadata()
    with pytest.raises(TypeError, match="no dask arrays"):
        writer.write_lazy()
    with pytest.raises(ic.InvalidInputError, match="Session"):
        _XarrayDatasetWriter(ds, store=zarr.storage.MemoryStore())  # type: ignore[arg-type]


def test_to_icechunk_rejects_non_xarray_objects(repo: ic.Repository) -> None:
    with pytest.raises(ic.InvalidInputError, match="Dataset or DataArray"):
        to_icechunk(np.arange(3), repo.writable_session("main"))  # type: ignore[arg-type]
