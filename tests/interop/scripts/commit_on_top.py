"""Open the repository at ``argv[1]`` and commit on top of a branch (``argv[2]``, default main).

Uses only the public icechunk API, so it runs under the real wheels and under pyicechunk. The
commit overwrites ``float64[:10]`` with 99.0 when that array exists (it does in the sample
repository), sets a root attribute, and adds the array ``/on_top`` (int64, shape (3, 50),
chunks (2, 20), values ``arange(150).reshape(3, 50)``).

Prints ``{"snapshot_id": new_id, "parent_id": previous_tip, "branch": name}``.
"""

from __future__ import annotations

import json
import sys

import numpy as np
import zarr

import icechunk


def main(path: str, branch: str) -> None:
    repo = icechunk.Repository.open(icechunk.local_filesystem_storage(path))
    parent = repo.lookup_branch(branch)
    session = repo.writable_session(branch)
    root = zarr.open_group(session.store, mode="r+")
    if "float64" in root:
        root["float64"][:10] = 99.0
    root.attrs["on_top"] = True
    arr = root.create_array(
        "on_top",
        shape=(3, 50),
        chunks=(2, 20),
        dtype="int64",
        fill_value=-1,
        dimension_names=["i", "j"],
        attributes={"written_by": "commit_on_top"},
    )
    arr[:] = np.arange(150, dtype="int64").reshape(3, 50)
    snapshot_id = session.commit("commit on top", metadata={"script": "commit_on_top"})
    print(json.dumps({"snapshot_id": snapshot_id, "parent_id": parent, "branch": branch}))


if __name__ == "__main__":
    if len(sys.argv) not in (2, 3):
        sys.exit(f"usage: {sys.argv[0]} REPO_PATH [BRANCH]")
    main(sys.argv[1], sys.argv[2] if len(sys.argv) == 3 else "main")
