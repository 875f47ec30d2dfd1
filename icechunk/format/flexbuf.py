"""A small, strict FlexBuffers codec for JSON-like values.

Icechunk stores metadata values (commit, snapshot and repository metadata) and the
repository configuration as FlexBuffers. This module implements the subset of the format
needed for JSON-like data, written from the public FlexBuffers format description.

Layout summary (all little-endian):

- a buffer ends with the root value, one packed type byte and one byte holding the root
  value's width; a packed type is ``(type << 2) | log2(width)``;
- null, ints, uints, floats and bools are stored *inline* in their parent's slot width;
  every other type is stored as an unsigned backwards offset from its slot;
- strings are ``[len][bytes][NUL]``, keys are NUL-terminated, blobs are ``[len][bytes]``;
- vectors are ``[len][slots...][packed types...]``; typed vectors omit the type bytes and
  fixed typed vectors also omit the length;
- maps are ``[keys offset][keys width][len][value slots...][packed types...]`` where the keys
  are a typed vector of keys sorted by their bytes.

The writer favours simplicity over compactness: every slot is 64 bits wide, so ints keep
their full i64/u64 range and floats are always written as exact f64 values. The reader
accepts everything the Rust and C++ writers produce (any widths, typed and fixed typed
vectors, bool vectors, indirect scalars, blobs) and turns any malformed input into a
:class:`~icechunk.errors.FormatError`.
"""

from __future__ import annotations

import math
import struct
from typing import Any

from icechunk.errors import FormatError, InvalidInputError

__all__ = ["MAX_DEPTH", "dumps", "loads"]

#: Deepest nesting of lists/maps accepted by :func:`dumps` and :func:`loads`.
MAX_DEPTH = 128

# FlexBuffers type codes.
_NULL, _INT, _UINT, _FLOAT, _KEY, _STRING = 0, 1, 2, 3, 4, 5
_INDIRECT_INT, _INDIRECT_UINT, _INDIRECT_FLOAT = 6, 7, 8
_MAP, _VECTOR = 9, 10
_VECTOR_INT, _VECTOR_UINT, _VECTOR_FLOAT, _VECTOR_KEY, _VECTOR_STRING = 11, 12, 13, 14, 15
_FIXED_FIRST, _FIXED_LAST = 16, 24  # VECTOR_{INT,UINT,FLOAT}{2,3,4}
_BLOB, _BOOL, _VECTOR_BOOL = 25, 26, 36

_INLINE = frozenset({_NULL, _INT, _UINT, _FLOAT, _BOOL})
_W = 8  # slot width used by the writer
_BITS_W = 3  # log2(_W)
_I64_MIN, _I64_MAX, _U64_MAX = -(2**63), 2**63 - 1, 2**64 - 1


# --------------------------------------------------------------------------- writer


