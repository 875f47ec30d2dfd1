"""IcechunkStore methods beyond zarr's Store protocol: sync clear and partial writes (refused,
as in the reference).

:class:`StoreExtrasMixin` is one of :class:`icechunk.IcechunkStore`'s bases; it relies on
the store's ``session``, ``clear`` and ``_check_writable``.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from icechunk._sync import sync
from icechunk.errors import ErrorKind, SessionStateError

if TYPE_CHECKING:
    from icechunk._session_core import SessionCore

__all__ = ["StoreExtrasMixin"]


class StoreExtrasMixin:
    """Extra store operations of the reference ``IcechunkStore``."""

    if TYPE_CHECKING:

        @property
        def _core(self) -> SessionCore: ...

        async def clear(self) -> None: ...

    def sync_clear(self) -> None:
        """Remove every group and array from the session (history is untouched)."""
        sync(self.clear())

    async def set_partial_values(self, key_start_values: Iterable[tuple[str, int, Any]]) -> None:
        """Not supported: chunks are immutable objects, so they are written whole."""
        raise SessionStateError(
            "store method `set_partial_values` is not implemented by Icechunk; write whole "
            "chunks with set()",
            ErrorKind.UNIMPLEMENTED,
        )
