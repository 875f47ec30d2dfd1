"""Manifest files: the chunk references of one or more arrays, held column-wise in numpy.

A manifest maps, per array (keyed by node id), chunk coordinates to where the chunk's
bytes are: inline in the manifest, a range of a native chunk file, or a range of an
object outside the repository (a virtual ref). :class:`ChunkTable` keeps one array's
refs as sorted numpy columns, so decoding, encoding, merging and lookups are vectorised;
:func:`encode_manifest` and :func:`decode_manifest` convert whole files (spec v1 and v2).
"""

from __future__ import annotations

import struct
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, replace
from functools import cached_property, partial
from typing import Any

import numpy as np
import numpy.typing as npt
import zstandard

from icechunk.errors import FormatError, InvalidInputError
from icechunk.format._fb import require, root_table
from icechunk.format._manifest_decode import Buffer, coords_at, decode_coords, decode_refs
from icechunk.format._manifest_numpy import (
    INLINE,
    NATIVE,
    VIRTUAL,
    RefColumns,
    check_utf8,
    interleave,
)
from icechunk.format._manifest_payloads import (
    bad_index,
    check_writable,
    coords_array,
    fast_id,
    pack_keys,
    payload_columns,
)
from icechunk.format._manifest_writer import (
    MAX_COMPRESSED_LOCATION_SIZE,
    array_records,
    decompress_locations,
    train_dictionary,
    virtual_locations,
    write_manifest,
)
from icechunk.format.header import FileType, decode_file, encode_file
from icechunk.format.ids import ChunkId, ManifestId, NodeId
from icechunk.format.model import ChunkPayload, InlinePayload, NativePayload, VirtualPayload

__all__ = [
    "MAX_COMPRESSED_LOCATION_SIZE",
    "ChunkTable",
    "Manifest",
    "decode_manifest",
    "encode_manifest",
]

Coords = tuple[int, ...]


