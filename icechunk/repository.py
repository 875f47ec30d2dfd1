"""The public :class:`Repository`: open or create a repository, manage refs, open sessions."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator, Iterator
from types import EllipsisType
from typing import TYPE_CHECKING, Any, Self

from icechunk._admin_core import refuse_if_not_online
from icechunk._pickling import pack
from icechunk._repo_core import MAIN, RepoCore
from icechunk._repo_maintenance import MaintenanceMixin
from icechunk._repository_admin import RepositoryAdminMixin
from icechunk._repository_refs import RefsMixin
from icechunk._sync import sync, sync_twin
from icechunk._v1_repo import (
    detect_spec_version,
    read_v1_config,
    refuse_v1_write,
    require_spec_v2,
)
from icechunk._virtual import normalize_authorizations
from icechunk.asset_manager import REPO_INFO_KEY
from icechunk.config import Attribution, RepositoryConfig
from icechunk.errors import (
    ErrorKind,
    InvalidInputError,
    ReadOnlyError,
    RepositoryNotFoundError,
    SnapshotNotFoundError,
)
from icechunk.format.ids import SnapshotId
from icechunk.session import Session
from icechunk.storage import Storage, StorageSettings
from icechunk.versions import SpecVersion

if TYPE_CHECKING:
    from icechunk.diff import Diff
    from icechunk.ops import Update

__all__ = ["Repository"]


class Repository(RefsMixin, RepositoryAdminMixin, MaintenanceMixin):
    """An Icechunk repository: branches, tags, snapshots and sessions over one storage."""

    def __init__(self, core: RepoCore) -> None:
        self._core = core
        self._default_commit_metadata: dict[str, Any] = {}

    # ------------------------------------------------------------------ construction
    @classmethod
    async def create_async(
        cls,
        storage: Storage,
        config: RepositoryConfig | None = None,
        authorize_virtual_chunk_access: dict[str, Any] | None = None,
        spec_version: SpecVersion | int | None = None,
        check_clean_root: bool = True,
        attribution: Attribution | None = None,
    ) -> Self:
        """Create a new repository; fails if one already exists at ``storage``."""
        version = _requested_spec_version(spec_version)
        _check_creatable(storage)
        if check_clean_root:
            await _check_clean_root(_attributed(storage, attribution))
        cfg = config if config is not None else RepositoryConfig.default()
        core = _authorize(
            RepoCore(storage, cfg, version, attribution), authorize_virtual_chunk_access
        )
        stored = None if config is None else cfg._to_dict()
        await core.initialize(stored)
        return cls(core)

    @classmethod
    def create(
        cls,
        storage: Storage,
        config: RepositoryConfig | None = None,
        authorize_virtual_chunk_access: dict[str, Any] | None = None,
        spec_version: SpecVersion | int | None = None,
        check_clean_root: bool = True,
        attribution: Attribution | None = None,
    ) -> Self:
        """Create a new repository; fails if one already exists at ``storage``."""
        return sync(
            cls.create_async(
                storage,
                config,
                authorize_virtual_chunk_access,
                spec_version,
                check_clean_root,
                attribution,
            )
        )

    @classmethod
    async def open_async(
        cls,
        storage: Storage,
        config: RepositoryConfig | None = None,
        authorize_virtual_chunk_access: dict[str, Any] | None = None,
        attribution: Attribution | None = None,
    ) -> Self:
        """Open an existing repository; ``config`` overrides the persisted one field by field."""
        probe = _attributed(storage, attribution)
        try:
            stored = await cls.fetch_config_async(probe)
        except RepositoryNotFoundError:
            stored = None  # reported below, with the places looked at
        spec = await detect_spec_version(probe)
        if spec is None:
            error = RepositoryNotFoundError(
                "the repository doesn't exist: no Icechunk repository found at this storage "
                "location; create one with Repository.create"
            )
            error.add_note(
                f"looked in {storage!r} for `repo` (spec v2) and "
                "`refs/branch.main/ref.json` (spec v1); neither exists"
            )
            raise error
        cfg = stored or RepositoryConfig.default()
        if config is not None:
            cfg = cfg.merge(config)
        core = RepoCore(storage, cfg, spec, attribution)
        return cls(_authorize(core, authorize_virtual_chunk_access))

    @classmethod
    def open(
        cls,
        storage: Storage,
        config: RepositoryConfig | None = None,
        authorize_virtual_chunk_access: dict[str, Any] | None = None,
        attribution: Attribution | None = None,
    ) -> Self:
        """Open an existing repository; ``config`` overrides the persisted one field by field."""
        return sync(cls.open_async(storage, config, authorize_virtual_chunk_access, attribution))

    @classmethod
    async def open_or_create_async(
        cls,
        storage: Storage,
        config: RepositoryConfig | None = None,
        authorize_virtual_chunk_access: dict[str, Any] | None = None,
        create_version: SpecVersion | int | None = None,
        check_clean_root: bool = True,
        attribution: Attribution | None = None,
    ) -> Self:
        """Open the repository at ``storage``, creating it first if there is none."""
        access = authorize_virtual_chunk_access
        if await cls.exists_async(_attributed(storage, attribution)):
            return await cls.open_async(storage, config, access, attribution)
        return await cls.create_async(
            storage, config, access, create_version, check_clean_root, attribution
        )

    @classmethod
    def open_or_create(
        cls,
        storage: Storage,
        config: RepositoryConfig | None = None,
        authorize_virtual_chunk_access: dict[str, Any] | None = None,
        create_version: SpecVersion | int | None = None,
        check_clean_root: bool = True,
        attribution: Attribution | None = None,
    ) -> Self:
        """Open the repository at ``storage``, creating it first if there is none."""
        return sync(
            cls.open_or_create_async(
                storage,
                config,
                authorize_virtual_chunk_access,
                create_version,
                check_clean_root,
                attribution,
            )
        )

    @staticmethod
    async def exists_async(
        storage: Storage, storage_settings: StorageSettings | None = None
    ) -> bool:
        """Whether a repository (of any spec version) exists at ``storage``.

        ``storage_settings`` (retries, timeouts ...) apply to the probing requests.
        """
        probe = storage if storage_settings is None else storage.with_settings(storage_settings)
        return await detect_spec_version(probe) is not None

    @staticmethod
    def exists(storage: Storage, storage_settings: StorageSettings | None = None) -> bool:
        """Whether a repository exists at ``storage`` (see :meth:`exists_async`)."""
        return sync(Repository.exists_async(storage, storage_settings))

    @staticmethod
    async def fetch_config_async(storage: Storage) -> RepositoryConfig | None:
        """The config persisted in the repository, or None if it has none.

        Raises :class:`RepositoryNotFoundError` when there is no repository at ``storage``.
        """
        if await storage.exists(REPO_INFO_KEY):
            from icechunk.refs import RepoInfoStore

            stored = (await RepoInfoStore(storage).fetch()).info.config
        elif await detect_spec_version(storage) == 1:
            stored = await read_v1_config(storage)
        else:
            raise RepositoryNotFoundError(
                "the repository doesn't exist", ErrorKind.REPOSITORY_NOT_FOUND
            )
        return None if stored is None else RepositoryConfig._from_dict(stored)

    @staticmethod
    def fetch_config(storage: Storage) -> RepositoryConfig | None:
        """The config persisted in the repository, or None if it has none."""
        return sync(Repository.fetch_config_async(storage))

    @staticmethod
    async def fetch_spec_version_async(
        storage: Storage, storage_settings: StorageSettings | None = None
    ) -> SpecVersion | None:
        """The spec version of the repository at ``storage``, None if there is none (async)."""
        probe = storage if storage_settings is None else storage.with_settings(storage_settings)
        if await probe.exists(REPO_INFO_KEY):
            return SpecVersion.v2
        found = await detect_spec_version(probe)
        return None if found is None else SpecVersion(found)

    @staticmethod
    def fetch_spec_version(
        storage: Storage, storage_settings: StorageSettings | None = None
    ) -> SpecVersion | None:
        """The spec version of the repository at ``storage`` without opening it.

        Returns None when no repository exists there.
        """
        return sync(Repository.fetch_spec_version_async(storage, storage_settings))

    async def save_config_async(self) -> None:
        """Persist this repository's current config."""
        await self._core.save_config(self._core.config._to_dict())

    save_config = sync_twin(save_config_async)

    def reopen(
        self,
        config: RepositoryConfig | None = None,
        authorize_virtual_chunk_access: dict[str, Any] | EllipsisType | None = ...,
    ) -> Self:
        """A new handle on the same storage, with ``config`` merged over the current one.

        ``authorize_virtual_chunk_access`` replaces the authorized virtual chunk containers;
        left out (``...``), the current authorizations carry over.
        """
        cfg = self._core.config if config is None else self._core.config.merge(config)
        core = RepoCore(self._core.storage, cfg, self._core.spec_version, self._core.attribution)
        if isinstance(authorize_virtual_chunk_access, EllipsisType):
            core.authorize_virtual(self._core.virtual_access)
            return type(self)(core)
        return type(self)(_authorize(core, authorize_virtual_chunk_access))

    async def reopen_async(
        self,
        config: RepositoryConfig | None = None,
        authorize_virtual_chunk_access: dict[str, Any] | EllipsisType | None = ...,
    ) -> Self:
        """Async :meth:`reopen` (it does no I/O)."""
        return self.reopen(config, authorize_virtual_chunk_access)

    @property
    def authorized_virtual_container_prefixes(self) -> set[str]:
        """URL prefixes of the virtual chunk containers this handle may read from."""
        return self._core.virtual.authorized_prefixes()

    @property
    def attribution(self) -> Attribution:
        """The labels this handle's requests carry in their User-Agent."""
        return self._core.attribution or Attribution()

    @property
    def config(self) -> RepositoryConfig:
        """The configuration in effect for this handle."""
        return self._core.config

    @property
    def storage(self) -> Storage:
        """The storage the repository lives in."""
        return self._core.storage

    @property
    def spec_version(self) -> SpecVersion:
        """The on-disk spec version of the repository."""
        return SpecVersion(self._core.spec_version)

    # ------------------------------------------------------------------ metadata
    async def get_metadata_async(self) -> dict[str, Any]:
        """Repository-level metadata."""
        if self._core.spec_version == 1:
            refuse_v1_write("read repository metadata")
        return dict((await self._core.info()).metadata)

    get_metadata = sync_twin(get_metadata_async)

    @property
    def metadata(self) -> dict[str, Any]:
        """Repository-level metadata."""
        return self.get_metadata()

    async def set_metadata_async(self, metadata: dict[str, Any]) -> None:
        """Replace the repository-level metadata."""
        require_spec_v2(self._core.spec_version, "change repository metadata")
        await self._core.set_metadata(metadata)

    set_metadata = sync_twin(set_metadata_async)

    async def update_metadata_async(self, metadata: dict[str, Any]) -> dict[str, Any]:
        """Merge keys into the repository metadata and return the result."""
        merged = {**(await self.get_metadata_async()), **metadata}
        await self._core.set_metadata(merged)
        return merged

    update_metadata = sync_twin(update_metadata_async)

    # ------------------------------------------------------------------ sessions
    async def readonly_session_async(
        self,
        branch: str | None = None,
        *,
        tag: str | None = None,
        snapshot_id: str | None = None,
        as_of: dt.datetime | None = None,
    ) -> Session:
        """A read-only session at a branch tip, tag or snapshot."""
        start = await self._resolve(branch, tag, snapshot_id)
        if as_of is not None:
            if branch is None:
                raise InvalidInputError(
                    "as_of can only be combined with branch", ErrorKind.INVALID_REF_TYPE
                )
            start = await self._as_of(start, as_of)
        return Session._new(self._core, start, None, writable=False)

    readonly_session = sync_twin(readonly_session_async)

    async def _as_of(self, start: SnapshotId, when: dt.datetime) -> SnapshotId:
        if when.tzinfo is None:
            raise InvalidInputError("as_of must be timezone-aware", ErrorKind.INVALID_REF_TYPE)
        micros = int(when.timestamp() * 1_000_000)
        async for entry in self._core.ancestry(start):
            if entry.flushed_at <= micros:
                return entry.id
        raise SnapshotNotFoundError(
            f"no snapshot on this branch at or before {when.isoformat()}",
            ErrorKind.NO_SNAPSHOT_AT_TIME,
        )

    async def writable_session_async(self, branch: str) -> Session:
        """A session that can write and commit to ``branch``."""
        return await self._branch_session(branch, "writable")

    writable_session = sync_twin(writable_session_async)

    async def rearrange_session_async(self, branch: str) -> Session:
        """A session on ``branch`` that can only move nodes, then commit the moves.

        Raises
        ------
        RefNotFoundError
            If the branch does not exist.
        FormatError
            On a spec-version-1 repository (kind ``unsupported-spec-version``).
        """
        require_spec_v2(self._core.spec_version, "open a rearrange session")
        return await self._branch_session(branch, "rearrange")

    rearrange_session = sync_twin(rearrange_session_async)

    async def _branch_session(self, branch: str, kind: str) -> Session:
        """A session on ``branch``'s tip that can commit; ``kind`` is writable or rearrange."""
        info = await self._core.info()
        refuse_if_not_online(info, f"Cannot create {kind} session")
        tip = await self._core.lookup_branch(branch)
        rearrange = kind == "rearrange"
        session = Session._new(self._core, tip, branch, writable=True, rearrange=rearrange)
        session._core.default_metadata = dict(self._default_commit_metadata)
        return session

    # ------------------------------------------------------------------ diff and ops log
    async def diff_async(
        self,
        *,
        from_branch: str | None = None,
        from_tag: str | None = None,
        from_snapshot_id: str | None = None,
        to_branch: str | None = None,
        to_tag: str | None = None,
        to_snapshot_id: str | None = None,
    ) -> Diff:
        """Changes between two versions; ``from`` must be an ancestor of ``to``.

        Each end is given by exactly one of a branch, a tag or a snapshot id; the styles
        of the two ends may differ.

        Returns
        -------
        Diff
            Nodes created, deleted and updated, chunks written and nodes moved by the
            commits after ``from`` up to and including ``to``.

        Raises
        ------
        InvalidInputError
            With kind ``BAD_SNAPSHOT_CHAIN_FOR_DIFF`` when ``from`` is not an ancestor of
            ``to``.
        """
        from icechunk.diff import diff_snapshots

        start = await self._resolve_diff_end(from_branch, from_tag, from_snapshot_id)
        end = await self._resolve_diff_end(to_branch, to_tag, to_snapshot_id)
        return await diff_snapshots(self._core, start, end)

    diff = sync_twin(diff_async)

    async def _resolve_diff_end(
        self, branch: str | None, tag: str | None, snapshot_id: str | None
    ) -> SnapshotId:
        if sum(x is not None for x in (branch, tag, snapshot_id)) != 1:
            raise ValueError("Must provide one of branch, tag, or snapshot_id")
        return await self._resolve(branch, tag, snapshot_id)

    def ops_log(self) -> Iterator[Update]:
        """The repository operations log, newest first.

        The result also supports ``async for``.
        """
        from icechunk.ops import iterate_ops_log

        if self._core.spec_version == 1:
            refuse_v1_write("read the operations log")
        return iterate_ops_log(self._core.refs)

    def ops_log_async(self) -> AsyncIterator[Update]:
        """The repository operations log, newest first, for ``async for``."""
        from icechunk.ops import iterate_ops_log

        if self._core.spec_version == 1:
            refuse_v1_write("read the operations log")
        return iterate_ops_log(self._core.refs)

    def __repr__(self) -> str:
        version = self._core.spec_version
        storage = "".join(f"\n    {line}" for line in repr(self._core.storage).splitlines())
        return (
            f"<icechunk.Repository (v{version})>\nstorage:{storage}\n"
            "config: <RepositoryConfig ...>\n"
        )

    def _repr_html_(self) -> str:
        from icechunk._html import repository_html

        return repository_html(self)

    def __getstate__(self) -> dict[str, Any]:
        # Storage, config and credentials refuse to pickle on their own: pack them privately.
        state: dict[str, Any] = pack(
            {
                "storage": self._core.storage,
                "config": self._core.config,
                "spec_version": self._core.spec_version,
                "default_commit_metadata": self._default_commit_metadata,
                "virtual_access": self._core.virtual_access,
                "attribution": self._core.attribution,
            }
        )
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        spec = state.get("spec_version", 2)
        self._core = RepoCore(state["storage"], state["config"], spec, state.get("attribution"))
        self._default_commit_metadata = dict(state.get("default_commit_metadata", {}))
        self._core.authorize_virtual(state.get("virtual_access") or {})


