"""Virtual references round-trip with the real icechunk 2.3.0 wheel, both ways.

One side writes a repository of virtual refs into a local file (absolute and ``vcc://``
locations, last-modified and ETag checksums, 1200 refs so the real writer compresses
locations); the other side opens it, reads the values and sees the same refusals.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from interop import harness

pytestmark = pytest.mark.interop

SCRIPT = "virtual_refs.py"


def _expected(data_dir: Path) -> dict[str, object]:
    prefix = f"file://{data_dir.resolve()}/"
    return {
        "grid_ok": True,
        "many_ok": True,
        "guarded": ["modified", "modified"],
        "locations": [prefix + "source.bin"],
        "n_locations": 6 + 1200 + 2,
        "prefixes": [prefix],
        "containers": [prefix],
    }


@pytest.mark.parametrize(
    ("writer", "reader"),
    [("ours", "real"), ("real", "ours"), ("ours", "ours")],
)
def test_virtual_refs_round_trip(tmp_path: Path, writer: str, reader: str) -> None:
    pythons = {"ours": harness.ours_python(), "real": harness.real_python()}
    repo, data = tmp_path / "repo", tmp_path / "data"
    written = harness.run_script(SCRIPT, "write", repo, data, python=pythons[writer])
    assert isinstance(written["snapshot"], str)
    seen = harness.run_script(SCRIPT, "read", repo, data, python=pythons[reader])
    assert seen == _expected(data)


@pytest.fixture(scope="module")
def moto_endpoint() -> Iterator[str]:
    """A moto S3 server on 127.0.0.1 (free port) holding s3://sources/source.bin."""
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()


@pytest.fixture
def s3_source(moto_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """Upload the source object; returns its ETag. AWS_* variables reach both sides."""
    import boto3

    for key, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_REGION": "us-east-1",
    }.items():
        monkeypatch.setenv(key, value)
    client = boto3.client("s3", endpoint_url=moto_endpoint, region_name="us-east-1")
    client.create_bucket(Bucket="sources")
    body = b"H" * 16 + (np.arange(64, dtype="<f8") * 0.5).tobytes()
    etag: str = client.put_object(Bucket="sources", Key="source.bin", Body=body)["ETag"]
    return etag


@pytest.mark.parametrize(("writer", "reader"), [("ours", "real"), ("real", "ours")])
def test_s3_virtual_refs_round_trip(
    tmp_path: Path, moto_endpoint: str, s3_source: str, writer: str, reader: str
) -> None:
    pythons = {"ours": harness.ours_python(), "real": harness.real_python()}
    repo, endpoint = tmp_path / "repo", moto_endpoint
    script = "virtual_refs_remote.py"
    harness.run_script(script, "write", repo, "s3", endpoint, s3_source, python=pythons[writer])
    seen = harness.run_script(script, "read", repo, "s3", endpoint, python=pythons[reader])
    assert seen == {"values_ok": True, "guarded": "modified"}


@pytest.mark.parametrize(("writer", "reader"), [("ours", "real"), ("real", "ours")])
def test_http_virtual_refs_round_trip(tmp_path: Path, writer: str, reader: str) -> None:
    from virtual.vhttp import serve_directory

    pythons = {"ours": harness.ours_python(), "real": harness.real_python()}
    data = tmp_path / "data"
    data.mkdir()
    source = data / "source.bin"
    source.write_bytes(b"H" * 16 + (np.arange(64, dtype="<f8") * 0.5).tobytes())
    st = source.stat()
    etag = f'"{st.st_ino:x}-{st.st_mtime_ns:x}-{st.st_size:x}"'  # what the server sends
    repo, script = tmp_path / "repo", "virtual_refs_remote.py"
    with serve_directory(data) as server:
        harness.run_script(script, "write", repo, "http", server.url, etag, python=pythons[writer])
        seen = harness.run_script(script, "read", repo, "http", server.url, python=pythons[reader])
        assert seen == {"values_ok": True, "guarded": "modified"}
        assert server.requests  # the reads really went through the server
