"""Virtual chunks are fetched only through a declared *and* authorized container.

The HTTP server records every request, so these tests prove a refused read never left the
process rather than merely failing somewhere.
"""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest
import zarr

import icechunk as ic
from virtual.vhttp import HttpServer
from virtual.vsources import Sources, file_url

pytestmark = pytest.mark.filterwarnings("ignore:Passing `None`:DeprecationWarning")


def _http_config(server: HttpServer) -> ic.RepositoryConfig:
    config = ic.RepositoryConfig.default()
    config.set_virtual_chunk_container(ic.VirtualChunkContainer(server.url, ic.http_store()))
    return config


def _array_with_ref(session: ic.Session, location: str, validate: bool = True) -> zarr.Array:
    array = zarr.create_array(
        session.store, name="a", shape=(4,), chunks=(4,), dtype="<f8", compressors=None
    )
    session.store.set_virtual_ref(
        "a/c/0", location, offset=8, length=32, validate_container=validate
    )
    return array


def test_unauthorized_container_is_never_requested(tmp_path: Path, http_server: HttpServer) -> None:
    storage = ic.local_filesystem_storage(str(tmp_path / "repo"))
    repo = ic.Repository.create(storage, config=_http_config(http_server))
    assert repo.authorized_virtual_container_prefixes == set()
    array = _array_with_ref(repo.writable_session("main"), http_server.url + "raw.bin")
    with pytest.raises(ic.InvalidInputError, match=f"{http_server.url}.*authorize") as err:
        array[:]
    assert err.value.kind == ic.ErrorKind.UNAUTHORIZED_VIRTUAL_CHUNK_CONTAINER
    assert http_server.requests == []

    # the same reference, once authorized, is served
    authorized = ic.Repository.open(storage, authorize_virtual_chunk_access={http_server.url: None})
    session = authorized.writable_session("main")
    array = _array_with_ref(session, http_server.url + "raw.bin")
    assert len(array[:]) == 4
    assert len(http_server.requests) == 1


def test_authorizing_another_prefix_does_not_authorize_this_one(
    tmp_path: Path, http_server: HttpServer
) -> None:
    repo = ic.Repository.create(
        ic.local_filesystem_storage(str(tmp_path / "repo")),
        config=_http_config(http_server),
        authorize_virtual_chunk_access={"http://127.0.0.1:1/": None, "s3://other/": None},
    )
    array = _array_with_ref(repo.writable_session("main"), http_server.url + "raw.bin")
    with pytest.raises(ic.InvalidInputError, match="authorize"):
        array[:]
    assert http_server.requests == []


def test_location_matching_no_container_is_never_requested(
    tmp_path: Path, http_server: HttpServer
) -> None:
    repo = ic.Repository.create(
        ic.local_filesystem_storage(str(tmp_path / "repo")),
        config=_http_config(http_server),
        authorize_virtual_chunk_access={http_server.url: None, "http://localhost/": None},
    )
    other = http_server.url.replace("127.0.0.1", "localhost") + "raw.bin"
    array = _array_with_ref(repo.writable_session("main"), other, validate=False)
    with pytest.raises(ic.InvalidInputError, match="edit the repository configuration") as err:
        array[:]
    assert err.value.kind == ic.ErrorKind.NO_CONTAINER_FOR_VIRTUAL_CHUNK
    assert http_server.requests == []


def test_dot_dot_cannot_escape_a_file_container(tmp_path: Path, sources: Sources) -> None:
    allowed = sources.root / "allowed"
    allowed.mkdir()
    prefix = file_url(allowed) + "/"
    config = ic.RepositoryConfig.default()
    config.set_virtual_chunk_container(
        ic.VirtualChunkContainer(prefix, ic.local_filesystem_store(str(allowed)))
    )
    repo = ic.Repository.create(
        ic.local_filesystem_storage(str(tmp_path / "repo")),
        config=config,
        authorize_virtual_chunk_access={prefix: None},
    )
    session = repo.writable_session("main")
    escaping = prefix + "../raw.bin"
    with pytest.raises(ic.InvalidInputError, match="no matching virtual chunk container"):
        _array_with_ref(session, escaping)
    session.store.set_virtual_ref("a/c/0", escaping, offset=8, length=32, validate_container=False)
    with pytest.raises(ic.InvalidInputError, match="edit the repository configuration"):
        zarr.open_array(session.store, path="a")[:]
    assert session.all_virtual_chunk_locations() == [file_url(sources.raw)]


