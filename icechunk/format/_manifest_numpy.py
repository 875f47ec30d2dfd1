"""Columnar (numpy) chunk refs; reading them from a file is in ``_manifest_decode``.

:class:`RefColumns` holds every field of an array's refs as parallel numpy columns;
variable-length fields are :class:`VarBytes` spans into a shared blob, so selecting,
reordering and splicing rows never copies their bytes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from icechunk.errors import FormatError

__all__ = [
    "INLINE",
    "NATIVE",
    "VIRTUAL",
    "RefColumns",
    "VarBytes",
    "check_utf8",
    "copy_spans",
    "exclusive_cumsum",
    "interleave",
    "take_rows",
    "windows",
]

NATIVE = 1
VIRTUAL = 2
INLINE = 3

U8 = npt.NDArray[np.uint8]
I64 = npt.NDArray[np.int64]
U32 = npt.NDArray[np.uint32]
U64 = npt.NDArray[np.uint64]
Bools = npt.NDArray[np.bool_]


def exclusive_cumsum(lengths: I64) -> I64:
    """``[0, l0, l0 + l1, ...]``: where each entry starts when laid end to end (n + 1)."""
    out = np.zeros(len(lengths) + 1, dtype=np.int64)
    np.cumsum(lengths, out=out[1:])
    return out


def _spans(starts: I64, lengths: I64) -> I64:
    """Indices ``starts[i] .. starts[i] + lengths[i]`` of every span, concatenated."""
    bounds = exclusive_cumsum(lengths)
    total = int(bounds[-1])
    if total == 0:
        return np.zeros(0, dtype=np.int64)
    return np.repeat(starts - bounds[:-1], lengths) + np.arange(total, dtype=np.int64)


def windows(arr: U8, width: int) -> npt.NDArray[np.void]:
    """Every ``width``-byte window of ``arr`` as one overlapping void item (no copy)."""
    return np.ndarray(shape=(len(arr) - width + 1,), dtype=f"V{width}", buffer=arr, strides=(1,))


_MIN_GROUP = 64


def copy_spans(dst: U8, dst_starts: I64, src: U8, src_starts: I64, lengths: I64) -> None:
    """Copy ``src[src_starts[i]:][:lengths[i]]`` to ``dst[dst_starts[i]:]`` for every i.

    Spans sharing a common length are copied as whole items through overlapping void
    views; rare lengths fall back to per-byte index arrays.
    """
    if len(lengths) == 0:
        return
    order = np.argsort(lengths, kind="stable")
    sorted_lengths = lengths[order]
    cuts = np.flatnonzero(np.diff(sorted_lengths)) + 1
    rest = []
    for group in np.split(order, cuts):
        width = int(lengths[group[0]])
        if width == 0:
            continue
        if len(group) < _MIN_GROUP:
            rest.append(group)
            continue
        windows(dst, width)[dst_starts[group]] = windows(src, width)[src_starts[group]]
    if rest:
        few = np.concatenate(rest)
        dst[_spans(dst_starts[few], lengths[few])] = src[_spans(src_starts[few], lengths[few])]


def take_rows(arr: npt.NDArray[Any], index: I64) -> npt.NDArray[Any]:
    """``arr[index]`` for a 2-D array, moving each row as one item (much faster)."""
    rows, width = arr.shape
    if width == 0 or rows == 0:
        return arr[index]
    flat = np.ascontiguousarray(arr)
    items = flat.view(f"V{width * arr.itemsize}").reshape(rows)
    return items[index].view(arr.dtype).reshape(-1, width)


@dataclass(frozen=True, slots=True, eq=False)
class VarBytes:
    """A column of variable-length byte strings: spans ``(starts, lengths)`` of a blob.

    Entries may sit anywhere in ``data`` (decoded columns point straight into the
    manifest payload), so :meth:`take` never copies bytes.
    """

    data: U8
    starts: I64
    lengths: I64

    @staticmethod
    def empty(n: int) -> VarBytes:
        """``n`` zero-length entries."""
        zeros = np.zeros(n, dtype=np.int64)
        return VarBytes(np.zeros(0, dtype=np.uint8), zeros, zeros)

    @staticmethod
    def from_list(items: list[bytes]) -> VarBytes:
        """Pack a list of byte strings."""
        lengths = np.fromiter(map(len, items), dtype=np.int64, count=len(items))
        data = np.frombuffer(b"".join(items), dtype=np.uint8)
        return VarBytes(data, exclusive_cumsum(lengths)[:-1], lengths)

    def __len__(self) -> int:
        return len(self.lengths)

    @property
    def total(self) -> int:
        """Sum of the entry lengths."""
        return int(self.lengths.sum())

    def get(self, i: int) -> bytes:
        """Entry ``i`` as ``bytes``."""
        start = int(self.starts[i])
        return self.data[start : start + int(self.lengths[i])].tobytes()

    def to_list(self) -> list[bytes]:
        """Every entry as ``bytes``."""
        blob = self.data.tobytes()
        return [
            blob[a : a + n]
            for a, n in zip(self.starts.tolist(), self.lengths.tolist(), strict=True)
        ]

    def take(self, index: I64) -> VarBytes:
        """The entries at ``index`` (any order, repeats allowed); no bytes are copied."""
        return VarBytes(self.data, self.starts[index], self.lengths[index])

    def compact(self) -> VarBytes:
        """The same entries stored back to back, in order, in a new blob."""
        starts = exclusive_cumsum(self.lengths)
        data = np.zeros(int(starts[-1]), dtype=np.uint8)
        copy_spans(data, starts[:-1], self.data, self.starts, self.lengths)
        return VarBytes(data, starts[:-1], self.lengths)

    def _join(self, other: VarBytes) -> tuple[U8, I64, I64]:
        """One blob holding both columns' bytes, with each column's starts in it.

        Drops unreferenced bytes (e.g. the rest of a decoded payload) when they dominate.
        """
        left = self.compact() if len(self.data) > 2 * self.total + 4096 else self
        if other.total == 0:
            return left.data, left.starts, np.zeros(len(other), dtype=np.int64)
        data = np.concatenate([left.data, other.data])
        return data, left.starts, other.starts + len(left.data)

    def concat(self, other: VarBytes) -> VarBytes:
        """This column followed by ``other``."""
        data, mine, theirs = self._join(other)
        lengths = np.concatenate([self.lengths, other.lengths])
        return VarBytes(data, np.concatenate([mine, theirs]), lengths)

    def splice(self, other: VarBytes, runs: list[Run]) -> VarBytes:
        """Runs of entries from this column and ``other`` (see :meth:`RefColumns.splice`)."""
        data, mine, theirs = self._join(other)
        starts = _cat_runs(mine, theirs, runs)
        return VarBytes(data, starts, _cat_runs(self.lengths, other.lengths, runs))

    def equals(self, other: VarBytes) -> bool:
        """Entry-by-entry equality."""
        if not np.array_equal(self.lengths, other.lengths):
            return False
        return np.array_equal(self.compact().data, other.compact().data)


_MAX_RUNS = 256
Run = tuple[bool, int, int]


def _cat_runs(mine: npt.NDArray[Any], theirs: npt.NDArray[Any], runs: list[Run]) -> Any:
    """Concatenate ``(from_theirs, start, count)`` slices of two arrays."""
    if not runs:
        return mine[:0]
    return np.concatenate([(theirs if t else mine)[a : a + k] for t, a, k in runs])


@dataclass(frozen=True, slots=True, eq=False)
class RefColumns:
    """Every field of ``n`` chunk refs as parallel columns.

    ``kinds`` holds :data:`NATIVE`, :data:`VIRTUAL` or :data:`INLINE`. Columns a kind
    does not use are zero or empty for that row. ``location`` holds uncompressed UTF-8;
    ``last_modified`` 0 means none.
    """

    coords: U32
    kinds: U8
    chunk_ids: U8
    offsets: U64
    lengths: U64
    inline: VarBytes
    location: VarBytes
    etag: VarBytes
    has_etag: Bools
    last_modified: U32

    @staticmethod
    def empty(ndim: int) -> RefColumns:
        """No refs, ``ndim`` dimensions."""
        return RefColumns(
            np.zeros((0, ndim), dtype=np.uint32),
            np.zeros(0, dtype=np.uint8),
            np.zeros((0, 12), dtype=np.uint8),
            np.zeros(0, dtype=np.uint64),
            np.zeros(0, dtype=np.uint64),
            VarBytes.empty(0),
            VarBytes.empty(0),
            VarBytes.empty(0),
            np.zeros(0, dtype=np.bool_),
            np.zeros(0, dtype=np.uint32),
        )

    def __len__(self) -> int:
        return len(self.kinds)

    def take(self, index: I64) -> RefColumns:
        """The rows at ``index``."""
        return RefColumns(
            take_rows(self.coords, index),
            self.kinds[index],
            take_rows(self.chunk_ids, index),
            self.offsets[index],
            self.lengths[index],
            self.inline.take(index),
            self.location.take(index),
            self.etag.take(index),
            self.has_etag[index],
            self.last_modified[index],
        )

    def concat(self, other: RefColumns) -> RefColumns:
        """These rows followed by ``other``'s (same ``ndim``)."""
        return RefColumns(
            np.concatenate([self.coords, other.coords]),
            np.concatenate([self.kinds, other.kinds]),
            np.concatenate([self.chunk_ids, other.chunk_ids]),
            np.concatenate([self.offsets, other.offsets]),
            np.concatenate([self.lengths, other.lengths]),
            self.inline.concat(other.inline),
            self.location.concat(other.location),
            self.etag.concat(other.etag),
            np.concatenate([self.has_etag, other.has_etag]),
            np.concatenate([self.last_modified, other.last_modified]),
        )

    def splice(self, other: RefColumns, order: I64) -> RefColumns:
        """``self.concat(other).take(order)``, copying whole runs when ``order`` has few.

        A merge of a few updates into a big table keeps long runs of consecutive rows,
        which are copied slice by slice instead of row by row.
        """
        n = len(self)
        step = np.diff(order)
        cuts = np.flatnonzero((step != 1) | ((order[:-1] < n) & (order[1:] >= n))) + 1
        if len(order) == 0 or len(cuts) > _MAX_RUNS:  # empty: every row was dropped
            return self.concat(other).take(order)
        bounds = [0, *cuts.tolist(), len(order)]
        firsts = order[bounds[:-1]].tolist()
        runs = [
            (f >= n, f - n if f >= n else f, b - a)
            for f, a, b in zip(firsts, bounds, bounds[1:], strict=False)
        ]
        return self.splice_runs(other, runs)

    def splice_runs(self, other: RefColumns, runs: list[Run]) -> RefColumns:
        """Concatenate runs ``(from_other, start, count)`` of rows of ``self``/``other``."""
        columns: dict[str, Any] = {}
        for name in _FIELDS:
            mine, theirs = getattr(self, name), getattr(other, name)
            if isinstance(mine, VarBytes):
                columns[name] = mine.splice(theirs, runs)
            else:
                columns[name] = _cat_runs(mine, theirs, runs)
        return RefColumns(**columns)

    def equals(self, other: RefColumns) -> bool:
        """Column-by-column equality."""
        if self.coords.shape != other.coords.shape:
            return False
        for name in _FIELDS:
            mine, theirs = getattr(self, name), getattr(other, name)
            same = (
                mine.equals(theirs) if isinstance(mine, VarBytes) else np.array_equal(mine, theirs)
            )
            if not same:
                return False
        return True


