"""The pyicechunk exception tree.

Every error raised by this package derives from :class:`IcechunkError` and is grouped by
what a caller would do about it. Each instance has a human-readable ``message`` and a
stable machine-readable ``kind`` (a member of :class:`ErrorKind`)::

    IcechunkError
    ├── ConflictError
    │   └── RebaseFailedError
    ├── NotFoundError                 (also a KeyError)
    │   ├── NodeNotFoundError
    │   ├── SnapshotNotFoundError
    │   ├── RefNotFoundError
    │   └── RepositoryNotFoundError
    ├── AlreadyExistsError
    ├── ReadOnlyError
    ├── InvalidInputError             (also a ValueError)
    ├── SessionStateError
    ├── StorageError
    ├── FormatError
    └── InternalError
"""

from __future__ import annotations

from collections.abc import Sequence
from enum import StrEnum
from typing import Any

__all__ = [
    "AlreadyExistsError",
    "ConflictError",
    "ErrorKind",
    "FormatError",
    "IcechunkError",
    "InternalError",
    "InvalidInputError",
    "NodeNotFoundError",
    "NotFoundError",
    "ReadOnlyError",
    "RebaseFailedError",
    "RefNotFoundError",
    "RepositoryNotFoundError",
    "SessionStateError",
    "SnapshotNotFoundError",
    "StorageError",
]


