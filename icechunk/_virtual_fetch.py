"""Fetch the bytes of virtual chunks from where they live: local files, HTTP(S), object stores.

One small interface, :class:`VirtualFetcher`, with a single coroutine
``fetch(location, offset, length, checksum) -> bytes``; :func:`make_fetcher` builds the right
one for a container's :class:`~icechunk.config.ObjectStoreConfig`. Callers (the resolver in
:mod:`icechunk._virtual`) have already matched the location to an authorized container, so
nothing here decides *whether* a location may be read, only *how*.

A checksum recorded with the reference (an ETag or a last-modified time) is sent to the
server as ``If-Match`` / ``If-Unmodified-Since`` *and* checked against the response, because
not every server honours conditional GETs; a mismatch raises ``VIRTUAL_CHUNK_MODIFIED``
instead of returning bytes of a changed object.
"""

from __future__ import annotations

import asyncio
import copy
import datetime as dt
import email.utils
import os
import ssl
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from icechunk.credentials import GcsCredentials
from icechunk.errors import ErrorKind, InvalidInputError, NotFoundError, StorageError
from icechunk.storage.base import strip_etag
from icechunk.storage.fetch import open_object_reader

if TYPE_CHECKING:
    from icechunk.config import ObjectStoreConfig
    from icechunk.storage.fetch import ObjectReader

__all__ = [
    "Checksum",
    "VirtualFetcher",
    "file_etag",
    "make_fetcher",
    "modified_error",
    "url_path",
]

_HTTP_TIMEOUT_SECONDS = 60.0


@dataclass(frozen=True, slots=True)
class Checksum:
    """What the source object looked like when the reference was written.

    ``last_modified`` is whole seconds since the epoch, as stored in manifests.
    """

    etag: str | None = None
    last_modified: int | None = None


class VirtualFetcher(Protocol):
    """Reads one byte range of one object, refusing changed objects."""

    async def fetch(
        self, location: str, offset: int, length: int, checksum: Checksum | None
    ) -> bytes:
        """The ``length`` bytes at ``offset`` of the object at absolute URL ``location``."""
        ...


# --------------------------------------------------------------------------- errors


def modified_error(location: str) -> StorageError:
    """The object behind a virtual chunk no longer matches its recorded checksum."""
    return StorageError(
        f"the checksum of the object owning the virtual chunk has changed ({location}); "
        "the source was modified after the reference was written, so its bytes are not "
        "served. Re-create the virtual reference for the new object",
        ErrorKind.VIRTUAL_CHUNK_MODIFIED,
    )


def _fetch_error(detail: str) -> StorageError:
    return StorageError(
        f"error fetching virtual reference: {detail}", ErrorKind.VIRTUAL_CHUNK_FETCH
    )


def _check_size(data: bytes, length: int) -> bytes:
    if len(data) != length:
        raise StorageError(
            "error retrieving virtual chunk, not enough data. "
            f"Expected: ({length}), available ({len(data)})",
            ErrorKind.INVALID_OBJECT_SIZE,
        )
    return data


def _utc(seconds: int) -> dt.datetime:
    return dt.datetime.fromtimestamp(seconds, dt.UTC)


# --------------------------------------------------------------------------- local files


def url_path(location: str) -> str:
    """The percent-decoded path of a URL (the object key, or the file path for file://)."""
    return urllib.parse.unquote(urllib.parse.urlsplit(location).path)


def file_etag(path: str) -> str:
    """The ETag the object-store convention gives a local file: inode-mtime(µs)-size in hex.

    Parameters
    ----------
    path
        A local file path.

    Returns
    -------
    str
        The quoted ETag, usable as the ``checksum`` of a virtual reference.
    """
    st = os.stat(path)
    return f'"{st.st_ino:x}-{st.st_mtime_ns // 1000:x}-{st.st_size:x}"'


class LocalFileFetcher:
    """Reads ``file://`` locations; the URL path is the absolute file path."""

    async def fetch(
        self, location: str, offset: int, length: int, checksum: Checksum | None
    ) -> bytes:
        """Read the range in a worker thread so the event loop never blocks on disk."""
        return await asyncio.to_thread(self._read, location, offset, length, checksum)

    @staticmethod
    def _read(location: str, offset: int, length: int, checksum: Checksum | None) -> bytes:
        path = url_path(location)
        try:
            with open(path, "rb") as fh:
                st = os.fstat(fh.fileno())
                if checksum is not None and not _local_matches(st, checksum):
                    raise modified_error(location)
                fh.seek(offset)
                return _check_size(fh.read(length), length)
        except FileNotFoundError:
            raise _fetch_error(f"Object at location {path} not found") from None
        except (IsADirectoryError, PermissionError, OSError) as exc:
            raise _fetch_error(f"cannot read {path}: {exc}") from exc


def _local_matches(st: os.stat_result, checksum: Checksum) -> bool:
    if checksum.etag is not None:
        current = f"{st.st_ino:x}-{st.st_mtime_ns // 1000:x}-{st.st_size:x}"
        return strip_etag(checksum.etag) == current
    if checksum.last_modified is not None:
        return st.st_mtime_ns <= checksum.last_modified * 1_000_000_000
    return True


# --------------------------------------------------------------------------- HTTP(S)


