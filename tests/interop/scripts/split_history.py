"""Commit a short history under a manifest splitting configuration; print the snapshot ids.

Uses only the public icechunk API, so it runs under the real wheel and under pyicechunk.

``split_history.py write PATH CONFIG [CONFIG2]``
    Creates a repository whose ``ManifestConfig.splitting`` is the named entry of
    ``_configs()``, then commits: two arrays written sparsely, one chunk changed, an append
    (resize), a deleted chunk, and finally ``rewrite_manifests``. With ``CONFIG2`` the
    repository is then reopened under that splitting and one more chunk is committed.
    Prints ``{"snapshots": [ids, newest first]}``.
``split_history.py read PATH``
    Prints the contents of both arrays at the tip of ``main``.
"""

from __future__ import annotations

import json
import sys
from typing import Any

import numpy as np
import zarr

import icechunk as ic

C = ic.ManifestSplitCondition
D = ic.ManifestSplitDimCondition


def _configs() -> dict[str, dict[Any, dict[Any, int]]]:
    return {
        "axis0": {C.path_matches(".*"): {D.Axis(0): 3}},
        "dim_names": {C.AnyArray(): {D.DimensionName("^t$"): 4, D.Any(): 2}},
        "two_rules": {
            C.name_matches("temp"): {D.Axis(1): 2},
            C.AnyArray(): {D.Axis(0): 5, D.Axis(1): 3},
        },
        "and_or": {
            C.and_conditions([C.path_matches("^/grp/"), C.name_matches("^(temp|rh)$")]): {
                D.Any(): 4
            },
            C.or_conditions([C.name_matches("^other$"), C.path_matches("nothing")]): {D.Axis(0): 1},
        },
        "none": {},
    }


def _config(config_name: str) -> ic.RepositoryConfig:
    rules = _configs()[config_name]
    manifest = ic.ManifestConfig(splitting=ic.ManifestSplittingConfig.from_dict(rules))
    return ic.RepositoryConfig(manifest=manifest)


def write(path: str, config_name: str, reconfigure: str | None = None) -> dict[str, Any]:
    storage = ic.local_filesystem_storage(path)
    repo = ic.Repository.create(storage, config=_config(config_name))
    session = repo.writable_session("main")
    root = zarr.group(session.store)
    grp = root.create_group("grp")
    temp = grp.create_array(
        "temp",
        shape=(13, 10),
        chunks=(1, 1),
        dtype="i4",
        fill_value=0,
        dimension_names=("t", "y"),
    )
    other = root.create_array("other", shape=(7,), chunks=(1,), dtype="i4", fill_value=0)
    temp[0:2, 0:10] = 1
    temp[5:13, 3] = 2
    other[0:7] = np.arange(1, 8)
    session.commit("sparse writes")
    session = repo.writable_session("main")
    zarr.open_array(session.store, path="grp/temp")[6, 3] = 7
    session.commit("one chunk")
    session = repo.writable_session("main")
    temp = zarr.open_array(session.store, path="grp/temp")
    temp.resize((17, 10))
    temp[16, 9] = 9
    session.commit("append")
    session = repo.writable_session("main")
    zarr.open_array(session.store, path="grp/temp")[0, 0] = 0  # fill value: chunk deleted
    session.commit("delete a chunk")
    repo.rewrite_manifests("rewrite", branch="main")
    if reconfigure is not None:
        repo = ic.Repository.open(storage, config=_config(reconfigure))
        session = repo.writable_session("main")
        zarr.open_array(session.store, path="grp/temp")[10, 3] = 5
        session.commit("after reconfiguring")
    return {"snapshots": [s.id for s in repo.ancestry(branch="main")]}


def read(path: str) -> dict[str, Any]:
    repo = ic.Repository.open(ic.local_filesystem_storage(path))
    out = {}
    for info in list(repo.ancestry(branch="main"))[:1]:
        store = repo.readonly_session(snapshot_id=info.id).store
        try:
            group = zarr.open_group(store, mode="r")
            out[info.id] = {
                name: np.asarray(group[name][:]).tolist() for name in ("grp/temp", "other")
            }
        except (KeyError, FileNotFoundError):
            out[info.id] = None
    return out


def main(argv: list[str]) -> None:
    if len(argv) in (3, 4) and argv[0] == "write":
        result = write(argv[1], argv[2], argv[3] if len(argv) == 4 else None)
    elif len(argv) == 2 and argv[0] == "read":
        result = read(argv[1])
    else:
        sys.exit(f"usage: {sys.argv[0]} write PATH CONFIG [CONFIG2] | read PATH")
    print(json.dumps(result))


if __name__ == "__main__":
    main(sys.argv[1:])