class ErrorKind(StrEnum):
    """Stable codes for :attr:`IcechunkError.kind`; append-only, never renamed."""

    COMMIT_CONFLICT = "commit-conflict"
    BRANCH_UPDATE_CONFLICT = "branch-update-conflict"
    REBASE_FAILED = "rebase-failed"
    CONFIG_UPDATED = "config-updated"
    REPO_INFO_UPDATED = "repo-info-updated"
    UPDATE_ATTEMPTS_EXHAUSTED = "update-attempts-exhausted"
    GC_DELETES_FAILING = "gc-deletes-failing"
    NODE_NOT_FOUND = "node-not-found"
    ANCESTOR_NODE_NOT_FOUND = "ancestor-node-not-found"
    CHUNK_NOT_FOUND = "chunk-not-found"
    KEY_NOT_FOUND = "key-not-found"
    SNAPSHOT_NOT_FOUND = "snapshot-not-found"
    NO_SNAPSHOT_AT_TIME = "no-snapshot-at-time"
    REF_NOT_FOUND = "ref-not-found"
    BRANCH_NOT_FOUND = "branch-not-found"
    TAG_NOT_FOUND = "tag-not-found"
    REPOSITORY_NOT_FOUND = "repository-not-found"
    MANIFEST_INFO_NOT_FOUND = "manifest-info-not-found"
    NODE_ALREADY_EXISTS = "node-already-exists"
    BRANCH_ALREADY_EXISTS = "branch-already-exists"
    TAG_ALREADY_EXISTS = "tag-already-exists"
    TAG_PREVIOUSLY_DELETED = "tag-previously-deleted"
    MOVE_WONT_OVERWRITE = "move-wont-overwrite"
    READ_ONLY_SESSION = "read-only-session"
    READ_ONLY_STORE = "read-only-store"
    READ_ONLY_STORAGE = "read-only-storage"
    READ_ONLY_REPOSITORY = "read-only-repository"
    INVALID_KEY = "invalid-key"
    INVALID_CHUNK_INDEX = "invalid-chunk-index"
    ZERO_LENGTH_CHUNK = "zero-length-chunk"
    INVALID_MANIFEST_SPLIT_INDEX = "invalid-manifest-split-index"
    INVALID_REF_TYPE = "invalid-ref-type"
    INVALID_REF_NAME = "invalid-ref-name"
    INVALID_SNAPSHOT_ID = "invalid-snapshot-id"
    INVALID_PATH = "invalid-path"
    BAD_KEY_PREFIX = "bad-key-prefix"
    BAD_METADATA = "bad-metadata"
    BAD_PREFIX = "bad-prefix"
    NOT_AN_ARRAY = "not-an-array"
    NOT_A_GROUP = "not-a-group"
    INVALID_BYTE_RANGE = "invalid-byte-range"
    INVALID_COMMIT_CONFIGURATION = "invalid-commit-configuration"
    INVALID_ARRAY_METADATA = "invalid-array-metadata"
    INVALID_FEATURE_FLAG = "invalid-feature-flag"
    INVALID_VIRTUAL_REF = "invalid-virtual-ref"
    INVALID_CREDENTIALS = "invalid-credentials"
    NO_CONTAINER_FOR_VIRTUAL_CHUNK = "no-container-for-virtual-chunk"
    UNAUTHORIZED_VIRTUAL_CHUNK_CONTAINER = "unauthorized-virtual-chunk-container"
    EMPTY_PREFIX_CREATION = "empty-prefix-creation"
    PARENT_DIRECTORY_NOT_CLEAN = "parent-directory-not-clean"
    BAD_SNAPSHOT_CHAIN_FOR_DIFF = "bad-snapshot-chain-for-diff"
    COMMIT_NOT_ALLOWED = "commit-not-allowed"
    MERGE_NOT_ALLOWED = "merge-not-allowed"
    CANNOT_FORK_READ_ONLY_SESSION = "cannot-fork-read-only-session"
    REARRANGE_SESSION_ONLY = "rearrange-session-only"
    NON_REARRANGE_SESSION = "non-rearrange-session"
    MOVE_INTO_SELF_OR_DESCENDANT = "move-into-self-or-descendant"
    MOVE_DESTINATION_PARENT_MISSING = "move-destination-parent-missing"
    MOVE_DESTINATION_PARENT_NOT_GROUP = "move-destination-parent-not-group"
    NO_CHANGES_TO_COMMIT = "no-changes-to-commit"
    NO_AMEND_FOR_INITIAL_COMMIT = "no-amend-for-initial-commit"
    NOT_ON_BRANCH = "not-on-branch"
    NO_SNAPSHOT = "no-snapshot"
    CANNOT_DELETE_MAIN = "cannot-delete-main"
    UNCOMMITTED_CHANGES = "uncommitted-changes"
    MERGE_FAILED = "merge-failed"
    NOT_ALLOWED = "not-allowed"
    UNIMPLEMENTED = "unimplemented"
    REBASE_TX_LOG_PRUNED = "rebase-tx-log-pruned"
    FEATURE_FLAG_DISABLED = "feature-flag-disabled"
    TAG_ERROR = "tag-error"
    INVALID_REPOSITORY_MIGRATION = "invalid-repository-migration"
    OBJECT_NOT_FOUND = "object-not-found"
    OBJECT_STORE = "object-store"
    IO = "io"
    STORAGE_CONFIG = "storage-config"
    CANNOT_PARSE_URL = "cannot-parse-url"
    BAD_REDIRECT = "bad-redirect"
    SEMAPHORE_ACQUIRE = "semaphore-acquire"
    THROTTLED = "throttled"
    STORAGE_OTHER = "storage-other"
    VIRTUAL_CHUNK_FETCH = "virtual-chunk-fetch"
    VIRTUAL_CHUNK_MODIFIED = "virtual-chunk-modified"
    INVALID_OBJECT_SIZE = "invalid-object-size"
    SERIALIZATION = "serialization"
    DESERIALIZATION = "deserialization"
    CONFIG_DESERIALIZATION = "config-deserialization"
    INVALID_FILE_FORMAT = "invalid-file-format"
    UNSUPPORTED_SPEC_VERSION = "unsupported-spec-version"
    UNSUPPORTED_OPERATION_FOR_VERSION = "unsupported-operation-for-version"
    SNAPSHOT_TIMESTAMP = "snapshot-timestamp"
    DUPLICATE_SNAPSHOT_ID = "duplicate-snapshot-id"
    CONCURRENCY = "concurrency"
    FLUSH = "flush"
    PARTIAL_VALUES_PANIC = "partial-values-panic"
    CONFLICTING_PATH_NOT_FOUND = "conflicting-path-not-found"
    INCONSISTENT_MANIFESTS = "inconsistent-manifests"
    POISON_LOCK = "poison-lock"
    PICKLE = "pickle"
    UNKNOWN = "unknown"


