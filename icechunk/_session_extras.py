"""Session operations beyond read/write/commit: node ids, chunk listing, moving chunks
around inside an array (shift and reindex), and flushing to a detached snapshot.

:class:`SessionExtrasMixin` is one of :class:`icechunk.Session`'s bases and only uses
``self._core`` (a :class:`~icechunk._session_core.SessionCore`). Shifting and reindexing
move chunk *references*: no chunk bytes are read or copied.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterable
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from icechunk._sync import sync_twin
from icechunk.errors import ErrorKind, InvalidInputError, NodeNotFoundError
from icechunk.format._repo_snapshots import with_snapshot
from icechunk.format.model import (
    ChunkPayload,
    RepoInfo,
    SnapshotEntry,
    UpdateKind,
    UpdateRecord,
)

if TYPE_CHECKING:
    from icechunk._session_core import NodeView, SessionCore
    from icechunk.config import RepositoryConfig

__all__ = ["SessionExtrasMixin"]

Coords = tuple[int, ...]
IndexMap = Callable[[Iterable[int]], Iterable[int] | None]


def _node_path(path: str) -> str:
    path = "/" + path.strip("/")
    return path


class SessionExtrasMixin:
    """Node ids, chunk coordinates, shift/reindex of chunks and detached flushes."""

    _core: SessionCore

    # ------------------------------------------------------------------ introspection
    @property
    def config(self) -> RepositoryConfig:
        """The configuration of the repository this session belongs to."""
        return self._core.repo.config

    async def get_node_id_async(self, path: str) -> str:
        """The id of the group or array at ``path``; it stays the same across moves.

        Raises
        ------
        NodeNotFoundError
            If there is no node at ``path``.
        """
        node = await self._core.get_node(_node_path(path))
        if node is None:
            raise NodeNotFoundError(
                f"node not found at `{path}`: existing node not found", ErrorKind.NODE_NOT_FOUND
            )
        return str(node.id)

    get_node_id = sync_twin(get_node_id_async)

    async def chunk_coordinates(
        self, array_path: str, batch_size: int = 1000
    ) -> AsyncIterator[tuple[int, ...]]:
        """Coordinates of every written chunk of the array, in ascending order."""
        node = await self._array(array_path)
        for coords in await self._core.chunk_coords(node):
            yield coords

    # ------------------------------------------------------------------ moving chunks
    async def shift_array_async(self, array_path: str, chunk_offset: Iterable[int]) -> None:
        """Move every chunk of the array by ``chunk_offset`` chunks along each dimension.

        Chunks shifted outside the grid are dropped; positions left behind read as the
        fill value. Resize the array first to keep everything.
        """
        offset = tuple(int(o) for o in chunk_offset)
        node = await self._array(array_path)
        assert node.array is not None
        if len(offset) != len(node.array.shape):
            raise InvalidInputError(
                f"chunk offset {list(offset)} has {len(offset)} dimensions, array "
                f"{node.path!r} has {len(node.array.shape)}",
                ErrorKind.INVALID_CHUNK_INDEX,
            )

        def forward(coords: Iterable[int]) -> list[int] | None:
            moved = [c + o for c, o in zip(coords, offset, strict=True)]
            return moved if _in_grid(node, tuple(moved)) else None

        await self._move_chunks(node, forward, clear_sources=True, backward=None)

    shift_array = sync_twin(shift_array_async)

    async def reindex_array_async(
        self, array_path: str, forward: IndexMap, backward: IndexMap | None = None
    ) -> None:
        """Move each written chunk to ``forward(index)`` (``None`` leaves it in place).

        With ``backward`` (the inverse map), every written position whose preimage is
        out of the grid or unwritten is reset to the fill value.
        """
        node = await self._array(array_path)
        await self._move_chunks(node, forward, clear_sources=False, backward=backward)

    reindex_array = sync_twin(reindex_array_async)

    async def _move_chunks(
        self,
        node: NodeView,
        forward: IndexMap,
        *,
        clear_sources: bool,
        backward: IndexMap | None,
    ) -> None:
        core = self._core
        core._require_writable()
        existing = await core.chunk_coords(node)
        payloads: dict[Coords, ChunkPayload | None] = {
            c: await core.chunk_payload(node, c) for c in existing
        }
        targets: dict[Coords, ChunkPayload | None] = {}
        for source in existing:
            target = _checked_index(node, forward(list(source)))
            if target is not None:
                targets[target] = payloads[source]
        cleared: set[Coords] = set()
        if clear_sources:
            cleared = set(existing) - set(targets)
        if backward is not None:
            for position in existing:
                origin = _checked_index(node, backward(list(position)), strict=False)
                if origin is None or origin not in payloads:
                    cleared.add(position)
        for coords in sorted(cleared - set(targets)):
            await core.set_payload(node.path, coords, None)
        for coords, payload in targets.items():
            await core.set_payload(node.path, coords, payload)

    async def _array(self, array_path: str) -> NodeView:
        path = _node_path(array_path)
        node = await self._core.get_node(path)
        if node is None:
            raise NodeNotFoundError(
                f"node not found at `{path}`: existing node not found", ErrorKind.NODE_NOT_FOUND
            )
        if node.array is None:
            raise InvalidInputError(f"{path!r} is a group, not an array", ErrorKind.NOT_AN_ARRAY)
        return node

    # ------------------------------------------------------------------ detached snapshots
    async def flush_async(self, message: str, *, metadata: dict[str, Any] | None = None) -> str:
        """Save the changes as a new snapshot without moving any branch; return its id.

        The session becomes read-only, based on the new snapshot and on no branch. Point a
        branch at it with :meth:`Repository.reset_branch` or tag it.
        """
        core = self._core
        # Like the reference: read-only and unchanged sessions may flush too (an empty
        # snapshot on top of the session's base).
        if not isinstance(message, str):
            raise InvalidInputError("commit message must be a string")
        parent = core.snapshot_id
        snap = await core.flush(message, {**core.default_metadata, **(metadata or {})})

        def record(info: RepoInfo) -> tuple[RepoInfo, UpdateRecord]:
            entry = SnapshotEntry(snap.id, parent, snap.flushed_at, snap.message, snap.metadata)
            new = replace(info, snapshots=with_snapshot(info.snapshots, entry))
            return new, UpdateRecord(UpdateKind.NEW_DETACHED_SNAPSHOT, 0, new_snap_id=snap.id)

        await core.repo.refs.note_snapshot(snap.id)
        await core.repo.refs.update(record)
        core._rebase_onto(snap)
        core.writable = False
        core.branch = None  # the new snapshot is on no branch
        return str(snap.id)

    flush = sync_twin(flush_async)


def _in_grid(node: NodeView, coords: Coords) -> bool:
    assert node.array is not None
    shape = node.array.shape
    return len(coords) == len(shape) and all(
        0 <= c < d.num_chunks for c, d in zip(coords, shape, strict=True)
    )


def _checked_index(
    node: NodeView, index: Iterable[int] | None, *, strict: bool = True
) -> Coords | None:
    if index is None:
        return None
    coords = tuple(int(i) for i in index)
    if _in_grid(node, coords):
        return coords
    if not strict:
        return None
    raise InvalidInputError(
        f"invalid chunk index: coordinates {list(coords)} are not valid for array at {node.path}",
        ErrorKind.INVALID_CHUNK_INDEX,
    )
