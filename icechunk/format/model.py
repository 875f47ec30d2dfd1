"""Plain value objects for everything the metadata files hold.

Codecs turn bytes into these and back; nothing here does I/O. Times are integer
microseconds since the Unix epoch (UTC), as in the files.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import IntEnum
from typing import Any

from icechunk.format.ids import ChunkId, ManifestId, NodeId, SnapshotId

__all__ = [
    "ArrayNodeData",
    "ChunkPayload",
    "DimensionShape",
    "InlinePayload",
    "ManifestFileInfo",
    "ManifestRef",
    "MoveRecord",
    "NativePayload",
    "NodeSnapshot",
    "NodeType",
    "RepoAvailability",
    "RepoInfo",
    "RepoStatusData",
    "Snapshot",
    "SnapshotEntry",
    "TransactionLog",
    "UpdateKind",
    "UpdateRecord",
    "VirtualPayload",
]


# ---------------------------------------------------------------- chunk payloads
@dataclass(frozen=True, slots=True)
class InlinePayload:
    """Encoded chunk bytes stored inside the manifest itself."""

    data: bytes


@dataclass(frozen=True, slots=True)
class NativePayload:
    """A byte range of a chunk file ``chunks/<chunk_id>`` in the repository."""

    chunk_id: ChunkId
    offset: int
    length: int


@dataclass(frozen=True, slots=True)
class VirtualPayload:
    """A byte range of an object outside the repository, reached through a container.

    ``checksum_last_modified`` is in whole seconds since the epoch (0 or None: none).
    """

    location: str
    offset: int
    length: int
    checksum_etag: str | None = None
    checksum_last_modified: int | None = None


ChunkPayload = InlinePayload | NativePayload | VirtualPayload


# ---------------------------------------------------------------- snapshot
class NodeType(IntEnum):
    """Node kind as used in transaction-log move records."""

    GROUP = 0
    ARRAY = 1


@dataclass(frozen=True, slots=True)
class DimensionShape:
    """Length of one array dimension and the number of chunks along it."""

    array_length: int
    num_chunks: int


@dataclass(frozen=True, slots=True)
class ManifestRef:
    """Points an array at a manifest; ``extents`` is one ``(start, stop)`` per dimension."""

    object_id: ManifestId
    extents: tuple[tuple[int, int], ...]


@dataclass(frozen=True, slots=True)
class ArrayNodeData:
    """What a snapshot records for an array beyond its zarr.json."""

    shape: tuple[DimensionShape, ...]
    dimension_names: tuple[str | None, ...] | None
    manifests: tuple[ManifestRef, ...]


@dataclass(frozen=True, slots=True)
class NodeSnapshot:
    """A group (``array is None``) or array at an absolute path.

    ``user_data`` is the node's zarr.json exactly as the client wrote it.
    """

    id: NodeId
    path: str
    user_data: bytes
    array: ArrayNodeData | None = None

    @property
    def is_group(self) -> bool:
        """True for groups."""
        return self.array is None


@dataclass(frozen=True, slots=True)
class ManifestFileInfo:
    """A manifest file a snapshot depends on; ``size_bytes`` is the exact file size."""

    id: ManifestId
    size_bytes: int
    num_chunk_refs: int


@dataclass(frozen=True, slots=True)
class Snapshot:
    """A snapshot file. ``nodes`` are sorted by the UTF-8 bytes of their path.

    ``parent_id`` is only stored in spec-v1 files; in v2 parentage lives in the repo file.
    """

    id: SnapshotId
    flushed_at: int
    message: str
    metadata: dict[str, Any]
    nodes: tuple[NodeSnapshot, ...]
    manifest_files: tuple[ManifestFileInfo, ...]
    parent_id: SnapshotId | None = None
    spec_version: int = 2


# ---------------------------------------------------------------- transaction log
@dataclass(frozen=True, slots=True)
class MoveRecord:
    """A node moved from one path to another."""

    from_path: str
    to_path: str
    node_id: NodeId
    node_type: NodeType


@dataclass(frozen=True, slots=True)
class TransactionLog:
    """What one commit changed, keyed by node id (used for diff, rebase, conflicts)."""

    id: SnapshotId
    new_groups: frozenset[NodeId] = frozenset()
    new_arrays: frozenset[NodeId] = frozenset()
    deleted_groups: frozenset[NodeId] = frozenset()
    deleted_arrays: frozenset[NodeId] = frozenset()
    updated_arrays: frozenset[NodeId] = frozenset()
    updated_groups: frozenset[NodeId] = frozenset()
    updated_chunks: dict[NodeId, frozenset[tuple[int, ...]]] = field(default_factory=dict)
    moved_nodes: tuple[MoveRecord, ...] = ()


# ---------------------------------------------------------------- repo info
class RepoAvailability(IntEnum):
    """Whether the repository accepts writes.

    The lower-case names are the public ones (``icechunk.RepoAvailability.read_only``);
    the upper-case aliases are kept for code inside the package.
    """

    online = 0
    read_only = 1
    offline = 2
    ONLINE = 0
    READ_ONLY = 1
    OFFLINE = 2

    def __repr__(self) -> str:
        return f"RepoAvailability.{self.name}"

    def __str__(self) -> str:
        return f"RepoAvailability.{self.name}"


@dataclass(frozen=True, slots=True)
class RepoStatusData:
    """The repository's availability and when and why it was set."""

    availability: RepoAvailability = RepoAvailability.ONLINE
    set_at: int = 0
    limited_availability_reason: str | None = None


