"""Pytest fixtures for the servers of :mod:`servers`: one server per session, one bucket per test.

Import the fixtures you use into your test module (or a conftest)::

    from servers.fixtures import s3_bucket, s3_server  # noqa: F401
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import AbstractContextManager
from typing import Any

import pytest

from servers import (
    AzureEndpoint,
    GcsEndpoint,
    S3Bucket,
    S3Endpoint,
    ServerUnavailable,
    azurite_server,
    fake_gcs_server,
    ministack_server,
    moto_server,
)

ALLOW_SKIP_ENV_VAR = "ICECHUNK_ALLOW_SKIP_SERVERS"


def _serve(manager: AbstractContextManager[Any]) -> Iterator[Any]:
    try:
        endpoint = manager.__enter__()
    except ServerUnavailable as exc:
        # `make test` installs every server; a missing one fails rather than passing silently.
        message = f"server not installed: {exc} (run `make test`, which installs it)"
        if os.environ.get(ALLOW_SKIP_ENV_VAR) == "1":
            pytest.skip(message)
        pytest.fail(message, pytrace=False)
    try:
        yield endpoint
    finally:
        manager.__exit__(None, None, None)


@pytest.fixture(scope="session")
def s3_server() -> Iterator[S3Endpoint]:
    """moto's S3 server (in process)."""
    yield from _serve(moto_server())


@pytest.fixture(scope="session")
def ministack_s3_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Endpoint]:
    """ministack's S3 server (subprocess)."""
    yield from _serve(ministack_server(tmp_path_factory.mktemp("ministack")))


@pytest.fixture(scope="session")
def azure_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AzureEndpoint]:
    """Azurite's blob service (subprocess)."""
    yield from _serve(azurite_server(tmp_path_factory.mktemp("azurite")))


@pytest.fixture(scope="session")
def gcs_server() -> Iterator[GcsEndpoint]:
    """fake-gcs-server (subprocess)."""
    yield from _serve(fake_gcs_server())


@pytest.fixture
def s3_bucket(s3_server: S3Endpoint) -> S3Bucket:
    """A new, empty bucket on moto."""
    return S3Bucket(s3_server, s3_server.create_bucket())
