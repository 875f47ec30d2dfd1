"""Debugging views of stored objects as plain dicts, in the real library's JSON layout.

``Repository.inspect_snapshot`` / ``inspect_manifest`` / ``inspect_transaction_log`` /
``inspect_repo_info`` read one object straight from storage and describe it, header
included (which implementation wrote it, spec version, file type, compression).
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any

import numpy as np

from icechunk.asset_manager import MANIFESTS, REPO_INFO_KEY, SNAPSHOTS, TRANSACTIONS
from icechunk.errors import NotFoundError
from icechunk.format._manifest_numpy import INLINE, NATIVE, VIRTUAL
from icechunk.format.header import FileType, decode_file, read_header
from icechunk.format.ids import ManifestId
from icechunk.format.manifest import decode_manifest, location_compression_summary
from icechunk.format.model import (
    NodeSnapshot,
    RepoInfo,
    SnapshotEntry,
    TransactionLog,
    UpdateKind,
    UpdateRecord,
)
from icechunk.format.repo_info import decode_repo_info
from icechunk.format.snapshot import decode_snapshot
from icechunk.format.txlog import decode_transaction_log

if TYPE_CHECKING:
    from icechunk._repo_core import RepoCore

__all__ = [
    "inspect_manifest",
    "inspect_repo_info",
    "inspect_snapshot",
    "inspect_transaction_log",
]

_FILE_TYPES = {
    FileType.SNAPSHOT: "snapshot",
    FileType.MANIFEST: "manifest",
    FileType.TRANSACTION_LOG: "transaction-log",
    FileType.REPO_INFO: "repo-info",
}


def _time(micros: int) -> str:
    secs, rest = divmod(micros, 1_000_000)
    when = dt.datetime.fromtimestamp(secs, tz=dt.UTC).replace(microsecond=rest)
    return when.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _header(data: bytes, file_type: FileType) -> dict[str, Any]:
    spec, writer = read_header(data, file_type)
    app, _, version = writer.partition("-")
    return {
        "written_by": writer,
        "app_name": app,
        "app_version": version,
        "spec_version": f"{spec}.0",
        "file_type": _FILE_TYPES[file_type],
        "compression": "zstd" if data[38] == 1 else "none",
    }


def _node(node: NodeSnapshot) -> dict[str, Any]:
    out: dict[str, Any] = {"id": str(node.id), "path": node.path}
    if node.array is None:
        out["node_type"] = "group"
        return out
    names = node.array.dimension_names or (None,) * len(node.array.shape)
    shape = []
    for dim, name in zip(node.array.shape, names, strict=False):
        entry: dict[str, Any] = {} if name is None else {"name": name}
        entry.update(array_length=dim.array_length, num_chunks=dim.num_chunks)
        shape.append(entry)
    refs = [
        {"id": str(ref.object_id), "extents": [list(e) for e in ref.extents]}
        for ref in node.array.manifests
    ]
    out.update(node_type="array", shape=shape, manifest_refs=refs)
    return out


async def inspect_snapshot(core: RepoCore, snapshot_id: str) -> dict[str, Any]:
    """Id, header, time, message, metadata, manifests and nodes of one snapshot."""
    sid = await core.resolve_snapshot(snapshot_id)
    data = await core.storage.get(SNAPSHOTS + str(sid))
    snap = decode_snapshot(data)
    return {
        "id": str(snap.id),
        "header": _header(data, FileType.SNAPSHOT),
        "flushed_at": _time(snap.flushed_at),
        "commit_message": snap.message,
        "metadata": snap.metadata,
        "manifests": [
            {"id": str(m.id), "size_bytes": m.size_bytes, "num_chunk_refs": m.num_chunk_refs}
            for m in snap.manifest_files
        ],
        "nodes": [_node(n) for n in sorted(snap.nodes, key=lambda n: n.path.encode())],
    }


async def inspect_manifest(core: RepoCore, manifest_id: str) -> dict[str, Any]:
    """Id, header, decoded size and per-array chunk ref counts of one manifest."""
    mid = ManifestId.parse(manifest_id)
    data = await core.storage.get(MANIFESTS + str(mid))
    _, payload = decode_file(data, FileType.MANIFEST)
    manifest = decode_manifest(data)
    arrays: list[dict[str, Any]] = []
    for node_id, table in manifest.arrays.items():
        kinds = np.asarray(table.kinds)
        arrays.append(
            {
                "node_id": str(node_id),
                "num_chunk_refs": len(table),
                "num_inline": int((kinds == INLINE).sum()),
                "num_native": int((kinds == NATIVE).sum()),
                "num_virtual": int((kinds == VIRTUAL).sum()),
            }
        )
    totals = {
        k: sum(int(a[k]) for a in arrays) for k in ("num_inline", "num_native", "num_virtual")
    }
    uses_dictionary, compressed_refs = location_compression_summary(data)
    return {
        "id": str(mid),
        "header": _header(data, FileType.MANIFEST),
        "size_bytes": len(payload),
        "num_arrays": len(arrays),
        "total_chunk_refs": sum(int(a["num_chunk_refs"]) for a in arrays),
        "total_inline": totals["num_inline"],
        "total_native": totals["num_native"],
        "total_virtual": totals["num_virtual"],
        "arrays": arrays,
        "compression": {
            "uses_location_compression": uses_dictionary,
            "num_compressed_refs": compressed_refs,
        },
    }


def _ids(values: frozenset[Any]) -> list[str]:
    return sorted(str(v) for v in values)


def _merge_logs(logs: list[TransactionLog]) -> TransactionLog:
    """Union of several logs' changes (the span an expired snapshot now stands for)."""
    chunks: dict[Any, frozenset[tuple[int, ...]]] = {}
    for log in logs:
        for node, coords in log.updated_chunks.items():
            chunks[node] = chunks.get(node, frozenset()) | coords
    return TransactionLog(
        id=logs[-1].id,
        new_groups=frozenset().union(*(log.new_groups for log in logs)),
        new_arrays=frozenset().union(*(log.new_arrays for log in logs)),
        deleted_groups=frozenset().union(*(log.deleted_groups for log in logs)),
        deleted_arrays=frozenset().union(*(log.deleted_arrays for log in logs)),
        updated_arrays=frozenset().union(*(log.updated_arrays for log in logs)),
        updated_groups=frozenset().union(*(log.updated_groups for log in logs)),
        updated_chunks=chunks,
        moved_nodes=tuple(m for log in logs for m in log.moved_nodes),
    )