class IcechunkError(Exception):
    """Root of every error this package raises.

    Parameters
    ----------
    message
        What went wrong and, where possible, what to do about it.
    kind
        A stable :class:`ErrorKind` code; each subclass has a sensible default.
    """

    default_kind: str = ErrorKind.UNKNOWN

    def __init__(self, message: str = "", kind: str | None = None) -> None:
        super().__init__(message)
        self._message = message
        self._kind = str(kind) if kind is not None else str(self.default_kind)

    @property
    def message(self) -> str:
        """The human-readable description of the failure."""
        return self._message

    @property
    def kind(self) -> str:
        """Stable machine-readable error code, see :class:`ErrorKind`."""
        return self._kind

    def __str__(self) -> str:
        return self._message

    def __repr__(self) -> str:
        # Same layout as the real package: qualified class name, fields double-quoted
        # verbatim (no escaping), so logs from both implementations read alike.
        return f'icechunk.{type(self).__name__}(message="{self._message}", kind="{self._kind}")'

    def add_context(self, operation: str, details: str = "") -> None:
        """Record that the error surfaced through ``operation`` (innermost first).

        The message gains a ``context:`` block numbering the operations, laid out like
        the real package's span trace, so users (and tests matching on the message) see
        which operation failed on behalf of which.
        """
        frames = self._message.split("\n\ncontext:\n", 1)
        block = frames[1] if len(frames) == 2 else ""
        number = sum(1 for line in block.splitlines() if line[:4].strip().isdigit())
        entry = f"   {number}: icechunk::{operation}"
        if details:
            entry += f"\n           with {details}"
        block = f"{block}\n{entry}" if block else entry
        self._message = f"{frames[0]}\n\ncontext:\n{block}"
        self.args = (self._message,)

    def __reduce__(self) -> tuple[Any, ...]:
        return (_rebuild_error, (type(self), self._message, self._kind, self._extra_state()))

    def _extra_state(self) -> dict[str, Any]:
        return {}

    def _restore_extra_state(self, state: dict[str, Any]) -> None:
        """Subclasses with extra fields override this to restore them after unpickling."""


def _rebuild_error(
    cls: type[IcechunkError], message: str, kind: str, state: dict[str, Any]
) -> IcechunkError:
    err = cls.__new__(cls)
    IcechunkError.__init__(err, message, kind)
    err._restore_extra_state(state)
    return err


class NotFoundError(IcechunkError, KeyError):
    """Something that was asked for does not exist (also a :class:`KeyError`)."""

    default_kind = ErrorKind.KEY_NOT_FOUND

    def __str__(self) -> str:  # KeyError would quote the message otherwise
        return self._message


class NodeNotFoundError(NotFoundError):
    """No group, array or chunk exists at the given path."""

    default_kind = ErrorKind.NODE_NOT_FOUND


class SnapshotNotFoundError(NotFoundError):
    """No snapshot exists with the given id (or at the given time)."""

    default_kind = ErrorKind.SNAPSHOT_NOT_FOUND


class RefNotFoundError(NotFoundError):
    """No branch or tag exists with the given name."""

    default_kind = ErrorKind.REF_NOT_FOUND


class RepositoryNotFoundError(NotFoundError):
    """No Icechunk repository exists at the given storage location."""

    default_kind = ErrorKind.REPOSITORY_NOT_FOUND


class AlreadyExistsError(IcechunkError):
    """Something being created (node, branch, tag, repository) already exists."""

    default_kind = ErrorKind.NODE_ALREADY_EXISTS


class ReadOnlyError(IcechunkError):
    """A write was attempted through a read-only session, store, storage or repository."""

    default_kind = ErrorKind.READ_ONLY_SESSION


class InvalidInputError(IcechunkError, ValueError):
    """An argument, key, index or metadata value is invalid (also a :class:`ValueError`)."""

    default_kind = ErrorKind.INVALID_KEY


class SessionStateError(IcechunkError):
    """The operation is not allowed in the current session or repository state."""

    default_kind = ErrorKind.NOT_ALLOWED


class StorageError(IcechunkError):
    """The object store or local storage failed or is misconfigured."""

    default_kind = ErrorKind.STORAGE_OTHER


class FormatError(IcechunkError):
    """An on-disk file could not be read or written: corruption or unsupported version."""

    default_kind = ErrorKind.INVALID_FILE_FORMAT


