"""What changed between two snapshots, or in a session: the :class:`Diff` value object.

A diff is built from transaction logs, which name nodes by id. Ids are turned into paths
with the nodes of the ``from`` and ``to`` snapshots (``to`` wins when a node moved). A node
that was created and deleted inside the range exists in neither snapshot, so everything
recorded about it drops out.
"""

from __future__ import annotations

import asyncio
import html
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from icechunk.errors import ErrorKind, InvalidInputError
from icechunk.format.ids import NodeId, SnapshotId
from icechunk.format.model import TransactionLog

if TYPE_CHECKING:
    from icechunk._repo_core import RepoCore

__all__ = ["Diff", "DiffBuilder", "build_diff", "diff_snapshots", "html_fields"]

#: How many chunk indices per array the text form lists before summarising the rest.
_MAX_CHUNKS_SHOWN = 10


class Diff:
    """The result of comparing two snapshots (or a session with its base snapshot).

    Parameters
    ----------
    new_groups, new_arrays, deleted_groups, deleted_arrays, updated_groups, updated_arrays
        Absolute node paths.
    updated_chunks
        Path of each array to the indices of the chunks written or deleted.
    moved_nodes
        ``(from_path, to_path)`` pairs in order of application.
    """

    __slots__ = (
        "_deleted_arrays",
        "_deleted_groups",
        "_moved_nodes",
        "_new_arrays",
        "_new_groups",
        "_updated_arrays",
        "_updated_chunks",
        "_updated_groups",
    )

    def __init__(
        self,
        *,
        new_groups: Iterable[str] = (),
        new_arrays: Iterable[str] = (),
        deleted_groups: Iterable[str] = (),
        deleted_arrays: Iterable[str] = (),
        updated_groups: Iterable[str] = (),
        updated_arrays: Iterable[str] = (),
        updated_chunks: Mapping[str, Iterable[Iterable[int]]] | None = None,
        moved_nodes: Iterable[tuple[str, str]] = (),
    ) -> None:
        self._new_groups = frozenset(new_groups)
        self._new_arrays = frozenset(new_arrays)
        self._deleted_groups = frozenset(deleted_groups)
        self._deleted_arrays = frozenset(deleted_arrays)
        self._updated_groups = frozenset(updated_groups)
        self._updated_arrays = frozenset(updated_arrays)
        chunks = updated_chunks or {}
        self._updated_chunks = {
            path: sorted({tuple(int(i) for i in idx) for idx in indices})
            for path, indices in chunks.items()
        }
        self._moved_nodes = tuple((str(a), str(b)) for a, b in moved_nodes)

    # ------------------------------------------------------------------ fields
    @property
    def new_groups(self) -> set[str]:
        """The groups that were added to the target ref."""
        return set(self._new_groups)

    @property
    def new_arrays(self) -> set[str]:
        """The arrays that were added to the target ref."""
        return set(self._new_arrays)

    @property
    def deleted_groups(self) -> set[str]:
        """The groups that were deleted in the target ref."""
        return set(self._deleted_groups)

    @property
    def deleted_arrays(self) -> set[str]:
        """The arrays that were deleted in the target ref."""
        return set(self._deleted_arrays)

    @property
    def updated_groups(self) -> set[str]:
        """The groups whose zarr metadata was updated in the target ref."""
        return set(self._updated_groups)

    @property
    def updated_arrays(self) -> set[str]:
        """The arrays whose zarr metadata was updated in the target ref."""
        return set(self._updated_arrays)

    @property
    def updated_chunks(self) -> dict[str, list[list[int]]]:
        """Indices of the chunks whose data changed, sorted, keyed by array path."""
        return {p: [list(i) for i in idx] for p, idx in self._updated_chunks.items()}

    @property
    def moved_nodes(self) -> list[tuple[str, str]]:
        """Node moves in order of application, as ``(from_path, to_path)`` tuples."""
        return list(self._moved_nodes)

    def is_empty(self) -> bool:
        """Return True when the diff contains no changes.

        Returns
        -------
        bool
            Whether every field is empty.
        """
        return not (
            self._new_groups
            or self._new_arrays
            or self._deleted_groups
            or self._deleted_arrays
            or self._updated_groups
            or self._updated_arrays
            or any(self._updated_chunks.values())
            or self._moved_nodes
        )

    # ------------------------------------------------------------------ comparison
    def _key(self) -> tuple[object, ...]:
        chunks = frozenset((p, tuple(v)) for p, v in self._updated_chunks.items() if v)
        return (
            self._new_groups,
            self._new_arrays,
            self._deleted_groups,
            self._deleted_arrays,
            self._updated_groups,
            self._updated_arrays,
            chunks,
            self._moved_nodes,
        )

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Diff):
            return NotImplemented
        return self._key() == other._key()

    __hash__ = None  # type: ignore[assignment]

    # ------------------------------------------------------------------ display
    def __repr__(self) -> str:
        out: list[str] = []
        sections = (
            ("Groups created", self._new_groups),
            ("Arrays created", self._new_arrays),
            ("Group definitions updated", self._updated_groups),
            ("Array definitions updated", self._updated_arrays),
            ("Groups deleted", self._deleted_groups),
            ("Arrays deleted", self._deleted_arrays),
        )
        for title, paths in sections:
            if paths:
                out.append(f"{title}:\n")
                out.extend(f"    {p}\n" for p in sorted(paths))
                out.append("\n")
        chunked = {p: v for p, v in self._updated_chunks.items() if v}
        if chunked:
            out.append("Chunks updated:\n")
            for path in sorted(chunked):
                out.append(f"    {path}:\n")
                shown = chunked[path][:_MAX_CHUNKS_SHOWN]
                out.extend(f"        {list(idx)}\n" for idx in shown)
                rest = len(chunked[path]) - len(shown)
                if rest > 0:
                    out.append(f"        ... {rest} more\n")
        if self._moved_nodes:
            out.append("Nodes moved/renamed:\n")
            out.extend(f"    {a} -> {b}\n" for a, b in self._moved_nodes)
            out.append("\n")
        return "".join(out)

    __str__ = __repr__

    def _repr_html_(self) -> str:
        from icechunk._html import diff_html

        return diff_html(self)


