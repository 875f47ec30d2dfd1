"""A :class:`~icechunk.storage.Storage` over an ``obstore`` object store (S3, Azure, HTTP).

``obstore`` (Rust ``object_store`` bindings) gives one async API over the providers, with
create-only puts (``If-None-Match: *`` on S3, a 409 on Azure) and compare-and-swap puts
(``If-Match: <etag>``). This module maps that API onto the storage contract:

* A conditional put that loses (412, 409, or 404 on a CAS of a vanished key) raises
  :class:`ConditionalPutFailed`; an unconditional put is never issued in its place,
  unless the user disabled conditional writes in :class:`StorageSettings`.
* Reads past the end of an object give the bytes that exist (the servers answer 416).
* Listing filters by plain string prefix (``object_store`` lists whole path segments).
* Retries with exponential backoff and timeouts come from :class:`StorageSettings`
  and are enforced by ``obstore`` itself, per request.

Subclasses build the concrete store (:meth:`ObjectStoreStorage._build_store`) and say how
to describe themselves and how a pickled repository rebuilds them.
"""

from __future__ import annotations

import abc
import asyncio
import builtins
import datetime as dt
import os
import threading
from collections import OrderedDict
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

import obstore
from obstore import exceptions as obx

from icechunk.errors import ErrorKind, InvalidInputError, StorageError
from icechunk.storage._labels import attributed_user_agent, has_labels
from icechunk.storage.base import (
    ConditionalPutFailed,
    PutMode,
    Storage,
    StorageObjectInfo,
    StorageSettings,
    VersionToken,
    merge_settings,
    object_not_found,
    strip_etag,
    unchanged,
)

if TYPE_CHECKING:
    from icechunk._config_core import Attribution

__all__ = ["ObjectStoreStorage", "obstore_client_options", "obstore_retry_config"]

#: At most this many HEAD requests run at once when a batch delete counts what exists.
_HEAD_FANOUT = 16

#: Clients kept per attributed storage, one per distinct User-Agent (obstore fixes the
#: User-Agent when a client is built, so per-request labels need their own client).
_LABELLED_CLIENTS = 32


def obstore_retry_config(settings: StorageSettings) -> dict[str, Any]:
    """``obstore`` retry configuration equivalent to ``settings.retries``/``timeouts``."""
    retries, timeouts = settings.retries, settings.timeouts
    config: dict[str, Any] = {}
    if retries is not None:
        if retries.max_tries is not None:
            config["max_retries"] = retries.max_tries - 1
        backoff: dict[str, Any] = {"base": 2}
        if retries.initial_backoff_ms is not None:
            backoff["init_backoff"] = dt.timedelta(milliseconds=retries.initial_backoff_ms)
        if retries.max_backoff_ms is not None:
            backoff["max_backoff"] = dt.timedelta(milliseconds=retries.max_backoff_ms)
        config["backoff"] = backoff
    if timeouts is not None and timeouts.operation_timeout_ms is not None:
        config["retry_timeout"] = dt.timedelta(milliseconds=timeouts.operation_timeout_ms)
    return config


def obstore_client_options(
    settings: StorageSettings,
    *,
    allow_http: bool = False,
    stream_timeout_s: int | None = None,
    user_agent: str | None = None,
) -> dict[str, Any]:
    """``obstore`` HTTP client options for ``settings.timeouts`` and the connection flags."""
    options: dict[str, Any] = {}
    if user_agent is not None:
        options["user_agent"] = user_agent
    if allow_http:
        options["allow_http"] = True
    if stream_timeout_s:
        options["read_timeout"] = dt.timedelta(seconds=stream_timeout_s)
    timeouts = settings.timeouts
    if timeouts is not None:
        pairs = [
            ("connect_timeout", timeouts.connect_timeout_ms),
            ("read_timeout", timeouts.read_timeout_ms),
            ("timeout", timeouts.operation_attempt_timeout_ms),
        ]
        for name, ms in pairs:
            if ms is not None:
                options[name] = dt.timedelta(milliseconds=ms)
    return options


