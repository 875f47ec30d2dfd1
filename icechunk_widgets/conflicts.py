"""ConflictResolver: interactive rebase of a session whose branch moved."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar

import traitlets

import icechunk as ic
from icechunk._html import conflict_rows, relative_time, render_conflicts

from . import _conflict_data as data
from ._base import IcechunkWidget, load_asset
from ._diff_data import node_metadata

__all__ = ["ConflictResolver"]

_SIDE_FIELDS = ("node_type", "shape", "data_type", "attributes")


class ConflictResolver(IcechunkWidget):
    """Find, explain and resolve the conflicts between a session and its moved branch.

    Nothing is ever committed implicitly: :meth:`commit` is the only call that writes a
    snapshot, and it is only offered once a rebase succeeded.

    Parameters
    ----------
    source
        The writable :class:`~icechunk.Session` whose commit failed, or the
        :class:`~icechunk.ConflictError`/:class:`~icechunk.RebaseFailedError` itself (then
        pass ``session=`` to be able to rebase and commit).
    session, repo
        The session (when ``source`` is an error) and the repository it belongs to. The
        repository is needed to list the commits that landed meanwhile and to show the
        base/theirs side of each conflict; without it those parts are left out.
    preview
        Run :meth:`preview` right away (detect only; see there).
    """

    _esm = load_asset("common.js", "conflicts.js")
    _css = load_asset("common.css")
    _ops: ClassVar[dict[str, str]] = {"choose": "choose", "preview": "preview", "rebase": "rebase", "commit": "commit",
            "refresh": "refresh"}

    branch = traitlets.Unicode("").tag(sync=True)
    expected_parent = traitlets.Unicode("").tag(sync=True)
    actual_parent = traitlets.Unicode("").tag(sync=True)
    landed: traitlets.List[Any] = traitlets.List([]).tag(sync=True)
    groups: traitlets.List[Any] = traitlets.List([]).tag(sync=True)
    choices = traitlets.Dict({}).tag(sync=True)
    options = traitlets.Dict({}).tag(sync=True)
    explanations = traitlets.Dict({}).tag(sync=True)
    stage = traitlets.Unicode("detect").tag(sync=True)
    code = traitlets.Unicode("").tag(sync=True)
    committed_id = traitlets.Unicode("").tag(sync=True)
    status = traitlets.Unicode("").tag(sync=True)

    def __init__(
        self,
        source: ic.Session | ic.ConflictError,
        *,
        session: ic.Session | None = None,
        repo: ic.Repository | None = None,
        preview: bool = True,
    ) -> None:
        super().__init__()
        self.error_source = source if isinstance(source, ic.ConflictError) else None
        self.session = source if isinstance(source, ic.Session) else session
        self.repo = repo
        self._on_commit: list[Callable[[str], None]] = []
        self.choices = dict(data.DEFAULT_CHOICES)
        self.options = dict(data.OPTIONS)
        self.explanations = dict(data.EXPLANATIONS)
        self._theirs_snapshot: str | None = None
        self._conflicts: list[Any] = []
        if self.session is not None:
            self.branch = self.session.branch or ""
            self.expected_parent = self.session.snapshot_id
        if isinstance(self.error_source, ic.RebaseFailedError):
            self._set_conflicts(self.error_source.conflicts, self.error_source.snapshot)
        elif isinstance(self.error_source, ic.ConflictError):
            self.expected_parent = self.error_source.expected_parent or self.expected_parent
        self.refresh()
        if preview and self.session is not None and not self.groups:
            self.preview()

    # ------------------------------------------------------------------ actions
    def refresh(self) -> int:
        """Re-read the branch tip and the commits that landed after the session's base."""
        self._update_code()
        if self.repo is None or not self.branch or self.session is None:
            return len(self.landed)
        tip = self.repo.lookup_branch(self.branch)
        self.actual_parent = tip
        rows = []
        for info in self.repo.ancestry(snapshot_id=tip):
            if info.id == self.session.snapshot_id:
                break
            rows.append({"id": info.id, "short": info.id[:8], "message": info.message,
                         "age": relative_time(info.written_at),
                         "written_at": info.written_at.isoformat(),
                         "metadata": {k: str(v) for k, v in info.metadata.items()}})
        self.landed = rows
        return len(rows)

    def choose(self, kind: str, choice: str) -> dict[str, str]:
        """Pick ``ours``/``theirs``/``fail`` for every conflict of one kind."""
        data.validate_choice(kind, choice)
        self.choices = {**self.choices, kind: choice}
        self._update_code()
        return dict(self.choices)

    def preview(self) -> int:
        """Detect conflicts with :class:`~icechunk.ConflictDetector`; returns how many.

        The detector resolves nothing and never edits the session's changes. Commits that do
        not conflict are replayed (the session's base moves onto them), and detection stops
        at the first commit that does conflict, whose conflicts are then listed.
        """
        session = self._need_session()
        try:
            session.rebase(ic.ConflictDetector())
        except ic.RebaseFailedError as exc:
            self._set_conflicts(exc.conflicts, exc.snapshot)
            self.stage = "conflicts"
            self.status = f"{len(exc.conflicts)} conflict(s) with commit {exc.snapshot[:8]}"
        else:
            self._set_conflicts([], None)
            self.stage = "ready"
            self.status = "no conflicts: the session is on the branch tip; ready to commit"
        self.refresh()
        return len(self._conflicts)

    def rebase(self) -> int:
        """Rebase with the solver the current choices map to; returns conflicts left."""
        session = self._need_session()
        try:
            session.rebase(data.solver_from_choices(self.choices))
        except ic.RebaseFailedError as exc:
            self._set_conflicts(exc.conflicts, exc.snapshot)
            self.stage = "conflicts"
            self.status = f"{len(exc.conflicts)} conflict(s) left; change a choice or discard"
            self.refresh()
            return len(exc.conflicts)
        self._set_conflicts([], None)
        self.stage = "ready"
        self.status = "rebased onto the branch tip; nothing committed yet"
        self.refresh()
        return 0

    def commit(self, message: str, metadata: dict[str, Any] | None = None) -> str:
        """Commit the rebased session; if the branch moved again, go back to resolving."""
        session = self._need_session()
        if self.stage != "ready":
            raise ic.SessionStateError("rebase successfully before committing")
        if not message.strip():
            raise ValueError("write a commit message")
        try:
            sid = session.commit(message, metadata)
        except ic.ConflictError:
            self.stage = "detect"
            self.status = "the branch moved while you were resolving; new commits listed"
            self.refresh()
            self.preview()
            raise
        self.committed_id = sid
        self.stage = "committed"
        self.status = f"committed {sid}"
        for callback in self._on_commit:
            callback(sid)
        return sid

    def on_commit(self, callback: Callable[[str], None]) -> None:
        """Call ``callback(snapshot_id)`` after a successful commit."""
        self._on_commit.append(callback)

    # ------------------------------------------------------------------ internals
    def _need_session(self) -> ic.Session:
        if self.session is None:
            raise ValueError("pass session= to rebase and commit; an error alone is read-only")
        return self.session

    def _set_conflicts(self, conflicts: list[Any], snapshot: str | None) -> None:
        self._conflicts = list(conflicts)
        self._theirs_snapshot = snapshot
        rows = conflict_rows(conflicts)
        for row in rows:
            row["options"] = data.options_for(row["kind"])
            row["sides"] = self._sides(row["path"]) if row["kind"] != "ChunkDoubleUpdate" else {}
        self.groups = data.group_by_path(rows)
        self._update_code()

    def _sides(self, path: str) -> dict[str, Any]:
        """Base / ours / theirs metadata of a node in conflict (what is readable)."""
        stores: dict[str, Any] = {}
        if self.session is not None:
            stores["ours"] = self.session.store
        if self.repo is not None and self.session is not None:
            stores["base"] = self.repo.readonly_session(snapshot_id=self.session.snapshot_id).store
        if self.repo is not None and self._theirs_snapshot:
            stores["theirs"] = self.repo.readonly_session(snapshot_id=self._theirs_snapshot).store
        out: dict[str, Any] = {}
        for side, store in stores.items():
            meta = node_metadata(store, path)
            out[side] = None if meta is None else {f: meta.get(f) for f in _SIDE_FIELDS}
        return out

    def _update_code(self) -> None:
        self.code = data.solver_code(self.choices)

    # ------------------------------------------------------------------ display
    def _repr_text(self) -> str:
        lines = [f"ConflictResolver: branch {self.branch or '?'} ({self.stage})",
                 f"  session base {self.expected_parent[:8]}, branch tip "
                 f"{self.actual_parent[:8] or '?'}; {len(self.landed)} commit(s) landed meanwhile"]
        for group in self.groups:
            for c in group["conflicts"]:
                lines.append(f"  {c['kind']}: {c['path']}"
                             + (f" ({len(c['chunks'])} chunks)" if c["chunks"] else ""))
        lines.append("Resolve in Python:")
        lines += ["  " + line for line in self.code.splitlines()]
        return "\n".join(lines)

    def _repr_static_html(self) -> str:
        rows = [c for g in self.groups for c in g["conflicts"]]
        return render_conflicts(rows, self.code)