def test_authorization_survives_pickling(tmp_path: Path, sources: Sources) -> None:
    prefix = file_url(sources.root) + "/"
    config = ic.RepositoryConfig.default()
    config.set_virtual_chunk_container(
        ic.VirtualChunkContainer(prefix, ic.local_filesystem_store(str(sources.root)))
    )
    repo = ic.Repository.create(
        ic.local_filesystem_storage(str(tmp_path / "repo")),
        config=config,
        authorize_virtual_chunk_access={prefix: None},
    )
    session = repo.writable_session("main")
    _array_with_ref(session, prefix + "raw.bin")
    session.commit("one ref")
    clone = pickle.loads(pickle.dumps(repo))
    assert clone.authorized_virtual_container_prefixes == {prefix}
    values = zarr.open_array(clone.readonly_session("main").store, path="a", mode="r")[:]
    np.testing.assert_array_equal(values, sources.raw_values.ravel()[:4])
    session_copy = pickle.loads(pickle.dumps(repo.readonly_session("main")))
    values = zarr.open_array(session_copy.store, path="a", mode="r")[:]
    np.testing.assert_array_equal(values, sources.raw_values.ravel()[:4])
    reopened = repo.reopen(authorize_virtual_chunk_access={})
    assert reopened.authorized_virtual_container_prefixes == set()
    assert repo.reopen().authorized_virtual_container_prefixes == {prefix}


def test_containers_come_from_the_persisted_config(tmp_path: Path, sources: Sources) -> None:
    prefix = file_url(sources.root) + "/"
    config = ic.RepositoryConfig.default()
    config.set_virtual_chunk_container(
        ic.VirtualChunkContainer(prefix, ic.local_filesystem_store(str(sources.root)))
    )
    storage = ic.local_filesystem_storage(str(tmp_path / "repo"))
    repo = ic.Repository.create(storage, config=config)
    session = repo.writable_session("main")
    _array_with_ref(session, prefix + "raw.bin")
    session.commit("one ref")
    # a reader passes no config at all: the containers come from the repository itself
    reader = ic.Repository.open(storage, authorize_virtual_chunk_access={prefix: None})
    values = zarr.open_array(reader.readonly_session("main").store, path="a", mode="r")[:]
    np.testing.assert_array_equal(values, sources.raw_values.ravel()[:4])


class S3Static:
    """Stands in for S3 credentials (the credentials module is built elsewhere)."""

    access_key_id = "key"
    secret_access_key = "secret"


def test_credentials_that_cannot_work_are_refused_when_opening(
    tmp_path: Path, sources: Sources
) -> None:
    prefix = file_url(sources.root) + "/"
    config = ic.RepositoryConfig.default()
    config.set_virtual_chunk_container(
        ic.VirtualChunkContainer(prefix, ic.local_filesystem_store(str(sources.root)))
    )
    with pytest.raises(ic.StorageError, match="does not accept credentials") as err:
        ic.Repository.create(
            ic.in_memory_storage(),
            config=config,
            authorize_virtual_chunk_access={prefix: S3Static()},
        )
    assert err.value.kind == ic.ErrorKind.INVALID_CREDENTIALS


@pytest.mark.parametrize(
    "escape", ["%2e%2e/raw.bin", "%2E./raw.bin", "..%2Fraw.bin", "x/..%2f..%2Fraw.bin"]
)
def test_percent_encoded_dot_dot_cannot_escape(
    tmp_path: Path, sources: Sources, escape: str
) -> None:
    allowed = sources.root / "allowed"
    allowed.mkdir()
    prefix = file_url(allowed) + "/"
    config = ic.RepositoryConfig.default()
    config.set_virtual_chunk_container(
        ic.VirtualChunkContainer(prefix, ic.local_filesystem_store(str(allowed)))
    )
    repo = ic.Repository.create(
        ic.local_filesystem_storage(str(tmp_path / "repo")),
        config=config,
        authorize_virtual_chunk_access={prefix: None},
    )
    session = repo.writable_session("main")
    array = zarr.create_array(
        session.store, name="a", shape=(4,), chunks=(4,), dtype="<f8", compressors=None
    )
    session.store.set_virtual_ref(
        "a/c/0", prefix + escape, offset=8, length=32, validate_container=False
    )
    with pytest.raises(ic.InvalidInputError):
        array[:]


class LocalFileSystemAccess:
    """Stands in for icechunk.credentials.LocalFileSystemAccess (built elsewhere)."""


class HttpAccess:
    """Stands in for icechunk.credentials.HttpAccess (built elsewhere)."""


def test_no_auth_sentinels(tmp_path: Path, sources: Sources) -> None:
    prefix = file_url(sources.root) + "/"
    config = ic.RepositoryConfig.default()
    config.set_virtual_chunk_container(
        ic.VirtualChunkContainer(prefix, ic.local_filesystem_store(str(sources.root)))
    )
    repo = ic.Repository.create(
        ic.local_filesystem_storage(str(tmp_path / "repo")),
        config=config,
        authorize_virtual_chunk_access={prefix: LocalFileSystemAccess()},
    )
    array = _array_with_ref(repo.writable_session("main"), prefix + "raw.bin")
    np.testing.assert_array_equal(array[:], sources.raw_values.ravel()[:4])
    with pytest.raises(ic.StorageError, match="does not accept credentials"):
        repo.reopen(authorize_virtual_chunk_access={prefix: HttpAccess()})
