"""icechunk.testing: the strategies and invariants other test suites import."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import hypothesis.strategies as st
import numpy as np
import pytest
import zarr
from hypothesis import given, settings

import icechunk as ic
from engine.maintenance_helpers import new_repo, read, write
from icechunk.testing import strategies as icst
from icechunk.testing.invariants import (
    assert_ancestry_invariants,
    assert_list_dir_equal,
    assert_moves_sorted_by_final_path,
)


@given(config=icst.repository_configs(inline_chunk_threshold_bytes=st.integers(0, 100)))
@settings(max_examples=10)
def test_repository_configs_build_working_repositories(config: ic.RepositoryConfig) -> None:
    assert 1 <= (config.num_updates_per_repo_info_file or 0) <= 5
    repo = ic.Repository.create(ic.in_memory_storage(), config=config)
    for i in range(3):
        write(repo, "main", i, i)
    assert len(list(repo.ancestry(branch="main"))) == 4


@given(data=st.data())
@settings(max_examples=10)
def test_splitting_configs_split_and_read_back(data: st.DataObject) -> None:
    session = ic.Repository.create(ic.in_memory_storage()).writable_session("main")
    array = zarr.group(store=session.store).create_array(
        "x", shape=(6, 4), chunks=(2, 2), dtype="i2", dimension_names=["t", None]
    )
    splitting = data.draw(icst.splitting_configs(arrays=[array]))
    config = data.draw(icst.repository_configs(splitting=st.just(splitting)))
    repo = ic.Repository.create(ic.in_memory_storage(), config=config)
    session = repo.writable_session("main")
    target = zarr.group(store=session.store).create_array(
        "x", shape=(6, 4), chunks=(2, 2), dtype="i2", dimension_names=["t", None]
    )
    target[:] = np.arange(24, dtype="i2").reshape(6, 4)
    sid = session.commit("split")
    read_back = zarr.open_array(repo.readonly_session(snapshot_id=sid).store, path="x")
    assert (read_back[:] == np.arange(24).reshape(6, 4)).all()


@given(data=st.data())
def test_chunk_slicers_select_one_chunk(data: st.DataObject) -> None:
    numblocks, chunk_shape = (3, 2, 5), (4, 1, 2)
    slicers = data.draw(icst.chunk_slicers(numblocks, chunk_shape))
    block = np.zeros(tuple(n * s for n, s in zip(numblocks, chunk_shape, strict=True)))[slicers]
    assert block.shape == chunk_shape
    path = data.draw(icst.chunk_paths(numblocks))
    coords = [int(p) for p in path.split("/")]
    assert all(0 <= c < n for c, n in zip(coords, numblocks, strict=True))


@given(data=st.data())
@settings(max_examples=5)
def test_draw_older_than_drives_expiration_and_gc(data: st.DataObject) -> None:
    repo = new_repo()
    snaps = [write(repo, "main", i, i) for i in range(3)]
    cutoff = icst.draw_older_than(data, repo.storage, repo)
    assert cutoff.tzinfo is not None
    expired = repo.expire_snapshots(cutoff)
    assert expired <= set(snaps)
    repo.garbage_collect(cutoff)
    assert_ancestry_invariants(list(repo.ancestry(branch="main")))


def test_ancestry_invariants_accept_histories_and_reject_broken_ones() -> None:
    repo = new_repo()
    snaps = [write(repo, "main", i, i) for i in range(2)]
    history = list(repo.ancestry(branch="main"))
    assert_ancestry_invariants(history, known_commits={*snaps, history[-1].id})
    with pytest.raises(AssertionError):
        assert_ancestry_invariants(history[::-1])
    with pytest.raises(AssertionError):
        assert_ancestry_invariants(history, known_commits=set(snaps))
    assert dt.datetime.now(dt.UTC) > history[0].written_at


def test_listing_and_move_order_helpers() -> None:
    assert_list_dir_equal("a", ["c", "zarr.json"], ["zarr.json"])
    with pytest.raises(AssertionError):
        assert_list_dir_equal("a", ["b", "zarr.json"], ["zarr.json"])
    assert_moves_sorted_by_final_path([("/x", "/a"), ("/y", "/a/b"), ("/z", "/a-b")])
    with pytest.raises(AssertionError):
        assert_moves_sorted_by_final_path([("/x", "/b"), ("/y", "/a")])


def test_latency_storage_delays_requests_and_keeps_data() -> None:
    import time

    from icechunk.testing import LatencyStorage

    storage = LatencyStorage(ic.in_memory_storage(), write_latency_ms=30)
    repo = new_repo(storage)
    start = time.perf_counter()
    write(repo, "main", 0, 1)
    slow = time.perf_counter() - start
    assert slow >= 0.03 * 4  # chunk, manifest, tx log, snapshot, repo file...
    storage.write_latency_ms = 0
    start = time.perf_counter()
    write(repo, "main", 1, 2)
    assert time.perf_counter() - start < slow
    storage.read_latency_ms = 5
    assert storage.read_latency_ms == 5
    assert read(repo, branch="main") == [1, 2, -1, -1]
    assert repo.garbage_collect(dt.datetime.now(dt.UTC)).snapshots_deleted == 0
    with pytest.raises(TypeError):
        LatencyStorage("not a storage")  # type: ignore[arg-type]


def test_latency_storage_pickles_only_inside_a_repository(tmp_path: Path) -> None:
    import pickle

    from icechunk.testing import LatencyStorage

    storage = LatencyStorage(
        ic.local_filesystem_storage(str(tmp_path)), write_latency_ms=3, read_latency_ms=2
    )
    with pytest.raises(TypeError, match="cannot pickle 'Storage' object"):
        pickle.dumps(storage)
    repo = new_repo(storage)
    write(repo, "main", 0, 1)
    clone = pickle.loads(pickle.dumps(repo))
    assert isinstance(clone.storage, LatencyStorage)
    assert (clone.storage.write_latency_ms, clone.storage.read_latency_ms) == (3, 2)
    assert read(clone, branch="main") == [1, -1, -1, -1]
