"""Manifest splitting: spreading one array's chunk refs over several manifest files.

``ManifestConfig.splitting`` cuts an array's chunk grid into boxes ("splits"). Each rule
``(array condition, [(dimension condition, size), ...])`` whose array condition matches
the node path sets, for every axis not claimed by an earlier rule, uniform edges every
``size`` chunks along the first dimension condition that matches that axis; axes nobody
claims stay whole. Every split that holds chunks gets its own manifest, whose ref
records the bounding box of the chunks actually in it (not the split's box).

Splits stay stable across commits: a commit rewrites only the splits that hold a changed
chunk; an untouched split keeps every old manifest lying wholly inside it, and is
rewritten once for each old manifest that straddles its border (after a change of the
splitting config or of the array's shape); old manifests outside the grid are dropped.
``rewrite_manifests`` and new arrays write every non-empty split. These are the rules the
reference implementation follows, so both write the same manifests for the same writes.
"""

from __future__ import annotations

import bisect
import enum
import itertools
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from icechunk.format.ids import ManifestId
from icechunk.format.manifest import ChunkTable, Manifest
from icechunk.format.model import ManifestFileInfo, ManifestRef

if TYPE_CHECKING:
    from icechunk.asset_manager import AssetManager
    from icechunk.changeset import ArrayMeta
    from icechunk.format.ids import NodeId
    from icechunk.format.model import ChunkPayload

__all__ = [
    "Overlap",
    "SplitWriter",
    "Splits",
    "array_splits",
    "overlap",
    "split_edges",
    "splitting_config",
]

Extents = tuple[tuple[int, int], ...]
Coords = tuple[int, ...]


class Overlap(enum.Enum):
    """How a manifest's chunk box lies relative to a split."""

    COMPLETE = "complete"
    PARTIAL = "partial"
    NONE = "none"


def overlap(refs_box: Sequence[Sequence[int]], split: Extents) -> Overlap:
    """Whether the box ``refs_box`` lies inside ``split``, straddles it, or misses it."""
    result = Overlap.COMPLETE
    for (s_lo, s_hi), (r_lo, r_hi) in zip(split, refs_box, strict=False):
        if s_hi <= r_lo or s_lo >= r_hi:
            return Overlap.NONE
        if not (s_lo <= r_lo and s_hi >= r_hi):
            result = Overlap.PARTIAL
    return result


def _uniform_edges(num_chunks: int, size: int) -> list[int]:
    edges = list(range(0, num_chunks + 1, size))
    if num_chunks % size:
        edges.append(num_chunks)
    return edges


def _search(regex: str, text: str | None) -> bool:
    if text is None:
        return False
    try:
        return re.search(regex, text) is not None
    except re.error:
        return False  # the reference treats an invalid pattern as "no match"


def _array_matches(condition: Any, path: str) -> bool:
    """Evaluate a ``ManifestSplitCondition`` (in its ``_to_dict`` form) against a path."""
    if condition == "any_array":
        return True
    ((kind, payload),) = condition.items()
    if kind == "or":
        return any(_array_matches(c, path) for c in payload)
    if kind == "and":
        return all(_array_matches(c, path) for c in payload)
    name = path.rsplit("/", 1)[-1] or None
    return _search(payload["regex"], path if kind == "path_matches" else name)


def _dim_matches(condition: Any, axis: int, dim_name: str | None) -> bool:
    """Evaluate a ``ManifestSplitDimCondition`` (``_to_dict`` form) against one axis."""
    if condition == "Any":
        return True
    ((kind, payload),) = condition.items()
    if kind == "Axis":
        return bool(payload == axis)
    return _search(payload, dim_name)


def split_edges(
    rules: Iterable[tuple[Any, Sequence[tuple[Any, int]]]],
    path: str,
    num_chunks: Sequence[int],
    dimension_names: Sequence[str | None] | None,
) -> list[list[int]]:
    """Split edges along every axis of the array at ``path`` (see the module docstring)."""
    ndim = len(num_chunks)
    edges = [[0, n] for n in num_chunks]
    names = list(dimension_names) if dimension_names is not None else [None] * ndim
    claimed: set[int] = set()
    for condition, dims in rules:
        if not _array_matches(condition, path):
            continue
        for axis, name in enumerate(names[:ndim]):
            if axis in claimed:
                continue
            for dim_condition, size in dims:
                if _dim_matches(dim_condition, axis, name):
                    edges[axis] = _uniform_edges(num_chunks[axis], int(size))
                    claimed.add(axis)
                    break
    return edges


def _rules(splitting: Any) -> list[tuple[Any, Sequence[tuple[Any, int]]]]:
    if splitting is None:
        return []
    rules = splitting.split_sizes or []
    return [(cond._to_dict(), [(d._to_dict(), n) for d, n in dims]) for cond, dims in rules]


def array_splits(splitting: Any, path: str, meta: ArrayMeta) -> Splits:
    """The splits of an array under ``splitting`` (a ``ManifestSplittingConfig`` or None)."""
    counts = [d.num_chunks for d in meta.shape]
    return Splits(split_edges(_rules(splitting), path, counts, meta.dimension_names))


