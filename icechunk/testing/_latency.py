"""A storage wrapper that delays every request, for reproducing timing-dependent bugs."""

from __future__ import annotations

import asyncio
import builtins
from collections.abc import AsyncIterator
from typing import Any

from icechunk.storage import PutMode, Storage, StorageObjectInfo, StorageSettings, VersionToken

__all__ = ["LatencyStorage"]


def _check_ms(name: str, value: int) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise TypeError(f"{name} must be an int, not {type(value).__name__}")
    if value < 0:
        raise OverflowError(f"{name} must not be negative, got {value}")
    return value


class LatencyStorage(Storage):
    """Wrap a storage and sleep before each read and each write.

    Parameters
    ----------
    inner : Storage
        The storage that holds the data.
    write_latency_ms : int, default 0
        Delay before every write (put or delete), in milliseconds; settable at runtime.
    read_latency_ms : int, default 0
        Delay before every read (get, head, list), in milliseconds; settable at runtime.
    """

    def __init__(
        self, inner: Storage, *, write_latency_ms: int = 0, read_latency_ms: int = 0
    ) -> None:
        if not isinstance(inner, Storage):
            raise TypeError(f"inner must be a Storage, not {type(inner).__name__}")
        self._inner = inner
        self.write_latency_ms = write_latency_ms
        self.read_latency_ms = read_latency_ms

    @property
    def write_latency_ms(self) -> int:
        """Delay before each write, in milliseconds."""
        return self._write_ms

    @write_latency_ms.setter
    def write_latency_ms(self, ms: int) -> None:
        self._write_ms = _check_ms("write_latency_ms", ms)

    @property
    def read_latency_ms(self) -> int:
        """Delay before each read, in milliseconds."""
        return self._read_ms

    @read_latency_ms.setter
    def read_latency_ms(self, ms: int) -> None:
        self._read_ms = _check_ms("read_latency_ms", ms)

    # ------------------------------------------------------------------ identity
    def __eq__(self, other: object) -> bool:
        return isinstance(other, LatencyStorage) and other._inner == self._inner

    def __hash__(self) -> int:
        return hash((LatencyStorage, self._inner))

    def _pickle_reduce(self) -> tuple[Any, ...]:
        return (_rebuild, (self._inner, self._write_ms, self._read_ms))

    def _description(self) -> builtins.list[tuple[str, str]]:
        return [
            ("type", "latency wrapper"),
            ("write_latency_ms", str(self._write_ms)),
            ("read_latency_ms", str(self._read_ms)),
            *self._inner._description(),
        ]

    @property
    def can_write(self) -> bool:
        """Whether the wrapped storage accepts writes."""
        return self._inner.can_write

    @property
    def _at_bucket_root(self) -> bool:
        return self._inner._at_bucket_root

    @property
    def supports_conditional_put(self) -> bool:
        """Whether the wrapped storage has atomic conditional puts."""
        return self._inner.supports_conditional_put

    def default_settings(self) -> StorageSettings:
        """The wrapped storage's defaults."""
        return self._inner.default_settings()

    # ------------------------------------------------------------------ delays
    async def _read_delay(self) -> None:
        if self._read_ms:
            await asyncio.sleep(self._read_ms / 1000)

    async def _write_delay(self) -> None:
        if self._write_ms:
            await asyncio.sleep(self._write_ms / 1000)

    # ------------------------------------------------------------------ operations
    async def _get(self, key: str, start: int, end: int | None) -> bytes:
        await self._read_delay()
        return await self._inner._get(key, start, end)

    async def _get_suffix(self, key: str, length: int) -> bytes:
        await self._read_delay()
        return await self._inner._get_suffix(key, length)

    async def _get_with_version(self, key: str) -> tuple[bytes, VersionToken]:
        await self._read_delay()
        return await self._inner._get_with_version(key)

    async def _head(self, key: str) -> StorageObjectInfo | None:
        await self._read_delay()
        return await self._inner._head(key)

    async def _exists(self, key: str) -> bool:
        await self._read_delay()
        return await self._inner._exists(key)

    async def _put(
        self, key: str, data: bytes, mode: PutMode, expected: VersionToken | None
    ) -> VersionToken:
        await self._write_delay()
        return await self._inner._put(key, data, mode, expected)

    async def _list(self, prefix: str) -> AsyncIterator[StorageObjectInfo]:
        await self._read_delay()
        async for info in self._inner._list(prefix):
            yield info

    async def _delete_batch(self, keys: builtins.list[str]) -> int:
        await self._write_delay()
        return await self._inner._delete_batch(keys)


def _rebuild(inner: Storage, write_ms: int, read_ms: int) -> LatencyStorage:
    return LatencyStorage(inner, write_latency_ms=write_ms, read_latency_ms=read_ms)
