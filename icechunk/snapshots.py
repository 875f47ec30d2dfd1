"""Public value objects describing snapshots."""

from __future__ import annotations

import datetime as dt
from typing import Any

from icechunk.format.model import ManifestFileInfo as _ManifestFileRecord
from icechunk.format.model import SnapshotEntry

__all__ = ["ManifestFileInfo", "SnapshotInfo"]


class SnapshotInfo:
    """A snapshot in the history: id, parent, time, message and metadata."""

    __slots__ = ("_entry",)

    def __init__(self, entry: SnapshotEntry) -> None:
        self._entry = entry

    @property
    def id(self) -> str:
        """The snapshot id."""
        return str(self._entry.id)

    @property
    def parent_id(self) -> str | None:
        """The parent snapshot id, or None for the initial snapshot."""
        parent = self._entry.parent_id
        return None if parent is None else str(parent)

    @property
    def written_at(self) -> dt.datetime:
        """When the snapshot was written (UTC)."""
        secs, micros = divmod(self._entry.flushed_at, 1_000_000)
        base = dt.datetime.fromtimestamp(secs, tz=dt.UTC)
        return base.replace(microsecond=micros)

    @property
    def message(self) -> str:
        """The commit message."""
        return self._entry.message

    @property
    def metadata(self) -> dict[str, Any]:
        """The commit metadata."""
        return dict(self._entry.metadata)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, SnapshotInfo) and self._entry == other._entry

    def __hash__(self) -> int:
        return hash(self._entry.id)

    def __repr__(self) -> str:
        return (
            f"<icechunk.snapshots.SnapshotInfo>\nid: {self.id}\nparent_id: {self.parent_id}\n"
            f"written_at: {self.written_at!r}\nmessage: {self.message}\n"
            f"metadata: {self.metadata!r}\n"
        )

    def _repr_html_(self) -> str:
        from icechunk._html import snapshot_html

        return snapshot_html(self)


class ManifestFileInfo:
    """A manifest file a snapshot uses: its id, size in bytes and number of chunk refs."""

    __slots__ = ("_info",)

    def __init__(self, info: _ManifestFileRecord) -> None:
        self._info = info

    @property
    def id(self) -> str:
        """The manifest id."""
        return str(self._info.id)

    @property
    def size_bytes(self) -> int:
        """Size of the manifest file in bytes."""
        return self._info.size_bytes

    @property
    def num_chunk_refs(self) -> int:
        """How many chunk refs the manifest holds."""
        return self._info.num_chunk_refs

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ManifestFileInfo) and self._info == other._info

    def __hash__(self) -> int:
        return hash(self._info.id)

    def __repr__(self) -> str:
        return (
            f"<icechunk.snapshots.ManifestFileInfo>\nid: {self.id}\n"
            f"size_bytes: {self.size_bytes}\nnum_chunk_refs: {self.num_chunk_refs}\n"
        )
