"""Upgrade a spec-v1 repository to spec v2 in place.

Spec v1 keeps refs as one small JSON object per branch and tag and has no repo file.
Upgrading writes the spec-v2 ``repo`` file (refs, every snapshot reachable from a ref, an
ops log reconstructed from the history, status online) with a create-only put, then
deletes the v1 ref objects. Snapshots, manifests, transaction logs and chunks stay as they
are: spec v2 readers dispatch on each file's own header, so v1 files remain readable.

The repo file is the commit point: until it exists the repository is still v1 and
readable by 1.x; after it exists 2.x opens it even if the ref cleanup did not finish.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import replace
from typing import TYPE_CHECKING, NoReturn

from icechunk._sync import sync
from icechunk.errors import ErrorKind, NotFoundError, SessionStateError
from icechunk.format import v1
from icechunk.format.ids import SnapshotId
from icechunk.format.model import (
    RepoInfo,
    RepoStatusData,
    SnapshotEntry,
    UpdateKind,
    UpdateRecord,
)
from icechunk.refs import RepoInfoStore, now_micros

if TYPE_CHECKING:
    from icechunk.repository import Repository
    from icechunk.storage import Storage

__all__ = ["upgrade_icechunk_repository", "upgrade_icechunk_repository_async"]

V1_CONFIG_KEY = "config.yaml"
_MILLI = 1_000


class _InvalidatedCore:
    """Stands in for the core of a repository handle that an upgrade made stale."""

    def __getattr__(self, name: str) -> NoReturn:
        raise RuntimeError(
            "This repository has been invalidated by upgrade_icechunk_repository(). "
            "Use the new Repository object returned by that function instead."
        )


async def upgrade_icechunk_repository_async(
    repo: Repository,
    *,
    dry_run: bool,
    delete_unused_v1_files: bool = True,
    prefetch_concurrency: int | None = None,
) -> Repository:
    """Async form of :func:`upgrade_icechunk_repository`."""
    from icechunk.repository import Repository

    core = repo._core
    if core.spec_version != 1:
        raise SessionStateError(
            f"invalid repository version ({core.spec_version}.0), this function can only "
            "migrate repositories that use version 1.0 of the specification, to "
            "repositories with spec version 2.0",
            ErrorKind.UNSUPPORTED_OPERATION_FOR_VERSION,
        )
    v1_info = (await core.refs.fetch()).info
    deleted_targets = await _deleted_tag_targets(core.storage, v1_info.deleted_tags)
    upgraded = _v2_info(v1_info, deleted_targets)
    if dry_run:
        return repo
    await RepoInfoStore(core.storage).create(upgraded)
    if delete_unused_v1_files:
        await _delete_v1_files(core.storage)
    config = core.config
    repo._core = _InvalidatedCore()  # type: ignore[assignment]
    return await Repository.open_async(core.storage, config)


def upgrade_icechunk_repository(
    repo: Repository,
    *,
    dry_run: bool,
    delete_unused_v1_files: bool = True,
    prefetch_concurrency: int | None = None,
) -> Repository:
    """Migrate a spec-v1 repository (Icechunk 1.x) to spec v2 (Icechunk 2.x).

    Run it with no other reader or writer on the repository. Data files are not
    rewritten, so the upgrade takes one read per snapshot plus one write.

    Parameters
    ----------
    repo : Repository
        An open spec-v1 repository. After a real (not dry) run this handle is
        invalidated: use the returned one.
    dry_run : bool
        Check that the upgrade can be done and change nothing.
    delete_unused_v1_files : bool, optional
        Delete the v1 ref objects and ``config.yaml`` once the v2 repo file is written.
    prefetch_concurrency : int, optional
        Accepted for API compatibility; snapshots are read concurrently anyway.

    Returns
    -------
    Repository
        The upgraded repository, or ``repo`` itself for a dry run.

    Raises
    ------
    SessionStateError
        If the repository is not a spec-v1 repository.
    """
    return sync(
        upgrade_icechunk_repository_async(
            repo,
            dry_run=dry_run,
            delete_unused_v1_files=delete_unused_v1_files,
            prefetch_concurrency=prefetch_concurrency,
        )
    )


async def _deleted_tag_targets(storage: Storage, names: frozenset[str]) -> dict[str, SnapshotId]:
    async def one(name: str) -> tuple[str, SnapshotId | None]:
        try:
            return name, v1.decode_ref(await storage.get(v1.tag_ref_key(name)))
        except NotFoundError:
            return name, None

    found = await asyncio.gather(*(one(n) for n in sorted(names)))
    return {name: sid for name, sid in found if sid is not None}


def _v2_info(info: RepoInfo, deleted_targets: dict[str, SnapshotId]) -> RepoInfo:
    now = now_micros()
    history = _reconstructed_history(info, deleted_targets, now)
    # The status counts as set when the repository was created, like the reference upgrade.
    initialized = history[0].updated_at if history else now
    return replace(
        info,
        snapshots=_reachable_from_refs(info),
        status=RepoStatusData(set_at=initialized),
        latest_updates=tuple(reversed(history)),
        spec_version=2,
        config=None,
    )


def _reachable_from_refs(info: RepoInfo) -> dict[SnapshotId, SnapshotEntry]:
    """The snapshots a live branch or tag reaches: a deleted tag's target, or a snapshot
    expiration cut loose, stays out of the upgraded repository (as in the reference)."""
    kept: dict[SnapshotId, SnapshotEntry] = {}
    for tip in [*info.branches.values(), *info.tags.values()]:
        current: SnapshotId | None = tip
        while current is not None and current not in kept:
            entry = info.snapshots.get(current)
            if entry is None:
                break
            kept[current] = entry
            current = entry.parent_id
    return kept


def _reconstructed_history(
    info: RepoInfo, deleted_targets: dict[str, SnapshotId], now: int
) -> list[UpdateRecord]:
    """Ops-log entries oldest first, timed from the snapshots they describe.

    v1 keeps no log, so: the initial commit, one ``NewCommit`` per snapshot (credited to
    ``main`` first, then the other branches by name), each tag created 1 ms after its
    target, each deleted tag deleted 1 ms after that, each non-main branch created 1 ms
    after its tip, and finally the migration itself. Times are made strictly increasing.
    """
    snaps = info.snapshots
    events: list[tuple[int, UpdateRecord]] = []
    for entry in snaps.values():
        if entry.parent_id is None:
            events.append((entry.flushed_at, UpdateRecord(UpdateKind.REPO_INITIALIZED, 0)))
    for sid, branch in _commit_owners(info).items():
        record = UpdateRecord(UpdateKind.NEW_COMMIT, 0, name=branch, new_snap_id=sid)
        events.append((snaps[sid].flushed_at, record))
    for name, target in sorted(info.tags.items()):
        events.append((_time_of(snaps, target) + _MILLI, _named(UpdateKind.TAG_CREATED, name)))
    for name, target in sorted(deleted_targets.items()):
        created = _time_of(snaps, target) + _MILLI
        events.append((created, _named(UpdateKind.TAG_CREATED, name)))
        deleted = UpdateRecord(UpdateKind.TAG_DELETED, 0, name=name, previous_snap_id=target)
        events.append((created + _MILLI, deleted))
    for name, tip in sorted(info.branches.items()):
        if name != "main":
            events.append((_time_of(snaps, tip) + _MILLI, _named(UpdateKind.BRANCH_CREATED, name)))
    events.sort(key=lambda item: item[0])
    history: list[UpdateRecord] = []
    last = -1
    for when, record in events:
        last = max(when, last + 1)
        history.append(replace(record, updated_at=min(last, now - 1)))
    migrated = UpdateRecord(
        UpdateKind.REPO_MIGRATED, max(now, last + 1), from_version=1, to_version=2
    )
    history.append(migrated)
    return history


def _named(kind: UpdateKind, name: str) -> UpdateRecord:
    return UpdateRecord(kind, 0, name=name)


def _time_of(snaps: Mapping[SnapshotId, SnapshotEntry], sid: SnapshotId) -> int:
    entry = snaps.get(sid)
    return entry.flushed_at if entry is not None else 0


def _commit_owners(info: RepoInfo) -> dict[SnapshotId, str]:
    """Each non-initial snapshot credited to the first branch (main first) that has it."""
    owners: dict[SnapshotId, str] = {}
    order = sorted(info.branches, key=lambda name: (name != "main", name))
    for name in order:
        current: SnapshotId | None = info.branches[name]
        while current is not None and current not in owners:
            entry = info.snapshots.get(current)
            if entry is None or entry.parent_id is None:
                break
            owners[current] = name
            current = entry.parent_id
    return owners


async def _delete_v1_files(storage: Storage) -> None:
    keys = [obj.key async for obj in storage.list(v1.REFS_PREFIX)]
    if await storage.exists(V1_CONFIG_KEY):
        keys.append(V1_CONFIG_KEY)
    if keys:
        await storage.delete_batch(keys)
