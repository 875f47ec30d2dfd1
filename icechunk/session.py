"""The public :class:`Session`: a view of one snapshot, optionally writable on a branch."""

from __future__ import annotations

import copy
from enum import Enum
from typing import TYPE_CHECKING, Any

from icechunk._session_core import SessionCore
from icechunk._sync import sync
from icechunk.errors import ErrorKind, ReadOnlyError, SessionStateError
from icechunk.format.ids import SnapshotId

if TYPE_CHECKING:
    from icechunk._repo_core import RepoCore
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
    """Whether a session can write."""

    READONLY = "readonly"
    WRITABLE = "writable"
    REARRANGE = "rearrange"


class Session:
    """A read-only or writable view of the repository at one snapshot.

    Obtain one from :meth:`Repository.readonly_session` or
    :meth:`Repository.writable_session`; do not construct it directly.
    """

    def __init__(self, core: SessionCore) -> None:
        self._core = core
        self._allow_pickling = False

    @classmethod
    def _new(cls, repo: RepoCore, snapshot_id: SnapshotId, branch: str | None, writable: bool) -> Session:
        return cls(SessionCore(repo, snapshot_id, branch, writable))

    # ------------------------------------------------------------------ state
    @property
    def read_only(self) -> bool:
        """True when the session cannot write."""
        return not self._core.writable

    @property
    def mode(self) -> SessionMode:
        """The session's mode."""
        return SessionMode.WRITABLE if self._core.writable else SessionMode.READONLY

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
        if not isinstance(message, str):
            from icechunk.errors import InvalidInputError

            raise InvalidInputError("commit message must be a string")
        if rebase_with is not None:
            from icechunk.conflicts import rebase_session
            from icechunk.errors import ConflictError, RebaseFailedError

            attempts = 0
            while True:
                try:
                    landed = await self._core.commit(message, metadata, allow_empty)
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

    def commit(
        self,
        message: str,
        metadata: dict[str, Any] | None = None,
        *,
        rebase_with: Any = None,
        rebase_tries: int = 1_000,
        allow_empty: bool = False,
    ) -> str:
        """Commit the changes as a new snapshot on the branch and return its id."""
        return sync(
            self.commit_async(
                message,
                metadata,
                rebase_with=rebase_with,
                rebase_tries=rebase_tries,
                allow_empty=allow_empty,
            )
        )

    # ------------------------------------------------------------------ status
    async def status_async(self) -> Diff:
        """The uncommitted changes of this session, as a :class:`Diff` (async).

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

    def status(self) -> Diff:
        """The uncommitted changes of this session, as a :class:`Diff`.

        Returns
        -------
        Diff
            Nodes created, deleted and updated and chunks written since the base snapshot.
        """
        return sync(self.status_async())

    # ------------------------------------------------------------------ rebase
    async def rebase_async(self, solver: ConflictSolver) -> None:
        """Move the session onto the branch tip, replaying its changes (async).

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

    def rebase(self, solver: ConflictSolver) -> None:
        """Move the session onto the branch tip, replaying its changes.

        Raises
        ------
        RebaseFailedError
            If ``solver`` leaves conflicts unresolved; ``conflicts`` lists them.
        """
        sync(self.rebase_async(solver))

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
        return ForkSession(SessionCore(core.repo, core.snapshot_id, None, True, changes))

    async def merge_async(self, *others: Session) -> None:
        """Fold the uncommitted changes of ``others`` (usually forks) into this session (async).

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
        for other in others:
            if other is self:
                continue
            self._core.changes.merge(copy.deepcopy(other._core.changes))

    def merge(self, *others: Session) -> None:
        """Fold the uncommitted changes of ``others`` (usually forks) into this session.

        Raises
        ------
        ReadOnlyError
            If this session is read-only.
        """
        sync(self.merge_async(*others))


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
            "changes": core.changes,
        }

    def __setstate__(self, state: dict[str, Any]) -> None:
        self._core = SessionCore(
            state["repo"], state["snapshot_id"], state["branch"], state["writable"], state["changes"]
        )
        self._allow_pickling = False

    def __repr__(self) -> str:
        return (
            f"<icechunk.session.Session>\nread_only: {self.read_only}\n"
            f"snapshot_id: {self.snapshot_id}\nbranch: {self.branch}\n"
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
            "forked sessions cannot commit; merge them back into the session they were "
            "forked from (Session.merge) and commit that session",
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
