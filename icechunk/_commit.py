"""Landing a session's changes on its branch: commit and amend.

Both write every new object first (manifests, snapshot, transaction log) and then make
one conditional update of the repo info file: a commit moves the branch from the
session's base snapshot to the new one; an amend replaces the branch tip by a snapshot
whose parent is the tip's parent.
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING, Any

from icechunk._v1_repo import require_spec_v2
from icechunk.errors import (
    ConflictError,
    ErrorKind,
    RefNotFoundError,
    SessionStateError,
)
from icechunk.format._repo_snapshots import with_snapshot
from icechunk.format.model import (
    MoveRecord,
    RepoInfo,
    Snapshot,
    SnapshotEntry,
    TransactionLog,
    UpdateKind,
    UpdateRecord,
)
from icechunk.format.txlog import move_sort_key

if TYPE_CHECKING:
    from collections.abc import Sequence

    from icechunk._session_core import SessionCore
    from icechunk.format.ids import SnapshotId

__all__ = ["amended_log", "commit_session"]

_NOT_ALLOWED = (
    "commits are not allowed on read-only or forked sessions (nor twice on one session); "
    "open a new repo.writable_session(branch), or merge forks back into the session "
    "they came from and commit that one"
)


def _check_committable(core: SessionCore, allow_empty: bool) -> str:
    if not core.writable:
        raise SessionStateError(_NOT_ALLOWED, ErrorKind.COMMIT_NOT_ALLOWED)
    if core.branch is None:
        raise SessionStateError(
            "cannot commit a session that is not on a branch", ErrorKind.NOT_ON_BRANCH
        )
    if core.changes.is_empty() and not allow_empty:
        raise SessionStateError(
            "cannot commit: no changes made to the session "
            "(pass allow_empty=True to commit anyway)",
            ErrorKind.NO_CHANGES_TO_COMMIT,
        )
    return core.branch


async def commit_session(
    core: SessionCore,
    message: str,
    metadata: dict[str, Any] | None,
    *,
    allow_empty: bool,
    amend: bool = False,
) -> SnapshotId:
    """Land the session's changes on its branch and return the new snapshot id.

    Parameters
    ----------
    core
        A writable session on a branch.
    message, metadata
        The commit message and properties.
    allow_empty
        Commit even when the session changed nothing.
    amend
        Replace the branch tip (the session's base snapshot) instead of adding a commit
        on top of it; the new transaction log covers both the tip's changes and ours.

    Raises
    ------
    ConflictError
        If the branch no longer points at the session's base snapshot.
    SessionStateError
        If the session cannot commit, changed nothing (without ``allow_empty``) or, for
        an amend, is based on the repository's first snapshot.
    """
    branch = _check_committable(core, allow_empty)
    base_id = core.snapshot_id
    previous_log: TransactionLog | None = None
    if amend:
        previous_log = await _amendable_log(core, base_id)
    properties = {**core.default_metadata, **(metadata or {})}
    snap = await core.flush(message, properties, merge_with=previous_log)

    def move_branch(info: RepoInfo) -> tuple[RepoInfo, UpdateRecord]:
        tip = info.branches.get(branch)
        if tip is None:
            raise RefNotFoundError(
                f"branch {branch!r} no longer exists", ErrorKind.BRANCH_NOT_FOUND
            )
        if tip != base_id:
            raise ConflictError(str(base_id), str(tip))
        parent: SnapshotId | None = base_id
        record = UpdateRecord(UpdateKind.NEW_COMMIT, 0, name=branch, new_snap_id=snap.id)
        if amend:
            parent = info.snapshots[base_id].parent_id
            record = UpdateRecord(
                UpdateKind.COMMIT_AMENDED,
                0,
                name=branch,
                previous_snap_id=base_id,
                new_snap_id=snap.id,
            )
        new = replace(_with_entry(info, snap, parent), branches={**info.branches, branch: snap.id})
        return new, record

    await core.repo.refs.update(move_branch)
    _finish(core, snap)
    return snap.id


async def _amendable_log(core: SessionCore, base_id: SnapshotId) -> TransactionLog:
    """The tip's transaction log, after checking the tip can be amended at all."""
    require_spec_v2(core.repo.spec_version, "amend a commit")
    entry = (await core.repo.info()).snapshots.get(base_id)
    if entry is None or entry.parent_id is None:
        raise SessionStateError(
            "the first commit of a repository cannot be amended; make a new commit instead",
            ErrorKind.NO_AMEND_FOR_INITIAL_COMMIT,
        )
    return await core.repo.assets.fetch_transaction_log(base_id)


def _with_entry(info: RepoInfo, snap: Snapshot, parent: SnapshotId | None) -> RepoInfo:
    entry = SnapshotEntry(snap.id, parent, snap.flushed_at, snap.message, snap.metadata)
    return replace(info, snapshots=with_snapshot(info.snapshots, entry))


def _finish(core: SessionCore, snap: Snapshot) -> None:
    core._rebase_onto(snap)
    core.writable = False
    core.rearrange = False


def amended_log(previous: TransactionLog, ours: TransactionLog) -> TransactionLog:
    """One transaction log for an amended commit: the union of the tip's and ours.

    Like the reference implementation, node sets are not cancelled out: a node the tip
    created and we deleted stays in both sets, and diffs drop it because neither end
    snapshot has it. Moves are collapsed per node (see :func:`_chained_moves`).

    Parameters
    ----------
    previous
        The log of the commit being amended.
    ours
        The log of the session's own changes (its id becomes the result's id).

    Returns
    -------
    TransactionLog
        The combined log.
    """
    chunks = {node: set(c) for node, c in previous.updated_chunks.items()}
    for node, coords in ours.updated_chunks.items():
        chunks.setdefault(node, set()).update(coords)
    moves = sorted(_chained_moves(previous.moved_nodes, ours.moved_nodes), key=move_sort_key)
    return TransactionLog(
        id=ours.id,
        new_groups=previous.new_groups | ours.new_groups,
        new_arrays=previous.new_arrays | ours.new_arrays,
        deleted_groups=previous.deleted_groups | ours.deleted_groups,
        deleted_arrays=previous.deleted_arrays | ours.deleted_arrays,
        updated_arrays=previous.updated_arrays | ours.updated_arrays,
        updated_groups=previous.updated_groups | ours.updated_groups,
        updated_chunks={n: frozenset(c) for n, c in chunks.items() if c},
        moved_nodes=tuple(moves),
    )


def _chained_moves(previous: Sequence[MoveRecord], ours: Sequence[MoveRecord]) -> list[MoveRecord]:
    """One record per node from its path before the tip to its path after our session.

    ``a -> b`` then ``b -> c`` becomes ``a -> c``; a node moved back where it started
    has no record left (as with the reference implementation).
    """
    by_node = {record.node_id: record for record in previous}
    for record in ours:
        earlier = by_node.get(record.node_id)
        by_node[record.node_id] = (
            record if earlier is None else replace(record, from_path=earlier.from_path)
        )
    return [r for r in by_node.values() if r.from_path != r.to_path]
