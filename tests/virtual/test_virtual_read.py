"""Virtual datasets served by a local file, a local HTTP server and a moto S3 server.

A raw binary file and a NetCDF4 (HDF5) file are referenced chunk by chunk; values read back
through zarr and xarray equal the originals, and a changed source is refused, not served.
"""

from __future__ import annotations

import datetime as dt
import os
import time
from pathlib import Path

import numpy as np
import pytest
import xarray as xr
import zarr

import icechunk as ic
from icechunk._virtual_fetch import file_etag
from virtual.vbackends import Backend, create_repo, open_repo, write_virtual_dataset
from virtual.vhttp import HttpServer
from virtual.vsources import S3Server, Sources, file_url, upload

pytestmark = pytest.mark.filterwarnings("ignore:Passing `None`:DeprecationWarning")


def _local(sources: Sources) -> Backend:
    prefix = file_url(sources.root) + "/"
    return Backend(
        "local",
        prefix,
        ic.local_filesystem_store(str(sources.root)),
        lambda name: prefix + name,
        lambda path: None,
    )


def _http(server: HttpServer) -> Backend:
    return Backend("http", server.url, ic.http_store(), lambda n: server.url + n, lambda p: None)


def _s3(server: S3Server, sources: Sources) -> Backend:
    for path in (sources.raw, sources.netcdf):
        upload(server.client, path, path.name)
    store = ic.s3_store(
        region="us-east-1",
        endpoint_url=server.endpoint,
        allow_http=True,
        s3_compatible=True,
        force_path_style=True,
    )
    return Backend(
        "s3",
        "s3://sources/",
        store,
        lambda name: f"s3://sources/{name}",
        lambda path: upload(server.client, path, path.name) and None,
    )


@pytest.fixture(params=["local", "http", "s3"])
def backend(request: pytest.FixtureRequest, sources: Sources) -> Backend:
    """Each backend in turn, serving ``sources``."""
    if request.param == "local":
        return _local(sources)
    if request.param == "http":
        return _http(request.getfixturevalue("http_server"))
    return _s3(request.getfixturevalue("s3"), sources)


def test_values_through_zarr_and_xarray_equal_the_sources(
    tmp_path: Path, sources: Sources, backend: Backend
) -> None:
    repo = create_repo(tmp_path / "repo", backend)
    session = repo.writable_session("main")
    write_virtual_dataset(session, backend, sources.netcdf)
    session.commit("virtual dataset")

    reader = open_repo(tmp_path / "repo", backend).readonly_session("main")
    group = zarr.open_group(reader.store, mode="r")
    np.testing.assert_array_equal(group["raw"][:], sources.raw_values)
    np.testing.assert_array_equal(group["temp"][:], sources.netcdf_values)
    ds = xr.open_zarr(reader.store, consolidated=False, zarr_format=3)
    np.testing.assert_array_equal(ds["temp"].values, sources.netcdf_values)
    np.testing.assert_array_equal(ds["raw"].values, sources.raw_values)
    # partial reads of one chunk go through byte ranges of the virtual chunk
    np.testing.assert_array_equal(group["raw"][5, 1:3], sources.raw_values[5, 1:3])


def _rewrite_same_size(path: Path) -> None:
    """Change the bytes but not the size, with a later modification time."""
    data = bytearray(path.read_bytes())
    data[-1] ^= 0xFF
    time.sleep(0.01)
    path.write_bytes(bytes(data))
    later = time.time() + 5
    os.utime(path, (later, later))


def _etag_of(backend: Backend, sources: Sources, s3: S3Server | None) -> str:
    if backend.name == "s3":
        assert s3 is not None
        head = s3.client.head_object(Bucket="sources", Key="raw.bin")  # type: ignore[attr-defined]
        etag: str = head["ETag"]
        return etag
    if backend.name == "local":
        return file_etag(str(sources.raw))
    st = sources.raw.stat()
    return f'"{st.st_ino:x}-{st.st_mtime_ns:x}-{st.st_size:x}"'  # the test server's ETag


