"""A git-log style picture of the commit history: lanes, ref labels, text and SVG.

Icechunk history is a tree (no merge commits): every branch forks from an ancestor
shared with others. Commits are listed newest first, children always above their
parent; each open line of history gets a lane, and lanes join where histories meet.
"""

from __future__ import annotations

import html
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from icechunk._repo_core import RepoCore
    from icechunk.format.ids import SnapshotId
    from icechunk.format.model import SnapshotEntry

__all__ = ["AncestryGraph", "build_ancestry_graph"]

# 24-bit lane colours for terminals and the SVG, cycled by lane index.
_PALETTE = ((183, 228, 0), (166, 83, 255), (94, 196, 247), (255, 159, 28), (255, 92, 138))
_RESET = "\x1b[0m"


@dataclass(frozen=True, slots=True)
class GraphRow:
    """One commit of the graph and the lanes around it."""

    entry: SnapshotEntry
    lane: int
    #: Lanes that end here because their history joins this commit.
    joined: tuple[int, ...]
    #: Lanes open (with a commit still below) when this row is drawn.
    before: tuple[bool, ...]
    #: Lanes open after this row.
    after: tuple[bool, ...]
    branches: tuple[str, ...]
    tags: tuple[str, ...]


class AncestryGraph:
    """The commit graph returned by :meth:`Repository.ancestry_graph`.

    ``str()`` gives the terminal drawing (coloured unless built with ``plain=True``);
    notebooks render it as SVG.
    """

    def __init__(self, rows: list[GraphRow], plain: bool) -> None:
        self._rows = rows
        self._plain = plain

    @property
    def rows(self) -> list[GraphRow]:
        """The commits, newest first, with their lanes."""
        return list(self._rows)

    def _width(self) -> int:
        return max((len(row.before) for row in self._rows), default=1)

    def _paint(self, text: str, lane: int, *, bold: bool = False, italic: bool = False) -> str:
        if self._plain:
            return text
        r, g, b = _PALETTE[lane % len(_PALETTE)]
        style = ("\x1b[1m" if bold else "") + ("\x1b[3m" if italic else "")
        return f"{style}\x1b[38;2;{r};{g};{b}m{text}{_RESET}"

    def _dim(self, text: str) -> str:
        return text if self._plain else f"\x1b[2m{text}{_RESET}"

    def _node_line(self, row: GraphRow, width: int) -> str:
        cells: list[str] = []
        joined = set(row.joined)
        last_join = max(joined, default=row.lane)
        for lane in range(width):
            if lane == row.lane:
                cell = self._paint("●", lane)
            elif lane in joined:
                cell = self._paint("╯" if lane == last_join else "┴", lane)
            elif row.before[lane] if lane < len(row.before) else False:
                cell = self._paint("│", lane)
            else:
                cell = " "
            gap = "─" if row.lane <= lane < last_join else " "
            cells.append(cell + (self._paint(gap, lane + 1) if gap == "─" else gap))
        return "".join(cells) + self._label(row)

    def _label(self, row: GraphRow) -> str:
        refs = [self._paint(name, row.lane, bold=True) for name in row.branches]
        refs += [self._paint(name, 2, bold=True, italic=True) for name in row.tags]
        shown = f" ({', '.join(refs)})" if refs else ""
        message = row.entry.message.splitlines()[0] if row.entry.message else ""
        return f"{self._dim(str(row.entry.id)[:8])}{shown} {message}"

    def _connector(self, row: GraphRow, width: int) -> str:
        cells = [
            (self._paint("│", lane) if lane < len(row.after) and row.after[lane] else " ") + " "
            for lane in range(width)
        ]
        return "".join(cells)

    def __str__(self) -> str:
        width = self._width()
        lines: list[str] = []
        for index, row in enumerate(self._rows):
            lines.append(self._node_line(row, width))
            if index + 1 < len(self._rows):
                lines.append(self._connector(row, width))
        return "\n".join(lines)

    __repr__ = __str__

    def _repr_svg_(self) -> str:
        step, lane_w, left = 28, 18, 14
        width = left + lane_w * self._width() + 520
        height = step * max(len(self._rows), 1) + 10
        parts = [
            f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
            'font-family="monospace" font-size="12">'
        ]
        y_of = {row.entry.id: 16 + step * i for i, row in enumerate(self._rows)}
        lane_of = {row.entry.id: row.lane for row in self._rows}
        for row in self._rows:
            parent = row.entry.parent_id
            if parent is None or parent not in y_of:
                continue
            x1 = left + lane_w * row.lane
            x2 = left + lane_w * lane_of[parent]
            colour = "rgb({},{},{})".format(*_PALETTE[row.lane % len(_PALETTE)])
            parts.append(
                f'<path d="M{x1},{y_of[row.entry.id]} L{x1},{y_of[parent] - 10} '
                f'L{x2},{y_of[parent]}" stroke="{colour}" fill="none" stroke-width="2"/>'
            )
        text_x = left + lane_w * self._width() + 6
        for row in self._rows:
            y, x = y_of[row.entry.id], left + lane_w * row.lane
            colour = "rgb({},{},{})".format(*_PALETTE[row.lane % len(_PALETTE)])
            parts.append(f'<circle cx="{x}" cy="{y}" r="5" fill="{colour}"/>')
            refs = ", ".join([*row.branches, *row.tags])
            label = f"{str(row.entry.id)[:8]}{f' ({refs})' if refs else ''} "
            message = row.entry.message.splitlines()[0] if row.entry.message else ""
            parts.append(
                f'<text x="{text_x}" y="{y + 4}"><title>{row.entry.id}</title>'
                f"{html.escape(label + message)}</text>"
            )
        parts.append("</svg>")
        return "".join(parts)


