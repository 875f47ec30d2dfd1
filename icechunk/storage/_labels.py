"""Request attribution: the User-Agent an object store request carries.

A repository opened with an :class:`~icechunk.Attribution` sends
``<transport> [<client> ]icechunk/<version> (<labels>)`` where the labels are the
attribution's ``workload`` / ``principal`` followed by what the request is about
(``array=<path>``, ``chunk=<i/j/...>``). The upper layers say what a request is about with
:func:`request_labels`; the labels ride in a context variable so every request issued
inside the block (including from tasks it starts) picks them up.

``obstore`` fixes the User-Agent when it builds a client, so per-request labels cost a
client (and a connection) per distinct label set. Storages therefore label requests only
when the repository was given an attribution with at least one label; otherwise every
request shares one client and sends ``<transport> icechunk/<version>`` (the real package
labels array / chunk requests even then).
"""

from __future__ import annotations

import platform
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import TYPE_CHECKING

from icechunk.versions import PACKAGE_VERSION

if TYPE_CHECKING:
    from icechunk._config_core import Attribution

__all__ = ["attributed_user_agent", "has_labels", "request_labels"]

_LABELS: ContextVar[tuple[str, ...]] = ContextVar("icechunk_request_labels", default=())


@contextmanager
def request_labels(**labels: str) -> Iterator[None]:
    """Label the requests issued inside the block, e.g. ``array="a/b", chunk="0/1"``."""
    token = _LABELS.set(_LABELS.get() + tuple(f"{k}={v}" for k, v in labels.items()))
    try:
        yield
    finally:
        _LABELS.reset(token)


def has_labels(attribution: Attribution) -> bool:
    """Whether ``attribution`` sets any of its labels."""
    return any((attribution.client, attribution.workload, attribution.principal))


def attributed_user_agent(attribution: Attribution | None, *, context: bool = True) -> str:
    """The User-Agent for a request made now on behalf of ``attribution``.

    ``context=False`` leaves out the labels set by :func:`request_labels`.
    """
    import obstore

    parts = [f"obstore/{obstore.__version__}", f"lang/python/{platform.python_version()}"]
    labels: list[str] = []
    if attribution is not None:
        if attribution.client:
            parts.append(attribution.client)
        for name in ("workload", "principal"):
            value = getattr(attribution, name)
            if value:
                labels.append(f"{name}={value}")
    parts.append(f"icechunk/{PACKAGE_VERSION}")
    if context:
        labels.extend(_LABELS.get())
    if labels:
        parts.append(f"({'; '.join(labels)})")
    return " ".join(parts)
