"""Chunk storage statistics over every snapshot a branch or tag can reach."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from icechunk._gc import GCLimits, _bounded, reachable_snapshots, walk_snapshots
from icechunk._maintenance_types import ChunkStorageStats
from icechunk.format.model import InlinePayload, VirtualPayload

if TYPE_CHECKING:
    from icechunk._repo_core import RepoCore
    from icechunk.format.manifest import ChunkTable

__all__ = ["chunk_storage_stats"]

_NATIVE_KIND = 1


class _Tally:
    """Running totals; native chunks count once per chunk file, virtual once per range."""

    def __init__(self) -> None:
        self.native: dict[bytes, int] = {}
        self.virtual: set[tuple[str, int, int]] = set()
        self.virtual_bytes = 0
        self.inlined_bytes = 0

    def add_table(self, table: ChunkTable) -> None:
        cols = table.columns
        native = cols.kinds == _NATIVE_KIND
        ids = np.ascontiguousarray(cols.chunk_ids[native]).view("V12").ravel().tolist()
        for cid, length in zip(ids, cols.lengths[native].tolist(), strict=True):
            self.native.setdefault(bytes(cid), int(length))
        for row in np.flatnonzero(~native).tolist():
            self._add_other(table.payload_at(row))

    def _add_other(self, payload: object) -> None:
        if isinstance(payload, InlinePayload):
            self.inlined_bytes += len(payload.data)
        elif isinstance(payload, VirtualPayload):
            key = (payload.location, payload.offset, payload.length)
            if key not in self.virtual:
                self.virtual.add(key)
                self.virtual_bytes += payload.length

    def result(self) -> ChunkStorageStats:
        return ChunkStorageStats(sum(self.native.values()), self.virtual_bytes, self.inlined_bytes)


async def chunk_storage_stats(core: RepoCore, limits: GCLimits) -> ChunkStorageStats:
    """Bytes of chunks referenced by the snapshots reachable from any ref."""
    info = await core.info()
    _, manifests = await walk_snapshots(core, reachable_snapshots(info), limits)
    fetch = core.assets.fetch_manifest
    loaded = await _bounded(
        limits.max_concurrent_manifest_fetches,
        [lambda m=m: fetch(m) for m in sorted(manifests)],  # type: ignore[misc]
    )
    tally = _Tally()
    for manifest in loaded:
        for table in manifest.arrays.values():
            tally.add_table(table)
    return tally.result()
