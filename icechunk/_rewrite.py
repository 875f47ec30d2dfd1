"""``Repository.rewrite_manifests``: commit the branch tip again with freshly written manifests.

Every array's chunk refs, wherever they were spread, are gathered and written to new
manifest files; nodes, data and history are otherwise unchanged, so the new snapshot's
transaction log is empty (or, when amending, the amended commit's). The splitting
configuration in effect is recorded in the commit metadata, as the real library does.
Each array's refs are split as ``ManifestConfig.splitting`` says (see
:mod:`icechunk._manifest_split`), every non-empty split getting a fresh manifest.
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING, Any

from icechunk._manifest_split import SplitWriter, array_splits, splitting_config
from icechunk.changeset import ArrayMeta
from icechunk.errors import (
    ConflictError,
    ErrorKind,
    FormatError,
    InvalidInputError,
    RefNotFoundError,
)
from icechunk.format._repo_snapshots import with_snapshot
from icechunk.format.ids import ManifestId, SnapshotId
from icechunk.format.model import (
    ManifestFileInfo,
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


async def _rewrite_node(
    core: RepoCore, node: NodeSnapshot, known: dict[ManifestId, ManifestFileInfo]
) -> tuple[NodeSnapshot, list[ManifestFileInfo]]:
    if node.array is None:
        return node, []
    meta = ArrayMeta(node.user_data, node.array.shape, node.array.dimension_names)
    splits = array_splits(splitting_config(core.config), node.path, meta)
    writer = SplitWriter(core.assets, node.id, known)
    await writer.flush(splits, node.array.manifests, {}, rewrite_all=True)
    return replace(node, array=replace(node.array, manifests=tuple(writer.refs))), writer.infos


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
    amend = commit_method == "amend"
    if amend and core.spec_version < 2:
        raise FormatError(
            "amend is not supported for spec version 1 repositories, use new commit instead",
            ErrorKind.UNSUPPORTED_OPERATION_FOR_VERSION,
        )
    tip = await core.lookup_branch(branch)
    base = await core.assets.fetch_snapshot(tip)
    nodes, files = [], []
    known = {m.id: m for m in base.manifest_files}
    for node in base.nodes:
        new_node, infos = await _rewrite_node(core, node, known)
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
        parent_id=None if amend else tip,  # stored only by spec-v1 snapshot files
    )
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
