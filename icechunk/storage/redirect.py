"""Read-only storage whose location is found by following HTTP redirects.

A service answers ``GET <base_url>`` with 3xx redirects (possibly several, relative or
absolute) until a ``Location`` names the real storage: ``s3://bucket/prefix``,
``gs://bucket/prefix``, ``r2://...``, ``tigris://...``, or ``http+icechunk://host/path``
/ ``https+icechunk://host/path`` for plain HTTP storage. Query parameters ``region`` and
``endpoint_url`` configure S3-like targets. Requests to the target are anonymous.

The redirect chain is followed once, on first use; afterwards the base URL is not needed.
"""

from __future__ import annotations

import asyncio
import builtins
import http.client
import threading
import urllib.parse
from collections.abc import AsyncIterator
from typing import Any

from icechunk._config_store import S3Options
from icechunk.credentials import gcs_anonymous_credentials, s3_anonymous_credentials
from icechunk.errors import ErrorKind, InvalidInputError, StorageError
from icechunk.storage.base import Storage, StorageObjectInfo, VersionToken

__all__ = ["RedirectStorage", "redirect_storage"]

MAX_REDIRECTS = 20


class RedirectStorage(Storage):
    """See :func:`redirect_storage`.

    Parameters
    ----------
    base_url
        The ``http(s)://`` URL that redirects to the storage.
    """

    def __init__(self, base_url: str) -> None:
        if not isinstance(base_url, str) or not base_url.startswith(("http://", "https://")):
            raise InvalidInputError(
                f"redirect_storage needs an http(s):// URL, got {base_url!r}",
                ErrorKind.STORAGE_CONFIG,
            )
        self._base_url = base_url
        self._target: Storage | None = None
        self._lock = threading.Lock()

    @property
    def can_write(self) -> bool:
        """Always false: redirect storage is read-only."""
        return False

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, RedirectStorage):
            return NotImplemented
        return self._base_url == other._base_url

    def __hash__(self) -> int:
        return hash((RedirectStorage, self._base_url))

    def _pickle_reduce(self) -> tuple[Any, ...]:
        return (RedirectStorage, (self._base_url,))

    def _description(self) -> builtins.list[tuple[str, str]]:
        return [("type", "Redirect"), ("url", self._base_url.split("?", 1)[0])]

    def _inner(self) -> Storage:
        with self._lock:
            if self._target is None:
                self._target = storage_for_url(resolve_redirects(self._base_url))
            return self._target

    async def _resolved(self) -> Storage:
        return await asyncio.to_thread(self._inner)  # the redirect chain is blocking I/O

    async def _get(self, key: str, start: int, end: int | None) -> bytes:
        return await (await self._resolved())._get(key, start, end)

    async def _get_suffix(self, key: str, length: int) -> bytes:
        return await (await self._resolved())._get_suffix(key, length)

    async def _get_with_version(self, key: str) -> tuple[bytes, VersionToken]:
        return await (await self._resolved())._get_with_version(key)

    async def _head(self, key: str) -> StorageObjectInfo | None:
        return await (await self._resolved())._head(key)

    async def _list(self, prefix: str) -> AsyncIterator[StorageObjectInfo]:
        async for info in (await self._resolved())._list(prefix):
            yield info

    async def _put(self, key: str, data: bytes, mode: Any, expected: Any) -> VersionToken:
        raise AssertionError("unreachable: the storage is read-only")

    async def _delete_batch(self, keys: builtins.list[str]) -> int:
        raise AssertionError("unreachable: the storage is read-only")


def resolve_redirects(url: str) -> str:
    """Follow 3xx ``Location`` headers from ``url`` until a non-HTTP URL; return it."""
    for _ in range(MAX_REDIRECTS):
        parts = urllib.parse.urlsplit(url)
        if parts.scheme not in ("http", "https"):
            return url
        connection_type = (
            http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
        )
        connection = connection_type(parts.netloc, timeout=30)
        try:
            connection.request("GET", urllib.parse.urlunsplit(("", "", *parts[2:])) or "/")
            response = connection.getresponse()
            location = response.getheader("Location")
        except OSError as exc:
            raise StorageError(f"redirect storage: cannot reach {url!r}: {exc}") from exc
        finally:
            connection.close()
        if not 300 <= response.status < 400 or not location:
            raise StorageError(
                f"redirect storage: {url!r} answered {response.status} without a redirect"
            )
        url = urllib.parse.urljoin(url, location)
    raise StorageError(f"redirect storage: more than {MAX_REDIRECTS} redirects")


def storage_for_url(url: str) -> Storage:
    """An anonymous, read-only-use storage for a storage URL (see the module docstring)."""
    from icechunk.storage.gcs import GcsStorage
    from icechunk.storage.http import HttpStorage
    from icechunk.storage.s3 import S3Storage

    parts = urllib.parse.urlsplit(url)
    query = dict(urllib.parse.parse_qsl(parts.query))
    bucket, prefix = parts.netloc, parts.path.strip("/")
    if parts.scheme in ("s3", "r2", "tigris"):
        endpoint = query.get("endpoint_url")
        options = S3Options(
            region=query.get("region"),
            endpoint_url=endpoint,
            allow_http=bool(endpoint and endpoint.startswith("http://")),
            anonymous=True,
        )
        return S3Storage(options, bucket, prefix, s3_anonymous_credentials(), kind=parts.scheme)
    if parts.scheme in ("gs", "gcs"):
        return GcsStorage(bucket, prefix, gcs_anonymous_credentials())
    if parts.scheme in ("http+icechunk", "https+icechunk"):
        scheme = parts.scheme.split("+", 1)[0]
        return HttpStorage(urllib.parse.urlunsplit((scheme, *parts[1:])))
    raise StorageError(f"redirect storage: unsupported storage URL {url!r}")


def redirect_storage(base_url: str) -> RedirectStorage:
    """Create a read-only storage found by following HTTP redirects from ``base_url``.

    Parameters
    ----------
    base_url
        A URL whose redirect chain ends at ``s3://``, ``gs://``, ``r2://``,
        ``tigris://`` or ``http(s)+icechunk://`` storage.

    Returns
    -------
    RedirectStorage
        Resolves the chain on first use; writes raise :class:`~icechunk.ReadOnlyError`.
    """
    return RedirectStorage(base_url)
