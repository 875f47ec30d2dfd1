"""Uncommitted changes of a session: pure data, picklable and mergeable.

Nodes are addressed by path for creation/deletion and by node id for updates and
chunk writes, so a change set can be replayed on top of a newer snapshot (rebase).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

from icechunk.format.ids import NodeId
from icechunk.format.model import ChunkPayload, DimensionShape

__all__ = ["ArrayMeta", "ChangeSet", "NewNode"]

Coords = tuple[int, ...]


@dataclass(frozen=True, slots=True)
class ArrayMeta:
    """An array's zarr.json and the facts the snapshot copies out of it."""

    user_data: bytes
    shape: tuple[DimensionShape, ...]
    dimension_names: tuple[str | None, ...] | None


@dataclass(frozen=True, slots=True)
class NewNode:
    """A node created in this session; ``array`` is None for groups."""

    id: NodeId
    path: str
    user_data: bytes
    array: ArrayMeta | None


@dataclass
class ChangeSet:
    """Everything a session changed since its base snapshot."""

    new_nodes: dict[str, NewNode] = field(default_factory=dict)
    updated_arrays: dict[NodeId, ArrayMeta] = field(default_factory=dict)
    updated_groups: dict[NodeId, bytes] = field(default_factory=dict)
    deleted_groups: dict[str, NodeId] = field(default_factory=dict)
    deleted_arrays: dict[str, NodeId] = field(default_factory=dict)
    chunks: dict[NodeId, dict[Coords, ChunkPayload | None]] = field(default_factory=dict)
    #: Move operations of a rearrange session, in order, as ``(from_path, to_path)``.
    moves: list[tuple[str, str]] = field(default_factory=list)
    #: Ids of the nodes some move carried along (they get transaction-log records).
    moved: set[NodeId] = field(default_factory=set)

    def is_empty(self) -> bool:
        """True when nothing was changed."""
        return not (
            self.new_nodes
            or self.updated_arrays
            or self.updated_groups
            or self.deleted_groups
            or self.deleted_arrays
            or any(self.chunks.values())
            or self.moves
        )

    def is_deleted(self, path: str) -> bool:
        """Whether the snapshot node at ``path`` was deleted in this session."""
        return path in self.deleted_groups or path in self.deleted_arrays

    def set_chunk(self, node: NodeId, coords: Coords, payload: ChunkPayload | None) -> None:
        """Record a chunk write (or a delete, with ``None``)."""
        self.chunks.setdefault(node, {})[coords] = payload

    def chunk_changes(self, node: NodeId) -> dict[Coords, ChunkPayload | None]:
        """The chunk writes recorded for an array (empty when none)."""
        return self.chunks.get(node, {})

    def drop_node(self, node: NodeId) -> None:
        """Forget updates and chunk writes of a node that is being deleted."""
        self.updated_arrays.pop(node, None)
        self.updated_groups.pop(node, None)
        self.chunks.pop(node, None)

    def new_nodes_under(self, path: str) -> Iterator[NewNode]:
        """New nodes at ``path`` or below it."""
        prefix = path.rstrip("/") + "/"
        for node_path, node in list(self.new_nodes.items()):
            if node_path == path or node_path.startswith(prefix):
                yield node

    def merge(self, other: ChangeSet) -> None:
        """Fold ``other`` (made later, or by a fork of the same base) into this one."""
        for path in other.deleted_groups:
            self.new_nodes.pop(path, None)
        for path in other.deleted_arrays:
            self.new_nodes.pop(path, None)
        self.deleted_groups.update(other.deleted_groups)
        self.deleted_arrays.update(other.deleted_arrays)
        self.new_nodes.update(other.new_nodes)
        self.updated_arrays.update(other.updated_arrays)
        self.updated_groups.update(other.updated_groups)
        for node, writes in other.chunks.items():
            self.chunks.setdefault(node, {}).update(writes)
        self.moves.extend(other.moves)
        self.moved |= other.moved
