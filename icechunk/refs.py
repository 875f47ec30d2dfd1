"""The repo info file: reading it and updating it with compare-and-swap.

Every change to refs, the snapshot list, status, metadata or config is one
read-modify-write of the ``repo`` object. The write is conditional on the version that
was read; if another writer got there first, the update is recomputed on the fresh
state and tried again. Before each overwrite the old file is copied to ``overwritten/``
and the ops log gains one entry, as the spec describes.
"""

from __future__ import annotations

import asyncio
import os
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, replace

from icechunk._admin_core import refuse_if_not_online
from icechunk.asset_manager import OVERWRITTEN, REPO_INFO_KEY
from icechunk.errors import (
    ConflictError,
    ErrorKind,
    IcechunkError,
    NotFoundError,
    RepositoryNotFoundError,
    StorageError,
)
from icechunk.format.ids import SnapshotId
from icechunk.format.model import RepoInfo, UpdateRecord
from icechunk.format.repo_info import (
    backup_object_name,
    decode_repo_info,
    encode_repo_info,
    next_update_time,
)
from icechunk.storage import ConditionalPutFailed, PutMode, Storage, VersionToken

__all__ = ["RepoInfoStore", "RepoState", "now_micros"]

#: An update function gets the current state and returns the new state (without the
#: ops-log entry) plus the entry describing the change (its time is filled in).
Mutation = Callable[[RepoInfo], tuple[RepoInfo, UpdateRecord]]


def now_micros() -> int:
    """Microseconds since the epoch, UTC."""
    return time.time_ns() // 1000


@dataclass(frozen=True)
class RepoState:
    """A repo info file as read: decoded, with its raw bytes and version token."""

    info: RepoInfo
    raw: bytes
    version: VersionToken


#: The last repo file decoded by any store in this process: opening a repository reads it
#: through a short-lived store (config) and then its own, so they share one decode.
_LAST_DECODED: list[tuple[bytes, RepoInfo] | None] = [None]


