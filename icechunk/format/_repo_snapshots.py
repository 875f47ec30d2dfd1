"""The snapshot list of a repo file as columns: entries built on demand, written in bulk.

The repo file lists every snapshot, and it is read on every open and rewritten on every
commit. With 10,000 snapshots, one Python object per snapshot on each pass was most of the
cost of both. So the reader validates the snapshot tables with numpy and keeps their
fields as columns over the payload (:class:`SnapshotMap`); an entry object is built only
when it is looked up; a commit adds its entry on top (:func:`with_snapshot`); and the writer
lays the snapshot tables out from columns (:func:`columns_of`), so only the few added
entries pass through Python objects.
"""

from __future__ import annotations

from collections.abc import ItemsView, Iterator, Mapping, ValuesView
from dataclasses import dataclass
from itertools import pairwise
from typing import Any, cast

import numpy as np
from numpy.typing import NDArray

from icechunk.errors import ErrorKind, InvalidInputError
from icechunk.format import _repo_info_schema as s
from icechunk.format.ids import SnapshotId
from icechunk.format.model import SnapshotEntry

__all__ = ["Columns", "SnapshotMap", "columns_of", "copy_json", "with_snapshot"]

_KEY = np.dtype("S12")
#: Entries added on top of the columns before they are merged into new columns.
_FOLD_AT = 32  # an id as one sortable scalar (fixed width: null-padded compare)


@dataclass(frozen=True, slots=True)
class Columns:
    """Snapshot fields in id order; messages are slices of ``text``.

    ``md`` holds each distinct metadata mapping once and ``md_group`` picks one per
    snapshot; ``pruned`` lists only the snapshots whose pruned-ancestor list is present.
    """

    ids: NDArray[np.uint8]  # (n, 12), strictly increasing as byte strings
    parents: NDArray[np.int64]  # position of the parent, -1 for a root
    flushed: NDArray[np.uint64]
    text: bytes
    msg_start: NDArray[np.int64]
    msg_len: NDArray[np.int64]
    md_group: NDArray[np.int64]
    md: list[Mapping[str, Any]]
    pruned: dict[int, tuple[SnapshotId, ...]]

    def __len__(self) -> int:
        return len(self.ids)

    def keys(self) -> NDArray[Any]:
        """The ids as a sorted array of 12-byte scalars (for ``searchsorted``)."""
        return np.ascontiguousarray(self.ids).view(_KEY).ravel()

    def find(self, sid: bytes, keys: NDArray[Any] | None = None) -> int:
        """Position of ``sid``, or -1."""
        if not isinstance(sid, bytes) or len(sid) != s.ID_SIZE:
            return -1
        i = int(np.searchsorted(self.keys() if keys is None else keys, sid))
        return i if i < len(self.ids) and self.ids[i].tobytes() == sid else -1

    def id_at(self, i: int) -> SnapshotId:
        """The id at position ``i``."""
        sid: SnapshotId = _new_id(SnapshotId, self.ids[i].tobytes())
        return sid

    def entry(self, i: int) -> SnapshotEntry:
        """A fresh :class:`SnapshotEntry` for position ``i`` (its own metadata copy)."""
        parent = int(self.parents[i])
        start = int(self.msg_start[i])
        return SnapshotEntry(
            self.id_at(i),
            None if parent < 0 else self.id_at(parent),
            int(self.flushed[i]),
            self.text[start : start + int(self.msg_len[i])].decode("utf-8"),
            copy_json(self.md[int(self.md_group[i])]),
            self.pruned.get(i),
        )


_new_id = cast(Any, bytes.__new__)  # a SnapshotId without ObjectId's length check


