"""Writing and inspecting virtual references in a session (the store and session entry points).

:class:`~icechunk.IcechunkStore` and :class:`~icechunk.Session` call these; the checks on
locations and the container matching live in :mod:`icechunk._virtual`.
"""

from __future__ import annotations

import math
from collections.abc import AsyncIterator, Sequence
from enum import IntEnum
from typing import TYPE_CHECKING, Any

import numpy as np

from icechunk._virtual import VirtualChunkSpec, checksum_fields, parse_location
from icechunk.errors import ErrorKind, InvalidInputError
from icechunk.format.model import InlinePayload, NativePayload, VirtualPayload

if TYPE_CHECKING:
    from icechunk._repo_core import RepoCore
    from icechunk._session_core import NodeView, SessionCore

__all__ = [
    "ChunkType",
    "all_virtual_chunk_locations",
    "chunk_type",
    "iter_chunk_refs",
    "set_virtual_refs",
    "set_virtual_refs_arr",
    "virtual_payload",
]


class ChunkType(IntEnum):
    """How a chunk is stored.

    Members compare equal to their integer codes, so the ``kinds`` column of
    :meth:`~icechunk.IcechunkStore.array_chunk_iterator` can be checked against them.

    Attributes
    ----------
    uninitialized
        Never written: reads return the fill value.
    native
        A chunk object inside the repository.
    virtual
        A byte range of an object outside the repository.
    inline
        Bytes kept inside the manifest.
    """

    uninitialized = 0
    native = 1
    virtual = 2
    inline = 3

    def __repr__(self) -> str:
        return f"ChunkType.{self.name}"

    __str__ = __repr__


def virtual_payload(
    repo: RepoCore,
    location: str,
    offset: int,
    length: int,
    checksum: object,
    validate_container: bool,
) -> VirtualPayload:
    """A checked virtual payload; raises if ``validate_container`` and no container matches."""
    url = parse_location(location)
    etag, modified = checksum_fields(checksum)
    for value, what in ((offset, "offset"), (length, "length")):
        if isinstance(value, bool) or not isinstance(value, int):
            raise TypeError(f"{what} must be an int, got {type(value).__name__}")
        if value < 0:
            raise OverflowError(f"{what} must be non-negative, got {value}")
    if length == 0:
        raise InvalidInputError(
            f"zero-length virtual chunk at {url}: a valid chunk is never empty; delete the "
            "chunk instead to leave it unwritten",
            ErrorKind.ZERO_LENGTH_CHUNK,
        )
    if validate_container:
        repo.virtual.validate(url)
    return VirtualPayload(url, offset, length, etag, modified)


def _array_path(path: str) -> str:
    return "/" + path.strip("/")


async def set_virtual_refs(
    core: SessionCore,
    array_path: str,
    chunks: Sequence[VirtualChunkSpec],
    validate_containers: bool,
) -> list[tuple[int, ...]] | None:
    """Record many refs of one array; refs no container serves are skipped and returned."""
    path = _array_path(array_path)
    checked = _LocationCheck(core.repo, validate_containers)
    payloads: list[tuple[tuple[int, ...], VirtualPayload]] = []
    failed: list[tuple[int, ...]] = []
    for spec in chunks:
        if not isinstance(spec, VirtualChunkSpec):
            raise TypeError(f"chunks must hold VirtualChunkSpec, got {type(spec).__name__}")
        coords = tuple(spec.index)
        url = checked.url(spec.location)
        if url is None:
            failed.append(coords)  # reported back, never recorded
            continue
        payload = virtual_payload(
            core.repo, url, spec.offset, spec.length, spec.checksum(), validate_container=False
        )
        payloads.append((coords, payload))
    await _record(core, path, payloads)
    return failed or None


def _u64_column(values: object, what: str) -> np.ndarray[Any, np.dtype[np.uint64]]:
    if not isinstance(values, np.ndarray) or values.dtype != np.uint64 or values.ndim != 1:
        raise TypeError(f"{what} must be a 1-D numpy array of dtype uint64")
    return values


