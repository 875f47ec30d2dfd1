"""Run the async core from synchronous code on zarr's shared event loop."""

from __future__ import annotations

from collections.abc import Coroutine
from typing import Any, TypeVar

from zarr.core.sync import sync as _zarr_sync

T = TypeVar("T")

__all__ = ["sync"]


def sync(coro: Coroutine[Any, Any, T]) -> T:
    """Run ``coro`` to completion on zarr's background loop and return its result."""
    return _zarr_sync(coro)
