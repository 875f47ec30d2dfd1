"""Conflict detection and resolution for rebasing a session onto a moved branch.

A session's :class:`~icechunk.changeset.ChangeSet` is compared with the transaction log
of every commit that landed on the branch after the session's base snapshot ("theirs").
A :class:`ConflictSolver` decides which conflicts can be resolved (possibly by editing the
change set) and which make the rebase fail with :class:`~icechunk.errors.RebaseFailedError`.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from enum import Enum
from typing import TYPE_CHECKING, Any

from icechunk._moves import blocked_move
from icechunk.errors import ErrorKind, RebaseFailedError, SessionStateError
from icechunk.format.ids import NodeId, SnapshotId
from icechunk.format.model import Snapshot, TransactionLog

if TYPE_CHECKING:
    from icechunk._session_core import SessionCore
    from icechunk.changeset import ChangeSet

__all__ = [
    "BasicConflictSolver",
    "Conflict",
    "ConflictDetector",
    "ConflictSolver",
    "ConflictType",
    "VersionSelection",
]

_DESCRIPTIONS = {
    1: "New node conflicts with existing node",
    2: "New node in invalid group",
    3: "Zarr metadata double update",
    4: "Zarr metadata update of deleted array",
    5: "Zarr metadata update of deleted group",
    6: "Chunk double update",
    7: "Chunks updated in deleted array",
    8: "Chunks updated in updated array",
    9: "Delete of updated array",
    10: "Delete of updated group",
    11: "Move operation cannot be rebased",
}


class ConflictType(Enum):
    """The kind of a conflict found while rebasing."""

    NewNodeConflictsWithExistingNode = 1
    NewNodeInInvalidGroup = 2
    ZarrMetadataDoubleUpdate = 3
    ZarrMetadataUpdateOfDeletedArray = 4
    ZarrMetadataUpdateOfDeletedGroup = 5
    ChunkDoubleUpdate = 6
    ChunksUpdatedInDeletedArray = 7
    ChunksUpdatedInUpdatedArray = 8
    DeleteOfUpdatedArray = 9
    DeleteOfUpdatedGroup = 10
    MoveOperationCannotBeRebased = 11

    def __str__(self) -> str:
        return _DESCRIPTIONS[self.value]

    def __repr__(self) -> str:
        return self.name

    def __int__(self) -> int:
        return int(self.value)


class Conflict:
    """One conflict between the session's changes and a commit that landed before it.

    Parameters
    ----------
    conflict_type
        What kind of conflict this is.
    path
        The path of the node in conflict.
    conflicted_chunks
        For chunk conflicts, the chunk indices written by both sides.
    """

    __slots__ = ("_chunks", "_path", "_type")

    def __init__(
        self,
        conflict_type: ConflictType,
        path: str,
        conflicted_chunks: list[list[int]] | None = None,
    ) -> None:
        self._type = conflict_type
        self._path = path
        self._chunks = None if conflicted_chunks is None else [list(c) for c in conflicted_chunks]

    @property
    def conflict_type(self) -> ConflictType:
        """The kind of conflict."""
        return self._type

    @property
    def path(self) -> str:
        """The path of the node in conflict."""
        return self._path

    @property
    def conflicted_chunks(self) -> list[list[int]] | None:
        """The chunk indices in conflict, for chunk conflicts; otherwise None."""
        return None if self._chunks is None else [list(c) for c in self._chunks]

    def __repr__(self) -> str:
        return (
            "<icechunk.conflicts.Conflict>\n"
            f"conflict_type: {self._type!r}\n"
            f"path: {self._path}\n"
            f"conflicted_chunks: {self._chunks}"
        )

    def _repr_html_(self) -> str:
        from icechunk._html import conflicts_html

        return conflicts_html([self])

    def __reduce__(self) -> tuple[Any, ...]:
        return (Conflict, (self._type, self._path, self._chunks))


class VersionSelection(Enum):
    """Which side wins when both changed the same thing."""

    Fail = 0
    UseOurs = 1
    UseTheirs = 2


class ConflictSolver:
    """Base class of conflict solvers; use :class:`ConflictDetector` or
    :class:`BasicConflictSolver`."""

    def _resolve(self, changes: ChangeSet, conflicts: list[_Found]) -> list[Conflict]:
        """Resolve what can be resolved (editing ``changes``); return what cannot."""
        return [f.conflict for f in conflicts]


class ConflictDetector(ConflictSolver):
    """A solver that resolves nothing: any conflict makes the rebase fail."""


class BasicConflictSolver(ConflictSolver):
    """A solver for chunk conflicts and deletes of nodes the other side updated.

    Parameters
    ----------
    on_chunk_conflict
        For chunks written by both sides: keep ours, keep theirs, or fail.
    fail_on_delete_of_updated_array
        Fail when we delete an array the other side updated (else our delete wins).
    fail_on_delete_of_updated_group
        Fail when we delete a group the other side updated (else our delete wins).
    """

    def __init__(
        self,
        *,
        on_chunk_conflict: VersionSelection = VersionSelection.UseOurs,
        fail_on_delete_of_updated_array: bool = False,
        fail_on_delete_of_updated_group: bool = False,
    ) -> None:
        self.on_chunk_conflict = on_chunk_conflict
        self.fail_on_delete_of_updated_array = fail_on_delete_of_updated_array
        self.fail_on_delete_of_updated_group = fail_on_delete_of_updated_group

    def _resolve(self, changes: ChangeSet, conflicts: list[_Found]) -> list[Conflict]:
        # All or nothing: if one conflict cannot be solved, the rebase fails reporting
        # every conflict found, and the change set is left untouched.
        if not all(self._solvable(f.conflict.conflict_type) for f in conflicts):
            return [f.conflict for f in conflicts]
        if self.on_chunk_conflict is VersionSelection.UseTheirs:
            for found in conflicts:
                if found.conflict.conflict_type is ConflictType.ChunkDoubleUpdate and found.node:
                    writes = changes.chunks.get(found.node, {})
                    for coords in found.coords:
                        writes.pop(coords, None)
        return []

    def _solvable(self, kind: ConflictType) -> bool:
        if kind is ConflictType.ChunkDoubleUpdate:
            return self.on_chunk_conflict is not VersionSelection.Fail
        if kind is ConflictType.DeleteOfUpdatedArray:
            return not self.fail_on_delete_of_updated_array
        if kind is ConflictType.DeleteOfUpdatedGroup:
            return not self.fail_on_delete_of_updated_group
        return False


class _Found:
    """A detected conflict plus what a solver needs to act on it."""

    __slots__ = ("conflict", "coords", "node")

    def __init__(
        self,
        conflict: Conflict,
        node: NodeId | None = None,
        coords: Sequence[tuple[int, ...]] = (),
    ) -> None:
        self.conflict = conflict
        self.node = node
        self.coords = list(coords)


def detect_conflicts(
    ours: ChangeSet, base: Snapshot, theirs: Snapshot, log: TransactionLog
) -> list[_Found]:
    """Conflicts between our change set (made on ``base``) and the commit ``theirs``."""
    paths: dict[NodeId, str] = {n.id: n.path for n in base.nodes}
    paths.update({n.id: n.path for n in ours.new_nodes.values()})
    their_paths = {n.path for n in theirs.nodes}
    found: list[_Found] = []

    def add(kind: ConflictType, node: NodeId, path: str | None = None) -> None:
        found.append(_Found(Conflict(kind, path or paths.get(node, "?")), node))

    if log.moved_nodes:
        # Their paths changed under us: nothing of ours can be replayed safely.
        found.append(_Found(Conflict(ConflictType.MoveOperationCannotBeRebased, "")))
    if ours.moves:
        stuck = blocked_move({n.path for n in theirs.nodes}, ours.moves)
        if stuck is not None:
            found.append(_Found(Conflict(ConflictType.MoveOperationCannotBeRebased, stuck)))
    ours_deleted = {**ours.deleted_groups, **ours.deleted_arrays}
    for path, new in ours.new_nodes.items():
        if path in their_paths and path not in ours_deleted:
            add(ConflictType.NewNodeConflictsWithExistingNode, new.id, path)
    for node in _ordered(ours.updated_arrays, paths):
        if node in log.deleted_arrays:
            add(ConflictType.ZarrMetadataUpdateOfDeletedArray, node)
        elif node in log.updated_arrays:
            add(ConflictType.ZarrMetadataDoubleUpdate, node)
    for node in _ordered(ours.updated_groups, paths):
        if node in log.deleted_groups:
            add(ConflictType.ZarrMetadataUpdateOfDeletedGroup, node)
        elif node in log.updated_groups:
            add(ConflictType.ZarrMetadataDoubleUpdate, node)
    written = _ordered((n for n, w in ours.chunks.items() if w), paths)
    for node in written:
        if node in log.deleted_arrays:
            add(ConflictType.ChunksUpdatedInDeletedArray, node)
        elif node in log.updated_arrays:
            add(ConflictType.ChunksUpdatedInUpdatedArray, node)
    # Chunks both sides wrote are reported even when the array's metadata also changed.
    for node in written:
        if node in log.deleted_arrays:
            continue
        both = sorted(set(ours.chunks[node]) & log.updated_chunks.get(node, frozenset()))
        if both:
            conflict = Conflict(
                ConflictType.ChunkDoubleUpdate, paths.get(node, "?"), [list(c) for c in both]
            )
            found.append(_Found(conflict, node, both))
    for path, node in sorted(ours.deleted_arrays.items()):
        if node in log.updated_arrays or node in log.updated_chunks:
            add(ConflictType.DeleteOfUpdatedArray, node, path)
    for path, node in sorted(ours.deleted_groups.items()):
        if node in log.updated_groups:
            add(ConflictType.DeleteOfUpdatedGroup, node, path)
    return found


def _ordered(nodes: Iterable[NodeId], paths: dict[NodeId, str]) -> list[NodeId]:
    return sorted(nodes, key=lambda n: paths.get(n, ""))


async def rebase_session(core: SessionCore, solver: ConflictSolver) -> None:
    """Replay the session's changes on top of every commit that landed on its branch."""
    if not isinstance(solver, ConflictSolver):
        raise TypeError("rebase needs a ConflictSolver (ConflictDetector or BasicConflictSolver)")
    core._require_writable()
    if core.branch is None:
        raise SessionStateError(
            "cannot rebase a session that is not on a branch", ErrorKind.NOT_ON_BRANCH
        )
    tip = await core.repo.lookup_branch(core.branch)
    pending: list[SnapshotId] = []
    async for entry in core.repo.ancestry(tip):
        if entry.id == core.snapshot_id:
            break
        pending.append(entry.id)
    else:
        raise SessionStateError(
            f"cannot rebase: snapshot {core.snapshot_id} is not an ancestor of the tip of "
            f"branch {core.branch!r}",
            ErrorKind.NOT_ALLOWED,
        )
    for sid in reversed(pending):
        base = await core.snapshot()
        theirs = await core.repo.assets.fetch_snapshot(sid)
        log = await core.repo.assets.fetch_transaction_log(sid)
        found = detect_conflicts(core.changes, base, theirs, log)
        if found:
            left = solver._resolve(core.changes, found)
            if left:
                raise RebaseFailedError(str(sid), left)
        core.snapshot_id = sid
        core._snapshot = theirs
        core._index = None


for _cls in (ConflictType, Conflict, VersionSelection, ConflictSolver, ConflictDetector, BasicConflictSolver):
    _cls.__module__ = "icechunk"
