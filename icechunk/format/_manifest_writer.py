"""Writing manifest flatbuffers with numpy, and zstd dictionary compression of locations.

The writer lays refs out front to back: the vtables first (one per ref variant), then
the ``Manifest`` and ``ArrayManifest`` tables, then one record per ref (its table, its
index vector, then its variable-length data), so every offset points forward. Every
field of every ref is written by one vectorised scatter per field.

Virtual-ref locations may be stored as zstd frames compressed with a dictionary the
manifest carries; each frame records its content size, and locations longer than
:data:`MAX_COMPRESSED_LOCATION_SIZE` stay uncompressed (the Rust reader's cap).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, cast

import numpy as np
import numpy.typing as npt
import zstandard

from icechunk.errors import FormatError
from icechunk.format._manifest_numpy import (
    I64,
    INLINE,
    NATIVE,
    VIRTUAL,
    Bools,
    RefColumns,
    VarBytes,
    copy_spans,
    exclusive_cumsum,
    windows,
)

__all__ = [
    "MAX_COMPRESSED_LOCATION_SIZE",
    "ArrayRecords",
    "array_records",
    "decompress_locations",
    "train_dictionary",
    "virtual_locations",
    "write_manifest",
]

#: Locations longer than this are stored uncompressed (the Rust reader's cap).
MAX_COMPRESSED_LOCATION_SIZE = 1024
#: Reading accepts longer compressed locations (icechunk 2.3.0 writes them, then cannot
#: read them back), up to this sanity bound.
MAX_DECOMPRESSED_LOCATION_SIZE = 65536

# ChunkRef field slots.
_INDEX, _INLINE, _OFFSET, _LENGTH, _CHUNK_ID = 0, 1, 2, 3, 4
_LOCATION, _ETAG, _LAST_MODIFIED, _COMPRESSED = 5, 6, 7, 8


@dataclass(frozen=True, slots=True, eq=False)
class ArrayRecords:
    """One array to write: its refs plus what goes in each virtual ref's location slot.

    ``locations`` holds, per row, either the UTF-8 location or (where ``compressed``)
    its dictionary-compressed zstd frame.
    """

    node_id: bytes
    columns: RefColumns
    locations: VarBytes
    compressed: Bools


# Ref table layouts: slot -> byte offset inside the table, and the table size.
_NATIVE_SLOTS = {_INDEX: 4, _OFFSET: 8, _LENGTH: 16, _CHUNK_ID: 24}
_INLINE_SLOTS = {_INDEX: 4, _INLINE: 8}
_ARRAY_TABLE_SIZE = 16
_MANIFEST_TABLE_SIZE = 28


def _virtual_slots(variant: int) -> dict[int, int]:
    """Slots of virtual-ref variant ``(compressed << 2) | (etag << 1) | last_modified``."""
    slots = {_INDEX: 4, _OFFSET: 8, _LENGTH: 16}
    slots[_COMPRESSED if variant & 4 else _LOCATION] = 24
    if variant & 2:
        slots[_ETAG] = 28
    if variant & 1:
        slots[_LAST_MODIFIED] = 32
    return slots


def _vtable(slots: dict[int, int], table_size: int) -> bytes:
    count = max(slots) + 1
    words = [4 + 2 * count, table_size] + [slots.get(s, 0) for s in range(count)]
    return np.array(words, dtype="<u2").tobytes()


# Variant ids: 0 native, 1 inline, 2 + virtual variant.
_REF_VTABLES = [_vtable(_NATIVE_SLOTS, 36), _vtable(_INLINE_SLOTS, 12)] + [
    _vtable(_virtual_slots(v), 36) for v in range(8)
]


def _align(x: Any, to: int) -> Any:
    return (x + (to - 1)) & ~(to - 1)


@dataclass(frozen=True, slots=True, eq=False)
class _Layout:
    """Per-row positions (relative to the record start) of one array's records."""

    variant: I64
    table_size: I64
    var_at: I64
    var_len: I64
    etag_at: I64
    etag_len: I64
    size: I64