class SnapshotMap(Mapping[SnapshotId, SnapshotEntry]):
    """Read-only ``{id: SnapshotEntry}`` over decoded :class:`Columns`, plus added entries.

    Lookups binary-search the id column and build (and keep) one entry; iteration yields
    the decoded ids in order, then the added ones.
    """

    __slots__ = ("_built", "_cols", "_extra", "_keys")

    def __init__(
        self, cols: Columns, extra: Mapping[SnapshotId, SnapshotEntry] | None = None
    ) -> None:
        self._cols = cols
        self._keys = cols.keys()
        self._extra: dict[SnapshotId, SnapshotEntry] = dict(extra or {})
        self._built: dict[int, SnapshotEntry] = {}

    @property
    def columns(self) -> Columns:
        """The decoded snapshots (without the added entries)."""
        return self._cols

    @property
    def added(self) -> Mapping[SnapshotId, SnapshotEntry]:
        """Entries added on top of the decoded ones."""
        return self._extra

    def _at(self, i: int) -> SnapshotEntry:
        entry = self._built.get(i)
        if entry is None:
            entry = self._built[i] = self._cols.entry(i)
        return entry

    def __getitem__(self, sid: SnapshotId) -> SnapshotEntry:
        found = self._extra.get(sid)
        if found is not None:
            return found
        i = self._cols.find(sid, self._keys)
        if i < 0:
            raise KeyError(sid)
        return self._at(i)

    def __contains__(self, sid: object) -> bool:
        return sid in self._extra or self._cols.find(cast(bytes, sid), self._keys) >= 0

    def __iter__(self) -> Iterator[SnapshotId]:
        raw = self._cols.ids.tobytes()
        for p in range(0, len(raw), s.ID_SIZE):
            yield _new_id(SnapshotId, raw[p : p + s.ID_SIZE])
        yield from self._extra

    def __len__(self) -> int:
        return len(self._cols) + len(self._extra)

    def items(self) -> ItemsView[SnapshotId, SnapshotEntry]:
        return _Items(self)

    def values(self) -> ValuesView[SnapshotEntry]:
        return _Values(self)

    def pairs(self) -> Iterator[tuple[SnapshotId, SnapshotEntry]]:
        """``(id, entry)`` of every snapshot, without a search per id."""
        for i in range(len(self._cols)):
            entry = self._at(i)
            yield entry.id, entry
        yield from self._extra.items()

    def with_entry(self, entry: SnapshotEntry) -> Mapping[SnapshotId, SnapshotEntry]:
        """A new mapping with ``entry`` added (or replacing one with its id)."""
        if self._cols.find(entry.id, self._keys) >= 0:
            return {**dict(self.pairs()), entry.id: entry}
        if len(self._extra) >= _FOLD_AT:  # keep adding O(1): fold the added ones in
            return SnapshotMap(columns_of(self), {entry.id: entry})
        out = SnapshotMap.__new__(SnapshotMap)
        out._cols, out._keys, out._built = self._cols, self._keys, self._built
        out._extra = {**self._extra, entry.id: entry}
        return out

    def __repr__(self) -> str:
        return f"<SnapshotMap of {len(self)} snapshots>"


class _Items(ItemsView[SnapshotId, SnapshotEntry]):
    def __iter__(self) -> Iterator[tuple[SnapshotId, SnapshotEntry]]:
        pairs: Iterator[tuple[SnapshotId, SnapshotEntry]] = cast(Any, self)._mapping.pairs()
        return pairs


class _Values(ValuesView[SnapshotEntry]):
    def __iter__(self) -> Iterator[SnapshotEntry]:
        return (entry for _, entry in cast(Any, self)._mapping.pairs())


def with_snapshot(
    snapshots: Mapping[SnapshotId, SnapshotEntry], entry: SnapshotEntry
) -> Mapping[SnapshotId, SnapshotEntry]:
    """``snapshots`` plus ``entry``, without decoding a lazily read snapshot list.

    Parameters
    ----------
    snapshots
        ``RepoInfo.snapshots`` of a state.
    entry
        The snapshot to add.

    Returns
    -------
    Mapping
        A new mapping; ``snapshots`` is unchanged.
    """
    if isinstance(snapshots, SnapshotMap):
        return snapshots.with_entry(entry)
    return {**snapshots, entry.id: entry}


# ---------------------------------------------------------------------------- for the writer
def columns_of(snapshots: Mapping[SnapshotId, SnapshotEntry]) -> Columns:
    """Validated columns of a snapshot list, sorted by id, for the writer.

    Raises
    ------
    InvalidInputError
        If an entry is filed under another id or is not 12 bytes, an id repeats, a parent
        is unknown, a time is out of range, a message is not text, or the parent links
        form a cycle.
    """
    if isinstance(snapshots, SnapshotMap):
        base: Columns | None = snapshots.columns
        if not snapshots.added:
            return snapshots.columns
        added = list(snapshots.added.items())
    else:
        base, added = None, list(snapshots.items())
    new = _entry_columns(added)
    cat = new if base is None else _concat(base, new)
    n_base = len(cat) - len(new)
    cat.parents[n_base:] = _resolve_parents(added, base, n_base)
    order = _id_order(cat.ids) if base is None else _insert_order(base, new)
    position = np.empty(len(order), dtype=np.int64)
    position[order] = np.arange(len(order))
    parents = np.where(cat.parents < 0, -1, position[np.maximum(cat.parents, 0)])
    out = Columns(
        ids=cat.ids[order],
        parents=parents[order],
        flushed=cat.flushed[order],
        text=cat.text,
        msg_start=cat.msg_start[order],
        msg_len=cat.msg_len[order],
        md_group=cat.md_group[order],
        md=cat.md,
        pruned={int(position[i]): p for i, p in cat.pruned.items()},
    )
    if not s.is_acyclic(out.parents):
        raise InvalidInputError("snapshot parent links form a cycle")
    return out


def _id_order(ids: NDArray[np.uint8]) -> NDArray[np.int64]:
    """The permutation sorting ``ids`` as byte strings; an id listed twice is an error."""
    hi = ids[:, :8].copy().view(">u8").ravel()
    lo = ids[:, 8:].copy().view(">u4").ravel()
    order: NDArray[np.int64] = np.lexsort((lo, hi))
    h, low = hi[order], lo[order]
    if len(order) > 1 and ((h[1:] == h[:-1]) & (low[1:] == low[:-1])).any():
        raise InvalidInputError("a snapshot id is listed twice")
    return order


