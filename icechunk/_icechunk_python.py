"""Names the reference package exposes from its native extension module.

Code written against the real ``icechunk`` sometimes imports from
``icechunk._icechunk_python`` directly; this module offers the same names, backed by the
pure-Python implementation.
"""

from __future__ import annotations

from icechunk.errors import ErrorKind
from icechunk.versions import SpecVersion

__all__ = ["SpecVersion", "_all_error_kinds"]


def _all_error_kinds() -> list[str]:
    """Every error kind string an :class:`IcechunkError` can carry."""
    return [kind.value for kind in ErrorKind]
