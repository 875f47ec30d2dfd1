"""Chunk payload objects to validated manifest columns (used by ``ChunkTable``).

Turning a mapping of :class:`ChunkPayload` objects into :class:`RefColumns` touches each
object once, grouped by kind, and checks what the real reader relies on: 12-byte chunk ids,
u64 offsets and lengths, text locations, no zero-length chunks.
"""

from __future__ import annotations

from itertools import chain
from operator import attrgetter
from typing import Any

import numpy as np
import numpy.typing as npt

from icechunk.errors import ErrorKind, InvalidInputError
from icechunk.format._manifest_numpy import INLINE, NATIVE, VIRTUAL, RefColumns, VarBytes
from icechunk.format.ids import ChunkId
from icechunk.format.model import InlinePayload, NativePayload, VirtualPayload

__all__ = [
    "bad_index",
    "check_writable",
    "coords_array",
    "fast_id",
    "pack_keys",
    "payload_columns",
]

_U32_LIMIT = 2**32

Coords = tuple[int, ...]
I64 = npt.NDArray[np.int64]


def bad_index(message: str) -> InvalidInputError:
    return InvalidInputError(message, ErrorKind.INVALID_CHUNK_INDEX)


def coords_array(ndim: int, keys: list[Coords]) -> npt.NDArray[np.uint32]:
    """Validate chunk coordinates and return them as an ``(n, ndim)`` uint32 array."""
    if not keys:
        return np.zeros((0, ndim), dtype=np.uint32)
    if set(map(len, keys)) != {ndim}:
        raise bad_index(f"chunk coordinates must be tuples of {ndim} integers")
    try:
        flat = np.fromiter(chain.from_iterable(keys), dtype=np.int64, count=len(keys) * ndim)
    except (TypeError, ValueError, OverflowError) as exc:
        raise bad_index(f"chunk coordinates must be integers: {exc}") from exc
    if ndim and (int(flat.min()) < 0 or int(flat.max()) >= _U32_LIMIT):
        raise bad_index("chunk coordinates must be in [0, 2**32)")
    return flat.astype(np.uint32).reshape(len(keys), ndim)


def pack_keys(coords: npt.NDArray[np.uint32]) -> npt.NDArray[Any]:
    """Byte-string keys whose order is the lexicographic order of the coordinate rows."""
    ndim = coords.shape[1]
    if ndim == 0:
        return np.zeros(len(coords), dtype=np.uint64)
    big_endian = np.ascontiguousarray(coords, dtype=">u4")
    return big_endian.view(f"S{4 * ndim}").ravel()


def fast_id(cls: type[ChunkId], raw: bytes) -> ChunkId:
    """Wrap 12 bytes already known to be valid without re-validating them."""
    return bytes.__new__(cls, raw)


_KINDS: dict[type, int] = {NativePayload: NATIVE, VirtualPayload: VIRTUAL, InlinePayload: INLINE}


def _kind_codes(payloads: list[Any]) -> npt.NDArray[np.uint8]:
    codes = [_KINDS.get(type(p), 0) for p in payloads]
    for i, code in enumerate(codes):
        if code == 0:
            matches = [k for t, k in _KINDS.items() if isinstance(payloads[i], t)]
            if not matches:
                name = type(payloads[i]).__name__
                raise InvalidInputError(f"not a chunk payload: {name}")
            codes[i] = matches[0]
    return np.array(codes, dtype=np.uint8)


def _spread(column: VarBytes, rows: I64, n: int) -> VarBytes:
    """A column of ``n`` entries holding ``column``'s at ``rows`` and empty ones elsewhere."""
    if len(rows) == n:
        return column
    starts, lengths = np.zeros(n, dtype=np.int64), np.zeros(n, dtype=np.int64)
    starts[rows], lengths[rows] = column.starts, column.lengths
    return VarBytes(column.data, starts, lengths)


def _filled(objs: list[Any], attr: str, rows: I64, n: int, dtype: Any) -> npt.NDArray[Any]:
    """Attribute ``attr`` of each of ``objs`` placed at ``rows`` of a zeroed column."""
    values = np.fromiter(map(attrgetter(attr), objs), dtype=dtype, count=len(objs))
    if len(rows) == n:
        return values
    out = np.zeros(n, dtype=dtype)
    out[rows] = values
    return out


def _select(payloads: list[Any], rows: I64) -> list[Any]:
    return payloads if len(rows) == len(payloads) else [payloads[i] for i in rows.tolist()]


def payload_columns(coords: npt.NDArray[np.uint32], payloads: list[Any]) -> RefColumns:
    """Columns for ``payloads`` (Python objects), validated; rows in the given order."""
    n = len(payloads)
    kinds = _kind_codes(payloads)
    ranged = np.flatnonzero(kinds != INLINE)
    native, virtual = np.flatnonzero(kinds == NATIVE), np.flatnonzero(kinds == VIRTUAL)
    inline = np.flatnonzero(kinds == INLINE)
    with_range, virtuals = _select(payloads, ranged), _select(payloads, virtual)
    try:
        ids = np.zeros((n, 12), dtype=np.uint8)
        raw = b"".join(map(attrgetter("chunk_id"), _select(payloads, native)))
        ids[native] = np.frombuffer(raw, dtype=np.uint8).reshape(len(native), 12)
        offsets = _filled(with_range, "offset", ranged, n, np.uint64)
        lengths = _filled(with_range, "length", ranged, n, np.uint64)
        times = [p.checksum_last_modified or 0 for p in virtuals]
        modified = np.zeros(n, dtype=np.uint32)
        modified[virtual] = np.array(times, dtype=np.uint32)
        data = VarBytes.from_list([bytes(p.data) for p in _select(payloads, inline)])
        etags = [p.checksum_etag for p in virtuals]
        location = _text([p.location for p in virtuals])
        etag = _text(etags)
    except (OverflowError, TypeError, ValueError, AttributeError) as exc:
        raise InvalidInputError(
            "invalid chunk payload: chunk ids must be 12 bytes, offsets and lengths "
            f"non-negative 64-bit integers, locations and etags strings: {exc}",
            ErrorKind.INVALID_VIRTUAL_REF,
        ) from exc
    has_etag = np.zeros(n, dtype=np.bool_)
    has_etag[virtual] = [e is not None for e in etags]
    columns = RefColumns(
        coords,
        kinds,
        ids,
        offsets,
        lengths,
        _spread(data, inline, n),
        _spread(location, virtual, n),
        _spread(etag, virtual, n),
        has_etag,
        modified,
    )
    check_writable(columns)
    return columns


def _text(values: list[str | None]) -> VarBytes:
    return VarBytes.from_list([b"" if v is None else v.encode("utf-8") for v in values])


def check_writable(cols: RefColumns) -> None:
    """Raise :class:`InvalidInputError` on zero-length chunks or empty inline data."""
    if np.any((cols.kinds != INLINE) & (cols.lengths == 0)) or np.any(
        (cols.kinds == INLINE) & (cols.inline.lengths == 0)
    ):
        raise InvalidInputError(
            "zero-length chunks cannot be stored: give native and virtual refs a positive "
            "length and inline refs at least one byte",
            ErrorKind.ZERO_LENGTH_CHUNK,
        )
