"""``Repository.create/open(attribution=...)``: every request names who makes it and why.

A minimal S3-like server (an in-memory object map) records the User-Agent of each request,
so the tests check what actually goes over the wire.
"""

from __future__ import annotations

import hashlib
import pickle
import threading
from collections.abc import Iterator
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
import zarr

import icechunk as ic


class _Recorder(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    objects: dict[str, bytes]
    log: list[tuple[str, str, str]]

    def _path(self) -> str:
        return self.path.split("?", 1)[0]

    def _send(self, status: int, body: bytes = b"", size: int | None = None, **hdr: str) -> None:
        self.send_response(status)
        for name, value in hdr.items():
            self.send_header(name.replace("_", "-"), value)
        self.send_header("Content-Length", str(len(body) if size is None else size))
        self.end_headers()
        if body and self.command != "HEAD":
            self.wfile.write(body)

    def _meta(self, body: bytes) -> dict[str, str]:
        etag = '"' + hashlib.md5(body).hexdigest() + '"'
        return {"ETag": etag, "Last_Modified": formatdate(usegmt=True)}

    def _record(self) -> None:
        self.log.append((self.command, self._path(), self.headers.get("User-Agent", "")))

    def do_PUT(self) -> None:
        self._record()
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if self.headers.get("If-None-Match") == "*" and self._path() in self.objects:
            self._send(412)
            return
        self.objects[self._path()] = body
        self._send(200, ETag=self._meta(body)["ETag"])

    def do_HEAD(self) -> None:
        self._record()
        body = self.objects.get(self._path())
        if body is None:
            self._send(404)
        else:
            self._send(200, size=len(body), **self._meta(body))

    def do_GET(self) -> None:
        self._record()
        if "list-type=2" in self.path:
            listing = b"<ListBucketResult><IsTruncated>false</IsTruncated></ListBucketResult>"
            self._send(200, listing, Content_Type="application/xml")
            return
        body = self.objects.get(self._path())
        if body is None:
            self._send(404, b"<Error><Code>NoSuchKey</Code></Error>")
            return
        wanted = self.headers.get("Range", "")
        if not wanted.startswith("bytes="):
            self._send(200, body, **self._meta(body))
            return
        first, _, last = wanted[len("bytes=") :].partition("-")
        start = int(first) if first else len(body) - int(last)
        stop = min(int(last), len(body) - 1) if first and last else len(body) - 1
        part = f"bytes {start}-{stop}/{len(body)}"
        self._send(206, body[start : stop + 1], Content_Range=part, **self._meta(body))

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def recorder() -> Iterator[tuple[str, list[tuple[str, str, str]]]]:
    handler = type("Handler", (_Recorder,), {"objects": {}, "log": []})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", handler.log
    finally:
        server.shutdown()
        server.server_close()


def _storage(url: str) -> ic.Storage:
    return ic.s3_storage(
        bucket="b",
        prefix="repo",
        region="us-east-1",
        endpoint_url=url,
        allow_http=True,
        access_key_id="id",
        secret_access_key="secret",
        force_path_style=True,
    )


def _write_one_chunk(repo: ic.Repository) -> None:
    session = repo.writable_session("main")
    root = zarr.open_group(store=session.store, mode="w")
    array = root.create_group("g").create_array("v", shape=(4, 4), chunks=(2, 2), dtype="u1")
    array[2:, :2] = 5
    session.commit("one chunk")


def test_attribution_is_kept_by_the_handle_and_its_pickle() -> None:
    storage = ic.in_memory_storage()
    labels = ic.Attribution(client="tool/2", principal="alice")
    repo = ic.Repository.open_or_create(storage, attribution=labels)
    assert repo.attribution == labels
    assert pickle.loads(pickle.dumps(repo)).attribution == labels
    assert repo.reopen().attribution == labels
    assert ic.Repository.open(storage).attribution == ic.Attribution()


def test_every_request_carries_the_labels_and_data_requests_name_their_target(
    recorder: tuple[str, list[tuple[str, str, str]]],
) -> None:
    url, log = recorder
    config = ic.RepositoryConfig.default()
    config.inline_chunk_threshold_bytes = 0
    labels = ic.Attribution(client="tool/2", workload="batch", principal="alice")
    repo = ic.Repository.create(_storage(url), config=config, attribution=labels)
    _write_one_chunk(repo)
    reader = ic.Repository.open(_storage(url), attribution=labels)
    array = zarr.open_array(reader.readonly_session("main").store, path="g/v", mode="r")
    assert int(array[3, 1]) == 5

    assert log and all("tool/2 icechunk/" in agent for _, _, agent in log), log
    assert all("(workload=batch; principal=alice" in agent for _, _, agent in log), log
    chunk_agents = {(m, a) for m, path, a in log if "/chunks/" in path}
    assert {m for m, _ in chunk_agents} == {"PUT", "GET"}
    assert all(a.endswith("; array=g/v; chunk=1/0)") for _, a in chunk_agents), chunk_agents
    manifest_agents = [a for _, path, a in log if "/manifests/" in path]
    assert manifest_agents and all(a.endswith("; array=g/v)") for a in manifest_agents)


def test_without_attribution_requests_carry_no_labels(
    recorder: tuple[str, list[tuple[str, str, str]]],
) -> None:
    url, log = recorder
    _write_one_chunk(ic.Repository.create(_storage(url)))
    agents = {agent for _, _, agent in log}
    assert agents and all(f"icechunk/{ic.__version__}" in a for a in agents), agents
    assert not any("(" in a for a in agents), agents
