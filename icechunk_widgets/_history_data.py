"""Data behind the history browser: refs, paged commit collection and lane layout.

``layout_lanes`` and ``commit_row`` are pure; ``collect_commits`` and ``ref_rows`` read the
repository through its public API only, caching snapshot infos so paging re-reads nothing.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import icechunk as ic
from icechunk._html import relative_time

__all__ = [
    "PAGE_SIZE",
    "collect_commits",
    "commit_row",
    "graph_text",
    "layout_lanes",
    "matches_filter",
    "ref_rows",
]

PAGE_SIZE = 50


def ref_rows(repo: ic.Repository, now: dt.datetime | None = None) -> list[dict[str, Any]]:
    """Branches (``main`` first) then tags, each with its tip id and the tip's age."""
    rows: list[dict[str, Any]] = []
    branches = sorted(repo.list_branches(), key=lambda b: (b != "main", b))
    for kind, names in (("branch", branches), ("tag", sorted(repo.list_tags()))):
        for name in names:
            tip = repo.lookup_branch(name) if kind == "branch" else repo.lookup_tag(name)
            written = repo.lookup_snapshot(tip).written_at
            rows.append(
                {
                    "name": name,
                    "kind": kind,
                    "snapshot_id": tip,
                    "age": relative_time(written, now),
                    "deletable": not (kind == "branch" and name == "main"),
                }
            )
    return rows


def collect_commits(
    repo: ic.Repository,
    tips: Iterable[str],
    limit: int,
    cache: dict[str, ic.SnapshotInfo],
) -> list[ic.SnapshotInfo]:
    """Up to ``limit`` newest snapshots reachable from ``tips``, newest first.

    Each tip's ancestry is walked until it reaches a snapshot already in ``cache`` (shared
    history is read once) or ``limit`` snapshots have been read for that tip.
    """
    for tip in tips:
        walked = 0
        current: str | None = tip
        while current is not None and walked < limit:
            if current not in cache:
                budget = limit - walked
                for n, info in enumerate(repo.ancestry(snapshot_id=current), 1):
                    cache[info.id] = info
                    if n >= budget or info.parent_id is None or info.parent_id in cache:
                        break
            current = cache[current].parent_id
            walked += 1
    ordered = sorted(cache.values(), key=lambda i: (i.written_at, i.id), reverse=True)
    return ordered[:limit]


def layout_lanes(commits: Sequence[tuple[str, str | None]]) -> list[dict[str, Any]]:
    """Assign each commit (newest first, as ``(id, parent)``) a lane, git-graph style.

    Icechunk has no merge commits, so history is a tree: a lane opens at a branch tip and
    closes where it joins the lane of a shared ancestor. Returns per commit its ``lane``,
    the lanes ``closing`` into it and the ``active`` lanes passing by.
    """
    lanes: list[str | None] = []
    out: list[dict[str, Any]] = []
    for sid, parent in commits:
        hits = [i for i, want in enumerate(lanes) if want == sid]
        if hits:
            lane, closing = hits[0], hits[1:]
        else:
            lane = lanes.index(None) if None in lanes else len(lanes)
            if lane == len(lanes):
                lanes.append(None)
            closing = []
        for i in closing:
            lanes[i] = None
        active = [i for i, want in enumerate(lanes) if want is not None and i != lane]
        out.append({"id": sid, "lane": lane, "closing": closing, "active": active})
        lanes[lane] = parent
        while lanes and lanes[-1] is None:
            lanes.pop()
    return out


def graph_text(placement: Mapping[str, Any]) -> str:
    """One row of the text graph: ``●`` the commit, ``│`` passing lanes, ``╯`` joining ones."""
    width = max([placement["lane"], *placement["active"], *placement["closing"]]) + 1
    cells = [" "] * width
    for i in placement["active"]:
        cells[i] = "│"
    for i in placement["closing"]:
        cells[i] = "╯"
    cells[placement["lane"]] = "●"
    return "".join(cells)


def commit_row(
    info: ic.SnapshotInfo,
    placement: Mapping[str, Any],
    refs: Sequence[str],
    now: dt.datetime | None = None,
) -> dict[str, Any]:
    """A JSON-able history row for one snapshot."""
    message = info.message.splitlines()[0] if info.message else ""
    return {
        "id": info.id,
        "short": info.id[:8],
        "parent": info.parent_id,
        "message": message,
        "written_at": info.written_at.isoformat(),
        "age": relative_time(info.written_at, now),
        "metadata": {str(k): _plain(v) for k, v in info.metadata.items()},
        "refs": list(refs),
        "lane": placement["lane"],
        "graph": graph_text(placement),
        "initial": info.parent_id is None,
    }


def matches_filter(row: Mapping[str, Any], text: str) -> bool:
    """Case-insensitive match of ``text`` against id prefix, message, refs and metadata."""
    needle = text.strip().lower()
    if not needle:
        return True
    haystack = [row["message"], *row["refs"], *map(str, row["metadata"].values())]
    return row["id"].lower().startswith(needle) or any(needle in h.lower() for h in haystack)


def _plain(value: Any) -> Any:
    if value is None or isinstance(value, str | int | float | bool):
        return value
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    return str(value)
