"""The repository operations log: :class:`Update` entries and their :class:`UpdateType`.

Every change to the repo info file (refs, commits, config, metadata, status...) appends
one entry. Entries are read newest first from the repo file and, once that list runs
out, from the backups under ``overwritten/`` that ``repo_before_updates`` points to.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator, Iterator
from typing import TYPE_CHECKING, Any, ClassVar

from icechunk._admin_core import AVAILABILITY_LABELS as _AVAILABILITY_LABELS
from icechunk._admin_core import utc_from_micros as _datetime
from icechunk._maintenance_types import GCSummary
from icechunk._sync import sync
from icechunk.asset_manager import OVERWRITTEN
from icechunk.diff import html_fields
from icechunk.format.model import RepoAvailability, RepoStatusData, UpdateKind, UpdateRecord
from icechunk.format.repo_info import decode_repo_info

if TYPE_CHECKING:
    from icechunk.refs import RepoInfoStore

__all__ = [
    "GCSummary",
    "RepoAvailability",
    "RepoStatus",
    "Update",
    "UpdateType",
    "iterate_ops_log",
]




def _dt_repr(value: dt.datetime) -> str:
    parts = [value.year, value.month, value.day, value.hour, value.minute, value.second]
    text = ",".join(str(p) for p in parts)
    return f"datetime.datetime({text},{value.microsecond}, tzinfo=datetime.timezone.utc)"




class RepoStatus:
    """The availability of a repository: online, or read-only with a reason.

    Parameters
    ----------
    availability : RepoAvailability
        Whether the repository accepts writes.
    set_at : datetime.datetime, optional
        When the status was set; timezone-aware. Defaults to now.
    limited_availability_reason : str, optional
        Why the repository is not fully available, shown in the errors writers get.
    """

    __slots__ = ("_data",)

    def __init__(
        self,
        availability: RepoAvailability,
        set_at: dt.datetime | None = None,
        limited_availability_reason: str | None = None,
    ) -> None:
        if set_at is None:
            set_at = dt.datetime.now(dt.UTC)
        elif not isinstance(set_at, dt.datetime) or set_at.tzinfo is None:
            raise TypeError("expected a datetime with non-None tzinfo")
        micros = round(set_at.timestamp() * 1_000_000)
        self._data = RepoStatusData(
            RepoAvailability(availability), micros, limited_availability_reason
        )

    @classmethod
    def _from_data(cls, data: RepoStatusData) -> RepoStatus:
        status = cls.__new__(cls)
        status._data = data
        return status

    @property
    def availability(self) -> RepoAvailability:
        """Whether the repository accepts writes."""
        return RepoAvailability(self._data.availability)

    @property
    def set_at(self) -> dt.datetime:
        """When the status was set (UTC)."""
        return _datetime(self._data.set_at)

    @property
    def limited_availability_reason(self) -> str | None:
        """Why the repository is not fully online, if given."""
        return self._data.limited_availability_reason

    def __eq__(self, other: object) -> bool:
        return isinstance(other, RepoStatus) and self._data == other._data

    __hash__ = None  # type: ignore[assignment]

    def _label(self) -> str:
        return _AVAILABILITY_LABELS[self.availability]

    def _inline(self) -> str:
        # The compact form used inside ops-log entries.
        when = self.set_at.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        reason = self.limited_availability_reason
        shown = "None" if reason is None else f'Some("{reason}")'
        return (
            f"RepoStatus(availability={self._label()}, set_at={when}, "
            f"limited_availability_reason={shown})"
        )

    def __repr__(self) -> str:
        return (
            "<icechunk.repository.RepoStatus>\n"
            f"availability: {self._label()}\n"
            f"set_at: {_dt_repr(self.set_at)}\n"
            f"limited_availability_reason: {self.limited_availability_reason}\n"
        )

    def _repr_html_(self) -> str:
        return html_fields(
            "RepoStatus",
            [
                ("availability", self._label()),
                ("set_at", self.set_at.isoformat()),
                ("limited_availability_reason", str(self.limited_availability_reason)),
            ],
        )


class UpdateType:
    """The type of operation recorded in an :class:`Update`: a tagged union.

    Each variant is a nested class (``UpdateType.NewCommit`` ...) whose properties
    describe what happened.
    """

    __slots__ = ("_record",)

    BranchCreated: ClassVar[type[_BranchCreated]]
    BranchDeleted: ClassVar[type[_BranchDeleted]]
    BranchReset: ClassVar[type[_BranchReset]]
    CommitAmended: ClassVar[type[_CommitAmended]]
    ConfigChanged: ClassVar[type[_ConfigChanged]]
    ExpirationRan: ClassVar[type[_ExpirationRan]]
    FeatureFlagChanged: ClassVar[type[_FeatureFlagChanged]]
    GCRan: ClassVar[type[_GCRan]]
    MetadataChanged: ClassVar[type[_MetadataChanged]]
    NewCommit: ClassVar[type[_NewCommit]]
    NewDetachedSnapshot: ClassVar[type[_NewDetachedSnapshot]]
    RepoInitialized: ClassVar[type[_RepoInitialized]]
    RepoMigrated: ClassVar[type[_RepoMigrated]]
    RepoStatusChanged: ClassVar[type[_RepoStatusChanged]]
    TagCreated: ClassVar[type[_TagCreated]]
    TagDeleted: ClassVar[type[_TagDeleted]]

    _fields: ClassVar[tuple[str, ...]] = ()

    def __init__(self, record: UpdateRecord) -> None:
        self._record = record

    def _values(self) -> tuple[Any, ...]:
        return tuple(getattr(self, name) for name in self._fields)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, UpdateType):
            return NotImplemented
        return type(self) is type(other) and self._values() == other._values()

    def __hash__(self) -> int:
        return hash((type(self).__name__, *map(repr, self._values())))

    def __repr__(self) -> str:
        def show(value: Any) -> str:
            if isinstance(value, RepoStatus):
                return value._inline()
            return f'"{value}"' if isinstance(value, str) else repr(value)

        args = ", ".join(f"{name}={show(getattr(self, name))}" for name in self._fields)
        return f"icechunk.ops.UpdateType.{type(self).__name__}({args})"


def _snap(value: object) -> str:
    return "" if value is None else str(value)


class _Named(UpdateType):
    __slots__ = ()
    _fields: ClassVar[tuple[str, ...]] = ("name",)

    @property
    def name(self) -> str:
        """The branch or tag name."""
        return self._record.name or ""


class _NamedPrevious(_Named):
    __slots__ = ()
    _fields: ClassVar[tuple[str, ...]] = ("name", "previous_snap_id")

    @property
    def previous_snap_id(self) -> str:
        """The snapshot the ref pointed to before."""
        return _snap(self._record.previous_snap_id)


class _BranchCreated(_Named):
    """A new branch was created."""

    __slots__ = ()


class _BranchDeleted(_NamedPrevious):
    """A branch was deleted."""

    __slots__ = ()


class _BranchReset(_NamedPrevious):
    """A branch was reset to a different snapshot."""

    __slots__ = ()


class _TagCreated(_Named):
    """A new tag was created."""

    __slots__ = ()


class _TagDeleted(_NamedPrevious):
    """A tag was deleted."""

    __slots__ = ()


class _NewCommit(UpdateType):
    """A new commit was made on a branch."""

    __slots__ = ()
    _fields: ClassVar[tuple[str, ...]] = ("branch", "new_snap_id")

    @property
    def branch(self) -> str:
        """The branch that moved."""
        return self._record.name or ""

    @property
    def new_snap_id(self) -> str:
        """The new snapshot."""
        return _snap(self._record.new_snap_id)


class _CommitAmended(_NewCommit):
    """A commit on a branch was amended."""

    __slots__ = ()
    _fields: ClassVar[tuple[str, ...]] = ("branch", "previous_snap_id", "new_snap_id")

    @property
    def previous_snap_id(self) -> str:
        """The snapshot that was replaced."""
        return _snap(self._record.previous_snap_id)


class _NewDetachedSnapshot(UpdateType):
    """A new detached snapshot was created."""

    __slots__ = ()
    _fields: ClassVar[tuple[str, ...]] = ("new_snap_id",)

    @property
    def new_snap_id(self) -> str:
        """The new snapshot."""
        return _snap(self._record.new_snap_id)


class _ConfigChanged(UpdateType):
    """The repository configuration was changed."""

    __slots__ = ()


class _ExpirationRan(UpdateType):
    """Snapshot expiration was run."""

    __slots__ = ()


class _GCRan(UpdateType):
    """Garbage collection was run."""

    __slots__ = ()


class _MetadataChanged(UpdateType):
    """Repository metadata was changed."""

    __slots__ = ()


class _RepoInitialized(UpdateType):
    """The repository was initialized."""

    __slots__ = ()


class _FeatureFlagChanged(UpdateType):
    """A feature flag was changed."""

    __slots__ = ()
    _fields: ClassVar[tuple[str, ...]] = ("id", "new_value")

    @property
    def id(self) -> int:
        """The feature flag id."""
        return self._record.flag_id or 0

    @property
    def new_value(self) -> bool | None:
        """The new setting; None when reset to the default."""
        if self._record.flag_is_set is False:
            return None
        return self._record.flag_value


class _RepoMigrated(UpdateType):
    """The repository was migrated to a new spec version."""

    __slots__ = ()
    _fields: ClassVar[tuple[str, ...]] = ("from_version", "to_version")

    @property
    def from_version(self) -> int:
        """Spec version before the migration."""
        return self._record.from_version or 0

    @property
    def to_version(self) -> int:
        """Spec version after the migration."""
        return self._record.to_version or 0


class _RepoStatusChanged(UpdateType):
    """The repository availability status was changed."""

    __slots__ = ()
    _fields: ClassVar[tuple[str, ...]] = ("status",)

    @property
    def status(self) -> RepoStatus:
        """The new status."""
        return RepoStatus._from_data(self._record.status or RepoStatusData())


_VARIANTS: dict[UpdateKind, type[UpdateType]] = {
    UpdateKind.BRANCH_CREATED: _BranchCreated,
    UpdateKind.BRANCH_DELETED: _BranchDeleted,
    UpdateKind.BRANCH_RESET: _BranchReset,
    UpdateKind.COMMIT_AMENDED: _CommitAmended,
    UpdateKind.CONFIG_CHANGED: _ConfigChanged,
    UpdateKind.EXPIRATION_RAN: _ExpirationRan,
    UpdateKind.FEATURE_FLAG_CHANGED: _FeatureFlagChanged,
    UpdateKind.GC_RAN: _GCRan,
    UpdateKind.METADATA_CHANGED: _MetadataChanged,
    UpdateKind.NEW_COMMIT: _NewCommit,
    UpdateKind.NEW_DETACHED_SNAPSHOT: _NewDetachedSnapshot,
    UpdateKind.REPO_INITIALIZED: _RepoInitialized,
    UpdateKind.REPO_MIGRATED: _RepoMigrated,
    UpdateKind.REPO_STATUS_CHANGED: _RepoStatusChanged,
    UpdateKind.TAG_CREATED: _TagCreated,
    UpdateKind.TAG_DELETED: _TagDeleted,
}

for _cls in _VARIANTS.values():
    _public = _cls.__name__.lstrip("_")
    _cls.__name__ = _public
    _cls.__qualname__ = f"UpdateType.{_public}"
    setattr(UpdateType, _public, _cls)


class Update:
    """A single entry of the repository operations log.

    Attributes
    ----------
    kind : UpdateType
        The operation that was performed.
    updated_at : datetime.datetime
        When it happened (UTC).
    backup_path : str | None
        Name of the copy of the repo file made before the next operation, if any.
    """

    __slots__ = ("_record",)

    def __init__(self, record: UpdateRecord) -> None:
        self._record = record

    @property
    def kind(self) -> UpdateType:
        """The type of operation that was performed."""
        return _VARIANTS[self._record.kind](self._record)

    @property
    def updated_at(self) -> dt.datetime:
        """When the operation occurred (UTC)."""
        return _datetime(self._record.updated_at)

    @property
    def backup_path(self) -> str | None:
        """Path of a backup of the repo file, if any."""
        return self._record.backup_path

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Update):
            return NotImplemented
        return self._record == other._record

    def __hash__(self) -> int:
        return hash((self._record.kind, self._record.updated_at, self._record.backup_path))

    def __repr__(self) -> str:
        return (
            "<icechunk.ops.Update>\n"
            f"kind: {self.kind!r}\n"
            f"updated_at: {_dt_repr(self.updated_at)}\n"
            f"backup_path: {self.backup_path}"
        )

    def _repr_html_(self) -> str:
        fields = [
            ("kind", repr(self.kind)),
            ("updated_at", _dt_repr(self.updated_at)),
            ("backup_path", str(self.backup_path)),
        ]
        return html_fields("icechunk.ops.Update", fields)


async def _records(store: RepoInfoStore) -> AsyncIterator[UpdateRecord]:
    info = (await store.fetch()).info
    last: int | None = None
    seen: set[str] = set()
    while True:
        for record in info.latest_updates:
            # A backup's first entries repeat the ones already yielded.
            if last is not None and record.updated_at >= last:
                continue
            last = record.updated_at
            yield record
        before = info.repo_before_updates
        if before is None or before in seen:
            return
        seen.add(before)
        info = decode_repo_info(await store.storage.get(OVERWRITTEN + before))


def iterate_ops_log(store: RepoInfoStore) -> _OpsLog:
    """The ops log of a repository, newest first, usable with ``for`` and ``async for``."""
    return _OpsLog(_records(store))


class _OpsLog:
    """Iterator over :class:`Update` objects, for both ``for`` and ``async for``."""

    def __init__(self, agen: AsyncIterator[UpdateRecord]) -> None:
        self._agen = agen

    def __iter__(self) -> Iterator[Update]:
        return self

    def __next__(self) -> Update:
        async def step() -> UpdateRecord:
            return await self._agen.__anext__()

        try:
            return Update(sync(step()))
        except StopAsyncIteration:
            raise StopIteration from None

    def __aiter__(self) -> AsyncIterator[Update]:
        return self

    async def __anext__(self) -> Update:
        return Update(await self._agen.__anext__())
