"""Read-only access to spec-version-1 repositories.

A v1 repository has no ``repo`` file: refs are small JSON objects under ``refs/`` and each
snapshot names its parent. :class:`V1RefStore` stands in for
:class:`icechunk.refs.RepoInfoStore` and assembles an equivalent, in-memory
:class:`~icechunk.format.model.RepoInfo` from that layout on every fetch, so the rest of
the engine (ref lookups, ancestry, sessions) works unchanged. Every write is refused with
a typed error that points at the upgrade path.
"""

from __future__ import annotations

import asyncio
from typing import NoReturn

from icechunk.asset_manager import REPO_INFO_KEY, AssetManager
from icechunk.errors import ErrorKind, FormatError, NotFoundError, SessionStateError
from icechunk.format import v1
from icechunk.format.ids import SnapshotId
from icechunk.format.model import RepoInfo, RepoStatusData, SnapshotEntry
from icechunk.refs import Mutation, RepoInfoStore, RepoState
from icechunk.storage import Storage, VersionToken

__all__ = ["V1RefStore", "detect_spec_version", "refuse_v1_write", "require_spec_v2"]

_MAIN_REF_KEY = v1.branch_ref_key("main")
#: Version token of the synthesized state; v1 state is never written back through it.
_NO_VERSION = VersionToken("spec-v1")

UPGRADE_HINT = (
    "this repository uses Icechunk on-disk format spec version 1, which pyicechunk can "
    "only read; upgrade it to spec version 2 first (icechunk.upgrade_icechunk_repository "
    "in icechunk 2.x), then reopen it to write"
)


def refuse_v1_write(operation: str) -> NoReturn:
    """Raise the typed error for a write attempted on a spec-v1 repository.

    Parameters
    ----------
    operation
        Short description of the refused operation, used in the message.

    Raises
    ------
    SessionStateError
        Always, with kind :attr:`ErrorKind.UNSUPPORTED_OPERATION_FOR_VERSION`.
    """
    raise SessionStateError(
        f"cannot {operation}: {UPGRADE_HINT}", ErrorKind.UNSUPPORTED_OPERATION_FOR_VERSION
    )


def require_spec_v2(spec_version: int, operation: str) -> None:
    """Refuse an operation that spec-version-1 repositories do not support.

    These are the operations the reference implementation also refuses on v1 (the ops
    log, repository metadata, rearrange sessions, amend), with the same error type.

    Parameters
    ----------
    spec_version
        The repository's on-disk spec version.
    operation
        Short description of the refused operation, used in the message.

    Raises
    ------
    FormatError
        When ``spec_version`` is below 2, with kind ``unsupported-spec-version``.
    """
    if spec_version < 2:
        raise FormatError(
            f"cannot {operation}: this operation needs a repository of spec version 2 or "
            "later and this one is version 1; upgrade its on-disk format "
            "(icechunk.upgrade_icechunk_repository in icechunk 2.x) and retry",
            ErrorKind.UNSUPPORTED_SPEC_VERSION,
        )


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

    async def fetch(self) -> RepoState:
        """Build the repository state from ``refs/`` and the snapshots' parent links."""
        keys = [obj.key async for obj in self.storage.list(v1.REFS_PREFIX)]
        branch_names = v1.branch_names(keys)
        tag_names = v1.tag_names(keys)
        deleted = v1.deleted_tag_names(keys)
        present = set(keys)
        deleted_with_ref = [n for n in deleted if v1.tag_ref_key(n) in present]
        branch_ids, tag_ids, deleted_ids = await asyncio.gather(
            self._read_refs([v1.branch_ref_key(n) for n in branch_names]),
            self._read_refs([v1.tag_ref_key(n) for n in tag_names]),
            self._read_refs([v1.tag_ref_key(n) for n in deleted_with_ref]),
        )
        branches = {n: s for n, s in zip(branch_names, branch_ids, strict=True) if s is not None}
        tags = {n: s for n, s in zip(tag_names, tag_ids, strict=True) if s is not None}
        tips = [*branches.values(), *tags.values(), *(s for s in deleted_ids if s is not None)]
        info = RepoInfo(
            branches=branches,
            tags=tags,
            deleted_tags=frozenset(deleted),
            snapshots=await self._walk(tips),
            status=RepoStatusData(),
            latest_updates=(),
            spec_version=1,
        )
        return RepoState(info, b"", _NO_VERSION)

    async def _read_refs(self, keys: list[str]) -> list[SnapshotId | None]:
        async def one(key: str) -> SnapshotId | None:
            try:
                return v1.decode_ref(await self.storage.get(key))
            except NotFoundError:  # deleted between listing and reading
                return None

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
        """Refused: pyicechunk never writes spec-v1 repositories."""
        refuse_v1_write("initialize a repository")

    async def update(self, mutate: Mutation, *, check_online: bool = True) -> RepoState:
        """Refused: refs, metadata and config of a spec-v1 repository are read-only here."""
        refuse_v1_write("change branches, tags, metadata or config")


__all__ += ["UPGRADE_HINT"]