class _Writer:
    """Append-only buffer; children are written before the containers that point at them."""

    def __init__(self, *, nonfinite_as_null: bool) -> None:
        self.buf = bytearray()
        self.keys: dict[bytes, int] = {}
        self.nonfinite_as_null = nonfinite_as_null

    def align(self) -> None:
        self.buf.extend(b"\0" * (-len(self.buf) % _W))

    def slot_bytes(self, slot: tuple[int, int], at: int) -> bytes:
        """The 8 bytes stored at position ``at`` for ``slot`` = (type, payload)."""
        typ, payload = slot
        if typ in _INLINE:
            return payload.to_bytes(_W, "little")
        return (at - payload).to_bytes(_W, "little")

    def value(self, value: Any, depth: int) -> tuple[int, int]:
        """Write ``value`` (if it is not inline) and return its (type, payload) slot."""
        if value is None:
            return _NULL, 0
        if isinstance(value, bool):
            return _BOOL, int(value)
        if isinstance(value, int):
            if _I64_MIN <= value <= _I64_MAX:
                return _INT, value & _U64_MAX
            if _I64_MAX < value <= _U64_MAX:
                return _UINT, value
            raise InvalidInputError(f"integer {value} does not fit in 64 bits")
        if isinstance(value, float):
            if self.nonfinite_as_null and not math.isfinite(value):
                return _NULL, 0
            return _FLOAT, int.from_bytes(struct.pack("<d", value), "little")
        if isinstance(value, str):
            return _STRING, self.string(value)
        if depth >= MAX_DEPTH:
            raise InvalidInputError(f"value is nested deeper than {MAX_DEPTH} levels")
        if isinstance(value, list | tuple):
            slots = [self.value(v, depth + 1) for v in value]
            return _VECTOR, self.vector(slots, typed=False)
        if isinstance(value, dict):
            return _MAP, self.map(value, depth)
        raise InvalidInputError(
            f"unsupported value type {type(value).__name__}: use None, bool, int, float, "
            "str, list or dict with str keys"
        )

    def string(self, value: str) -> int:
        data = _utf8(value, "string")
        self.align()
        self.buf.extend(len(data).to_bytes(_W, "little"))
        pos = len(self.buf)
        self.buf.extend(data)
        self.buf.append(0)
        return pos

    def key(self, key: Any) -> int:
        if not isinstance(key, str):
            raise InvalidInputError(f"map keys must be str, got {key!r}")
        data = _utf8(key, "map key")
        if b"\0" in data:
            raise InvalidInputError(
                f"map key {key!r} contains a NUL character, which FlexBuffers keys "
                "(NUL-terminated) cannot store"
            )
        pos = self.keys.get(data)
        if pos is None:
            pos = self.keys[data] = len(self.buf)
            self.buf.extend(data)
            self.buf.append(0)
        return pos

    def vector(self, slots: list[tuple[int, int]], *, typed: bool) -> int:
        """Write ``[len][slots][types]`` and return the first slot's position."""
        self.buf.extend(len(slots).to_bytes(_W, "little"))
        pos = len(self.buf)
        for i, slot in enumerate(slots):
            self.buf.extend(self.slot_bytes(slot, pos + i * _W))
        if not typed:
            self.buf.extend(bytes((typ << 2) | _BITS_W for typ, _ in slots))
        return pos

    def map(self, value: dict[Any, Any], depth: int) -> int:
        entries = []
        for k, v in value.items():
            if not isinstance(k, str):
                raise InvalidInputError(f"map keys must be str, got {k!r}")
            entries.append((_utf8(k, "map key"), k, v))
        entries.sort(key=lambda e: e[0])
        key_slots = [(_KEY, self.key(k)) for _, k, _ in entries]
        val_slots = [self.value(v, depth + 1) for _, _, v in entries]
        self.align()
        keys_pos = self.vector(key_slots, typed=True)
        here = len(self.buf)
        self.buf.extend((here - keys_pos).to_bytes(_W, "little"))
        self.buf.extend(_W.to_bytes(_W, "little"))
        return self.vector(val_slots, typed=False)

    def finish(self, root: tuple[int, int]) -> bytes:
        self.align()
        at = len(self.buf)
        self.buf.extend(self.slot_bytes(root, at))
        self.buf.append((root[0] << 2) | _BITS_W)
        self.buf.append(_W)
        return bytes(self.buf)


def _utf8(text: str, what: str) -> bytes:
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise InvalidInputError(f"{what} {text!r} is not valid Unicode: {exc}") from exc


def dumps(value: Any, *, nonfinite_as_null: bool = False) -> bytes:
    """Encode a JSON-like value as a FlexBuffer.

    Parameters
    ----------
    value : Any
        ``None``, ``bool``, ``int`` (from ``-2**63`` to ``2**64 - 1``), ``float``, ``str``,
        ``list``/``tuple`` or ``dict`` with ``str`` keys, nested at most :data:`MAX_DEPTH`
        levels deep.
    nonfinite_as_null : bool, optional
        Write NaN and infinities as null, as the Rust implementation does for JSON values
        (``serde_json`` numbers cannot be NaN or infinite). By default they are kept.

    Returns
    -------
    bytes
        The encoded buffer.

    Raises
    ------
    InvalidInputError
        If the value (or anything inside it) cannot be represented: unsupported type,
        integer out of range, non-``str`` or NUL-containing map key, unencodable text,
        or nesting that is too deep.
    """
    writer = _Writer(nonfinite_as_null=nonfinite_as_null)
    return writer.finish(writer.value(value, 0))