async def set_virtual_refs_arr(
    core: SessionCore,
    array_path: str,
    chunk_grid_shape: Sequence[int],
    locations: Sequence[str],
    columns: tuple[object, object],
    validate_containers: bool,
    arr_offset: Sequence[int] | None,
    checksum: object,
) -> list[tuple[int, ...]] | None:
    """Record refs given as flat C-order columns; empty locations are skipped."""
    offsets, lengths = _u64_column(columns[0], "offsets"), _u64_column(columns[1], "lengths")
    if not len(locations) == len(offsets) == len(lengths):
        raise ValueError("locations, offsets, and lengths must have the same length")
    grid = tuple(int(n) for n in chunk_grid_shape)
    if math.prod(grid) != len(locations):
        raise ValueError(
            f"product of chunk_grid_shape ({math.prod(grid)}) != array length ({len(locations)})"
        )
    etag, modified = checksum_fields(checksum)
    all_coords = _grid_coords(grid, arr_offset)
    checked = _LocationCheck(core.repo, validate_containers)
    # Each distinct location is parsed and checked once; "" (no ref) maps to "".
    urls = {loc: checked.url(loc) if loc != "" else "" for loc in dict.fromkeys(locations)}
    url_of = [urls[loc] for loc in locations]
    failed = [all_coords[i] for i, url in enumerate(url_of) if url is None]
    kept = [(i, url) for i, url in enumerate(url_of) if url]
    offset_list, length_list = offsets.tolist(), lengths.tolist()
    empty = next((url for i, url in kept if not length_list[i]), None)
    if empty is not None:
        virtual_payload(core.repo, empty, 0, 0, None, False)  # raises the zero-length error
    make = VirtualPayload
    payloads = [
        (all_coords[i], make(url, offset_list[i], length_list[i], etag, modified))
        for i, url in kept
    ]
    lo = tuple(int(n) for n in arr_offset) if arr_offset is not None else (0,) * len(grid)
    box = (lo, tuple(a + n for a, n in zip(lo, grid, strict=False)))
    await _record(core, _array_path(array_path), payloads, box)
    return failed or None


def _grid_coords(grid: tuple[int, ...], arr_offset: Sequence[int] | None) -> list[tuple[int, ...]]:
    """Chunk coordinates of every cell of ``grid`` in C order, shifted by ``arr_offset``."""
    if not grid:
        return [()]
    index = np.indices(grid).reshape(len(grid), -1).T
    if arr_offset is not None:
        index = index + np.asarray([int(n) for n in arr_offset], dtype=np.int64)
    return [tuple(row) for row in index.tolist()]


class _LocationCheck:
    """Parses and container-checks each distinct location once (batches repeat them)."""

    def __init__(self, repo: RepoCore, validate: bool) -> None:
        self._resolver, self._validate = repo.virtual, validate
        self._seen: dict[str, str | None] = {}

    def url(self, location: str) -> str | None:
        """The parsed location, or None when validation is on and no container serves it."""
        if location not in self._seen:
            url = parse_location(location)
            served = not self._validate or self._resolver.serves(url)
            self._seen[location] = url if served else None
        return self._seen[location]


async def _record(
    core: SessionCore,
    path: str,
    payloads: list[tuple[tuple[int, ...], VirtualPayload]],
    box: tuple[tuple[int, ...], tuple[int, ...]] | None = None,
) -> None:
    """Record many payloads of one array, looking the array up once.

    ``box`` (first, end) bounds every coordinate when known: if it lies inside the
    array's chunk grid, the refs are not checked one by one.
    """
    if len(payloads) < 2:
        for coords, payload in payloads:
            await core.set_payload(path, coords, payload)
        return
    core._require_writable()
    node = await core._require_array(path)
    set_chunk, node_id = core.changes.set_chunk, node.id
    if box is not None and _box_in_grid(node, *box):
        for coords, payload in payloads:
            set_chunk(node_id, coords, payload)
        return
    for coords, payload in payloads:
        core._check_coords(node, coords)
        set_chunk(node_id, coords, payload)


def _box_in_grid(node: Any, first: tuple[int, ...], end: tuple[int, ...]) -> bool:
    """Whether every index in ``[first, end)`` is a chunk of ``node``'s grid."""
    shape = node.array.shape
    return len(first) == len(shape) and all(
        a >= 0 and b <= d.num_chunks for a, b, d in zip(first, end, shape, strict=True)
    )


ChunkBatch = tuple[
    "np.ndarray[Any, np.dtype[np.uint32]]",
    "np.ndarray[Any, np.dtype[np.uint8]]",
    list[str],
    "np.ndarray[Any, np.dtype[np.uint64]]",
    "np.ndarray[Any, np.dtype[np.uint64]]",
    dict[int, bytes],
]


