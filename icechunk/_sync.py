"""Run the async core from synchronous code on zarr's shared event loop."""

from __future__ import annotations

import functools
from collections.abc import Callable, Coroutine
from typing import Any, Concatenate, ParamSpec, TypeVar

from zarr.core.sync import sync as _zarr_sync

T = TypeVar("T")
S = TypeVar("S")
P = ParamSpec("P")

__all__ = ["sync", "sync_twin"]


def sync(coro: Coroutine[Any, Any, T]) -> T:
    """Run ``coro`` to completion on zarr's background loop and return its result."""
    return _zarr_sync(coro)


def sync_twin(
    async_method: Callable[Concatenate[S, P], Coroutine[Any, Any, T]],
) -> Callable[Concatenate[S, P], T]:
    """The blocking twin of an ``<name>_async`` method, to bind in the class as ``<name>``.

    The twin has the async method's signature and docstring (``help()`` and
    ``inspect.signature`` show them; type checkers see the same parameters and the awaited
    result type). It looks the async method up on ``self`` by name at call time, so a
    subclass overriding ``<name>_async`` changes the blocking form too.

    Parameters
    ----------
    async_method
        The coroutine function, defined just before in the same class body.

    Returns
    -------
    Callable
        A plain method that runs ``self.<name>_async(...)`` with :func:`sync`.
    """
    async_name = async_method.__name__

    @functools.wraps(async_method)
    def method(self: S, /, *args: P.args, **kwargs: P.kwargs) -> T:
        coro: Coroutine[Any, Any, T] = getattr(self, async_name)(*args, **kwargs)
        return sync(coro)

    method.__name__ = async_name.removesuffix("_async")
    method.__qualname__ = async_method.__qualname__.removesuffix("_async")
    return method