# --------------------------------------------------------------------------- reader


class _Reader:
    """Bounds-checked FlexBuffers reader with a depth limit and a work budget."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.strings: dict[tuple[int, int, int], Any] = {}
        # Shared sub-trees could make a tiny buffer decode to an exponentially large value;
        # legitimate buffers (even with shared keys) stay far below this many nodes.
        self.budget = 1024 + 16 * len(data)

    def read_uint(self, pos: int, width: int) -> int:
        if width not in (1, 2, 4, 8):
            raise FormatError(f"invalid FlexBuffers width {width}")
        if pos < 0 or pos + width > len(self.data):
            raise FormatError(f"FlexBuffers read of {width} bytes at {pos} is out of bounds")
        return int.from_bytes(self.data[pos : pos + width], "little")

    def read_int(self, pos: int, width: int) -> int:
        value = self.read_uint(pos, width)
        bits = 8 * width
        return value - (1 << bits) if value >> (bits - 1) else value

    def read_float(self, pos: int, width: int) -> float:
        fmt = {2: "<e", 4: "<f", 8: "<d"}.get(width)
        if fmt is None:
            raise FormatError(f"invalid FlexBuffers float width {width}")
        self.read_uint(pos, width)  # bounds check
        return float(struct.unpack_from(fmt, self.data, pos)[0])

    def deref(self, pos: int, width: int) -> int:
        target = pos - self.read_uint(pos, width)
        if target < 0 or target >= len(self.data):
            raise FormatError(f"FlexBuffers offset at {pos} points outside the buffer")
        return target

    def sized(self, target: int, width: int) -> int:
        """Length stored right before ``target``, checked against the buffer size."""
        size = self.read_uint(target - width, width)
        if size > len(self.data):
            raise FormatError(f"FlexBuffers length {size} at {target} exceeds the buffer")
        return size

    def spend(self, n: int) -> None:
        self.budget -= n
        if self.budget < 0:
            raise FormatError("FlexBuffers value expands to too many elements")

    def value(self, pos: int, parent_width: int, packed: int, depth: int) -> Any:
        typ, width = packed >> 2, 1 << (packed & 3)
        self.spend(1)
        if typ == _NULL:
            return None
        if typ == _INT:
            return self.read_int(pos, parent_width)
        if typ == _UINT:
            return self.read_uint(pos, parent_width)
        if typ == _FLOAT:
            return self.read_float(pos, parent_width)
        if typ == _BOOL:
            return self.read_uint(pos, parent_width) != 0
        target = self.deref(pos, parent_width)
        if typ == _INDIRECT_INT:
            return self.read_int(target, width)
        if typ == _INDIRECT_UINT:
            return self.read_uint(target, width)
        if typ == _INDIRECT_FLOAT:
            return self.read_float(target, width)
        if typ in (_KEY, _STRING, _BLOB):
            return self.text(target, width, typ)
        if depth >= MAX_DEPTH:
            raise FormatError(f"FlexBuffers value is nested deeper than {MAX_DEPTH} levels")
        if typ == _VECTOR:
            return self.vector(target, width, depth)
        if typ == _MAP:
            return self.map(target, width, depth)
        if _VECTOR_INT <= typ <= _VECTOR_STRING or typ == _VECTOR_BOOL:
            elem = _BOOL if typ == _VECTOR_BOOL else typ - _VECTOR_INT + _INT
            return self.typed(target, width, self.sized(target, width), elem, depth)
        if _FIXED_FIRST <= typ <= _FIXED_LAST:
            count, elem = divmod(typ - _FIXED_FIRST, 3)
            return self.typed(target, width, count + 2, elem + _INT, depth)
        raise FormatError(f"unknown FlexBuffers type {typ}")

    def text(self, target: int, width: int, typ: int) -> Any:
        cache_key = (target, width, typ)
        cached = self.strings.get(cache_key)
        if cached is not None:
            return cached
        if typ == _KEY:
            end = self.data.find(b"\0", target)
            if end < 0:
                raise FormatError(f"FlexBuffers key at {target} is not NUL-terminated")
        else:
            end = target + self.sized(target, width)
            if end + (typ == _STRING) > len(self.data):
                raise FormatError(f"FlexBuffers string at {target} overruns the buffer")
        raw = self.data[target:end]
        result: Any = raw
        if typ != _BLOB:
            try:
                result = raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise FormatError(f"FlexBuffers string at {target} is not UTF-8") from exc
        self.strings[cache_key] = result
        return result

    def check_span(self, start: int, end: int) -> None:
        if start < 0 or end > len(self.data):
            raise FormatError(f"FlexBuffers container at {start} overruns the buffer")

    def vector(self, target: int, width: int, depth: int) -> list[Any]:
        size = self.sized(target, width)
        types = target + size * width
        self.check_span(target, types + size)
        self.spend(size)
        return [
            self.value(target + i * width, width, self.data[types + i], depth + 1)
            for i in range(size)
        ]

    def typed(self, target: int, width: int, size: int, elem: int, depth: int) -> list[Any]:
        self.check_span(target, target + size * width)
        self.spend(size)
        # Elements of typed vectors share the vector's width; for offset elements (keys,
        # strings) that width also sizes the referenced value.
        packed = (elem << 2) | (width.bit_length() - 1)
        return [self.value(target + i * width, width, packed, depth + 1) for i in range(size)]

    def map(self, target: int, width: int, depth: int) -> dict[str, Any]:
        keys_at = target - 3 * width
        keys = self.deref(keys_at, width)
        keys_width = self.read_uint(target - 2 * width, width)
        if keys_width not in (1, 2, 4, 8):
            raise FormatError(f"invalid FlexBuffers map key width {keys_width}")
        size = self.sized(target, width)
        if self.sized(keys, keys_width) != size:
            raise FormatError(f"FlexBuffers map at {target} has mismatched key/value counts")
        names = self.typed(keys, keys_width, size, _KEY, depth)
        values = self.vector(target, width, depth)
        result: dict[str, Any] = {}
        for name, value in zip(names, values, strict=True):
            if not isinstance(name, str):  # pragma: no cover - keys decode to str
                raise FormatError("FlexBuffers map key is not a string")
            result[name] = value
        return result


def loads(data: bytes) -> Any:
    """Decode a FlexBuffer into JSON-like Python values.

    Parameters
    ----------
    data : bytes
        A complete FlexBuffer (root value, packed type byte, root width byte).

    Returns
    -------
    Any
        ``None``, ``bool``, ``int``, ``float``, ``str``, ``bytes`` (for blobs), ``list``
        (for all vector kinds) or ``dict`` (for maps).

    Raises
    ------
    FormatError
        If the buffer is malformed in any way: truncated, out-of-bounds offsets, unknown
        types, invalid UTF-8, nesting deeper than :data:`MAX_DEPTH`, and so on.
    """
    data = bytes(data)
    if len(data) < 3:
        raise FormatError(f"FlexBuffer of {len(data)} bytes is too short")
    root_width = data[-1]
    if root_width not in (1, 2, 4, 8) or root_width + 2 > len(data):
        raise FormatError(f"invalid FlexBuffers root width {root_width}")
    reader = _Reader(data)
    try:
        return reader.value(len(data) - 2 - root_width, root_width, data[-2], 0)
    except FormatError:
        raise
    except (ValueError, OverflowError, struct.error, IndexError) as exc:
        raise FormatError(f"corrupt FlexBuffer: {exc}") from exc
