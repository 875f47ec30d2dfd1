"""Print a canonical JSON description of the icechunk repository at ``argv[1]``.

Uses only the public icechunk and zarr APIs, so it runs under the real wheel (2.x or 1.1.21)
and under pyicechunk alike. Output (``json.dumps(..., sort_keys=True)``)::

    {
      "spec_version": 1 | 2,
      "branches": {name: snapshot_id},
      "tags": {name: snapshot_id},
      "ancestry": {"branch:NAME" | "tag:NAME": [snapshot_id, ...]},   # tip first
      "snapshots": {
        snapshot_id: {
          "parent_id", "message", "metadata", "written_at",
          "diff_from_parent": {...} | null,     # Repository.diff(parent -> this)
          "tree": {
            "/path": {
              "node_type": "group" | "array",
              "zarr_json": {...},                # the stored zarr.json, parsed
              # arrays only:
              "summary": {shape, chunks, dtype, fill_value, dimension_names, attributes},
              "data": {"dtype", "shape", "sha256"},   # of arr[...]
              "chunks": {key relative to the array: sha256 of the stored bytes},
            }
          }
        }
      },
      "ops_log": [{"kind", ..., "updated_at", "backup_path"}]   # spec-v2 repositories only
    }

Snapshot ids, ``written_at``, ``updated_at`` and ``backup_path`` differ between runs; see
``tests/interop/harness.py:normalize_dump`` for an id-free form that compares across runs.
"""

from __future__ import annotations

import hashlib
import json
import sys
from typing import Any

import numpy as np
import zarr
from zarr.core.buffer import default_buffer_prototype
from zarr.core.sync import sync

import icechunk


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _jsonable(value: Any) -> Any:
    """Convert metadata values (datetimes, tuples, sets, numpy scalars) to plain JSON."""
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, (set, frozenset)):
        return sorted(_jsonable(v) for v in value)
    if isinstance(value, np.generic):
        return value.item()
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return value


async def _list_keys(store: Any) -> list[str]:
    return sorted([key async for key in store.list_prefix("")])


async def _get_bytes(store: Any, key: str) -> bytes | None:
    buf = await store.get(key, prototype=default_buffer_prototype())
    return None if buf is None else buf.to_bytes()


def _data_digest(arr: Any) -> dict[str, Any]:
    values = np.asarray(arr[...])
    if values.dtype.kind in "OTSU":
        # Variable-length strings come back as object or StringDType arrays depending on the
        # numpy/zarr versions; hash their values, never their (pointer-bearing) buffers.
        raw = json.dumps(values.tolist(), ensure_ascii=False).encode()
        dtype = "str"
    else:
        raw = np.ascontiguousarray(values).tobytes()
        dtype = str(values.dtype)
    return {"dtype": dtype, "shape": list(values.shape), "sha256": _sha256(raw)}


def _summary(doc: dict[str, Any]) -> dict[str, Any]:
    grid = doc.get("chunk_grid", {}).get("configuration", {})
    return {
        "shape": doc.get("shape"),
        "chunks": grid.get("chunk_shape"),
        "dtype": doc.get("data_type"),
        "fill_value": doc.get("fill_value"),
        "dimension_names": doc.get("dimension_names"),
        "attributes": doc.get("attributes", {}),
    }