def _layout(rec: ArrayRecords) -> _Layout:
    cols = rec.columns
    kinds = cols.kinds.astype(np.int64)
    virtual = kinds == VIRTUAL
    has_etag = virtual & cols.has_etag
    has_lm = virtual & (cols.last_modified != 0)
    flags = (rec.compressed.astype(np.int64) << 2) | (has_etag << 1) | has_lm
    variant = np.where(kinds == NATIVE, 0, np.where(kinds == INLINE, 1, 2 + flags))
    table_size = np.where(kinds == INLINE, 12, 36)
    var_at = table_size + 4 + 4 * cols.coords.shape[1]
    var_len = np.where(virtual, rec.locations.lengths, cols.inline.lengths)
    has_var = kinds != NATIVE
    var_end = np.where(has_var, var_at + 4 + var_len + virtual, var_at)
    etag_at = _align(var_end, 4)
    etag_len = np.where(has_etag, cols.etag.lengths, 0)
    end = np.where(has_etag, etag_at + 5 + etag_len, var_end)
    return _Layout(variant, table_size, var_at, var_len, etag_at, etag_len, _align(end, 8))


class _Writer:
    """Scatters fields into a zeroed output buffer through aligned views."""

    def __init__(self, size: int) -> None:
        self.out = np.zeros(size, dtype=np.uint8)
        self.o32 = self.out.view("<u4")
        self.o64 = self.out.view("<u8")

    def u32(self, pos: Any, value: Any) -> None:
        self.o32[np.asarray(pos) >> 2] = value

    def u64(self, pos: Any, value: Any) -> None:
        self.o64[np.asarray(pos) >> 3] = value

    def raw(self, pos: int, data: bytes) -> None:
        self.out[pos : pos + len(data)] = np.frombuffer(data, dtype=np.uint8)


def _rows(mask: Bools) -> Any:
    """An index selecting the rows of ``mask``: a plain slice when that is all of them."""
    return slice(None) if np.all(mask) else np.flatnonzero(mask)


def _write_records(w: _Writer, rec: ArrayRecords, lay: _Layout, base: int, vt: I64) -> I64:
    cols = rec.columns
    ndim = cols.coords.shape[1]
    pos = base + exclusive_cumsum(lay.size)[:-1]
    w.u32(pos, (pos - vt[lay.variant]).astype(np.uint32))
    w.u32(pos + 4, lay.table_size - 4)
    w.u32(pos + lay.table_size, ndim)
    if ndim:
        at = (pos + lay.table_size + 4)[:, None] + 4 * np.arange(ndim, dtype=np.int64)
        w.u32(at, cols.coords)
    kinds = cols.kinds
    if np.any(kinds != INLINE):
        r = _rows(kinds != INLINE)
        w.u64(pos[r] + 8, cols.offsets[r])
        w.u64(pos[r] + 16, cols.lengths[r])
    if np.any(kinds == NATIVE):
        r = _rows(kinds == NATIVE)
        windows(w.out, 12)[pos[r] + 24] = windows(cols.chunk_ids[r].ravel(), 12)[::12]
    if np.any(kinds == INLINE):
        _write_inline(w, cols, lay, pos, _rows(kinds == INLINE))
    if np.any(kinds == VIRTUAL):
        _write_virtual(w, rec, lay, pos, _rows(kinds == VIRTUAL))
    return pos


def _write_inline(w: _Writer, cols: RefColumns, lay: _Layout, pos: I64, r: Any) -> None:
    at = pos[r] + lay.var_at[r]
    w.u32(pos[r] + 8, lay.var_at[r] - 8)
    w.u32(at, lay.var_len[r])
    copy_spans(w.out, at + 4, cols.inline.data, cols.inline.starts[r], cols.inline.lengths[r])


def _write_virtual(w: _Writer, rec: ArrayRecords, lay: _Layout, pos: I64, r: Any) -> None:
    cols, loc = rec.columns, rec.locations
    at = pos[r] + lay.var_at[r]
    w.u32(pos[r] + 24, lay.var_at[r] - 24)
    w.u32(at, lay.var_len[r])
    copy_spans(w.out, at + 4, loc.data, loc.starts[r], loc.lengths[r])
    w.u32(pos[r] + 32, cols.last_modified[r])
    etag = np.flatnonzero((cols.kinds == VIRTUAL) & cols.has_etag)
    if len(etag):
        at = pos[etag] + lay.etag_at[etag]
        w.u32(pos[etag] + 28, lay.etag_at[etag] - 28)
        w.u32(at, lay.etag_len[etag])
        copy_spans(w.out, at + 4, cols.etag.data, cols.etag.starts[etag], cols.etag.lengths[etag])


def _manifest_vtable(has_dictionary: bool, algorithm: int | None) -> bytes:
    slots = {0: 12, 1: 4}
    if has_dictionary:
        slots[2] = 8
    if algorithm is not None:
        slots[3] = 24
    return _vtable(slots, 25 if algorithm is not None else 24)


