"""Snapshot expiration: drop history older than a time bound from the repo info file.

Expiration only rewrites the ``repo`` object (one compare-and-swap); it deletes no
object. The snapshots it releases become garbage for :mod:`icechunk._gc` once nothing
points at them. A kept snapshot whose parent is released is re-parented onto the root of
its tree, and the ids of the ancestors it skipped are recorded in its
``pruned_ancestor_tx_logs`` so the transaction logs that describe its changes since the
root stay reachable (spec 2.1).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator, Mapping
from dataclasses import replace
from typing import TYPE_CHECKING

from icechunk._repo_core import MAIN
from icechunk.format.ids import INITIAL_SNAPSHOT_ID, SnapshotId
from icechunk.format.model import RepoInfo, SnapshotEntry, UpdateKind, UpdateRecord

if TYPE_CHECKING:
    from icechunk._repo_core import RepoCore

__all__ = [
    "ExpirationPlan",
    "check_maintenance_allowed",
    "expire_snapshots",
    "plan_expiration",
    "reparent_and_prune",
    "to_micros",
]

Snapshots = Mapping[SnapshotId, SnapshotEntry]


def to_micros(when: dt.datetime, what: str = "older_than") -> int:
    """Microseconds since the epoch of an aware datetime.

    Raises
    ------
    TypeError
        For anything but a timezone-aware :class:`datetime.datetime`, with the messages
        the real library gives.
    """
    if not isinstance(when, dt.datetime):
        raise TypeError(f"'{type(when).__name__}' object is not an instance of 'datetime'")
    if when.tzinfo is None or when.utcoffset() is None:
        raise TypeError("expected a datetime with non-None tzinfo")
    delta = when - dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def _ancestors(snapshots: Snapshots, start: SnapshotId) -> Iterator[SnapshotEntry]:
    """``start`` and its ancestors, newest first, as the repo info records them."""
    current: SnapshotId | None = start
    seen: set[SnapshotId] = set()
    while current is not None and current not in seen:
        entry = snapshots.get(current)
        if entry is None:
            return
        seen.add(current)
        yield entry
        current = entry.parent_id


def reparent_and_prune(
    snapshots: Snapshots,
    edited: SnapshotEntry,
    is_boundary: Callable[[SnapshotEntry], bool],
) -> tuple[SnapshotId | None, tuple[SnapshotId, ...]]:
    """Collapse the ancestors of ``edited`` below the first one that ``is_boundary``.

    Returns
    -------
    tuple
        ``(new_parent, pruned)``: the boundary ancestor (None when no ancestor is one)
        and, oldest first, every collapsed ancestor's own pruned ids followed by its id,
        then the pruned ids ``edited`` already carried.
    """
    collapsed: list[SnapshotEntry] = []
    new_parent: SnapshotId | None = None
    for ancestor in list(_ancestors(snapshots, edited.id))[1:]:
        if is_boundary(ancestor):
            new_parent = ancestor.id
            break
        collapsed.append(ancestor)
    pruned: list[SnapshotId] = []
    for ancestor in reversed(collapsed):
        pruned.extend(ancestor.pruned_ancestor_tx_logs or ())
        pruned.append(ancestor.id)
    pruned.extend(edited.pruned_ancestor_tx_logs or ())
    return new_parent, tuple(pruned)


class ExpirationPlan:
    """What one expiration does to a repo info: the new info and the released ids."""

    def __init__(self, info: RepoInfo, released: set[SnapshotId]) -> None:
        self.info = info
        self.released = released


def _root_of_each(info: RepoInfo) -> dict[SnapshotId, SnapshotId]:
    """For every non-root snapshot reachable from a ref, the root of its tree."""
    roots: dict[SnapshotId, SnapshotId] = {}
    tips = [*sorted(info.tags.items()), *sorted(info.branches.items())]
    for _, tip in tips:
        chain = list(_ancestors(info.snapshots, tip))
        root = next((e.id for e in chain if e.parent_id is None), INITIAL_SNAPSHOT_ID)
        for entry in chain:
            if entry.parent_id is not None:
                roots.setdefault(entry.id, root)
    return roots


def _released(
    expired: set[SnapshotId], info: RepoInfo, delete_branches: bool, delete_tags: bool
) -> set[SnapshotId]:
    """Expired snapshots minus the ref tips that expiration must keep."""
    protected: set[SnapshotId] = {info.branches[MAIN]} if MAIN in info.branches else set()
    if not delete_tags:
        protected.update(info.tags.values())
    if not delete_branches:
        protected.update(info.branches.values())
    return expired - protected


def plan_expiration(
    info: RepoInfo, older_than: int, *, delete_branches: bool, delete_tags: bool
) -> ExpirationPlan:
    """Compute the repo info after expiring snapshots flushed before ``older_than`` (µs).

    Root snapshots are never expired, nor is ``main``'s tip; other ref tips are kept
    unless their kind of ref is being deleted, in which case the refs go too.
    """
    expired = {
        sid
        for sid, e in info.snapshots.items()
        if e.flushed_at < older_than and e.parent_id is not None
    }
    released = _released(expired, info, delete_branches, delete_tags)
    roots = _root_of_each(info)

    def is_root(entry: SnapshotEntry) -> bool:
        return entry.parent_id is None

    retained: dict[SnapshotId, SnapshotEntry] = {}
    for sid, entry in info.snapshots.items():
        if sid in released:
            continue
        if entry.parent_id is not None and entry.parent_id in released:
            _, pruned = reparent_and_prune(info.snapshots, entry, is_root)
            parent = roots.get(sid, INITIAL_SNAPSHOT_ID)
            entry = replace(entry, parent_id=parent, pruned_ancestor_tx_logs=pruned or None)
        retained[sid] = entry
    gone_tags = {n for n, s in info.tags.items() if delete_tags and s in expired}
    gone_branches = {
        n for n, s in info.branches.items() if delete_branches and n != MAIN and s in expired
    }
    new_info = replace(
        info,
        tags={n: s for n, s in info.tags.items() if n not in gone_tags},
        branches={n: s for n, s in info.branches.items() if n not in gone_branches},
        deleted_tags=info.deleted_tags | gone_tags,
        snapshots=retained,
    )
    return ExpirationPlan(new_info, released)


async def check_maintenance_allowed(core: RepoCore, operation: str) -> None:
    """Refuse maintenance on read-only storage (spec-v1 repositories are supported)."""
    if not core.storage.can_write:
        from icechunk.errors import ErrorKind, ReadOnlyError

        raise ReadOnlyError(
            f"cannot {operation}: the storage is read-only", ErrorKind.READ_ONLY_STORAGE
        )


async def expire_snapshots(
    core: RepoCore,
    older_than: dt.datetime,
    *,
    delete_expired_branches: bool = False,
    delete_expired_tags: bool = False,
) -> set[str]:
    """Expire snapshots flushed strictly before ``older_than``; see ``Repository``."""
    cutoff = to_micros(older_than)
    await check_maintenance_allowed(core, "expire snapshots")
    if core.spec_version == 1:
        from icechunk._expire_v1 import expire_snapshots_v1

        return await expire_snapshots_v1(
            core,
            cutoff,
            delete_branches=bool(delete_expired_branches),
            delete_tags=bool(delete_expired_tags),
        )
    outcome: list[set[SnapshotId]] = []

    def mutate(info: RepoInfo) -> tuple[RepoInfo, UpdateRecord]:
        plan = plan_expiration(
            info,
            cutoff,
            delete_branches=bool(delete_expired_branches),
            delete_tags=bool(delete_expired_tags),
        )
        outcome[:] = [plan.released]
        return plan.info, UpdateRecord(UpdateKind.EXPIRATION_RAN, 0)

    await core.refs.update(mutate)
    return {str(sid) for sid in outcome[0]}
