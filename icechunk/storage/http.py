"""Read-only storage over plain HTTP(S): a repository published by any web server.

Reads are ``GET`` requests (with ``Range`` for partial reads) of ``<base_url>/<key>``.
Every write raises :class:`~icechunk.ReadOnlyError` (kind ``READ_ONLY_STORAGE``) before
any request is made, and listing raises :class:`~icechunk.StorageError`: a web server
has no portable way to enumerate objects. Reading a repository needs neither.
"""

from __future__ import annotations

import builtins
from collections.abc import AsyncIterator
from typing import Any

from obstore.store import HTTPStore

from icechunk.errors import ErrorKind, InvalidInputError, StorageError
from icechunk.storage._objstore import (
    ObjectStoreStorage,
    obstore_client_options,
    obstore_retry_config,
)
from icechunk.storage.base import StorageObjectInfo, StorageSettings, VersionToken
from icechunk.storage.s3 import check_headers

__all__ = ["HttpStorage", "http_storage"]


class HttpStorage(ObjectStoreStorage):
    """Objects read from ``<base_url>/<key>``; see :func:`http_storage`.

    Parameters
    ----------
    base_url
        The URL of the repository root (``http://`` or ``https://``).
    opts
        HTTP client options (``object_store`` client keys, e.g. ``timeout``).
    headers
        Headers sent with every request.
    settings
        Overrides of the default :class:`StorageSettings`.
    """

    def __init__(
        self,
        base_url: str,
        opts: dict[str, str] | None = None,
        headers: dict[str, str] | None = None,
        settings: StorageSettings | None = None,
    ) -> None:
        super().__init__(settings)
        if not isinstance(base_url, str) or not base_url.startswith(("http://", "https://")):
            raise InvalidInputError(
                f"http_storage needs an http:// or https:// URL, got {base_url!r}",
                ErrorKind.STORAGE_CONFIG,
            )
        self._base_url = base_url.rstrip("/")
        self._opts = dict(opts or {})
        self._headers = check_headers(dict(headers or {}))

    @property
    def can_write(self) -> bool:
        """Always false: HTTP storage is read-only."""
        return False

    @property
    def supports_conditional_put(self) -> bool:
        """Always false: HTTP storage is read-only."""
        return False

    def _state(self) -> tuple[Any, ...]:
        return (self._base_url, self._opts, self._headers, self._user_settings)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, HttpStorage):
            return NotImplemented
        return self._base_url == other._base_url

    def __hash__(self) -> int:
        return hash((HttpStorage, self._base_url))

    def _pickle_reduce(self) -> tuple[Any, ...]:
        return (HttpStorage, self._state())

    def _clone(self) -> HttpStorage:
        return HttpStorage(*self._state())

    def _description(self) -> builtins.list[tuple[str, str]]:
        # Only scheme, host and path: a query string may carry a signature.
        return [("type", "HTTP"), ("url", self._base_url.split("?", 1)[0])]

    def _build_store(self, settings: StorageSettings) -> Any:
        client = obstore_client_options(
            settings,
            allow_http=self._base_url.startswith("http://"),
            user_agent=self._user_agent(),
        )
        client.update(self._opts)
        if self._headers:
            client["default_headers"] = dict(self._headers)
        return HTTPStore.from_url(
            self._base_url,
            client_options=client,  # type: ignore[arg-type]
            retry_config=obstore_retry_config(settings),  # type: ignore[arg-type]
        )

    def _token(self, meta: Any) -> VersionToken:
        if meta.get("e_tag"):
            return VersionToken(str(meta["e_tag"]))
        # Servers without ETags: the token is only compared, never sent (no writes here).
        return VersionToken(f"lm:{meta['last_modified'].isoformat()}:{meta['size']}")

    def _info(self, meta: Any) -> StorageObjectInfo:
        info = super()._info(meta)
        if info.version is None:
            info = StorageObjectInfo(info.key, info.size_bytes, info.created_at, self._token(meta))
        return info

    async def _list(self, prefix: str) -> AsyncIterator[StorageObjectInfo]:
        raise StorageError(
            f"cannot list {self._base_url!r}: HTTP storage does not support listing",
            ErrorKind.STORAGE_OTHER,
        )
        yield  # pragma: no cover - makes this an async generator


def http_storage(
    base_url: str, opts: dict[str, str] | None = None, headers: dict[str, str] | None = None
) -> HttpStorage:
    """Create a read-only storage reading a repository from an HTTP(S) server.

    Parameters
    ----------
    base_url
        The URL of the repository root.
    opts
        HTTP client options (``object_store`` client configuration keys).
    headers
        Headers sent with every request (e.g. an ``Authorization`` header).

    Returns
    -------
    HttpStorage
        A read-only storage; writes raise :class:`~icechunk.ReadOnlyError`.
    """
    return HttpStorage(base_url, opts, headers)
