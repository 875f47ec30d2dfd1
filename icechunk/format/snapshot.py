"""Snapshot files (file type 1): encode spec v2, decode spec v1 and v2.

A snapshot lists every node (group or array) of one repository version, sorted by the
raw UTF-8 bytes of its path, plus the manifest files its arrays point into.

Speed matters here (snapshots can hold many thousands of nodes), so each node is written
as one pre-laid-out block with a single ``struct`` call (offsets inside the block are
constants of its "plan", cached per array shape), and tables are read through vtables
compiled once into a single unpack (see :mod:`icechunk.format._flat`).
"""

from __future__ import annotations

import struct
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from icechunk.errors import FormatError, InvalidInputError
from icechunk.format._fb import root_table
from icechunk.format._flat import Reader, TableSpec, Writer, as_format_error, layout
from icechunk.format.header import FileType, decode_file, encode_file
from icechunk.format.ids import INITIAL_SNAPSHOT_ID, ManifestId, NodeId, SnapshotId
from icechunk.format.metadata import decode_metadata, encode_value
from icechunk.format.model import (
    ArrayNodeData,
    DimensionShape,
    ManifestFileInfo,
    ManifestRef,
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
_PACK_U32 = struct.Struct("<I").pack
_UNION_ARRAY, _UNION_GROUP = 1, 2

# Encoder layouts: (offset slots in storage order, (slot, struct code) inline scalars).
_SNAPSHOT = layout((2, 4, 5, 6, 7), ((0, "12s"), (3, "Q")))
_NODE = layout((1, 2, 4), ((0, "8s"), (3, "B")))  # path@4 user_data@8 data@12 id@16
_EMPTY = layout((), ())
_ARRAY_NAMED = layout((0, 1, 2, 3), ())
_ARRAY_UNNAMED = layout((0, 2, 3), ())
_DIM_SHAPE = layout((), ((1, "I"), (0, "Q")))
_DIM_NAME = layout((0,), ())
_MANIFEST_REF = layout((1,), ((0, "12s"),))
_MANIFEST_FILE = layout((), ((2, "I"), (0, "12s"), (1, "Q")))
_METADATA_ITEM = layout((0, 1), ())

# Decoder specs, one struct code per slot ("O": offset to a string/vector/table).
_SNAPSHOT_SPEC = TableSpec("12s", "12s", "O", "Q", "O", "O", "O", "O")
_NODE_SPEC = TableSpec("8s", "O", "O", "B", "O")
_EMPTY_SPEC = TableSpec()
_ARRAY_SPEC = TableSpec("O", "O", "O", "O")
_DIM_SPEC = TableSpec("Q", "I")
_NAME_SPEC = TableSpec("O")
_REF_SPEC = TableSpec("12s", "O")
_FILE_SPEC = TableSpec("12s", "Q", "I")
_V1_FILE = struct.Struct("<12s4xQI4x")
_V1_DIM = struct.Struct("<QQ")
_EXTENT = struct.Struct("<II")


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
    except (struct.error, OverflowError, TypeError, UnicodeEncodeError) as exc:
        raise InvalidInputError(f"cannot write snapshot {snap.id}: {exc}") from exc
    return encode_file(FileType.SNAPSHOT, payload, spec_version=2, level=compression_level)


def _build(snap: Snapshot) -> bytes:
    w = Writer()
    empty = w.vector(b"", 0, 8)
    nodes = w.offset_vector(_NodeWriter(w).write_all(snap.nodes))
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


def _string_piece(raw: bytes) -> bytes:
    """A flatbuffer string (length, UTF-8 bytes, NUL), padded to a multiple of 4 bytes."""
    piece = _PACK_U32(len(raw)) + raw + b"\0"
    return piece + bytes(-len(piece) % 4)


@dataclass(frozen=True, slots=True)
class _ArrayPlan:
    """Where everything of one array-node block goes (block-relative positions ``k``).

    ``vk_*`` are vtable position + table position: a table's soffset is ``vk - end``
    where ``end`` is the block's end as returned by :meth:`Writer.block`.
    """

    packer: struct.Struct
    size: int
    vk_node: int
    vk_array: int
    array_consts: tuple[int, ...]
    vk_dims: tuple[int, ...]
    refvec_consts: tuple[int, ...]
    refs: tuple[tuple[int, int], ...]  # (vk, offset to extents) per manifest ref
    namevec_consts: tuple[int, ...]
    names: tuple[tuple[int, int], ...]  # (vk, k of the name offset field or 0) per name


class _Fmt:
    """Accumulates a ``struct`` format field by field at explicit block positions."""

    def __init__(self) -> None:
        self.fmt = "<"
        self.k = 0

    def at(self, align: int, rem: int = 0) -> int:
        """Pad until the position is ``rem`` modulo ``align``; return the position."""
        pad = (rem - self.k) % align
        if pad:
            self.fmt += f"{pad}x"
            self.k += pad
        return self.k

    def add(self, code: str) -> None:
        self.fmt += code
        self.k += struct.calcsize("<" + code)


class _NodeWriter:
    """Writes nodes as self-contained blocks; plans are cached per array shape."""

    def __init__(self, w: Writer) -> None:
        self.w = w
        self.group = 0  # the GroupNodeData table all groups share, written on first use
        self.plans: dict[tuple[Any, ...], _ArrayPlan] = {}

    def write_all(self, nodes: Iterable[NodeSnapshot]) -> list[int]:
        return [self.write(node) for node in nodes]

    def write(self, node: NodeSnapshot) -> int:
        array = node.array
        if array is None:
            return self._write_group(node)
        names = array.dimension_names
        key = (
            len(array.shape),
            len(array.manifests),
            None if names is None else tuple(n is None for n in names),
        )
        plan = self.plans.get(key)
        if plan is None:
            plan = self.plans[key] = self._plan(*key)
        return self._write_array(node, array, plan)

    def _write_group(self, node: NodeSnapshot) -> int:
        if not self.group:
            self.group = self.w.table(_EMPTY, ())
        vtable = self.w.vtable(_NODE)
        path = _string_piece(node.path.encode())
        user_data = _PACK_U32(len(node.user_data)) + node.user_data
        size = _NODE.size
        end = self.w.block_end(size + len(path) + len(user_data))
        head = _NODE.packer.pack(
            vtable - end,
            size - 4,
            size + len(path) - 8,
            end - 12 - self.group,
            node.id,
            _UNION_GROUP,
        )
        return self.w.block(head + path + user_data)

    def _write_array(self, node: NodeSnapshot, array: ArrayNodeData, plan: _ArrayPlan) -> int:
        # Variable-length tail after the fixed part: names, path, then user_data.
        at = plan.size
        tail: list[bytes] = []
        name_at: list[int] = []
        for name in array.dimension_names or ():
            if name is not None:
                name_at.append(at)
                tail.append(_string_piece(name.encode()))
                at += len(tail[-1])
        path_at = at
        tail.append(_string_piece(node.path.encode()))
        ud_at = at + len(tail[-1])
        tail.append(_PACK_U32(len(node.user_data)) + node.user_data)
        end = self.w.block_end(ud_at + 4 + len(node.user_data))
        vals: list[Any] = [
            plan.vk_node - end,
            path_at - 4,
            ud_at - 8,
            _NODE.size - 12,
            node.id,
            _UNION_ARRAY,
            plan.vk_array - end,
            *plan.array_consts,
        ]
        for vk, dim in zip(plan.vk_dims, array.shape, strict=True):
            vals += (vk - end, dim.num_chunks, dim.array_length)
        vals += plan.refvec_consts
        ndim = len(array.shape)
        for (vk, ext), ref in zip(plan.refs, array.manifests, strict=True):
            vals += (vk - end, ext, ref.object_id, ndim)
            for extent in ref.extents:
                vals += extent
        vals += plan.namevec_consts
        names = iter(name_at)
        for vk, field in plan.names:
            vals.append(vk - end)
            if field:
                vals.append(next(names) - field)
        return self.w.block(plan.packer.pack(*vals) + b"".join(tail))

    def _plan(self, ndim: int, nrefs: int, unnamed: tuple[bool, ...] | None) -> _ArrayPlan:
        f = _Fmt()
        f.add(_NODE.packer.format[1:])  # node table at 0
        array_lay = _ARRAY_UNNAMED if unnamed is None else _ARRAY_NAMED
        array_k = f.at(4)
        f.add(array_lay.packer.format[1:])
        empty_k = f.at(8, 4)  # the (empty) struct vector's data must be 8-aligned
        f.add("I")
        shape_k = f.at(4)
        f.add(f"{1 + ndim}I")
        dims = []
        for _ in range(ndim):
            dims.append(f.at(8))
            f.add(_DIM_SHAPE.packer.format[1:])
        refvec_k = f.at(4)
        f.add(f"{1 + nrefs}I")
        refs = []
        for _ in range(nrefs):
            refs.append(f.at(4))
            f.add(_MANIFEST_REF.packer.format[1:] + f"{1 + 2 * ndim}I")
        names = []
        namevec_k = f.at(4)
        if unnamed is not None:
            f.add(f"{1 + ndim}I")
            for is_none in unnamed:
                names.append((f.at(4), is_none))
                f.add("i" if is_none else "iI")
        size = f.at(4)
        array_offsets = (
            [empty_k, refvec_k, shape_k]
            if unnamed is None
            else [empty_k, namevec_k, refvec_k, shape_k]
        )
        vt = self.w.vtable
        return _ArrayPlan(
            packer=struct.Struct(f.fmt),
            size=size,
            vk_node=vt(_NODE),
            vk_array=vt(array_lay) + array_k,
            array_consts=(
                *(
                    t - array_k - k
                    for t, k in zip(array_offsets, array_lay.offset_pos, strict=True)
                ),
                0,
                ndim,
                *(d - shape_k - 4 - 4 * i for i, d in enumerate(dims)),
            ),
            vk_dims=tuple(vt(_DIM_SHAPE) + d for d in dims),
            refvec_consts=(nrefs, *(r - refvec_k - 4 - 4 * i for i, r in enumerate(refs))),
            refs=tuple((vt(_MANIFEST_REF) + r, _MANIFEST_REF.size - 4) for r in refs),
            namevec_consts=()
            if unnamed is None
            else (ndim, *(k - namevec_k - 4 - 4 * i for i, (k, _) in enumerate(names))),
            names=tuple(
                (vt(_EMPTY) + k, 0) if is_none else (vt(_DIM_NAME) + k, k + 4)
                for k, is_none in names
            ),
        )


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
    read = _NodeReader(r)
    nodes = read.nodes(r.tables_at(_required(nodes_at, "Snapshot.nodes")))
    _, structs = r.struct_at(_required(files_at, "Snapshot.manifest_files"), _V1_FILE)
    files = tuple(ManifestFileInfo(ManifestId(i), size, n) for i, size, n in structs)
    if files_v2_at:  # spec v2 leaves manifest_files empty
        files += tuple(map(read.manifest_file, r.tables_at(files_v2_at)))
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


class _NodeReader:
    """Reads node tables; equal shapes and manifest refs share one (immutable) object."""

    def __init__(self, r: Reader) -> None:
        self.r = r
        self.shapes: dict[tuple[tuple[int, int], ...], tuple[DimensionShape, ...]] = {}
        self.refs: dict[bytes, ManifestRef] = {}

    def nodes(self, positions: list[int]) -> tuple[NodeSnapshot, ...]:
        table, string_at, bytes_at, array = (
            self.r.table,
            self.r.string_at,
            self.r.bytes_at,
            self.array,
        )
        out = []
        for pos in positions:
            node_id, path_at, user_data_at, kind, data_at = table(pos, _NODE_SPEC)
            if node_id is None or not (path_at and user_data_at and data_at):
                raise FormatError(f"node table at {pos} lacks a required field")
            # The unpack yields exactly 8 bytes, so the id needs no length check.
            node_id = bytes.__new__(NodeId, node_id)
            path, user_data = string_at(path_at), bytes_at(user_data_at)
            if kind == _UNION_ARRAY:
                out.append(NodeSnapshot(node_id, path, user_data, array(data_at)))
            elif kind == _UNION_GROUP:
                table(data_at, _EMPTY_SPEC)
                out.append(NodeSnapshot(node_id, path, user_data))
            else:
                raise FormatError(f"node {path!r} has unknown node data type {kind}")
        return tuple(out)

    def array(self, pos: int) -> ArrayNodeData:
        r = self.r
        shape_at, names_at, refs_at, shape_v2_at = r.table(pos, _ARRAY_SPEC)
        if not (shape_at and refs_at):
            raise FormatError(f"array table at {pos} lacks its shape or manifests")
        if shape_v2_at:
            key = tuple(r.table_vector(shape_v2_at, _DIM_SPEC))
        else:
            pairs = r.struct_at(shape_at, _V1_DIM)[1]
            key = tuple((n, -(-n // c) if c else 0) for n, c in pairs)
        shape = self.shapes.get(key)
        if shape is None:
            shape = self.shapes[key] = tuple(DimensionShape(n, c) for n, c in key)
        names = None
        if names_at:
            string_at = r.string_at
            names = tuple(
                [string_at(at) if at else None for (at,) in r.table_vector(names_at, _NAME_SPEC)]
            )
        return ArrayNodeData(shape, names, self.manifest_refs(refs_at))

    def manifest_refs(self, pos: int) -> tuple[ManifestRef, ...]:
        bytes_at, cache, out = self.r.bytes_at, self.refs, []
        for object_id, extents_at in self.r.table_vector(pos, _REF_SPEC):
            if object_id is None or not extents_at:
                raise FormatError("a manifest ref lacks its object id or extents")
            raw = bytes_at(extents_at, 8)
            ref = cache.get(object_id + raw)
            if ref is None:
                pairs = tuple(_EXTENT.iter_unpack(raw))
                ref = cache[object_id + raw] = ManifestRef(ManifestId(object_id), pairs)
            out.append(ref)
        return tuple(out)

    def manifest_file(self, pos: int) -> ManifestFileInfo:
        object_id, size, count = self.r.table(pos, _FILE_SPEC)
        return ManifestFileInfo(
            ManifestId(_required(object_id, "ManifestFileInfoV2.id")), size, count
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