class UpdateKind(IntEnum):
    """Union discriminants of the ops-log ``Update.update_type``."""

    REPO_INITIALIZED = 1
    REPO_MIGRATED = 2
    CONFIG_CHANGED = 3
    METADATA_CHANGED = 4
    TAG_CREATED = 5
    TAG_DELETED = 6
    BRANCH_CREATED = 7
    BRANCH_DELETED = 8
    BRANCH_RESET = 9
    NEW_COMMIT = 10
    COMMIT_AMENDED = 11
    NEW_DETACHED_SNAPSHOT = 12
    GC_RAN = 13
    EXPIRATION_RAN = 14
    FEATURE_FLAG_CHANGED = 15
    REPO_STATUS_CHANGED = 16


@dataclass(frozen=True, slots=True)
class UpdateRecord:
    """One ops-log entry. Only the fields its kind defines are set.

    ``name`` holds the tag/branch name (``branch`` for commits); ``previous_snap_id`` and
    ``new_snap_id`` the snapshots involved; ``from_version``/``to_version`` migrations;
    ``flag_id``/``flag_value``/``flag_is_set`` feature flags; ``status`` status changes.
    """

    kind: UpdateKind
    updated_at: int
    backup_path: str | None = None
    name: str | None = None
    previous_snap_id: SnapshotId | None = None
    new_snap_id: SnapshotId | None = None
    from_version: int | None = None
    to_version: int | None = None
    flag_id: int | None = None
    flag_value: bool | None = None
    flag_is_set: bool | None = None
    status: RepoStatusData | None = None


@dataclass(frozen=True, slots=True)
class SnapshotEntry:
    """A snapshot as listed in the repo file: its parent and commit data."""

    id: SnapshotId
    parent_id: SnapshotId | None
    flushed_at: int
    message: str
    metadata: dict[str, Any] = field(default_factory=dict)
    pruned_ancestor_tx_logs: tuple[SnapshotId, ...] | None = None


@dataclass(frozen=True, slots=True)
class RepoInfo:
    """The repo file (spec v2): refs, every snapshot, status, ops log and config.

    ``latest_updates`` is newest first. ``config`` is the decoded RepositoryConfig
    mapping (``None`` when the file has none). Mappings are plain dicts, except that a
    decoded ``snapshots`` is a read-only mapping that builds entries on demand (add to it
    with ``_repo_snapshots.with_snapshot``); the encoder sorts and re-indexes them.
    """

    branches: dict[str, SnapshotId]
    tags: dict[str, SnapshotId]
    deleted_tags: frozenset[str]
    snapshots: Mapping[SnapshotId, SnapshotEntry]
    status: RepoStatusData
    latest_updates: tuple[UpdateRecord, ...]
    metadata: dict[str, Any] = field(default_factory=dict)
    repo_before_updates: str | None = None
    config: dict[str, Any] | None = None
    enabled_feature_flags: tuple[int, ...] = ()
    disabled_feature_flags: tuple[int, ...] = ()
    spec_version: int = 2