def write_manifest(
    manifest_id: bytes,
    arrays: list[ArrayRecords],
    dictionary: bytes | None,
    algorithm: int | None,
) -> bytes:
    """Lay out a whole ``Manifest`` flatbuffer (file identifier ``Ichk``).

    ``arrays`` must already be sorted by node id with rows sorted by index;
    ``algorithm`` None leaves ``compression_algorithm`` out (spec v1).
    """
    head = _manifest_vtable(dictionary is not None, algorithm)
    array_vt = 8 + len(head)
    head += _vtable({0: 8, 1: 4}, _ARRAY_TABLE_SIZE)
    ref_vt = np.zeros(len(_REF_VTABLES), dtype=np.int64)
    for i, vtable in enumerate(_REF_VTABLES):
        ref_vt[i] = 8 + len(head)
        head += vtable
    table = _align(8 + len(head), 4)
    vector = table + _MANIFEST_TABLE_SIZE
    dict_at = vector + 4 + 4 * len(arrays)
    cursor = _align(dict_at + 4 + len(dictionary), 4) if dictionary is not None else dict_at
    layouts, starts = [], []
    for rec in arrays:
        lay = _layout(rec)
        records = _align(cursor + _ARRAY_TABLE_SIZE + 4 + 4 * len(rec.columns), 8)
        layouts.append(lay)
        starts.append((cursor, records))
        cursor = records + int(lay.size.sum())
    w = _Writer(_align(cursor, 8))
    w.u32(0, table)
    w.raw(4, b"Ichk")
    w.raw(8, head)
    w.u32(table, table - 8)
    w.u32(table + 4, vector - (table + 4))
    if dictionary is not None:
        w.u32(table + 8, dict_at - (table + 8))
        w.u32(dict_at, len(dictionary))
        w.raw(dict_at + 4, dictionary)
    w.raw(table + 12, manifest_id)
    if algorithm is not None:
        w.out[table + 24] = algorithm
    w.u32(vector, len(arrays))
    for k, (rec, lay, (at, records)) in enumerate(zip(arrays, layouts, starts, strict=True)):
        w.u32(vector + 4 + 4 * k, at - (vector + 4 + 4 * k))
        _write_array(w, rec, lay, at, records, array_vt, ref_vt)
    return w.out.tobytes()


def _write_array(
    w: _Writer, rec: ArrayRecords, lay: _Layout, at: int, records: int, vt: int, ref_vt: I64
) -> None:
    n = len(rec.columns)
    w.u32(at, at - vt)
    w.u32(at + 4, _ARRAY_TABLE_SIZE - 4)
    w.raw(at + 8, rec.node_id)
    refs = at + _ARRAY_TABLE_SIZE
    w.u32(refs, n)
    pos = _write_records(w, rec, lay, records, ref_vt)
    slots = refs + 4 + 4 * np.arange(n, dtype=np.int64)
    w.u32(slots, pos - slots)


# ---------------------------------------------------------------- location compression
def virtual_locations(tables: list[RefColumns]) -> VarBytes:
    """The location column of every virtual ref of every table, concatenated."""
    out = VarBytes.empty(0)
    for cols in tables:
        out = out.concat(cols.location.take(np.flatnonzero(cols.kinds == VIRTUAL)))
    return out


def train_dictionary(
    locations: VarBytes, size: int, max_samples: int
) -> zstandard.ZstdCompressionDict | None:
    """Train a zstd dictionary on evenly spaced location samples; None if that fails."""
    n = len(locations)
    spaced = np.linspace(0, n - 1, num=min(n, max_samples)).astype(np.int64)  # sorted
    # Drop repeats without np.unique, whose first use imports numpy.ma (~0.1 s).
    picks = spaced[np.r_[True, spaced[1:] != spaced[:-1]]] if n else spaced
    samples: list[bytes | bytearray | memoryview[int]] = [locations.get(int(i)) for i in picks]
    try:
        return zstandard.train_dictionary(size, samples)
    except zstandard.ZstdError:
        return None


