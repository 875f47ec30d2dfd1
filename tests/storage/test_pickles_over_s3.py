"""Over S3 (moto), the objects dask ships to workers pickle and keep working, while the
storage, config and credentials inside them refuse to pickle on their own (issue #5).

A Repository, a read-only Session, a fork and their stores carry their S3 credentials, as in
the real wheel, so a worker can reconnect; nothing else produces a pickle holding a secret.
"""

from __future__ import annotations

import pickle
from typing import Any

import pytest
import zarr
from servers import S3_SECRET, S3Bucket
from servers.fixtures import s3_bucket, s3_server

import icechunk as ic

_FIXTURES = (s3_bucket, s3_server)
VCC_SECRET = "VIRTUAL-CONTAINER-SECRET-42"


def _repository(s3_bucket: S3Bucket) -> tuple[ic.Repository, str]:
    endpoint = s3_bucket.endpoint
    prefix = f"s3://{s3_bucket.bucket}/virtual/"
    config = ic.RepositoryConfig(inline_chunk_threshold_bytes=0)
    config.storage = ic.StorageSettings(retries=ic.StorageRetriesSettings(max_tries=3))
    store = ic.s3_store(region=endpoint.region, endpoint_url=endpoint.url, allow_http=True)
    config.set_virtual_chunk_container(ic.VirtualChunkContainer(prefix, store))
    credentials = ic.s3_static_credentials(access_key_id="vcc-key", secret_access_key=VCC_SECRET)
    repo = ic.Repository.create(
        s3_bucket.storage("pickles"),
        config=config,
        authorize_virtual_chunk_access={prefix: credentials},
    )
    session = repo.writable_session("main")
    zarr.create_array(session.store, name="a", shape=(8,), chunks=(4,), dtype="i4")[:] = 1
    session.commit("ones")
    return repo, prefix


def _read(store: Any) -> list[int]:
    return [int(v) for v in zarr.open_array(store, path="a", mode="r")[:]]


def test_repository_pickle_reconnects_with_its_storage_config_and_authorizations(
    s3_bucket: S3Bucket,
) -> None:
    repo, prefix = _repository(s3_bucket)
    data = pickle.dumps(repo)
    # Like the real wheel: the credentials travel so that a worker can reconnect.
    assert S3_SECRET.encode() in data and VCC_SECRET.encode() in data
    clone = pickle.loads(data)
    assert repr(clone.storage) == repr(repo.storage)
    assert clone.config == repo.config
    assert clone.config.storage == ic.StorageSettings(retries=ic.StorageRetriesSettings(3))
    assert clone.authorized_virtual_container_prefixes == {prefix}
    assert _read(clone.readonly_session("main").store) == [1] * 8
    session = clone.writable_session("main")  # the clone writes with the carried credentials
    zarr.open_array(session.store, path="a")[:4] = 2
    session.commit("twos")
    assert _read(repo.readonly_session("main").store) == [2] * 4 + [1] * 4


def test_sessions_forks_and_stores_round_trip_over_s3(s3_bucket: S3Bucket) -> None:
    repo, _ = _repository(s3_bucket)
    readonly = pickle.loads(pickle.dumps(repo.readonly_session("main")))
    assert readonly.read_only and _read(readonly.store) == [1] * 8
    assert _read(pickle.loads(pickle.dumps(repo.readonly_session("main").store))) == [1] * 8

    writable = repo.writable_session("main")
    with pytest.raises(ValueError, match="fork"):
        pickle.dumps(writable)
    fork = pickle.loads(pickle.dumps(writable.fork()))
    assert isinstance(fork, ic.ForkSession)
    zarr.open_array(fork.store, path="a")[:4] = 5
    fork_store = pickle.loads(pickle.dumps(writable.fork().store))
    zarr.open_array(fork_store, path="a")[4:] = 6
    writable.merge(pickle.loads(pickle.dumps(fork)), fork_store.session)
    writable.commit("merged forks")
    assert _read(repo.readonly_session("main").store) == [5] * 4 + [6] * 4


def test_nothing_inside_pickles_on_its_own(s3_bucket: S3Bucket) -> None:
    repo, prefix = _repository(s3_bucket)
    container = repo.config.get_virtual_chunk_container(prefix)
    assert container is not None
    alone = {
        "Storage": repo.storage,
        "RepositoryConfig": repo.config,
        "StorageSettings": repo.config.storage,
        "VirtualChunkContainer": container,
        "Static": ic.s3_static_credentials(access_key_id="k", secret_access_key=VCC_SECRET),
        "S3StaticCredentials": ic.S3StaticCredentials("k", VCC_SECRET),
    }
    for name, obj in alone.items():
        with pytest.raises(TypeError) as refused:
            pickle.dumps(obj)
        assert refused.value.args == (f"cannot pickle '{name}' object",)
        assert "read-only Session or a fork" in refused.value.__notes__[0], name
        with pytest.raises(TypeError, match="cannot pickle"):
            pickle.dumps([{"inside": obj}])  # nor when nested in a plain container