class HttpFetcher:
    """Ranged GETs against an HTTP(S) server, with the container's extra headers."""

    def __init__(self, headers: dict[str, str] | None, opts: dict[str, str] | None) -> None:
        self._headers = dict(headers or {})
        opts = opts or {}
        timeout = opts.get("timeout")
        self._timeout = _HTTP_TIMEOUT_SECONDS if timeout is None else _seconds(timeout)
        self._ssl: ssl.SSLContext | None = None
        if opts.get("allow_invalid_certificates", "").lower() == "true":
            self._ssl = ssl._create_unverified_context()  # the container asked for it

    async def fetch(
        self, location: str, offset: int, length: int, checksum: Checksum | None
    ) -> bytes:
        """GET ``Range: bytes=offset-(offset+length-1)`` in a worker thread."""
        return await asyncio.to_thread(self._get, location, offset, length, checksum)

    def _request(self, location: str, offset: int, length: int, checksum: Checksum | None) -> Any:
        headers = {**self._headers, "Range": f"bytes={offset}-{offset + length - 1}"}
        if checksum is not None and checksum.etag is not None:
            headers["If-Match"] = f'"{strip_etag(checksum.etag)}"'
        elif checksum is not None and checksum.last_modified is not None:
            when = _utc(checksum.last_modified)
            headers["If-Unmodified-Since"] = email.utils.format_datetime(when, usegmt=True)
        return urllib.request.Request(location, headers=headers, method="GET")

    def _get(self, location: str, offset: int, length: int, checksum: Checksum | None) -> bytes:
        request = self._request(location, offset, length, checksum)
        try:
            with urllib.request.urlopen(request, timeout=self._timeout, context=self._ssl) as resp:
                if checksum is not None and not _http_matches(resp.headers, checksum):
                    raise modified_error(location)
                body: bytes = resp.read()
                status = resp.status
        except urllib.error.HTTPError as exc:
            if exc.code in (409, 412):
                raise modified_error(location) from None
            raise _fetch_error(f"HTTP {exc.code} for {location}") from None
        except (urllib.error.URLError, OSError) as exc:
            raise _fetch_error(f"{location}: {exc}") from exc
        if status == 200:  # the server ignored Range and sent the whole object
            body = body[offset : offset + length]
        return _check_size(body, length)


def _seconds(text: str) -> float:
    text = text.strip().lower()
    for suffix, scale in (("ms", 0.001), ("s", 1.0), ("m", 60.0)):
        if text.endswith(suffix):
            return float(text[: -len(suffix)]) * scale
    return float(text)


def _http_matches(headers: Any, checksum: Checksum) -> bool:
    if checksum.etag is not None:
        etag = headers.get("ETag")
        return etag is None or strip_etag(etag) == strip_etag(checksum.etag)
    if checksum.last_modified is not None:
        stamp = headers.get("Last-Modified")
        if stamp is None:
            return True
        try:
            when = email.utils.parsedate_to_datetime(stamp)
        except (TypeError, ValueError):
            return True
        return when.timestamp() <= checksum.last_modified
    return True


# --------------------------------------------------------------------------- object stores


class ReaderFetcher:
    """S3, GCS and Azure through the storage layer's :class:`~icechunk.storage.ObjectReader`.

    The reader opens one storage per bucket with the same clients, credentials, retries and
    error mapping as repositories; the checksum travels as a precondition of the ranged read.
    """

    def __init__(self, reader: ObjectReader) -> None:
        self._reader = reader

    async def fetch(
        self, location: str, offset: int, length: int, checksum: Checksum | None
    ) -> bytes:
        """Ranged read with ``If-Match`` / ``If-Unmodified-Since`` preconditions."""
        etag = None if checksum is None else checksum.etag
        when = None
        if checksum is not None and etag is None and checksum.last_modified is not None:
            when = _utc(checksum.last_modified)
        try:
            data = await self._reader.read_if_unchanged(
                location, offset, offset + length, etag, when
            )
        except NotFoundError:
            raise _fetch_error(f"Object at location {url_path(location)} not found") from None
        except StorageError as exc:
            raise _fetch_error(f"{location}: {exc}") from exc
        if data is None:
            raise modified_error(location)
        return _check_size(data, length)


def make_fetcher(store: ObjectStoreConfig, credentials: object | None) -> VirtualFetcher:
    """The fetcher for a container's store description and its authorized credentials.

    Raises
    ------
    InvalidInputError
        For store kinds that cannot hold virtual chunks (in-memory).
    """
    tag = getattr(store, "_TAG", "")
    args = store._args
    if tag == "local_file_system":
        return LocalFileFetcher()
    if tag == "http":
        opts, headers = args[0], args[1]
        return HttpFetcher(headers, opts)
    if tag == "tigris" and not args[0].endpoint_url:
        options = copy.copy(args[0])
        options.endpoint_url = "https://t3.storage.dev"
        store = type(store)(options)
    if tag == "gcs" and credentials is None:
        credentials = GcsCredentials.Anonymous()  # a public bucket unless told otherwise
    if tag in ("s3", "s3_compatible", "tigris", "gcs", "azure"):
        return ReaderFetcher(open_object_reader(store, credentials))
    raise InvalidInputError(
        f"virtual chunks cannot be read from a {type(store).__name__} store",
        ErrorKind.INVALID_VIRTUAL_REF,
    )