_FIELDS = [f for f in RefColumns.__dataclass_fields__]


def check_utf8(column: VarBytes, what: str) -> VarBytes:
    """Return ``column`` compacted, raising :class:`FormatError` unless all is UTF-8.

    The compact blob is validated once; cutting valid UTF-8 only at positions that do
    not hold a continuation byte leaves every piece valid.
    """
    if column.total > 2**31:
        raise FormatError(f"chunk ref {what} strings exceed 2 GiB: corrupt file")
    column = column.compact()
    data = column.data
    if len(data) == 0:
        return column
    try:
        data.tobytes().decode("utf-8")
    except UnicodeDecodeError as exc:
        raise FormatError(f"invalid UTF-8 in chunk ref {what}: {exc}") from exc
    cuts = column.starts[column.starts < len(data)]
    if np.any((data[cuts] & 0xC0) == 0x80):
        raise FormatError(f"invalid UTF-8 in chunk ref {what}: a string ends mid-character")
    return column


def interleave(
    base: RefColumns,
    base_keys: npt.NDArray[Any],
    dropped: I64,
    new: RefColumns,
    new_keys: npt.NDArray[Any],
) -> RefColumns:
    """Merge ``base`` minus its ``dropped`` rows with ``new``'s rows, all sorted by key."""
    before = np.searchsorted(base_keys, new_keys)
    if len(dropped) + len(new_keys) <= _MAX_EDITS:
        runs = _edit_runs(len(base), dropped.tolist(), before.tolist())
        return base.splice_runs(new, runs)
    keep = np.ones(len(base), dtype=np.bool_)
    keep[dropped] = False
    kept = np.flatnonzero(keep)
    kept_pos = np.arange(len(kept)) + np.searchsorted(new_keys, base_keys[kept])
    new_pos = np.searchsorted(base_keys[kept], new_keys) + np.arange(len(new_keys))
    order = np.empty(len(kept) + len(new_keys), dtype=np.int64)
    order[kept_pos] = kept
    order[new_pos] = len(base) + np.arange(len(new_keys))
    return base.splice(new, order)


_MAX_EDITS = 64


def _edit_runs(n: int, dropped: list[int], before: list[int]) -> list[tuple[bool, int, int]]:
    """Runs ``(from_new, start, count)`` that delete ``dropped`` base rows and insert new
    row ``j`` before base row ``before[j]``."""
    runs: list[tuple[bool, int, int]] = []
    gone = set(dropped)
    cursor = j = 0
    for p in sorted(gone.union(before)):
        if p > cursor:
            runs.append((False, cursor, p - cursor))
            cursor = p
        first = j
        while j < len(before) and before[j] == p:
            j += 1
        if j > first:
            runs.append((True, first, j - first))
        if p in gone:
            cursor = p + 1
    if cursor < n:
        runs.append((False, cursor, n - cursor))
    return runs