def dump_tree(repo: icechunk.Repository, snapshot_id: str) -> dict[str, Any]:
    """Describe every node of one snapshot, read through a read-only session."""
    store = repo.readonly_session(snapshot_id=snapshot_id).store
    keys = sync(_list_keys(store))
    node_keys = [k for k in keys if k == "zarr.json" or k.endswith("/zarr.json")]
    node_paths = sorted(k[: -len("zarr.json")].rstrip("/") for k in node_keys)
    tree: dict[str, Any] = {}
    for path in node_paths:
        raw = sync(_get_bytes(store, f"{path}/zarr.json" if path else "zarr.json"))
        assert raw is not None, f"listed key {path}/zarr.json cannot be read"
        doc = json.loads(raw)
        node: dict[str, Any] = {"node_type": doc.get("node_type"), "zarr_json": doc}
        if doc.get("node_type") == "array":
            node["summary"] = _summary(doc)
            node["data"] = _data_digest(zarr.open_array(store, path=path, mode="r"))
            node["chunks"] = {}
        tree["/" + path] = node
    # Every other key is a chunk of the deepest array whose path prefixes it.
    for key in keys:
        if key in node_keys:
            continue
        owner = max((p for p in node_paths if p == "" or key.startswith(p + "/")), key=len)
        node = tree["/" + owner]
        rel = key[len(owner) + 1 :] if owner else key
        raw = sync(_get_bytes(store, key))
        node.setdefault("chunks", {})[rel] = None if raw is None else _sha256(raw)
    return tree


def _diff(repo: icechunk.Repository, parent: str, child: str) -> dict[str, Any]:
    diff = repo.diff(from_snapshot_id=parent, to_snapshot_id=child)
    out: dict[str, Any] = {}
    for name in (
        "new_groups",
        "new_arrays",
        "deleted_groups",
        "deleted_arrays",
        "updated_groups",
        "updated_arrays",
    ):
        out[name] = sorted(getattr(diff, name))
    out["updated_chunks"] = {
        path: sorted(list(idx) for idx in indices)
        for path, indices in sorted(diff.updated_chunks.items())
    }
    moved = getattr(diff, "moved_nodes", None)  # 2.x only
    if moved:
        out["moved_nodes"] = sorted(_jsonable(list(moved)))
    return out


def _spec_version(repo: icechunk.Repository) -> int:
    # icechunk 1.x has no Repository.spec_version: it only reads and writes spec-v1 repos.
    spec = getattr(repo, "spec_version", None)
    return 1 if spec is None else int(spec)


def _ops_log(repo: icechunk.Repository) -> list[dict[str, Any]] | None:
    if _spec_version(repo) < 2:  # spec-v1 repositories have no ops log
        return None
    entries = []
    for update in repo.ops_log():
        kind = update.kind
        entry: dict[str, Any] = {"kind": type(kind).__name__}
        for field in dir(kind):
            if field.startswith("_") or field[0].isupper():
                continue
            value = getattr(kind, field)
            if not callable(value):
                entry[field] = _jsonable(value)
        entry["updated_at"] = _jsonable(update.updated_at)
        entry["backup_path"] = update.backup_path
        entries.append(entry)
    return entries


def dump(path: str) -> dict[str, Any]:
    repo = icechunk.Repository.open(icechunk.local_filesystem_storage(path))
    refs = {f"branch:{b}": {"branch": b} for b in repo.list_branches()}
    refs.update({f"tag:{t}": {"tag": t} for t in repo.list_tags()})
    out: dict[str, Any] = {
        "branches": {b: repo.lookup_branch(b) for b in sorted(repo.list_branches())},
        "tags": {t: repo.lookup_tag(t) for t in sorted(repo.list_tags())},
        "spec_version": _spec_version(repo),
        "ancestry": {},
        "snapshots": {},
    }
    for ref, kwargs in sorted(refs.items()):
        infos = list(repo.ancestry(**kwargs))
        out["ancestry"][ref] = [info.id for info in infos]
        for info in infos:
            if info.id in out["snapshots"]:
                continue
            out["snapshots"][info.id] = {
                "parent_id": info.parent_id,
                "message": info.message,
                "metadata": _jsonable(info.metadata),
                "written_at": _jsonable(info.written_at),
                "diff_from_parent": (
                    None if info.parent_id is None else _diff(repo, info.parent_id, info.id)
                ),
                "tree": dump_tree(repo, info.id),
            }
    ops = _ops_log(repo)
    if ops is not None:
        out["ops_log"] = ops
    return out


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(f"usage: {sys.argv[0]} REPO_PATH")
    print(json.dumps(dump(sys.argv[1]), sort_keys=True, ensure_ascii=False))