def _row(payload: object, resolver: Any) -> tuple[int, str, int, int, bytes | None]:
    """``(kind, path, offset, length, inline bytes)`` of one chunk ref."""
    if isinstance(payload, InlinePayload):
        return ChunkType.inline.value, "", 0, len(payload.data), payload.data
    if isinstance(payload, NativePayload):
        return ChunkType.native.value, str(payload.chunk_id), payload.offset, payload.length, None
    assert isinstance(payload, VirtualPayload)
    location = resolver.expand(payload.location)
    return ChunkType.virtual.value, location, payload.offset, payload.length, None


def _batch(ndim: int, coords: list[tuple[int, ...]], rows: list[Any]) -> ChunkBatch:
    inlined = {i: row[4] for i, row in enumerate(rows) if row[4] is not None}
    return (
        np.array(coords, dtype=np.uint32).reshape(len(coords), ndim),
        np.array([r[0] for r in rows], dtype=np.uint8),
        [r[1] for r in rows],
        np.array([r[2] for r in rows], dtype=np.uint64),
        np.array([r[3] for r in rows], dtype=np.uint64),
        inlined,
    )


async def iter_chunk_refs(
    core: SessionCore, array_path: str, batch_size: int
) -> AsyncIterator[ChunkBatch]:
    """Columnar batches of one array's chunk refs, in coordinate order (see the store)."""
    if batch_size < 1:
        raise InvalidInputError("batch_size must be positive", ErrorKind.INVALID_BYTE_RANGE)
    node = await core.require_node(_array_path(array_path))
    if node.array is None:
        raise InvalidInputError(f"{array_path!r} is a group, not an array", ErrorKind.NOT_AN_ARRAY)
    ndim, resolver = len(node.array.shape), core.repo.virtual
    coords: list[tuple[int, ...]] = []
    rows: list[Any] = []
    for c in await core.chunk_coords(node):
        payload = await core.chunk_payload(node, c)
        if payload is None:
            continue
        coords.append(c)
        rows.append(_row(payload, resolver))
        if len(rows) == batch_size:
            yield _batch(ndim, coords, rows)
            coords, rows = [], []
    if rows:
        yield _batch(ndim, coords, rows)


async def all_virtual_chunk_locations(core: SessionCore) -> list[str]:
    """The absolute location of every virtual chunk in the session (one entry per chunk)."""
    out: list[str] = []
    for node in await core.list_nodes("/"):
        if node.array is not None:
            out.extend(await _node_virtual_locations(core, node))
    resolver = core.repo.virtual
    return [resolver.expand(location) for location in out]


async def _node_virtual_locations(core: SessionCore, node: NodeView) -> list[str]:
    """Locations of one array's virtual refs: uncommitted changes win over manifests."""
    pending = core.changes.chunk_changes(node.id)
    out = [p.location for p in pending.values() if isinstance(p, VirtualPayload)]
    seen: set[tuple[int, ...]] = set()
    for mref in node.manifests:
        table = (await core.repo.assets.fetch_manifest(mref.object_id)).arrays.get(node.id)
        if table is None:
            continue
        rows = np.flatnonzero(table.kinds == ChunkType.virtual.value)
        locations = table.columns.location.take(rows).to_list()
        for coords, location in zip(table.coords_array[rows].tolist(), locations, strict=True):
            key = tuple(coords)
            if key not in pending and key not in seen:
                seen.add(key)
                out.append(location.decode("utf-8"))
    return out


async def chunk_type(core: SessionCore, array_path: str, coords: Sequence[int]) -> ChunkType:
    """How the chunk at ``coords`` of the array at ``array_path`` is stored."""
    if not isinstance(array_path, str) or not array_path.startswith("/"):
        raise InvalidInputError(
            "could not create path from prefix: path must start with a `/` character",
            ErrorKind.BAD_PREFIX,
        )
    node = await core.require_node(array_path)
    if node.array is None:
        raise InvalidInputError(f"{array_path!r} is a group, not an array", ErrorKind.NOT_AN_ARRAY)
    payload = await core.chunk_payload(node, tuple(int(c) for c in coords))
    if payload is None:
        return ChunkType.uninitialized
    if isinstance(payload, NativePayload):
        return ChunkType.native
    if isinstance(payload, InlinePayload):
        return ChunkType.inline
    return ChunkType.virtual
