"""Transaction-log files (file type 4): encode spec v2, decode spec v1 and v2.

A transaction log records what one commit changed, by node id: groups and arrays that
were created, deleted or had their zarr.json updated, the chunk coordinates written per
array and (spec v2) the nodes that were moved. Diff, rebase and conflict detection read
it; a snapshot and its log share one id.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable
from itertools import chain, pairwise

import numpy as np
import numpy.typing as npt

from icechunk.errors import FormatError, InternalError, InvalidInputError
from icechunk.format._flat import (
    Reader,
    TableSpec,
    VectorReader,
    Writer,
    as_format_error,
    layout,
)
from icechunk.format.header import FileType, decode_file, encode_file
from icechunk.format.ids import NodeId, SnapshotId
from icechunk.format.model import MoveRecord, NodeType, TransactionLog
from icechunk.format.snapshot import path_problem

__all__ = ["decode_transaction_log", "encode_transaction_log", "move_sort_key"]

_U32_MAX = 2**32 - 1
_ID_SETS = (
    "new_groups",
    "new_arrays",
    "deleted_groups",
    "deleted_arrays",
    "updated_arrays",
    "updated_groups",
)

# Encoder layouts (offset slots in storage order, inline scalars).
_LOG = layout((1, 2, 3, 4, 5, 6, 7, 8), ((0, "12s"),))
_UPDATED = layout((1,), ((0, "8s"),))
_CHUNK = layout((0,), ())
_MOVE = layout((0, 1), ((2, "8s"), (3, "B")))

# Decoder specs.
_LOG_SPEC = TableSpec("12s", "O", "O", "O", "O", "O", "O", "O", "O")
_MOVE_SPEC = TableSpec("O", "O", "8s", "B")


def move_sort_key(move: MoveRecord) -> list[str]:
    """Order of moves in a log: segment by segment of the destination path.

    Unlike the node order of snapshots, ``/a < /a/b < /a-b`` here.
    """
    return move.to_path.split("/")


# ------------------------------------------------------------------ encoding
def encode_transaction_log(
    log: TransactionLog, *, compression_level: int = 3, spec_version: int = 2
) -> bytes:
    """Serialize a transaction log as a complete file (header + zstd).

    Spec v1 has the same table without the trailing ``moved_nodes`` field, which v1
    readers skip, so one layout serves both; a v1 log may not hold moves.

    Node-id sets are written sorted by bytes, updated chunks by node id then coordinates
    (lexicographically), and moves by :func:`move_sort_key`.

    Raises
    ------
    InvalidInputError
        If an id has the wrong size, an array's chunk coordinates differ in length or
        fall outside ``0 .. 2**32-1``, or a move has an invalid path.
    """
    _check(log)
    if spec_version == 1 and log.moved_nodes:
        raise InvalidInputError("spec-v1 transaction logs cannot record moves")
    try:
        payload = _build(log)
    except (struct.error, OverflowError, TypeError, UnicodeEncodeError) as exc:
        raise InvalidInputError(f"cannot write transaction log {log.id}: {exc}") from exc
    return encode_file(
        FileType.TRANSACTION_LOG, payload, spec_version=spec_version, level=compression_level
    )


def _check(log: TransactionLog) -> None:
    def fail(problem: str) -> None:
        raise InvalidInputError(f"cannot write transaction log {log.id}: {problem}")

    if len(log.id) != SnapshotId.SIZE:
        fail("its id is not 12 bytes")
    for name in _ID_SETS:
        if any(len(node_id) != NodeId.SIZE for node_id in getattr(log, name)):
            fail(f"{name} holds an id that is not 8 bytes")
    for node_id, chunks in log.updated_chunks.items():
        if len(node_id) != NodeId.SIZE:
            fail("updated_chunks has a node id that is not 8 bytes")
        if len(set(map(len, chunks))) > 1:
            fail(f"array {node_id} has chunk coordinates of different lengths")
    for move in log.moved_nodes:
        problem = path_problem(move.from_path) or path_problem(move.to_path)
        if problem is not None:
            fail(problem)
        if len(move.node_id) != NodeId.SIZE:
            fail(f"the move to {move.to_path!r} has a node id that is not 8 bytes")


def _build(log: TransactionLog) -> bytes:
    w = Writer()
    id_sets = [_id_vector(w, getattr(log, name)) for name in _ID_SETS]
    updated = [
        w.table(_UPDATED, (_chunk_vector(w, log.updated_chunks[node_id]),), node_id)
        for node_id in sorted(log.updated_chunks, key=bytes)
    ]
    updated_at = w.offset_vector(updated)
    moves = [
        w.table(_MOVE, (w.string(m.from_path), w.string(m.to_path)), m.node_id, m.node_type)
        for m in sorted(log.moved_nodes, key=move_sort_key)
    ]
    moves_at = w.offset_vector(moves)
    return w.finish(w.table(_LOG, (*id_sets, updated_at, moves_at), log.id))


def _id_vector(w: Writer, ids: Iterable[bytes]) -> int:
    ordered = sorted(bytes(i) for i in ids)
    return w.vector(b"".join(ordered), len(ordered), 1)


def _chunk_vector(w: Writer, chunks: frozenset[tuple[int, ...]]) -> int:
    """Write one array's sorted ChunkIndices tables as a single block, then their vector.

    Each entry is a 2-field table (soffset, offset 4 to the vector right after it)
    followed by its ``[uint32]`` coordinates vector.
    """
    coords = _sorted_coords(chunks)
    n, ndim = coords.shape
    entry = 12 + 4 * ndim
    vtable = w.vtable(_CHUNK)
    end = w.block_end(n * entry, 4)
    starts = np.arange(n, dtype=np.int64) * entry
    rows = np.empty((n, 3 + ndim), dtype=np.int64)
    rows[:, 0] = vtable - end + starts  # soffset of each table
    rows[:, 1] = 4
    rows[:, 2] = ndim
    rows[:, 3:] = coords
    block = (rows & 0xFFFFFFFF).astype("<u4").tobytes()
    if w.block(block, 4) != end:
        raise InternalError("chunk block landed at an unexpected position")
    return w.offset_vector(end - starts)


def _sorted_coords(chunks: frozenset[tuple[int, ...]]) -> npt.NDArray[np.int64]:
    """Chunk coordinates as an ``(n, ndim)`` array in lexicographic order."""
    items = list(chunks)
    ndim = len(items[0]) if items else 0
    try:
        flat = np.fromiter(chain.from_iterable(items), dtype=np.int64, count=len(items) * ndim)
    except (OverflowError, ValueError, TypeError) as exc:
        raise InvalidInputError(f"invalid chunk coordinates: {exc}") from exc
    coords = flat.reshape(len(items), ndim)
    if coords.size and (coords.min() < 0 or coords.max() > _U32_MAX):
        raise InvalidInputError("a chunk index is outside 0..2**32-1")
    if ndim and len(items) > 1:
        coords = coords[np.lexsort(coords.T[::-1])]  # first column is the primary key
    return coords


# ------------------------------------------------------------------ decoding
def decode_transaction_log(data: bytes) -> TransactionLog:
    """Parse a transaction-log file of spec version 1 or 2 (v1 logs have no moves).

    Raises
    ------
    FormatError
        If the file is truncated, corrupt or of another file type.
    """
    _, payload = decode_file(data, FileType.TRANSACTION_LOG)
    with as_format_error("transaction log file"):
        return _parse(payload)


def _parse(buf: bytes) -> TransactionLog:
    r = Reader(buf)
    log_id, *sets_at, updated_at, moves_at = r.table(r.root(), _LOG_SPEC)
    if log_id is None or not all(sets_at) or not updated_at:
        raise FormatError("transaction log lacks a required field")
    new_groups, new_arrays, deleted_groups, deleted_arrays, updated_arrays, updated_groups = (
        _ids(r, at) for at in sets_at
    )
    updated = _updated_chunks(VectorReader(buf), updated_at)
    moves = tuple(_move(r, *m) for m in r.table_vector(moves_at, _MOVE_SPEC)) if moves_at else ()
    return TransactionLog(
        id=SnapshotId(log_id),
        new_groups=new_groups,
        new_arrays=new_arrays,
        deleted_groups=deleted_groups,
        deleted_arrays=deleted_arrays,
        updated_arrays=updated_arrays,
        updated_groups=updated_groups,
        updated_chunks=updated,
        moved_nodes=moves,
    )


def _updated_chunks(v: VectorReader, vector_at: int) -> dict[NodeId, frozenset[tuple[int, ...]]]:
    """Read every array's chunk coordinates at once (logs can list many thousands)."""
    tables, _ = v.table_vectors(np.array([vector_at], dtype=np.int64))
    f = v.fields(tables, 2)
    if not (f > 0).all():
        raise FormatError("an updated-chunks entry lacks its node id or chunks")
    node_ids = v.rows(f[:, 0], 8)
    chunk_tables, per_node = v.table_vectors(v.deref(f[:, 1]))
    coords_at = v.fields(chunk_tables, 1)[:, 0]
    if not (coords_at > 0).all():
        raise FormatError("a chunk entry lacks its coordinates")
    positions, per_chunk = v.elements(v.deref(coords_at), 4)
    values, bounds = v.u32(positions).tolist(), per_chunk.tolist()
    coords = [tuple(values[a:b]) for a, b in pairwise(bounds)]
    nodes = per_node.tolist()
    return {
        NodeId(node_ids[8 * i : 8 * i + 8]): frozenset(coords[nodes[i] : nodes[i + 1]])
        for i in range(len(tables))
    }


def _ids(r: Reader, pos: int) -> frozenset[NodeId]:
    raw = r.bytes_at(pos, NodeId.SIZE)
    return frozenset(NodeId(raw[i : i + 8]) for i in range(0, len(raw), 8))


def _move(r: Reader, from_at: int, to_at: int, node_id: bytes | None, kind: int) -> MoveRecord:
    if not (from_at and to_at) or node_id is None:
        raise FormatError("a move record lacks its paths or node id")
    move = MoveRecord(r.string_at(from_at), r.string_at(to_at), NodeId(node_id), NodeType(kind))
    problem = path_problem(move.from_path) or path_problem(move.to_path)
    if problem is not None:
        raise FormatError(f"invalid move record: {problem}")
    return move
