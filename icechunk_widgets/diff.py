"""DiffViewer: what changed between two versions, down to which chunks."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar

import numpy as np
import traitlets
import zarr

import icechunk as ic
from icechunk._html import chunk_list_text, diff_summary, render_diff

from . import _diff_data as data
from ._base import IcechunkWidget, load_asset

__all__ = ["DiffViewer"]


class DiffViewer(IcechunkWidget):
    """Browse the changes between two versions of a repository.

    Parameters
    ----------
    source
        A :class:`~icechunk.Repository` (compare ``from_`` and ``to``), a
        :class:`~icechunk.Diff` (show it as is) or a :class:`~icechunk.Session` (show its
        uncommitted changes, ``session.status()``).
    from_, to
        Branch names, tag names or snapshot ids. With only ``from_``, the viewer compares it
        with its parent; with neither, the tip of ``main`` with its parent. The older one
        may be given on either side.
    repo
        For a session: the repository it belongs to, so metadata before the changes can be
        shown. Optional.
    """

    _esm = load_asset("common.js", "diff.js")
    _css = load_asset("common.css")
    _ops: ClassVar[dict[str, str]] = {
        "compare": "compare",
        "swap": "swap",
        "filter": "set_filter",
        "select_path": "select_path",
        "load_chunk": "load_chunk",
        "refresh": "refresh",
    }

    title = traitlets.Unicode("").tag(sync=True)
    from_label = traitlets.Unicode("").tag(sync=True)
    to_label = traitlets.Unicode("").tag(sync=True)
    ref_names: traitlets.List[Any] = traitlets.List([]).tag(sync=True)
    summary = traitlets.Dict({}).tag(sync=True)
    path_filter = traitlets.Unicode("").tag(sync=True)
    selected_path = traitlets.Unicode("").tag(sync=True)
    details = traitlets.Dict({}).tag(sync=True)
    chunk_values = traitlets.Dict({}).tag(sync=True)

    def __init__(
        self,
        source: ic.Repository | ic.Diff | ic.Session,
        from_: str | None = None,
        to: str | None = None,
        *,
        repo: ic.Repository | None = None,
    ) -> None:
        super().__init__()
        self._repo = source if isinstance(source, ic.Repository) else repo
        self._session = source if isinstance(source, ic.Session) else None
        self._diff: ic.Diff | None = source if isinstance(source, ic.Diff) else None
        self._from_id: str | None = None
        self._to_id: str | None = None
        self._on_select: list[Callable[[str, dict[str, Any]], None]] = []
        if isinstance(source, ic.Repository):
            self.ref_names = sorted(source.list_branches()) + sorted(source.list_tags())
            self.compare(from_ or "main", to)
        elif self._session is not None:
            self._show(self._session.status(), "base snapshot", "uncommitted changes")
            self._from_id = self._session.snapshot_id
        elif self._diff is not None:
            self._show(self._diff, "from", "to")
        else:
            raise TypeError("DiffViewer needs a Repository, a Diff or a Session")

    # ------------------------------------------------------------------ actions
    def compare(self, from_: str, to: str | None = None) -> dict[str, Any]:
        """Compare two versions (``to=None``: ``from_`` against its parent); returns counts."""
        repo = self._need_repo()
        a, a_label = data.resolve_version(repo, from_)
        if to is None:
            parent = repo.lookup_snapshot(a).parent_id
            if parent is None:
                raise ValueError(f"{a_label} is the initial snapshot: it has no parent to diff")
            older, newer, labels = parent, a, (f"parent of {a_label}", a_label)
        else:
            b, b_label = data.resolve_version(repo, to)
            older, newer, labels = self._order(a, b, a_label, b_label)
        diff = repo.diff(from_snapshot_id=older, to_snapshot_id=newer)
        self._from_id, self._to_id = older, newer
        self._show(diff, *labels)
        return dict(self.summary["counts"])

    def swap(self) -> dict[str, Any]:
        """Swap the two sides. Icechunk diffs go from an ancestor forward, so the labels swap
        and the change markers read in the other direction ("added" becomes "deleted")."""
        summary = dict(self.summary)
        flip = {"added": "deleted", "deleted": "added"}
        summary["entries"] = [{**e, "change": flip.get(e["change"], e["change"])}
                              for e in summary.get("entries", [])]
        counts = dict(summary.get("counts", {}))
        counts["added"], counts["deleted"] = counts.get("deleted", 0), counts.get("added", 0)
        summary["counts"] = counts
        summary["swapped"] = not summary.get("swapped", False)
        self._from_id, self._to_id = self._to_id, self._from_id
        self.from_label, self.to_label = self.to_label, self.from_label
        self.summary = summary
        self.details, self.chunk_values = {}, {}
        return counts

    def set_filter(self, pattern: str) -> int:
        """Show only paths matching a glob (or containing a word); returns how many match."""
        self.path_filter = pattern
        return len(self.visible_entries())

    def visible_entries(self) -> list[dict[str, Any]]:
        """The summary entries that pass the current path filter."""
        return [dict(e) for e in data.filter_entries(self.summary.get("entries", []),
                                                     self.path_filter)]

    def select_path(self, path: str) -> dict[str, Any]:
        """Open one path: metadata and attribute diffs and, for arrays, the chunk map."""
        entry = next((e for e in self.summary.get("entries", []) if e["path"] == path), None)
        if entry is None:
            raise KeyError(f"{path!r} did not change between these versions")
        before = self._metadata("from", path)
        after = self._metadata("to", path)
        meta = after or before or {}
        details: dict[str, Any] = {
            "path": path,
            "change": entry["change"],
            "metadata": data.metadata_changes(before, after),
            "attributes": data.attribute_changes(
                (before or {}).get("attributes"), (after or {}).get("attributes")
            ),
            "chunks_text": chunk_list_text(entry["chunks"]) if entry["chunks"] else "",
        }
        grid = self._grid(meta, entry["chunks"])
        if grid is not None:
            details["grid"] = grid
            details["chunk_map"] = data.chunk_map(grid, entry["chunks"])
        self.selected_path = path
        self.details = details
        self.chunk_values = {}
        for callback in self._on_select:
            callback(path, details)
        return details

    def load_chunk(self, path: str, coords: list[int]) -> dict[str, Any]:
        """Before/after statistics and a preview of one chunk (refused above a size cap)."""
        meta = self._metadata("to", path) or self._metadata("from", path)
        if not meta or meta.get("node_type") != "array":
            raise ValueError(f"{path!r} is not an array at either version")
        chunk_shape = meta["chunk_grid"]["configuration"]["chunk_shape"]
        region = data.chunk_slices(meta["shape"], chunk_shape, coords)
        size = 1
        for s in region:
            size *= s.stop - s.start
        if size > data.MAX_VALUE_ELEMENTS:
            raise ValueError(f"chunk has {size} elements; the cap is {data.MAX_VALUE_ELEMENTS}")
        result: dict[str, Any] = {"path": path, "coords": list(coords)}
        for side in ("from", "to"):
            array = self._array(side, path)
            result[side] = None if array is None else data.value_stats(np.asarray(array[region]))
        self.chunk_values = result
        return result

    def open_array(self, path: str, side: str = "to") -> zarr.Array[Any]:
        """The zarr array at ``path`` as of one side (``"from"`` or ``"to"``), read-only."""
        array = self._array(side, path)
        if array is None:
            raise KeyError(f"no array at {path!r} on the {side!r} side")
        return array

    def refresh(self) -> dict[str, Any]:
        """Recompute (a session's status changes as it writes)."""
        if self._session is not None:
            self._show(self._session.status(), self.from_label, self.to_label)
        elif self._repo is not None and self._from_id and self._to_id:
            self._show(self._repo.diff(from_snapshot_id=self._from_id,
                                       to_snapshot_id=self._to_id),
                       self.from_label, self.to_label)
        return dict(self.summary.get("counts", {}))

    def on_select(self, callback: Callable[[str, dict[str, Any]], None]) -> None:
        """Call ``callback(path, details)`` whenever a path is opened."""
        self._on_select.append(callback)

    # ------------------------------------------------------------------ internals
    def _need_repo(self) -> ic.Repository:
        if self._repo is None:
            raise ValueError("this viewer was built from a Diff; pass a Repository to compare")
        return self._repo

    def _order(self, a: str, b: str, a_label: str, b_label: str) -> tuple[str, str, tuple[str, str]]:
        repo = self._need_repo()
        if any(info.id == a for info in repo.ancestry(snapshot_id=b)):
            return a, b, (a_label, b_label)
        if any(info.id == b for info in repo.ancestry(snapshot_id=a)):
            return b, a, (b_label, a_label)
        raise ValueError(f"{a_label} and {b_label} are on diverged lines of history; "
                         "pick two versions where one is an ancestor of the other")

    def _show(self, diff: ic.Diff, from_label: str, to_label: str) -> None:
        self._diff = diff
        self.from_label, self.to_label = from_label, to_label
        self.title = f"{from_label} → {to_label}"
        self.summary = diff_summary(diff)
        self.details, self.chunk_values, self.selected_path = {}, {}, ""

    def _store(self, side: str) -> Any:
        if side not in ("from", "to"):
            raise ValueError(f"side must be 'from' or 'to', not {side!r}")
        if side == "to" and self._session is not None:
            return self._session.store
        sid = self._from_id if side == "from" else self._to_id
        if self._repo is None or sid is None:
            return None
        return self._repo.readonly_session(snapshot_id=sid).store

    def _metadata(self, side: str, path: str) -> dict[str, Any] | None:
        store = self._store(side)
        return None if store is None else data.node_metadata(store, path)

    def _array(self, side: str, path: str) -> zarr.Array[Any] | None:
        store = self._store(side)
        if store is None:
            return None
        try:
            node = zarr.open(store, path=path.strip("/"), mode="r")
        except (FileNotFoundError, KeyError, ValueError, ic.IcechunkError):
            return None
        return node if isinstance(node, zarr.Array) else None

    @staticmethod
    def _grid(meta: dict[str, Any], chunks: list[list[int]]) -> list[int] | None:
        if meta.get("node_type") == "array":
            shape = meta["shape"]
            step = meta["chunk_grid"]["configuration"]["chunk_shape"]
            return [max(1, -(-s // c)) for s, c in zip(shape, step, strict=True)]
        if chunks:  # a bare Diff: the grid is at least as large as what was written
            return [max(c[i] for c in chunks) + 1 for i in range(len(chunks[0]))]
        return None

    # ------------------------------------------------------------------ display
    def _repr_text(self) -> str:
        counts = self.summary.get("counts", {})
        lines = [f"DiffViewer: {self.title}",
                 f"  +{counts.get('added', 0)} added  -{counts.get('deleted', 0)} deleted  "
                 f"~{counts.get('updated', 0)} updated  {counts.get('chunks', 0)} chunks written"]
        signs = {"added": "+", "deleted": "-", "updated": "~", "chunks": "~"}
        for e in self.summary.get("entries", [])[:50]:
            extra = f"  ({chunk_list_text(e['chunks'])})" if e["chunks"] else ""
            lines.append(f"  {signs[e['change']]} {e['path']} [{e['node']}]{extra}")
        return "\n".join(lines)

    def _repr_static_html(self) -> str:
        return render_diff(self.summary, f"Diff: {self.title}")
