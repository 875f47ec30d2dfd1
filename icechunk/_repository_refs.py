"""Ref and history methods of :class:`~icechunk.Repository`: branches, tags, ancestry.

Kept apart from ``repository.py`` as a mixin so the facade stays readable;
:class:`RefsMixin` is one of ``Repository``'s bases and only uses ``self._core``.
"""

from __future__ import annotations

import collections
from collections.abc import AsyncIterator, Iterator
from typing import TYPE_CHECKING

from icechunk._repo_core import parse_snapshot_id
from icechunk._sync import sync, sync_twin
from icechunk.errors import ErrorKind, InvalidInputError, SnapshotNotFoundError
from icechunk.format.model import SnapshotEntry
from icechunk.snapshots import SnapshotInfo

if TYPE_CHECKING:
    from icechunk._repo_core import RepoCore
    from icechunk.format.ids import SnapshotId

__all__ = ["RefsMixin"]


class _Ancestry:
    """Ancestry of a snapshot, usable with both ``for`` and ``async for``.

    Blocking iteration takes entries from the event loop in growing batches (1, 2, 4, ...
    up to 512) instead of one loop round trip per snapshot; an error met while filling a
    batch is raised when iteration reaches it.
    """

    _MAX_BATCH = 512

    def __init__(self, agen: AsyncIterator[SnapshotEntry]) -> None:
        self._agen = agen
        self._buffer: collections.deque[SnapshotEntry] = collections.deque()
        self._batch = 1
        self._done = False
        self._error: BaseException | None = None

    def __iter__(self) -> Iterator[SnapshotInfo]:
        return self

    def __next__(self) -> SnapshotInfo:
        if not self._buffer and not self._done and self._error is None:
            self._buffer.extend(sync(self._take(self._batch)))
            self._batch = min(2 * self._batch, self._MAX_BATCH)
        if self._buffer:
            return SnapshotInfo(self._buffer.popleft())
        if self._error is not None:
            error, self._error = self._error, None
            self._done = True
            raise error
        raise StopIteration

    async def _take(self, n: int) -> list[SnapshotEntry]:
        out: list[SnapshotEntry] = []
        try:
            while len(out) < n:
                out.append(await self._agen.__anext__())
        except StopAsyncIteration:
            self._done = True
        except Exception as exc:
            if not out:
                raise
            self._error = exc
        return out

    def __aiter__(self) -> AsyncIterator[SnapshotInfo]:
        return self

    async def __anext__(self) -> SnapshotInfo:
        if self._buffer:
            return SnapshotInfo(self._buffer.popleft())
        if self._error is not None:
            error, self._error = self._error, None
            self._done = True
            raise error
        if self._done:
            raise StopAsyncIteration
        return SnapshotInfo(await self._agen.__anext__())


class RefsMixin:
    """Branches, tags, snapshot lookup and ancestry of a repository."""

    _core: RepoCore

    # ------------------------------------------------------------------ branches
    async def create_branch_async(self, branch: str, snapshot_id: str) -> None:
        """Create a branch pointing at ``snapshot_id``."""
        await self._core.create_branch(branch, snapshot_id)

    create_branch = sync_twin(create_branch_async)

    async def list_branches_async(self) -> set[str]:
        """Names of all branches."""
        return set((await self._core.info()).branches)

    list_branches = sync_twin(list_branches_async)

    async def lookup_branch_async(self, branch: str) -> str:
        """The snapshot id at the tip of ``branch``."""
        return str(await self._core.lookup_branch(branch))

    lookup_branch = sync_twin(lookup_branch_async)

    async def reset_branch_async(
        self, branch: str, snapshot_id: str, *, from_snapshot_id: str | None = None
    ) -> None:
        """Point ``branch`` at ``snapshot_id`` (only if it is at ``from_snapshot_id``, if given)."""
        await self._core.reset_branch(branch, snapshot_id, from_snapshot_id)

    reset_branch = sync_twin(reset_branch_async)

    async def delete_branch_async(self, branch: str) -> None:
        """Delete a branch; ``main`` cannot be deleted."""
        await self._core.delete_branch(branch)

    delete_branch = sync_twin(delete_branch_async)

    # ------------------------------------------------------------------ tags
    async def create_tag_async(self, tag: str, snapshot_id: str) -> None:
        """Create an immutable tag at ``snapshot_id``."""
        await self._core.create_tag(tag, snapshot_id)

    create_tag = sync_twin(create_tag_async)

    async def list_tags_async(self) -> set[str]:
        """Names of all tags."""
        return set((await self._core.info()).tags)

    list_tags = sync_twin(list_tags_async)

    async def lookup_tag_async(self, tag: str) -> str:
        """The snapshot id ``tag`` points to."""
        return str(await self._core.lookup_tag(tag))

    lookup_tag = sync_twin(lookup_tag_async)

    async def delete_tag_async(self, tag: str) -> None:
        """Delete a tag; the name can never be used again."""
        await self._core.delete_tag(tag)

    delete_tag = sync_twin(delete_tag_async)

    # ------------------------------------------------------------------ history
    async def _resolve(
        self, branch: str | None, tag: str | None, snapshot_id: str | None
    ) -> SnapshotId:
        given = [x is not None for x in (branch, tag, snapshot_id)]
        if sum(given) != 1:
            raise InvalidInputError(
                "pass exactly one of branch, tag or snapshot_id", ErrorKind.INVALID_REF_TYPE
            )
        if branch is not None:
            return await self._core.lookup_branch(branch)
        if tag is not None:
            return await self._core.lookup_tag(tag)
        assert snapshot_id is not None
        return await self._core.resolve_snapshot(snapshot_id)

    async def _ancestry_entries(
        self, branch: str | None, tag: str | None, snapshot_id: str | None
    ) -> AsyncIterator[SnapshotEntry]:
        start = await self._resolve(branch, tag, snapshot_id)
        async for entry in self._core.ancestry(start):
            yield entry

    def async_ancestry(
        self, *, branch: str | None = None, tag: str | None = None, snapshot_id: str | None = None
    ) -> AsyncIterator[SnapshotInfo]:
        """Snapshots from the given ref back to the first one, newest first (async)."""
        return _Ancestry(self._ancestry_entries(branch, tag, snapshot_id))

    def ancestry(
        self, *, branch: str | None = None, tag: str | None = None, snapshot_id: str | None = None
    ) -> Iterator[SnapshotInfo]:
        """Snapshots from the given ref back to the first one, newest first.

        The result also supports ``async for``. The starting ref is resolved by this
        call, as the real package does, so a missing ref raises here, not on iteration.
        """
        start = sync(self._resolve(branch, tag, snapshot_id))
        return _Ancestry(self._core.ancestry(start))

    async def lookup_snapshot_async(self, snapshot_id: str) -> SnapshotInfo:
        """Details of one snapshot."""
        sid = parse_snapshot_id(snapshot_id)
        await self._core.refs.note_snapshot(sid)
        entry = (await self._core.info()).snapshots.get(sid)
        if entry is None:
            raise SnapshotNotFoundError(f"snapshot {snapshot_id} does not exist")
        return SnapshotInfo(entry)

    lookup_snapshot = sync_twin(lookup_snapshot_async)
