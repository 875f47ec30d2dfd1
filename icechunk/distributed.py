"""Helpers for distributed array frameworks (dask and friends) writing through forks."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, cast

from icechunk.session import ForkSession, Session
from icechunk.store import IcechunkStore

__all__ = ["extract_session", "merge_sessions"]


def _leaves(items: Any) -> Iterator[Any]:
    """Yield the non-list items of arbitrarily nested lists, in order."""
    if isinstance(items, list):
        for item in items:
            yield from _leaves(item)
    else:
        yield items


def extract_session(zarray: Any, axis: Any = None, keepdims: Any = None) -> Session:
    """The session behind a zarr array opened from an Icechunk store.

    Meant as the per-block step of a tree reduction; ``axis`` and ``keepdims`` are
    accepted for that signature and ignored.
    """
    store = cast(IcechunkStore, zarray.store)
    return store.session


def merge_sessions(*sessions: ForkSession | list[Any]) -> ForkSession:
    """Merge every fork (nested lists are flattened) into the first one and return it.

    Raises
    ------
    TypeError
        If any item is not a :class:`ForkSession`; merge plain sessions with
        :meth:`Session.merge`.
    """
    flat = list(_leaves(list(sessions)))
    for item in flat:
        if not isinstance(item, ForkSession):
            raise TypeError(
                "merge_sessions only accepts ForkSession objects. Received "
                f"{type(item).__name__!r} instead; use Session.merge(*forks) to merge forks "
                "into a regular session"
            )
    first, *rest = flat
    first.merge(*rest)
    return cast(ForkSession, first)
