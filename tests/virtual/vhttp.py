"""A tiny threaded HTTP file server with Range, ETag and Last-Modified support.

Listens on 127.0.0.1 on a free port and records every request path, so tests can prove a
refused virtual read never reached it.
"""

from __future__ import annotations

import email.utils
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path


@dataclass
class HttpServer:
    """A tiny file server with Range, ETag and Last-Modified support."""

    root: Path
    url: str
    requests: list[str] = field(default_factory=list)
    honour_preconditions: bool = True  # False acts like servers that ignore If-Match


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
            if status == 206:
                end = self._range_start + len(body) - 1
                self.send_header("Content-Range", f"bytes {self._range_start}-{end}/{len(data)}")
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

        _range_start = 0

        def _range(self, data: bytes) -> tuple[int, bytes]:
            header = self.headers.get("Range")
            if header is None:
                return 200, data
            start_text, _, end_text = header.removeprefix("bytes=").partition("-")
            start = int(start_text)
            end = len(data) if end_text == "" else int(end_text) + 1
            self._range_start = start
            return 206, data[start:end]

    return Handler


@contextmanager
def serve_directory(root: Path) -> Iterator[HttpServer]:
    """Serve ``root`` until the block ends."""
    info = HttpServer(root, "")
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
