"""Read back the repository ``vc_scenario.py`` wrote at ``argv[1]``; print it as JSON.

For every branch: the commit messages of its ancestry, the diff of each commit against
its parent (transaction logs, including moves), the node paths at the tip and every
array's values. Snapshot ids are left out, so the output of one implementation reading a
repository the other wrote can be compared with its reading of its own.
"""

from __future__ import annotations

import itertools
import json
import sys
from typing import Any

import numpy as np
import zarr
import zarr.errors

import icechunk as ic


def diff_json(diff: Any) -> dict[str, Any]:
    return {
        "new_groups": sorted(diff.new_groups),
        "new_arrays": sorted(diff.new_arrays),
        "deleted_groups": sorted(diff.deleted_groups),
        "deleted_arrays": sorted(diff.deleted_arrays),
        "updated_groups": sorted(diff.updated_groups),
        "updated_arrays": sorted(diff.updated_arrays),
        "updated_chunks": {k: sorted(v) for k, v in sorted(diff.updated_chunks.items())},
        "moved_nodes": [list(m) for m in diff.moved_nodes],
    }


def tip(repo: ic.Repository, branch: str) -> dict[str, Any]:
    try:
        root = zarr.open_group(repo.readonly_session(branch).store, mode="r")
    except zarr.errors.GroupNotFoundError:  # a branch at the empty initial snapshot
        return {"members": [], "arrays": {}, "attrs": {}}
    members = dict(root.members(max_depth=None))
    arrays = {
        name: np.asarray(node[...]).tolist()
        for name, node in sorted(members.items())
        if isinstance(node, zarr.Array)
    }
    attrs = {name: dict(node.attrs) for name, node in sorted(members.items())}
    return {"members": sorted(members), "arrays": arrays, "attrs": attrs}


def branch_history(repo: ic.Repository, branch: str) -> dict[str, Any]:
    snaps = list(repo.ancestry(branch=branch))
    diffs = [
        [child.message, diff_json(repo.diff(from_snapshot_id=parent.id, to_snapshot_id=child.id))]
        for child, parent in itertools.pairwise(snaps)
    ]
    return {"ancestry": [s.message for s in snaps], "diffs": diffs, "tip": tip(repo, branch)}


def main(path: str) -> None:
    repo = ic.Repository.open(ic.local_filesystem_storage(path))
    out = {name: branch_history(repo, name) for name in sorted(repo.list_branches())}
    print(json.dumps(out, sort_keys=True))


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(f"usage: {sys.argv[0]} REPO_PATH")
    main(sys.argv[1])
