"""Typed reads and writes of repository objects, with bounded caches.

The only module that knows where each object kind lives in storage and which codec
reads it. Immutable objects (snapshots, manifests, transaction logs, chunks) are cached
by id; they never change once written.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import replace
from typing import Generic, TypeVar

from icechunk.errors import (
    ErrorKind,
    FormatError,
    IcechunkError,
    NotFoundError,
    SnapshotNotFoundError,
    StorageError,
)
from icechunk.format._v1_write import encode_snapshot_v1
from icechunk.format.ids import ChunkId, ManifestId, SnapshotId
from icechunk.format.manifest import Manifest, decode_manifest, encode_manifest
from icechunk.format.model import Snapshot, TransactionLog
from icechunk.format.snapshot import decode_snapshot, encode_snapshot
from icechunk.format.txlog import decode_transaction_log, encode_transaction_log
from icechunk.storage import PutMode, Storage

__all__ = [
    "CHUNKS",
    "MANIFESTS",
    "OVERWRITTEN",
    "REPO_INFO_KEY",
    "SNAPSHOTS",
    "TRANSACTIONS",
    "AssetManager",
]

SNAPSHOTS = "snapshots/"
MANIFESTS = "manifests/"
TRANSACTIONS = "transactions/"
CHUNKS = "chunks/"
OVERWRITTEN = "overwritten/"
REPO_INFO_KEY = "repo"

K = TypeVar("K")
V = TypeVar("V")

_LOG = logging.getLogger("icechunk.asset_manager")


def _node_count(snap: Snapshot) -> int:
    return len(snap.nodes)


def _ref_count(manifest: Manifest) -> int:
    return sum(len(table) for table in manifest.arrays.values())


class _TooBigWarning:
    """Logs one warning when an object takes too large a share of its cache.

    The real package warns (once per repository and object kind) when a manifest holds
    more than half the ``num_chunk_refs`` budget or a snapshot more than a fifth of the
    ``num_snapshot_nodes`` one: such caches keep evicting what they just loaded.
    """

    def __init__(self, capacity: int, share: int, what: str, unit: str, setting: str) -> None:
        self._capacity = capacity
        self._share = share
        self._what = what
        self._unit = unit
        self._setting = setting
        self._warned = False

    def check(self, size: int) -> None:
        if self._warned or size * self._share <= self._capacity:
            return
        self._warned = True
        _LOG.warning(
            "Caching a %s with %d %s in a cache that can only keep %d %s; "
            "consider raising CachingConfig.%s",
            self._what,
            size,
            self._unit,
            self._capacity,
            self._unit.split()[-1],
            self._setting,
        )


class _LRU(Generic[K, V]):
    """A small least-recently-used cache bounded by a weight (items or refs)."""

    def __init__(self, capacity: int, weigh: Callable[[V], int] = lambda _: 1) -> None:
        self._capacity = capacity
        self._weigh = weigh
        self._items: OrderedDict[K, tuple[V, int]] = OrderedDict()
        self._weight = 0

    def get(self, key: K) -> V | None:
        hit = self._items.get(key)
        if hit is None:
            return None
        self._items.move_to_end(key)
        return hit[0]

    def put(self, key: K, value: V) -> None:
        if self._capacity <= 0:
            return
        if key in self._items:
            self._weight -= self._items.pop(key)[1]
        w = self._weigh(value)
        self._items[key] = (value, w)
        self._weight += w
        while self._weight > self._capacity and len(self._items) > 1:
            _, (_, old) = self._items.popitem(last=False)
            self._weight -= old


class AssetManager:
    """Reads and writes snapshots, manifests, transaction logs and chunks.

    Parameters
    ----------
    storage
        The byte-level storage of the repository.
    compression_level
        zstd level for metadata files.
    num_snapshot_nodes, num_chunk_refs, num_transaction_changes
        Cache capacities, as in ``CachingConfig``.
    """

    def __init__(
        self,
        storage: Storage,
        *,
        compression_level: int = 3,
        num_snapshot_nodes: int = 500_000,
        num_chunk_refs: int = 15_000_000,
        num_transaction_changes: int = 0,
    ) -> None:
        self.storage = storage
        self.compression_level = compression_level
        #: Spec version of the files this manager writes (1 only for v1 repositories).
        self.spec_version = 2
        self._snapshots: _LRU[SnapshotId, Snapshot] = _LRU(
            num_snapshot_nodes, lambda s: max(1, _node_count(s))
        )
        self._manifests: _LRU[ManifestId, Manifest] = _LRU(
            num_chunk_refs, lambda m: max(1, _ref_count(m))
        )
        self._big_snapshot = _TooBigWarning(
            num_snapshot_nodes, 5, "snapshot", "nodes", "num_snapshot_nodes"
        )
        self._big_manifest = _TooBigWarning(
            num_chunk_refs, 2, "manifest", "chunk references", "num_chunk_refs"
        )
        self._txlogs: _LRU[SnapshotId, TransactionLog] = _LRU(max(num_transaction_changes, 64))

    # ------------------------------------------------------------------ snapshots
    async def fetch_snapshot(self, snapshot_id: SnapshotId) -> Snapshot:
        """Read (or take from cache) the snapshot with this id."""
        cached = self._snapshots.get(snapshot_id)
        if cached is not None:
            return cached
        data = await self._get(SNAPSHOTS + str(snapshot_id), "snapshot", str(snapshot_id))
        snap = decode_snapshot(data)
        if snap.id != snapshot_id:
            raise FormatError(f"snapshot file {snapshot_id} holds snapshot {snap.id}")
        self._cache_snapshot(snap)
        return snap

    async def write_snapshot(self, snap: Snapshot) -> None:
        """Write a new snapshot file."""
        if self.spec_version == 1:
            snap = replace(snap, spec_version=1)
            data = encode_snapshot_v1(snap, compression_level=self.compression_level)
        else:
            data = encode_snapshot(snap, compression_level=self.compression_level)
        await self.storage.put(SNAPSHOTS + str(snap.id), data, mode=PutMode.OVERWRITE)
        self._cache_snapshot(snap)

    def _cache_snapshot(self, snap: Snapshot) -> None:
        self._big_snapshot.check(_node_count(snap))
        self._snapshots.put(snap.id, snap)

    async def snapshot_exists(self, snapshot_id: SnapshotId) -> bool:
        """Whether the snapshot file exists."""
        if self._snapshots.get(snapshot_id) is not None:
            return True
        return await self.storage.exists(SNAPSHOTS + str(snapshot_id))

    # ------------------------------------------------------------------ manifests
    async def fetch_manifest(
        self, manifest_id: ManifestId, size_bytes: int | None = None
    ) -> Manifest:
        """Read (or take from cache) the manifest with this id."""
        cached = self._manifests.get(manifest_id)
        if cached is not None:
            return cached
        try:
            data = await self._get(MANIFESTS + str(manifest_id), "manifest", str(manifest_id))
            # Lazy: a cold single-chunk read binary-searches the file instead of decoding
            # every ref; the first bulk use (merge, iteration) decodes the table once.
            manifest = decode_manifest(data, lazy=True)
        except IcechunkError as error:
            error.add_context("asset_manager::fetch_manifest", f"manifest_id={manifest_id}")
            raise
        self._cache_manifest(manifest_id, manifest)
        return manifest

    async def write_manifest(self, manifest: Manifest) -> int:
        """Write a new manifest file and return its exact size in bytes."""
        if self.spec_version == 1:
            manifest = replace(manifest, spec_version=1)
        data = encode_manifest(manifest, compression_level=self.compression_level)
        await self.storage.put(MANIFESTS + str(manifest.id), data, mode=PutMode.OVERWRITE)
        self._cache_manifest(manifest.id, manifest)
        return len(data)

    def _cache_manifest(self, manifest_id: ManifestId, manifest: Manifest) -> None:
        self._big_manifest.check(_ref_count(manifest))
        self._manifests.put(manifest_id, manifest)

    # ------------------------------------------------------------------ transaction logs
    async def fetch_transaction_log(self, snapshot_id: SnapshotId) -> TransactionLog:
        """Read the transaction log written with this snapshot."""
        cached = self._txlogs.get(snapshot_id)
        if cached is not None:
            return cached
        data = await self._get(TRANSACTIONS + str(snapshot_id), "transaction log", str(snapshot_id))
        log = decode_transaction_log(data)
        self._txlogs.put(snapshot_id, log)
        return log

    async def write_transaction_log(self, log: TransactionLog) -> None:
        """Write the transaction log of a new snapshot."""
        data = encode_transaction_log(
            log, compression_level=self.compression_level, spec_version=self.spec_version
        )
        await self.storage.put(TRANSACTIONS + str(log.id), data, mode=PutMode.OVERWRITE)
        self._txlogs.put(log.id, log)

    # ------------------------------------------------------------------ chunks
    async def write_chunk(self, chunk_id: ChunkId, data: bytes) -> None:
        """Write a native chunk file."""
        await self.storage.put(CHUNKS + str(chunk_id), data, mode=PutMode.OVERWRITE)

    async def fetch_chunk(
        self, chunk_id: ChunkId, offset: int, length: int, byte_range: tuple[int, int] | None
    ) -> bytes:
        """Read a native chunk, or a byte range ``[start, stop)`` of it."""
        start, stop = offset, offset + length
        if byte_range is not None:
            start, stop = offset + byte_range[0], offset + byte_range[1]
        key = CHUNKS + str(chunk_id)
        try:
            data = await self.storage.get(key, (start, stop))
        except NotFoundError as exc:
            raise NotFoundError(
                f"chunk file {chunk_id} referenced by the manifest is missing from storage",
                ErrorKind.CHUNK_NOT_FOUND,
            ) from exc
        if len(data) < stop - start:
            # A truncated chunk file or a short read: handing it on would make the codecs
            # fail with untyped errors or decode wrong values.
            raise StorageError(
                f"chunk file {chunk_id} is shorter than its manifest says: read "
                f"{len(data)} of {stop - start} bytes at offset {start}",
                ErrorKind.INVALID_OBJECT_SIZE,
            )
        return data

    # ------------------------------------------------------------------ helpers
    async def _get(self, key: str, what: str, ident: str) -> bytes:
        try:
            return await self.storage.get(key)
        except NotFoundError as exc:
            if what == "snapshot":
                raise SnapshotNotFoundError(
                    f"object not found: snapshot {ident} does not exist"
                ) from exc
            raise NotFoundError(
                f"{what} {ident} not found in the repository storage", ErrorKind.OBJECT_NOT_FOUND
            ) from exc