# ---------------------------------------------------------------------- HTML helpers
_STYLE = (
    "line-height:1.6;max-width:700px;font-family:monospace;"
    "border:1px solid #ddd;border-radius:4px;padding:6px 10px"
)


def html_fields(header: str, fields: Iterable[tuple[str, str]]) -> str:
    """Render a header and ``name: value`` rows as self-contained, escaped HTML.

    Parameters
    ----------
    header
        Title shown above the fields.
    fields
        ``(name, value)`` pairs; both are escaped.

    Returns
    -------
    str
        An HTML fragment with inline styles only.
    """
    rows = "".join(
        '  <div style="padding:2px 0"><span style="font-weight:500;opacity:0.6">'
        f'{html.escape(name)}:</span> <span style="padding-left:0.3em">'
        f"{html.escape(value)}</span></div>\n"
        for name, value in fields
    )
    return (
        f'<div class="icechunk-repr" style="{_STYLE}">\n'
        '  <div style="font-weight:500;padding-bottom:6px;margin-bottom:4px;'
        f'border-bottom:1px solid #ddd">{html.escape(header)}</div>\n'
        f"{rows}</div>\n"
    )


# ---------------------------------------------------------------------- building
@dataclass
class DiffBuilder:
    """Accumulates transaction logs (oldest first), still keyed by node id."""

    new_groups: set[NodeId] = field(default_factory=set)
    new_arrays: set[NodeId] = field(default_factory=set)
    deleted_groups: set[NodeId] = field(default_factory=set)
    deleted_arrays: set[NodeId] = field(default_factory=set)
    updated_groups: set[NodeId] = field(default_factory=set)
    updated_arrays: set[NodeId] = field(default_factory=set)
    updated_chunks: dict[NodeId, set[tuple[int, ...]]] = field(default_factory=dict)
    moved_nodes: list[tuple[str, str]] = field(default_factory=list)

    def add(self, log: TransactionLog) -> None:
        """Fold one commit's transaction log into the accumulated changes."""
        self.new_groups |= log.new_groups
        self.new_arrays |= log.new_arrays
        self.deleted_groups |= log.deleted_groups
        self.deleted_arrays |= log.deleted_arrays
        self.updated_groups |= log.updated_groups
        self.updated_arrays |= log.updated_arrays
        for node, coords in log.updated_chunks.items():
            self.updated_chunks.setdefault(node, set()).update(coords)
        self.moved_nodes.extend((m.from_path, m.to_path) for m in log.moved_nodes)

    def to_diff(self, paths: Mapping[NodeId, str]) -> Diff:
        """Resolve node ids to paths; ids missing from ``paths`` are dropped."""

        def resolve(ids: set[NodeId]) -> set[str]:
            return {paths[i] for i in ids if i in paths}

        chunks = {
            paths[node]: coords
            for node, coords in self.updated_chunks.items()
            if node in paths and coords
        }
        return Diff(
            new_groups=resolve(self.new_groups),
            new_arrays=resolve(self.new_arrays),
            deleted_groups=resolve(self.deleted_groups),
            deleted_arrays=resolve(self.deleted_arrays),
            updated_groups=resolve(self.updated_groups),
            updated_arrays=resolve(self.updated_arrays),
            updated_chunks=chunks,
            moved_nodes=self.moved_nodes,
        )


