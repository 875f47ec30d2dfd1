"""Garbage collection: delete objects no branch or tag can reach any more.

The walk starts from every ref tip in the repo info file and follows parents there;
every snapshot it meets is *retained*, with the manifests those snapshots list and the
native chunks those manifests point to. Snapshots the repo info still lists but no ref
reaches are retained too while their file is younger than the cutoff (another writer may
be about to point a ref at them). Everything else under ``snapshots/``,
``transactions/``, ``manifests/`` and ``chunks/`` that was written entirely before the
cutoff is deleted, in that order, so nothing is deleted before what refers to it. The
repo info loses the dropped snapshots in one compare-and-swap before any delete.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, TypeVar

from icechunk._expire import check_maintenance_allowed, reparent_and_prune, to_micros
from icechunk._maintenance_types import GCSummary
from icechunk.asset_manager import CHUNKS, MANIFESTS, SNAPSHOTS, TRANSACTIONS
from icechunk.errors import (
    ConflictError,
    ErrorKind,
    IcechunkError,
    StorageError,
)
from icechunk.format.ids import INITIAL_SNAPSHOT_ID, ChunkId, ManifestId, ObjectId, SnapshotId
from icechunk.format.model import RepoInfo, Snapshot, UpdateKind, UpdateRecord

if TYPE_CHECKING:
    from icechunk._repo_core import RepoCore
    from icechunk.storage import Storage

__all__ = [
    "GCLimits",
    "Listed",
    "check_positive",
    "garbage_collect",
    "reachable_snapshots",
    "walk_snapshots",
]

DELETE_BATCH = 1000
MAX_ATTEMPTS = 10
MAX_REPORTED_ERRORS = 10
T = TypeVar("T")
IdT = TypeVar("IdT", bound=ObjectId)
_log = logging.getLogger("icechunk.gc")


@dataclass(frozen=True)
class GCLimits:
    """Concurrency bounds of the walk (the real engine's memory knobs map onto these)."""

    max_snapshots_in_memory: int = 50
    max_concurrent_manifest_fetches: int = 500

    def __post_init__(self) -> None:
        check_positive(
            max_snapshots_in_memory=self.max_snapshots_in_memory,
            max_concurrent_manifest_fetches=self.max_concurrent_manifest_fetches,
        )


def check_positive(**values: int | None) -> None:
    """Reject zero or negative tuning knobs as the real binding does."""
    for name, value in values.items():
        if value is None:
            continue
        if not isinstance(value, int) or isinstance(value, bool):
            raise TypeError(f"{name} must be an int, not {type(value).__name__}")
        if value <= 0:
            raise ValueError("invalid zero value")


@dataclass(frozen=True)
class Listed:
    """One stored object of a kind: its id, size and write time (µs since the epoch)."""

    id: ObjectId
    key: str
    size: int
    created_at: dt.datetime


def created_entirely_before(created_at: dt.datetime, cutoff: dt.datetime) -> bool:
    """Whether the write certainly happened before ``cutoff``.

    Some stores list whole-second times; the write then lies anywhere in that second,
    so such an object only counts as older when the whole second precedes the cutoff.
    """
    if created_at.microsecond == 0:
        return created_at + dt.timedelta(seconds=1) <= cutoff
    return created_at < cutoff


async def list_objects(storage: Storage, prefix: str, id_type: type[IdT]) -> dict[IdT, Listed]:
    """Objects under ``prefix`` whose name parses as an id; anything else is left alone."""
    found: dict[IdT, Listed] = {}
    async for info in storage.list(prefix):
        name = info.key[len(prefix) :]
        try:
            oid = id_type.parse(name)
        except (IcechunkError, ValueError):
            continue
        found[oid] = Listed(oid, info.key, info.size_bytes, info.created_at)
    return found


def reachable_snapshots(info: RepoInfo) -> set[SnapshotId]:
    """Every snapshot on the ancestry of a tag or branch, from the repo info alone."""
    seen: set[SnapshotId] = set()
    for tip in [*info.tags.values(), *info.branches.values()]:
        current: SnapshotId | None = tip
        while current is not None and current not in seen:
            seen.add(current)
            entry = info.snapshots.get(current)
            current = None if entry is None else entry.parent_id
    return seen


async def _bounded(limit: int, jobs: Iterable[Callable[[], Awaitable[T]]]) -> list[T]:
    gate = asyncio.Semaphore(limit)

    async def run(job: Callable[[], Awaitable[T]]) -> T:
        async with gate:
            return await job()

    return list(await asyncio.gather(*(run(j) for j in jobs)))


def manifest_ids_of(snap: Snapshot) -> set[ManifestId]:
    """Manifests a snapshot lists, plus any its array nodes refer to."""
    ids = {m.id for m in snap.manifest_files}
    for node in snap.nodes:
        if node.array is not None:
            ids.update(ref.object_id for ref in node.array.manifests)
    return ids


@dataclass
class Retained:
    """What the walk keeps: snapshots, manifests and native chunks."""

    snapshots: set[SnapshotId] = field(default_factory=set)
    manifests: set[ManifestId] = field(default_factory=set)
    chunks: set[ChunkId] = field(default_factory=set)


async def walk_snapshots(
    core: RepoCore, snapshot_ids: Iterable[SnapshotId], limits: GCLimits
) -> tuple[list[Snapshot], set[ManifestId]]:
    """Read the given snapshots; return them and the manifests they use."""
    ids = list(dict.fromkeys(snapshot_ids))
    fetch = core.assets.fetch_snapshot
    snaps = await _bounded(
        limits.max_snapshots_in_memory,
        [lambda s=s: fetch(s) for s in ids],  # type: ignore[misc]
    )
    manifests: set[ManifestId] = set()
    for snap in snaps:
        manifests |= manifest_ids_of(snap)
    return snaps, manifests


async def _retain(core: RepoCore, snapshot_ids: set[SnapshotId], limits: GCLimits) -> Retained:
    snaps, manifests = await walk_snapshots(core, snapshot_ids, limits)
    fetch = core.assets.fetch_manifest
    loaded = await _bounded(
        limits.max_concurrent_manifest_fetches,
        [lambda m=m: fetch(m) for m in sorted(manifests)],  # type: ignore[misc]
    )
    chunks: set[ChunkId] = set()
    for manifest in loaded:
        for table in manifest.arrays.values():
            chunks |= table.native_chunk_ids()
    return Retained({s.id for s in snaps}, manifests, chunks)


class _RepoChanged(Exception):
    """The repo info moved in a way that invalidates this run's walk; start over."""


def _drop_from_info(
    info: RepoInfo, keep: set[SnapshotId], drop: set[SnapshotId]
) -> tuple[RepoInfo, UpdateRecord]:
    """Remove ``drop`` from the snapshot list, re-parenting kept children over the gap."""
    final = {}
    for sid, entry in info.snapshots.items():
        if sid in drop:
            continue
        parent_dropped = entry.parent_id is not None and entry.parent_id in drop
        if sid not in keep:
            # Written after the walk: fine unless it builds on a snapshot we drop.
            if parent_dropped:
                raise _RepoChanged
            keep.add(sid)
        elif parent_dropped:
            parent, pruned = reparent_and_prune(info.snapshots, entry, lambda a: a.id in keep)
            entry = replace(
                entry,
                parent_id=parent or INITIAL_SNAPSHOT_ID,
                pruned_ancestor_tx_logs=pruned or None,
            )
        final[sid] = entry
    if any(tip not in final for tip in [*info.tags.values(), *info.branches.values()]):
        raise _RepoChanged
    return replace(info, snapshots=final), UpdateRecord(UpdateKind.GC_RAN, 0)


@dataclass
class _Phase:
    """Deletes one kind of object and reports into the summary."""

    storage: Storage
    dry_run: bool
    summary: GCSummary
    failed: bool = False

    async def run(self, candidates: list[Listed]) -> int:
        deleted = 0
        for start in range(0, len(candidates), DELETE_BATCH):
            batch = candidates[start : start + DELETE_BATCH]
            if not self.dry_run:
                try:
                    await self.storage.delete_batch([c.key for c in batch])
                except StorageError as exc:
                    self._record_failure(len(batch), str(exc))
                    continue
            deleted += len(batch)
            self.summary.bytes_deleted += sum(c.size for c in batch)
        return deleted

    def _record_failure(self, count: int, message: str) -> None:
        self.failed = True
        self.summary.objects_failed_to_delete += count
        errors = self.summary.delete_errors
        if len(errors) < MAX_REPORTED_ERRORS and message not in errors:
            errors.append(message)


def _garbage(listed: dict[IdT, Listed], keep: set[IdT], cutoff: dt.datetime) -> list[Listed]:
    return [
        item
        for oid, item in sorted(listed.items())
        if oid not in keep and created_entirely_before(item.created_at, cutoff)
    ]


async def _one_attempt(
    core: RepoCore, cutoff: dt.datetime, dry_run: bool, limits: GCLimits
) -> GCSummary:
    storage = core.storage
    listed_snaps = await list_objects(storage, SNAPSHOTS, SnapshotId)
    info = await core.info()
    reachable = reachable_snapshots(info)
    # Spec v1 lists no snapshots: only the refs (not deleted tags) protect anything.
    listed_in_info = set(info.snapshots) if core.spec_version >= 2 else set()
    young_unreachable = {
        sid
        for sid in listed_in_info
        if sid not in reachable
        and not (
            sid in listed_snaps and created_entirely_before(listed_snaps[sid].created_at, cutoff)
        )
    }
    retained = await _retain(core, reachable | young_unreachable, limits)
    keep = set(retained.snapshots)
    drop = set(info.snapshots) - keep
    pruned_source = info
    if not dry_run:
        state = await core.refs.update(lambda current: _drop_from_info(current, keep, drop))
        pruned_source = state.info
        late = keep - retained.snapshots
        if late:
            # Committed while we walked: their objects are normally younger than the
            # cutoff, but a cutoff in the future would doom them, so protect them.
            extra = await _retain(core, late, limits)
            retained.manifests |= extra.manifests
            retained.chunks |= extra.chunks
    summary = GCSummary()
    phase = _Phase(storage, dry_run, summary)
    summary.snapshots_deleted = await phase.run(_garbage(listed_snaps, keep, cutoff))
    keep_logs = set(keep)
    for entry in pruned_source.snapshots.values():
        keep_logs.update(entry.pruned_ancestor_tx_logs or ())
    steps: list[tuple[str, Callable[[], Awaitable[list[Listed]]]]] = [
        (
            "transaction_logs",
            lambda: _candidates(storage, TRANSACTIONS, SnapshotId, keep_logs, cutoff),
        ),
        (
            "manifests",
            lambda: _candidates(storage, MANIFESTS, ManifestId, retained.manifests, cutoff),
        ),
        ("chunks", lambda: _candidates(storage, CHUNKS, ChunkId, retained.chunks, cutoff)),
    ]
    for name, candidates in steps:
        if phase.failed:
            summary.skipped_phases.append(name)
            continue
        count = await phase.run(await candidates())
        setattr(summary, f"{name}_deleted", count)
    if not dry_run and not phase.failed:
        reclaimed = await storage._reclaim_abandoned_writes(cutoff)
        if reclaimed:
            _log.info("removed %d temporary files of interrupted writes", reclaimed)
    return summary


async def _candidates(
    storage: Storage, prefix: str, id_type: type[IdT], keep: set[IdT], cutoff: dt.datetime
) -> list[Listed]:
    return _garbage(await list_objects(storage, prefix, id_type), keep, cutoff)


async def garbage_collect(
    core: RepoCore,
    delete_object_older_than: dt.datetime,
    *,
    dry_run: bool = False,
    limits: GCLimits | None = None,
) -> GCSummary:
    """Delete unreachable objects written before the cutoff; see ``Repository``."""
    to_micros(delete_object_older_than, "delete_object_older_than")
    cutoff = delete_object_older_than.astimezone(dt.UTC)
    await check_maintenance_allowed(core, "garbage collect")
    await _check_online(core)
    for _ in range(MAX_ATTEMPTS):
        try:
            return await _one_attempt(core, cutoff, bool(dry_run), limits or GCLimits())
        except _RepoChanged:
            continue
    raise ConflictError(
        message="the repository kept changing while garbage collection ran; retry it later",
        kind=ErrorKind.REPO_INFO_UPDATED,
    )


async def _check_online(core: RepoCore) -> None:
    from icechunk._admin_core import refuse_if_not_online

    refuse_if_not_online(await core.info(), "cannot garbage collect")
