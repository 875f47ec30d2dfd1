"""Snapshot/repository metadata: ``[MetadataItem]`` vectors of name → JSON-like value.

Values are FlexBuffers in spec v2 and MessagePack in spec v1. Items are sorted by name.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import flatbuffers

from icechunk.errors import FormatError, InvalidInputError
from icechunk.format import flexbuf
from icechunk.format._fb import Table, require

__all__ = ["build_metadata", "decode_metadata", "decode_value", "encode_value"]

_NAME, _VALUE = 0, 1


def encode_value(value: Any) -> bytes:
    """Encode one JSON-like value as a FlexBuffer (spec v2)."""
    try:
        # NaN/inf are stored as f64 (the Rust reader turns them into null, like the wheel).
        return flexbuf.dumps(value)
    except InvalidInputError as exc:
        raise InvalidInputError(
            f"metadata value {value!r} cannot be stored ({exc}): use JSON-compatible values "
            "(None, bool, int, float, str, list, dict with str keys)"
        ) from exc


def _check_json_like(value: Any) -> Any:
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, list | tuple):
        return [_check_json_like(v) for v in value]
    if isinstance(value, dict):
        for key in value:
            if not isinstance(key, str):
                raise TypeError(f"metadata keys must be str, got {key!r}")
        return {k: _check_json_like(v) for k, v in value.items()}
    raise TypeError(f"unsupported metadata value type {type(value).__name__}")


def decode_value(raw: bytes, spec_version: int) -> Any:
    """Decode one value: FlexBuffers for spec v2, MessagePack for spec v1."""
    if spec_version >= 2:
        return flexbuf.loads(raw)
    try:
        import msgpack

        return msgpack.unpackb(raw, raw=False, strict_map_key=False)
    except Exception as exc:  # both decoders raise many unrelated types on bad input
        raise FormatError(f"corrupt metadata value: {exc}") from exc


def decode_metadata(table: Table, slot: int, spec_version: int) -> dict[str, Any]:
    """Read the ``[MetadataItem]`` vector at ``slot`` (absent means empty)."""

    def item(t: Table) -> tuple[str, Any]:
        name = require(t.string(_NAME), "MetadataItem.name")
        raw = require(t.bytes_vector(_VALUE), "MetadataItem.value")
        return name, decode_value(raw, spec_version)

    return dict(table.table_vector(slot, item) or [])


def build_metadata(builder: flatbuffers.Builder, metadata: Mapping[str, Any]) -> int:
    """Write a sorted ``[MetadataItem]`` vector and return its offset."""
    items = []
    for name in sorted(metadata, key=lambda n: n.encode()):
        if not isinstance(name, str):
            raise InvalidInputError(f"metadata keys must be strings, got {name!r}")
        name_off = builder.CreateString(name)
        value_off = builder.CreateByteVector(encode_value(metadata[name]))
        builder.StartObject(2)
        builder.PrependUOffsetTRelativeSlot(_NAME, name_off, 0)
        builder.PrependUOffsetTRelativeSlot(_VALUE, value_off, 0)
        items.append(builder.EndObject())
    builder.StartVector(4, len(items), 4)
    for off in reversed(items):
        builder.PrependUOffsetTRelative(off)
    return int(builder.EndVector())
