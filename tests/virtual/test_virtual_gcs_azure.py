"""Virtual chunks held in GCS (fake-gcs-server) and Azure Blob (Azurite) containers.

The sources are uploaded through the storage layer; the repository reads them through the
containers' ``gcs_store`` / Azure store configs. Values equal the originals, a re-uploaded
(changed) source is refused by its ETag, and an unauthorized container is refused before
any request is made.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import zarr
from servers import AZURITE_ACCOUNT, AZURITE_KEY, AzureEndpoint, GcsEndpoint
from servers.fixtures import azure_server, gcs_server
from zarr.core.sync import sync

import icechunk as ic
from icechunk.credentials import gcs_anonymous_credentials
from virtual.vbackends import Backend, create_repo, open_repo, write_virtual_dataset
from virtual.vsources import Sources

_FIXTURES = (azure_server, gcs_server)  # requested by name through request.getfixturevalue


@dataclasses.dataclass
class Cloud:
    """A backend plus what the tests need beyond it: credentials and an ETag lookup."""

    backend: Backend
    credentials: Any
    etag: Callable[[str], str]


def _publisher(storage: ic.Storage) -> Callable[[Path], None]:
    return lambda path: sync(storage.put(path.name, path.read_bytes())) and None


def _etag(storage: ic.Storage) -> Callable[[str], str]:
    def etag(name: str) -> str:
        info = sync(storage.head(name))
        assert info is not None and info.version is not None
        return str(info.version)

    return etag


def _gcs(endpoint: GcsEndpoint) -> Cloud:
    bucket = endpoint.create_bucket()
    storage = endpoint.storage(bucket, prefix="")
    store = ic.gcs_store({"endpoint": endpoint.url})
    prefix = f"gs://{bucket}/"
    backend = Backend("gcs", prefix, store, lambda n: prefix + n, _publisher(storage))
    return Cloud(backend, gcs_anonymous_credentials(), _etag(storage))


def _azure(endpoint: AzureEndpoint) -> Cloud:
    container = endpoint.create_container()
    storage = endpoint.storage(container, prefix="")
    options = {"account": AZURITE_ACCOUNT, "azure_storage_endpoint": endpoint.url}
    store = ic.ObjectStoreConfig.Azure({**options, "allow_http": "true"})
    prefix = f"az://{container}/"
    backend = Backend("azure", prefix, store, lambda n: prefix + n, _publisher(storage))
    return Cloud(backend, ic.azure_credentials(access_key=AZURITE_KEY), _etag(storage))


@pytest.fixture(params=["gcs", "azure"])
def cloud(request: pytest.FixtureRequest, sources: Sources) -> Cloud:
    if request.param == "gcs":
        made = _gcs(request.getfixturevalue("gcs_server"))
    else:
        made = _azure(request.getfixturevalue("azure_server"))
    for path in (sources.raw, sources.netcdf):
        made.backend.republish(path)
    made.backend.authorized = lambda: ic.containers_credentials(  # type: ignore[method-assign]
        {made.backend.url_prefix: made.credentials}
    )
    return made


def _group(repo: ic.Repository) -> zarr.Group:
    return zarr.open_group(repo.readonly_session("main").store, mode="r")


def test_values_equal_the_sources(tmp_path: Path, sources: Sources, cloud: Cloud) -> None:
    repo = create_repo(tmp_path / "repo", cloud.backend)
    session = repo.writable_session("main")
    write_virtual_dataset(session, cloud.backend, sources.netcdf)
    session.commit("virtual")
    group = _group(open_repo(tmp_path / "repo", cloud.backend))
    np.testing.assert_array_equal(group["raw"][:], sources.raw_values)
    np.testing.assert_array_equal(group["temp"][:], sources.netcdf_values)


def test_changed_source_is_refused(tmp_path: Path, sources: Sources, cloud: Cloud) -> None:
    repo = create_repo(tmp_path / "repo", cloud.backend)
    session = repo.writable_session("main")
    etag = cloud.etag("raw.bin")
    write_virtual_dataset(session, cloud.backend, sources.netcdf, checksum=etag)
    session.commit("with the ETag of raw.bin")
    np.testing.assert_array_equal(
        _group(open_repo(tmp_path / "repo", cloud.backend))["raw"][:], sources.raw_values
    )
    data = bytearray(sources.raw.read_bytes())
    data[-8:] = np.float64(-1.0).tobytes()  # same size, last value changed
    sources.raw.write_bytes(bytes(data))
    cloud.backend.republish(sources.raw)
    assert cloud.etag("raw.bin") != etag
    group = _group(open_repo(tmp_path / "repo", cloud.backend))
    with pytest.raises(ic.StorageError, match="has changed") as err:
        group["raw"][-1, -1]
    assert err.value.kind == ic.ErrorKind.VIRTUAL_CHUNK_MODIFIED
    np.testing.assert_array_equal(group["temp"][:], sources.netcdf_values)  # unchanged file


def test_unauthorized_container_is_refused(
    tmp_path: Path, sources: Sources, cloud: Cloud
) -> None:
    repo = create_repo(tmp_path / "repo", cloud.backend, authorize=False)
    session = repo.writable_session("main")
    write_virtual_dataset(session, cloud.backend, sources.netcdf)
    session.commit("virtual, never authorized")
    with pytest.raises(ic.InvalidInputError, match="authorize") as err:
        _group(open_repo(tmp_path / "repo", None))["raw"][:]
    assert err.value.kind == ic.ErrorKind.UNAUTHORIZED_VIRTUAL_CHUNK_CONTAINER
