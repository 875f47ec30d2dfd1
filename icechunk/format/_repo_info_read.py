"""Reader of the repo file payload, with ``struct`` over the buffer.

Each distinct vtable is compiled once into a ``struct`` that unpacks all of a table's
present fields in one call, so the ten thousand snapshot tables of a large repository
cost a handful of C calls each. Every position is bounds-checked; anything malformed is
a :class:`FormatError` (the caller converts stray ``struct.error``/``ValueError`` too).
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Mapping
from itertools import pairwise
from operator import itemgetter
from typing import Any

import numpy as np
from numpy.typing import NDArray

from icechunk.errors import ErrorKind, FormatError
from icechunk.format import _repo_info_schema as s
from icechunk.format import flexbuf
from icechunk.format._fb import Table, root_table
from icechunk.format._repo_snapshots import Columns, SnapshotMap, copy_json
from icechunk.format.ids import SnapshotId
from icechunk.format.metadata import decode_value
from icechunk.format.model import (
    RepoAvailability,
    RepoInfo,
    RepoStatusData,
    UpdateKind,
    UpdateRecord,
)

__all__ = ["read_payload"]

_I32 = struct.Struct("<i")
_U32 = struct.Struct("<I")
_VT_HEAD = struct.Struct("<HH")
_DEFAULTS = {"12s": None, "i": 0, "I": 0, "Q": 0, "B": 0, "H": 0, "?": False}
_UNION_CODES = {"S": "I", "T": "I", "D": "12s"}
# A bytes subclass built without ObjectId's (redundant) length check.
_new_id: Callable[[type[SnapshotId], bytes], SnapshotId] = bytes.__new__


def corrupt(what: str) -> FormatError:
    """The error for a structurally invalid repo file."""
    return FormatError(f"corrupt repo file: {what}")


class _TableType:
    """Struct codes of a table's slots (``"I"`` for uoffsets) and its required slots."""

    __slots__ = ("codes", "name", "required")

    def __init__(self, name: str, codes: tuple[str, ...], required: tuple[int, ...] = ()) -> None:
        self.name = name
        self.codes = codes
        self.required = required


_SNAPSHOT = _TableType("SnapshotInfo", ("12s", "i", "Q", "I", "I", "I"), (0, 3))
_REF = _TableType("Ref", ("I", "I"), (0,))
_ITEM = _TableType("MetadataItem", ("I", "I"), (0, 1))
_UPDATE = _TableType("Update", ("B", "I", "Q", "I"), (0, 1))
_STATUS = _TableType("RepoStatus", ("B", "Q", "I"))
_UNIONS = {
    kind: _TableType(
        kind.name,
        tuple(_UNION_CODES.get(code, code) for _, _, code in spec),
        tuple(slot for slot, _, code in spec if code in "SD"),
    )
    for kind, spec in s.UPDATE_FIELDS.items()
}

# (struct of the present fields, reorder into slot order, defaults, field offsets)
_Compiled = tuple[
    struct.Struct, Callable[[tuple[Any, ...]], tuple[Any, ...]], tuple[Any, ...], tuple[int, ...]
]


def _compile(buf: bytes, vt: int, ttype: _TableType) -> _Compiled:
    if vt < 0 or vt + 4 > len(buf):
        raise corrupt(f"{ttype.name} vtable offset {vt} is outside the buffer")
    vt_len, table_size = _VT_HEAD.unpack_from(buf, vt)
    if vt_len < 4 or vt_len % 2 or vt + vt_len > len(buf) or table_size < 4:
        raise corrupt(f"invalid {ttype.name} vtable at {vt}")
    nslots = len(ttype.codes)
    rel = struct.unpack_from(f"<{(vt_len - 4) // 2}H", buf, vt + 4)[:nslots]
    rel += (0,) * (nslots - len(rel))
    for slot in ttype.required:
        if not rel[slot]:
            raise FormatError(f"required field {ttype.name}.{slot} is missing: corrupt file")
    fmt, cursor = ["<"], 0
    order: dict[int, int] = {}
    for off, slot in sorted((off, slot) for slot, off in enumerate(rel) if off):
        size = struct.calcsize("<" + ttype.codes[slot])
        if off < max(cursor, 4) or off + size > table_size:
            raise corrupt(f"{ttype.name} field at offset {off} overlaps or overruns its table")
        fmt.append(f"{off - cursor}x{ttype.codes[slot]}")
        order[slot] = len(order)
        cursor = off + size
    present = len(order)
    defaults = (*(_DEFAULTS[code] for code in ttype.codes), None)
    if not nslots:
        return struct.Struct("".join(fmt)), _no_fields, defaults, rel
    # Two or more indices, so the getter returns a tuple (the last item is unused).
    getter = itemgetter(*(order.get(i, present + i) for i in range(nslots)), present + nslots)
    return struct.Struct("".join(fmt)), getter, defaults, rel


