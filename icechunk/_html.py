"""Static HTML renderers for the ``_repr_html_`` of core objects and the widgets' snapshots.

Two layers: ``*_facts`` functions read the few cheap things an object knows (never an
ancestry walk: that is one object-store read per snapshot) into plain dicts, and ``render_*``
functions turn plain data into HTML with no I/O. The widgets in ``icechunk_widgets`` reuse
the renderers for the ``text/html`` part of their bundles, so one look serves reopened
notebooks, GitHub and nbviewer.

The HTML must read well when every stylesheet is stripped (JupyterLab's sanitizer removes
``<style>``, ``id`` and ``hidden`` from untrusted output; GitHub removes CSS): only inline
styles, tables, lists and ``<details>``; colour always comes with a text marker (``+ - ~``).
Colours go through JupyterLab's CSS variables with fallbacks so dark themes stay legible.
Every user string (messages, metadata, paths) is escaped.
"""

from __future__ import annotations

import datetime as dt
import html
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from icechunk.diff import Diff
    from icechunk.repository import Repository
    from icechunk.session import Session
    from icechunk.snapshots import SnapshotInfo
    from icechunk.store import IcechunkStore

__all__ = [
    "MAX_ROWS",
    "conflicts_html",
    "details",
    "diff_html",
    "esc",
    "kv_table",
    "redact",
    "relative_time",
    "render_box",
    "render_conflicts",
    "render_diff",
    "render_repository",
    "render_session",
    "render_snapshot",
    "repository_facts",
    "repository_html",
    "session_facts",
    "session_html",
    "short_id",
    "snapshot_facts",
    "snapshot_html",
    "store_html",
    "table",
]

MAX_ROWS = 50
"""Tables show at most this many rows, then a ``… N more`` line."""
MAX_CHUNKS_LISTED = 12

FG = "var(--jp-ui-font-color1, inherit)"
MUTED = "var(--jp-ui-font-color2, #777)"
BORDER = "var(--jp-border-color2, #ccc)"
BG_ALT = "var(--jp-layout-color2, rgba(127,127,127,0.08))"
ADDED = "var(--jp-success-color1, #2e7d32)"
DELETED = "var(--jp-error-color1, #c62828)"
UPDATED = "var(--jp-warn-color1, #b26a00)"
MARKERS = {"added": ("+", ADDED), "deleted": ("-", DELETED), "updated": ("~", UPDATED)}

_BOX = (
    f"font-family:var(--jp-code-font-family, monospace);font-size:12px;color:{FG};"
    f"border:1px solid {BORDER};border-radius:4px;padding:6px 10px;max-width:900px;"
    "line-height:1.5;overflow-x:auto"
)
_CELL = f"text-align:left;padding:2px 8px;border-bottom:1px solid {BORDER};vertical-align:top"


# ---------------------------------------------------------------------- primitives
def esc(value: object) -> str:
    """Escape any value for HTML text or attribute context."""
    return html.escape(str(value), quote=True)


def short_id(snapshot_id: str | None, width: int = 8) -> str:
    """A short id in ``<code>`` with the full id as its tooltip; ``—`` for none."""
    if not snapshot_id:
        return "—"
    return f'<code title="{esc(snapshot_id)}">{esc(snapshot_id[:width])}</code>'


def relative_time(when: dt.datetime, now: dt.datetime | None = None) -> str:
    """``5 min ago``-style age of ``when`` (timezone-aware or naive UTC)."""
    now = now or dt.datetime.now(dt.UTC)
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    seconds = max(0, int((now - when).total_seconds()))
    for size, unit in ((86400 * 365, "y"), (86400, "d"), (3600, "h"), (60, "min")):
        if seconds >= size:
            return f"{seconds // size} {unit} ago"
    return f"{seconds} s ago"


def redact(text: str) -> str:
    """Replace the value of any ``name: value`` or ``name=value`` whose name looks secret."""

    def hide(match: re.Match[str]) -> str:
        return f"{match.group(1)}{match.group(2)}<redacted>"

    pattern = r"(?i)(\b[\w.-]*(?:secret|password|token|credential|access_key|key_id|sas)[\w.-]*)(\s*[:=]\s*)(\S+)"
    return re.sub(pattern, hide, text)


def marker(kind: str) -> str:
    """A coloured ``+``/``-``/``~`` that still reads with colour stripped."""
    sign, colour = MARKERS[kind]
    return f'<b style="color:{colour}" title="{esc(kind)}">{sign}</b>'