def _requested_spec_version(value: SpecVersion | int | None) -> int:
    """The spec version to create; the real package's wording for values it refuses."""
    if value is None:
        return 2
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 255:
        raise InvalidInputError(
            "Couldn't parse a valid version", ErrorKind.UNSUPPORTED_SPEC_VERSION
        )
    if value not in (1, 2):
        raise InvalidInputError(
            f"Unsupported version {int(value)}: this package writes spec versions 1 and 2",
            ErrorKind.UNSUPPORTED_SPEC_VERSION,
        )
    return int(value)


def _attributed(storage: Storage, attribution: Attribution | None) -> Storage:
    """``storage`` labelling its requests with ``attribution`` (when one is given)."""
    return storage if attribution is None else storage.with_attribution(attribution)


def _authorize(core: RepoCore, access: dict[str, Any] | None) -> RepoCore:
    """Record which virtual chunk containers the opener authorized."""
    core.authorize_virtual(normalize_authorizations(access))
    core.virtual.check_credentials()
    return core


def _check_creatable(storage: Storage) -> None:
    """Refuse, before any request, the locations a new repository may not use."""
    if not storage.can_write:
        raise ReadOnlyError(
            "cannot create a repository: the storage is read-only", ErrorKind.READ_ONLY_STORAGE
        )
    if storage._at_bucket_root:
        # Keys written at a bucket root were laid out wrongly by some earlier releases;
        # existing repositories there stay usable, new ones are refused.
        raise InvalidInputError(
            "cannot create a repository at an empty prefix (the root of the bucket); "
            "give the storage a non-empty prefix. Repositories already at a bucket root "
            "can still be opened and written",
            ErrorKind.EMPTY_PREFIX_CREATION,
        )


async def _check_clean_root(storage: Storage) -> None:
    async for _ in storage.list(""):
        raise InvalidInputError(
            "cannot create a repository: the storage location is not empty. "
            "Use an empty location, or pass check_clean_root=False",
            ErrorKind.PARENT_DIRECTORY_NOT_CLEAN,
        )


__all__ += ["MAIN"]
