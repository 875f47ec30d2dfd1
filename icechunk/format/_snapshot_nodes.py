"""Node tables of snapshot files: pre-laid-out node blocks and a vectorised reader.

Writing: each node becomes one block (node table, array data, dimension tables, manifest
refs, names, then its strings and zarr.json) packed by a single ``struct`` call whose
format and internal offsets are computed once per array "shape class" (an
:class:`_ArrayPlan`). Reading: each table field is gathered for all nodes at once with
numpy (:class:`~icechunk.format._flat.VectorReader`); only object construction is
per node.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np

from icechunk.errors import FormatError
from icechunk.format._flat import I64, VectorReader, Writer, layout
from icechunk.format.ids import ManifestId, NodeId
from icechunk.format.model import (
    ArrayNodeData,
    DimensionShape,
    ManifestFileInfo,
    ManifestRef,
    NodeSnapshot,
)

__all__ = ["NodeWriter", "read_manifest_files_v2", "read_nodes"]

_PACK_U32 = struct.Struct("<I").pack
_EXTENT = struct.Struct("<II")
_UNION_ARRAY, _UNION_GROUP = 1, 2

# Table layouts (offset slots in storage order, (slot, struct code) inline scalars).
_NODE = layout((1, 2, 4), ((0, "8s"), (3, "B")))  # path@4 user_data@8 data@12 id@16
_EMPTY = layout((), ())
_ARRAY_NAMED = layout((0, 1, 2, 3), ())
_ARRAY_UNNAMED = layout((0, 2, 3), ())
_DIM_SHAPE = layout((), ((1, "I"), (0, "Q")))
_DIM_NAME = layout((0,), ())
_MANIFEST_REF = layout((1,), ((0, "12s"),))


# ------------------------------------------------------------------ writing
_NUL_PADS = [bytes(1 + (-(n + 5) % 4)) for n in range(4)]


def _string_piece(raw: bytes) -> bytes:
    """A flatbuffer string (length, UTF-8 bytes, NUL), padded to a multiple of 4 bytes."""
    return _PACK_U32(len(raw)) + raw + _NUL_PADS[len(raw) % 4]


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
        """Append fields in ``struct`` notation at the current position."""
        self.fmt += code
        self.k += struct.calcsize("<" + code)


class NodeWriter:
    """Writes nodes as self-contained blocks; plans are cached per array shape.

    Parameters
    ----------
    w
        The writer of the snapshot buffer; nodes are appended to it.
    """

    def __init__(self, w: Writer) -> None:
        self.w = w
        self.group = 0  # the GroupNodeData table all groups share, written on first use
        self.plans: dict[tuple[Any, ...], _ArrayPlan] = {}
        self.unnamed: dict[tuple[str | None, ...], tuple[bool, ...]] = {}

    def write_all(self, nodes: Iterable[NodeSnapshot]) -> list[int]:
        """Write every node, returning their offsets in order."""
        return [self.write(node) for node in nodes]

    def write(self, node: NodeSnapshot) -> int:
        """Write one node (and its array data) as a block, returning its offset."""
        array = node.array
        if array is None:
            return self._write_group(node)
        names = array.dimension_names
        unnamed = None
        if names is not None:
            unnamed = self.unnamed.get(names)
            if unnamed is None:
                unnamed = self.unnamed[names] = tuple([n is None for n in names])
        key = (len(array.shape), len(array.manifests), unnamed)
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


# ------------------------------------------------------------------ reading
def read_nodes(v: VectorReader, vector_at: int) -> tuple[NodeSnapshot, ...]:
    """Every node of the ``[NodeSnapshot]`` vector at ``vector_at``, in file order."""
    tables, _ = v.table_vectors(np.array([vector_at], dtype=np.int64))
    f = v.fields(tables, 5)
    if not (f[:, [0, 1, 2, 4]] > 0).all():
        raise FormatError("a node table lacks its id, path, user data or node data")
    ids = v.rows(f[:, 0], 8)
    paths = v.byte_slices(v.deref(f[:, 1]))
    user_data = v.byte_slices(v.deref(f[:, 2]))
    kinds, data = v.u8(f[:, 3]), v.deref(f[:, 4])
    if not np.isin(kinds, (_UNION_ARRAY, _UNION_GROUP)).all():
        raise FormatError("a node has an unknown node data type")
    is_array = kinds == _UNION_ARRAY
    v.fields(data[~is_array], 0)  # group data must at least be a valid (empty) table
    arrays = iter(_read_arrays(v, data[is_array]))
    new = bytes.__new__  # ids come from fixed 8-byte slices: no length check needed
    return tuple(
        NodeSnapshot(
            new(NodeId, ids[8 * i : 8 * i + 8]), path.decode(), ud, next(arrays) if arr else None
        )
        for i, (path, ud, arr) in enumerate(zip(paths, user_data, is_array.tolist(), strict=True))
    )


def _read_arrays(v: VectorReader, tables: I64) -> list[ArrayNodeData]:
    f = v.fields(tables, 4)
    if not ((f[:, 0] > 0) & (f[:, 2] > 0)).all():
        raise FormatError("an array table lacks its shape or manifests")
    shapes = _read_shapes(v, f[:, 0], f[:, 3])
    names = _read_names(v, f[:, 1])
    refs = _read_refs(v, v.deref(f[:, 2]))
    return [ArrayNodeData(*a) for a in zip(shapes, names, refs, strict=True)]


def _group(items: list[Any], bounds: I64) -> list[tuple[Any, ...]]:
    """Split ``items`` into per-vector tuples at ``bounds``."""
    b = bounds.tolist()
    return [tuple(items[b[i] : b[i + 1]]) for i in range(len(b) - 1)]


def _read_shapes(v: VectorReader, shape_at: I64, shape_v2_at: I64) -> list[Any]:
    """Spec v2 reads ``shape_v2``; spec v1 (no shape_v2) derives chunk counts from ``shape``."""
    v1_elems, v1_bounds = v.elements(v.deref(shape_at), 16)
    out: list[Any] = [None] * len(shape_at)
    cache: dict[tuple[tuple[int, int], ...], tuple[DimensionShape, ...]] = {}
    has_v2 = shape_v2_at > 0
    if has_v2.any():
        tables, bounds = v.table_vectors(v.deref(shape_v2_at[has_v2]))
        f = v.fields(tables, 2)
        pairs = list(zip(v.u64(f[:, 0]).tolist(), v.u32(f[:, 1]).tolist(), strict=True))
        for i, key in zip(np.flatnonzero(has_v2).tolist(), _group(pairs, bounds), strict=True):
            out[i] = _shape(cache, key)
    if not has_v2.all():
        lengths, chunks = v.u64(v1_elems).tolist(), v.u64(v1_elems + 8).tolist()
        pairs = [(n, -(-n // c) if c else 0) for n, c in zip(lengths, chunks, strict=True)]
        keys = _group(pairs, v1_bounds)
        for i in np.flatnonzero(~has_v2).tolist():
            out[i] = _shape(cache, keys[i])
    return out


def _shape(cache: dict[Any, tuple[DimensionShape, ...]], key: tuple[Any, ...]) -> Any:
    shape = cache.get(key)
    if shape is None:
        shape = cache[key] = tuple(DimensionShape(n, c) for n, c in key)
    return shape


def _read_names(v: VectorReader, names_at: I64) -> list[Any]:
    out: list[Any] = [None] * len(names_at)
    has = names_at > 0
    if has.any():
        tables, bounds = v.table_vectors(v.deref(names_at[has]))
        name_at = v.fields(tables, 1)[:, 0]
        texts: list[str | None] = [None] * len(tables)
        named = np.flatnonzero(name_at > 0)
        for j, raw in zip(named.tolist(), v.byte_slices(v.deref(name_at[named])), strict=True):
            texts[j] = raw.decode()
        for i, names in zip(np.flatnonzero(has).tolist(), _group(texts, bounds), strict=True):
            out[i] = names
    return out


def _read_refs(v: VectorReader, vectors_at: I64) -> list[tuple[Any, ...]]:
    tables, bounds = v.table_vectors(vectors_at)
    f = v.fields(tables, 2)
    if not (f > 0).all():
        raise FormatError("a manifest ref lacks its object id or extents")
    ids = v.rows(f[:, 0], 12)
    extents: dict[bytes, tuple[tuple[int, int], ...]] = {}  # equal extents share a tuple
    new = bytes.__new__  # ids come from fixed 12-byte slices: no length check needed
    refs = []
    for j, raw in enumerate(v.byte_slices(v.deref(f[:, 1]), 8)):
        pairs = extents.get(raw)
        if pairs is None:
            pairs = extents[raw] = tuple(_EXTENT.iter_unpack(raw))
        refs.append(ManifestRef(new(ManifestId, ids[12 * j : 12 * j + 12]), pairs))
    return _group(refs, bounds)


def read_manifest_files_v2(v: VectorReader, vector_at: int) -> tuple[ManifestFileInfo, ...]:
    """The ``[ManifestFileInfoV2]`` tables of the vector at ``vector_at``."""
    tables, _ = v.table_vectors(np.array([vector_at], dtype=np.int64))
    f = v.fields(tables, 3)
    if not (f[:, 0] > 0).all():
        raise FormatError("a manifest file entry lacks its id")
    ids = v.rows(f[:, 0], 12)
    sizes, counts = v.u64(f[:, 1]).tolist(), v.u32(f[:, 2]).tolist()
    new = bytes.__new__
    return tuple(
        ManifestFileInfo(new(ManifestId, ids[12 * i : 12 * i + 12]), size, count)
        for i, (size, count) in enumerate(zip(sizes, counts, strict=True))
    )