class RepoInfoStore:
    """Reads and conditionally rewrites the ``repo`` object of a spec-v2 repository.

    Parameters
    ----------
    storage
        Repository storage.
    compression_level
        zstd level for the repo file.
    max_updates_per_file
        Ops-log entries kept inline before older history moves behind a backup.
    max_attempts
        How many times a conflicting update is recomputed before giving up.
    """

    def __init__(
        self,
        storage: Storage,
        *,
        compression_level: int = 3,
        max_updates_per_file: int = 1000,
        max_attempts: int = 100,
    ) -> None:
        self.storage = storage
        self.compression_level = compression_level
        self.max_updates_per_file = max_updates_per_file
        self.max_attempts = max_attempts
        # The last decoded file: opening a repository, starting a session and committing
        # each re-read it, and with 10k snapshots every decode costs ~50 ms. RepoInfo is
        # immutable (updates build new objects), so equal bytes can share one decode.
        self._last_decoded: tuple[bytes, RepoInfo] | None = None

    async def fetch(self) -> RepoState:
        """Read and decode the current repo info file."""
        try:
            raw, version = await self.storage.get_with_version(REPO_INFO_KEY)
        except NotFoundError as exc:
            raise RepositoryNotFoundError(
                "the repository doesn't exist: no Icechunk repository found at this storage "
                "location; create one with Repository.create"
            ) from exc
        for last in (self._last_decoded, _LAST_DECODED[0]):
            if last is not None and last[0] == raw:
                self._last_decoded = last
                return RepoState(last[1], raw, version)
        info = decode_repo_info(raw)
        self._last_decoded = _LAST_DECODED[0] = (raw, info)
        return RepoState(info, raw, version)

    async def create(self, info: RepoInfo) -> RepoState:
        """Write the first repo info file; fails if a repository already exists."""
        raw = encode_repo_info(info, compression_level=self.compression_level)
        try:
            version = await self.storage.put(REPO_INFO_KEY, raw, mode=PutMode.CREATE)
        except ConditionalPutFailed as exc:
            from icechunk.errors import AlreadyExistsError

            raise AlreadyExistsError(
                "a repository already exists at this location; use Repository.open",
                ErrorKind.NODE_ALREADY_EXISTS,
            ) from exc
        return RepoState(info, raw, version)

    async def note_snapshot(self, snapshot_id: SnapshotId) -> None:
        """Make a snapshot not reachable from any ref visible to later fetches.

        Spec v2 lists every snapshot in the repo file, so there is nothing to do here;
        the spec-v1 store overrides this.
        """

    async def update(self, mutate: Mutation, *, check_online: bool = True) -> RepoState:
        """Apply ``mutate`` to the latest state and write it back conditionally.

        ``mutate`` may raise (e.g. :class:`ConflictError` when a branch moved); that
        error propagates unchanged. Only a lost race on the repo object itself is
        retried, with a fresh read.
        """
        for attempt in range(self.max_attempts):
            state = await self.fetch()
            if check_online:
                refuse_if_not_online(state.info, "writes are refused")
            new_info, entry = mutate(state.info)
            written = await self._write_over(state, new_info, entry)
            if written is not None:
                return written
            await asyncio.sleep(_backoff(attempt))
        raise ConflictError(
            message=f"the repo info file kept changing; gave up after {self.max_attempts} "
            "attempts. Retry the operation.",
            kind=ErrorKind.UPDATE_ATTEMPTS_EXHAUSTED,
        )

    async def _write_over(
        self, state: RepoState, new_info: RepoInfo, entry: UpdateRecord
    ) -> RepoState | None:
        """Back up the old file, write the new one conditionally; None if we lost the race."""
        old_updates = state.info.latest_updates
        top_time = old_updates[0].updated_at if old_updates else None
        stamp = next_update_time(top_time, now_micros())
        backup = backup_object_name(stamp // 1000, os.urandom(12))
        updates = [replace(entry, updated_at=stamp, backup_path=None)]
        if old_updates:
            updates.append(replace(old_updates[0], backup_path=backup))
            updates.extend(old_updates[1:])
        before = new_info.repo_before_updates
        if len(updates) > self.max_updates_per_file:
            updates, before = _truncate(updates, self.max_updates_per_file, before)
        final = replace(new_info, latest_updates=tuple(updates), repo_before_updates=before)
        raw = encode_repo_info(final, compression_level=self.compression_level)
        await self.storage.put(OVERWRITTEN + backup, state.raw, mode=PutMode.OVERWRITE)
        try:
            version = await self.storage.put(
                REPO_INFO_KEY, raw, mode=PutMode.UPDATE, expected_version=state.version
            )
        except StorageError as exc:
            # The request may have succeeded although we saw an error: a lost response, or
            # a client-side retry that lost the race against its own first attempt.
            # Recomputing or reporting failure then would duplicate or hide a landed write.
            landed = await self._find_own_write(raw, stamp)
            if landed is not None:
                return landed
            if isinstance(exc, ConditionalPutFailed):
                return None
            raise
        # Our next fetch of these bytes needs no decode.
        self._last_decoded = _LAST_DECODED[0] = (raw, final)
        return RepoState(final, raw, version)

    async def _find_own_write(self, raw: bytes, stamp: int) -> RepoState | None:
        """The current state if the repo file ``raw`` (top entry at ``stamp``) landed.

        Successful writes form one chain whose ops-log times strictly increase, so at most
        one landed file has its top entry at ``stamp``; a later write backed it up under
        that entry's ``backup_path``, byte for byte, which tells it from a rival's.
        """
        try:
            current = await self.fetch()
            if current.raw == raw:
                return current
            for entry in current.info.latest_updates:
                if entry.updated_at < stamp:
                    return None
                if entry.updated_at == stamp and entry.backup_path is not None:
                    backup = await self.storage.get(OVERWRITTEN + entry.backup_path)
                    return current if backup == raw else None
        except IcechunkError:
            return None  # cannot tell; the caller reports the original error
        return None


def _truncate(
    updates: list[UpdateRecord], limit: int, before: str | None
) -> tuple[list[UpdateRecord], str | None]:
    """Cut the ops log at the newest entry within ``limit`` that has a backup."""
    cut = limit
    while cut > 1 and updates[cut - 1].backup_path is None:
        cut -= 1
    if updates[cut - 1].backup_path is None:
        return updates, before
    return updates[:cut], updates[cut - 1].backup_path


def _backoff(attempt: int) -> float:
    if attempt < 5:
        return 0.0
    return float(min(2.0, 0.01 * 2 ** (attempt - 5)) * random.random())