def _compress_all(items: list[bytes], cctx: zstandard.ZstdCompressor) -> VarBytes:
    """Compress each item to its own frame; equal items are compressed once."""
    index: dict[bytes, int] = {}
    inverse = np.array([index.setdefault(x, len(index)) for x in items], dtype=np.int64)
    distinct = list(index)
    if len(distinct) > 64 and hasattr(cctx, "multi_compress_to_buffer"):
        source = VarBytes.from_list(distinct)
        segments = np.stack([source.starts, source.lengths], axis=1).astype("<u8")
        frames = cctx.multi_compress_to_buffer(
            zstandard.BufferWithSegments(source.data.data, segments.tobytes()), threads=-1
        )
        distinct = [bytes(f) for f in cast("Iterable[bytes]", frames)]
    else:
        distinct = [cctx.compress(x) for x in distinct]
    return VarBytes.from_list(distinct).take(inverse)


def array_records(
    node_id: bytes, cols: RefColumns, cctx: zstandard.ZstdCompressor | None
) -> ArrayRecords:
    """What to write for one array: locations dictionary-compressed where possible."""
    short = (cols.kinds == VIRTUAL) & (cols.location.lengths <= MAX_COMPRESSED_LOCATION_SIZE)
    if cctx is None or not np.any(short):
        return ArrayRecords(node_id, cols, cols.location, np.zeros(len(cols), np.bool_))
    rows = np.flatnonzero(short)
    frames = _compress_all(cols.location.take(rows).to_list(), cctx)
    order = np.arange(len(cols), dtype=np.int64)
    order[rows] = len(cols) + np.arange(len(rows))
    return ArrayRecords(node_id, cols, cols.location.concat(frames).take(order), short)


_FRAME_MAGIC = np.array([0x28, 0xB5, 0x2F, 0xFD], dtype=np.uint8)


def _content_sizes(data: npt.NDArray[np.uint8], starts: I64, lengths: I64) -> I64:
    """Content size from each zstd frame header (-1 when the frame does not record it)."""
    if np.any(lengths < 6):
        raise FormatError("compressed location is too short to be a zstd frame")
    head = data[starts[:, None] + np.arange(5)]
    if np.any(head[:, :4] != _FRAME_MAGIC):
        raise FormatError("compressed location is not a zstd frame")
    desc = head[:, 4].astype(np.int64)
    single, fcs_flag = (desc >> 5) & 1, desc >> 6
    size = np.where((fcs_flag == 0) & (single == 1), 1, np.array([0, 2, 4, 8])[fcs_flag])
    at = starts + 6 - single + np.array([0, 1, 2, 4])[desc & 3]
    if np.any(desc & 0x08) or np.any(at + size > starts + lengths):
        raise FormatError("corrupt zstd frame header in a compressed location")
    k = np.arange(8)
    raw = data[np.minimum(at[:, None] + k, len(data) - 1)]
    raw[k[None, :] >= size[:, None]] = 0
    value = raw.view("<u8").ravel()
    value = value + np.where(size == 2, 256, 0).astype(np.uint64)
    if np.any(value > MAX_DECOMPRESSED_LOCATION_SIZE):
        raise FormatError(
            f"a compressed location inflates beyond {MAX_DECOMPRESSED_LOCATION_SIZE} bytes"
        )
    value = value.astype(np.int64)
    return np.where(size == 0, -1, value)


def decompress_locations(frames: VarBytes, dictionary: bytes | None) -> VarBytes:
    """Decompress every entry of ``frames`` (each one zstd frame) with the dictionary."""
    sizes = _content_sizes(frames.data, frames.starts, frames.lengths)
    dict_data = zstandard.ZstdCompressionDict(dictionary) if dictionary else None
    dctx = zstandard.ZstdDecompressor(dict_data=dict_data)
    if np.all(sizes >= 0) and hasattr(dctx, "multi_decompress_to_buffer"):
        segments = np.stack([frames.starts, frames.lengths], axis=1).astype("<u8")
        source = zstandard.BufferWithSegments(frames.data.data, segments.tobytes())
        parts = dctx.multi_decompress_to_buffer(source, threads=-1)
        data = b"".join(cast("Iterable[bytes]", parts))
        starts = np.zeros(len(sizes), dtype=np.int64)
        np.cumsum(sizes[:-1], out=starts[1:])
        out = VarBytes(np.frombuffer(data, dtype=np.uint8), starts, sizes)
    else:
        limit = MAX_DECOMPRESSED_LOCATION_SIZE + 1
        out = VarBytes.from_list(
            [dctx.decompress(f, max_output_size=limit) for f in frames.to_list()]
        )
    if out.total != len(out.data) or np.any(out.lengths > MAX_DECOMPRESSED_LOCATION_SIZE):
        raise FormatError("a compressed location does not match its declared size")
    return out
