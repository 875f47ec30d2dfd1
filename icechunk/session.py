"""The public :class:`Session`: a view of one snapshot, optionally writable on a branch."""

from __future__ import annotations

import copy
from enum import Enum
from typing import TYPE_CHECKING, Any

from icechunk._session_core import SessionCore
from icechunk._session_extras import SessionExtrasMixin
from icechunk._sync import sync_twin
from icechunk.errors import ErrorKind, ReadOnlyError, SessionStateError
from icechunk.format.ids import SnapshotId

if TYPE_CHECKING:
    from collections.abc import Sequence

    from icechunk._repo_core import RepoCore
    from icechunk._virtual_refs import ChunkType
    from icechunk.conflicts import ConflictSolver
    from icechunk.diff import Diff
    from icechunk.store import IcechunkStore

__all__ = ["Session", "SessionMode"]

_PICKLE_MESSAGE = (
    "You must opt-in to pickle writable sessions in a distributed context using "
    "Session.fork(). Writable sessions and their stores cannot be pickled because their "
    "uncommitted changes would silently diverge across processes. Pass a ForkSession "
    "(session.fork()) to workers and merge the returned forks with session.merge(...), or "
    "use a read-only session (Repository.readonly_session) for reading. If you are "
    "writing dask arrays with xarray, use icechunk.xarray.to_icechunk."
)


class SessionMode(Enum):
    """What a session may do: only read, read and write, or only move nodes."""

    readonly = 0
    writable = 1
    rearrange = 2
    # Upper-case spellings of the same members, for readability in new code.
    READONLY = 0
    WRITABLE = 1
    REARRANGE = 2

    def __repr__(self) -> str:
        return f"SessionMode.{self.name}"

    __str__ = __repr__

    def __int__(self) -> int:
        return int(self.value)


