"""Columnar (numpy) chunk refs, and vectorised reading of manifest chunk-ref vectors.

:class:`RefColumns` holds every field of an array's refs as parallel numpy columns;
variable-length fields are :class:`VarBytes` spans into a shared blob, so selecting,
reordering and splicing rows never copies their bytes.

The reader decodes the flatbuffer ``ChunkRef`` tables of one array column by column:
every step is one numpy gather over all refs, so a ref costs nanoseconds instead of
the tens of microseconds of the generated accessors. It follows each ref's own vtable,
so any valid layout decodes (shared or per-ref vtables, any field order, absent
defaults), and it bounds-checks and alignment-checks every read.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from icechunk.errors import FormatError

__all__ = [
    "INLINE",
    "NATIVE",
    "VIRTUAL",
    "Buffer",
    "RefColumns",
    "VarBytes",
    "check_sorted",
    "check_utf8",
    "coords_at",
    "copy_spans",
    "decode_coords",
    "decode_refs",
    "exclusive_cumsum",
    "interleave",
    "take_rows",
    "windows",
]

NATIVE = 1
VIRTUAL = 2
INLINE = 3

U8 = npt.NDArray[np.uint8]
I64 = npt.NDArray[np.int64]
U32 = npt.NDArray[np.uint32]
U64 = npt.NDArray[np.uint64]
Bools = npt.NDArray[np.bool_]

# ChunkRef field slots read by the decoder.
_INDEX, _INLINE, _OFFSET, _LENGTH, _CHUNK_ID = 0, 1, 2, 3, 4
_LOCATION, _ETAG, _LAST_MODIFIED, _COMPRESSED = 5, 6, 7, 8
_NUM_SLOTS = 9
#: Refuse chunk indexes with more dimensions than this (guards against corrupt files).
MAX_NDIM = 1024


def exclusive_cumsum(lengths: I64) -> I64:
    """``[0, l0, l0 + l1, ...]``: where each entry starts when laid end to end (n + 1)."""
    out = np.zeros(len(lengths) + 1, dtype=np.int64)
    np.cumsum(lengths, out=out[1:])
    return out


def _spans(starts: I64, lengths: I64) -> I64:
    """Indices ``starts[i] .. starts[i] + lengths[i]`` of every span, concatenated."""
    bounds = exclusive_cumsum(lengths)
    total = int(bounds[-1])
    if total == 0:
        return np.zeros(0, dtype=np.int64)
    return np.repeat(starts - bounds[:-1], lengths) + np.arange(total, dtype=np.int64)


def windows(arr: U8, width: int) -> npt.NDArray[np.void]:
    """Every ``width``-byte window of ``arr`` as one overlapping void item (no copy)."""
    return np.ndarray(shape=(len(arr) - width + 1,), dtype=f"V{width}", buffer=arr, strides=(1,))


_MIN_GROUP = 64


def copy_spans(dst: U8, dst_starts: I64, src: U8, src_starts: I64, lengths: I64) -> None:
    """Copy ``src[src_starts[i]:][:lengths[i]]`` to ``dst[dst_starts[i]:]`` for every i.

    Spans sharing a common length are copied as whole items through overlapping void
    views; rare lengths fall back to per-byte index arrays.
    """
    if len(lengths) == 0:
        return
    order = np.argsort(lengths, kind="stable")
    sorted_lengths = lengths[order]
    cuts = np.flatnonzero(np.diff(sorted_lengths)) + 1
    rest = []
    for group in np.split(order, cuts):
        width = int(lengths[group[0]])
        if width == 0:
            continue
        if len(group) < _MIN_GROUP:
            rest.append(group)
            continue
        windows(dst, width)[dst_starts[group]] = windows(src, width)[src_starts[group]]
    if rest:
        few = np.concatenate(rest)
        dst[_spans(dst_starts[few], lengths[few])] = src[_spans(src_starts[few], lengths[few])]


def take_rows(arr: npt.NDArray[Any], index: I64) -> npt.NDArray[Any]:
    """``arr[index]`` for a 2-D array, moving each row as one item (much faster)."""
    rows, width = arr.shape
    if width == 0 or rows == 0:
        return arr[index]
    flat = np.ascontiguousarray(arr)
    items = flat.view(f"V{width * arr.itemsize}").reshape(rows)
    return items[index].view(arr.dtype).reshape(-1, width)


@dataclass(frozen=True, slots=True, eq=False)
class VarBytes:
    """A column of variable-length byte strings: spans ``(starts, lengths)`` of a blob.

    Entries may sit anywhere in ``data`` (decoded columns point straight into the
    manifest payload), so :meth:`take` never copies bytes.
    """

    data: U8
    starts: I64
    lengths: I64

    @staticmethod
    def empty(n: int) -> VarBytes:
        """``n`` zero-length entries."""
        zeros = np.zeros(n, dtype=np.int64)
        return VarBytes(np.zeros(0, dtype=np.uint8), zeros, zeros)

    @staticmethod
    def from_list(items: list[bytes]) -> VarBytes:
        """Pack a list of byte strings."""
        lengths = np.fromiter(map(len, items), dtype=np.int64, count=len(items))
        data = np.frombuffer(b"".join(items), dtype=np.uint8)
        return VarBytes(data, exclusive_cumsum(lengths)[:-1], lengths)

    def __len__(self) -> int:
        return len(self.lengths)

    @property
    def total(self) -> int:
        """Sum of the entry lengths."""
        return int(self.lengths.sum())

    def get(self, i: int) -> bytes:
        """Entry ``i`` as ``bytes``."""
        start = int(self.starts[i])
        return self.data[start : start + int(self.lengths[i])].tobytes()

    def to_list(self) -> list[bytes]:
        """Every entry as ``bytes``."""
        blob = self.data.tobytes()
        return [
            blob[a : a + n]
            for a, n in zip(self.starts.tolist(), self.lengths.tolist(), strict=True)
        ]

    def take(self, index: I64) -> VarBytes:
        """The entries at ``index`` (any order, repeats allowed); no bytes are copied."""
        return VarBytes(self.data, self.starts[index], self.lengths[index])

    def compact(self) -> VarBytes:
        """The same entries stored back to back, in order, in a new blob."""
        starts = exclusive_cumsum(self.lengths)
        data = np.zeros(int(starts[-1]), dtype=np.uint8)
        copy_spans(data, starts[:-1], self.data, self.starts, self.lengths)
        return VarBytes(data, starts[:-1], self.lengths)

    def _join(self, other: VarBytes) -> tuple[U8, I64, I64]:
        """One blob holding both columns' bytes, with each column's starts in it.

        Drops unreferenced bytes (e.g. the rest of a decoded payload) when they dominate.
        """
        left = self.compact() if len(self.data) > 2 * self.total + 4096 else self
        if other.total == 0:
            return left.data, left.starts, np.zeros(len(other), dtype=np.int64)
        data = np.concatenate([left.data, other.data])
        return data, left.starts, other.starts + len(left.data)

    def concat(self, other: VarBytes) -> VarBytes:
        """This column followed by ``other``."""
        data, mine, theirs = self._join(other)
        lengths = np.concatenate([self.lengths, other.lengths])
        return VarBytes(data, np.concatenate([mine, theirs]), lengths)

    def splice(self, other: VarBytes, runs: list[Run]) -> VarBytes:
        """Runs of entries from this column and ``other`` (see :meth:`RefColumns.splice`)."""
        data, mine, theirs = self._join(other)
        starts = _cat_runs(mine, theirs, runs)
        return VarBytes(data, starts, _cat_runs(self.lengths, other.lengths, runs))

    def equals(self, other: VarBytes) -> bool:
        """Entry-by-entry equality."""
        if not np.array_equal(self.lengths, other.lengths):
            return False
        return np.array_equal(self.compact().data, other.compact().data)


_MAX_RUNS = 256
Run = tuple[bool, int, int]


def _cat_runs(mine: npt.NDArray[Any], theirs: npt.NDArray[Any], runs: list[Run]) -> Any:
    """Concatenate ``(from_theirs, start, count)`` slices of two arrays."""
    if not runs:
        return mine[:0]
    return np.concatenate([(theirs if t else mine)[a : a + k] for t, a, k in runs])


@dataclass(frozen=True, slots=True, eq=False)
class RefColumns:
    """Every field of ``n`` chunk refs as parallel columns.

    ``kinds`` holds :data:`NATIVE`, :data:`VIRTUAL` or :data:`INLINE`. Columns a kind
    does not use are zero or empty for that row. ``location`` holds uncompressed UTF-8;
    ``last_modified`` 0 means none.
    """

    coords: U32
    kinds: U8
    chunk_ids: U8
    offsets: U64
    lengths: U64
    inline: VarBytes
    location: VarBytes
    etag: VarBytes
    has_etag: Bools
    last_modified: U32

    @staticmethod
    def empty(ndim: int) -> RefColumns:
        """No refs, ``ndim`` dimensions."""
        return RefColumns(
            np.zeros((0, ndim), dtype=np.uint32),
            np.zeros(0, dtype=np.uint8),
            np.zeros((0, 12), dtype=np.uint8),
            np.zeros(0, dtype=np.uint64),
            np.zeros(0, dtype=np.uint64),
            VarBytes.empty(0),
            VarBytes.empty(0),
            VarBytes.empty(0),
            np.zeros(0, dtype=np.bool_),
            np.zeros(0, dtype=np.uint32),
        )

    def __len__(self) -> int:
        return len(self.kinds)

    def take(self, index: I64) -> RefColumns:
        """The rows at ``index``."""
        return RefColumns(
            take_rows(self.coords, index),
            self.kinds[index],
            take_rows(self.chunk_ids, index),
            self.offsets[index],
            self.lengths[index],
            self.inline.take(index),
            self.location.take(index),
            self.etag.take(index),
            self.has_etag[index],
            self.last_modified[index],
        )

    def concat(self, other: RefColumns) -> RefColumns:
        """These rows followed by ``other``'s (same ``ndim``)."""
        return RefColumns(
            np.concatenate([self.coords, other.coords]),
            np.concatenate([self.kinds, other.kinds]),
            np.concatenate([self.chunk_ids, other.chunk_ids]),
            np.concatenate([self.offsets, other.offsets]),
            np.concatenate([self.lengths, other.lengths]),
            self.inline.concat(other.inline),
            self.location.concat(other.location),
            self.etag.concat(other.etag),
            np.concatenate([self.has_etag, other.has_etag]),
            np.concatenate([self.last_modified, other.last_modified]),
        )

    def splice(self, other: RefColumns, order: I64) -> RefColumns:
        """``self.concat(other).take(order)``, copying whole runs when ``order`` has few.

        A merge of a few updates into a big table keeps long runs of consecutive rows,
        which are copied slice by slice instead of row by row.
        """
        n = len(self)
        step = np.diff(order)
        cuts = np.flatnonzero((step != 1) | ((order[:-1] < n) & (order[1:] >= n))) + 1
        if len(order) == 0 or len(cuts) > _MAX_RUNS:  # empty: every row was dropped
            return self.concat(other).take(order)
        bounds = [0, *cuts.tolist(), len(order)]
        firsts = order[bounds[:-1]].tolist()
        runs = [
            (f >= n, f - n if f >= n else f, b - a)
            for f, a, b in zip(firsts, bounds, bounds[1:], strict=False)
        ]
        return self.splice_runs(other, runs)

    def splice_runs(self, other: RefColumns, runs: list[Run]) -> RefColumns:
        """Concatenate runs ``(from_other, start, count)`` of rows of ``self``/``other``."""
        columns: dict[str, Any] = {}
        for name in _FIELDS:
            mine, theirs = getattr(self, name), getattr(other, name)
            if isinstance(mine, VarBytes):
                columns[name] = mine.splice(theirs, runs)
            else:
                columns[name] = _cat_runs(mine, theirs, runs)
        return RefColumns(**columns)

    def equals(self, other: RefColumns) -> bool:
        """Column-by-column equality."""
        if self.coords.shape != other.coords.shape:
            return False
        for name in _FIELDS:
            mine, theirs = getattr(self, name), getattr(other, name)
            same = (
                mine.equals(theirs) if isinstance(mine, VarBytes) else np.array_equal(mine, theirs)
            )
            if not same:
                return False
        return True


