"""Bounds-checked flatbuffer reading over a ``bytes`` buffer, with ``struct``.

Every out-of-range offset, truncated vector or bad UTF-8 becomes a :class:`FormatError`,
never an ``IndexError`` or a silently wrong value. Used by the small-file codecs; the
manifest codec has its own vectorised reader.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from typing import TypeVar

from icechunk.errors import FormatError

__all__ = ["Table", "root_table"]

T = TypeVar("T")

_U8 = struct.Struct("<B")
_U16 = struct.Struct("<H")
_I32 = struct.Struct("<i")
_U32 = struct.Struct("<I")
_U64 = struct.Struct("<Q")


def _check(buf: bytes, pos: int, size: int) -> None:
    if pos < 0 or pos + size > len(buf):
        raise FormatError(
            f"flatbuffer offset {pos}+{size} is outside the {len(buf)}-byte buffer: corrupt file"
        )


def _u32(buf: bytes, pos: int) -> int:
    _check(buf, pos, 4)
    return int(_U32.unpack_from(buf, pos)[0])


def root_table(buf: bytes) -> Table:
    """The root table of a finished flatbuffer."""
    return Table(buf, _u32(buf, 0))


class Table:
    """A view of one flatbuffer table: fields are read by slot number."""

    __slots__ = ("_buf", "_pos", "_vt", "_vt_len")

    def __init__(self, buf: bytes, pos: int) -> None:
        _check(buf, pos, 4)
        vt = pos - int(_I32.unpack_from(buf, pos)[0])
        _check(buf, vt, 4)
        vt_len = int(_U16.unpack_from(buf, vt)[0])
        if vt_len < 4 or vt_len % 2:
            raise FormatError(f"invalid flatbuffer vtable length {vt_len}: corrupt file")
        _check(buf, vt, vt_len)
        self._buf = buf
        self._pos = pos
        self._vt = vt
        self._vt_len = vt_len

    @property
    def buffer(self) -> bytes:
        """The whole underlying buffer."""
        return self._buf

    def field_pos(self, slot: int) -> int:
        """Absolute position of a field's inline data, or 0 when it is absent."""
        entry = 4 + 2 * slot
        if entry >= self._vt_len:
            return 0
        off = int(_U16.unpack_from(self._buf, self._vt + entry)[0])
        return self._pos + off if off else 0

    def has(self, slot: int) -> bool:
        """Whether the field is present."""
        return self.field_pos(slot) != 0

    def _scalar(self, slot: int, fmt: struct.Struct, default: int) -> int:
        p = self.field_pos(slot)
        if not p:
            return default
        _check(self._buf, p, fmt.size)
        return int(fmt.unpack_from(self._buf, p)[0])

    def u8(self, slot: int, default: int = 0) -> int:
        """Read an unsigned byte (also bool and ubyte enums)."""
        return self._scalar(slot, _U8, default)

    def u16(self, slot: int, default: int = 0) -> int:
        """Read an unsigned 16-bit integer."""
        return self._scalar(slot, _U16, default)

    def i32(self, slot: int, default: int = 0) -> int:
        """Read a signed 32-bit integer."""
        return self._scalar(slot, _I32, default)

    def u32(self, slot: int, default: int = 0) -> int:
        """Read an unsigned 32-bit integer."""
        return self._scalar(slot, _U32, default)

    def u64(self, slot: int, default: int = 0) -> int:
        """Read an unsigned 64-bit integer."""
        return self._scalar(slot, _U64, default)

    def inline_bytes(self, slot: int, size: int) -> bytes | None:
        """Read a struct stored inline in the table (e.g. an ObjectId12) as raw bytes."""
        p = self.field_pos(slot)
        if not p:
            return None
        _check(self._buf, p, size)
        return self._buf[p : p + size]

    def _indirect(self, slot: int) -> int:
        p = self.field_pos(slot)
        if not p:
            return 0
        return p + _u32(self._buf, p)

    def table(self, slot: int) -> Table | None:
        """Read a sub-table field."""
        p = self._indirect(slot)
        return Table(self._buf, p) if p else None

    def string(self, slot: int) -> str | None:
        """Read a string field, validating UTF-8."""
        p = self._indirect(slot)
        if not p:
            return None
        return _read_string(self._buf, p)

    def vector_span(self, slot: int, elem_size: int) -> tuple[int, int] | None:
        """``(start, length)`` of a vector field's elements, bounds-checked."""
        p = self._indirect(slot)
        if not p:
            return None
        n = _u32(self._buf, p)
        _check(self._buf, p + 4, n * elem_size)
        return p + 4, n

    def bytes_vector(self, slot: int) -> bytes | None:
        """Read a ``[ubyte]`` vector."""
        span = self.vector_span(slot, 1)
        if span is None:
            return None
        start, n = span
        return self._buf[start : start + n]

    def struct_vector(self, slot: int, elem_size: int) -> list[bytes] | None:
        """Read a vector of fixed-size structs as raw byte slices."""
        span = self.vector_span(slot, elem_size)
        if span is None:
            return None
        start, n = span
        return [self._buf[start + i * elem_size : start + (i + 1) * elem_size] for i in range(n)]

    def scalar_vector(self, slot: int, fmt: str) -> list[int] | None:
        """Read a vector of scalars given a one-letter ``struct`` code (e.g. ``"I"``)."""
        size = struct.calcsize("<" + fmt)
        span = self.vector_span(slot, size)
        if span is None:
            return None
        start, n = span
        return list(struct.unpack_from(f"<{n}{fmt}", self._buf, start))

    def table_vector(self, slot: int, read: Callable[[Table], T]) -> list[T] | None:
        """Read a vector of tables, converting each with ``read``."""
        span = self.vector_span(slot, 4)
        if span is None:
            return None
        start, n = span
        buf = self._buf
        out = []
        for i in range(n):
            at = start + 4 * i
            out.append(read(Table(buf, at + _u32(buf, at))))
        return out

    def string_vector(self, slot: int) -> list[str] | None:
        """Read a vector of strings."""
        span = self.vector_span(slot, 4)
        if span is None:
            return None
        start, n = span
        buf = self._buf
        return [_read_string(buf, start + 4 * i + _u32(buf, start + 4 * i)) for i in range(n)]


def _read_string(buf: bytes, p: int) -> str:
    n = _u32(buf, p)
    _check(buf, p + 4, n)
    try:
        return buf[p + 4 : p + 4 + n].decode("utf-8")
    except UnicodeDecodeError as exc:
        raise FormatError(f"invalid UTF-8 in flatbuffer string: {exc}") from exc


def require(value: T | None, what: str) -> T:
    """Return a required field's value or raise a :class:`FormatError` naming it."""
    if value is None:
        raise FormatError(f"required field {what} is missing: corrupt or foreign file")
    return value
