"""What the engine needs to know from a node's zarr.json (zarr format 3).

The document itself is stored verbatim; this module only reads the node type, the
array shape, the chunk grid and the chunk-key encoding out of it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from icechunk.changeset import ArrayMeta
from icechunk.errors import ErrorKind, InvalidInputError
from icechunk.format.model import DimensionShape

__all__ = ["ChunkKeyEncoding", "ParsedMeta", "parse_zarr_json"]


@dataclass(frozen=True, slots=True)
class ChunkKeyEncoding:
    """How chunk coordinates map to the part of a key after the array path."""

    default: bool
    separator: str

    def encode(self, coords: tuple[int, ...]) -> str:
        """Key suffix for chunk coordinates."""
        if self.default:
            return self.separator.join(["c", *map(str, coords)])
        return self.separator.join(map(str, coords)) if coords else "0"

    def decode(self, suffix: str) -> tuple[int, ...] | None:
        """Chunk coordinates for a key suffix, or None if it is not a chunk key."""
        parts = suffix.split(self.separator)
        if self.default:
            if parts[0] != "c":
                return None
            parts = parts[1:]
            if suffix == "c":
                return ()
        try:
            coords = tuple(int(p) for p in parts)
        except ValueError:
            return None
        if any(c < 0 or not p.isdigit() for c, p in zip(coords, parts, strict=True)):
            return None
        return coords


@dataclass(frozen=True, slots=True)
class ParsedMeta:
    """A parsed zarr.json: a group (``array is None``) or an array."""

    array: ArrayMeta | None
    encoding: ChunkKeyEncoding | None


def _fail(msg: str) -> InvalidInputError:
    return InvalidInputError(f"invalid zarr.json: {msg}", ErrorKind.BAD_METADATA)


@lru_cache(maxsize=4096)
def parse_zarr_json(raw: bytes) -> ParsedMeta:
    """Parse a zarr v3 ``zarr.json`` document (memoised: results are immutable).

    Raises
    ------
    InvalidInputError
        When the bytes are not a zarr v3 group or array document.
    """
    try:
        doc = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise _fail(f"not JSON ({exc})") from exc
    if not isinstance(doc, dict):
        raise _fail("the document must be a JSON object")
    node_type = doc.get("node_type")
    if node_type == "group":
        return ParsedMeta(None, None)
    if node_type != "array":
        raise _fail(f"node_type must be 'group' or 'array', got {node_type!r}")
    shape = doc.get("shape")
    if not isinstance(shape, list) or not all(isinstance(n, int) and n >= 0 for n in shape):
        raise _fail("array shape must be a list of non-negative integers")
    counts = _chunk_counts(doc.get("chunk_grid"), shape)
    names = doc.get("dimension_names")
    dims: tuple[str | None, ...] | None = None
    if names is not None:
        if not isinstance(names, list) or len(names) != len(shape):
            raise _fail("dimension_names must list one entry per dimension")
        dims = tuple(n if isinstance(n, str) else None for n in names)
    meta = ArrayMeta(
        user_data=bytes(raw),
        shape=tuple(DimensionShape(n, c) for n, c in zip(shape, counts, strict=True)),
        dimension_names=dims,
    )
    return ParsedMeta(meta, _encoding(doc.get("chunk_key_encoding")))


def _chunk_counts(grid: Any, shape: list[int]) -> list[int]:
    if not isinstance(grid, dict):
        raise _fail("chunk_grid is missing")
    name = grid.get("name")
    config = grid.get("configuration") or {}
    if name == "regular":
        chunks = config.get("chunk_shape")
        if not isinstance(chunks, list) or len(chunks) != len(shape):
            raise _fail("chunk_shape must have one entry per dimension")
        if any(not isinstance(c, int) or c <= 0 for c in chunks):
            raise _fail("chunk_shape entries must be positive integers")
        return [-(-n // c) for n, c in zip(shape, chunks, strict=True)]
    if name == "rectilinear":
        return _rectilinear_counts(config, shape)
    raise _fail(f"unsupported chunk grid {name!r}")


def _rectilinear_counts(config: dict[str, Any], shape: list[int]) -> list[int]:
    chunks = config.get("chunk_shapes")
    if not isinstance(chunks, list) or len(chunks) != len(shape):
        raise _fail("rectilinear chunk_shapes must have one entry per dimension")
    counts = []
    for dim in chunks:
        if isinstance(dim, int):
            counts.append(1)
            continue
        total = 0
        for item in dim:
            total += item[1] if isinstance(item, list) else 1
        counts.append(total)
    return counts


def _encoding(spec: Any) -> ChunkKeyEncoding:
    if spec is None:
        return ChunkKeyEncoding(True, "/")
    if not isinstance(spec, dict):
        raise _fail("chunk_key_encoding must be an object")
    sep = (spec.get("configuration") or {}).get("separator")
    if spec.get("name") == "default":
        return ChunkKeyEncoding(True, sep or "/")
    if spec.get("name") == "v2":
        return ChunkKeyEncoding(False, sep or ".")
    raise _fail(f"unsupported chunk_key_encoding {spec.get('name')!r}")