async def build_ancestry_graph(
    core: RepoCore,
    *,
    branch: str | None,
    tag: str | None,
    snapshot_id: str | None,
    plain: bool,
) -> AncestryGraph:
    """Walk the history of the chosen refs (all of them by default) into a graph."""
    info = await core.info()
    if sum(x is not None for x in (branch, tag, snapshot_id)) > 1:
        raise ValueError("pass at most one of branch, tag or snapshot_id")
    if branch is not None:
        tips = [await core.lookup_branch(branch)]
    elif tag is not None:
        tips = [await core.lookup_tag(tag)]
    elif snapshot_id is not None:
        tips = [await core.resolve_snapshot(snapshot_id)]
    else:
        tips = [*(info.branches[b] for b in sorted(info.branches))]
        tips += [info.tags[t] for t in sorted(info.tags)]
    entries: dict[SnapshotId, SnapshotEntry] = {}
    for tip in tips:
        async for entry in core.ancestry(tip):
            if entry.id in entries:
                break
            entries[entry.id] = entry
    branch_names = _names_by_target(info.branches)
    tag_names = _names_by_target(info.tags)
    return AncestryGraph(_lay_out(entries, branch_names, tag_names), plain)


def _names_by_target(refs: dict[str, SnapshotId]) -> dict[SnapshotId, tuple[str, ...]]:
    out: dict[SnapshotId, list[str]] = {}
    for name in sorted(refs):
        out.setdefault(refs[name], []).append(name)
    return {target: tuple(names) for target, names in out.items()}


def _topological_newest_first(entries: dict[SnapshotId, SnapshotEntry]) -> list[SnapshotEntry]:
    """Children before parents; among ready commits, the newest first."""
    pending_children: dict[SnapshotId, int] = dict.fromkeys(entries, 0)
    for entry in entries.values():
        if entry.parent_id in pending_children:
            pending_children[entry.parent_id] += 1
    ready = [e for e in entries.values() if pending_children[e.id] == 0]
    ordered: list[SnapshotEntry] = []
    while ready:
        ready.sort(key=lambda e: (e.flushed_at, str(e.id)))
        entry = ready.pop()
        ordered.append(entry)
        parent = entry.parent_id
        if parent in pending_children:
            pending_children[parent] -= 1
            if pending_children[parent] == 0:
                ready.append(entries[parent])
    return ordered


def _lay_out(
    entries: dict[SnapshotId, SnapshotEntry],
    branch_names: dict[SnapshotId, tuple[str, ...]],
    tag_names: dict[SnapshotId, tuple[str, ...]],
) -> list[GraphRow]:
    lanes: list[SnapshotId | None] = []  # what each lane waits for
    rows: list[GraphRow] = []
    for entry in _topological_newest_first(entries):
        waiting = [i for i, target in enumerate(lanes) if target == entry.id]
        if waiting:
            lane = waiting[0]
        else:
            lane = lanes.index(None) if None in lanes else len(lanes)
            if lane == len(lanes):
                lanes.append(None)
            lanes[lane] = entry.id
        before = tuple(target is not None for target in lanes)
        for other in waiting[1:]:
            lanes[other] = None
        lanes[lane] = entry.parent_id if entry.parent_id in entries else None
        while lanes and lanes[-1] is None:
            lanes.pop()
        after = tuple(target is not None for target in lanes)
        rows.append(
            GraphRow(
                entry,
                lane,
                tuple(waiting[1:]),
                before,
                after,
                branch_names.get(entry.id, ()),
                tag_names.get(entry.id, ()),
            )
        )
    return rows
