"""``RepositoryConfig.storage`` reaches the storage a repository reads and writes through.

moto logs every request it serves (werkzeug's logger, in this process), so the tests count
the requests a read makes: the concurrency settings split one chunk read into ranged GETs.
"""

from __future__ import annotations

import logging
import re

import numpy as np
import pytest
import zarr
from servers import S3Bucket
from servers.fixtures import s3_bucket, s3_server

import icechunk as ic

_FIXTURES = (s3_bucket, s3_server)
CHUNK_BYTES = 4000


def _split_config(parts: int) -> ic.RepositoryConfig:
    config = ic.RepositoryConfig.default()
    config.storage = ic.StorageSettings(
        concurrency=ic.StorageConcurrencySettings(
            max_concurrent_requests_for_object=parts,
            ideal_concurrent_request_size=CHUNK_BYTES // parts,
        )
    )
    return config


def _chunk_gets(caplog: pytest.LogCaptureFixture) -> int:
    lines = [r.getMessage() for r in caplog.records if r.name == "werkzeug"]
    return sum(1 for line in lines if re.search(r"GET /\S+/chunks/", line))


@pytest.fixture
def written(s3_bucket: S3Bucket) -> ic.Storage:
    storage: ic.Storage = s3_bucket.storage("settings")
    repo = ic.Repository.create(storage)
    session = repo.writable_session("main")
    array = zarr.create_array(
        session.store, name="a", shape=(CHUNK_BYTES // 8,), dtype="f8", compressors=None
    )
    array[:] = np.arange(CHUNK_BYTES // 8)
    session.commit("one uncompressed chunk")
    return storage


def _read(storage: ic.Storage, config: ic.RepositoryConfig | None) -> np.ndarray:
    repo = ic.Repository.open(storage, config=config)
    return np.asarray(zarr.open_array(repo.readonly_session("main").store, path="a")[:])


@pytest.mark.parametrize("parts", [1, 4])
def test_concurrency_settings_split_chunk_reads(
    written: ic.Storage, caplog: pytest.LogCaptureFixture, parts: int
) -> None:
    caplog.set_level(logging.INFO, logger="werkzeug")
    values = _read(written, _split_config(parts))
    np.testing.assert_array_equal(values, np.arange(CHUNK_BYTES // 8))
    assert _chunk_gets(caplog) == parts


def test_without_repository_settings_one_request_per_chunk(
    written: ic.Storage, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="werkzeug")
    _read(written, None)
    assert _chunk_gets(caplog) == 1
    assert written.settings.concurrency is not None  # the storage itself is not changed


def test_repository_settings_overlay_the_storage_settings(written: ic.Storage) -> None:
    overrides = ic.StorageSettings(retries=ic.StorageRetriesSettings(max_tries=2))
    effective = written.with_repository_settings(overrides).settings
    assert effective.retries is not None and effective.retries.max_tries == 2
    assert effective.retries.initial_backoff_ms == written.settings.retries.initial_backoff_ms  # type: ignore[union-attr]
    assert written.with_repository_settings(None) is written
    local = ic.local_filesystem_storage("/nonexistent-never-created")
    assert local.with_repository_settings(overrides) is local