@pytest.mark.parametrize("kind", ["etag", "last_modified"])
def test_modified_source_is_refused(
    tmp_path: Path,
    sources: Sources,
    backend: Backend,
    kind: str,
    request: pytest.FixtureRequest,
) -> None:
    s3 = request.getfixturevalue("s3") if backend.name == "s3" else None
    checksum: object = _etag_of(backend, sources, s3)
    if kind == "last_modified":
        checksum = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=2)
    repo = create_repo(tmp_path / "repo", backend)
    session = repo.writable_session("main")
    write_virtual_dataset(session, backend, sources.netcdf, checksum=checksum)
    session.commit("with checksums")
    group = zarr.open_group(
        open_repo(tmp_path / "repo", backend).readonly_session("main").store, mode="r"
    )
    np.testing.assert_array_equal(group["raw"][:], sources.raw_values)  # unchanged: served

    _rewrite_same_size(sources.raw)
    if kind == "last_modified" and backend.name == "s3":
        time.sleep(3)  # S3 stamps its own time on the new upload
    backend.republish(sources.raw)
    reader = open_repo(tmp_path / "repo", backend).readonly_session("main")
    with pytest.raises(ic.StorageError, match="has changed") as err:
        zarr.open_group(reader.store, mode="r")["raw"][-1, -1]
    assert err.value.kind == ic.ErrorKind.VIRTUAL_CHUNK_MODIFIED
    # the other file did not change and is still served
    np.testing.assert_array_equal(
        zarr.open_group(reader.store, mode="r")["temp"][:], sources.netcdf_values
    )


def test_checksum_older_than_the_source_is_refused(tmp_path: Path, sources: Sources) -> None:
    backend = _local(sources)
    repo = create_repo(tmp_path / "repo", backend)
    session = repo.writable_session("main")
    old = dt.datetime.now(dt.UTC) - dt.timedelta(days=1)
    write_virtual_dataset(session, backend, sources.netcdf, checksum=old)
    with pytest.raises(ic.StorageError, match="has changed"):
        zarr.open_group(session.store)["raw"][:]


def test_missing_source_object_is_a_fetch_error(tmp_path: Path, sources: Sources) -> None:
    backend = _local(sources)
    repo = create_repo(tmp_path / "repo", backend)
    session = repo.writable_session("main")
    write_virtual_dataset(session, backend, sources.netcdf)
    sources.netcdf.unlink()
    with pytest.raises(ic.StorageError) as err:
        zarr.open_group(session.store)["temp"][:]
    assert err.value.kind == ic.ErrorKind.VIRTUAL_CHUNK_FETCH


def test_reference_past_the_end_of_the_object_fails(tmp_path: Path, sources: Sources) -> None:
    backend = _local(sources)
    repo = create_repo(tmp_path / "repo", backend)
    session = repo.writable_session("main")
    write_virtual_dataset(session, backend, sources.netcdf)
    size = sources.raw.stat().st_size
    session.store.set_virtual_ref("raw/c/0/0", backend.url("raw.bin"), offset=size - 10, length=160)
    with pytest.raises(ic.StorageError, match="not enough data"):
        zarr.open_group(session.store)["raw"][0, 0]


@pytest.mark.parametrize("kind", ["etag", "last_modified"])
def test_changed_source_refused_even_if_the_server_ignores_preconditions(
    tmp_path: Path, sources: Sources, http_server: HttpServer, kind: str
) -> None:
    http_server.honour_preconditions = False
    backend = _http(http_server)
    checksum: object = _etag_of(backend, sources, None)
    if kind == "last_modified":
        checksum = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=2)
    repo = create_repo(tmp_path / "repo", backend)
    session = repo.writable_session("main")
    write_virtual_dataset(session, backend, sources.netcdf, checksum=checksum)
    np.testing.assert_array_equal(zarr.open_group(session.store)["raw"][:], sources.raw_values)
    _rewrite_same_size(sources.raw)
    with pytest.raises(ic.StorageError, match="has changed"):
        zarr.open_group(session.store)["raw"][:]
