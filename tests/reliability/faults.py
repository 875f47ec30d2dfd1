"""Fault-injecting storage: a :class:`~icechunk.storage.Storage` that wraps another one.

:class:`FaultyStorage` forwards every operation to the wrapped storage, except those
matched by one of its :class:`Fault` rules, which misbehave in a chosen way:

``fail``
    The request is refused before it reaches the storage (nothing written or read).
``slow``
    The request waits ``delay`` seconds, then goes through.
``torn``
    A put stores only the first half of the bytes (honouring its condition), then fails,
    like a non-atomic upload cut off mid-way; a get returns only the first half; a batch
    delete removes the keys before the matching one, then fails.
``lost_response``
    A put reaches the storage and succeeds, but the caller sees an error.
``retried``
    A put succeeds, its response is lost and the client retries the identical request,
    so a conditional put then reports :class:`~icechunk.storage.ConditionalPutFailed`
    against its own first attempt (an overwrite simply succeeds twice).
``crash``
    The process kills itself with SIGKILL, before the request (``when="before"``) or after
    it completed (``when="after"``); used by the crash-consistency writers. In a batch
    delete, "before" means after the keys that precede the matching one were deleted.

Any backend (S3, GCS, Azure, a future one) plugs in by being the ``inner`` storage; the
rules only see keys and operations. Every fired fault is appended to :attr:`fired`.
"""

from __future__ import annotations

import asyncio
import builtins
import os
import signal
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any, Literal

from icechunk.errors import ErrorKind, StorageError
from icechunk.storage import PutMode, Storage, StorageObjectInfo, StorageSettings, VersionToken

Op = Literal["put", "get", "head", "list", "delete"]
Kind = Literal["fail", "slow", "torn", "lost_response", "retried", "crash"]

__all__ = ["Fault", "FaultyStorage", "InjectedFault"]


class InjectedFault(StorageError):
    """The error a :class:`FaultyStorage` raises in place of a real storage failure."""

    default_kind = ErrorKind.STORAGE_OTHER


@dataclass
class Fault:
    """One misbehaviour rule.

    Parameters
    ----------
    op
        The storage operation it applies to.
    kind
        What goes wrong (see the module docstring).
    prefix
        Only keys starting with this (``"repo"``, ``"snapshots/"``...); ``""`` matches all.
    skip
        Let this many matching requests through first.
    times
        Fire for this many matching requests after the skipped ones (``None``: forever).
    delay
        Seconds to wait for ``slow``.
    when
        For ``crash``: die ``"before"`` or ``"after"`` the request reaches storage.
    """

    op: Op
    kind: Kind
    prefix: str = ""
    skip: int = 0
    times: int | None = 1
    delay: float = 0.05
    when: Literal["before", "after"] = "before"
    seen: int = field(default=0, init=False)

    def fires(self, op: Op, key: str) -> bool:
        """Count a matching request and say whether this rule fires for it."""
        if op != self.op or not key.startswith(self.prefix):
            return False
        self.seen += 1
        index = self.seen - 1 - self.skip
        return index >= 0 and (self.times is None or index < self.times)


def _crash() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


