"""Write a branchy history, expire + garbage collect it, or describe it, as JSON.

Uses only the public icechunk API, so it runs under the real wheel and under pyicechunk.

``gc_history.py write PATH [v1]``
    Creates a repository (a spec-v1 one with ``v1``; icechunk 1.x always writes v1) (inline chunks off) with one int32 array ``/a`` of 6 one-element
    chunks: commits on main, a branch ``feat``, a tag ``t1``, a branch reset that leaves a
    dangling snapshot, then a cut time, then newer commits on main and ``feat``. Prints
    ``{"cut": iso_time, "snapshots": [ids in commit order]}``.
``gc_history.py maintain PATH CUT [delete_refs]``
    Runs ``expire_snapshots(CUT)`` and ``garbage_collect(CUT)``; with ``delete_refs`` the
    expired branches and tags are deleted too. Prints the expired ids and the GC summary.
``gc_history.py rewrite PATH``
    Runs ``rewrite_manifests`` on ``main``; prints the new snapshot id.
``gc_history.py read PATH``
    Prints every branch and tag with its ancestry and the array contents at each snapshot
    of that ancestry.
"""

from __future__ import annotations

import datetime as dt
import json
import sys
import time
from typing import Any

import zarr
import zarr.errors

import icechunk

SIZE = 6


def _open(path: str) -> icechunk.Repository:
    return icechunk.Repository.open(icechunk.local_filesystem_storage(path))


def _write(repo: icechunk.Repository, branch: str, index: int, value: int) -> str:
    session = repo.writable_session(branch)
    root = zarr.open_group(session.store, mode="a")
    if "a" in root:
        array = root["a"]
    else:
        array = root.create_array("a", shape=(SIZE,), chunks=(1,), dtype="i4", fill_value=-1)
    array[index] = value
    return session.commit(f"a[{index}] = {value}")


def write(path: str, spec_v1: bool = False) -> dict[str, Any]:
    config = icechunk.RepositoryConfig(inline_chunk_threshold_bytes=0)
    storage = icechunk.local_filesystem_storage(path)
    if spec_v1:
        repo = icechunk.Repository.create(storage, config=config, spec_version=1)
    else:
        repo = icechunk.Repository.create(storage, config=config)
    snaps = [_write(repo, "main", i, i + 1) for i in range(3)]
    repo.create_branch("feat", snaps[1])
    repo.create_tag("t1", snaps[2])
    snaps.append(_write(repo, "feat", 4, 40))
    snaps.append(_write(repo, "main", 0, 100))
    repo.reset_branch("main", snaps[2])  # snaps[4] is left dangling
    time.sleep(0.3)
    cut = dt.datetime.now(dt.UTC)
    time.sleep(0.3)
    snaps.append(_write(repo, "main", 5, 50))
    snaps.append(_write(repo, "feat", 3, 30))
    return {"cut": cut.isoformat(), "snapshots": snaps}


def maintain(path: str, cut: str, delete_refs: bool) -> dict[str, Any]:
    repo = _open(path)
    when = dt.datetime.fromisoformat(cut)
    expired = repo.expire_snapshots(
        when, delete_expired_branches=delete_refs, delete_expired_tags=delete_refs
    )
    summary = repo.garbage_collect(when)
    fields = [
        "bytes_deleted",
        "chunks_deleted",
        "manifests_deleted",
        "snapshots_deleted",
        "attributes_deleted",
        "transaction_logs_deleted",
    ]
    return {"expired": sorted(expired), "gc": {f: getattr(summary, f) for f in fields}}


def rewrite(path: str) -> dict[str, Any]:
    repo = _open(path)
    new = repo.rewrite_manifests("rewrite", branch="main")
    return {"snapshot_id": new, "manifests": len(repo.list_manifest_files(new))}


def _contents(repo: icechunk.Repository, snapshot_id: str) -> list[int] | None:
    store = repo.readonly_session(snapshot_id=snapshot_id).store
    try:
        array = zarr.open_array(store, path="a", mode="r")
    except (FileNotFoundError, KeyError, zarr.errors.NodeNotFoundError):
        return None
    return [int(x) for x in array[:]]


def _describe(repo: icechunk.Repository, **ref: str) -> dict[str, Any]:
    ancestry = [info.id for info in repo.ancestry(**ref)]
    return {"ancestry": ancestry, "data": [_contents(repo, sid) for sid in ancestry]}


def _ops(repo: icechunk.Repository) -> list[str] | None:
    """The newest three ops-log kinds; None where there is no log (spec v1, icechunk 1.x)."""
    try:
        return [type(u.kind).__name__ for u in repo.ops_log()][:3]
    except (AttributeError, icechunk.IcechunkError):
        return None


def read(path: str) -> dict[str, Any]:
    repo = _open(path)
    return {
        "branches": {b: _describe(repo, branch=b) for b in sorted(repo.list_branches())},
        "tags": {t: _describe(repo, tag=t) for t in sorted(repo.list_tags())},
        "ops": _ops(repo),
    }


def main(argv: list[str]) -> None:
    if len(argv) >= 2 and argv[0] == "write":
        result = write(argv[1], argv[2:] == ["v1"])
    elif len(argv) in (3, 4) and argv[0] == "maintain":
        result = maintain(argv[1], argv[2], len(argv) == 4 and argv[3] == "delete_refs")
    elif len(argv) == 2 and argv[0] == "read":
        result = read(argv[1])
    elif len(argv) == 2 and argv[0] == "rewrite":
        result = rewrite(argv[1])
    else:
        sys.exit(f"usage: {sys.argv[0]} write PATH | maintain PATH CUT [delete_refs] | read PATH")
    print(json.dumps(result))


if __name__ == "__main__":
    main(sys.argv[1:])
