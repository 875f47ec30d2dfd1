"""Snapshot files (file type 1): encode spec v2, decode spec v1 and v2.

A snapshot lists every node (group or array) of one repository version, sorted by the
raw UTF-8 bytes of its path, plus the manifest files its arrays point into.

Speed matters here (snapshots can hold many thousands of nodes): node tables are written
as pre-laid-out blocks and read with numpy, see :mod:`icechunk.format._snapshot_nodes`;
the flatbuffer plumbing is in :mod:`icechunk.format._flat`.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable
from typing import Any

from icechunk.errors import FormatError, InvalidInputError
from icechunk.format._fb import root_table
from icechunk.format._flat import Reader, TableSpec, VectorReader, Writer, as_format_error, layout
from icechunk.format._snapshot_nodes import NodeWriter, read_manifest_files_v2, read_nodes
from icechunk.format.header import FileType, decode_file, encode_file
from icechunk.format.ids import INITIAL_SNAPSHOT_ID, ManifestId, SnapshotId
from icechunk.format.metadata import MetadataTypeError, decode_metadata, encode_value
from icechunk.format.model import (
    ArrayNodeData,
    ManifestFileInfo,
    NodeSnapshot,
    Snapshot,
)

__all__ = [
    "INITIAL_SNAPSHOT_MESSAGE",
    "decode_snapshot",
    "encode_snapshot",
    "new_initial_snapshot",
    "path_problem",
    "snapshot_problem",
    "sort_nodes",
    "write_metadata",
]

#: Commit message of every repository's first snapshot.
INITIAL_SNAPSHOT_MESSAGE = "Repository initialized"

_U32_MAX = 2**32 - 1
_U64_MAX = 2**64 - 1

# Encoder layouts: (offset slots in storage order, (slot, struct code) inline scalars).
_SNAPSHOT = layout((2, 4, 5, 6, 7), ((0, "12s"), (3, "Q")))
_MANIFEST_FILE = layout((), ((2, "I"), (0, "12s"), (1, "Q")))
_METADATA_ITEM = layout((0, 1), ())

# Decoder specs, one struct code per slot ("O": offset to a string/vector/table).
_SNAPSHOT_SPEC = TableSpec("12s", "12s", "O", "Q", "O", "O", "O", "O")
_V1_FILE = struct.Struct("<12s4xQI4x")


# ------------------------------------------------------------------ validation
def path_problem(path: str) -> str | None:
    """Why ``path`` is not a valid absolute node path, or ``None`` when it is.

    Valid paths start with ``/``, have no trailing ``/`` (except the root ``/``) and no
    empty, ``.`` or ``..`` segments.
    """
    if path[:1] == "/" and path[-1:] != "/" and "//" not in path and "/." not in path:
        return None  # fast path: every segment is non-empty and starts with no dot
    if path == "/":
        return None
    if not path.startswith("/"):
        return f"node path {path!r} is not absolute (must start with '/')"
    for segment in path[1:].split("/"):
        if segment in ("", ".", ".."):
            return f"node path {path!r} has an empty, '.' or '..' segment or a trailing '/'"
    return None


def _array_problem(path: str, array: ArrayNodeData) -> str | None:
    ndim = len(array.shape)
    for dim in array.shape:
        if not (0 <= dim.array_length <= _U64_MAX and 0 <= dim.num_chunks <= _U32_MAX):
            return f"array {path!r} has an out-of-range dimension {dim}"
    if array.dimension_names is not None and len(array.dimension_names) != ndim:
        return (
            f"array {path!r} has {len(array.dimension_names)} dimension names for {ndim} dimensions"
        )
    for ref in array.manifests:
        if len(ref.extents) != ndim:
            return (
                f"array {path!r}: manifest {ref.object_id} has {len(ref.extents)} extents "
                f"for {ndim} dimensions"
            )
        for start, stop in ref.extents:
            if not 0 <= start <= stop <= _U32_MAX:
                return f"array {path!r}: manifest {ref.object_id} has bad extent {start}..{stop}"
    return None


def snapshot_problem(snap: Snapshot) -> str | None:
    """The first structural problem of ``snap``, or ``None`` when it is well formed.

    Checks that node paths are valid and strictly increasing by UTF-8 bytes, node ids are
    unique, and each array has one dimension name (if any) and one manifest extent per
    dimension, with ``start <= stop``.
    """
    previous = b""
    seen: set[bytes] = set()
    for node in snap.nodes:
        problem = path_problem(node.path)
        if problem is not None:
            return problem
        raw = node.path.encode()
        if raw <= previous:
            return (
                f"nodes are not strictly sorted by path bytes: {node.path!r} follows "
                f"{previous.decode()!r}"
            )
        previous = raw
        if node.id in seen or len(node.id) != 8:
            return f"node id {node.id!r} at {node.path!r} is a duplicate or not 8 bytes"
        seen.add(node.id)
        if node.array is not None:
            problem = _array_problem(node.path, node.array)
            if problem is not None:
                return problem
    return None


def _manifest_files_problem(snap: Snapshot) -> str | None:
    listed: set[bytes] = set()
    for info in snap.manifest_files:
        if info.id in listed:
            return f"manifest file {info.id} is listed twice"
        if not (0 <= info.size_bytes <= _U64_MAX and 0 <= info.num_chunk_refs <= _U32_MAX):
            return f"manifest file {info.id} has out-of-range sizes"
        listed.add(info.id)
    for node in snap.nodes:
        for ref in node.array.manifests if node.array is not None else ():
            if ref.object_id not in listed:
                return (
                    f"array {node.path!r} points to manifest {ref.object_id}, which is "
                    "missing from the snapshot's manifest files"
                )
    return None


# ------------------------------------------------------------------ encoding
def encode_snapshot(snap: Snapshot, *, compression_level: int = 3) -> bytes:
    """Serialize a snapshot as a complete spec-v2 snapshot file (header + zstd).

    ``parent_id`` is not written (v2 keeps parentage in the repo file); manifest files go
    to ``manifest_files_v2``, sorted by id, and ``manifest_files`` is left empty.

    Raises
    ------
    InvalidInputError
        If ``snap`` is not spec v2, breaks an ordering or shape invariant (see
        :func:`snapshot_problem`), references a manifest missing from
        ``manifest_files`` or holds a value that does not fit its field.
    """
    if snap.spec_version != 2:
        raise InvalidInputError(
            f"only spec-v2 snapshots can be written, this one is spec v{snap.spec_version}"
        )
    problem = snapshot_problem(snap) or _manifest_files_problem(snap)
    if problem is not None:
        raise InvalidInputError(f"cannot write snapshot {snap.id}: {problem}")
    try:
        payload = _build(snap)
    except MetadataTypeError:
        raise  # already says which value is wrong, and must stay a TypeError
    except (struct.error, OverflowError, TypeError, UnicodeEncodeError) as exc:
        raise InvalidInputError(f"cannot write snapshot {snap.id}: {exc}") from exc
    return encode_file(FileType.SNAPSHOT, payload, spec_version=2, level=compression_level)


def _build(snap: Snapshot) -> bytes:
    w = Writer()
    empty = w.vector(b"", 0, 8)
    nodes = w.offset_vector(NodeWriter(w).write_all(snap.nodes))
    message = w.string(snap.message)
    metadata = write_metadata(w, snap.metadata)
    files = [
        w.table(_MANIFEST_FILE, (), m.num_chunk_refs, m.id, m.size_bytes)
        for m in sorted(snap.manifest_files, key=lambda m: bytes(m.id))
    ]
    files_v2 = w.offset_vector(files)
    offsets = (nodes, message, metadata, empty, files_v2)
    return w.finish(w.table(_SNAPSHOT, offsets, snap.id, snap.flushed_at))


def write_metadata(w: Writer, metadata: dict[str, Any]) -> int:
    """Write a name-sorted ``[MetadataItem]`` vector (FlexBuffers values), return its offset."""
    items = []
    for name in sorted(metadata, key=_name_key):
        name_off = w.string(name)
        value_off = w.bytes_vector(encode_value(metadata[name]))
        items.append(w.table(_METADATA_ITEM, (name_off, value_off)))
    return w.offset_vector(items)


def _name_key(name: object) -> bytes:
    if not isinstance(name, str):
        raise InvalidInputError(f"metadata keys must be strings, got {name!r}")
    return name.encode()


# ------------------------------------------------------------------ decoding
def decode_snapshot(data: bytes) -> Snapshot:
    """Parse a snapshot file of spec version 1 or 2.

    Raises
    ------
    FormatError
        If the file is truncated, corrupt, of another file type or breaks an ordering or
        shape invariant (see :func:`snapshot_problem`).
    """
    spec, payload = decode_file(data, FileType.SNAPSHOT)
    with as_format_error("snapshot file"):
        snap = _parse(payload, spec)
    problem = snapshot_problem(snap)
    if problem is not None:
        raise FormatError(f"snapshot {snap.id} is invalid: {problem}")
    return snap


def _required(value: Any, what: str) -> Any:
    if not value:
        raise FormatError(f"required field {what} is missing")
    return value


def _parse(buf: bytes, spec: int) -> Snapshot:
    r = Reader(buf)
    snap_id, parent, nodes_at, flushed_at, message_at, metadata_at, files_at, files_v2_at = r.table(
        r.root(), _SNAPSHOT_SPEC
    )
    _required(metadata_at, "Snapshot.metadata")
    v = VectorReader(buf)
    nodes = read_nodes(v, _required(nodes_at, "Snapshot.nodes"))
    _, structs = r.struct_at(_required(files_at, "Snapshot.manifest_files"), _V1_FILE)
    files = tuple(ManifestFileInfo(ManifestId(i), size, n) for i, size, n in structs)
    if files_v2_at:  # spec v2 leaves manifest_files empty
        files += read_manifest_files_v2(v, files_v2_at)
    return Snapshot(
        id=SnapshotId(_required(snap_id, "Snapshot.id")),
        flushed_at=flushed_at,
        message=r.string_at(_required(message_at, "Snapshot.message")),
        metadata=decode_metadata(root_table(buf), 5, spec),
        nodes=nodes,
        manifest_files=files,
        parent_id=None if parent is None else SnapshotId(parent),
        spec_version=spec,
    )


# ------------------------------------------------------------------ initial snapshot
def new_initial_snapshot(flushed_at_us: int, message: str = INITIAL_SNAPSHOT_MESSAGE) -> Snapshot:
    """The first snapshot of a new spec-v2 repository, as real Icechunk writes it.

    Fixed id ``1CECHNKREP0F1RSTCMT0``, **no nodes** (not even the root group: it only
    appears once a client writes its ``zarr.json``), no manifests and the metadata
    ``{"__icechunk": {"is_root": True}}``.
    """
    return Snapshot(
        id=INITIAL_SNAPSHOT_ID,
        flushed_at=flushed_at_us,
        message=message,
        metadata={"__icechunk": {"is_root": True}},
        nodes=(),
        manifest_files=(),
    )


def sort_nodes(nodes: Iterable[NodeSnapshot]) -> tuple[NodeSnapshot, ...]:
    """Nodes in snapshot order: ascending by the raw UTF-8 bytes of their path."""
    return tuple(sorted(nodes, key=lambda n: n.path.encode()))
