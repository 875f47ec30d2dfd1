"""Spec-version-1 repositories: refs as one JSON object per branch and tag.

A v1 repository has no ``repo`` file: refs are small JSON objects under ``refs/`` and each
snapshot names its parent. :class:`V1RefStore` stands in for
:class:`icechunk.refs.RepoInfoStore`: it assembles an equivalent in-memory
:class:`~icechunk.format.model.RepoInfo` from that layout on every fetch, and writes a
mutation back as ref-object changes (create-only for new refs and tag tombstones,
compare-and-swap on the version read for moved branches). So the rest of the engine
(sessions, commits, branches, tags) works unchanged, as the reference implementation
does for v1 repositories. What v1 cannot store (repository metadata, status, feature
flags, the ops log, moves, amends) is refused with a typed error that points at the
upgrade.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import replace
from typing import Any, NoReturn

from icechunk.asset_manager import REPO_INFO_KEY, AssetManager
from icechunk.errors import ConflictError, ErrorKind, FormatError, NotFoundError
from icechunk.format import v1
from icechunk.format.config_yaml import decode_config_yaml, encode_config_yaml
from icechunk.format.ids import SnapshotId
from icechunk.format.model import RepoInfo, RepoStatusData, SnapshotEntry
from icechunk.refs import Mutation, RepoInfoStore, RepoState, _backoff
from icechunk.storage import ConditionalPutFailed, PutMode, Storage, VersionToken

__all__ = ["V1RefStore", "detect_spec_version", "refuse_v1_write", "require_spec_v2"]

_MAIN_REF_KEY = v1.branch_ref_key("main")
#: Version token of the synthesized state; v1 state is never written back through it.
_NO_VERSION = VersionToken("spec-v1")
V1_CONFIG_KEY = "config.yaml"

UPGRADE_HINT = (
    "repository version error, this operation requires a repository that is at least "
    "version 2.0, please upgrade your on-disk format before executing this operation "
    "(icechunk.upgrade_icechunk_repository)"
)


def refuse_v1_write(operation: str) -> NoReturn:
    """Raise the typed error for an operation that needs a spec-v2 repository.

    Parameters
    ----------
    operation
        Short description of the refused operation, used in the message.

    Raises
    ------
    FormatError
        Always, with kind :attr:`ErrorKind.UNSUPPORTED_SPEC_VERSION` (the kind the
        reference implementation reports for these refusals).
    """
    raise FormatError(f"{UPGRADE_HINT}: cannot {operation}", ErrorKind.UNSUPPORTED_SPEC_VERSION)


def require_spec_v2(spec_version: int, operation: str) -> None:
    """Refuse ``operation`` on a repository older than spec version 2.

    Parameters
    ----------
    spec_version
        The repository's on-disk spec version.
    operation
        Short description of the operation, used in the message.

    Raises
    ------
    FormatError
        When ``spec_version`` is below 2 (see :func:`refuse_v1_write`).
    """
    if spec_version < 2:
        refuse_v1_write(operation)


async def detect_spec_version(storage: Storage) -> int | None:
    """Which spec version the repository at ``storage`` follows.

    Parameters
    ----------
    storage
        Repository storage.

    Returns
    -------
    int or None
        2 if the ``repo`` file exists (also for repositories migrated from v1), 1 if only
        ``refs/branch.main/ref.json`` exists, ``None`` if there is no repository.
    """
    if await storage.exists(REPO_INFO_KEY):
        return 2
    if await storage.exists(_MAIN_REF_KEY):
        return 1
    return None


class V1RefStore(RepoInfoStore):
    """A read-only :class:`RepoInfoStore` over the refs of a spec-v1 repository.

    Parameters
    ----------
    storage
        Repository storage.
    assets
        Object reader used to load snapshots (their ``parent_id`` gives the history).
    """

    def __init__(self, storage: Storage, assets: AssetManager) -> None:
        super().__init__(storage)
        self.assets = assets
        #: Snapshots reachable from no ref (flushed, or named by id) that fetches include.
        self.known_tips: set[SnapshotId] = set()

    async def note_snapshot(self, snapshot_id: SnapshotId) -> None:
        """Include ``snapshot_id`` in later fetches if its file exists."""
        if await self.assets.snapshot_exists(snapshot_id):
            self.known_tips.add(snapshot_id)

    async def fetch(self) -> RepoState:
        """Build the repository state from ``refs/`` and the snapshots' parent links."""
        info, _ = await self._fetch_with_versions()
        return RepoState(info, b"", _NO_VERSION)

    async def _fetch_with_versions(self) -> tuple[RepoInfo, dict[str, VersionToken]]:
        keys = [obj.key async for obj in self.storage.list(v1.REFS_PREFIX)]
        branch_names = v1.branch_names(keys)
        tag_names = v1.tag_names(keys)
        deleted = v1.deleted_tag_names(keys)
        present = set(keys)
        deleted_with_ref = [n for n in deleted if v1.tag_ref_key(n) in present]
        versions: dict[str, VersionToken] = {}
        branch_ids, tag_ids, deleted_ids = await asyncio.gather(
            self._read_refs([v1.branch_ref_key(n) for n in branch_names], versions),
            self._read_refs([v1.tag_ref_key(n) for n in tag_names]),
            self._read_refs([v1.tag_ref_key(n) for n in deleted_with_ref]),
        )
        branches = {n: s for n, s in zip(branch_names, branch_ids, strict=True) if s is not None}
        tags = {n: s for n, s in zip(tag_names, tag_ids, strict=True) if s is not None}
        tips = [*branches.values(), *tags.values(), *(s for s in deleted_ids if s is not None)]
        tips += sorted(self.known_tips - set(tips), key=str)
        info = RepoInfo(
            branches=branches,
            tags=tags,
            deleted_tags=frozenset(deleted),
            snapshots=await self._walk(tips),
            status=RepoStatusData(),
            latest_updates=(),
            spec_version=1,
            config=await read_v1_config(self.storage),
        )
        return info, versions

    async def _read_refs(
        self, keys: list[str], versions: dict[str, VersionToken] | None = None
    ) -> list[SnapshotId | None]:
        async def one(key: str) -> SnapshotId | None:
            try:
                raw, version = await self.storage.get_with_version(key)
            except NotFoundError:  # deleted between listing and reading
                return None
            if versions is not None:
                versions[key] = version
            return v1.decode_ref(raw)

        return list(await asyncio.gather(*(one(k) for k in keys)))

    async def _walk(self, tips: list[SnapshotId]) -> dict[SnapshotId, SnapshotEntry]:
        """Every snapshot reachable from ``tips`` through parent links."""
        entries: dict[SnapshotId, SnapshotEntry] = {}
        frontier = set(tips)
        while frontier:
            ids = sorted(frontier, key=str)
            snaps = await asyncio.gather(*(self._load(s) for s in ids))
            frontier = set()
            for entry in snaps:
                if entry is None:
                    continue
                entries[entry.id] = entry
                parent = entry.parent_id
                if parent is not None and parent not in entries:
                    frontier.add(parent)
        return entries

    async def _load(self, sid: SnapshotId) -> SnapshotEntry | None:
        try:
            snap = await self.assets.fetch_snapshot(sid)
        except NotFoundError:  # a broken chain shows up as "snapshot not found" on use
            return None
        return SnapshotEntry(snap.id, snap.parent_id, snap.flushed_at, snap.message, snap.metadata)

    async def create(self, info: RepoInfo) -> RepoState:
        """Initialize the refs of a new v1 repository: ``config.yaml`` and ``main``."""
        await self.storage.put(V1_CONFIG_KEY, _config_yaml(info.config), mode=PutMode.OVERWRITE)
        try:
            await self.storage.put(
                _MAIN_REF_KEY, v1.encode_ref(info.branches["main"]), mode=PutMode.CREATE
            )
        except ConditionalPutFailed as exc:
            from icechunk.errors import AlreadyExistsError

            raise AlreadyExistsError(
                "a repository already exists at this location; use Repository.open",
                ErrorKind.NODE_ALREADY_EXISTS,
            ) from exc
        return RepoState(replace(info, spec_version=1), b"", _NO_VERSION)

    async def update(self, mutate: Mutation, *, check_online: bool = True) -> RepoState:
        """Apply ``mutate`` and write the ref objects it changed, retrying lost races."""
        for attempt in range(self.max_attempts):
            info, versions = await self._fetch_with_versions()
            new_info, _ = mutate(info)
            _refuse_v2_only_changes(info, new_info)
            try:
                await self._write_changes(info, new_info, versions)
            except ConditionalPutFailed:
                await asyncio.sleep(_backoff(attempt))
                continue
            return RepoState(new_info, b"", _NO_VERSION)
        raise ConflictError(
            message=f"the refs kept changing; gave up after {self.max_attempts} attempts. "
            "Retry the operation.",
            kind=ErrorKind.UPDATE_ATTEMPTS_EXHAUSTED,
        )

    async def _write_changes(
        self, old: RepoInfo, new: RepoInfo, versions: dict[str, VersionToken]
    ) -> None:
        for name, target in new.branches.items():
            key = v1.branch_ref_key(name)
            if name not in old.branches:
                await self.storage.put(key, v1.encode_ref(target), mode=PutMode.CREATE)
            elif old.branches[name] != target:
                await self.storage.put(
                    key,
                    v1.encode_ref(target),
                    mode=PutMode.UPDATE,
                    expected_version=versions.get(key),
                )
        gone = [v1.branch_ref_key(n) for n in old.branches if n not in new.branches]
        if gone:
            await self.storage.delete_batch(gone)
        for name, target in new.tags.items():
            if name not in old.tags:
                await self.storage.put(
                    v1.tag_ref_key(name), v1.encode_ref(target), mode=PutMode.CREATE
                )
        for name in sorted(new.deleted_tags - old.deleted_tags):
            with contextlib.suppress(ConditionalPutFailed):  # already tombstoned: same result
                await self.storage.put(v1.tag_tombstone_key(name), b"", mode=PutMode.CREATE)
        if new.config != old.config:
            await self.storage.put(V1_CONFIG_KEY, _config_yaml(new.config), mode=PutMode.OVERWRITE)


