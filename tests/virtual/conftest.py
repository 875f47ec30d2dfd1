"""Sources of virtual chunks for the tests: files on disk, a local HTTP server, a moto S3.

Every server listens on 127.0.0.1 on a free port and is stopped by the fixture that started
it. The HTTP server implements ranged GETs and conditional headers itself and records every
request, so tests can prove that a refused read never reached it.
"""

from __future__ import annotations

import email.utils
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from vsources import HttpServer, S3Server, Sources, write_sources


@pytest.fixture
def sources(tmp_path: Path) -> Sources:
    """Fresh source files for one test (tests may modify them)."""
    return write_sources(tmp_path / "sources")


def _handler(server: HttpServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: object) -> None:  # quiet
            pass

        def do_GET(self) -> None:
            server.requests.append(self.path)
            path = server.root / self.path.split("?", 1)[0].lstrip("/")
            if not path.is_file():
                self.send_error(404)
                return
            st = path.stat()
            etag = f'"{st.st_ino:x}-{st.st_mtime_ns:x}-{st.st_size:x}"'
            if server.honour_preconditions and not self._preconditions_hold(etag, st.st_mtime):
                self.send_error(412)
                return
            data = path.read_bytes()
            status, body = self._range(data)
            self.send_response(status)
            self.send_header("ETag", etag)
            self.send_header("Last-Modified", email.utils.formatdate(st.st_mtime, usegmt=True))
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def _preconditions_hold(self, etag: str, mtime: float) -> bool:
            if_match = self.headers.get("If-Match")
            if if_match is not None:
                return if_match.strip('"') == etag.strip('"')
            since = self.headers.get("If-Unmodified-Since")
            if since is not None:
                return int(mtime) <= email.utils.parsedate_to_datetime(since).timestamp()
            return True

        def _range(self, data: bytes) -> tuple[int, bytes]:
            header = self.headers.get("Range")
            if header is None:
                return 200, data
            start_text, _, end_text = header.removeprefix("bytes=").partition("-")
            start, end = int(start_text), int(end_text) + 1
            return 206, data[start:end]

    return Handler


@pytest.fixture
def http_server(sources: Sources) -> Iterator[HttpServer]:
    """Serves the source directory on 127.0.0.1 (free port), counting requests."""
    info = HttpServer(sources.root, "")
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler(info))
    info.url = f"http://127.0.0.1:{httpd.server_address[1]}/"
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield info
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(5)


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