def check_utf8(column: VarBytes, what: str) -> VarBytes:
    """Return ``column`` compacted, raising :class:`FormatError` unless all is UTF-8.

    The compact blob is validated once; cutting valid UTF-8 only at positions that do
    not hold a continuation byte leaves every piece valid.
    """
    if column.total > 2**31:
        raise FormatError(f"chunk ref {what} strings exceed 2 GiB: corrupt file")
    column = column.compact()
    data = column.data
    if len(data) == 0:
        return column
    try:
        data.tobytes().decode("utf-8")
    except UnicodeDecodeError as exc:
        raise FormatError(f"invalid UTF-8 in chunk ref {what}: {exc}") from exc
    cuts = column.starts[column.starts < len(data)]
    if np.any((data[cuts] & 0xC0) == 0x80):
        raise FormatError(f"invalid UTF-8 in chunk ref {what}: a string ends mid-character")
    return column


class Buffer:
    """Aligned, bounds-checked vectorised reads from a flatbuffer payload."""

    __slots__ = ("raw", "size", "u8", "u16", "u32", "u64")

    def __init__(self, raw: bytes) -> None:
        self.raw = raw
        self.size = len(raw)
        self.u8: U8 = np.frombuffer(raw, dtype=np.uint8)
        self.u16 = np.frombuffer(raw, dtype="<u2", count=self.size // 2)
        self.u32 = np.frombuffer(raw, dtype="<u4", count=self.size // 4)
        self.u64 = np.frombuffer(raw, dtype="<u8", count=self.size // 8)

    def check(self, pos: I64, size: int | I64, what: str) -> None:
        """Raise unless every ``[pos, pos + size)`` lies inside the buffer."""
        if len(pos) == 0:
            return
        if int(pos.min()) < 0 or int(np.max(pos + size)) > self.size:
            raise FormatError(f"chunk ref {what} points outside the manifest: corrupt file")

    def read(self, pos: I64, width: int, what: str) -> npt.NDArray[Any]:
        """Little-endian unsigned integers of ``width`` bytes at aligned positions."""
        self.check(pos, width, what)
        if len(pos) and np.any(pos & (width - 1)):
            raise FormatError(f"misaligned chunk ref {what}: corrupt file")
        view: npt.NDArray[Any] = {2: self.u16, 4: self.u32, 8: self.u64}[width]
        values: npt.NDArray[Any] = view[pos >> {2: 1, 4: 2, 8: 3}[width]]
        return values

    def read_i64(self, pos: I64, width: int, what: str) -> I64:
        """Like :meth:`read`, widened to int64 for offset arithmetic."""
        return self.read(pos, width, what).astype(np.int64)


# ---------------------------------------------------------------- reader
def _field_offsets(buf: Buffer, tables: I64) -> npt.NDArray[np.int64]:
    """Per-ref field offsets, shape ``(n, _NUM_SLOTS)``; 0 means absent."""
    soff = buf.read(tables, 4, "table").view("<i4").astype(np.int64)
    vt = tables - soff
    if len(vt) and np.all(vt == vt[0]):
        uniq, inverse = vt[:1], np.zeros(len(vt), dtype=np.int64)
    else:
        uniq, inverse = np.unique(vt, return_inverse=True)
    vt_len = buf.read_i64(uniq, 2, "vtable")
    if np.any(vt_len < 4) or np.any(vt_len & 1):
        raise FormatError("chunk ref vtable has an invalid length: corrupt file")
    buf.check(uniq, vt_len, "vtable")
    table_len = buf.read_i64(uniq + 2, 2, "vtable")
    buf.check(tables, table_len[inverse], "table")
    slots = 4 + 2 * np.arange(_NUM_SLOTS, dtype=np.int64)
    present = slots[None, :] < vt_len[:, None]
    where = np.where(present, uniq[:, None] + slots[None, :], uniq[:, None])
    offs = np.where(present, buf.read_i64(where.ravel(), 2, "vtable").reshape(where.shape), 0)
    return offs[inverse]


def _scalar(buf: Buffer, tables: I64, offs: I64, width: int, what: str) -> npt.NDArray[Any]:
    dtype = {4: np.uint32, 8: np.uint64}[width]
    has = offs > 0
    if np.all(has):
        return buf.read(tables + offs, width, what).astype(dtype)
    out = np.zeros(len(tables), dtype=dtype)
    out[has] = buf.read(tables[has] + offs[has], width, what)
    return out


def _vector(buf: Buffer, tables: I64, offs: I64, elem: int, what: str) -> tuple[I64, I64, Bools]:
    """``(data_start, length, present)`` of an optional vector or string field."""
    has = offs > 0
    starts = np.zeros(len(tables), dtype=np.int64)
    lengths = np.zeros(len(tables), dtype=np.int64)
    if np.any(has):
        field = tables[has] + offs[has]
        vec = field + buf.read_i64(field, 4, what)
        n = buf.read_i64(vec, 4, what)
        buf.check(vec + 4, n * elem, what)
        starts[has] = vec + 4
        lengths[has] = n
    return starts, lengths, has


def _bytes_field(buf: Buffer, tables: I64, offs: I64, what: str) -> tuple[VarBytes, Bools]:
    starts, lengths, has = _vector(buf, tables, offs, 1, what)
    return VarBytes(buf.u8, starts, lengths), has


def _coords(buf: Buffer, tables: I64, offs: I64) -> U32:
    if np.any(offs == 0):
        raise FormatError("chunk ref without the required index field: corrupt file")
    starts, lengths, _ = _vector(buf, tables, offs, 4, "index")
    ndim = int(lengths[0])
    if np.any(lengths != ndim):
        raise FormatError("chunk refs of one array have indexes of different lengths")
    if ndim > MAX_NDIM:
        raise FormatError(f"chunk index has {ndim} dimensions, more than {MAX_NDIM}: corrupt file")
    pos = starts[:, None] + 4 * np.arange(ndim, dtype=np.int64)[None, :]
    return buf.read(pos.ravel(), 4, "index").reshape(len(tables), ndim).astype(np.uint32)


def _chunk_ids(buf: Buffer, tables: I64, offs: I64) -> tuple[U8, Bools]:
    has = offs > 0
    ids = np.zeros((len(tables), 12), dtype=np.uint8)
    if np.any(has):
        pos = tables[has] + offs[has]
        buf.check(pos, 12, "chunk id")
        ids[has] = windows(buf.u8, 12)[pos][:, None].view(np.uint8)
    return ids, has


def _kinds(native: Bools, virtual: Bools, inline: Bools, both_locations: Bools) -> U8:
    count = native.astype(np.int8) + virtual + inline
    if np.any(count != 1) or np.any(both_locations):
        raise FormatError(
            "a chunk ref must hold exactly one payload (chunk id, location or inline "
            "bytes): corrupt file"
        )
    kinds = np.full(len(native), INLINE, dtype=np.uint8)
    kinds[virtual] = VIRTUAL
    kinds[native] = NATIVE
    return kinds


def check_sorted(coords: U32) -> None:
    """Raise :class:`FormatError` unless rows are strictly increasing lexicographically."""
    if len(coords) < 2:
        return
    if coords.shape[1] == 0:
        raise FormatError("a scalar array has more than one chunk ref")
    prev, nxt = coords[:-1], coords[1:]
    differ = prev != nxt
    first = np.argmax(differ, axis=1)
    rows = np.arange(len(first))
    if not np.all(differ[rows, first]) or np.any(nxt[rows, first] < prev[rows, first]):
        raise FormatError("chunk refs are not strictly sorted by index: corrupt file")


def decode_refs(buf: Buffer, start: int, count: int) -> tuple[RefColumns, VarBytes, Bools]:
    """Decode the ``count`` ref tables of the vector whose elements start at ``start``.

    Returns the columns (``location`` holds only the plain locations), the raw
    ``compressed_location`` column and the mask of rows that use it.
    """
    slots = start + 4 * np.arange(count, dtype=np.int64)
    tables = slots + buf.read_i64(slots, 4, "offset")
    offs = _field_offsets(buf, tables)
    coords = _coords(buf, tables, offs[:, _INDEX])
    check_sorted(coords)
    chunk_ids, native = _chunk_ids(buf, tables, offs[:, _CHUNK_ID])
    inline, has_inline = _bytes_field(buf, tables, offs[:, _INLINE], "inline data")
    location, has_loc = _bytes_field(buf, tables, offs[:, _LOCATION], "location")
    compressed, has_comp = _bytes_field(buf, tables, offs[:, _COMPRESSED], "location")
    etag, has_etag = _bytes_field(buf, tables, offs[:, _ETAG], "etag")
    location = check_utf8(location, "location")
    etag = check_utf8(etag, "etag")
    kinds = _kinds(native, has_loc | has_comp, has_inline, has_loc & has_comp)
    columns = RefColumns(
        coords,
        kinds,
        chunk_ids,
        _scalar(buf, tables, offs[:, _OFFSET], 8, "offset"),
        _scalar(buf, tables, offs[:, _LENGTH], 8, "length"),
        inline,
        location,
        etag,
        has_etag,
        _scalar(buf, tables, offs[:, _LAST_MODIFIED], 4, "last modified"),
    )
    return columns, compressed, has_comp


def decode_coords(buf: Buffer, start: int, count: int) -> U32:
    """Only the chunk coordinates of ``count`` refs starting at vector slot ``start``.

    Used to binary-search a manifest without decoding it (one or a few rows at a time).
    """
    slots = start + 4 * np.arange(count, dtype=np.int64)
    tables = slots + buf.read_i64(slots, 4, "offset")
    offs = _field_offsets(buf, tables)
    return _coords(buf, tables, offs[:, _INDEX])


def coords_at(raw: bytes, slot: int) -> list[int]:
    """The chunk coordinates of the one ref whose vector slot is at ``slot`` (scalar reads).

    The probe of a binary search: a handful of ``struct`` reads instead of numpy gathers.
    """
    try:
        table = slot + _u(raw, "<I", slot)
        vtable = table - _u(raw, "<i", table)
        if _u(raw, "<H", vtable) < 6:
            raise FormatError("chunk ref without the required index field: corrupt file")
        field = _u(raw, "<H", vtable + 4)
        if field == 0:
            raise FormatError("chunk ref without the required index field: corrupt file")
        vec = table + field + _u(raw, "<I", table + field)
        ndim = _u(raw, "<I", vec)
        if ndim > MAX_NDIM or vec + 4 + 4 * ndim > len(raw):
            raise FormatError("chunk ref index points outside the manifest: corrupt file")
        return list(struct.unpack_from(f"<{ndim}I", raw, vec + 4))
    except struct.error as exc:
        raise FormatError(f"chunk ref points outside the manifest: corrupt file ({exc})") from exc


def _u(raw: bytes, fmt: str, pos: int) -> int:
    if pos < 0:  # unpack_from would count from the end
        raise FormatError("chunk ref points outside the manifest: corrupt file")
    value: int = struct.unpack_from(fmt, raw, pos)[0]
    return value


_FIELDS = [f for f in RefColumns.__dataclass_fields__]


# ---------------------------------------------------------------- merging
def interleave(
    base: RefColumns,
    base_keys: npt.NDArray[Any],
    dropped: I64,
    new: RefColumns,
    new_keys: npt.NDArray[Any],
) -> RefColumns:
    """Merge ``base`` minus its ``dropped`` rows with ``new``'s rows, all sorted by key."""
    before = np.searchsorted(base_keys, new_keys)
    if len(dropped) + len(new_keys) <= _MAX_EDITS:
        runs = _edit_runs(len(base), dropped.tolist(), before.tolist())
        return base.splice_runs(new, runs)
    keep = np.ones(len(base), dtype=np.bool_)
    keep[dropped] = False
    kept = np.flatnonzero(keep)
    kept_pos = np.arange(len(kept)) + np.searchsorted(new_keys, base_keys[kept])
    new_pos = np.searchsorted(base_keys[kept], new_keys) + np.arange(len(new_keys))
    order = np.empty(len(kept) + len(new_keys), dtype=np.int64)
    order[kept_pos] = kept
    order[new_pos] = len(base) + np.arange(len(new_keys))
    return base.splice(new, order)


_MAX_EDITS = 64


def _edit_runs(n: int, dropped: list[int], before: list[int]) -> list[tuple[bool, int, int]]:
    """Runs ``(from_new, start, count)`` that delete ``dropped`` base rows and insert new
    row ``j`` before base row ``before[j]``."""
    runs: list[tuple[bool, int, int]] = []
    gone = set(dropped)
    cursor = j = 0
    for p in sorted(gone.union(before)):
        if p > cursor:
            runs.append((False, cursor, p - cursor))
            cursor = p
        first = j
        while j < len(before) and before[j] == p:
            j += 1
        if j > first:
            runs.append((True, first, j - first))
        if p in gone:
            cursor = p + 1
    if cursor < n:
        runs.append((False, cursor, n - cursor))
    return runs
