"""What every icechunk widget shares: asset loading, the request/reply protocol, errors, throttling.

Front-end actions arrive as custom messages ``{"id": n, "op": name, "args": {...}}``. The
widget runs the Python method registered for ``op`` (the same method a notebook user calls)
and answers ``{"id": n, "ok": bool, "result": ..., "error": {"type", "message", "hint"}}``.
Slow work therefore always runs in Python, and the JS only draws traits and sends requests.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from importlib import resources
from typing import Any, ClassVar

import anywidget
import traitlets

from icechunk import ConflictError, IcechunkError

__all__ = ["IcechunkWidget", "Throttle", "describe_error", "load_asset"]


def load_asset(*names: str) -> str:
    """Concatenate files from ``icechunk_widgets/static``.

    The ESM is loaded from a Blob URL, so relative imports would not resolve: shared helpers
    (``common.js``) are inlined ahead of each widget's module instead.
    """
    folder = resources.files("icechunk_widgets") / "static"
    return "\n".join((folder / name).read_text(encoding="utf-8") for name in names)


_HINTS: dict[str, str] = {
    "ConflictError": "The ref moved since it was shown. Refresh, check the new tip, then retry.",
    "RebaseFailedError": "Choose how to resolve the conflicts listed, then rebase again.",
    "RefNotFoundError": "The ref no longer exists. Refresh to see the current refs.",
    "AlreadyExistsError": "Pick another name.",
    "SessionStateError": "Check the session's state (read-only? nothing to commit?).",
    "ConfirmationError": "Type the exact name to confirm this change.",
}


class ConfirmationError(ValueError):
    """A destructive action was requested without the typed confirmation it needs."""


def describe_error(exc: BaseException) -> dict[str, str]:
    """A JSON-able description of an error, with a "what to do" hint."""
    name = type(exc).__name__
    hint = _HINTS.get(name, "")
    if not hint and isinstance(exc, ConflictError):
        hint = _HINTS["ConflictError"]
    return {"type": name, "message": str(exc), "hint": hint}


class Throttle:
    """Coalesce state updates so the front-end gets at most ``rate`` batches per second.

    ``push`` may be called from any thread (dask callbacks run on the client's loop thread);
    updates are merged into one pending dict and flushed by ``apply`` at most once per
    interval, the last one delivered by a timer so the final state is never lost.
    """

    def __init__(self, apply: Callable[[dict[str, Any]], None], rate: float = 10.0) -> None:
        self._apply = apply
        self._interval = 1.0 / rate
        self._lock = threading.Lock()
        self._pending: dict[str, Any] = {}
        self._last = 0.0
        self._timer: threading.Timer | None = None
        self.flushes: list[float] = []

    def push(self, update: Mapping[str, Any]) -> None:
        """Queue ``update`` (merged over older pending keys) and flush when allowed."""
        with self._lock:
            self._pending.update(update)
            if self._timer is not None:
                return  # the scheduled flush will carry this update
            wait = self._last + self._interval - time.monotonic()
            if wait > 0:
                self._timer = threading.Timer(wait, self._timed_flush)
                self._timer.daemon = True
                self._timer.start()
                return
            batch = self._take()
        self._apply(batch)

    def flush(self) -> None:
        """Deliver pending updates now, regardless of the rate (final states, tests)."""
        with self._lock:
            batch = self._take()
        if batch:
            self._apply(batch)

    def _timed_flush(self) -> None:
        with self._lock:
            self._timer = None
            batch = self._take()
        if batch:
            self._apply(batch)

    def _take(self) -> dict[str, Any]:
        batch, self._pending = self._pending, {}
        if batch:
            self._last = time.monotonic()
            self.flushes.append(self._last)
        return batch


class IcechunkWidget(anywidget.AnyWidget):  # type: ignore[misc]
    """Base class: dispatches front-end requests to the Python action methods.

    Subclasses list their actions in ``_ops`` (op name -> method name) and implement
    ``_repr_text`` and ``_repr_static_html`` for places without a live front-end.
    """

    _ops: ClassVar[dict[str, str]] = {}
    error = traitlets.Dict({}).tag(sync=True)
    busy = traitlets.Bool(False).tag(sync=True)
    request = traitlets.Dict({}).tag(sync=True)
    """Requests arrive here from hosts whose front-end cannot send custom messages."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.on_msg(self._on_request)
        self.observe(lambda change: self._on_request(self, change["new"], None), names=["request"])

    # ------------------------------------------------------------------ protocol
    def _on_request(self, _widget: Any, content: Any, _buffers: Any) -> None:
        if not isinstance(content, dict) or "op" not in content:
            return
        reply: dict[str, Any] = {"id": content.get("id"), "op": content["op"]}
        method = self._ops.get(str(content["op"]))
        self.busy = True
        try:
            if method is None:
                raise ValueError(f"unknown action {content['op']!r}")
            result = getattr(self, method)(**dict(content.get("args") or {}))
            reply.update(ok=True, result=_jsonable(result))
            self.error = {}
        except (IcechunkError, ValueError, KeyError, TypeError, RuntimeError) as exc:
            reply.update(ok=False, error=describe_error(exc))
            self.error = reply["error"]
        finally:
            self.busy = False
        self.send(reply)

    # ------------------------------------------------------------------ display
    def _repr_text(self) -> str:
        return f"<{type(self).__name__}>"

    def _repr_static_html(self) -> str:
        return ""

    def _repr_mimebundle_(self, **kwargs: Any) -> Any:
        out = super()._repr_mimebundle_(**kwargs)
        data, meta = out if isinstance(out, tuple) else (out, {})
        data = dict(data or {})
        data["text/plain"] = self._repr_text()
        data["text/html"] = self._repr_static_html()
        return data, meta


def _jsonable(value: Any) -> Any:
    """Results go to the front-end; engine objects become their text form."""
    if value is None or isinstance(value, str | int | float | bool):
        return value
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    return type(value).__name__


def require_confirmation(name: str, confirm: str | None) -> None:
    """Destructive actions need the ref's name typed back (``confirm``)."""
    if confirm != name:
        raise ConfirmationError(f"type {name!r} to confirm; got {confirm!r}")