def _no_fields(_values: tuple[Any, ...]) -> tuple[Any, ...]:
    return ()


def _gather(arr: NDArray[np.uint8], pos: NDArray[np.int64], dtype: str) -> NDArray[Any]:
    """The little-endian scalars of type ``dtype`` stored at each of ``pos``."""
    width = np.dtype(dtype).itemsize
    if len(pos) and (pos.min() < 0 or pos.max() + width > len(arr)):
        raise corrupt("a field lies outside the buffer")
    if not (pos % width).any():  # aligned, as flatbuffers lays scalars out: one view
        aligned: NDArray[Any] = arr[: len(arr) - len(arr) % width].view(dtype)[pos // width]
        return aligned
    out: NDArray[Any] = arr[pos[:, None] + np.arange(width)].view(dtype).ravel()
    return out


def _check_id_order(rows: NDArray[np.uint8]) -> None:
    """Raise unless the (n, 12) id rows are strictly increasing as byte strings."""
    if len(rows) < 2:
        return
    high = rows[:, :8].copy().view(">u8").ravel()
    low = rows[:, 8:].copy().view(">u4").ravel()
    later = (high[1:] > high[:-1]) | ((high[1:] == high[:-1]) & (low[1:] > low[:-1]))
    if not later.all():
        raise corrupt("snapshots are not sorted by id (or an id repeats)")


def read_payload(buf: bytes) -> RepoInfo:
    """Decode the flatbuffer payload of a repo file."""
    return _Reader(buf).repo()


class _Reader:
    def __init__(self, buf: bytes) -> None:
        self.buf = buf
        self.size = len(buf)
        self.array = np.frombuffer(buf, dtype=np.uint8)
        self.compiled: dict[tuple[int, _TableType], _Compiled] = {}
        self.values: dict[bytes, Any] = {}
        self.md_vectors: dict[int, list[tuple[str, Any, bool]]] = {}
        self.md_items: dict[int, tuple[str, Any, bool]] = {}

    # ------------------------------------------------------------ primitives
    def compile(self, vt: int, ttype: _TableType) -> _Compiled:
        """The compiled reader of tables of ``ttype`` using the vtable at ``vt``."""
        c = self.compiled.get((vt, ttype))
        if c is None:
            c = self.compiled[vt, ttype] = _compile(self.buf, vt, ttype)
        return c

    def read(self, tpos: int, ttype: _TableType) -> tuple[tuple[Any, ...], tuple[int, ...]]:
        """A table's values in slot order (uoffsets raw) and its field offsets."""
        st, get, defaults, rel = self.compile(tpos - _I32.unpack_from(self.buf, tpos)[0], ttype)
        return get(st.unpack_from(self.buf, tpos) + defaults), rel

    def string_at(self, p: int) -> str:
        """The string whose length prefix is at ``p``."""
        end = p + 4 + _U32.unpack_from(self.buf, p)[0]
        if end > self.size:
            raise corrupt(f"string at {p} overruns the buffer")
        return self.buf[p + 4 : end].decode("utf-8")

    def span(self, vec: int, elem: int) -> tuple[int, int]:
        """``(first element, count)`` of the vector whose length prefix is at ``vec``."""
        n = _U32.unpack_from(self.buf, vec)[0]
        if vec + 4 + n * elem > self.size:
            raise corrupt(f"vector at {vec} overruns the buffer")
        return vec + 4, n

    def tables(self, vec: int) -> list[int]:
        """Absolute positions of the tables of the vector at ``vec``."""
        start, n = self.span(vec, 4)
        offs = struct.unpack_from(f"<{n}I", self.buf, start)
        return [start + 4 * i + o for i, o in enumerate(offs)]

    # ------------------------------------------------------------ whole file
    def repo(self) -> RepoInfo:
        root = root_table(self.buf)
        spec = root.u8(s.SPEC)
        if spec != s.REPO_SPEC_VERSION:
            raise FormatError(
                f"repo file has spec version {spec}; this pyicechunk reads version "
                f"{s.REPO_SPEC_VERSION} repo files",
                ErrorKind.UNSUPPORTED_SPEC_VERSION,
            )

        def child(slot: int, name: str) -> int:
            at = root.field_pos(slot)
            if not at:
                raise FormatError(f"required field Repo.{name} is missing: corrupt file")
            return at + int(_U32.unpack_from(self.buf, at)[0])

        snapshots = self.snapshots(child(s.SNAPSHOTS, "snapshots"))
        meta_at = root.field_pos(s.METADATA)
        return RepoInfo(
            branches=self.refs(child(s.BRANCHES, "branches"), snapshots.columns, "branches"),
            tags=self.refs(child(s.TAGS, "tags"), snapshots.columns, "tags"),
            deleted_tags=frozenset(self.deleted_tags(root)),
            snapshots=snapshots,
            status=self.status(child(s.STATUS, "status")),
            latest_updates=self.updates(child(s.UPDATES, "latest_updates")),
            metadata=self.metadata(meta_at + _U32.unpack_from(self.buf, meta_at)[0])
            if meta_at
            else {},
            repo_before_updates=root.string(s.BEFORE),
            config=_config(root.bytes_vector(s.CONFIG)),
            enabled_feature_flags=_flags(root, s.ENABLED, "enabled"),
            disabled_feature_flags=_flags(root, s.DISABLED, "disabled"),
            spec_version=spec,
        )

    def deleted_tags(self, root: Table) -> list[str]:
        names = root.string_vector(s.DELETED_TAGS)
        if names is None:
            raise FormatError("required field Repo.deleted_tags is missing: corrupt file")
        _check_sorted(names, "deleted tags")
        return names

    # ------------------------------------------------------------ snapshots
    def snapshots(self, vec: int) -> SnapshotMap:
        """Validate every SnapshotInfo, vectorised over the tables that share a vtable.

        Entries are built on demand by the returned map; messages, parents and metadata
        are all checked here, so a corrupt file fails on open, not on a later lookup.
        """
        buf, arr = self.buf, self.array
        start, n = self.span(vec, 4)
        tpos = start + 4 * np.arange(n, dtype=np.int64) + np.frombuffer(buf, "<u4", n, start)
        vts = tpos - _gather(arr, tpos, "<i4")
        at = np.zeros((len(_SNAPSHOT.codes), n), dtype=np.int64)  # field positions; 0: absent
        order = np.argsort(vts, kind="stable")  # group the tables by vtable
        for group in np.split(order, np.flatnonzero(np.diff(vts[order])) + 1):
            if not len(group):
                continue
            rel = self.compile(int(vts[group[0]]), _SNAPSHOT)[3]
            for slot, off in enumerate(rel):
                if off:
                    at[slot, group] = tpos[group] + off
        id_rows = arr[at[s.SNAP_ID][:, None] + np.arange(s.ID_SIZE)]
        _check_id_order(id_rows)
        parents = self.optional(at[s.SNAP_PARENT], "<i4").astype(np.int64)
        if n and (parents.min() < -1 or parents.max() >= n):
            raise corrupt("a snapshot parent_offset is out of range")
        if not s.is_acyclic(parents):
            raise corrupt("snapshot parent links form a cycle")
        msg = self.deref_all(at[s.SNAP_MESSAGE])
        msg_len = _gather(arr, msg, "<u4").astype(np.int64)
        if n and (msg + 4 + msg_len).max() > self.size:
            raise corrupt("a commit message overruns the buffer")
        starts = msg + 4
        self.check_utf8(starts, msg_len)
        md_group, md = self.metadata_groups(at[s.SNAP_METADATA])
        present = np.flatnonzero(at[s.SNAP_PRUNED])
        pruned_at = self.deref_all(at[s.SNAP_PRUNED][present])
        cols = Columns(
            ids=id_rows,
            parents=parents,
            flushed=self.optional(at[s.SNAP_FLUSHED], "<u8"),
            text=buf,
            msg_start=starts,
            msg_len=msg_len,
            md_group=md_group,
            md=md,
            pruned={
                i: self.id_vector(v)
                for i, v in zip(present.tolist(), pruned_at.tolist(), strict=True)
            },
        )
        return SnapshotMap(cols)

    def check_utf8(self, starts: NDArray[np.int64], lens: NDArray[np.int64]) -> None:
        """Raise unless every ``buf[start : start + len]`` is UTF-8 (ASCII ones in bulk)."""
        total = int(lens.sum())
        if not total:
            return
        done = np.cumsum(lens) - lens
        text = self.array[np.repeat(starts - done, lens) + np.arange(total, dtype=np.int64)]
        if text.max() < 0x80:
            return
        nonempty = np.flatnonzero(lens)
        high = np.maximum.reduceat(text, done[nonempty]) >= 0x80
        for i in nonempty[high].tolist():
            a = int(starts[i])
            self.buf[a : a + int(lens[i])].decode("utf-8")

    def metadata_groups(
        self, fields: NDArray[np.int64]
    ) -> tuple[NDArray[np.int64], list[Mapping[str, Any]]]:
        """Each snapshot's metadata as an index into the distinct decoded vectors.

        Distinct vectors are numbered in order of first use, so re-encoding lays them out
        as if every entry had been written one by one.
        """
        n = len(fields)
        vecs = np.zeros(n, dtype=np.int64)  # 0: absent or empty
        present = np.flatnonzero(fields)
        where = self.deref_all(fields[present])
        nonempty = _gather(self.array, where, "<u4") > 0
        vecs[present[nonempty]] = where[nonempty]
        if not n:
            return np.zeros(0, dtype=np.int64), []
        order = np.argsort(vecs, kind="stable")
        ordered = vecs[order]
        change = ordered[1:] != ordered[:-1]
        starts = np.flatnonzero(np.concatenate([[True], change]))
        by_use = np.argsort(order[starts], kind="stable")  # distinct values by first use
        rank = np.empty(len(starts), dtype=np.int64)
        rank[by_use] = np.arange(len(starts))
        md_group = np.empty(n, dtype=np.int64)
        md_group[order] = rank[np.cumsum(np.concatenate([[0], change]))]
        md: list[Mapping[str, Any]] = [
            self.metadata(v) if v else {} for v in ordered[starts][by_use].tolist()
        ]
        return md_group, md

    def deref_all(self, fields: NDArray[np.int64]) -> NDArray[np.int64]:
        """Targets of the uoffsets stored at ``fields`` (all present)."""
        out: NDArray[np.int64] = fields + _gather(self.array, fields, "<u4").astype(np.int64)
        return out

    def optional(self, fields: NDArray[np.int64], dtype: str) -> NDArray[Any]:
        """Scalars stored at ``fields``; 0 where the field is absent."""
        out = np.zeros(len(fields), dtype=dtype)
        present = fields > 0
        out[present] = _gather(self.array, fields[present], dtype)
        return out

    def id_vector(self, vec: int) -> tuple[SnapshotId, ...]:
        start, n = self.span(vec, s.ID_SIZE)
        buf = self.buf
        return tuple(
            _new_id(SnapshotId, buf[p : p + s.ID_SIZE])
            for p in range(start, start + n * s.ID_SIZE, s.ID_SIZE)
        )

    def metadata(self, vec: int) -> dict[str, Any]:
        """Decode the ``[MetadataItem]`` vector at ``vec``.

        Shared vectors and items (our writer shares identical ones) are decoded once;
        every caller still gets its own mutable copy.
        """
        if not _U32.unpack_from(self.buf, vec)[0]:
            return {}
        items = self.md_vectors.get(vec)
        if items is None:
            items = self.md_vectors[vec] = [self.item(tpos) for tpos in self.tables(vec)]
        return {name: copy_json(value) if mutable else value for name, value, mutable in items}

    def item(self, tpos: int) -> tuple[str, Any, bool]:
        """``(name, value, value is a container)`` of the MetadataItem at ``tpos``."""
        found = self.md_items.get(tpos)
        if found is None:
            (name, value, _), rel = self.read(tpos, _ITEM)
            start, n = self.span(tpos + rel[1] + value, 1)
            try:
                decoded = self.values[self.buf[start : start + n]]
            except KeyError:
                raw = self.buf[start : start + n]
                decoded = self.values[raw] = decode_value(raw, s.REPO_SPEC_VERSION)
            text = self.string_at(tpos + rel[0] + name)
            found = self.md_items[tpos] = (text, decoded, isinstance(decoded, dict | list))
        return found

    # ------------------------------------------------------------ refs and status
    def refs(self, vec: int, ids: Columns, what: str) -> dict[str, SnapshotId]:
        out: dict[str, SnapshotId] = {}
        names = []
        for tpos in self.tables(vec):
            (name, index, _), rel = self.read(tpos, _REF)
            if index >= len(ids):
                raise corrupt(f"a ref in {what} points to snapshot {index} of {len(ids)}")
            names.append(self.string_at(tpos + rel[0] + name))
            out[names[-1]] = ids.id_at(index)
        _check_sorted(names, what)
        return out

    def status(self, tpos: int) -> RepoStatusData:
        (availability, set_at, reason, _), rel = self.read(tpos, _STATUS)
        try:
            avail = RepoAvailability(availability)
        except ValueError:
            raise corrupt(f"unknown repo availability {availability}") from None
        text = self.string_at(tpos + rel[2] + reason) if reason else None
        return RepoStatusData(avail, set_at, text)

    # ------------------------------------------------------------ ops log
    def updates(self, vec: int) -> tuple[UpdateRecord, ...]:
        out = []
        for tpos in self.tables(vec):
            (type_id, value, updated_at, backup, _), rel = self.read(tpos, _UPDATE)
            kind = s.KIND_BY_ID.get(type_id)
            if kind is None or not value:
                raise corrupt(f"ops-log entry has unknown or missing update type {type_id}")
            backup_path = self.string_at(tpos + rel[3] + backup) if backup else None
            fields = self.union(kind, tpos + rel[1] + value)
            out.append(UpdateRecord(kind, updated_at, backup_path, **fields))
        return tuple(out)

    def union(self, kind: UpdateKind, tpos: int) -> dict[str, Any]:
        values, rel = self.read(tpos, _UNIONS[kind])
        out: dict[str, Any] = {}
        for (slot, attr, code), value in zip(s.UPDATE_FIELDS[kind], values, strict=False):
            if code == "S":
                out[attr] = self.string_at(tpos + rel[slot] + value)
            elif code == "D":
                out[attr] = _new_id(SnapshotId, value)
            elif code == "T":
                out[attr] = self.status(tpos + rel[slot] + value) if value else None
            else:
                out[attr] = value
        return out


def _check_sorted(names: list[str], what: str) -> None:
    # Code-point order of valid strings equals the byte order of their UTF-8.
    if not all(a < b for a, b in pairwise(names)):
        raise corrupt(f"{what} are not sorted by name (or a name repeats)")


def _flags(root: Table, slot: int, what: str) -> tuple[int, ...]:
    flags = root.scalar_vector(slot, "H") or []
    if not all(a < b for a, b in pairwise(flags)):
        raise corrupt(f"{what} feature flags are not sorted (or repeat)")
    return tuple(flags)


def _config(raw: bytes | None) -> dict[str, Any] | None:
    if raw is None:
        return None
    try:
        config = flexbuf.loads(raw)
    except Exception as exc:  # the FlexBuffers reader raises many unrelated types
        raise corrupt(f"undecodable config: {exc}") from exc
    if not isinstance(config, dict):
        raise corrupt(f"config is a {type(config).__name__}, not a map")
    return config