class ChunkTable:
    """The chunk refs of one array in one manifest, as columns sorted by coordinates.

    Build one with :meth:`from_payloads` (or get one from :func:`decode_manifest`);
    tables are immutable and :meth:`merge` returns a new one.

    Parameters
    ----------
    columns
        Already validated, lexicographically sorted columns (internal use).
    """

    __slots__ = ("_columns", "_keys", "_lazy")

    def __init__(self, columns: RefColumns | None, lazy: _LazyRefs | None = None) -> None:
        self._columns = columns
        self._lazy = lazy if columns is None else None
        self._keys: npt.NDArray[Any] | None = None

    @classmethod
    def _from_file(cls, lazy: _LazyRefs) -> ChunkTable:
        """A table still in its manifest file: single lookups binary-search the file and
        decode one row; anything else decodes (and validates) every row once."""
        return cls(None, lazy)

    @property
    def _cols(self) -> RefColumns:
        if self._columns is None:
            assert self._lazy is not None
            self._columns = self._lazy.decode_all()
            self._lazy = None
        return self._columns

    @classmethod
    def empty(cls, ndim: int) -> ChunkTable:
        """A table with no refs for an array of ``ndim`` dimensions."""
        return cls(RefColumns.empty(ndim))

    @classmethod
    def from_payloads(cls, ndim: int, refs: Mapping[Coords, ChunkPayload]) -> ChunkTable:
        """Build a table from a mapping of chunk coordinates to payloads.

        Parameters
        ----------
        ndim
            Number of array dimensions (0 for a scalar array, whose one key is ``()``).
        refs
            Chunk coordinates to payloads, in any order.

        Raises
        ------
        InvalidInputError
            On coordinates of the wrong length or outside ``[0, 2**32)``, zero-length
            chunks, empty inline payloads or out-of-range offsets.
        """
        coords = coords_array(ndim, list(refs))
        columns = payload_columns(coords, list(refs.values()))
        if ndim == 0 or len(coords) < 2:
            return cls(columns)
        order = np.lexsort(coords.T[::-1])
        return cls(columns.take(order))

    @property
    def ndim(self) -> int:
        """Number of array dimensions."""
        if self._lazy is not None:
            return self._lazy.ndim
        return int(self._cols.coords.shape[1])

    @property
    def columns(self) -> RefColumns:
        """The underlying columns (read-only by convention)."""
        return self._cols

    @property
    def coords_array(self) -> npt.NDArray[np.uint32]:
        """Chunk coordinates, shape ``(n, ndim)``, sorted lexicographically."""
        return self._cols.coords

    @property
    def kinds(self) -> npt.NDArray[np.uint8]:
        """Per-ref kind code: 1 native, 2 virtual, 3 inline (``icechunk.ChunkType``)."""
        return self._cols.kinds

    def __len__(self) -> int:
        return self._lazy.count if self._lazy is not None else len(self._cols)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, ChunkTable):
            return NotImplemented
        return self._cols.equals(other._cols)

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"ChunkTable(ndim={self.ndim}, refs={len(self)})"

    def __contains__(self, coords: object) -> bool:
        return isinstance(coords, tuple) and self._find(coords) >= 0

    def _sort_keys(self) -> npt.NDArray[Any]:
        if self._keys is None:
            self._keys = pack_keys(self._cols.coords)
        return self._keys

    def _find(self, coords: Coords) -> int:
        ndim = self.ndim
        if len(coords) != ndim:
            raise bad_index(f"expected {ndim} chunk coordinates, got {len(coords)}")
        n = len(self)
        if ndim == 0:
            return 0 if n else -1
        try:
            key = struct.pack(f">{ndim}I", *coords)
        except struct.error:
            return -1
        if self._lazy is not None:
            return self._lazy.find(list(coords))
        i = int(self._sort_keys().searchsorted(key))
        if i < n and self._cols.coords[i].tolist() == list(coords):
            return i
        return -1

    def lookup(self, coords: Coords) -> ChunkPayload | None:
        """The payload stored for ``coords``, or None when the chunk has no ref.

        Raises
        ------
        InvalidInputError
            If ``coords`` does not have :attr:`ndim` elements.
        """
        i = self._find(coords)
        return self.payload_at(i) if i >= 0 else None

    def payload_at(self, i: int) -> ChunkPayload:
        """The payload of row ``i`` (rows are in coordinate order)."""
        if self._lazy is not None:
            return _payload(self._lazy.row(i), 0)
        return _payload(self._cols, i)

    def items(self) -> Iterator[tuple[Coords, ChunkPayload]]:
        """Every ``(coords, payload)`` pair in coordinate order."""
        c = self._cols
        kinds = c.kinds.tolist()
        offsets, lengths = c.offsets.tolist(), c.lengths.tolist()
        ids = c.chunk_ids.tobytes()
        lazy = {k: any(x == k for x in kinds) for k in (VIRTUAL, INLINE)}
        inline = c.inline.to_list() if lazy[INLINE] else []
        location = [x.decode("utf-8") for x in c.location.to_list()] if lazy[VIRTUAL] else []
        etag = [x.decode("utf-8") for x in c.etag.to_list()] if lazy[VIRTUAL] else []
        has_etag, modified = c.has_etag.tolist(), c.last_modified.tolist()
        payload: ChunkPayload
        for i, key in enumerate(c.coords.tolist()):
            kind = kinds[i]
            if kind == NATIVE:
                cid = fast_id(ChunkId, ids[12 * i : 12 * i + 12])
                payload = NativePayload(cid, offsets[i], lengths[i])
            elif kind == INLINE:
                payload = InlinePayload(inline[i])
            else:
                tag = etag[i] if has_etag[i] else None
                payload = VirtualPayload(
                    location[i], offsets[i], lengths[i], tag, modified[i] or None
                )
            yield tuple(key), payload

    def extents(self) -> tuple[tuple[int, int], ...]:
        """Bounding box of the refs: one ``(min, max + 1)`` per dimension.

        An empty table gives ``(0, 0)`` per dimension; a scalar array gives ``()``.
        """
        coords = self._cols.coords
        if len(coords) == 0:
            return tuple((0, 0) for _ in range(self.ndim))
        columns = [coords[:, d] for d in range(self.ndim)]  # per column: much faster
        return tuple((int(col.min()), int(col.max()) + 1) for col in columns)

    def within(self, extents: tuple[tuple[int, int], ...]) -> ChunkTable:
        """The refs inside the box ``extents`` (one ``(start, stop)`` per dimension)."""
        if len(extents) != self.ndim:
            raise bad_index(f"expected {self.ndim} extents, got {len(extents)}")
        coords = self._cols.coords
        mask = np.ones(len(coords), dtype=np.bool_)
        for d, (start, stop) in enumerate(extents):
            mask &= (coords[:, d] >= start) & (coords[:, d] < stop)
        return ChunkTable(self._cols.take(np.flatnonzero(mask)))

    def merge(self, updates: Mapping[Coords, ChunkPayload | None]) -> ChunkTable:
        """A new table with ``updates`` applied: payloads added or replaced, None deleted.

        Raises
        ------
        InvalidInputError
            On invalid coordinates or payloads (see :meth:`from_payloads`).
        """
        if not updates:
            return self
        ndim = self.ndim if len(self) else len(next(iter(updates)))
        added = ChunkTable.from_payloads(ndim, {k: v for k, v in updates.items() if v is not None})
        touched = pack_keys(coords_array(ndim, list(updates)))
        if len(self) == 0:
            return added
        mine = self._sort_keys()
        at = np.minimum(np.searchsorted(mine, touched), len(mine) - 1)
        # Distinct keys hit distinct rows, so sorting suffices; np.unique would also
        # import numpy.ma on first use (~0.1 s, paid by the first commit of a process).
        dropped = np.sort(at[mine[at] == touched])
        return ChunkTable(interleave(self._cols, mine, dropped, added._cols, added._sort_keys()))

    def native_chunk_ids(self) -> set[ChunkId]:
        """The distinct chunk files the native refs point to."""
        ids = np.ascontiguousarray(self._cols.chunk_ids[self._cols.kinds == NATIVE])
        distinct = set(ids.view("V12").ravel().tolist())
        return set(map(partial(bytes.__new__, ChunkId), distinct))

    def virtual_locations(self) -> list[str]:
        """The distinct locations of the virtual refs, sorted."""
        rows = np.flatnonzero(self._cols.kinds == VIRTUAL)
        distinct = set(self._cols.location.take(rows).to_list())
        return sorted(x.decode("utf-8") for x in distinct)


