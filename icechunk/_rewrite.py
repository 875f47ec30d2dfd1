"""``Repository.rewrite_manifests``: commit the branch tip again with freshly written manifests.

Every array's chunk refs, wherever they were spread, are gathered and written to new
manifest files; nodes, data and history are otherwise unchanged, so the new snapshot's
transaction log is empty (or, when amending, the amended commit's). The splitting
configuration in effect is recorded in the commit metadata, as the real library does.
Manifest splitting itself is not applied by pyicechunk's writer yet: each array gets one
manifest.
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING, Any

from icechunk.errors import ConflictError, ErrorKind, InvalidInputError, RefNotFoundError
from icechunk.format._repo_snapshots import with_snapshot
from icechunk.format.ids import ManifestId, SnapshotId
from icechunk.format.manifest import ChunkTable, Manifest
from icechunk.format.model import (
    ManifestFileInfo,
    ManifestRef,
    NodeSnapshot,
    RepoInfo,
    Snapshot,
    SnapshotEntry,
    TransactionLog,
    UpdateKind,
    UpdateRecord,
)
from icechunk.refs import now_micros

if TYPE_CHECKING:
    from icechunk._repo_core import RepoCore

__all__ = ["rewrite_manifests"]

COMMIT_METHODS = ("new_commit", "amend")
#: What the real library records when no splitting is configured: one split per array.
_NO_SPLITTING = {
    "split_sizes": [
        [{"path_matches": {"regex": ".*"}}, [{"num_chunks": 4294967295, "condition": "Any"}]]
    ]
}


def _splitting_json(core: RepoCore) -> dict[str, Any]:
    manifest = getattr(core.config, "manifest", None)
    splitting = getattr(manifest, "splitting", None)
    if splitting is None:
        return _NO_SPLITTING
    described: dict[str, Any] = splitting._to_dict()
    return described


async def _merged_table(core: RepoCore, node: NodeSnapshot) -> ChunkTable | None:
    assert node.array is not None
    table: ChunkTable | None = None
    for ref in node.array.manifests:
        part = (await core.assets.fetch_manifest(ref.object_id)).arrays.get(node.id)
        if part is not None:
            table = part if table is None else table.merge(dict(part.items()))
    return table


async def _rewrite_node(
    core: RepoCore, node: NodeSnapshot
) -> tuple[NodeSnapshot, list[ManifestFileInfo]]:
    if node.array is None:
        return node, []
    table = await _merged_table(core, node)
    if table is None or not len(table):
        return replace(node, array=replace(node.array, manifests=())), []
    manifest = Manifest(ManifestId.random(), {node.id: table})
    size = await core.assets.write_manifest(manifest)
    ref = ManifestRef(manifest.id, table.extents())
    info = ManifestFileInfo(manifest.id, size, len(table))
    return replace(node, array=replace(node.array, manifests=(ref,))), [info]


async def rewrite_manifests(
    core: RepoCore,
    message: str,
    *,
    branch: str,
    metadata: dict[str, Any] | None,
    commit_method: str,
) -> str:
    """Rewrite every manifest of ``branch``'s tip and commit; see ``Repository``."""
    if commit_method not in COMMIT_METHODS:
        raise InvalidInputError(
            f"Invalid commit method: {commit_method!r}. Expected 'new_commit' or 'amend'."
        )
    from icechunk._expire import check_maintenance_allowed

    await check_maintenance_allowed(core, "rewrite manifests")
    tip = await core.lookup_branch(branch)
    base = await core.assets.fetch_snapshot(tip)
    nodes, files = [], []
    for node in base.nodes:
        new_node, infos = await _rewrite_node(core, node)
        nodes.append(new_node)
        files.extend(infos)
    user = dict(metadata or {})
    marker = dict(user.get("__icechunk") or {})
    marker["splitting_config"] = _splitting_json(core)
    snap = Snapshot(
        id=SnapshotId.random(),
        flushed_at=now_micros(),
        message=message,
        metadata={"__icechunk": marker, **{k: v for k, v in user.items() if k != "__icechunk"}},
        nodes=tuple(nodes),
        manifest_files=tuple(sorted(files, key=lambda f: f.id)),
    )
    amend = commit_method == "amend"
    log = await core.assets.fetch_transaction_log(tip) if amend else TransactionLog(id=snap.id)
    await core.assets.write_transaction_log(replace(log, id=snap.id))
    await core.assets.write_snapshot(snap)
    await core.refs.update(lambda info: _move_branch(info, branch, tip, snap, amend))
    return str(snap.id)


def _move_branch(
    info: RepoInfo, branch: str, tip: SnapshotId, snap: Snapshot, amend: bool
) -> tuple[RepoInfo, UpdateRecord]:
    current = info.branches.get(branch)
    if current is None:
        raise RefNotFoundError(f"ref not found `{branch}`", ErrorKind.REF_NOT_FOUND)
    if current != tip:
        raise ConflictError(str(tip), str(current))
    parent = info.snapshots[tip].parent_id if amend else tip
    if amend and parent is None:
        raise InvalidInputError(
            "cannot amend the repository's initial snapshot", ErrorKind.INVALID_REF_TYPE
        )
    # An amended commit keeps standing for the ancestors an expiration folded into it.
    pruned = info.snapshots[tip].pruned_ancestor_tx_logs if amend else None
    entry = SnapshotEntry(snap.id, parent, snap.flushed_at, snap.message, snap.metadata, pruned)
    new = replace(
        info,
        branches={**info.branches, branch: snap.id},
        snapshots=with_snapshot(info.snapshots, entry),
    )
    if amend:
        record = UpdateRecord(
            UpdateKind.COMMIT_AMENDED, 0, name=branch, previous_snap_id=tip, new_snap_id=snap.id
        )
    else:
        record = UpdateRecord(UpdateKind.NEW_COMMIT, 0, name=branch, new_snap_id=snap.id)
    return new, record
