"""Spec-v1 snapshot files, written the way Icechunk 2.x writes them into v1 repositories.

A v1 snapshot differs from v2 in three ways: it stores its ``parent_id`` (v1 has no repo
file), lists manifests as a vector of ``ManifestFileInfo`` structs instead of tables, and
encodes metadata values as MessagePack. Arrays carry the v1 ``shape`` (array length and
chunk length per dimension); ``shape_v2`` is left out, as the reference implementation
does for v1 repositories. v1 snapshots are rare and small, so this uses the general
flatbuffers builder rather than the pre-laid-out fast path of the v2 writer.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import flatbuffers
import msgpack

from icechunk.errors import InvalidInputError
from icechunk.format.header import FileType, encode_file
from icechunk.format.metadata import MetadataTypeError, check_value_types
from icechunk.format.model import ArrayNodeData, NodeSnapshot, Snapshot

__all__ = ["encode_snapshot_v1"]

_UNION_ARRAY, _UNION_GROUP = 1, 2
_FILE_IDENTIFIER = b"Ichk"


def encode_snapshot_v1(snap: Snapshot, *, compression_level: int = 3) -> bytes:
    """Serialize ``snap`` as a complete spec-v1 snapshot file (header + zstd).

    Raises
    ------
    InvalidInputError
        If a value does not fit its field (ids of the wrong size, metadata that
        MessagePack cannot encode).
    """
    try:
        payload = _build(snap)
    except MetadataTypeError:
        raise  # already says which value is wrong, and must stay a TypeError
    except (ValueError, TypeError, OverflowError) as exc:
        raise InvalidInputError(f"cannot write snapshot {snap.id}: {exc}") from exc
    return encode_file(FileType.SNAPSHOT, payload, spec_version=1, level=compression_level)


def _build(snap: Snapshot) -> bytes:
    b = flatbuffers.Builder(1024)
    nodes = _table_vector(b, [_node(b, node) for node in snap.nodes])
    message = b.CreateString(snap.message)
    metadata = _metadata(b, snap.metadata)
    files = sorted(snap.manifest_files, key=lambda m: bytes(m.id))
    b.StartVector(32, len(files), 8)
    for info in reversed(files):
        b.Pad(4)
        b.PrependUint32(info.num_chunk_refs)
        b.PrependUint64(info.size_bytes)
        b.Pad(4)
        _prepend_bytes(b, bytes(info.id), 12)
    files_at = b.EndVector()
    b.StartObject(9)
    b.PrependUOffsetTRelativeSlot(2, nodes, 0)
    b.PrependUint64Slot(3, snap.flushed_at, 0)
    b.PrependUOffsetTRelativeSlot(4, message, 0)
    b.PrependUOffsetTRelativeSlot(5, metadata, 0)
    b.PrependUOffsetTRelativeSlot(6, files_at, 0)
    _struct_slot(b, 0, bytes(snap.id), 12)
    if snap.parent_id is not None:
        _struct_slot(b, 1, bytes(snap.parent_id), 12)
    b.Finish(b.EndObject(), file_identifier=_FILE_IDENTIFIER)
    return bytes(b.Output())


def _node(b: flatbuffers.Builder, node: NodeSnapshot) -> int:
    if node.array is None:
        b.StartObject(0)
        data, kind = b.EndObject(), _UNION_GROUP
    else:
        data, kind = _array(b, node.array), _UNION_ARRAY
    path = b.CreateString(node.path)
    user_data = b.CreateByteVector(node.user_data)
    b.StartObject(6)
    b.PrependUOffsetTRelativeSlot(1, path, 0)
    b.PrependUOffsetTRelativeSlot(2, user_data, 0)
    b.PrependUOffsetTRelativeSlot(4, data, 0)
    b.PrependUint8Slot(3, kind, 0)
    _struct_slot(b, 0, bytes(node.id), 8)
    result: int = b.EndObject()
    return result


def _array(b: flatbuffers.Builder, array: ArrayNodeData) -> int:
    refs = []
    for ref in array.manifests:
        b.StartVector(8, len(ref.extents), 4)
        for start, stop in reversed(ref.extents):
            b.PrependUint32(stop)
            b.PrependUint32(start)
        extents = b.EndVector()
        b.StartObject(2)
        b.PrependUOffsetTRelativeSlot(1, extents, 0)
        _struct_slot(b, 0, bytes(ref.object_id), 12)
        refs.append(b.EndObject())
    manifests = _table_vector(b, refs)
    names = None
    if array.dimension_names is not None:
        entries = []
        for name in array.dimension_names:
            text = None if name is None else b.CreateString(name)
            b.StartObject(1)
            if text is not None:
                b.PrependUOffsetTRelativeSlot(0, text, 0)
            entries.append(b.EndObject())
        names = _table_vector(b, entries)
    b.StartVector(16, len(array.shape), 8)
    for dim in reversed(array.shape):
        b.PrependUint64(_chunk_length(dim.array_length, dim.num_chunks))
        b.PrependUint64(dim.array_length)
    shape = b.EndVector()
    b.StartObject(4)
    b.PrependUOffsetTRelativeSlot(0, shape, 0)
    if names is not None:
        b.PrependUOffsetTRelativeSlot(1, names, 0)
    b.PrependUOffsetTRelativeSlot(2, manifests, 0)
    result: int = b.EndObject()
    return result


def _chunk_length(array_length: int, num_chunks: int) -> int:
    # v1 readers only use this to estimate the chunk count: ceil(length / chunks).
    if num_chunks <= 0:
        return max(array_length, 1)
    return max(-(-array_length // num_chunks), 1)


def _metadata(b: flatbuffers.Builder, metadata: dict[str, Any]) -> int:
    items = []
    for name in sorted(metadata, key=_name_bytes):
        name_at = b.CreateString(name)
        check_value_types(metadata[name])
        value_at = b.CreateByteVector(msgpack.packb(metadata[name], use_bin_type=True))
        b.StartObject(2)
        b.PrependUOffsetTRelativeSlot(0, name_at, 0)
        b.PrependUOffsetTRelativeSlot(1, value_at, 0)
        items.append(b.EndObject())
    return _table_vector(b, items)


def _name_bytes(name: object) -> bytes:
    if not isinstance(name, str):
        raise TypeError(f"metadata keys must be strings, got {name!r}")
    return name.encode()


def _table_vector(b: flatbuffers.Builder, offsets: Sequence[int]) -> int:
    b.StartVector(4, len(offsets), 4)
    for offset in reversed(offsets):
        b.PrependUOffsetTRelative(offset)
    result: int = b.EndVector()
    return result


def _prepend_bytes(b: flatbuffers.Builder, raw: bytes, size: int) -> None:
    if len(raw) != size:
        raise ValueError(f"expected a {size}-byte id, got {len(raw)} bytes")
    for byte in reversed(raw):
        b.PrependUint8(byte)


def _struct_slot(b: flatbuffers.Builder, slot: int, raw: bytes, size: int) -> None:
    """Write a fixed-size byte struct inline in the table being built."""
    b.Prep(1, size)
    _prepend_bytes(b, raw, size)
    b.PrependStructSlot(slot, b.Offset(), 0)