def _payload(c: RefColumns, i: int) -> ChunkPayload:
    """The payload of row ``i`` of ``c``."""
    kind = c.kinds.item(i)
    if kind == NATIVE:
        cid = fast_id(ChunkId, c.chunk_ids[i].tobytes())
        return NativePayload(cid, c.offsets.item(i), c.lengths.item(i))
    if kind == INLINE:
        return InlinePayload(c.inline.get(i))
    return VirtualPayload(
        c.location.get(i).decode("utf-8"),
        c.offsets.item(i),
        c.lengths.item(i),
        c.etag.get(i).decode("utf-8") if c.has_etag.item(i) else None,
        c.last_modified.item(i) or None,
    )


@dataclass(frozen=True)
class _LazyRefs:
    """One array's ref vector inside a decoded manifest payload, not yet decoded."""

    buf: Buffer
    start: int
    count: int
    dictionary: bytes | None
    algorithm: int

    @cached_property
    def ndim(self) -> int:
        return int(decode_coords(self.buf, self.start, 1).shape[1]) if self.count else 0

    def decode_all(self) -> RefColumns:
        return _decode_array(self.buf, self.start, self.count, self.dictionary, self.algorithm)

    def row(self, i: int) -> RefColumns:
        return _decode_array(self.buf, self.start + 4 * i, 1, self.dictionary, self.algorithm)

    def find(self, coords: list[int]) -> int:
        """Row of ``coords`` by binary search over the (sorted) file rows, or -1."""
        lo, hi = 0, self.count
        while lo < hi:
            mid = (lo + hi) // 2
            here = coords_at(self.buf.raw, self.start + 4 * mid)
            if here == coords:
                return mid
            if here < coords:
                lo = mid + 1
            else:
                hi = mid
        return -1


@dataclass(frozen=True)
class Manifest:
    """One manifest file: chunk tables keyed by array node id (kept sorted by id bytes).

    Parameters
    ----------
    id
        The manifest id (its file name is ``manifests/<id>``).
    arrays
        Node id to that array's refs in this manifest.
    spec_version
        Format version of the file (1 or 2).
    """

    id: ManifestId
    arrays: Mapping[NodeId, ChunkTable] = field(default_factory=dict)
    spec_version: int = 2

    def __post_init__(self) -> None:
        ordered = {NodeId(k): v for k, v in sorted(self.arrays.items())}
        object.__setattr__(self, "arrays", ordered)

    @property
    def num_chunk_refs(self) -> int:
        """Total number of chunk refs over all arrays."""
        return sum(len(t) for t in self.arrays.values())

    def lookup(self, node_id: NodeId, coords: Coords) -> ChunkPayload | None:
        """The payload of one chunk, or None if this manifest has no ref for it."""
        table = self.arrays.get(node_id)
        return table.lookup(coords) if table is not None else None


