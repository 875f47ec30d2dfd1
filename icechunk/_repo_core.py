"""Async repository operations on a spec-v2 repository: refs, history, config.

The public :class:`icechunk.Repository` is a thin sync/async facade over this.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from icechunk._admin_core import require_feature
from icechunk._pickling import pack
from icechunk._virtual import VirtualResolver
from icechunk.asset_manager import AssetManager
from icechunk.errors import (
    AlreadyExistsError,
    ErrorKind,
    InvalidInputError,
    RefNotFoundError,
    SessionStateError,
    SnapshotNotFoundError,
)
from icechunk.format.ids import INITIAL_SNAPSHOT_ID, SnapshotId
from icechunk.format.model import (
    RepoInfo,
    RepoStatusData,
    SnapshotEntry,
    TransactionLog,
    UpdateKind,
    UpdateRecord,
    VirtualPayload,
)
from icechunk.format.snapshot import new_initial_snapshot
from icechunk.refs import RepoInfoStore, now_micros
from icechunk.storage import Storage

if TYPE_CHECKING:
    from icechunk.config import Attribution, RepositoryConfig

__all__ = ["RepoCore", "parse_snapshot_id", "validate_ref_name"]

DEFAULT_INLINE_THRESHOLD = 512
MAIN = "main"

_LOG = logging.getLogger("icechunk.repository")


def parse_snapshot_id(text: str) -> SnapshotId:
    """Parse a user-supplied snapshot id, with a typed error naming the bad value."""
    if not isinstance(text, str):
        raise InvalidInputError(
            f"snapshot id must be a string, got {type(text).__name__}",
            ErrorKind.INVALID_SNAPSHOT_ID,
        )
    try:
        return SnapshotId.parse(text)
    except InvalidInputError:
        raise InvalidInputError(
            f"invalid snapshot id: `{text}`", ErrorKind.INVALID_SNAPSHOT_ID
        ) from None


def validate_ref_name(name: str, what: str) -> str:
    """Reject branch/tag names that cannot be stored.

    Spec v2 keeps refs inside the repo info file, so no name becomes an object key and
    any string icechunk 2.3.0 accepts is accepted: empty names, ``/``, ``..``, control
    characters. Only names that are not text (or not encodable as UTF-8) are refused.
    """
    if not isinstance(name, str):
        raise InvalidInputError(f"{what} name must be a string", ErrorKind.INVALID_REF_NAME)
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        raise InvalidInputError(
            f"invalid {what} name {name!r}: names must be valid UTF-8 text",
            ErrorKind.INVALID_REF_NAME,
        ) from None
    return name


def _entry(kind: UpdateKind, **fields: Any) -> UpdateRecord:
    return UpdateRecord(kind, 0, **fields)


class RepoCore:
    """Shared state of an open repository: storage, object I/O, refs and config."""

    def __init__(
        self,
        storage: Storage,
        config: RepositoryConfig,
        spec_version: int = 2,
        attribution: Attribution | None = None,
    ) -> None:
        self.storage = storage
        self.config = config
        #: Labels for the User-Agent of this repository's requests (None: not given).
        self.attribution = attribution
        # Requests go through the storage with the repository's StorageSettings applied.
        storage = storage.with_repository_settings(getattr(config, "storage", None))
        if attribution is not None:
            storage = storage.with_attribution(attribution)
        #: On-disk spec version, detected at open time; spec-v1 repositories are read-only.
        self.spec_version = spec_version
        compression = _compression_level(config)
        caching = getattr(config, "caching", None)
        self.assets = AssetManager(
            storage,
            compression_level=compression,
            **_cache_sizes(caching),
        )
        self.refs = RepoInfoStore(
            storage,
            compression_level=compression,
            max_updates_per_file=_int_attr(config, "num_updates_per_repo_info_file", 1000),
        )
        #: URL prefix -> credentials authorized for virtual chunks (see icechunk._virtual).
        self.virtual_access: dict[str, Any] = {}
        self._virtual: VirtualResolver | None = None
        if spec_version == 1:
            from icechunk._v1_repo import V1RefStore

            self.refs = V1RefStore(storage, self.assets)
            self.assets.spec_version = 1

    @property
    def inline_threshold(self) -> int:
        """Chunks up to this many bytes are stored inside the manifest."""
        return _int_attr(self.config, "inline_chunk_threshold_bytes", DEFAULT_INLINE_THRESHOLD)

    # ------------------------------------------------------------------ lifecycle
    async def initialize(self, config_dict: dict[str, Any] | None) -> None:
        """Write the initial snapshot, its empty transaction log and the repo file."""
        _LOG.debug("Creating Repository")
        now = now_micros()
        snap = new_initial_snapshot(now)
        if self.spec_version >= 2:  # v1 repositories have no log for the initial commit
            await self.assets.write_transaction_log(TransactionLog(id=snap.id))
        await self.assets.write_snapshot(snap)
        entry = SnapshotEntry(snap.id, None, snap.flushed_at, snap.message, snap.metadata)
        info = RepoInfo(
            branches={MAIN: snap.id},
            tags={},
            deleted_tags=frozenset(),
            snapshots={snap.id: entry},
            status=RepoStatusData(set_at=now),
            latest_updates=(UpdateRecord(UpdateKind.REPO_INITIALIZED, now),),
            config=config_dict,
        )
        await self.refs.create(info)

    async def info(self) -> RepoInfo:
        """The current repo info (fresh read)."""
        return (await self.refs.fetch()).info

    # ------------------------------------------------------------------ refs
    async def lookup_branch(self, name: str) -> SnapshotId:
        """Tip of a branch."""
        tip = (await self.info()).branches.get(name)
        if tip is None:
            raise RefNotFoundError(f"ref not found `{name}`", ErrorKind.REF_NOT_FOUND)
        return tip

    async def lookup_tag(self, name: str) -> SnapshotId:
        """Snapshot a tag points to."""
        target = (await self.info()).tags.get(name)
        if target is None:
            raise RefNotFoundError(f"ref not found `{name}`", ErrorKind.REF_NOT_FOUND)
        return target

    async def resolve_snapshot(self, snapshot_id: str) -> SnapshotId:
        """Parse an id and check it exists in the repository."""
        sid = parse_snapshot_id(snapshot_id)
        await self.refs.note_snapshot(sid)
        if sid not in (await self.info()).snapshots:
            raise SnapshotNotFoundError(f"snapshot {snapshot_id} does not exist")
        return sid

    async def create_branch(self, name: str, snapshot_id: str) -> None:
        """Create a branch at an existing snapshot."""
        validate_ref_name(name, "branch")
        sid = parse_snapshot_id(snapshot_id)
        await self.refs.note_snapshot(sid)

        def mutate(info: RepoInfo) -> tuple[RepoInfo, UpdateRecord]:
            _require_snapshot(info, sid)
            if name in info.branches:
                raise AlreadyExistsError(
                    f"branch {name!r} already exists", ErrorKind.BRANCH_ALREADY_EXISTS
                )
            new = replace(info, branches={**info.branches, name: sid})
            return new, _entry(UpdateKind.BRANCH_CREATED, name=name)

        await self.refs.update(mutate)

    async def reset_branch(self, name: str, snapshot_id: str, from_snapshot_id: str | None) -> None:
        """Point a branch at another snapshot, optionally only if it is still at ``from``."""
        sid = parse_snapshot_id(snapshot_id)
        await self.refs.note_snapshot(sid)
        expected = None if from_snapshot_id is None else parse_snapshot_id(from_snapshot_id)

        def mutate(info: RepoInfo) -> tuple[RepoInfo, UpdateRecord]:
            _require_snapshot(info, sid)
            tip = info.branches.get(name)
            if tip is None:
                raise RefNotFoundError(f"ref not found `{name}`", ErrorKind.REF_NOT_FOUND)
            if expected is not None and tip != expected:
                from icechunk.errors import ConflictError

                raise ConflictError(
                    str(expected),
                    str(tip),
                    f"branch update conflict: branch {name!r} is at {tip}, not at the "
                    f"expected {expected}; "
                    "it was not reset",
                    ErrorKind.BRANCH_UPDATE_CONFLICT,
                )
            new = replace(info, branches={**info.branches, name: sid})
            return new, _entry(UpdateKind.BRANCH_RESET, name=name, previous_snap_id=tip)

        await self.refs.update(mutate)

    async def delete_branch(self, name: str) -> None:
        """Delete a branch (never ``main``)."""
        if name == MAIN:
            raise SessionStateError("main branch cannot be deleted", ErrorKind.CANNOT_DELETE_MAIN)

        def mutate(info: RepoInfo) -> tuple[RepoInfo, UpdateRecord]:
            tip = info.branches.get(name)
            if tip is None:
                raise RefNotFoundError(f"ref not found `{name}`", ErrorKind.REF_NOT_FOUND)
            branches = {k: v for k, v in info.branches.items() if k != name}
            new = replace(info, branches=branches)
            return new, _entry(UpdateKind.BRANCH_DELETED, name=name, previous_snap_id=tip)

        await self.refs.update(mutate)

    async def create_tag(self, name: str, snapshot_id: str) -> None:
        """Create an immutable tag; a deleted tag's name can never be reused."""
        validate_ref_name(name, "tag")
        sid = parse_snapshot_id(snapshot_id)
        await self.refs.note_snapshot(sid)

        def mutate(info: RepoInfo) -> tuple[RepoInfo, UpdateRecord]:
            require_feature(info, "create_tag", "tag creation")
            _require_snapshot(info, sid)
            if name in info.deleted_tags:
                raise AlreadyExistsError(
                    f"icechunk does not allow tag reuse and tag was already deleted `{name}`",
                    ErrorKind.TAG_PREVIOUSLY_DELETED,
                )
            if name in info.tags:
                raise AlreadyExistsError(
                    f"tag {name!r} already exists", ErrorKind.TAG_ALREADY_EXISTS
                )
            new = replace(info, tags={**info.tags, name: sid})
            return new, _entry(UpdateKind.TAG_CREATED, name=name)

        await self.refs.update(mutate)

    async def delete_tag(self, name: str) -> None:
        """Delete a tag; its name is remembered so it cannot be reused."""

        def mutate(info: RepoInfo) -> tuple[RepoInfo, UpdateRecord]:
            require_feature(info, "delete_tag", "tag delete")
            target = info.tags.get(name)
            if target is None:
                raise RefNotFoundError(f"ref not found `{name}`", ErrorKind.REF_NOT_FOUND)
            tags = {k: v for k, v in info.tags.items() if k != name}
            new = replace(info, tags=tags, deleted_tags=info.deleted_tags | {name})
            return new, _entry(UpdateKind.TAG_DELETED, name=name, previous_snap_id=target)

        await self.refs.update(mutate)

    # ------------------------------------------------------------------ history
    async def ancestry(self, start: SnapshotId) -> AsyncIterator[SnapshotEntry]:
        """Snapshots from ``start`` back to the initial one, newest first."""
        info = await self.info()
        current: SnapshotId | None = start
        seen: set[SnapshotId] = set()
        while current is not None:
            entry = info.snapshots.get(current)
            if entry is None:
                raise SnapshotNotFoundError(f"snapshot {current} does not exist")
            if current in seen:
                from icechunk.errors import FormatError

                raise FormatError(f"snapshot parent chain loops at {current}")
            seen.add(current)
            yield entry
            current = entry.parent_id

    async def save_config(self, config_dict: dict[str, Any]) -> None:
        """Persist the repository config in the repo file."""

        def mutate(info: RepoInfo) -> tuple[RepoInfo, UpdateRecord]:
            return replace(info, config=config_dict), _entry(UpdateKind.CONFIG_CHANGED)

        await self.refs.update(mutate)

    async def set_metadata(self, metadata: dict[str, Any]) -> None:
        """Replace the repository-level metadata."""

        def mutate(info: RepoInfo) -> tuple[RepoInfo, UpdateRecord]:
            return replace(info, metadata=dict(metadata)), _entry(UpdateKind.METADATA_CHANGED)

        await self.refs.update(mutate)

    @property
    def virtual(self) -> VirtualResolver:
        """Matches virtual chunk locations to this repository's authorized containers."""
        if self._virtual is None:
            containers = getattr(self.config, "virtual_chunk_containers", None)
            self._virtual = VirtualResolver(containers, self.virtual_access)
        return self._virtual

    def authorize_virtual(self, access: dict[str, Any]) -> None:
        """Replace the authorized virtual chunk containers (url prefix -> credentials)."""
        self.virtual_access = dict(access)
        self._virtual = None

    async def fetch_virtual_chunk(
        self, payload: VirtualPayload, byte_range: tuple[int, int | None] | None
    ) -> bytes:
        """Read a virtual chunk through its authorized container."""
        return await self.virtual.fetch(payload, byte_range)