def _insert_order(base: Columns, new: Columns) -> NDArray[np.int64]:
    """:func:`_id_order` of base rows (already sorted) followed by a few new rows."""
    n = len(base)
    raw = [new.ids[i].tobytes() for i in range(len(new))]
    new_order = sorted(range(len(raw)), key=raw.__getitem__)
    keys = np.array([raw[i] for i in new_order], dtype=_KEY)
    at = np.searchsorted(base.keys(), keys)
    for i, pos in zip(new_order, at.tolist(), strict=True):
        if pos < n and base.ids[pos].tobytes() == raw[i]:
            raise InvalidInputError(f"snapshot {raw[i]!r} is listed twice")
    if any(raw[a] == raw[b] for a, b in pairwise(new_order)):
        raise InvalidInputError("a snapshot id is listed twice")
    order: NDArray[np.int64] = np.insert(
        np.arange(n, dtype=np.int64), at, n + np.array(new_order, dtype=np.int64)
    )
    return order


def _concat(base: Columns, new: Columns) -> Columns:
    """Base rows, then new rows (unsorted); new messages and metadata follow the base's."""
    n = len(base)
    return Columns(
        ids=np.concatenate([base.ids, new.ids]),
        parents=np.concatenate([base.parents, new.parents]),
        flushed=np.concatenate([base.flushed, new.flushed]),
        text=base.text + new.text,
        msg_start=np.concatenate([base.msg_start, new.msg_start + len(base.text)]),
        msg_len=np.concatenate([base.msg_len, new.msg_len]),
        md_group=np.concatenate([base.md_group, new.md_group + len(base.md)]),
        md=[*base.md, *new.md],
        pruned={**base.pruned, **{n + i: p for i, p in new.pruned.items()}},
    )


def _resolve_parents(
    added: list[tuple[SnapshotId, SnapshotEntry]], base: Columns | None, n_base: int
) -> NDArray[np.int64]:
    """Row numbers (base rows first, then ``added``) of the added entries' parents."""
    base_keys = None if base is None else base.keys()
    new_index = {sid: n_base + i for i, (sid, _) in enumerate(added)}
    out = np.empty(len(added), dtype=np.int64)
    for i, (_, entry) in enumerate(added):
        parent = entry.parent_id
        found = -1 if parent is None else new_index.get(parent, -1)
        if found < 0 and parent is not None and base is not None:
            found = base.find(parent, base_keys)
        if found < 0 and parent is not None:
            raise InvalidInputError(
                f"a snapshot's parent {parent!r} is not in the snapshot list",
                ErrorKind.SNAPSHOT_NOT_FOUND,
            )
        out[i] = found
    return out


def _entry_columns(added: list[tuple[SnapshotId, SnapshotEntry]]) -> Columns:
    """Unsorted columns of entry objects (parents left as -1: see _resolve_parents)."""
    for sid, entry in added:
        if len(sid) != s.ID_SIZE or entry.id != sid:
            raise InvalidInputError(f"snapshot entry filed under {sid!r} is invalid or misfiled")
    entries = [entry for _, entry in added]
    raw = [_utf8(e) for e in entries]
    lens = np.array([len(r) for r in raw], dtype=np.int64)
    try:
        flushed = np.array([e.flushed_at for e in entries], dtype=np.uint64)
    except (OverflowError, TypeError, ValueError) as exc:
        raise InvalidInputError(f"snapshot flushed_at out of range: {exc}") from exc
    return Columns(
        ids=np.frombuffer(b"".join(sid for sid, _ in added), np.uint8).reshape(-1, s.ID_SIZE),
        parents=np.full(len(entries), -1, dtype=np.int64),
        flushed=flushed,
        text=b"".join(raw),
        msg_start=np.cumsum(lens) - lens,
        msg_len=lens,
        md_group=np.arange(len(entries), dtype=np.int64),
        md=[e.metadata for e in entries],
        pruned={
            i: e.pruned_ancestor_tx_logs
            for i, e in enumerate(entries)
            if e.pruned_ancestor_tx_logs is not None
        },
    )


def _utf8(entry: SnapshotEntry) -> bytes:
    if not isinstance(entry.message, str):
        raise InvalidInputError(f"commit message of {entry.id!r} must be a string")
    try:
        return entry.message.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise InvalidInputError(f"commit message of {entry.id!r} is not valid UTF-8") from exc


def copy_json(value: Any) -> Any:
    """A deep copy of a JSON-like value (dicts and lists are copied, scalars shared)."""
    if isinstance(value, dict):
        return {k: copy_json(v) for k, v in value.items()}
    if isinstance(value, list):
        return [copy_json(v) for v in value]
    return value