async def _pruned_logs(
    core: RepoCore, pruned: tuple[Any, ...]
) -> tuple[list[TransactionLog], list[str]]:
    logs, missing = [], []
    for sid in pruned:
        try:
            logs.append(decode_transaction_log(await core.storage.get(TRANSACTIONS + str(sid))))
        except NotFoundError:
            missing.append(str(sid))
    return logs, missing


async def inspect_transaction_log(core: RepoCore, snapshot_id: str) -> dict[str, Any]:
    """Header and every change recorded by the transaction log of one snapshot.

    For a snapshot whose ancestors were folded into it by expiration, the changes of
    their logs are merged in, and ``synthetic_composite`` says which logs were used.
    """
    sid = await core.resolve_snapshot(snapshot_id)
    data = await core.storage.get(TRANSACTIONS + str(sid))
    own: TransactionLog = decode_transaction_log(data)
    pruned = (await core.info()).snapshots[sid].pruned_ancestor_tx_logs or ()
    earlier, missing = await _pruned_logs(core, pruned)
    log = _merge_logs([*earlier, own]) if pruned else own
    chunks = [
        {"node_id": str(node), "chunks": [list(c) for c in sorted(coords)]}
        for node, coords in sorted(log.updated_chunks.items(), key=lambda kv: str(kv[0]))
    ]
    # like the reference, a move shows its paths only (node ids differ between repositories)
    moves = [{"from": m.from_path, "to": m.to_path} for m in log.moved_nodes]
    out: dict[str, Any] = {
        "header": _header(data, FileType.TRANSACTION_LOG),
        "new_groups": _ids(log.new_groups),
        "new_arrays": _ids(log.new_arrays),
        "deleted_groups": _ids(log.deleted_groups),
        "deleted_arrays": _ids(log.deleted_arrays),
        "updated_groups": _ids(log.updated_groups),
        "updated_arrays": _ids(log.updated_arrays),
        "updated_chunks": chunks,
        "moved_nodes": moves,
    }
    if pruned:
        out["synthetic_composite"] = {
            "merged_pruned_ancestor_tx_logs": [str(p) for p in pruned],
            "missing_tx_logs": missing,
            "note": "Merged view: expiration folded this snapshot's ancestors into it, so "
            "their transaction logs are combined with its own; `header` is its own log's.",
        }
    return out


