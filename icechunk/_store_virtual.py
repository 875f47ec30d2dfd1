"""The virtual-reference methods of :class:`~icechunk.IcechunkStore`.

Kept apart from the zarr ``Store`` protocol in :mod:`icechunk.store`; the store class mixes
them in. The work itself is in :mod:`icechunk._virtual_refs`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from icechunk._sync import sync
from icechunk._virtual_refs import (
    ChunkBatch,
    iter_chunk_refs,
    set_virtual_refs,
    set_virtual_refs_arr,
    virtual_payload,
)
from icechunk.errors import ErrorKind, InvalidInputError

if TYPE_CHECKING:
    from collections.abc import AsyncIterator
    from datetime import datetime

    import numpy as np

    from icechunk._session_core import NodeView, SessionCore
    from icechunk._virtual import VirtualChunkSpec

__all__ = ["VirtualRefsMixin"]


class VirtualRefsMixin:
    """``set_virtual_ref``, ``set_virtual_refs`` and ``set_virtual_refs_arr`` (sync and async)."""

    if TYPE_CHECKING:

        @property
        def _core(self) -> SessionCore: ...

        def _check_writable(self) -> None: ...

        async def _resolve_chunk(self, key: str) -> tuple[NodeView, tuple[int, ...]] | None: ...

    async def set_virtual_ref_async(
        self,
        key: str,
        location: str,
        *,
        offset: int,
        length: int,
        checksum: str | datetime | None = None,
        validate_container: bool = True,
    ) -> None:
        """Point chunk ``key`` at ``length`` bytes from ``offset`` of the object at ``location``.

        Parameters
        ----------
        key
            The chunk key, e.g. ``"array/c/0/1"``.
        location
            Absolute URL of the object, e.g. ``s3://bucket/file.nc`` or ``file:///data/f.nc``.
        offset, length
            Byte range of the chunk in that object.
        checksum
            The object's ETag (str) or a timezone-aware time; reads fail if the object
            changed since.
        validate_container
            Fail unless a virtual chunk container of the repository serves ``location``.
        """
        self._check_writable()
        payload = virtual_payload(
            self._core.repo, location, offset, length, checksum, validate_container
        )
        found = await self._resolve_chunk(key)
        if found is None:
            raise InvalidInputError(
                f"cannot set a virtual ref at {key!r}: no array exists at its path",
                ErrorKind.NODE_NOT_FOUND,
            )
        await self._core.set_payload(found[0].path, found[1], payload)

    def set_virtual_ref(
        self,
        key: str,
        location: str,
        *,
        offset: int,
        length: int,
        checksum: str | datetime | None = None,
        validate_container: bool = True,
    ) -> None:
        """Blocking :meth:`set_virtual_ref_async`."""
        sync(
            self.set_virtual_ref_async(
                key,
                location,
                offset=offset,
                length=length,
                checksum=checksum,
                validate_container=validate_container,
            )
        )

    async def set_virtual_refs_async(
        self,
        array_path: str,
        chunks: list[VirtualChunkSpec],
        *,
        validate_containers: bool = True,
    ) -> list[tuple[int, ...]] | None:
        """Store many virtual refs of one array.

        Returns
        -------
        list[tuple[int, ...]] | None
            None when every ref was stored; otherwise the indices of the refs whose
            location no container serves (with ``validate_containers``), which were skipped.
        """
        self._check_writable()
        return await set_virtual_refs(self._core, array_path, chunks, validate_containers)

    def set_virtual_refs(
        self,
        array_path: str,
        chunks: list[VirtualChunkSpec],
        *,
        validate_containers: bool = True,
    ) -> list[tuple[int, ...]] | None:
        """Blocking :meth:`set_virtual_refs_async`."""
        return sync(
            self.set_virtual_refs_async(array_path, chunks, validate_containers=validate_containers)
        )

    async def set_virtual_refs_arr_async(
        self,
        array_path: str,
        chunk_grid_shape: tuple[int, ...],
        locations: list[str],
        offsets: np.ndarray[Any, np.dtype[np.uint64]],
        lengths: np.ndarray[Any, np.dtype[np.uint64]],
        *,
        validate_containers: bool = True,
        arr_offset: tuple[int, ...] | None = None,
        checksum: datetime | str | None = None,
    ) -> list[tuple[int, ...]] | None:
        """Store virtual refs given as flat columns (C order over ``chunk_grid_shape``).

        Parameters
        ----------
        array_path
            The array, e.g. ``"/group/array"``.
        chunk_grid_shape
            Chunks per dimension of the block being written; its product is the length of
            ``locations``, ``offsets`` and ``lengths``.
        locations
            Absolute URLs; empty strings mark chunks to leave untouched.
        offsets, lengths
            1-D uint64 arrays of byte ranges.
        validate_containers
            Skip (and report) refs whose location no container serves.
        arr_offset
            Added to every computed chunk index (to write a sub-block, e.g. when appending).
        checksum
            One ETag or timezone-aware time for every ref.

        Returns
        -------
        list[tuple[int, ...]] | None
            None when every ref was stored; otherwise the indices that were skipped.
        """
        self._check_writable()
        return await set_virtual_refs_arr(
            self._core,
            array_path,
            chunk_grid_shape,
            locations,
            (offsets, lengths),
            validate_containers,
            arr_offset,
            checksum,
        )

    def set_virtual_refs_arr(
        self,
        array_path: str,
        chunk_grid_shape: tuple[int, ...],
        locations: list[str],
        offsets: np.ndarray[Any, np.dtype[np.uint64]],
        lengths: np.ndarray[Any, np.dtype[np.uint64]],
        *,
        validate_containers: bool = True,
        arr_offset: tuple[int, ...] | None = None,
        checksum: datetime | str | None = None,
    ) -> list[tuple[int, ...]] | None:
        """Blocking :meth:`set_virtual_refs_arr_async`."""
        return sync(
            self.set_virtual_refs_arr_async(
                array_path,
                chunk_grid_shape,
                locations,
                offsets,
                lengths,
                validate_containers=validate_containers,
                arr_offset=arr_offset,
                checksum=checksum,
            )
        )

    def array_chunk_iterator(
        self, array_path: str, batch_size: int = 100_000
    ) -> AsyncIterator[ChunkBatch]:
        """Async iterator of columnar batches describing every stored chunk of one array.

        Each batch is ``(coords, kinds, paths, offsets, lengths, inlined)``: ``coords`` is an
        ``(n, ndim)`` uint32 array; ``kinds`` holds :class:`~icechunk.ChunkType` values
        (1 native, 2 virtual, 3 inline); ``paths`` is the absolute URL of a virtual chunk
        (``vcc://`` names expanded), the chunk id of a native one, ``""`` for inline ones;
        ``offsets``/``lengths`` are uint64 byte ranges; ``inlined`` maps the row number of
        each inline chunk to its bytes. Chunks never written are not listed.

        Parameters
        ----------
        array_path
            The array, e.g. ``"a"`` or ``"/group/var"``.
        batch_size
            Maximum rows per batch.
        """
        return iter_chunk_refs(self._core, array_path, batch_size)