@dataclass(frozen=True)
class Splits:
    """The grid of splits of one array, from its per-axis edges."""

    edges: list[list[int]]
    extents: list[Extents] = field(init=False)

    def __post_init__(self) -> None:
        windows = [list(itertools.pairwise(axis)) for axis in self.edges]
        object.__setattr__(self, "extents", [tuple(box) for box in itertools.product(*windows)])

    def index_of(self, coords: Coords) -> int | None:
        """Position in :attr:`extents` of the split holding ``coords`` (None: off the grid)."""
        flat = 0
        for axis, value in zip(self.edges, coords, strict=False):
            if not axis[0] <= value < axis[-1]:
                return None
            flat = flat * (len(axis) - 1) + bisect.bisect_right(axis, value) - 1
        return flat


@dataclass
class SplitWriter:
    """Writes the manifests of one array for one commit, split by split.

    Parameters
    ----------
    assets
        Where manifests are written and old ones read.
    node_id
        The array.
    known
        File infos of the manifests of the base snapshot (kept refs reuse them).
    """

    assets: AssetManager
    node_id: NodeId
    known: Mapping[ManifestId, ManifestFileInfo]
    refs: list[ManifestRef] = field(default_factory=list)
    infos: list[ManifestFileInfo] = field(default_factory=list)

    async def flush(
        self,
        splits: Splits,
        old_refs: Sequence[ManifestRef],
        changes: Mapping[Coords, ChunkPayload | None],
        *,
        rewrite_all: bool,
    ) -> None:
        """Write what each split needs; results accumulate in :attr:`refs` / :attr:`infos`."""
        changed: dict[int | None, dict[Coords, ChunkPayload | None]] = {}
        for coords, payload in changes.items():
            changed.setdefault(splits.index_of(coords), {})[coords] = payload
        touching = _refs_by_split(splits, old_refs)
        for i, split in enumerate(splits.extents):
            if rewrite_all or i in changed:
                refs = [r for r, _ in touching.get(i, ())]
                await self._write(split, refs, changed.get(i, {}))
                continue
            for ref, seen in touching.get(i, ()):
                if seen is Overlap.COMPLETE:
                    self.refs.append(ref)
                    if ref.object_id in self.known:
                        self.infos.append(self.known[ref.object_id])
                else:  # straddles the border: only that manifest's refs in the split
                    await self._write(split, [ref], {})

    async def _write(
        self,
        split: Extents,
        old_refs: Sequence[ManifestRef],
        changes: Mapping[Coords, ChunkPayload | None],
    ) -> None:
        table = await self._table(split, old_refs, changes)
        if table is None or not len(table):
            return
        manifest = Manifest(ManifestId.random(), {self.node_id: table})
        size = await self.assets.write_manifest(manifest)
        self.refs.append(ManifestRef(manifest.id, table.extents()))
        self.infos.append(ManifestFileInfo(manifest.id, size, len(table)))

    async def _table(
        self,
        split: Extents,
        old_refs: Sequence[ManifestRef],
        changes: Mapping[Coords, ChunkPayload | None],
    ) -> ChunkTable | None:
        """Refs of ``old_refs`` inside ``split`` updated by ``changes`` (all inside it)."""
        table: ChunkTable | None = None
        for ref in old_refs:
            part = (await self.assets.fetch_manifest(ref.object_id)).arrays.get(self.node_id)
            if part is None or not len(part):
                continue
            part = part.within(split)
            table = part if table is None else table.merge(dict(part.items()))
        inside = changes  # the caller passes only the changes inside the split
        if table is None:
            payloads = {c: p for c, p in inside.items() if p is not None}
            return ChunkTable.from_payloads(len(split), payloads) if payloads else None
        return table.merge(inside) if inside else table


def _refs_by_split(
    splits: Splits, old_refs: Sequence[ManifestRef]
) -> dict[int, list[tuple[ManifestRef, Overlap]]]:
    """For each split, the old manifests overlapping it and how.

    A manifest whose box has both corners in one split lies wholly inside it; only the
    rare ones straddling a border are compared with every split.
    """
    out: dict[int, list[tuple[ManifestRef, Overlap]]] = {}
    for ref in old_refs:
        low = splits.index_of(tuple(lo for lo, _ in ref.extents))
        high = splits.index_of(tuple(hi - 1 for _, hi in ref.extents))
        if low is not None and low == high and len(ref.extents) == len(splits.edges):
            out.setdefault(low, []).append((ref, Overlap.COMPLETE))
            continue
        for i, split in enumerate(splits.extents):
            seen = overlap(ref.extents, split)
            if seen is not Overlap.NONE:
                out.setdefault(i, []).append((ref, seen))
    return out


def splitting_config(config: Any) -> Any:
    """The ``ManifestSplittingConfig`` of a ``RepositoryConfig`` (None when unset)."""
    manifest = getattr(config, "manifest", None)
    return getattr(manifest, "splitting", None)
