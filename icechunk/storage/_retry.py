"""Retries with capped exponential backoff and full jitter, driven by StorageSettings.

``obstore`` retries its own requests (see :func:`~icechunk.storage._objstore.
obstore_retry_config`); this helper serves the clients that are configured per call
(Google Cloud Storage). Only errors the caller calls transient are retried.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable
from typing import TypeVar

from icechunk.storage.base import StorageRetriesSettings

__all__ = ["backoff_delays", "retry_async"]

T = TypeVar("T")

_DEFAULT = StorageRetriesSettings(max_tries=10, initial_backoff_ms=100, max_backoff_ms=180_000)


def backoff_delays(settings: StorageRetriesSettings | None) -> list[float]:
    """The upper bounds, in seconds, of the waits before each retry (``max_tries - 1``)."""
    tries = (settings and settings.max_tries) or _DEFAULT.max_tries or 1
    first = (settings and settings.initial_backoff_ms) or _DEFAULT.initial_backoff_ms or 0
    cap = (settings and settings.max_backoff_ms) or _DEFAULT.max_backoff_ms or 0
    return [min(cap, first * 2**attempt) / 1000 for attempt in range(tries - 1)]


async def retry_async(
    call: Callable[[], Awaitable[T]],
    settings: StorageRetriesSettings | None,
    is_transient: Callable[[BaseException], bool],
) -> T:
    """Await ``call()``; on a transient error wait (jittered) and try again.

    The last error is raised once ``max_tries`` attempts failed; a non-transient error
    is raised at once.
    """
    for delay in backoff_delays(settings):
        try:
            return await call()
        except Exception as exc:
            if not is_transient(exc):
                raise
        await asyncio.sleep(random.uniform(0, delay))  # full jitter spreads out retries
    return await call()