class InternalError(IcechunkError):
    """An unexpected internal failure; a bug in pyicechunk."""

    default_kind = ErrorKind.UNKNOWN


def _rust_option(value: str | None) -> str:
    # The reference implementation prints optional ids the way Rust debug-formats them.
    return "None" if value is None else f'Some("{value}")'


class ConflictError(IcechunkError):
    """A commit could not land because the branch moved since the session started.

    Parameters
    ----------
    expected_parent
        The snapshot id the session was based on.
    actual_parent
        The snapshot id the branch points to now.
    message
        Optional message; by default one is built from the two parents.
    kind
        Optional :class:`ErrorKind` code.
    """

    default_kind = ErrorKind.COMMIT_CONFLICT

    def __init__(
        self,
        expected_parent: str | None = None,
        actual_parent: str | None = None,
        message: str | None = None,
        kind: str | None = None,
    ) -> None:
        default = message is None
        if message is None:
            message = (
                f"Failed to commit, expected parent: {_rust_option(expected_parent)}, "
                f"actual parent: {_rust_option(actual_parent)}"
            )
        super().__init__(message, kind)
        if default:
            self.add_note(
                "the branch moved since this session started: rebase the session "
                "(session.rebase(solver)) or commit with rebase_with=..."
            )
        self._expected_parent = expected_parent
        self._actual_parent = actual_parent

    @property
    def expected_parent(self) -> str | None:
        """The snapshot id the session was based on when it tried to commit."""
        return self._expected_parent

    @property
    def actual_parent(self) -> str | None:
        """The snapshot id the branch tip points to now."""
        return self._actual_parent

    def __repr__(self) -> str:
        return (
            f"icechunk.{type(self).__name__}(expected_parent={self._expected_parent}, "
            f"actual_parent={self._actual_parent})"
        )

    def _extra_state(self) -> dict[str, Any]:
        return {"expected": self._expected_parent, "actual": self._actual_parent}

    def _restore_extra_state(self, state: dict[str, Any]) -> None:
        self._expected_parent = state.get("expected")
        self._actual_parent = state.get("actual")


class RebaseFailedError(ConflictError):
    """A rebase found conflicts its solver could not resolve.

    Parameters
    ----------
    snapshot
        The snapshot id the rebase was replaying when it failed.
    conflicts
        Every conflict found.
    """

    default_kind = ErrorKind.REBASE_FAILED

    def __init__(self, snapshot: str, conflicts: Sequence[Any]) -> None:
        message = f"Rebase failed on snapshot {snapshot}: {len(conflicts)} conflicts found"
        super().__init__(None, None, message, ErrorKind.REBASE_FAILED)
        if conflicts:
            self.add_note("conflicts: " + "; ".join(repr(c) for c in conflicts))
        self.add_note(
            "resolve them with a different ConflictSolver, or discard the session's changes"
        )
        self._snapshot = snapshot
        self._conflicts = list(conflicts)

    @property
    def snapshot(self) -> str:
        """The snapshot id the rebase was replaying when it failed."""
        return self._snapshot

    @property
    def conflicts(self) -> list[Any]:
        """Every conflict the solver could not resolve."""
        return list(self._conflicts)

    def __repr__(self) -> str:
        return (
            f'icechunk.{type(self).__name__}(snapshot="{self._snapshot}", '
            f"conflicts={self._conflicts!r})"
        )

    def _repr_html_(self) -> str:
        from icechunk._html import conflicts_html

        return conflicts_html(self._conflicts)

    def _extra_state(self) -> dict[str, Any]:
        return {"snapshot": self._snapshot, "conflicts": self._conflicts}

    def _restore_extra_state(self, state: dict[str, Any]) -> None:
        self._snapshot = state["snapshot"]
        self._conflicts = list(state["conflicts"])
        self._expected_parent = None
        self._actual_parent = None


for _cls in (
    IcechunkError,
    NotFoundError,
    NodeNotFoundError,
    SnapshotNotFoundError,
    RefNotFoundError,
    RepositoryNotFoundError,
    AlreadyExistsError,
    ReadOnlyError,
    InvalidInputError,
    SessionStateError,
    StorageError,
    FormatError,
    InternalError,
    ConflictError,
    RebaseFailedError,
):
    _cls.__module__ = "icechunk"
