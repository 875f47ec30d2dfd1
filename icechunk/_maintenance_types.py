"""Result objects of the maintenance operations: :class:`GCSummary`, :class:`ChunkStorageStats`."""

from __future__ import annotations

import json
from dataclasses import dataclass, field, fields
from typing import Any

from icechunk.diff import html_fields

__all__ = ["ChunkStorageStats", "GCSummary"]


def _show(value: Any) -> str:
    # Lists of messages print with double quotes, as the real (Rust) repr does.
    return json.dumps(value) if isinstance(value, list) else str(value)


def _text_repr(header: str, obj: Any) -> str:
    lines = [f"<{header}>"] + [f"{f.name}: {_show(getattr(obj, f.name))}" for f in fields(obj)]
    return "\n".join(lines) + "\n"


def _html_repr(header: str, obj: Any) -> str:
    return html_fields(header, [(f.name, _show(getattr(obj, f.name))) for f in fields(obj)])


@dataclass(eq=True)
class GCSummary:
    """What one garbage collection deleted (or, with ``dry_run``, would delete).

    Attributes
    ----------
    bytes_deleted : int
        Total size of the deleted objects.
    chunks_deleted, manifests_deleted, snapshots_deleted : int
        Deleted objects of each kind.
    attributes_deleted : int
        Always 0: attribute files are not used by the format any more.
    transaction_logs_deleted : int
        Deleted transaction logs.
    objects_failed_to_delete : int
        Objects whose delete failed; they remain garbage for the next run.
    throttled_batches : int
        Delete requests the storage asked to slow down (retried, not failed).
    delete_errors : list[str]
        The first distinct delete error messages, at most ten.
    skipped_phases : list[str]
        Delete phases skipped because an earlier phase had failures, in order.
    """

    bytes_deleted: int = 0
    chunks_deleted: int = 0
    manifests_deleted: int = 0
    snapshots_deleted: int = 0
    attributes_deleted: int = 0
    transaction_logs_deleted: int = 0
    objects_failed_to_delete: int = 0
    throttled_batches: int = 0
    delete_errors: list[str] = field(default_factory=list)
    skipped_phases: list[str] = field(default_factory=list)

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return _text_repr("icechunk.ops.GCSummary", self)

    def _repr_html_(self) -> str:
        return _html_repr("icechunk.ops.GCSummary", self)


@dataclass(frozen=True)
class ChunkStorageStats:
    """Bytes of chunk data the repository's reachable snapshots refer to, by chunk kind.

    Attributes
    ----------
    native_bytes : int
        Chunks stored in the repository's ``chunks/`` prefix (each chunk file once).
    virtual_bytes : int
        Virtual chunks, deduplicated by (location, offset, length).
    inlined_bytes : int
        Chunks stored inside manifests, counted in every manifest holding them.
    """

    native_bytes: int = 0
    virtual_bytes: int = 0
    inlined_bytes: int = 0

    def non_virtual_bytes(self) -> int:
        """Native plus inlined bytes: roughly what the repository itself stores."""
        return self.native_bytes + self.inlined_bytes

    def total_bytes(self) -> int:
        """Native, virtual and inlined bytes together."""
        return self.native_bytes + self.virtual_bytes + self.inlined_bytes

    def __add__(self, other: ChunkStorageStats) -> ChunkStorageStats:
        if not isinstance(other, ChunkStorageStats):
            return NotImplemented
        return ChunkStorageStats(
            self.native_bytes + other.native_bytes,
            self.virtual_bytes + other.virtual_bytes,
            self.inlined_bytes + other.inlined_bytes,
        )

    def __repr__(self) -> str:
        return _text_repr("icechunk.stats.ChunkStorageStats", self)

    def _repr_html_(self) -> str:
        return _html_repr("icechunk.stats.ChunkStorageStats", self)
