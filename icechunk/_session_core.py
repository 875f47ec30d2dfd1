"""The async engine behind a session: a view of one snapshot plus a change set.

Reads resolve a path first against the change set, then against the base snapshot.
Commit writes every new object (chunks were written at set time; then manifests, the
snapshot and its transaction log) and only then moves the branch with one conditional
update of the repo info file.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from icechunk._manifest_split import SplitWriter, array_splits, splitting_config
from icechunk._moves import check_move, move_records, moved_path
from icechunk.changeset import ArrayMeta, ChangeSet, Coords, NewNode
from icechunk.errors import (
    AlreadyExistsError,
    ErrorKind,
    InvalidInputError,
    NodeNotFoundError,
    ReadOnlyError,
    SessionStateError,
)
from icechunk.format.ids import ChunkId, ManifestId, NodeId, SnapshotId
from icechunk.format.model import (
    ArrayNodeData,
    ChunkPayload,
    InlinePayload,
    ManifestFileInfo,
    ManifestRef,
    MoveRecord,
    NativePayload,
    NodeSnapshot,
    Snapshot,
    TransactionLog,
)
from icechunk.refs import now_micros
from icechunk.storage._labels import request_labels
from icechunk.zarr_meta import ChunkKeyEncoding, parse_zarr_json

if TYPE_CHECKING:
    from icechunk._repo_core import RepoCore

__all__ = ["NodeView", "SessionCore", "validate_path"]

ROOT = "/"


@dataclass(frozen=True, slots=True)
class NodeView:
    """A node as the session sees it: base snapshot data with session changes applied."""

    id: NodeId
    path: str
    user_data: bytes
    array: ArrayMeta | None
    manifests: tuple[ManifestRef, ...]
    is_new: bool

    @property
    def is_group(self) -> bool:
        """True for groups."""
        return self.array is None

    @property
    def encoding(self) -> ChunkKeyEncoding:
        """The array's chunk-key encoding (from its zarr.json)."""
        parsed = parse_zarr_json(self.user_data)
        return parsed.encoding or ChunkKeyEncoding(True, "/")


def validate_path(path: str) -> str:
    """Check that ``path`` is an absolute, canonical node path and return it."""
    bad = (
        not path.startswith("/")
        or (path != ROOT and path.endswith("/"))
        or "\x00" in path
        or any(seg in ("", ".", "..") for seg in path.split("/")[1:] if path != ROOT)
    )
    if bad:
        raise InvalidInputError(
            f"invalid node path {path!r}: paths are absolute, '/'-separated, with no empty, "
            "'.' or '..' segments and no trailing '/'",
            ErrorKind.INVALID_PATH,
        )
    return path


def _parent(path: str) -> str:
    return path.rsplit("/", 1)[0] or ROOT


def _under(path: str, prefix: str) -> bool:
    return prefix == ROOT or path == prefix or path.startswith(prefix + "/")


def _view(node: NodeSnapshot) -> NodeView:
    arr = node.array
    meta = None if arr is None else ArrayMeta(node.user_data, arr.shape, arr.dimension_names)
    manifests = () if arr is None else arr.manifests
    return NodeView(node.id, node.path, node.user_data, meta, manifests, False)


