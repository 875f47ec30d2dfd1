"""Snapshot expiration on spec-v1 repositories.

A v1 repository has no repo file: history is the chain of ``parent_id`` links stored in
the snapshot files themselves, and refs are create-only JSON objects. Expiration follows
the algorithm icechunk 1.x defined for that layout, which icechunk 2.x still runs on v1
repositories:

- refs are processed one at a time, live tags first, then branches, each group in
  lexicographic order;
- along a ref's ancestry the snapshots flushed before the bound are *released*, except
  the root of the chain; the oldest snapshot that is not expired (or the ref's tip, when
  even the tip is expired) is rewritten in place with the root as its parent;
- nothing happens for a ref whose tip is the root or already a child of the root;
- a ref whose tip is expired is deleted when asked (never ``main``): branch ref objects
  are removed, tags get their tombstone.

The result is the union of every ref's released snapshots; some may still be the tip of
another ref (the real wheel reports them too). No object is deleted here: that is
:mod:`icechunk._gc`'s job, which on v1 finds reachability through the rewritten parents.
"""

from __future__ import annotations

import contextlib
from dataclasses import replace
from typing import TYPE_CHECKING

from icechunk._repo_core import MAIN
from icechunk.errors import NotFoundError
from icechunk.format import v1
from icechunk.format.ids import SnapshotId
from icechunk.storage import ConditionalPutFailed, PutMode

if TYPE_CHECKING:
    from icechunk._repo_core import RepoCore
    from icechunk.format.model import Snapshot

__all__ = ["expire_snapshots_v1"]


async def _ref_tips(core: RepoCore) -> list[tuple[str, str, SnapshotId]]:
    """``(kind, name, tip)`` of every live ref, tags first, each kind sorted by name."""
    keys = [obj.key async for obj in core.storage.list(v1.REFS_PREFIX)]
    refs = [("tag", n) for n in v1.tag_names(keys)]
    refs += [("branch", n) for n in v1.branch_names(keys)]
    tips = []
    for kind, name in refs:
        key = v1.tag_ref_key(name) if kind == "tag" else v1.branch_ref_key(name)
        try:
            tips.append((kind, name, v1.decode_ref(await core.storage.get(key))))
        except NotFoundError:  # deleted while we listed
            continue
    return tips


async def _ancestry(core: RepoCore, tip: SnapshotId) -> list[Snapshot]:
    """``tip`` and its ancestors, newest first, as the snapshot files say now."""
    chain: list[Snapshot] = []
    current: SnapshotId | None = tip
    seen: set[SnapshotId] = set()
    while current is not None and current not in seen:
        seen.add(current)
        snap = await core.assets.fetch_snapshot(current)
        chain.append(snap)
        current = snap.parent_id
    return chain


async def _expire_ref(core: RepoCore, tip: SnapshotId, cutoff: int) -> tuple[set[SnapshotId], bool]:
    """Expire one ref's ancestry; return the released ids and whether the tip expired."""
    chain = await _ancestry(core, tip)
    tip_expired = bool(chain) and chain[0].flushed_at < cutoff
    editable = chain[0]
    root_id = tip
    released: set[SnapshotId] = set()
    for snap in chain:
        if snap.flushed_at >= cutoff:
            editable = snap
        else:
            released.add(snap.id)
            root_id = snap.id
    released.discard(root_id)
    if editable.id == root_id or editable.parent_id == root_id or root_id == tip:
        return set(), tip_expired
    root = await core.assets.fetch_snapshot(root_id)
    if editable.parent_id is None or root.parent_id is not None:
        return set(), tip_expired  # never edit a root, only adopt onto one
    await core.assets.write_snapshot(replace(editable, parent_id=root.id))
    return released, tip_expired


async def _delete_ref(core: RepoCore, kind: str, name: str) -> None:
    if kind == "branch":
        await core.storage.delete_batch([v1.branch_ref_key(name)])
        return
    with contextlib.suppress(ConditionalPutFailed):  # deleted concurrently: same outcome
        await core.storage.put(v1.tag_tombstone_key(name), b"", mode=PutMode.CREATE)


async def expire_snapshots_v1(
    core: RepoCore, cutoff: int, *, delete_branches: bool, delete_tags: bool
) -> set[str]:
    """Expire the history of a spec-v1 repository before ``cutoff`` (µs, exclusive).

    Returns
    -------
    set[str]
        Every snapshot released from some ref's ancestry.
    """
    released: set[SnapshotId] = set()
    for kind, name, tip in await _ref_tips(core):
        gone, tip_expired = await _expire_ref(core, tip, cutoff)
        released |= gone
        if not tip_expired:
            continue
        if (kind == "tag" and delete_tags) or (
            kind == "branch" and delete_branches and name != MAIN
        ):
            await _delete_ref(core, kind, name)
    return {str(sid) for sid in released}