def table(headers: Sequence[str], rows: Iterable[Sequence[str]], *, limit: int = MAX_ROWS) -> str:
    """A bordered table; cells are HTML (escape them first); rows past ``limit`` are counted."""
    head = "".join(f'<th style="{_CELL}">{esc(h)}</th>' for h in headers)
    body: list[str] = []
    extra = 0
    for i, row in enumerate(rows):
        if i >= limit:
            extra += 1
            continue
        shade = f"background:{BG_ALT};" if i % 2 else ""
        cells = "".join(f'<td style="{_CELL}">{c}</td>' for c in row)
        body.append(f'<tr style="{shade}">{cells}</tr>')
    more = f'<div style="color:{MUTED}">… {extra} more</div>' if extra else ""
    return (
        '<table style="border-collapse:collapse;margin:4px 0">'
        f"<thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>{more}"
    )


def kv_table(pairs: Iterable[tuple[str, str]]) -> str:
    """A two-column name/value table; values are HTML."""
    rows = "".join(
        f'<tr><th style="{_CELL};color:{MUTED};font-weight:normal">{esc(k)}</th>'
        f'<td style="{_CELL}">{v}</td></tr>'
        for k, v in pairs
    )
    return f'<table style="border-collapse:collapse;margin:4px 0">{rows}</table>'


def details(summary: str, body: str, *, open_: bool = False) -> str:
    """A ``<details>`` section; ``summary`` is HTML."""
    flag = " open" if open_ else ""
    return (
        f'<details{flag} style="margin:4px 0"><summary style="cursor:pointer">{summary}'
        f"</summary>{body}</details>"
    )


def render_box(title: str, body: str, css_class: str = "icechunk-repr") -> str:
    """The outer frame every renderer uses: a bold title line over ``body`` (HTML)."""
    return (
        f'<div class="{esc(css_class)}"><div style="{_BOX}">'
        f'<div style="font-weight:bold;border-bottom:1px solid {BORDER};padding-bottom:3px;'
        f'margin-bottom:4px">{esc(title)}</div>{body}</div></div>'
    )


def _json(value: object) -> str:
    text = json.dumps(value, default=str, sort_keys=True)
    return f"<code>{esc(text if len(text) <= 200 else text[:200] + '…')}</code>"


def chunk_list_text(chunks: Sequence[Sequence[int]], limit: int = MAX_CHUNKS_LISTED) -> str:
    """``3 chunks: (0,0) (0,1) (1,1)``, eliding past ``limit`` with ``… +N more``."""
    shown = " ".join("(" + ",".join(str(i) for i in c) + ")" for c in list(chunks)[:limit])
    rest = len(chunks) - limit
    tail = f" … +{rest} more" if rest > 0 else ""
    noun = "chunk" if len(chunks) == 1 else "chunks"
    return f"{len(chunks)} {noun}: {shown}{tail}"


# ---------------------------------------------------------------------- repository
def repository_facts(repo: Repository) -> dict[str, Any]:
    """Storage, spec version, branches (with tips) and tags: one listing of the refs."""
    storage_lines = repr(repo.storage).splitlines()[1:]
    branches = sorted(repo.list_branches())
    tags = sorted(repo.list_tags())
    return {
        "storage": [redact(line) for line in storage_lines],
        "spec_version": str(getattr(repo.spec_version, "value", repo.spec_version)),
        "branches": [(b, repo.lookup_branch(b)) for b in branches[:MAX_ROWS]],
        "branch_count": len(branches),
        "tags": [(t, repo.lookup_tag(t)) for t in tags[:MAX_ROWS]],
        "tag_count": len(tags),
    }


def render_repository(facts: Mapping[str, Any]) -> str:
    """HTML for :func:`repository_facts` output."""
    storage = "<br>".join(esc(line) for line in facts["storage"]) or "—"
    refs = [(esc(n), "branch", short_id(t)) for n, t in facts["branches"]]
    refs += [(esc(n), "tag", short_id(t)) for n, t in facts["tags"]]
    body = kv_table(
        [
            ("storage", storage),
            ("spec version", esc(facts["spec_version"])),
            ("branches", str(facts["branch_count"])),
            ("tags", str(facts["tag_count"])),
        ]
    )
    body += details(f"Refs ({len(refs)})", table(["name", "kind", "snapshot"], refs), open_=True)
    return render_box("icechunk.Repository", body)