def _require_snapshot(info: RepoInfo, sid: SnapshotId) -> None:
    if sid not in info.snapshots:
        raise SnapshotNotFoundError(f"snapshot {sid} does not exist")


def _int_attr(obj: Any, name: str, default: int) -> int:
    value = getattr(obj, name, None)
    return default if value is None else int(value)


def _compression_level(config: Any) -> int:
    compression = getattr(config, "compression", None)
    level = getattr(compression, "level", None)
    return 3 if level is None else int(level)


def _cache_sizes(caching: Any) -> dict[str, int]:
    sizes = {}
    for name in ("num_snapshot_nodes", "num_chunk_refs", "num_transaction_changes"):
        value = getattr(caching, name, None)
        if value is not None:
            sizes[name] = int(value)
    return sizes


__all__ += ["DEFAULT_INLINE_THRESHOLD", "INITIAL_SNAPSHOT_ID", "MAIN"]


def _core_getstate(self: RepoCore) -> dict[str, Any]:
    # Storage, config and credentials refuse to pickle on their own: pack them privately.
    state: dict[str, Any] = pack(
        {
            "storage": self.storage,
            "config": self.config,
            "spec_version": self.spec_version,
            "virtual_access": self.virtual_access,
            "attribution": self.attribution,
        }
    )
    return state


def _core_setstate(self: RepoCore, state: dict[str, Any]) -> None:
    RepoCore.__init__(
        self,
        state["storage"],
        state["config"],
        state.get("spec_version", 2),
        state.get("attribution"),
    )
    self.authorize_virtual(state.get("virtual_access") or {})


# Caches and locks stay behind when a repository travels to another process.
RepoCore.__getstate__ = _core_getstate  # type: ignore[method-assign,assignment]
RepoCore.__setstate__ = _core_setstate  # type: ignore[attr-defined]
