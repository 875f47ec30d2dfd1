"""HistoryBrowser: branches, tags and the commit graph of a repository."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar

import traitlets

import icechunk as ic
from icechunk._html import (
    details,
    esc,
    render_box,
    short_id,
    snapshot_facts,
    table,
)

from . import _history_data as data
from ._base import IcechunkWidget, load_asset, require_confirmation
from .diff import DiffViewer

__all__ = ["HistoryBrowser"]


class HistoryBrowser(IcechunkWidget):
    """Browse a repository's history; select commits, compare them, manage refs.

    Every ref change is conditional on the tip the browser showed: if the ref moved in the
    meantime the action fails with :class:`~icechunk.ConflictError` instead of overwriting.

    Parameters
    ----------
    repo
        The repository to browse.
    page_size
        Snapshots read per page ("load more" reads the next page).
    """

    _esm = load_asset("common.js", "history.js")
    _css = load_asset("common.css")
    _ops: ClassVar[dict[str, str]] = {
        "select": "_ui_select",
        "compare": "compare",
        "open_session": "open_session",
        "create_branch": "create_branch",
        "create_tag": "create_tag",
        "reset_branch": "_confirmed_reset_branch",
        "delete_branch": "_confirmed_delete_branch",
        "delete_tag": "_confirmed_delete_tag",
        "load_more": "load_more",
        "filter": "set_filter",
        "refresh": "refresh",
    }

    # not "refs": Panel reserves that keyword for its components (see panel_app.to_panel)
    ref_list: traitlets.List[Any] = traitlets.List([]).tag(sync=True)
    commits: traitlets.List[Any] = traitlets.List([]).tag(sync=True)
    has_more = traitlets.Bool(False).tag(sync=True)
    text_filter = traitlets.Unicode("").tag(sync=True)
    selected_ids: traitlets.List[Any] = traitlets.List([]).tag(sync=True)
    detail = traitlets.Dict({}).tag(sync=True)
    diff = traitlets.Dict({}).tag(sync=True)
    message = traitlets.Unicode("").tag(sync=True)

    def __init__(self, repo: ic.Repository, page_size: int = data.PAGE_SIZE) -> None:
        super().__init__()
        self.repo = repo
        self.page_size = page_size
        self.selected_session: ic.Session | None = None
        self.diff_viewer: DiffViewer | None = None
        self._limit = page_size
        self._cache: dict[str, ic.SnapshotInfo] = {}
        self._on_select: list[Callable[[list[str]], None]] = []
        self._on_change: list[Callable[[str, dict[str, Any]], None]] = []
        self.refresh()

    # ------------------------------------------------------------------ reading
    def refresh(self) -> int:
        """Re-read refs and the loaded pages of history; returns the number of rows."""
        self.ref_list = data.ref_rows(self.repo)
        tips = [r["snapshot_id"] for r in self.ref_list]
        infos = data.collect_commits(self.repo, tips, self._limit + 1, self._cache)
        self.has_more = len(infos) > self._limit
        infos = infos[: self._limit]
        labels: dict[str, list[str]] = {}
        for r in self.ref_list:
            labels.setdefault(r["snapshot_id"], []).append(r["name"])
        placements = data.layout_lanes([(i.id, i.parent_id) for i in infos])
        rows = [data.commit_row(i, p, labels.get(i.id, [])) for i, p in zip(infos, placements,
                                                                          strict=True)]
        self.commits = [r for r in rows if data.matches_filter(r, self.text_filter)]
        return len(self.commits)

    def load_more(self) -> int:
        """Read the next page of older snapshots."""
        self._limit += self.page_size
        return self.refresh()

    def set_filter(self, text: str) -> int:
        """Show only commits whose message, metadata or refs contain ``text`` (or id prefix)."""
        self.text_filter = text
        return self.refresh()

    # ------------------------------------------------------------------ selection
    def select(self, *snapshot_ids: str, add: bool = False) -> dict[str, Any]:
        """Select one commit (details + its diff to the parent) or two (their diff).

        ``add=True`` adds to the current selection (keeping the newest two).
        """
        ids = [*(self.selected_ids if add else []), *snapshot_ids][-2:]
        if not ids:
            raise ValueError("select at least one snapshot")
        infos = [self.repo.lookup_snapshot(i) for i in ids]
        self.selected_ids = [i.id for i in infos]
        self.detail = self._detail(infos[-1])
        if len(infos) == 2:
            self.compare(infos[0].id, infos[1].id)
        elif infos[0].parent_id is not None:
            self._open_diff(DiffViewer(self.repo, infos[0].id))
        else:
            self.diff, self.diff_viewer = {}, None
        for callback in self._on_select:
            callback(list(self.selected_ids))
        return dict(self.detail)

    def compare(self, a: str, b: str) -> dict[str, Any]:
        """Open a :class:`DiffViewer` between two snapshots (older one first or not)."""
        viewer = DiffViewer(self.repo, a, b)
        self._open_diff(viewer)
        return dict(viewer.summary["counts"])

    def open_session(self, snapshot_id: str | None = None) -> str:
        """A read-only session at a snapshot (default: the selected one), in ``selected_session``."""
        sid = snapshot_id or self._selected()
        self.selected_session = self.repo.readonly_session(snapshot_id=sid)
        self.message = f"read-only session opened at {sid[:8]}: w.selected_session"
        return sid

    # ------------------------------------------------------------------ ref changes
    def create_branch(self, name: str, snapshot_id: str | None = None) -> str:
        """Create branch ``name`` at a snapshot (default: the selected one)."""
        sid = snapshot_id or self._selected()
        self.repo.create_branch(name, sid)
        return self._changed("create_branch", name=name, snapshot_id=sid)

    def create_tag(self, name: str, snapshot_id: str | None = None) -> str:
        """Create tag ``name`` at a snapshot (default: the selected one)."""
        sid = snapshot_id or self._selected()
        self.repo.create_tag(name, sid)
        return self._changed("create_tag", name=name, snapshot_id=sid)

    def reset_branch(self, name: str, snapshot_id: str | None = None,
                     expected_tip: str | None = None) -> str:
        """Point branch ``name`` at a snapshot, only if it is still at ``expected_tip``.

        ``expected_tip`` defaults to the tip this browser shows, so a concurrent commit makes
        this fail with :class:`~icechunk.ConflictError`.
        """
        sid = snapshot_id or self._selected()
        expected = expected_tip or self._shown_tip(name, "branch")
        self.repo.reset_branch(name, sid, from_snapshot_id=expected)
        return self._changed("reset_branch", name=name, snapshot_id=sid, previous=expected)

    def delete_branch(self, name: str, expected_tip: str | None = None) -> str:
        """Delete a branch (never ``main``) if it is still at ``expected_tip``.

        The engine's delete is not conditional, so the tip is checked right before deleting;
        a commit landing in between these two calls is the remaining window.
        """
        if name == "main":
            raise ValueError("the main branch can never be deleted")
        expected = expected_tip or self._shown_tip(name, "branch")
        self._check_unmoved(name, expected, self.repo.lookup_branch(name))
        self.repo.delete_branch(name)
        return self._changed("delete_branch", name=name, previous=expected)

    def delete_tag(self, name: str, expected_target: str | None = None) -> str:
        """Delete a tag (its name can never be reused) if it still points where shown."""
        expected = expected_target or self._shown_tip(name, "tag")
        self._check_unmoved(name, expected, self.repo.lookup_tag(name))
        self.repo.delete_tag(name)
        return self._changed("delete_tag", name=name, previous=expected)

    def on_select(self, callback: Callable[[list[str]], None]) -> None:
        """Call ``callback(selected_ids)`` after every selection."""
        self._on_select.append(callback)

    def on_change(self, callback: Callable[[str, dict[str, Any]], None]) -> None:
        """Call ``callback(action, details)`` after every ref change."""
        self._on_change.append(callback)

    # -- front-end entry points: destructive actions need the name typed back
    def _ui_select(self, ids: list[str], add: bool = False) -> dict[str, Any]:
        return self.select(*ids, add=add)

    def _confirmed_reset_branch(self, name: str, snapshot_id: str, expected_tip: str,
                                confirm: str) -> str:
        require_confirmation(name, confirm)
        return self.reset_branch(name, snapshot_id, expected_tip)

    def _confirmed_delete_branch(self, name: str, expected_tip: str, confirm: str) -> str:
        require_confirmation(name, confirm)
        return self.delete_branch(name, expected_tip)

    def _confirmed_delete_tag(self, name: str, expected_tip: str, confirm: str) -> str:
        require_confirmation(name, confirm)
        return self.delete_tag(name, expected_tip)

    # ------------------------------------------------------------------ internals
    def _selected(self) -> str:
        if not self.selected_ids:
            raise ValueError("select a snapshot first")
        return str(self.selected_ids[-1])

    def _shown_tip(self, name: str, kind: str) -> str:
        for r in self.ref_list:
            if r["name"] == name and r["kind"] == kind:
                return str(r["snapshot_id"])
        raise ic.RefNotFoundError(f"{kind} {name!r} is not shown; refresh the browser")

    @staticmethod
    def _check_unmoved(name: str, expected: str, actual: str) -> None:
        if actual != expected:
            raise ic.ConflictError(
                expected, actual, f"{name!r} moved from {expected} to {actual} since it was "
                "shown; nothing was changed"
            )

    def _changed(self, action: str, **info: Any) -> str:
        self.refresh()
        self.message = f"{action.replace('_', ' ')}: {info.get('name')}"
        for callback in self._on_change:
            callback(action, info)
        return str(info.get("snapshot_id") or info.get("name"))

    def _open_diff(self, viewer: DiffViewer) -> None:
        self.diff_viewer = viewer
        self.diff = {"title": viewer.title, "summary": viewer.summary}

    def _detail(self, info: ic.SnapshotInfo) -> dict[str, Any]:
        facts = snapshot_facts(info)
        row = data.commit_row(info, {"lane": 0, "active": [], "closing": []}, [])
        return {**row, "message": facts["message"]}

    # ------------------------------------------------------------------ display
    def _repr_text(self) -> str:
        lines = ["HistoryBrowser"]
        lines += [f"  {r['kind']:6} {r['name']} -> {r['snapshot_id'][:8]}" for r in self.ref_list]
        for c in self.commits[:30]:
            refs = f" ({', '.join(c['refs'])})" if c["refs"] else ""
            lines.append(f"  {c['graph']} {c['short']}{refs} {c['message']}")
        return "\n".join(lines)

    def _repr_static_html(self) -> str:
        refs = table(
            ["ref", "kind", "tip", "age"],
            [[esc(r["name"]), r["kind"], short_id(r["snapshot_id"]), esc(r["age"])]
             for r in self.ref_list],
        )
        rows = [
            [f"<code>{esc(c['graph'])}</code>", short_id(c["id"]), esc(", ".join(c["refs"])),
             esc(c["message"]), f'<span title="{esc(c["written_at"])}">{esc(c["age"])}</span>']
            for c in self.commits
        ]
        body = details(f"Refs ({len(self.ref_list)})", refs, open_=True)
        body += details(f"Commits ({len(self.commits)}{'+' if self.has_more else ''})",
                        table(["", "id", "refs", "message", "age"], rows), open_=True)
        return render_box("Icechunk history", body)
