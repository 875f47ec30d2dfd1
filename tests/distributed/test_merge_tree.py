"""The shape of store_dask's merge tree: one extract task per write block, then merges of
at most ``split_every`` forks per task, level by level, down to one."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("dask")

import dask
import dask.array as da
import numpy as np
import zarr

import icechunk as ic
from icechunk.dask import _block_forks, _merge_tree, session_merge_reduction


def _stored(tmp_path: Path, n_blocks: int) -> tuple[ic.Repository, ic.Session, da.Array]:
    repo = ic.Repository.create(ic.local_filesystem_storage(str(tmp_path / "repo")))
    session = repo.writable_session("main")
    zarr.create_array(session.store, name="a", shape=(n_blocks,), chunks=(1,), dtype="i4")
    session.commit("init")
    session = repo.writable_session("main")
    target = zarr.open_array(session.fork().store, path="a")
    source = da.arange(n_blocks, dtype="i4", chunks=1)
    stored = da.store(
        [source], [target], compute=False, return_stored=True, load_stored=False, lock=False
    )
    return repo, session, stored


def _levels(n: int, fan_in: int) -> int:
    """Merge levels needed to fold ``n`` forks, ``fan_in`` at a time (at least one)."""
    levels = 0
    while n > 1:
        n = -(-n // fan_in)
        levels += 1
    return max(levels, 1)


@pytest.mark.parametrize(("n_blocks", "fan_in"), [(64, 2), (64, 8), (64, 64), (10, 3), (1, 4)])
def test_merge_tree_levels_and_fan_in(tmp_path: Path, n_blocks: int, fan_in: int) -> None:
    _, _, stored = _stored(tmp_path, n_blocks)
    leaves = _block_forks([stored], "t")
    assert len(leaves) == n_blocks
    graph = dict(_merge_tree(leaves, fan_in, "t").__dask_graph__())
    merges = {k: v for k, v in graph.items() if str(k).startswith("ice-changeset-merge-t-")}
    depths = {int(str(k).split("-")[-2]) for k in merges}
    assert len(depths) == _levels(n_blocks, fan_in)
    for key in merges:
        inputs = [d for d in graph[key].dependencies if "ice-changeset" in str(d)]
        assert 1 <= len(inputs) <= fan_in


def test_default_fan_in_follows_dask_config(tmp_path: Path) -> None:
    repo, session, stored = _stored(tmp_path, 12)
    with dask.config.set(split_every=3, scheduler="threads"):
        merged = session_merge_reduction(stored, split_every=None)
    session.merge(merged)
    session.commit("twelve blocks")
    got = zarr.open_array(repo.readonly_session("main").store, path="a")[:]
    np.testing.assert_array_equal(got, np.arange(12))


@pytest.mark.parametrize("not_dask", [np.arange(4), [np.arange(4)], "stored"])
def test_merge_reduction_refuses_what_is_not_a_dask_array(not_dask: object) -> None:
    # A numpy array (or a list holding one) has no task graph to reduce: name the problem.
    with pytest.raises(TypeError, match="Expected a dask array"):
        session_merge_reduction(not_dask, split_every=None)  # type: ignore[arg-type]
