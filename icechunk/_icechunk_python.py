"""Names the reference package exposes from its native extension module.

Code written against the real ``icechunk`` sometimes imports from
``icechunk._icechunk_python`` directly (for example ``RepoUpdateRetryConfig``, which the
real package never re-exports at the top level). This module offers the same names, backed
by the pure-Python implementation. Lookups are lazy so importing this module never pulls in
the whole package graph, and a name added to a public module later is found here too.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

from icechunk.errors import ErrorKind
from icechunk.versions import SpecVersion

__all__ = ["SpecVersion", "_all_error_kinds"]

# The native module's class names that differ from the public names they back.
_RENAMED = {
    "PyRepository": "Repository",
    "PySession": "Session",
    "PyStore": "IcechunkStore",
}

# Public modules searched, in order, for every other name.
_HOMES = (
    "icechunk",
    "icechunk.config",
    "icechunk.storage",
    "icechunk.storage.base",
    "icechunk.ops",
)


def _all_error_kinds() -> list[str]:
    """Every error kind string an :class:`IcechunkError` can carry."""
    return [kind.value for kind in ErrorKind]


def __getattr__(name: str) -> Any:
    """Resolve a native-module name to the pure-Python object that implements it."""
    target = _RENAMED.get(name, name)
    if not target.startswith("__"):
        for home in _HOMES:
            found = getattr(import_module(home), target, None)
            if found is not None:
                return found
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
