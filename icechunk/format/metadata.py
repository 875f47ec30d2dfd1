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

__all__ = [
    "MetadataTypeError",
    "build_metadata",
    "check_value_types",
    "decode_metadata",
    "decode_value",
    "encode_value",
]

_NAME, _VALUE = 0, 1


class MetadataTypeError(InvalidInputError, TypeError):
    """A metadata value holds an object that has no JSON-like form.

    A ``TypeError`` as well, like the real package's conversion error for such values.
    """


_JSON_SCALARS = (bool, int, float, str)


def check_value_types(value: Any, depth: int = 0) -> None:
    """Raise :class:`MetadataTypeError` unless ``value`` is JSON-like all the way down."""
    if value is None or isinstance(value, _JSON_SCALARS) or depth > flexbuf.MAX_DEPTH:
        return  # (depth and integer range are the encoders' to report)
    if isinstance(value, list | tuple):
        for item in value:
            check_value_types(item, depth + 1)
        return
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                raise MetadataTypeError(f"metadata keys must be str, got {key!r}")
            check_value_types(item, depth + 1)
        return
    raise MetadataTypeError(
        f"{type(value).__name__!r} object cannot be cast to a metadata value while "
        "processing 'metadata': use None, bool, int, float, str, list or dict with str keys"
    )


def encode_value(value: Any) -> bytes:
    """Encode one JSON-like value as a FlexBuffer (spec v2)."""
    check_value_types(value)
    try:
        # NaN/inf are stored as f64 (the Rust reader turns them into null, like the wheel).
        return flexbuf.dumps(value)
    except InvalidInputError as exc:
        raise InvalidInputError(
            f"metadata value {value!r} cannot be stored ({exc}): use JSON-compatible values "
            "(None, bool, int, float, str, list, dict with str keys)"
        ) from exc


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