def repository_html(repo: Repository) -> str:
    """The ``_repr_html_`` of :class:`~icechunk.Repository`."""
    return render_repository(repository_facts(repo))


# ---------------------------------------------------------------------- session / store
def session_facts(session: Session) -> dict[str, Any]:
    """Mode, branch, base snapshot and the in-memory change counts of a session."""
    facts: dict[str, Any] = {
        "kind": type(session).__name__,
        "read_only": session.read_only,
        "branch": session.branch,
        "snapshot_id": session.snapshot_id,
        "has_changes": session.has_uncommitted_changes,
        "status": None,
    }
    if session.has_uncommitted_changes:
        facts["status"] = diff_summary(session.status())
    return facts


def render_session(facts: Mapping[str, Any], title: str | None = None) -> str:
    """HTML for :func:`session_facts` output."""
    mode = "read-only" if facts["read_only"] else "writable"
    body = kv_table(
        [
            ("read_only", esc(f"{bool(facts['read_only'])} ({mode})")),
            ("branch", esc(facts["branch"]) if facts["branch"] else "— (detached)"),
            ("base snapshot", short_id(facts["snapshot_id"])),
            ("uncommitted changes", "yes" if facts["has_changes"] else "no"),
        ]
    )
    if facts["status"]:
        body += details("Uncommitted changes", _summary_table(facts["status"]), open_=True)
    return render_box(title or f"icechunk.session.{facts['kind']}", body)


def session_html(session: Session) -> str:
    """The ``_repr_html_`` of :class:`~icechunk.Session` and :class:`~icechunk.ForkSession`."""
    return render_session(session_facts(session))


def store_html(store: IcechunkStore) -> str:
    """The ``_repr_html_`` of :class:`~icechunk.IcechunkStore`: its session, titled as a store."""
    facts = session_facts(store.session)
    facts["read_only"] = store.read_only
    return render_session(facts, "icechunk.IcechunkStore")


# ---------------------------------------------------------------------- snapshots
def snapshot_facts(info: SnapshotInfo) -> dict[str, Any]:
    """The fields of a :class:`~icechunk.SnapshotInfo` as plain data."""
    return {
        "id": info.id,
        "parent_id": info.parent_id,
        "written_at": info.written_at,
        "message": info.message,
        "metadata": dict(info.metadata),
    }


def render_snapshot(facts: Mapping[str, Any]) -> str:
    """HTML for :func:`snapshot_facts` output."""
    written: dt.datetime = facts["written_at"]
    rows = [
        ("id", f"<code>{esc(facts['id'])}</code>"),
        ("parent", short_id(facts["parent_id"]) if facts["parent_id"] else "— (initial)"),
        (
            "written at",
            f'<span title="{esc(written.isoformat())}">{esc(written.isoformat())}'
            f" ({esc(relative_time(written))})</span>",
        ),
        ("message", esc(facts["message"])),
    ]
    rows += [(f"metadata.{k}", _json(v)) for k, v in sorted(facts["metadata"].items())]
    return render_box("icechunk.snapshots.SnapshotInfo", kv_table(rows))


def snapshot_html(info: SnapshotInfo) -> str:
    """The ``_repr_html_`` of :class:`~icechunk.SnapshotInfo`."""
    return render_snapshot(snapshot_facts(info))


# ---------------------------------------------------------------------- diffs
def diff_summary(diff: Diff) -> dict[str, Any]:
    """A diff as plain data: per path its change kind, node type and written chunks."""
    entries: dict[str, dict[str, Any]] = {}

    def put(paths: Iterable[str], change: str, node: str) -> None:
        for path in paths:
            entries[path] = {"path": path, "change": change, "node": node, "chunks": []}

    put(diff.new_groups, "added", "group")
    put(diff.new_arrays, "added", "array")
    put(diff.updated_groups, "updated", "group")
    put(diff.updated_arrays, "updated", "array")
    put(diff.deleted_groups, "deleted", "group")
    put(diff.deleted_arrays, "deleted", "array")
    for path, chunks in diff.updated_chunks.items():
        entry = entries.setdefault(
            path, {"path": path, "change": "chunks", "node": "array", "chunks": []}
        )
        entry["chunks"] = sorted([list(c) for c in chunks])
    counts = {k: sum(e["change"] == k for e in entries.values()) for k in MARKERS}
    counts["chunks"] = sum(len(e["chunks"]) for e in entries.values())
    return {
        "entries": [entries[p] for p in sorted(entries)],
        "counts": counts,
        "moved": [list(m) for m in diff.moved_nodes],
    }