_UPDATE_NAMES = {
    UpdateKind.REPO_INITIALIZED: "RepoInitializedUpdate",
    UpdateKind.REPO_MIGRATED: "RepoMigratedUpdate",
    UpdateKind.CONFIG_CHANGED: "ConfigChangedUpdate",
    UpdateKind.METADATA_CHANGED: "MetadataChangedUpdate",
    UpdateKind.TAG_CREATED: "TagCreatedUpdate",
    UpdateKind.TAG_DELETED: "TagDeletedUpdate",
    UpdateKind.BRANCH_CREATED: "BranchCreatedUpdate",
    UpdateKind.BRANCH_DELETED: "BranchDeletedUpdate",
    UpdateKind.BRANCH_RESET: "BranchResetUpdate",
    UpdateKind.NEW_COMMIT: "NewCommitUpdate",
    UpdateKind.COMMIT_AMENDED: "CommitAmendedUpdate",
    UpdateKind.NEW_DETACHED_SNAPSHOT: "NewDetachedSnapshotUpdate",
    UpdateKind.GC_RAN: "GCRanUpdate",
    UpdateKind.EXPIRATION_RAN: "ExpirationRanUpdate",
    UpdateKind.FEATURE_FLAG_CHANGED: "FeatureFlagChangedUpdate",
    UpdateKind.REPO_STATUS_CHANGED: "RepoStatusChangedUpdate",
}


def _update_fields(record: UpdateRecord) -> dict[str, Any]:
    kind = record.kind
    if kind in (UpdateKind.NEW_COMMIT, UpdateKind.COMMIT_AMENDED):
        out: dict[str, Any] = {"branch": record.name}
        if kind is UpdateKind.COMMIT_AMENDED:
            out["previous_snap_id"] = str(record.previous_snap_id)
        out["new_snap_id"] = str(record.new_snap_id)
        return out
    if kind in (UpdateKind.BRANCH_CREATED, UpdateKind.TAG_CREATED):
        return {"name": record.name}
    if kind in (UpdateKind.BRANCH_DELETED, UpdateKind.BRANCH_RESET, UpdateKind.TAG_DELETED):
        return {"name": record.name, "previous_snap_id": str(record.previous_snap_id)}
    if kind is UpdateKind.NEW_DETACHED_SNAPSHOT:
        return {"new_snap_id": str(record.new_snap_id)}
    if kind is UpdateKind.REPO_MIGRATED:
        return {"from_version": record.from_version, "to_version": record.to_version}
    if kind is UpdateKind.FEATURE_FLAG_CHANGED:
        return {"id": record.flag_id, "new_value": record.flag_value}
    return {}


def _update(record: UpdateRecord) -> dict[str, Any]:
    out: dict[str, Any] = {
        "update_type": {"type": _UPDATE_NAMES[record.kind], **_update_fields(record)},
        "updated_at": _time(record.updated_at),
    }
    if record.backup_path is not None:
        out["backup_path"] = record.backup_path
    return out


def _snapshot_entry(entry: SnapshotEntry) -> dict[str, Any]:
    out: dict[str, Any] = {"id": str(entry.id)}
    if entry.parent_id is not None:
        out["parent_id"] = str(entry.parent_id)
    out.update(flushed_at=_time(entry.flushed_at), message=entry.message, metadata=entry.metadata)
    return out


async def inspect_repo_info(core: RepoCore) -> dict[str, Any]:
    """The repo info file: refs, snapshots, metadata and the latest ops-log entries."""
    data = await core.storage.get(REPO_INFO_KEY)
    info: RepoInfo = decode_repo_info(data)
    header = _header(data, FileType.REPO_INFO)
    out: dict[str, Any] = {
        "header": header,
        "spec_version": header["spec_version"],
        "branches": dict(sorted((k, str(v)) for k, v in info.branches.items())),
        "tags": dict(sorted((k, str(v)) for k, v in info.tags.items())),
        "deleted_tags": sorted(info.deleted_tags),
        "snapshots": [_snapshot_entry(info.snapshots[k]) for k in sorted(info.snapshots)],
        "metadata": info.metadata,
        "latest_updates": [_update(u) for u in info.latest_updates],
    }
    if info.repo_before_updates is not None:
        out["repo_before_updates"] = info.repo_before_updates
    return out