def _precondition_failed(exc: Exception) -> bool:
    text = str(exc)
    return any(m in text for m in ("412", "PreconditionFailed", "ConditionNotMet", "409"))


def _unsatisfiable_range(exc: Exception) -> bool:
    """Whether obstore failed because the range starts at or after the object's end.

    The servers answer 416; obstore also checks ranges itself. It exposes neither as a
    status code, so this reads its message.
    """
    text = str(exc)
    return "416" in text or "StartTooLarge" in text or "Wanted range starting at" in text


class ObjectStoreStorage(Storage):
    """Common implementation of the obstore-backed storages (see the module docstring).

    Parameters
    ----------
    settings
        Overrides of :meth:`default_settings` (retries, timeouts, conditional writes).
    """

    def __init__(self, settings: StorageSettings | None = None) -> None:
        self._user_settings = settings
        self._store: Any = None
        self._store_pid = 0
        self._store_lock = threading.Lock()
        self._attribution: Attribution | None = None
        self._labelled: OrderedDict[str, Any] = OrderedDict()

    # ------------------------------------------------------------------ configuration
    @property
    def settings(self) -> StorageSettings:
        """The effective settings: defaults overlaid with the ones this storage was given."""
        return merge_settings(self.default_settings(), self._user_settings)

    def with_settings(self, settings: StorageSettings | None) -> ObjectStoreStorage:
        """A copy of this storage that uses ``settings`` (overlaid on the defaults)."""
        clone = self._clone()
        clone._user_settings = settings
        clone._attribution = self._attribution
        return clone

    def with_attribution(self, attribution: Attribution | None) -> ObjectStoreStorage:
        """A copy of this storage whose requests carry ``attribution`` in their User-Agent.

        Requests then also name the array / chunk they are about (see
        :mod:`icechunk.storage._labels`); each distinct User-Agent gets its own client,
        so an attribution without any label (or None) keeps the one shared client.
        """
        if attribution is not None and not has_labels(attribution):
            attribution = None
        if attribution == self._attribution:
            return self
        clone = self.with_settings(self._user_settings)
        clone._attribution = attribution
        return clone

    def _user_agent(self) -> str:
        """The User-Agent for a request issued now."""
        return attributed_user_agent(self._attribution, context=self._attribution is not None)

    @abc.abstractmethod
    def _clone(self) -> ObjectStoreStorage:
        """A new storage for the same location and credentials (no shared client)."""

    @abc.abstractmethod
    def _build_store(self, settings: StorageSettings) -> Any:
        """Create the ``obstore`` store rooted at this storage's prefix."""

    def _client(self) -> Any:
        with self._store_lock:
            # A forked child must not reuse the parent's client (its runtime threads are gone).
            if self._store_pid != os.getpid():
                self._store, self._labelled = None, OrderedDict()
                self._store_pid = os.getpid()
            if self._attribution is None:
                if self._store is None:
                    self._store = self._new_store()
                return self._store
            agent = self._user_agent()
            store = self._labelled.pop(agent, None) or self._new_store()
            self._labelled[agent] = store
            while len(self._labelled) > _LABELLED_CLIENTS:
                self._labelled.popitem(last=False)
            return store

    def _new_store(self) -> Any:
        try:
            return self._build_store(self.settings)
        except (obx.BaseError, ValueError, TypeError) as exc:
            raise InvalidInputError(
                f"invalid {type(self).__name__} configuration: {exc}",
                ErrorKind.STORAGE_CONFIG,
            ) from exc

    def _conditional(self, mode: PutMode) -> bool:
        """Whether ``mode`` is sent as a conditional request (settings may turn it off)."""
        settings = self.settings
        if mode is PutMode.CREATE:
            return settings.unsafe_use_conditional_create is not False
        if mode is PutMode.UPDATE:
            return settings.unsafe_use_conditional_update is not False
        return False

    # ------------------------------------------------------------------ errors
    def _storage_error(self, key: str, exc: Exception) -> StorageError:
        kind = ErrorKind.STORAGE_OTHER
        if isinstance(exc, obx.UnauthenticatedError | obx.PermissionDeniedError):
            kind = ErrorKind.INVALID_CREDENTIALS
        # obstore messages hold URLs and server text, never credentials.
        return StorageError(f"{type(self).__name__}: request for {key!r} failed: {exc}", kind)

    async def _call(self, key: str, coro: Any) -> Any:
        try:
            return await coro
        except FileNotFoundError as exc:
            raise object_not_found(key) from exc
        except obx.BaseError as exc:
            raise self._storage_error(key, exc) from exc

    # ------------------------------------------------------------------ reads
    async def _get(self, key: str, start: int, end: int | None) -> bytes:
        if end == start:
            return await self._empty_if_exists(key)
        parts = self._split(start, end)
        if len(parts) > 1:  # a large range: fetch its parts concurrently
            chunks = await asyncio.gather(*(self._get_part(key, s, e) for s, e in parts))
            return b"".join(chunks)
        return await self._get_part(key, start, end)

    async def _get_part(self, key: str, start: int, end: int | None) -> bytes:
        options: Any = {}
        if end is not None:
            options["range"] = (start, end)
        elif start > 0:
            options["range"] = {"offset": start}
        return await self._read(key, options)

    def _split(self, start: int, end: int | None) -> builtins.list[tuple[int, int]]:
        """Parts of ``[start, end)`` per ``StorageConcurrencySettings`` (one part if small)."""
        concurrency = self.settings.concurrency
        if end is None or concurrency is None:
            return [(start, end)] if end is not None else []
        ideal = concurrency.ideal_concurrent_request_size or (end - start)
        most = concurrency.max_concurrent_requests_for_object or 1
        count = min(most, -(-(end - start) // ideal))
        if count <= 1:
            return [(start, end)]
        size = -(-(end - start) // count)
        return [(s, min(s + size, end)) for s in range(start, end, size)]

    #: Whether the provider accepts ``Range: bytes=-N`` (Azure does not).
    _SUFFIX_RANGES = True

    async def _get_suffix(self, key: str, length: int) -> bytes:
        if length == 0:
            return await self._empty_if_exists(key)
        if not self._SUFFIX_RANGES:
            info = await self._head(key)
            if info is None:
                raise object_not_found(key)
            return await self._get(key, max(0, info.size_bytes - length), None)
        return await self._read(key, {"range": {"suffix": length}})

    async def _read(self, key: str, options: Any) -> bytes:
        try:
            result = await obstore.get_async(self._client(), key, options=options)
            return bytes(await result.bytes_async())
        except FileNotFoundError as exc:
            raise object_not_found(key) from exc
        except obx.BaseError as exc:
            if _unsatisfiable_range(exc):  # range starts at or past the end: no bytes there
                return await self._empty_if_exists(key)
            raise self._storage_error(key, exc) from exc

    async def _get_if_unchanged(
        self, key: str, start: int, end: int | None, etag: str | None, modified_by: Any
    ) -> bytes | None:
        """One ranged GET carrying ``If-Match`` / ``If-Unmodified-Since``; the response's
        own ETag / time are checked too, for servers that ignore preconditions."""
        options: Any = {"range": (start, end) if end is not None else {"offset": start}}
        if etag is not None:
            options["if_match"] = strip_etag(etag)
        elif modified_by is not None:
            options["if_unmodified_since"] = modified_by
        try:
            result = await obstore.get_async(self._client(), key, options=options)
            data = bytes(await result.bytes_async())
        except FileNotFoundError as exc:
            raise object_not_found(key) from exc
        except obx.PreconditionError:
            return None
        except obx.BaseError as exc:
            if _precondition_failed(exc):  # e.g. a 409 where 412 was expected
                return None
            raise self._storage_error(key, exc) from exc
        return data if unchanged(self._info(result.meta), etag, modified_by) else None

    async def _empty_if_exists(self, key: str) -> bytes:
        if await self._head(key) is None:
            raise object_not_found(key)
        return b""

    async def _get_with_version(self, key: str) -> tuple[bytes, VersionToken]:
        result = await self._call(key, obstore.get_async(self._client(), key))
        data = bytes(await self._call(key, result.bytes_async()))
        return data, self._token(result.meta)

    async def _head(self, key: str) -> StorageObjectInfo | None:
        try:
            meta = await obstore.head_async(self._client(), key)
        except FileNotFoundError:
            return None
        except obx.BaseError as exc:
            raise self._storage_error(key, exc) from exc
        return self._info(meta)

    def _token(self, meta: Any) -> VersionToken:
        """The version token of an object from its metadata (the ETag by default)."""
        etag = meta.get("e_tag")
        if not etag:
            raise StorageError(
                f"{type(self).__name__}: the server sent no ETag for {meta.get('path')!r}",
                ErrorKind.STORAGE_OTHER,
            )
        return VersionToken(str(etag))

    def _info(self, meta: Any) -> StorageObjectInfo:
        etag = meta.get("e_tag")
        return StorageObjectInfo(
            key=str(meta["path"]),
            size_bytes=int(meta["size"]),
            created_at=meta["last_modified"],
            version=VersionToken(str(etag)) if etag else None,
        )

    async def _list(self, prefix: str) -> AsyncIterator[StorageObjectInfo]:
        # object_store lists whole path segments; list the enclosing "directory" and
        # keep the keys that start with the string prefix.
        directory = prefix.rsplit("/", 1)[0] if "/" in prefix else None
        try:
            stream = obstore.list(self._client(), prefix=directory, chunk_size=1000)
            async for batch in stream:
                for meta in batch:
                    if str(meta["path"]).startswith(prefix):
                        yield self._info(meta)
        except obx.BaseError as exc:
            raise self._storage_error(prefix, exc) from exc

    # ------------------------------------------------------------------ writes
    def _put_mode(self, mode: PutMode, expected: VersionToken | None) -> Any:
        if not self._conditional(mode):
            return "overwrite"
        if mode is PutMode.CREATE:
            return "create"
        assert expected is not None
        return {"e_tag": self._etag_for_request(expected)}

    def _etag_for_request(self, expected: VersionToken) -> str:
        return expected.value

    async def _put(
        self, key: str, data: bytes, mode: PutMode, expected: VersionToken | None
    ) -> VersionToken:
        put_mode = self._put_mode(mode, expected)
        try:
            result = await obstore.put_async(self._client(), key, data, mode=put_mode)
        except (obx.AlreadyExistsError, obx.PreconditionError, FileNotFoundError) as exc:
            if mode is PutMode.OVERWRITE:
                raise self._storage_error(key, exc) from exc
            raise ConditionalPutFailed(key, mode) from exc
        except obx.BaseError as exc:
            raise self._storage_error(key, exc) from exc
        if result.get("e_tag"):
            return VersionToken(str(result["e_tag"]))
        info = await self._head(key)  # some servers answer a PUT without an ETag
        if info is None or info.version is None:
            raise StorageError(f"no version for {key!r} after writing it", ErrorKind.STORAGE_OTHER)
        return info.version

    async def _delete_batch(self, keys: builtins.list[str]) -> int:
        # The count needs to know which keys existed; deletes of missing keys are no-ops
        # on S3 but 404s on Azure, so only existing keys are deleted.
        semaphore = asyncio.Semaphore(_HEAD_FANOUT)

        async def exists(key: str) -> bool:
            async with semaphore:
                return await self._head(key) is not None

        unique = list(dict.fromkeys(keys))
        present = await asyncio.gather(*map(exists, unique))
        found = [k for k, ok in zip(unique, present, strict=True) if ok]
        if not found:
            return 0
        try:
            await obstore.delete_async(self._client(), found)
        except FileNotFoundError:
            pass  # deleted concurrently by someone else: the goal is reached
        except obx.BaseError as exc:
            raise self._storage_error(found[0], exc) from exc
        return len(found)
