"""Fast flatbuffer plumbing for the snapshot and transaction-log codecs.

:class:`Writer` builds a buffer back to front (children before parents, as the reference
builders do) from precomputed table :class:`Layout` s, and can also append whole
pre-laid-out blocks. :class:`Reader` reads tables through vtables compiled, once per
vtable, into a single ``struct`` unpack. Both avoid the per-field method calls of the
generic ``flatbuffers`` runtime, which dominate on snapshots with thousands of nodes.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from operator import add
from typing import Any

import numpy as np
import numpy.typing as npt

from icechunk.errors import FormatError

__all__ = [
    "Layout",
    "Reader",
    "TableSpec",
    "VectorReader",
    "Writer",
    "as_format_error",
    "layout",
]

_PACK_U32 = struct.Struct("<I").pack
_UNPACK_U32 = struct.Struct("<I").unpack_from
_UNPACK_I32 = struct.Struct("<i").unpack_from
_UNPACK_VT_HEAD = struct.Struct("<HH").unpack_from
#: Unpackers of small offset vectors, by element count.
_U32_VECTORS = [struct.Struct(f"<{n}I").unpack_from for n in range(32)]
#: Vectors read together may total at most this many times the buffer's size.
_MAX_APPARENT_SIZE = 16
#: Largest alignment any table or vector needs; finished buffers are padded to it.
MAX_ALIGN = 8


# ------------------------------------------------------------------ writing
@dataclass(frozen=True, slots=True)
class Layout:
    """A fixed table layout: soffset, the uoffset fields, then the inline scalars."""

    packer: struct.Struct
    offset_pos: tuple[int, ...]
    size: int
    align: int
    vtable: bytes


def layout(offset_slots: Sequence[int], scalars: Sequence[tuple[int, str]]) -> Layout:
    """Precompute a table layout.

    Parameters
    ----------
    offset_slots
        Slots holding offsets to strings, vectors or tables, stored in this order.
    scalars
        ``(slot, struct code)`` of the inline fields, stored after the offsets in this
        order, each aligned to its size (``"Ns"`` byte strings have alignment 1).
    """
    fmt = "<i" + "I" * len(offset_slots)
    where = {slot: 4 + 4 * i for i, slot in enumerate(offset_slots)}
    pos, align = 4 + 4 * len(offset_slots), 4
    for slot, code in scalars:
        size = struct.calcsize("<" + code)
        field_align = 1 if code.endswith("s") else size
        pad = -pos % field_align
        fmt += f"{pad}x{code}" if pad else code
        where[slot] = pos + pad
        pos += pad + size
        align = max(align, field_align)
    tail = -pos % align
    fmt += f"{tail}x" if tail else ""
    pos += tail
    used = max(where) + 1 if where else 0
    slots = (where.get(s, 0) for s in range(used))
    vtable = struct.pack(f"<{2 + used}H", 4 + 2 * used, pos, *slots)
    return Layout(struct.Struct(fmt), tuple(where[s] for s in offset_slots), pos, align, vtable)


class Writer:
    """Builds a flatbuffer back to front.

    Every writing method returns the object's distance from the buffer's end, the handle
    later objects use to point at it. Identical vtables are written once and shared.
    """

    __slots__ = ("_parts", "_size", "_vtables")

    def __init__(self) -> None:
        self._parts: list[bytes] = []
        self._size = 0
        self._vtables: dict[bytes, int] = {}

    @property
    def size(self) -> int:
        """Bytes written so far."""
        return self._size

    def pad(self, align: int, extra: int) -> None:
        """Pad so that after ``extra`` more bytes the size is a multiple of ``align``."""
        pad = -(self._size + extra) % align
        if pad:
            self._parts.append(bytes(pad))
            self._size += pad

    def vtable(self, lay: Layout) -> int:
        """Position of the (shared) vtable of ``lay``, writing it on first use."""
        pos = self._vtables.get(lay.vtable)
        if pos is None:
            self.pad(2, 0)
            self._parts.append(lay.vtable)
            self._size += len(lay.vtable)
            pos = self._vtables[lay.vtable] = self._size
        return pos

    def block(self, data: bytes, align: int = MAX_ALIGN) -> int:
        """Append pre-laid-out bytes whose start must be ``align``-aligned; return its end.

        The caller computes offsets inside the block itself (see :meth:`block_end`).
        """
        self.pad(align, len(data))
        self._parts.append(data)
        self._size += len(data)
        return self._size

    def block_end(self, length: int, align: int = MAX_ALIGN) -> int:
        """The position :meth:`block` will return for a ``length``-byte block."""
        return self._size + length + (-(self._size + length) % align)

    def vector(self, data: bytes, count: int, align: int) -> int:
        """Write a vector of ``count`` scalars or structs given as raw little-endian bytes."""
        self.pad(max(align, 4), len(data))
        self._parts.append(data)
        self._parts.append(_PACK_U32(count))
        self._size += len(data) + 4
        return self._size

    def bytes_vector(self, data: bytes) -> int:
        """Write a ``[ubyte]`` vector."""
        return self.vector(data, len(data), 1)

    def string(self, text: str) -> int:
        """Write a NUL-terminated UTF-8 string."""
        raw = text.encode()
        self.pad(4, len(raw) + 1)
        self._parts.append(raw + b"\0")
        self._parts.append(_PACK_U32(len(raw)))
        self._size += len(raw) + 5
        return self._size

    def offset_vector(self, offsets: Sequence[int] | np.ndarray) -> int:
        """Write a vector of offsets to tables or strings written earlier."""
        n = len(offsets)
        self.pad(4, 4 * n)
        end = self._size + 4 * n + 4
        if isinstance(offsets, np.ndarray):
            values = end - 4 - 4 * np.arange(n, dtype=np.int64) - offsets
            self._parts.append(_PACK_U32(n) + values.astype("<u4").tobytes())
        else:
            values = [end - 4 - 4 * i - off for i, off in enumerate(offsets)]
            self._parts.append(struct.pack(f"<{n + 1}I", n, *values))
        self._size = end
        return end

    def table(self, lay: Layout, offsets: Sequence[int], *scalars: Any) -> int:
        """Write a table: ``offsets`` of its children in layout order, then its scalars."""
        vt = self.vtable(lay)
        self.pad(lay.align, lay.size)
        end = self._size + lay.size
        values = [end - k - off for k, off in zip(lay.offset_pos, offsets, strict=True)]
        self._parts.append(lay.packer.pack(vt - end, *values, *scalars))
        self._size = end
        return end

    def finish(self, root: int, identifier: bytes = b"Ichk") -> bytes:
        """Write the root offset and file identifier and return the whole buffer."""
        self.pad(MAX_ALIGN, 8)
        end = self._size + 8
        self._parts.append(identifier)
        self._parts.append(_PACK_U32(end - root))
        self._size = end
        return b"".join(reversed(self._parts))


# ------------------------------------------------------------------ reading
class TableSpec:
    """What a reader expects of one table type: a struct code per slot.

    ``"O"`` marks an offset field (string, vector, table); :meth:`Reader.table` returns
    its target's absolute position, or 0 when absent. Other codes are ``struct`` codes;
    absent numbers read as 0 and absent ``"Ns"`` byte strings as ``None``.
    """

    __slots__ = ("codes", "key")
    _count = 0

    def __init__(self, *codes: str) -> None:
        self.codes = codes
        TableSpec._count += 1
        self.key = TableSpec._count


class _Plan:
    """How to read one table type through one particular vtable: one unpack per table."""

    __slots__ = ("packer", "picks", "size")

    def __init__(self, spec: TableSpec, rel: tuple[int, ...], size: int) -> None:
        present = sorted((r, slot) for slot, r in enumerate(rel) if r)
        fmt, cur = "<i", 4
        # Per slot: (index into the unpacked values or -1 if absent, offset addend or -1).
        picks = [(-1, -1)] * len(rel)
        for i, (r, slot) in enumerate(present, start=1):
            code = "I" if spec.codes[slot] == "O" else spec.codes[slot]
            if r < cur:
                raise FormatError("overlapping fields in a flatbuffer table")
            fmt += f"{r - cur}x{code}"
            cur = r + struct.calcsize("<" + code)
            picks[slot] = (i, r if spec.codes[slot] == "O" else -1)
        if cur > size:
            raise FormatError("flatbuffer field lies outside its table")
        self.packer = struct.Struct(fmt)
        self.picks = [(i, add, spec.codes[s]) for s, (i, add) in enumerate(picks)]
        self.size = size

    def read(self, buf: bytes, pos: int) -> tuple[Any, ...]:
        values = self.packer.unpack_from(buf, pos)
        return tuple(
            (None if code.endswith("s") else 0)
            if i < 0
            else (values[i] + pos + add if add >= 0 else values[i])
            for i, add, code in self.picks
        )


class Reader:
    """Bounds-checked table access on a flatbuffer, with vtables compiled once each.

    Positions are absolute offsets into the buffer. Reads past the buffer raise
    ``struct.error`` or :class:`FormatError`; wrap decoding in :func:`as_format_error`.
    Used for the few tables of a file; large vectors of tables use :class:`VectorReader`.
    """

    __slots__ = ("_len", "_plans", "buf")

    def __init__(self, buf: bytes) -> None:
        self.buf = buf
        self._len = len(buf)
        self._plans: dict[tuple[int, int], _Plan] = {}

    def check(self, end: int) -> None:
        """Raise :class:`FormatError` when ``end`` lies past the buffer."""
        if end > self._len:
            raise FormatError(f"flatbuffer object ends at {end}, past the {self._len}-byte buffer")

    def root(self) -> int:
        """Position of the root table."""
        return int(_UNPACK_U32(self.buf, 0)[0])

    def table(self, pos: int, spec: TableSpec) -> tuple[Any, ...]:
        """Every field of the table at ``pos``, one per slot of ``spec``."""
        vt = pos - _UNPACK_I32(self.buf, pos)[0]
        plan = self._plans.get((vt, spec.key))
        if plan is None:
            plan = self._plans[vt, spec.key] = self._compile(vt, spec)
        self.check(pos + plan.size)
        return plan.read(self.buf, pos)

    def _compile(self, vt: int, spec: TableSpec) -> _Plan:
        if vt < 0:
            raise FormatError(f"flatbuffer vtable position {vt} is negative")
        vt_len, size = _UNPACK_VT_HEAD(self.buf, vt)
        if vt_len < 4 or vt_len % 2 or size < 4:
            raise FormatError(f"invalid flatbuffer vtable (length {vt_len}, table size {size})")
        self.check(vt + vt_len)
        n = len(spec.codes)
        known = min(n, (vt_len - 4) // 2)
        rel = struct.unpack_from(f"<{known}H", self.buf, vt + 4) + (0,) * (n - known)
        return _Plan(spec, rel, size)

    def bytes_at(self, pos: int, elem_size: int = 1) -> bytes:
        """The raw element bytes of the vector at ``pos`` (a ``[ubyte]`` by default)."""
        n = _UNPACK_U32(self.buf, pos)[0]
        end = pos + 4 + n * elem_size
        if end > self._len:
            raise FormatError(f"byte vector at {pos} runs past the buffer")
        return self.buf[pos + 4 : end]

    def string_at(self, pos: int) -> str:
        """The UTF-8 string at ``pos`` (invalid UTF-8 raises ``UnicodeDecodeError``)."""
        n = _UNPACK_U32(self.buf, pos)[0]
        end = pos + 4 + n
        if end > self._len:
            raise FormatError(f"string at {pos} runs past the buffer")
        return self.buf[pos + 4 : end].decode()

    def tables_at(self, pos: int) -> list[int]:
        """Positions of the objects an offset vector at ``pos`` points to."""
        buf = self.buf
        n = _UNPACK_U32(buf, pos)[0]
        start = pos + 4
        if n < len(_U32_VECTORS):
            offsets = _U32_VECTORS[n](buf, start)  # struct.error when out of bounds
        else:
            self.check(start + 4 * n)
            offsets = struct.unpack_from(f"<{n}I", buf, start)
        return list(map(add, range(start, start + 4 * n, 4), offsets))

    def table_vector(self, pos: int, spec: TableSpec) -> list[tuple[Any, ...]]:
        """:meth:`table` for every table of the offset vector at ``pos``."""
        return [self.table(at, spec) for at in self.tables_at(pos)]

    def struct_at(self, pos: int, packer: struct.Struct) -> tuple[bytes, list[tuple[Any, ...]]]:
        """Raw bytes and unpacked elements of a vector of structs at ``pos``."""
        n = _UNPACK_U32(self.buf, pos)[0]
        end = pos + 4 + n * packer.size
        if end > self._len:
            raise FormatError(f"struct vector at {pos} runs past the buffer")
        raw = self.buf[pos + 4 : end]
        return raw, list(packer.iter_unpack(raw))


# ------------------------------------------------------------------ vectorised reading
I64 = npt.NDArray[np.int64]


class VectorReader:
    """Reads one field of many tables at once with numpy (for large vectors of tables).

    Positions are ``int64`` arrays of absolute offsets; ``0`` marks an absent field.
    Every gather is bounds-checked and raises :class:`FormatError` when out of range.
    """

    __slots__ = ("_bytes", "_len", "buf")

    def __init__(self, buf: bytes) -> None:
        self.buf = buf
        self._bytes = np.frombuffer(buf, dtype=np.uint8)
        self._len = len(buf)

    def _within(self, start: I64, size: I64 | int, what: str) -> None:
        if start.size and (int(start.min()) < 0 or int((start + size).max()) > self._len):
            raise FormatError(f"flatbuffer {what} lies outside the {self._len}-byte buffer")

    def _gather(self, pos: I64, dtype: str) -> npt.NDArray[Any]:
        width = np.dtype(dtype).itemsize
        self._within(pos, width, "field")
        rows: npt.NDArray[Any] = self._bytes[pos[:, None] + np.arange(width)]
        return rows.view(dtype).reshape(-1)

    def u8(self, pos: I64) -> I64:
        """Unsigned bytes at ``pos`` (0 where ``pos`` is 0)."""
        return self._scalar(pos, "u1")

    def u32(self, pos: I64) -> I64:
        """Unsigned 32-bit values at ``pos`` (0 where ``pos`` is 0)."""
        return self._scalar(pos, "<u4")

    def u64(self, pos: I64) -> npt.NDArray[np.uint64]:
        """Unsigned 64-bit values at ``pos`` (0 where ``pos`` is 0), kept unsigned."""
        out = np.zeros(len(pos), dtype=np.uint64)
        present = pos > 0
        out[present] = self._gather(pos[present], "<u8")
        return out

    def _scalar(self, pos: I64, dtype: str) -> I64:
        out = np.zeros(len(pos), dtype=np.int64)
        present = pos > 0
        out[present] = self._gather(pos[present], dtype)
        return out

    def rows(self, pos: I64, width: int) -> bytes:
        """``width`` raw bytes at each position, concatenated (e.g. inline ids)."""
        self._within(pos, width, "inline struct")
        return bytes(self._bytes[pos[:, None] + np.arange(width)].tobytes())

    def deref(self, pos: I64) -> I64:
        """Targets of the offsets stored at ``pos`` (which must all be present)."""
        return pos + self._scalar(pos, "<u4")

    def fields(self, tables: I64, count: int) -> npt.NDArray[np.int64]:
        """``(len(tables), count)`` absolute positions of the first ``count`` fields."""
        self._within(tables, 4, "table")
        vt = tables - self._gather(tables, "<i4").astype(np.int64)
        unique, inverse = np.unique(vt, return_inverse=True)
        rel = np.zeros((len(unique), count), dtype=np.int64)
        size = np.zeros(len(unique), dtype=np.int64)
        for i, at in enumerate(unique.tolist()):
            size[i], rel[i] = self._vtable(at, count)
        self._within(tables, size[inverse], "table")
        rel = rel[inverse.reshape(-1)]
        return np.where(rel > 0, tables[:, None] + rel, 0)

    def _vtable(self, at: int, count: int) -> tuple[int, list[int]]:
        if at < 0 or at + 4 > self._len:
            raise FormatError(f"flatbuffer vtable position {at} is outside the buffer")
        vt_len, size = struct.unpack_from("<HH", self.buf, at)
        if vt_len < 4 or vt_len % 2 or size < 4 or at + vt_len > self._len:
            raise FormatError(f"invalid flatbuffer vtable (length {vt_len}, table size {size})")
        known = min(count, (vt_len - 4) // 2)
        rel = list(struct.unpack_from(f"<{known}H", self.buf, at + 4)) + [0] * (count - known)
        if any(r >= size or 0 < r < 4 for r in rel):
            raise FormatError("flatbuffer field lies outside its table")
        return size, rel

    def vectors(self, pos: I64, elem_size: int) -> tuple[I64, I64]:
        """``(starts, counts)`` of the vectors at ``pos``, bounds-checked."""
        counts = self._scalar(pos, "<u4")
        starts = pos + 4
        self._within(starts, counts * elem_size, "vector")
        return starts, counts

    def elements(self, pos: I64, elem_size: int) -> tuple[I64, I64]:
        """Positions of every element of the vectors at ``pos``, and per-vector bounds.

        Elements of vector ``i`` are ``positions[bounds[i]:bounds[i + 1]]``.
        """
        starts, counts = self.vectors(pos, elem_size)
        bounds = np.zeros(len(pos) + 1, dtype=np.int64)
        np.cumsum(counts, out=bounds[1:])
        if int(bounds[-1]) * elem_size > _MAX_APPARENT_SIZE * max(self._len, 1):
            # Only vectors shared by many tables can add up to this: refuse to inflate.
            raise FormatError("flatbuffer vectors add up to far more data than the file holds")
        first = np.repeat(bounds[:-1], counts)
        positions = np.repeat(starts, counts) + elem_size * (np.arange(bounds[-1]) - first)
        return positions, bounds

    def table_vectors(self, pos: I64) -> tuple[I64, I64]:
        """Like :meth:`elements` for vectors of offsets, returning the targets."""
        positions, bounds = self.elements(pos, 4)
        return self.deref(positions), bounds

    def byte_slices(self, pos: I64, elem_size: int = 1) -> list[bytes]:
        """The raw element bytes of each vector at ``pos`` (strings, ``[ubyte]``...)."""
        starts, counts = self.vectors(pos, elem_size)
        buf = self.buf
        ends = (starts + counts * elem_size).tolist()
        return [buf[s:e] for s, e in zip(starts.tolist(), ends, strict=True)]


@contextmanager
def as_format_error(what: str) -> Iterator[None]:
    """Turn low-level decoding failures inside the block into :class:`FormatError`."""
    try:
        yield
    except (struct.error, ValueError, IndexError, OverflowError) as exc:
        raise FormatError(f"corrupt {what}: {exc}") from exc