class Session(SessionExtrasMixin):
    """A read-only or writable view of the repository at one snapshot.

    Obtain one from :meth:`Repository.readonly_session` or
    :meth:`Repository.writable_session`; do not construct it directly.
    """

    def __init__(self, core: SessionCore) -> None:
        self._core = core
        self._allow_pickling = False

    @classmethod
    def _new(
        cls,
        repo: RepoCore,
        snapshot_id: SnapshotId,
        branch: str | None,
        writable: bool,
        *,
        rearrange: bool = False,
    ) -> Session:
        return cls(SessionCore(repo, snapshot_id, branch, writable, rearrange=rearrange))

    # ------------------------------------------------------------------ state
    @property
    def read_only(self) -> bool:
        """True when the session cannot write."""
        return not self._core.writable

    @property
    def mode(self) -> SessionMode:
        """The session's mode."""
        core = self._core
        if not core.writable:
            return SessionMode.readonly
        return SessionMode.rearrange if core.rearrange else SessionMode.writable

    @property
    def snapshot_id(self) -> str:
        """The snapshot the session is based on."""
        return str(self._core.snapshot_id)

    @property
    def branch(self) -> str | None:
        """The branch the session is on, if any."""
        return self._core.branch

    @property
    def has_uncommitted_changes(self) -> bool:
        """Whether the session holds changes that were not committed."""
        return not self._core.changes.is_empty()

    @property
    def store(self) -> IcechunkStore:
        """A zarr v3 store reading and writing through this session."""
        from icechunk.store import IcechunkStore

        return IcechunkStore(self, read_only=self.read_only)

    def discard_changes(self) -> None:
        """Drop every uncommitted change."""
        from icechunk.changeset import ChangeSet

        self._core.changes = ChangeSet()
        self._core._index = None  # undone moves change which node is at which path

    # ------------------------------------------------------------------ commit
    async def commit_async(
        self,
        message: str,
        metadata: dict[str, Any] | None = None,
        *,
        rebase_with: Any = None,
        rebase_tries: int = 1_000,
        allow_empty: bool = False,
    ) -> str:
        """Commit the changes as a new snapshot on the branch and return its id.

        Raises
        ------
        ConflictError
            If the branch moved since the session started.
        SessionStateError
            If there is nothing to commit (unless ``allow_empty``) or the session is not
            on a branch.
        """
        _check_commit_args(message, metadata)
        if rebase_with is not None:
            from icechunk.conflicts import rebase_session
            from icechunk.errors import ConflictError, RebaseFailedError

            attempts = 0
            while True:
                try:
                    # After a rebase the solver may have resolved every change away; the
                    # reference still records the commit then, so emptiness is only
                    # checked on the first attempt.
                    landed = await self._core.commit(
                        message,
                        _with_rebase_attempts(metadata, attempts),
                        allow_empty or attempts > 0,
                    )
                except RebaseFailedError:
                    raise
                except ConflictError:
                    if attempts >= rebase_tries:
                        raise
                    attempts += 1
                    await rebase_session(self._core, rebase_with)
                else:
                    return str(landed)
        sid = await self._core.commit(message, metadata, allow_empty)
        return str(sid)

    commit = sync_twin(commit_async)

    async def amend_async(
        self, message: str, *, metadata: dict[str, Any] | None = None, allow_empty: bool = False
    ) -> str:
        """Replace the branch tip by a commit holding its changes plus this session's.

        The new snapshot's parent is the old tip's parent, so the old tip leaves the
        branch's ancestry (it stays in the repository until expired). Afterwards the
        session is read-only and based on the new snapshot.

        Parameters
        ----------
        message
            The message of the replacing commit.
        metadata
            Its properties (they replace the old tip's).
        allow_empty
            Amend even if the session changed nothing, e.g. to reword the message.

        Returns
        -------
        str
            The id of the new snapshot.

        Raises
        ------
        ConflictError
            If the branch moved since the session started.
        SessionStateError
            If the session cannot commit, has no changes (without ``allow_empty``), or
            is based on the repository's first commit (kind
            ``no-amend-for-initial-commit``).
        """
        from icechunk._commit import commit_session

        _check_commit_args(message, metadata)
        sid = await commit_session(
            self._core, message, metadata, allow_empty=allow_empty, amend=True
        )
        return str(sid)

    amend = sync_twin(amend_async)

    # ------------------------------------------------------------------ moves
    async def move_async(self, from_path: str, to_path: str) -> None:
        """Move or rename a group or array, with everything below it.

        Only the hierarchy changes; no chunk is copied. Needs a session from
        :meth:`Repository.rearrange_session`; the destination's parent group must exist.

        Raises
        ------
        SessionStateError
            Outside a rearrange session (kind ``non-rearrange-session``), when moving a
            node into itself, or when the destination's parent is missing or an array.
        NodeNotFoundError
            If nothing exists at ``from_path``.
        AlreadyExistsError
            If a node already exists at ``to_path`` (kind ``move-wont-overwrite``).
        """
        await self._core.move_node(from_path, to_path)

    move = sync_twin(move_async)

    # ------------------------------------------------------------------ status
    async def status_async(self) -> Diff:
        """The uncommitted changes of this session, as a :class:`Diff`.

        Returns
        -------
        Diff
            Nodes created, deleted and updated and chunks written since the base snapshot.
        """
        from icechunk.diff import build_diff

        core = self._core
        base = await core.snapshot()
        log = core._transaction_log(SnapshotId(bytes(12)))
        before = {n.id: n.path for n in base.nodes}
        after = {n.id: n.path for n in core.changes.new_nodes.values()}
        return build_diff([log], before, after)

    status = sync_twin(status_async)

    # ------------------------------------------------------------------ rebase
    async def rebase_async(self, solver: ConflictSolver) -> None:
        """Move the session onto the branch tip, replaying its changes.

        Every commit that landed on the branch since the session's base snapshot is
        checked for conflicts with the session's changes, oldest first; ``solver``
        resolves what it can.

        Raises
        ------
        RebaseFailedError
            If ``solver`` leaves conflicts unresolved; ``conflicts`` lists them.
        """
        from icechunk.conflicts import rebase_session

        await rebase_session(self._core, solver)

    rebase = sync_twin(rebase_async)

    # ------------------------------------------------------------------ fork / merge
    def fork(self) -> ForkSession:
        """A picklable child session for one worker of a distributed write.

        The fork starts from this session's base snapshot and a copy of its uncommitted
        changes. Send it to a worker, write through ``fork.store`` there, send it back
        and fold it into this session with :meth:`merge`, then commit this session.

        Raises
        ------
        SessionStateError
            If this session is read-only (kind ``cannot-fork-read-only-session``);
            read-only sessions pickle directly and need no fork.
        """
        if not self._core.writable:
            raise SessionStateError(
                "cannot fork a read-only session; read-only sessions can be pickled and "
                "sent to workers as they are",
                ErrorKind.CANNOT_FORK_READ_ONLY_SESSION,
            )
        core = self._core
        changes = copy.deepcopy(core.changes)
        fork_core = SessionCore(
            core.repo, core.snapshot_id, None, True, changes, rearrange=core.rearrange
        )
        return ForkSession(fork_core)

    async def merge_async(self, *others: Session) -> None:
        """Fold the uncommitted changes of ``others`` (usually forks) into this session.

        Sessions are folded in order; when two of them wrote the same chunk or node,
        the later one wins. Chunks written by the forks are already in storage, so
        only their change records are moved.

        Raises
        ------
        ReadOnlyError
            If this session is read-only.
        """
        if not self._core.writable:
            raise ReadOnlyError("read-only sessions cannot merge changes from other sessions")
        if self._core.rearrange:
            raise SessionStateError(
                "a rearrange session can only move nodes and cannot merge other sessions; "
                "merge into a regular writable session instead",
                ErrorKind.REARRANGE_SESSION_ONLY,
            )
        for other in others:
            if other is self:
                continue
            self._core.changes.merge(copy.deepcopy(other._core.changes))

    merge = sync_twin(merge_async)

    # ------------------------------------------------------------------ virtual chunks
    async def all_virtual_chunk_locations_async(self) -> list[str]:
        """The absolute location of every virtual chunk, one entry per chunk."""
        from icechunk._virtual_refs import all_virtual_chunk_locations

        return await all_virtual_chunk_locations(self._core)

    all_virtual_chunk_locations = sync_twin(all_virtual_chunk_locations_async)

    async def chunk_type_async(
        self, array_path: str, chunk_coordinates: Sequence[int]
    ) -> ChunkType:
        """How a chunk is stored: a :class:`~icechunk.ChunkType`."""
        from icechunk._virtual_refs import chunk_type

        return await chunk_type(self._core, array_path, chunk_coordinates)

    chunk_type = sync_twin(chunk_type_async)

    # ------------------------------------------------------------------ pickling
    def __getstate__(self) -> dict[str, Any]:
        if self._core.writable and not self._allow_pickling:
            raise ValueError(_PICKLE_MESSAGE)
        core = self._core
        return {
            "repo": core.repo,
            "snapshot_id": core.snapshot_id,
            "branch": core.branch,
            "writable": core.writable,
            "rearrange": core.rearrange,
            "changes": core.changes,
        }

    def __setstate__(self, state: dict[str, Any]) -> None:
        self._core = SessionCore(
            state["repo"],
            state["snapshot_id"],
            state["branch"],
            state["writable"],
            state["changes"],
            rearrange=state.get("rearrange", False),
        )
        self._allow_pickling = False

    def __repr__(self) -> str:
        text = (
            f"<icechunk.session.Session>\nread_only: {self.read_only}\n"
            f"snapshot_id: {self.snapshot_id}\n"
        )
        if self.read_only:  # like the reference: branch and changes only mean something here
            return text
        return (
            f"{text}branch: {self.branch}\n"
            f"has_uncommitted_changes: {self.has_uncommitted_changes}\n"
        )

    def _repr_html_(self) -> str:
        from icechunk._html import session_html

        return session_html(self)