class FaultyStorage(Storage):
    """Wraps ``inner`` and injects the faults described by ``faults``.

    Parameters
    ----------
    inner
        The real storage.
    faults
        Rules, checked in order; the first one that fires decides.
    """

    def __init__(self, inner: Storage, faults: builtins.list[Fault] | None = None) -> None:
        self.inner = inner
        self.faults: builtins.list[Fault] = list(faults or [])
        self.fired: builtins.list[tuple[Op, Kind, str]] = []

    # ------------------------------------------------------------------ plumbing
    def _pickle_reduce(self) -> tuple[Any, ...]:
        # A repository pickled to a worker process carries the wrapper whole (subclass, rules,
        # what fired), as the default object pickle did before storages refused it.
        return (_faulty, (type(self), dict(vars(self))))

    def _rule(self, op: Op, key: str) -> Fault | None:
        for fault in self.faults:
            if fault.fires(op, key):
                self.fired.append((op, fault.kind, key))
                return fault
        return None

    async def _before(self, fault: Fault | None, key: str) -> None:
        if fault is None:
            return
        if fault.kind == "fail":
            raise InjectedFault(f"injected failure for {key!r}")
        if fault.kind == "slow":
            await asyncio.sleep(fault.delay)
        if fault.kind == "crash" and fault.when == "before":
            _crash()

    @staticmethod
    def _after(fault: Fault | None, key: str) -> None:
        if fault is None:
            return
        if fault.kind == "crash":
            _crash()
        if fault.kind == "lost_response":
            raise InjectedFault(f"injected lost response for {key!r} (the request succeeded)")

    @property
    def can_write(self) -> bool:
        return self.inner.can_write

    @property
    def supports_conditional_put(self) -> bool:
        return self.inner.supports_conditional_put

    def default_settings(self) -> StorageSettings:
        return self.inner.default_settings()

    def _description(self) -> builtins.list[tuple[str, str]]:
        return [("type", "fault injection"), ("inner", type(self.inner).__name__)]

    # ------------------------------------------------------------------ reads
    async def _get(self, key: str, start: int, end: int | None) -> bytes:
        fault = self._rule("get", key)
        await self._before(fault, key)
        data = await self.inner.get(key, None if (start, end) == (0, None) else (start, end))
        if fault is not None and fault.kind == "torn":
            return data[: len(data) // 2]
        self._after(fault, key)
        return data

    async def _get_suffix(self, key: str, length: int) -> bytes:
        fault = self._rule("get", key)
        await self._before(fault, key)
        data = await self.inner.get_suffix(key, length)
        if fault is not None and fault.kind == "torn":
            return data[len(data) // 2 :]
        self._after(fault, key)
        return data

    async def _get_with_version(self, key: str) -> tuple[bytes, VersionToken]:
        fault = self._rule("get", key)
        await self._before(fault, key)
        data, version = await self.inner.get_with_version(key)
        if fault is not None and fault.kind == "torn":
            return data[: len(data) // 2], version
        self._after(fault, key)
        return data, version

    async def _head(self, key: str) -> StorageObjectInfo | None:
        fault = self._rule("head", key)
        await self._before(fault, key)
        info = await self.inner.head(key)
        self._after(fault, key)
        return info

    async def _list(self, prefix: str) -> AsyncIterator[StorageObjectInfo]:
        fault = self._rule("list", prefix)
        await self._before(fault, prefix)
        async for info in self.inner.list(prefix):
            yield info
        self._after(fault, prefix)

    # ------------------------------------------------------------------ writes
    async def _put(
        self, key: str, data: bytes, mode: PutMode, expected: VersionToken | None
    ) -> VersionToken:
        fault = self._rule("put", key)
        await self._before(fault, key)
        if fault is not None and fault.kind == "torn":
            await self.inner.put(key, data[: len(data) // 2], mode=mode, expected_version=expected)
            raise InjectedFault(f"injected torn write of {key!r}: the upload was cut off")
        version = await self.inner.put(key, data, mode=mode, expected_version=expected)
        if fault is not None and fault.kind == "retried":
            # The client never saw `version`; its identical retry meets its own write.
            return await self.inner.put(key, data, mode=mode, expected_version=expected)
        self._after(fault, key)
        return version

    async def _delete_batch(self, keys: builtins.list[str]) -> int:
        faults = [self._rule("delete", key) for key in keys]
        for index, (fault, key) in enumerate(zip(faults, keys, strict=True)):
            if fault is None:
                continue
            if fault.kind == "torn" or (fault.kind == "crash" and fault.when == "before"):
                # The batch was cut off at this key: the keys before it are gone.
                await self.inner.delete_batch(keys[:index])
                if fault.kind == "crash":
                    _crash()
                raise InjectedFault(f"injected partial delete: stopped at {key!r}")
            await self._before(fault, key)
        deleted = await self.inner.delete_batch(keys)
        for fault, key in zip(faults, keys, strict=True):
            self._after(fault, key)
        return deleted


def _faulty(cls: type[FaultyStorage], state: dict[str, Any]) -> FaultyStorage:
    storage = cls.__new__(cls)
    storage.__dict__.update(state)
    return storage
