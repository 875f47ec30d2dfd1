"""Repository audits used by the reliability tests: reachability and content digests.

:func:`reachable_keys` walks the repo file the way garbage collection would (every
snapshot in it, their manifests, the native chunks those reference, their transaction
logs and those of the ancestors an expiration folded into them, and ops-log backups); :func:`audit` checks every reachable object exists and decodes, and
returns the unreachable leftovers. Garbage collection is tested against the same split:
it must delete the leftovers (those older than its cutoff) and nothing reachable.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np
import zarr
from zarr.core.sync import sync

import icechunk as ic
from icechunk.asset_manager import (
    CHUNKS,
    MANIFESTS,
    OVERWRITTEN,
    REPO_INFO_KEY,
    SNAPSHOTS,
    TRANSACTIONS,
    AssetManager,
)
from icechunk.format.model import NativePayload
from icechunk.format.repo_info import decode_repo_info
from icechunk.storage import Storage


@dataclass(frozen=True)
class Audit:
    """Result of :func:`audit`: reachable keys (all present) and unreachable leftovers."""

    reachable: frozenset[str]
    leftovers: frozenset[str]


async def _reachable(storage: Storage) -> set[str]:
    assets = AssetManager(storage)
    info = decode_repo_info(await storage.get(REPO_INFO_KEY))
    keys = {REPO_INFO_KEY}
    for entry in info.latest_updates:
        if entry.backup_path is not None:
            keys.add(OVERWRITTEN + entry.backup_path)
    if info.repo_before_updates is not None:
        keys.add(OVERWRITTEN + info.repo_before_updates)
    for sid, entry in info.snapshots.items():
        keys.add(SNAPSHOTS + str(sid))
        keys.add(TRANSACTIONS + str(sid))
        # An expiration folds ancestors into a kept snapshot; their logs stay reachable.
        keys.update(TRANSACTIONS + str(p) for p in entry.pruned_ancestor_tx_logs or ())
        snap = await assets.fetch_snapshot(sid)
        for file in snap.manifest_files:
            keys.add(MANIFESTS + str(file.id))
            manifest = await assets.fetch_manifest(file.id, file.size_bytes)
            for table in manifest.arrays.values():
                for _, payload in table.items():
                    if isinstance(payload, NativePayload):
                        keys.add(CHUNKS + str(payload.chunk_id))
    return keys


async def _listed(storage: Storage) -> set[str]:
    return {info.key async for info in storage.list("")}


def audit(storage: Storage) -> Audit:
    """Check every reachable object is present and decodes; return the split."""
    reachable = sync(_reachable(storage))
    listed = sync(_listed(storage))
    missing = reachable - listed
    assert not missing, f"reachable objects missing from storage: {sorted(missing)}"
    return Audit(frozenset(reachable), frozenset(listed - reachable))


def digest_of(repo: ic.Repository, snapshot_id: str) -> str:
    """SHA-256 over every node of a snapshot, see :func:`digest_store`."""
    return digest_store(repo.readonly_session(snapshot_id=snapshot_id).store)


def digest_store(store: ic.IcechunkStore) -> str:
    """SHA-256 over every node of a store: path, attributes, shape, dtype and data."""
    root = zarr.open_group(store, mode="r")
    h = hashlib.sha256()
    h.update(repr(sorted(root.attrs.asdict().items())).encode())
    for path, node in sorted(root.members(max_depth=None), key=lambda kv: kv[0]):
        h.update(path.encode() + b"\0")
        h.update(repr(sorted(node.attrs.asdict().items())).encode())
        if isinstance(node, zarr.Array):
            data = np.ascontiguousarray(node[...])
            h.update(f"{data.dtype.str}{data.shape}".encode())
            h.update(data.tobytes())
    return h.hexdigest()


#: Object kinds garbage collection reclaims (ops-log backups and temporary files it leaves).
COLLECTED = (SNAPSHOTS, TRANSACTIONS, MANIFESTS, CHUNKS)


def garbage(split: Audit) -> set[str]:
    """The leftovers garbage collection must reclaim (snapshots, logs, manifests, chunks)."""
    return {key for key in split.leftovers if key.startswith(COLLECTED)}