class SessionCore:
    """Async state of a session: base snapshot, branch, mode and change set."""

    def __init__(
        self,
        repo: RepoCore,
        snapshot_id: SnapshotId,
        branch: str | None,
        writable: bool,
        changes: ChangeSet | None = None,
        *,
        rearrange: bool = False,
    ) -> None:
        self.repo = repo
        self.snapshot_id = snapshot_id
        self.branch = branch
        self.writable = writable
        #: A rearrange session may only move nodes (and commit the moves).
        self.rearrange = rearrange
        self.changes = changes or ChangeSet()
        #: Repository default commit metadata captured when the session was created;
        #: keys passed to ``commit`` win.
        self.default_metadata: dict[str, Any] = {}
        self._snapshot: Snapshot | None = None
        self._index: dict[str, NodeSnapshot] | None = None

    # ------------------------------------------------------------------ reading nodes
    async def snapshot(self) -> Snapshot:
        """The base snapshot (read once)."""
        if self._snapshot is None:
            self._snapshot = await self.repo.assets.fetch_snapshot(self.snapshot_id)
        return self._snapshot

    async def _nodes(self) -> dict[str, NodeSnapshot]:
        if self._index is None:
            nodes = (await self.snapshot()).nodes
            moves = self.changes.moves
            if moves:
                nodes = tuple(replace(n, path=moved_path(n.path, moves)) for n in nodes)
            self._index = {n.path: n for n in nodes}
        return self._index

    async def get_node(self, path: str) -> NodeView | None:
        """The node at ``path`` as this session sees it, or None."""
        new = self.changes.new_nodes.get(path)
        if new is not None:
            return NodeView(new.id, new.path, new.user_data, new.array, (), True)
        if self.changes.is_deleted(path):
            return None
        node = (await self._nodes()).get(path)
        if node is None:
            return None
        view = _view(node)
        upd_arr = self.changes.updated_arrays.get(node.id)
        if upd_arr is not None:
            return replace(view, user_data=upd_arr.user_data, array=upd_arr)
        upd_group = self.changes.updated_groups.get(node.id)
        if upd_group is not None:
            return replace(view, user_data=upd_group)
        return view

    async def require_node(self, path: str) -> NodeView:
        """Like :meth:`get_node` but raises :class:`NodeNotFoundError`."""
        node = await self.get_node(path)
        if node is None:
            raise NodeNotFoundError(f"no group or array found at path {path!r}")
        return node

    async def list_nodes(self, prefix: str = ROOT) -> list[NodeView]:
        """Every node at or below ``prefix``, sorted by path bytes."""
        out: dict[str, NodeView] = {}
        for path in await self._nodes():
            if _under(path, prefix):
                view = await self.get_node(path)
                if view is not None:
                    out[path] = view
        for new in self.changes.new_nodes_under(prefix):
            out[new.path] = NodeView(new.id, new.path, new.user_data, new.array, (), True)
        return [out[p] for p in sorted(out, key=lambda p: p.encode())]

    # ------------------------------------------------------------------ reading chunks
    async def chunk_payload(self, node: NodeView, coords: Coords) -> ChunkPayload | None:
        """Where the chunk's bytes are, or None if it was never written (fill value)."""
        pending = self.changes.chunk_changes(node.id)
        if coords in pending:
            return pending[coords]
        for mref in node.manifests:
            if all(lo <= c < hi for c, (lo, hi) in zip(coords, mref.extents, strict=False)):
                table = (await self.repo.assets.fetch_manifest(mref.object_id)).arrays.get(node.id)
                if table is not None:
                    hit = table.lookup(coords)
                    if hit is not None:
                        return hit
        return None

    async def read_chunk(
        self, node: NodeView, coords: Coords, byte_range: tuple[int, int | None] | None
    ) -> bytes | None:
        """The chunk's bytes (optionally a ``[start, stop)`` slice), or None."""
        with request_labels(array=node.path.lstrip("/")):
            payload = await self.chunk_payload(node, coords)
        if payload is None:
            return None
        if isinstance(payload, InlinePayload):
            data = payload.data
            return data if byte_range is None else data[byte_range[0] : byte_range[1]]
        if isinstance(payload, NativePayload):
            rng = None
            if byte_range is not None:
                stop = payload.length if byte_range[1] is None else byte_range[1]
                rng = (byte_range[0], min(stop, payload.length))
            with request_labels(array=node.path.lstrip("/"), chunk=_coords_label(coords)):
                return await self.repo.assets.fetch_chunk(
                    payload.chunk_id, payload.offset, payload.length, rng
                )
        return await self.repo.fetch_virtual_chunk(payload, byte_range)

    async def chunk_coords(self, node: NodeView) -> list[Coords]:
        """Coordinates of every written chunk of an array, sorted."""
        coords: set[Coords] = set()
        for mref in node.manifests:
            table = (await self.repo.assets.fetch_manifest(mref.object_id)).arrays.get(node.id)
            if table is not None:
                coords.update(tuple(int(v) for v in row) for row in table.coords_array)
        for c, payload in self.changes.chunk_changes(node.id).items():
            if payload is None:
                coords.discard(c)
            else:
                coords.add(c)
        return sorted(coords)

    # ------------------------------------------------------------------ writing
    def _require_writable(self) -> None:
        if not self.writable:
            raise ReadOnlyError(
                "this session is read-only; open one with repo.writable_session(branch)",
                ErrorKind.READ_ONLY_SESSION,
            )

    def _require_data_writes(self) -> None:
        self._require_writable()
        if self.rearrange:
            raise SessionStateError(
                "this session was opened to rearrange the hierarchy and can only move "
                "nodes; commit or discard it and open repo.writable_session(branch) to "
                "write data or metadata",
                ErrorKind.REARRANGE_SESSION_ONLY,
            )

    async def move_node(self, source: str, target: str) -> None:
        """Move the node at ``source``, with everything below it, to ``target``."""
        index = await self._nodes()
        if not isinstance(source, str) or source not in index:
            check_move({}, source, target)  # the typed error for a bad or missing source
        if not self.writable:
            raise ReadOnlyError(
                "read-only sessions cannot move nodes; open repo.rearrange_session(branch)",
                ErrorKind.READ_ONLY_SESSION,
            )
        if not self.rearrange:
            raise SessionStateError(
                "moving nodes needs a rearrange session: commit or discard this session, "
                "then open repo.rearrange_session(branch) and move there",
                ErrorKind.NON_REARRANGE_SESSION,
            )
        check_move({p: n.array is None for p, n in index.items()}, source, target)
        self.changes.moves.append((source, target))
        self.changes.moved.update(n.id for p, n in index.items() if _under(p, source))
        self._index = None

    async def set_metadata(self, path: str, raw: bytes) -> None:
        """Create or update the group/array at ``path`` from its zarr.json bytes."""
        self._require_data_writes()
        validate_path(path)
        parsed = parse_zarr_json(raw)
        existing = await self.get_node(path)
        if existing is not None and existing.is_group == (parsed.array is None):
            await self._update_metadata(existing, raw, parsed.array)
            return
        if existing is not None:
            kind = "array" if parsed.array is not None else "group"
            raise AlreadyExistsError(
                f"node already exists at `{path}`: trying to add {kind}; delete it first",
                ErrorKind.NODE_ALREADY_EXISTS,
            )
        node = NewNode(NodeId.random(), path, bytes(raw), parsed.array)
        self.changes.new_nodes[path] = node

    async def _update_metadata(self, node: NodeView, raw: bytes, meta: ArrayMeta | None) -> None:
        if node.user_data == raw:
            return
        if node.is_new:
            self.changes.new_nodes[node.path] = NewNode(node.id, node.path, bytes(raw), meta)
        elif meta is not None:
            self.changes.updated_arrays[node.id] = meta
        else:
            self.changes.updated_groups[node.id] = bytes(raw)

    async def delete_node(self, path: str) -> None:
        """Delete the node at ``path`` and, for a group, everything below it."""
        self._require_data_writes()
        nodes = await self.list_nodes(path)
        if nodes and nodes[0].path == path and not nodes[0].is_group:
            # Like the real package: nodes stored below an array survive its deletion.
            nodes = nodes[:1]
        for node in reversed(nodes):
            self.changes.drop_node(node.id)
            if node.is_new:
                self.changes.new_nodes.pop(node.path, None)
            elif node.is_group:
                self.changes.deleted_groups[node.path] = node.id
            else:
                self.changes.deleted_arrays[node.path] = node.id

    async def set_chunk(self, path: str, coords: Coords, data: bytes) -> None:
        """Store an encoded chunk: inline when small, else as a new chunk file."""
        self._require_data_writes()
        node = await self._require_array(path)
        self._check_coords(node, coords)
        if not data:
            raise InvalidInputError(
                f"zero-length chunk for coordinates {list(coords)} of array {path!r}: a valid "
                "chunk is never empty; delete the chunk instead to leave it unwritten",
                ErrorKind.ZERO_LENGTH_CHUNK,
            )
        if len(data) <= self.repo.inline_threshold:
            payload: ChunkPayload = InlinePayload(bytes(data))
        else:
            chunk_id = ChunkId.random()
            with request_labels(array=path.lstrip("/"), chunk=_coords_label(coords)):
                await self.repo.assets.write_chunk(chunk_id, bytes(data))
            payload = NativePayload(chunk_id, 0, len(data))
        self.changes.set_chunk(node.id, coords, payload)

    async def set_payload(self, path: str, coords: Coords, payload: ChunkPayload | None) -> None:
        """Record an already-stored payload (virtual refs) or a delete (None)."""
        self._require_data_writes()
        node = await self._require_array(path)
        assert node.array is not None
        if payload is None and len(coords) == len(node.array.shape) and min(coords, default=0) >= 0:
            # zarr deletes chunks outside a shrunken grid after writing the new shape, so
            # deletes skip the grid check; recording them keeps a stale committed chunk
            # from reappearing if the grid grows again before the commit.
            self.changes.set_chunk(node.id, coords, None)
            return
        self._check_coords(node, coords)
        self.changes.set_chunk(node.id, coords, payload)

    async def _require_array(self, path: str) -> NodeView:
        node = await self.require_node(path)
        if node.array is None:
            raise InvalidInputError(f"{path!r} is a group, not an array", ErrorKind.NOT_AN_ARRAY)
        return node

    @staticmethod
    def _in_grid(node: NodeView, coords: Coords) -> bool:
        assert node.array is not None
        shape = node.array.shape
        return len(coords) == len(shape) and all(
            0 <= c < d.num_chunks for c, d in zip(coords, shape, strict=True)
        )

    @classmethod
    def _check_coords(cls, node: NodeView, coords: Coords) -> None:
        assert node.array is not None
        shape = node.array.shape
        if not cls._in_grid(node, coords):
            raise InvalidInputError(
                f"chunk index {list(coords)} is outside the chunk grid of array {node.path!r} "
                f"({[d.num_chunks for d in shape]} chunks per dimension)",
                ErrorKind.INVALID_CHUNK_INDEX,
            )

    # ------------------------------------------------------------------ commit
    async def commit(
        self, message: str, metadata: dict[str, Any] | None, allow_empty: bool
    ) -> SnapshotId:
        """Write the new snapshot and move the branch; raises ConflictError if it moved."""
        from icechunk._commit import commit_session

        return await commit_session(self, message, metadata, allow_empty=allow_empty)

    def _rebase_onto(self, snap: Snapshot) -> None:
        self.snapshot_id = snap.id
        self._snapshot = snap
        self._index = None
        self.changes = ChangeSet()

    async def flush(
        self,
        message: str,
        metadata: dict[str, Any],
        *,
        merge_with: TransactionLog | None = None,
    ) -> Snapshot:
        """Write manifests, the snapshot and its transaction log for the current changes.

        ``merge_with`` is the log of a commit being amended: the new log covers both.
        """
        base = await self.snapshot()
        known_files = {m.id: m for m in base.manifest_files}
        nodes: list[NodeSnapshot] = []
        files: dict[ManifestId, ManifestFileInfo] = {}
        for view in await self.list_nodes():
            node, node_files = await self._flush_node(view, known_files)
            nodes.append(node)
            files.update({f.id: f for f in node_files})
        snap = Snapshot(
            id=SnapshotId.random(),
            flushed_at=now_micros(),
            message=message,
            metadata=metadata,
            nodes=tuple(nodes),
            manifest_files=tuple(files[k] for k in sorted(files)),
            # Only spec-v1 files store it; v2 keeps parentage in the repo file.
            parent_id=self.snapshot_id,
        )
        log = self._transaction_log(snap.id)
        if merge_with is not None:
            from icechunk._commit import amended_log

            log = amended_log(merge_with, log)
        await self.repo.assets.write_transaction_log(log)
        await self.repo.assets.write_snapshot(snap)
        return snap

    async def _flush_node(
        self, view: NodeView, known: dict[ManifestId, ManifestFileInfo]
    ) -> tuple[NodeSnapshot, list[ManifestFileInfo]]:
        if view.array is None:
            return NodeSnapshot(view.id, view.path, view.user_data, None), []
        changes = self.changes.chunk_changes(view.id)
        shape_changed = view.id in self.changes.updated_arrays
        if not changes and not shape_changed and not view.is_new:
            data = ArrayNodeData(view.array.shape, view.array.dimension_names, view.manifests)
            infos = [known[m.object_id] for m in view.manifests if m.object_id in known]
            return NodeSnapshot(view.id, view.path, view.user_data, data), infos
        writer = SplitWriter(self.repo.assets, view.id, known)
        splits = array_splits(splitting_config(self.repo.config), view.path, view.array)
        with request_labels(array=view.path.lstrip("/")):
            await writer.flush(splits, view.manifests, changes, rewrite_all=view.is_new)
        data = ArrayNodeData(view.array.shape, view.array.dimension_names, tuple(writer.refs))
        return NodeSnapshot(view.id, view.path, view.user_data, data), writer.infos

    def _transaction_log(self, snapshot_id: SnapshotId) -> TransactionLog:
        ch = self.changes
        new_groups = frozenset(n.id for n in ch.new_nodes.values() if n.array is None)
        new_arrays = frozenset(n.id for n in ch.new_nodes.values() if n.array is not None)
        chunks = {node: frozenset(writes) for node, writes in ch.chunks.items() if writes}
        return TransactionLog(
            id=snapshot_id,
            new_groups=new_groups,
            new_arrays=new_arrays,
            deleted_groups=frozenset(ch.deleted_groups.values()),
            deleted_arrays=frozenset(ch.deleted_arrays.values()),
            updated_arrays=frozenset(ch.updated_arrays),
            updated_groups=frozenset(ch.updated_groups),
            updated_chunks=chunks,
            moved_nodes=self._move_records(),
        )

    def _move_records(self) -> tuple[MoveRecord, ...]:
        if not self.changes.moves or self._snapshot is None:
            return ()
        return move_records(self._snapshot.nodes, self.changes.moved, self.changes.moves)


def _coords_label(coords: Coords) -> str:
    """Chunk coordinates as request attribution names them (``1/0``)."""
    return "/".join(str(int(c)) for c in coords)