def _refuse_v2_only_changes(old: RepoInfo, new: RepoInfo) -> None:
    if new.metadata != old.metadata:
        refuse_v1_write("change the repository metadata")
    if new.status != old.status:
        refuse_v1_write("change the repository status")
    if (new.enabled_feature_flags, new.disabled_feature_flags) != (
        old.enabled_feature_flags,
        old.disabled_feature_flags,
    ):
        refuse_v1_write("change feature flags")


async def read_v1_config(storage: Storage) -> dict[str, Any] | None:
    """The config dict stored in a spec-v1 ``config.yaml``, None if there is none."""
    try:
        data = await storage.get(V1_CONFIG_KEY)
    except NotFoundError:
        return None
    return decode_config_yaml(data)


def _config_yaml(config: dict[str, Any] | None = None) -> bytes:
    """The v1 ``config.yaml`` holding ``config``; with none, every setting left to the
    readers' defaults."""
    if config is not None:
        return encode_config_yaml(config)
    fields = (
        "inline_chunk_threshold_bytes",
        "get_partial_values_concurrency",
        "compression",
        "max_concurrent_requests",
        "caching",
        "storage",
        "virtual_chunk_containers",
        "manifest",
    )
    return "".join(f"{name}: null\n" for name in fields).encode()


__all__ += ["UPGRADE_HINT"]
