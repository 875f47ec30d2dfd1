"""Data behind the diff viewer: version resolution, metadata/attribute diffs, chunk maps.

The comparison functions (``metadata_changes``, ``attribute_changes``, ``chunk_map``,
``value_stats``) are pure; the readers open zarr nodes through public icechunk sessions.
"""

from __future__ import annotations

import fnmatch
import json
import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import zarr

import icechunk as ic

__all__ = [
    "MAX_PREVIEW",
    "MAX_VALUE_ELEMENTS",
    "attribute_changes",
    "chunk_map",
    "chunk_slices",
    "filter_entries",
    "metadata_changes",
    "node_metadata",
    "resolve_version",
    "value_stats",
]

MAX_VALUE_ELEMENTS = 1_000_000
"""Chunks larger than this are not loaded for before/after values."""
MAX_PREVIEW = 20
MAX_GRID_CELLS = 4096
_META_FIELDS = ("node_type", "shape", "chunk_grid", "data_type", "fill_value", "codecs",
                "dimension_names")


def resolve_version(repo: ic.Repository, ref: str) -> tuple[str, str]:
    """``(snapshot_id, label)`` for a branch, a tag or a snapshot id (tried in that order)."""
    if ref in repo.list_branches():
        return repo.lookup_branch(ref), f"branch {ref}"
    if ref in repo.list_tags():
        return repo.lookup_tag(ref), f"tag {ref}"
    return repo.lookup_snapshot(ref).id, ref[:8]


def node_metadata(store: Any, path: str) -> dict[str, Any] | None:
    """The zarr metadata of the node at ``path`` as a dict, or None if it does not exist."""
    key = path.strip("/")
    try:
        node = zarr.open_group(store, mode="r") if not key else zarr.open(store, path=key, mode="r")
    except (FileNotFoundError, KeyError, ValueError, ic.IcechunkError):
        return None
    meta: dict[str, Any] = json.loads(json.dumps(node.metadata.to_dict(), default=str))
    return meta


def metadata_changes(
    before: Mapping[str, Any] | None, after: Mapping[str, Any] | None
) -> list[dict[str, Any]]:
    """Field-level differences of two node metadata dicts (attributes excluded)."""
    before, after = before or {}, after or {}
    return [
        {"field": f, "before": before.get(f), "after": after.get(f)}
        for f in _META_FIELDS
        if before.get(f) != after.get(f)
    ]


def attribute_changes(
    before: Mapping[str, Any] | None, after: Mapping[str, Any] | None, max_len: int = 80
) -> list[dict[str, Any]]:
    """Key-level attribute changes; long values are shortened (``full`` keeps both)."""
    before, after = before or {}, after or {}
    rows = []
    for key in sorted(set(before) | set(after)):
        if key in before and key in after and before[key] == after[key]:
            continue
        change = "added" if key not in before else "deleted" if key not in after else "updated"
        rows.append(
            {
                "key": key,
                "change": change,
                "before": _short(before.get(key), max_len),
                "after": _short(after.get(key), max_len),
                "truncated": any(
                    len(json.dumps(v, default=str)) > max_len
                    for v in (before.get(key), after.get(key))
                ),
            }
        )
    return rows


def _short(value: Any, max_len: int) -> str | None:
    if value is None:
        return None
    text = json.dumps(value, default=str)
    return text if len(text) <= max_len else text[: max_len - 1] + "…"


def chunk_map(
    grid: Sequence[int],
    chunks: Sequence[Sequence[int]],
    axes: tuple[int, int] = (0, 1),
    max_cells: int = MAX_GRID_CELLS,
) -> dict[str, Any]:
    """Where the changed chunks are: a 2-D count grid over ``axes``, or a histogram.

    ``grid`` is the number of chunks along each dimension. For n-D arrays the other axes are
    summed over (projection). 1-D arrays become a single row. When the projected grid has
    more than ``max_cells`` cells, a histogram of changed chunks per index of the first axis
    is returned instead (binned to at most 64 bins).
    """
    if not grid:
        return {"kind": "scalar", "count": len(chunks)}
    if len(grid) == 1:
        rows_axis, cols_axis, n_rows, n_cols = None, 0, 1, grid[0]
    else:
        rows_axis, cols_axis = axes
        n_rows, n_cols = grid[rows_axis], grid[cols_axis]
    if n_rows * n_cols > max_cells:
        return _histogram(grid, chunks, axes[0] if len(grid) > 1 else 0)
    cells = [[0] * n_cols for _ in range(n_rows)]
    for c in chunks:
        r = 0 if rows_axis is None else c[rows_axis]
        if 0 <= r < n_rows and 0 <= c[cols_axis] < n_cols:
            cells[r][c[cols_axis]] += 1
    depth = math.prod(g for i, g in enumerate(grid) if i not in (rows_axis, cols_axis))
    return {"kind": "grid", "axes": [rows_axis, cols_axis], "rows": n_rows, "cols": n_cols,
            "cells": cells, "depth": depth, "changed": len(chunks)}


def _histogram(grid: Sequence[int], chunks: Sequence[Sequence[int]], axis: int) -> dict[str, Any]:
    n = grid[axis]
    bins = min(64, n)
    counts = [0] * bins
    for c in chunks:
        counts[min(bins - 1, c[axis] * bins // n)] += 1
    return {"kind": "histogram", "axis": axis, "bins": counts, "bin_width": math.ceil(n / bins),
            "changed": len(chunks)}


def chunk_slices(shape: Sequence[int], chunk_shape: Sequence[int],
                 coords: Sequence[int]) -> tuple[slice, ...]:
    """The array region covered by the chunk at ``coords`` (clipped at the array edge)."""
    if len(coords) != len(shape):
        raise ValueError(f"chunk coordinates {list(coords)} do not match {len(shape)} dimensions")
    out = []
    for size, step, i in zip(shape, chunk_shape, coords, strict=True):
        if not 0 <= i * step < max(size, 1):
            raise ValueError(f"chunk index {i} is outside an axis of {size} elements")
        out.append(slice(i * step, min(size, (i + 1) * step)))
    return tuple(out)


def value_stats(values: np.ndarray[Any, Any] | None) -> dict[str, Any] | None:
    """Min, max, mean and the first values of a chunk (None when the chunk is absent)."""
    if values is None:
        return None
    flat = np.asarray(values).ravel()
    numeric = flat.dtype.kind in "biuf" and flat.size > 0
    return {
        "size": int(flat.size),
        "dtype": str(flat.dtype),
        "min": float(np.nanmin(flat)) if numeric else None,
        "max": float(np.nanmax(flat)) if numeric else None,
        "mean": float(np.nanmean(flat)) if numeric else None,
        "preview": [v.item() if hasattr(v, "item") else str(v) for v in flat[:MAX_PREVIEW]],
    }


def filter_entries(entries: Sequence[Mapping[str, Any]], pattern: str) -> list[Mapping[str, Any]]:
    """Entries whose path matches the glob ``pattern`` (a bare word matches as a substring)."""
    pattern = pattern.strip()
    if not pattern:
        return list(entries)
    if not any(ch in pattern for ch in "*?["):
        pattern = f"*{pattern}*"
    return [e for e in entries if fnmatch.fnmatch(e["path"], pattern)]
