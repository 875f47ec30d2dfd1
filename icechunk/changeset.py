"""Uncommitted changes of a session: pure data, picklable and mergeable.

Nodes are addressed by path for creation/deletion and by node id for updates and
chunk writes, so a change set can be replayed on top of a newer snapshot (rebase).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import TypeVar

from icechunk.format.ids import NodeId
from icechunk.format.model import ChunkPayload, DimensionShape

__all__ = ["ArrayMeta", "ChangeSet", "NewNode", "merge_conflicts"]

Coords = tuple[int, ...]
_K = TypeVar("_K")


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
        """Fold ``other`` (made later, or by a fork of the same base) into this one.

        Chunk writes of both sides to the same chunk are not a conflict: ``other``'s
        wins. Anything :func:`merge_conflicts` reports is.

        Raises
        ------
        SessionStateError
            If the two change sets conflict (kind ``merge-failed``); nothing is merged.
        """
        problems = merge_conflicts(self, other)
        if problems:
            from icechunk.errors import ErrorKind, SessionStateError

            raise SessionStateError(
                "failed to merge sessions: " + "; ".join(problems), ErrorKind.MERGE_FAILED
            )
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


def _differing(ours: Mapping[_K, object], theirs: Mapping[_K, object]) -> list[_K]:
    """Keys present on both sides with different values."""
    return [key for key, value in theirs.items() if key in ours and ours[key] != value]


def _deleted_but_modified(deleting: ChangeSet, modifying: ChangeSet, arrays: bool) -> list[str]:
    deleted = deleting.deleted_arrays if arrays else deleting.deleted_groups
    updated: Mapping[NodeId, object] = (
        modifying.updated_arrays if arrays else modifying.updated_groups
    )
    return [
        path
        for path, node in deleted.items()
        if node in updated or (arrays and modifying.chunk_changes(node))
    ]


def merge_conflicts(ours: ChangeSet, theirs: ChangeSet) -> list[str]:
    """Why ``theirs`` cannot be merged into ``ours``: one sentence per kind of clash.

    Identical entries on both sides (a fork merged twice, or changes a fork inherited
    from its parent) are not conflicts; two writers creating the same path, updating
    the same node differently, or one deleting a node the other modified are.
    """
    problems: list[str] = []
    created = _differing(ours.new_nodes, theirs.new_nodes)
    created_arrays = sorted(p for p in created if theirs.new_nodes[p].array is not None)
    created_groups = sorted(p for p in created if theirs.new_nodes[p].array is None)
    for what, paths in (("arrays", created_arrays), ("groups", created_groups)):
        if paths:
            problems.append(f"Multiple writers created the same {what}: {', '.join(paths)}")
    for what, ours_upd, theirs_upd in (
        ("arrays", ours.updated_arrays, theirs.updated_arrays),
        ("groups", ours.updated_groups, theirs.updated_groups),
    ):
        nodes = _differing(ours_upd, theirs_upd)
        if nodes:
            problems.append(
                f"Multiple writers updated the same {what}: {', '.join(sorted(map(str, nodes)))}"
            )
    for what, arrays in (("Arrays", True), ("Groups", False)):
        paths = _deleted_but_modified(ours, theirs, arrays) + _deleted_but_modified(
            theirs, ours, arrays
        )
        if paths:
            problems.append(
                f"{what} were both deleted and modified: {', '.join(sorted(set(paths)))}"
            )
    return problems