# ---------------------------------------------------------------- files
def encode_manifest(
    manifest: Manifest,
    *,
    compression_level: int = 3,
    virtual_location_compression: bool | None = None,
    dictionary_size: int = 2048,
    min_virtual_refs: int = 1000,
    max_training_samples: int = 100,
) -> bytes:
    """Serialise a manifest to the bytes of a manifest file (header + zstd payload).

    Parameters
    ----------
    manifest
        What to write. Arrays without refs are skipped.
    compression_level
        zstd level for the file and for compressed locations.
    virtual_location_compression
        True to always dictionary-compress virtual locations, False never, None when
        the manifest has at least ``min_virtual_refs`` virtual refs (spec v2 only).
    dictionary_size, max_training_samples
        Size bound of the trained dictionary and number of locations sampled for it.
    min_virtual_refs
        Threshold for ``virtual_location_compression=None``.

    Raises
    ------
    InvalidInputError
        If the manifest has no refs, holds zero-length or empty-inline chunks, or has a
        spec version other than 1 or 2.
    """
    if manifest.spec_version not in (1, 2):
        raise InvalidInputError(f"cannot write manifest spec version {manifest.spec_version}")
    tables = [(k, t) for k, t in manifest.arrays.items() if len(t)]
    if not tables:
        raise InvalidInputError("refusing to write a manifest without chunk refs")
    for _, table in tables:
        check_writable(table.columns)
    cctx, dictionary = None, None
    if manifest.spec_version >= 2:
        locations = virtual_locations([t.columns for _, t in tables])
        wanted = virtual_location_compression
        if wanted is None:
            wanted = len(locations) >= min_virtual_refs
        trained = None
        if wanted and len(locations):
            trained = train_dictionary(locations, dictionary_size, max_training_samples)
        if trained is not None:
            dictionary = trained.as_bytes()
            cctx = zstandard.ZstdCompressor(
                level=compression_level, dict_data=trained, write_content_size=True
            )
    records = [array_records(bytes(node), table.columns, cctx) for node, table in tables]
    algorithm = None if manifest.spec_version < 2 else int(dictionary is not None)
    payload = write_manifest(bytes(manifest.id), records, dictionary, algorithm)
    return encode_file(
        FileType.MANIFEST, payload, spec_version=manifest.spec_version, level=compression_level
    )


def decode_manifest(data: bytes, *, lazy: bool = False) -> Manifest:
    """Parse the bytes of a manifest file (spec v1 or v2).

    With ``lazy``, each array's refs stay in the decompressed file until needed: a
    single :meth:`ChunkTable.lookup` binary-searches them and decodes one row, so a
    cold read of one chunk does not pay for the whole manifest; the first other use
    decodes and validates every row (and raises :class:`FormatError` then).

    Raises
    ------
    FormatError
        On any corruption: bad header or zstd data, out-of-range offsets, refs without
        exactly one payload, unsorted arrays or refs, undecodable locations.
    """
    spec, payload = decode_file(data, FileType.MANIFEST)
    try:
        return _decode_payload(spec, payload, lazy)
    except FormatError:
        raise
    except (IndexError, ValueError, OverflowError, struct.error, zstandard.ZstdError) as exc:
        raise FormatError(f"corrupt manifest file: {exc}") from exc


def _decode_payload(spec: int, payload: bytes, lazy: bool = False) -> Manifest:
    root = root_table(payload)
    manifest_id = ManifestId(require(root.inline_bytes(0, 12), "Manifest.id"))
    arrays = require(root.table_vector(1, lambda t: t), "Manifest.arrays")
    dictionary = root.bytes_vector(2)
    algorithm = root.u8(3, 1)
    buf = Buffer(payload)
    tables: dict[NodeId, ChunkTable] = {}
    previous = b""
    for array in arrays:
        node = NodeId(require(array.inline_bytes(0, 8), "ArrayManifest.node_id"))
        if node <= previous:
            raise FormatError("manifest arrays are not strictly sorted by node id")
        previous = node
        start, count = require(array.vector_span(1, 4), "ArrayManifest.refs")
        if lazy and count:
            refs = _LazyRefs(buf, start, count, dictionary, algorithm)
            tables[node] = ChunkTable._from_file(refs)
        else:
            tables[node] = ChunkTable(_decode_array(buf, start, count, dictionary, algorithm))
    return Manifest(manifest_id, tables, spec)


def _decode_array(
    buf: Buffer, start: int, count: int, dictionary: bytes | None, algorithm: int
) -> RefColumns:
    if count == 0:
        return RefColumns.empty(0)
    columns, compressed, mask = decode_refs(buf, start, count)
    if not np.any(mask):
        return columns
    if algorithm != 1:
        raise FormatError(f"unknown location compression algorithm {algorithm}")
    rows = np.flatnonzero(mask)
    plain = check_utf8(decompress_locations(compressed.take(rows), dictionary), "location")
    order = np.arange(count, dtype=np.int64)
    order[rows] = count + np.arange(len(rows))
    location = columns.location.concat(plain).take(order)
    return replace(columns, location=location)


def location_compression_summary(data: bytes) -> tuple[bool, int]:
    """Whether a manifest file compresses virtual locations, and how many refs use it.

    Returns
    -------
    tuple[bool, int]
        ``(has a location dictionary, number of refs with a compressed location)``.
    """
    _, payload = decode_file(data, FileType.MANIFEST)
    try:
        root = root_table(payload)
        buf = Buffer(payload)
        compressed = 0
        for array in root.table_vector(1, lambda t: t) or ():
            span = array.vector_span(1, 4)
            if span is not None and span[1]:
                compressed += int(np.count_nonzero(decode_refs(buf, span[0], span[1])[2]))
        return root.bytes_vector(2) is not None, compressed
    except (IndexError, ValueError, struct.error) as exc:
        raise FormatError(f"corrupt manifest file: {exc}") from exc
