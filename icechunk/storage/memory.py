"""A storage that keeps objects in a dictionary of this process.

Used for tests and scratch work. Each object records a generation number drawn from a
per-storage counter that never goes back, so a version token is never reused, even after
a key is deleted and written again.
"""

from __future__ import annotations

import builtins
import datetime as dt
import threading
import uuid
from collections.abc import AsyncIterator
from typing import Any, NamedTuple

from icechunk.storage.base import (
    ConditionalPutFailed,
    PutMode,
    Storage,
    StorageConcurrencySettings,
    StorageObjectInfo,
    StorageRetriesSettings,
    StorageSettings,
    VersionToken,
    object_not_found,
)

__all__ = ["InMemoryStorage", "in_memory_storage"]


class _Entry(NamedTuple):
    data: bytes
    version: VersionToken
    created_at: dt.datetime


class InMemoryStorage(Storage):
    """Objects held in memory by this instance only; see :func:`in_memory_storage`.

    All operations are atomic under one lock, so the storage is safe to share between
    threads and event loops. Equality is identity: two instances never share data.
    Pickling gives a new, *empty* storage, as the real ``icechunk`` does for a
    repository on in-memory storage.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._objects: dict[str, _Entry] = {}
        self._generation = 0
        self._nonce = uuid.uuid4().hex[:8]

    # ------------------------------------------------------------------ identity
    def __eq__(self, other: object) -> bool:
        return self is other

    def __hash__(self) -> int:
        return id(self)

    def _pickle_reduce(self) -> tuple[Any, ...]:
        return (InMemoryStorage, ())

    def _description(self) -> builtins.list[tuple[str, str]]:
        return [("type", "in-memory")]

    def default_settings(self) -> StorageSettings:
        """Defaults for memory: no retries (the values the real package reports)."""
        return StorageSettings(
            concurrency=StorageConcurrencySettings(
                max_concurrent_requests_for_object=5,
                ideal_concurrent_request_size=1,
            ),
            retries=StorageRetriesSettings(max_tries=1, initial_backoff_ms=0, max_backoff_ms=0),
        )

    # ------------------------------------------------------------------ reads
    def _entry(self, key: str) -> _Entry:
        with self._lock:
            entry = self._objects.get(key)
        if entry is None:
            raise object_not_found(key)
        return entry

    async def _get(self, key: str, start: int, end: int | None) -> bytes:
        return self._entry(key).data[start:end]

    async def _get_suffix(self, key: str, length: int) -> bytes:
        data = self._entry(key).data
        return data[len(data) - min(length, len(data)) :]

    async def _get_with_version(self, key: str) -> tuple[bytes, VersionToken]:
        entry = self._entry(key)
        return entry.data, entry.version

    async def _head(self, key: str) -> StorageObjectInfo | None:
        with self._lock:
            entry = self._objects.get(key)
        return None if entry is None else _info(key, entry)

    async def _exists(self, key: str) -> bool:
        with self._lock:
            return key in self._objects

    async def _list(self, prefix: str) -> AsyncIterator[StorageObjectInfo]:
        with self._lock:
            matches = [(k, e) for k, e in self._objects.items() if k.startswith(prefix)]
        for key, entry in sorted(matches):
            yield _info(key, entry)

    # ------------------------------------------------------------------ writes
    async def _put(
        self, key: str, data: bytes, mode: PutMode, expected: VersionToken | None
    ) -> VersionToken:
        with self._lock:
            current = self._objects.get(key)
            if mode is PutMode.CREATE and current is not None:
                raise ConditionalPutFailed(key, mode)
            if mode is PutMode.UPDATE and (current is None or current.version != expected):
                raise ConditionalPutFailed(key, mode)
            self._generation += 1
            version = VersionToken(f"mem-{self._nonce}-{self._generation}")
            self._objects[key] = _Entry(data, version, dt.datetime.now(dt.UTC))
            return version

    async def _delete_batch(self, keys: builtins.list[str]) -> int:
        with self._lock:
            return sum(self._objects.pop(k, None) is not None for k in keys)


def _info(key: str, entry: _Entry) -> StorageObjectInfo:
    return StorageObjectInfo(key, len(entry.data), entry.created_at, entry.version)


def in_memory_storage() -> Storage:
    """Create a storage that keeps its objects in memory.

    Data lives as long as the returned object and is visible only through it: separate
    calls give separate, empty storages, and a pickled repository on it starts empty.

    Returns
    -------
    Storage
        A new, empty :class:`InMemoryStorage`.
    """
    return InMemoryStorage()