def build_diff(
    logs: Iterable[TransactionLog],
    from_paths: Mapping[NodeId, str],
    to_paths: Mapping[NodeId, str],
) -> Diff:
    """Build the :class:`Diff` of a range of commits.

    Parameters
    ----------
    logs
        Transaction logs of every snapshot after ``from`` up to ``to``, oldest first.
    from_paths
        Node id to path in the ``from`` snapshot (resolves deleted nodes).
    to_paths
        Node id to path in the ``to`` snapshot; takes precedence for nodes in both.

    Returns
    -------
    Diff
        The changes, by path.
    """
    builder = DiffBuilder()
    for log in logs:
        builder.add(log)
    return builder.to_diff({**from_paths, **to_paths})


async def diff_snapshots(core: RepoCore, from_id: SnapshotId, to_id: SnapshotId) -> Diff:
    """The :class:`Diff` from snapshot ``from_id`` to its descendant ``to_id``.

    Parameters
    ----------
    core
        The repository.
    from_id, to_id
        ``from_id`` must be a strict ancestor of ``to_id``.

    Returns
    -------
    Diff
        Everything the commits after ``from_id`` up to ``to_id`` changed.

    Raises
    ------
    InvalidInputError
        With kind ``BAD_SNAPSHOT_CHAIN_FOR_DIFF`` when ``from_id`` is not an ancestor.
    """
    span: list[SnapshotId] = []
    found = False
    async for entry in core.ancestry(to_id):
        if entry.id == from_id and span:
            found = True
            break
        span.append(entry.id)
        # After expiration a snapshot also stands for the ancestors it skipped; their
        # transaction logs (older than it, oldest first) are part of its change set.
        span.extend(reversed(entry.pruned_ancestor_tx_logs or ()))
    if not found:
        raise InvalidInputError(
            f"`to` snapshot ancestry doesn't include `from`: {from_id} is not an ancestor "
            f"of {to_id}; pass the older snapshot as `from`",
            ErrorKind.BAD_SNAPSHOT_CHAIN_FOR_DIFF,
        )
    assets = core.assets
    logs, before, after = await asyncio.gather(
        asyncio.gather(*(assets.fetch_transaction_log(s) for s in reversed(span))),
        assets.fetch_snapshot(from_id),
        assets.fetch_snapshot(to_id),
    )
    return build_diff(
        logs, {n.id: n.path for n in before.nodes}, {n.id: n.path for n in after.nodes}
    )
