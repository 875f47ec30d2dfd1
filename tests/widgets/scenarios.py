"""Repositories the widget tests (and the notebooks of the browser tests) start from.

Importable without pytest: the browser tests' kernels import this module too.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import zarr

import icechunk as ic

__all__ = ["conflicting", "make_history"]


def make_history(path: Path) -> tuple[ic.Repository, list[str]]:
    """A local repository with three commits on ``main``, a ``dev`` branch and a tag.

    Returns the repository and the snapshot ids, oldest first (the initial one included).
    """
    repo = ic.Repository.create(ic.local_filesystem_storage(str(path)))
    ids = [repo.lookup_branch("main")]
    s = repo.writable_session("main")
    root = zarr.group(s.store)
    arr = root.create_array("temp", shape=(4, 6), chunks=(2, 2), dtype="f4", fill_value=0)
    root.create_group("obs")
    arr[:] = np.arange(24, dtype="f4").reshape(4, 6)
    ids.append(s.commit("create temp", metadata={"author": "ana"}))
    s = repo.writable_session("main")
    zarr.open_array(s.store, path="temp")[0:2, 0:2] = -1
    zarr.open_group(s.store).attrs["title"] = "<b>demo</b>"
    ids.append(s.commit("edit corner <script>", metadata={"author": "bo"}))
    repo.create_branch("dev", ids[1])
    repo.create_tag("v1", ids[2])
    return repo, ids


def conflicting(path: Path) -> tuple[ic.Repository, ic.Session, str]:
    """A session whose write to chunk (0, 0) of /temp races a commit that wrote it too.

    Returns the repository, the session (not yet committed) and the other commit's id.
    """
    repo, _ = make_history(path)
    mine = repo.writable_session("main")
    theirs = repo.writable_session("main")
    zarr.open_array(theirs.store, path="temp")[0:2, 0:2] = 5
    their_id = theirs.commit("theirs: fives", metadata={"author": "bo"})
    zarr.open_array(mine.store, path="temp")[0:2, 0:2] = 7
    zarr.open_array(mine.store, path="temp")[2:4, 0:2] = 8
    return repo, mine, their_id
