"""Moving nodes in a rearrange session: path rewriting and move validation (pure).

A rearrange session records its moves as an ordered list of ``(from_path, to_path)``
operations. A node of the base snapshot is seen at the path obtained by replaying those
operations on its base path, so nodes that reach the base snapshot through a rebase
follow the moves of their parent groups too. The transaction log names each moved node
with its base path and final path (spec v2 ``moved_nodes``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from icechunk.errors import (
    AlreadyExistsError,
    ErrorKind,
    InvalidInputError,
    NodeNotFoundError,
    SessionStateError,
)
from icechunk.format.ids import NodeId
from icechunk.format.model import MoveRecord, NodeSnapshot, NodeType
from icechunk.format.txlog import move_sort_key

__all__ = ["blocked_move", "check_move", "move_records", "moved_path", "under"]

Move = tuple[str, str]
ROOT = "/"


def under(path: str, prefix: str) -> bool:
    """Whether ``path`` is ``prefix`` or one of its descendants."""
    return prefix == ROOT or path == prefix or path.startswith(prefix + "/")


def _parent(path: str) -> str:
    return path.rsplit("/", 1)[0] or ROOT


def moved_path(path: str, moves: Iterable[Move]) -> str:
    """The path a node at ``path`` ends up at after replaying ``moves`` in order."""
    for source, target in moves:
        if under(path, source):
            path = target + path[len(source) :]
    return path


def _check_absolute(path: object) -> str:
    if not isinstance(path, str):
        raise TypeError(f"node paths must be strings, got {type(path).__name__}")
    if not path.startswith("/"):
        raise InvalidInputError(
            f"invalid node path {path!r}: a path must start with a `/` character",
            ErrorKind.INVALID_PATH,
        )
    return path


def check_move(tree: Mapping[str, bool], source: str, target: str) -> None:
    """Check that the node at ``source`` can move to ``target``.

    Parameters
    ----------
    tree
        Every node path the session currently sees, mapped to True for groups.
    source, target
        The move's current and new absolute paths.

    Raises
    ------
    InvalidInputError
        If a path is not absolute (kind ``invalid-path``).
    SessionStateError
        If ``target`` is ``source`` or below it, or its parent is missing or an array.
    NodeNotFoundError
        If there is no node at ``source``.
    AlreadyExistsError
        If a node already exists at ``target`` (kind ``move-wont-overwrite``).
    """
    _check_absolute(source)
    _check_absolute(target)
    if under(target, source):
        raise SessionStateError(
            f"cannot move `{source}` into itself or its own descendant `{target}`",
            ErrorKind.MOVE_INTO_SELF_OR_DESCENDANT,
        )
    if source not in tree:
        raise NodeNotFoundError(
            f"node not found at `{source}`: there is no group or array to move there",
            ErrorKind.NODE_NOT_FOUND,
        )
    if target in tree:
        raise AlreadyExistsError(
            f"move cannot overwrite existing node at `{target}`; move or delete it first",
            ErrorKind.MOVE_WONT_OVERWRITE,
        )
    if target.endswith("/") or any(seg in ("", ".", "..") for seg in target.split("/")[1:]):
        raise InvalidInputError(
            f"invalid destination path {target!r}: no empty, '.' or '..' segments and no "
            "trailing '/'",
            ErrorKind.INVALID_PATH,
        )
    parent = _parent(target)
    if parent not in tree:
        raise SessionStateError(
            f"cannot move to `{target}`: the destination's parent group `{parent}` does not "
            f"exist. Moves never create groups: create `{parent}` in a writable session and "
            "commit it, then move in a new rearrange session",
            ErrorKind.MOVE_DESTINATION_PARENT_MISSING,
        )
    if not tree[parent]:
        raise SessionStateError(
            f"cannot move to `{target}`: the destination's parent `{parent}` is an array, "
            "not a group; only groups can hold other nodes",
            ErrorKind.MOVE_DESTINATION_PARENT_NOT_GROUP,
        )


def move_records(
    base: Sequence[NodeSnapshot], moved: Iterable[NodeId], moves: Sequence[Move]
) -> tuple[MoveRecord, ...]:
    """The transaction-log records of the nodes a session moved.

    Parameters
    ----------
    base
        Nodes of the session's base snapshot.
    moved
        Ids of the nodes that some move carried along; nodes no longer in ``base``
        (deleted by a commit the session was rebased over) are skipped.
    moves
        The session's move operations, in order.

    Returns
    -------
    tuple of MoveRecord
        One record per node whose final path differs from its base path, in the order
        the spec prescribes for transaction logs.
    """
    wanted = set(moved)
    records = []
    for node in base:
        if node.id not in wanted:
            continue
        final = moved_path(node.path, moves)
        if final != node.path:
            kind = NodeType.GROUP if node.array is None else NodeType.ARRAY
            records.append(MoveRecord(node.path, final, node.id, kind))
    return tuple(sorted(records, key=move_sort_key))


def blocked_move(paths: Iterable[str], moves: Sequence[Move]) -> str | None:
    """Replay ``moves`` over a snapshot's node paths; the first path that blocks one.

    A move is blocked when its source no longer exists (another commit deleted it) or
    a node already sits at its destination (another commit created it). Rebasing a
    rearrange session over such a commit would drop or overwrite nodes, so it fails.

    Parameters
    ----------
    paths
        Node paths of the snapshot the moves would be replayed on.
    moves
        The session's move operations, in order.

    Returns
    -------
    str or None
        The source or destination path that blocks a move, or None if all apply.
    """
    current = set(paths)
    for source, target in moves:
        if source not in current:
            return source
        if target in current:
            return target
        current = {moved_path(p, [(source, target)]) for p in current}
    return None
