"""Writer of the repo file payload: a flatbuffer laid out by hand, front to back.

Parents are written before their children, so every uoffset points forward and is
patched in once the child's position is known; vtables are written once and shared.
Snapshot tables, which dominate the file, are packed in bulk with one ``struct`` call each.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Iterable, Mapping, Sequence
from itertools import accumulate
from typing import Any

import numpy as np
from numpy.typing import NDArray

from icechunk.errors import ErrorKind, InvalidInputError
from icechunk.format import _repo_info_schema as s
from icechunk.format import flexbuf
from icechunk.format._repo_snapshots import Columns
from icechunk.format.ids import SnapshotId
from icechunk.format.metadata import encode_value
from icechunk.format.model import (
    RepoAvailability,
    RepoInfo,
    RepoStatusData,
    UpdateKind,
    UpdateRecord,
)

__all__ = ["write_payload"]

_U32 = struct.Struct("<I")
_ALIGN = {"D": 1, "B": 1, "?": 1, "H": 2, "Q": 8}  # everything else: 4
_STRUCT_CODE = {"S": "I", "T": "I", "O": "I", "D": "12s"}
_PAD = (b"", b"\0", b"\0\0", b"\0\0\0", b"\0\0\0\0")
# Scalars cached by (type, value): the type keeps True, 1 and 1.0 apart.
_HASHED = frozenset((str, int, bool, type(None)))

# SnapshotInfo, hand-laid: soffset, parent_offset, flushed_at, id, message, metadata,
# pruned_ancestor_tx_logs; 40 bytes at 8-aligned positions.
_SNAP = struct.Struct("<iiQ12sIII")
_SNAP_SIZE = _SNAP.size
_SNAP_VT = struct.pack("<HH6H", 16, _SNAP_SIZE, 16, 4, 8, 28, 32, 36)
_SNAP_VT_NO_PRUNED = struct.pack("<HH5H", 14, _SNAP_SIZE, 16, 4, 8, 28, 32)
_SNAP_DTYPE = np.dtype(
    [("vt", "<i4"), ("parent", "<i4"), ("flushed", "<u8"), ("id", "V12"),
     ("msg", "<u4"), ("md", "<u4"), ("pruned", "<u4")]
)  # fmt: skip
assert _SNAP_DTYPE.itemsize == _SNAP_SIZE


class _Layout:
    """Vtable and struct of a table whose fields are placed in the given order."""

    __slots__ = ("align", "at", "struct", "vtable")

    def __init__(self, fields: tuple[tuple[int, str], ...]) -> None:
        fmt = ["<i"]
        self.at: dict[int, int] = {}
        cursor = 4
        for slot, code in fields:
            pad = -cursor % _ALIGN.get(code, 4)
            fmt.append(f"{pad}x{_STRUCT_CODE.get(code, code)}")
            self.at[slot] = cursor = cursor + pad
            cursor += s.CODE_SIZE[code]
        self.align = max([4] + [_ALIGN.get(code, 4) for _, code in fields])
        size = cursor + (-cursor % self.align)
        fmt.append(f"{size - cursor}x")
        nslots = max(self.at, default=-1) + 1
        offsets = [self.at.get(slot, 0) for slot in range(nslots)]
        self.vtable = struct.pack(f"<HH{nslots}H", 4 + 2 * nslots, size, *offsets)
        self.struct = struct.Struct("".join(fmt))


_LAYOUTS: dict[tuple[tuple[int, str], ...], _Layout] = {}
_UNION_LAYOUTS: dict[s.FieldSpec, _Layout] = {}


def _layout(fields: tuple[tuple[int, str], ...]) -> _Layout:
    lay = _LAYOUTS.get(fields)
    if lay is None:
        lay = _LAYOUTS[fields] = _Layout(fields)
    return lay


_REF = _layout(((0, "O"), (1, "I")))
_ITEM = _layout(((0, "O"), (1, "O")))
_STATUS = _layout(((1, "Q"), (0, "B")))
_STATUS_REASON = _layout(((2, "O"), (1, "Q"), (0, "B")))
_UPDATE = _layout(((s.UPD_VALUE, "O"), (s.UPD_TIME, "Q"), (s.UPD_TYPE, "B")))
_UPDATE_BACKUP = _layout(
    ((s.UPD_VALUE, "O"), (s.UPD_TIME, "Q"), (s.UPD_BACKUP, "O"), (s.UPD_TYPE, "B"))
)
# Both Update layouts are 24 bytes with the union value at offset 4, so they can share
# one region; union tables (4-aligned, sizes multiples of 4) follow back to back.
_UPDATE_SIZE = _UPDATE.struct.size
_UPDATE_VALUE_AT = _UPDATE.at[s.UPD_VALUE]
assert _UPDATE_BACKUP.struct.size == _UPDATE_SIZE
assert _UPDATE_BACKUP.at[s.UPD_VALUE] == _UPDATE_VALUE_AT


def utf8(text: object, what: str) -> bytes:
    """UTF-8 bytes of a name or message, or :class:`InvalidInputError`."""
    if not isinstance(text, str):
        raise InvalidInputError(f"{what} must be a string, got {type(text).__name__}")
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise InvalidInputError(f"{what} {text!r} is not valid UTF-8: {exc}") from exc


class _Buffer:
    """The growing buffer with its primitive writers."""

    __slots__ = ("_name_cache", "_value_cache", "_vtables", "data")

    def __init__(self) -> None:
        self.data = bytearray(b"\0\0\0\0Ichk")  # root uoffset, file identifier
        self._vtables: dict[bytes, int] = {}
        self._value_cache: dict[tuple[type, object], bytes] = {}
        self._name_cache: dict[str, bytes] = {}

    def align(self, n: int) -> None:
        self.data += _PAD[-len(self.data) % n] if n <= 4 else bytes(-len(self.data) % n)

    def vtable(self, vt: bytes) -> int:
        pos = self._vtables.get(vt)
        if pos is None:
            self.align(2)
            pos = self._vtables[vt] = len(self.data)
            self.data += vt
        return pos

    def table(self, lay: _Layout, values: Iterable[Any], what: str) -> int:
        """Append a table; ``values`` follow the layout's fields (0 for uoffsets)."""
        vt = self.vtable(lay.vtable)
        self.align(lay.align)
        pos = len(self.data)
        try:
            self.data += lay.struct.pack(pos - vt, *values)
        except struct.error as exc:
            raise InvalidInputError(f"{what}: value out of range ({exc})") from exc
        return pos

    def patch(self, at: int, target: int) -> None:
        _U32.pack_into(self.data, at, target - at)

    def string(self, raw: bytes) -> int:
        self.align(4)
        pos = len(self.data)
        self.data += _U32.pack(len(raw)) + raw + b"\0"
        return pos

    def blob(self, raw: bytes, data_align: int = 4, elem_size: int = 1) -> int:
        """A vector of ``elem_size``-byte elements whose data starts ``data_align``-aligned."""
        self.align(4)
        while (len(self.data) + 4) % data_align:
            self.data += _PAD[4]
        pos = len(self.data)
        self.data += _U32.pack(len(raw) // elem_size) + raw
        return pos

    def offset_vector(self, n: int) -> int:
        """A vector of ``n`` uoffsets to be filled by :meth:`fill_vector`."""
        self.align(4)
        pos = len(self.data)
        self.data += _U32.pack(n) + bytes(4 * n)
        return pos

    def fill_vector(self, vec: int, targets: Sequence[int] | NDArray[np.int64]) -> None:
        first = vec + 4
        rel = np.asarray(targets, dtype=np.int64) - first - 4 * np.arange(len(targets))
        self.data[first : first + 4 * len(rel)] = rel.astype("<u4").tobytes()

    def strings(self, raws: Sequence[bytes]) -> int:
        """A ``[string]`` vector; the strings are laid out in one go after it."""
        vec = self.offset_vector(len(raws))
        self.fill_vector(vec, self.string_block(raws))
        return vec

    def string_block(self, raws: Sequence[bytes]) -> list[int]:
        """Append strings back to back (each 4-aligned); return their positions."""
        self.align(4)
        sizes = [(len(raw) + 8) & ~3 for raw in raws]  # length, bytes, NUL, padding
        positions = list(accumulate(sizes, initial=len(self.data)))
        pieces: list[bytes] = []
        pack = _U32.pack
        for raw, size in zip(raws, sizes, strict=True):
            pieces += (pack(len(raw)), raw, _PAD[size - 4 - len(raw)])
        self.data += b"".join(pieces)
        return positions[:-1]

    def string_columns(
        self, text: bytes, starts: NDArray[np.int64], lens: NDArray[np.int64]
    ) -> NDArray[np.int64]:
        """:meth:`string_block` of the slices ``text[start : start + len]``, with numpy."""
        self.align(4)
        base = len(self.data)
        sizes = (lens + 8) & ~3  # length, bytes, NUL, padding
        rel = np.cumsum(sizes) - sizes
        out = np.zeros(int(sizes.sum()), dtype=np.uint8)
        out.view("<u4")[rel // 4] = lens
        done = np.cumsum(lens) - lens  # bytes of earlier strings
        step = np.arange(int(lens.sum()), dtype=np.int64) - np.repeat(done, lens)
        out[np.repeat(rel + 4, lens) + step] = np.frombuffer(text, np.uint8)[
            np.repeat(starts, lens) + step
        ]
        self.data += out.tobytes()
        out_pos: NDArray[np.int64] = base + rel
        return out_pos

    def blob_block(self, raws: Sequence[bytes]) -> list[int]:
        """Append ``[ubyte]`` vectors back to back (each 4-aligned); return their positions."""
        self.align(4)
        sizes = [(len(raw) + 7) & ~3 for raw in raws]  # length, bytes, padding
        positions = list(accumulate(sizes, initial=len(self.data)))
        pieces: list[bytes] = []
        pack = _U32.pack
        for raw, size in zip(raws, sizes, strict=True):
            pieces += (pack(len(raw)), raw, _PAD[size - 4 - len(raw)])
        self.data += b"".join(pieces)
        return positions[:-1]

    def metadata_vectors(self, mds: Sequence[Mapping[str, Any]], what: str) -> list[int]:
        """A sorted ``[MetadataItem]`` vector for each mapping, in bulk.

        Identical vectors, items, names and values are written once and shared, which
        flatbuffers allows; the real reader follows offsets and never notices.
        """
        items: dict[tuple[bytes, bytes], int] = {}  # (name, value) -> item number
        vectors: dict[tuple[int, ...], int] = {}  # item numbers -> vector number
        which = []
        names_seen, values_seen = self._name_cache, self._value_cache
        for md in mds:
            if not md:
                which.append(vectors.setdefault((), len(vectors)))
                continue
            pairs = []
            for name, value in md.items():
                raw_name = names_seen.get(name) or self._name(name, what)
                raw = values_seen.get((type(value), value)) if type(value) in _HASHED else None
                pairs.append((raw_name, raw or self._value(value)))
            pairs.sort()
            key = tuple([items.setdefault(pair, len(items)) for pair in pairs])
            which.append(vectors.setdefault(key, len(vectors)))
        vt = self.vtable(_ITEM.vtable)
        self.align(4)
        start = len(self.data)
        vec_pos = list(accumulate((4 + 4 * len(k) for k in vectors), initial=start))
        item_pos = range(vec_pos[-1], vec_pos[-1] + _ITEM.struct.size * len(items), 12)
        self.data += bytes(item_pos.stop - start)
        unique_names = list(dict.fromkeys(name for name, _ in items))
        unique_values = list(dict.fromkeys(value for _, value in items))
        names = dict(zip(unique_names, self.string_block(unique_names), strict=True))
        values = dict(zip(unique_values, self.blob_block(unique_values), strict=True))
        parts = [
            struct.pack(
                f"<{len(k) + 1}I", len(k), *[item_pos[j] - v - 4 - 4 * i for i, j in enumerate(k)]
            )
            for v, k in zip(vec_pos, vectors, strict=False)
        ]
        name_at, value_at = _ITEM.at[0], _ITEM.at[1]
        parts += [
            _ITEM.struct.pack(at - vt, names[n] - at - name_at, values[r] - at - value_at)
            for at, (n, r) in zip(item_pos, items, strict=True)
        ]
        self.data[start : item_pos.stop] = b"".join(parts)
        return [vec_pos[i] for i in which]

    def _name(self, name: str, what: str) -> bytes:
        raw = self._name_cache.get(name)
        if raw is None:
            raw = self._name_cache[name] = utf8(name, f"{what} metadata key")
        return raw

    def _value(self, value: Any) -> bytes:
        """FlexBuffers bytes of a value; scalars are encoded once per file."""
        if type(value) is float:
            key: tuple[type, object] = (float, struct.pack("<d", value))  # -0.0, NaN exact
        elif type(value) in _HASHED:
            key = (type(value), value)
        else:
            return encode_value(value)
        raw = self._value_cache.get(key)
        if raw is None:
            raw = self._value_cache[key] = encode_value(value)
        return raw


def write_payload(info: RepoInfo, snapshots: Columns) -> bytes:
    """The flatbuffer payload of ``info``.

    ``snapshots`` are ``info.snapshots`` as validated columns (see ``columns_of``).
    """
    return _RepoWriter(info, snapshots).build()


class _RepoWriter:
    def __init__(self, info: RepoInfo, snapshots: Columns) -> None:
        self.info = info
        self.cols = snapshots
        self.keys = snapshots.keys()
        self.enabled = _check_flags(info.enabled_feature_flags, "enabled")
        self.disabled = _check_flags(info.disabled_feature_flags, "disabled")
        if set(self.enabled) & set(self.disabled):
            raise InvalidInputError(
                "a feature flag is both enabled and disabled", ErrorKind.INVALID_FEATURE_FLAG
            )
        self.buf = _Buffer()

    def build(self) -> bytes:
        info, buf = self.info, self.buf
        writers: dict[int, Callable[[], int]] = {
            s.TAGS: lambda: self._refs(info.tags, "tag"),
            s.BRANCHES: lambda: self._refs(info.branches, "branch"),
            s.DELETED_TAGS: lambda: buf.strings(
                sorted(utf8(t, "deleted tag name") for t in info.deleted_tags)
            ),
            s.SNAPSHOTS: self._snapshots,
            s.STATUS: lambda: self._status(info.status),
            s.METADATA: lambda: buf.metadata_vectors([info.metadata], "repo")[0],
            s.UPDATES: self._updates,
        }
        if info.repo_before_updates is not None:
            before = utf8(info.repo_before_updates, "repo_before_updates")
            writers[s.BEFORE] = lambda: buf.string(before)
        if info.config is not None:
            writers[s.CONFIG] = self._config
        if self.enabled:
            writers[s.ENABLED] = lambda: self._flag_vector(self.enabled)
        if self.disabled:
            writers[s.DISABLED] = lambda: self._flag_vector(self.disabled)
        lay = _layout((*((slot, "O") for slot in writers), (s.SPEC, "B")))
        root = buf.table(lay, [0] * len(writers) + [s.REPO_SPEC_VERSION], "repo")
        for slot, write in writers.items():
            buf.patch(root + lay.at[slot], write())
        _U32.pack_into(buf.data, 0, root)
        return bytes(buf.data)

    def _refs(self, refs: Mapping[str, SnapshotId], what: str) -> int:
        buf = self.buf
        named = sorted((utf8(name, f"{what} name"), sid) for name, sid in refs.items())
        vec = buf.offset_vector(len(named))
        tables = []
        for raw, sid in named:
            idx = self.cols.find(sid, self.keys)
            if idx < 0:
                raise InvalidInputError(
                    f"{what} {raw.decode()!r} points to unknown snapshot {sid!r}",
                    ErrorKind.SNAPSHOT_NOT_FOUND,
                )
            tables.append(buf.table(_REF, (0, idx), f"{what} ref"))
        buf.fill_vector(vec, tables)
        for table, pos in zip(tables, buf.string_block([raw for raw, _ in named]), strict=True):
            buf.patch(table + _REF.at[0], pos)
        return vec

    def _snapshots(self) -> int:
        """The snapshot tables, then their messages, metadata and pruned-id vectors."""
        buf, cols = self.buf, self.cols
        n = len(cols)
        vec = buf.offset_vector(n)
        vt_pruned, vt_plain = buf.vtable(_SNAP_VT), buf.vtable(_SNAP_VT_NO_PRUNED)
        buf.align(8)
        start = len(buf.data)
        buf.data += bytes(_SNAP_SIZE * n)
        messages = buf.string_columns(cols.text, cols.msg_start, cols.msg_len)
        md_at = np.array(buf.metadata_vectors(cols.md, "snapshot"), dtype=np.int64)
        pruned = np.zeros(n, dtype=np.int64)
        for i in sorted(cols.pruned):
            pruned[i] = self._id_vector(cols.pruned[i])
        at = start + _SNAP_SIZE * np.arange(n, dtype=np.int64)
        has_pruned = np.zeros(n, dtype=bool)
        has_pruned[list(cols.pruned)] = True
        rows = np.empty(n, dtype=_SNAP_DTYPE)
        rows["vt"] = at - np.where(has_pruned, vt_pruned, vt_plain)
        rows["parent"] = cols.parents
        rows["flushed"] = cols.flushed
        rows["id"] = np.ascontiguousarray(cols.ids).view("V12").ravel()
        rows["msg"] = messages - at - 28
        rows["md"] = md_at[cols.md_group] - at - 32
        rows["pruned"] = np.where(has_pruned, pruned - at - 36, 0)
        buf.data[start : start + _SNAP_SIZE * n] = rows.tobytes()
        buf.fill_vector(vec, at)
        return vec

    def _id_vector(self, ids: Sequence[bytes]) -> int:
        if any(len(sid) != s.ID_SIZE for sid in ids):
            raise InvalidInputError(f"invalid snapshot id in pruned_ancestor_tx_logs {ids!r}")
        return self.buf.blob(b"".join(ids), elem_size=s.ID_SIZE)

    def _status(self, status: RepoStatusData) -> int:
        try:
            availability = int(RepoAvailability(status.availability))
        except ValueError as exc:
            raise InvalidInputError(f"unknown repo availability {status.availability!r}") from exc
        reason = status.limited_availability_reason
        if reason is None:
            return self.buf.table(_STATUS, (status.set_at, availability), "repo status")
        table = self.buf.table(_STATUS_REASON, (0, status.set_at, availability), "repo status")
        self.buf.patch(table + _STATUS_REASON.at[2], self.buf.string(utf8(reason, "reason")))
        return table

    def _updates(self) -> int:
        """The ops log: Update tables, then their union tables, then strings, in bulk."""
        buf, updates = self.buf, self.info.latest_updates
        n = len(updates)
        vec = buf.offset_vector(n)
        plans = [_union_plan(up) for up in updates]
        vt_plain, vt_backup = buf.vtable(_UPDATE.vtable), buf.vtable(_UPDATE_BACKUP.vtable)
        union_vts = [buf.vtable(plan[1].vtable) for plan in plans]
        buf.align(8)
        start = len(buf.data)
        outer = range(start, start + _UPDATE_SIZE * n, _UPDATE_SIZE)
        unions = list(accumulate((p[1].struct.size for p in plans), initial=outer.stop))
        buf.data += bytes(unions[-1] - start)
        fixups = self._update_children(updates, plans, outer, unions)
        value_at = _UPDATE_VALUE_AT
        try:
            packed = [
                _UPDATE.struct.pack(at - vt_plain, union - at - value_at, up.updated_at, kind)
                if up.backup_path is None
                else _UPDATE_BACKUP.struct.pack(
                    at - vt_backup, union - at - value_at, up.updated_at, 0, kind
                )
                for at, union, up, (kind, *_) in zip(outer, unions, updates, plans, strict=False)
            ]
            packed += [
                lay.struct.pack(at - vt, *inline)
                for at, vt, (_, lay, _, _, inline) in zip(unions, union_vts, plans, strict=False)
            ]
        except struct.error as exc:
            raise InvalidInputError(f"ops-log entry: value out of range ({exc})") from exc
        buf.data[start : unions[-1]] = b"".join(packed)
        for at, target in fixups:
            buf.patch(at, target)
        buf.fill_vector(vec, outer)
        return vec

    def _update_children(
        self,
        updates: Sequence[UpdateRecord],
        plans: list[_UnionPlan],
        outer: range,
        unions: list[int],
    ) -> list[tuple[int, int]]:
        """Write the strings and status tables of the ops log; return the uoffset fixups."""
        raws: list[bytes] = []
        fields: list[int] = []
        statuses: list[tuple[int, RepoStatusData]] = []
        for union, (_, lay, spec, values, _) in zip(unions, plans, strict=False):
            for (slot, attr, code), value in zip(spec, values, strict=True):
                if code == "S":
                    raws.append(utf8(value, f"ops-log {attr}"))
                    fields.append(union + lay.at[slot])
                elif code == "T":
                    statuses.append((union + lay.at[slot], value))
        backup_at = _UPDATE_BACKUP.at[s.UPD_BACKUP]
        for at, up in zip(outer, updates, strict=True):
            if up.backup_path is not None:
                raws.append(utf8(up.backup_path, "backup path"))
                fields.append(at + backup_at)
        fixups = list(zip(fields, self.buf.string_block(raws), strict=True))
        fixups += [(at, self._status(status)) for at, status in statuses]
        return fixups

    def _config(self) -> int:
        config = self.info.config
        if not isinstance(config, dict):
            raise InvalidInputError(f"repository config must be a dict, not {type(config)}")
        try:
            raw = flexbuf.dumps(config)
        except (TypeError, ValueError, OverflowError, RuntimeError) as exc:
            raise InvalidInputError(f"repository config cannot be serialized: {exc}") from exc
        return self.buf.blob(raw, data_align=8)

    def _flag_vector(self, flags: list[int]) -> int:
        self.buf.align(4)
        pos = len(self.buf.data)
        self.buf.data += struct.pack(f"<I{len(flags)}H", len(flags), *flags)
        return pos


# (kind, layout, fields, values, inline) of one union table; ``inline`` holds what the table
# itself stores (0 for the uoffsets of strings and status tables).
_UnionPlan = tuple[UpdateKind, _Layout, s.FieldSpec, list[Any], list[Any]]


def _union_plan(up: UpdateRecord) -> _UnionPlan:
    kind = _update_kind(up.kind)
    spec = s.UPDATE_FIELDS[kind]
    values = [getattr(up, attr) for _, attr, _ in spec]
    if None in values:
        spec, values = _drop_absent(kind, spec, values)
    lay = _UNION_LAYOUTS.get(spec)
    if lay is None:
        lay = _UNION_LAYOUTS[spec] = _layout(tuple((slot, code) for slot, _, code in spec))
    inline = []
    for (_, attr, code), value in zip(spec, values, strict=True):
        if code == "D" and len(value) != s.ID_SIZE:
            raise InvalidInputError(f"{kind.name} ops-log entry: `{attr}` is not an id")
        inline.append(0 if code in "ST" else value)
    return kind, lay, spec, values, inline


def _drop_absent(
    kind: UpdateKind, spec: s.FieldSpec, values: list[Any]
) -> tuple[s.FieldSpec, list[Any]]:
    """Leave out optional fields set to None; a missing required field is an error."""
    for (_, attr, code), value in zip(spec, values, strict=True):
        if value is None and code in "SD":
            raise InvalidInputError(f"{kind.name} ops-log entry needs `{attr}`")
    kept = [(field, v) for field, v in zip(spec, values, strict=True) if v is not None]
    return tuple(field for field, _ in kept), [v for _, v in kept]


def _update_kind(kind: int) -> UpdateKind:
    found = s.KIND_BY_ID.get(kind)
    if found is None:
        raise InvalidInputError(f"unknown ops-log update kind {kind!r}")
    return found


def _check_flags(flags: Iterable[int], what: str) -> list[int]:
    out = sorted(flags)
    for flag in out:
        if not isinstance(flag, int) or not 0 <= flag <= 0xFFFF:
            raise InvalidInputError(
                f"{what} feature flag id {flag!r} is not a u16", ErrorKind.INVALID_FEATURE_FLAG
            )
    if len(set(out)) != len(out):
        raise InvalidInputError(
            f"duplicate {what} feature flag ids: {out}", ErrorKind.INVALID_FEATURE_FLAG
        )
    return out
