"""Sources of virtual chunks for the tests: files on disk, a local HTTP server, a moto S3.

Every server listens on 127.0.0.1 on a free port and is stopped by the fixture that started
it. The HTTP server implements ranged GETs and conditional headers itself and records every
request, so tests can prove that a refused read never reached it.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from virtual.vhttp import HttpServer, serve_directory
from virtual.vsources import S3Server, Sources, write_sources


@pytest.fixture
def sources(tmp_path: Path) -> Sources:
    """Fresh source files for one test (tests may modify them)."""
    return write_sources(tmp_path / "sources")


@pytest.fixture
def http_server(sources: Sources) -> Iterator[HttpServer]:
    """Serves the source directory on 127.0.0.1 (free port), counting requests."""
    with serve_directory(sources.root) as server:
        yield server


@pytest.fixture(scope="module")
def moto_server() -> Iterator[str]:
    """A moto S3 server on 127.0.0.1 (free port) for the whole module."""
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()


@pytest.fixture
def s3(moto_server: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[S3Server]:
    """A clean moto state with an empty ``sources`` bucket; AWS_* env vars point at it."""
    import boto3
    import requests

    requests.post(f"{moto_server}/moto-api/reset", timeout=10)
    for key, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_REGION": "us-east-1",
    }.items():
        monkeypatch.setenv(key, value)
    for key in ("AWS_SESSION_TOKEN", "AWS_PROFILE", "AWS_ENDPOINT_URL"):
        monkeypatch.delenv(key, raising=False)
    client = boto3.client("s3", endpoint_url=moto_server, region_name="us-east-1")
    client.create_bucket(Bucket="sources")
    yield S3Server(moto_server, client)