class ForkSession(Session):
    """A writable session made by :meth:`Session.fork` for a worker of a distributed write.

    It pickles (with its store), accepts writes, and can be merged into other sessions,
    but it cannot commit: merge it back into the session that forked it and commit that.
    """

    def __init__(self, core: SessionCore) -> None:
        super().__init__(core)
        self._allow_pickling = True
        self._origin = copy.deepcopy(core.changes)

    @property
    def has_uncommitted_changes(self) -> bool:
        """Whether the fork holds changes beyond the ones it inherited when forked."""
        return self._core.changes != self._origin

    async def commit_async(
        self,
        message: str,
        metadata: dict[str, Any] | None = None,
        *,
        rebase_with: Any = None,
        rebase_tries: int = 1_000,
        allow_empty: bool = False,
    ) -> str:
        """Always refused: merge the fork into its parent session and commit that one.

        Raises
        ------
        SessionStateError
            Always (kind ``commit-not-allowed``).
        """
        raise SessionStateError(
            "commits are not allowed on forked sessions: merge them back into the session "
            "they were forked from (Session.merge) and commit that session",
            ErrorKind.COMMIT_NOT_ALLOWED,
        )

    async def amend_async(
        self, message: str, *, metadata: dict[str, Any] | None = None, allow_empty: bool = False
    ) -> str:
        """Always refused, like :meth:`commit_async`."""
        return await self.commit_async(message, metadata, allow_empty=allow_empty)

    async def flush_async(self, message: str, *, metadata: dict[str, Any] | None = None) -> str:
        """Always refused: merge the fork into its parent session and flush that one.

        Raises
        ------
        SessionStateError
            Always (kind ``commit-not-allowed``).
        """
        raise SessionStateError(
            "cannot flush a forked session: merge it back into the session it was forked "
            "from (Session.merge) and flush that session",
            ErrorKind.COMMIT_NOT_ALLOWED,
        )

    def __getstate__(self) -> dict[str, Any]:
        state = super().__getstate__()
        state["origin"] = self._origin
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        super().__setstate__(state)
        self._allow_pickling = True
        self._origin = state["origin"]


__all__ += ["ForkSession"]


def _check_commit_args(message: object, metadata: object) -> None:
    """Type errors for a commit's message and properties, as the real API raises them."""
    if not isinstance(message, str):
        raise TypeError(f"'{type(message).__name__}' object is not an instance of 'str'")
    if metadata is not None and not isinstance(metadata, dict):
        raise TypeError(f"'{type(metadata).__name__}' object is not an instance of 'dict'")


def _with_rebase_attempts(metadata: dict[str, Any] | None, attempts: int) -> dict[str, Any] | None:
    """Record how many rebases a commit needed, under ``__icechunk`` as the reference does."""
    if attempts == 0:
        return metadata
    merged = dict(metadata or {})
    internal = dict(merged.get("__icechunk") or {})
    internal["rebase_attempts"] = attempts
    merged["__icechunk"] = internal
    return merged