def _summary_line(counts: Mapping[str, int]) -> str:
    return (
        f"<div>{marker('added')} {counts['added']} added · {marker('deleted')} "
        f"{counts['deleted']} deleted · {marker('updated')} {counts['updated']} updated · "
        f"{counts['chunks']} chunks written</div>"
    )


def _summary_table(summary: Mapping[str, Any], with_counts: bool = True) -> str:
    counts = summary["counts"]
    rows = []
    for e in summary["entries"]:
        sign = marker(e["change"]) if e["change"] in MARKERS else marker("updated")
        what = "chunks written" if e["change"] == "chunks" else e["change"]
        chunks = esc(chunk_list_text(e["chunks"])) if e["chunks"] else ""
        rows.append([sign, f"<code>{esc(e['path'])}</code>", esc(f"{e['node']} {what}"), chunks])
    head = _summary_line(counts) if with_counts else ""
    return head + table(["", "path", "change", "chunks"], rows)


def render_diff(summary: Mapping[str, Any], title: str = "icechunk.Diff") -> str:
    """HTML for :func:`diff_summary` output: counts, then one ``<details>`` per top group."""
    if not summary["entries"] and not summary["moved"]:
        return render_box(title, f'<div style="color:{MUTED}">no changes</div>')
    groups: dict[str, list[Mapping[str, Any]]] = {}
    for entry in summary["entries"]:
        top = "/" + entry["path"].strip("/").split("/")[0] if entry["path"] != "/" else "/"
        groups.setdefault(top, []).append(entry)
    body = _summary_line(summary["counts"])
    for top, entries in groups.items():
        inner = _summary_table({"entries": entries, "counts": {}}, with_counts=False)
        body += details(f"<code>{esc(top)}</code> ({len(entries)})", inner, open_=True)
    if summary["moved"]:
        moved = [[f"<code>{esc(a)}</code>", f"<code>{esc(b)}</code>"] for a, b in summary["moved"]]
        body += details("Moved / renamed", table(["from", "to"], moved), open_=True)
    return render_box(title, body)


def diff_html(diff: Diff) -> str:
    """The ``_repr_html_`` of :class:`~icechunk.Diff`."""
    return render_diff(diff_summary(diff), "icechunk.snapshots.Diff")


# ---------------------------------------------------------------------- conflicts
def conflict_rows(conflicts: Iterable[Any]) -> list[dict[str, Any]]:
    """Conflicts (objects with ``conflict_type``, ``path``, ``conflicted_chunks``) as data."""
    rows = []
    for c in conflicts:
        chunks = c.conflicted_chunks or []
        rows.append(
            {
                "kind": c.conflict_type.name,
                "description": str(c.conflict_type),
                "path": c.path,
                "chunks": [list(x) for x in chunks],
            }
        )
    return rows


def render_conflicts(rows: Sequence[Mapping[str, Any]], resolution_code: str = "") -> str:
    """A conflicts table grouped by path, plus the Python that resolves them (if given)."""
    ordered = sorted(rows, key=lambda r: (r["path"], r["kind"]))
    cells = [
        [
            f"<code>{esc(r['path'])}</code>",
            f'<span title="{esc(r["description"])}">{esc(r["kind"])}</span>',
            esc(chunk_list_text(r["chunks"])) if r["chunks"] else "",
        ]
        for r in ordered
    ]
    body = f"<div>{len(rows)} conflict(s)</div>" + table(["path", "kind", "chunks"], cells)
    if resolution_code:
        body += details(
            "Resolve in Python",
            f'<pre style="margin:4px 0;white-space:pre-wrap">{esc(resolution_code)}</pre>',
            open_=True,
        )
    return render_box("icechunk conflicts", body)


def conflicts_html(conflicts: Iterable[Any]) -> str:
    """HTML for a list of :class:`~icechunk.Conflict` (e.g. ``RebaseFailedError.conflicts``)."""
    code = (
        "from icechunk import BasicConflictSolver, VersionSelection\n"
        "session.rebase(BasicConflictSolver(on_chunk_conflict=VersionSelection.UseOurs))\n"
        'session.commit("...")'
    )
    return render_conflicts(conflict_rows(conflicts), code)
