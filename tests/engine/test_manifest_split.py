"""Manifest splitting on write: split grids, stable splits across commits, reading back."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import zarr

import icechunk as ic
from icechunk._manifest_split import Overlap, Splits, overlap, split_edges
from icechunk.format.model import Snapshot

C = ic.ManifestSplitCondition
D = ic.ManifestSplitDimCondition


def _rules(mapping: dict[Any, dict[Any, int]]) -> list[Any]:
    config = ic.ManifestSplittingConfig.from_dict(mapping)
    return [(c._to_dict(), [(d._to_dict(), n) for d, n in dims]) for c, dims in config.split_sizes]


# ---------------------------------------------------------------- split grid
def test_uniform_edges_end_at_the_grid_size() -> None:
    rules = _rules({C.AnyArray(): {D.Axis(0): 3}})
    assert split_edges(rules, "/a", [10, 4], None) == [[0, 3, 6, 9, 10], [0, 4]]
    assert split_edges(rules, "/a", [9], None) == [[0, 3, 6, 9]]
    assert split_edges(rules, "/a", [0], None) == [[0]]  # an empty axis has no split
    assert Splits([[0]]).extents == []


def test_an_earlier_rule_claims_an_axis_for_good() -> None:
    rules = _rules(
        {
            C.name_matches("^temp$"): {D.Axis(1): 2},
            C.AnyArray(): {D.Axis(0): 5, D.Axis(1): 3},
        }
    )
    assert split_edges(rules, "/g/temp", [10, 4], None) == [[0, 5, 10], [0, 2, 4]]
    assert split_edges(rules, "/g/other", [10, 4], None) == [[0, 5, 10], [0, 3, 4]]


def test_dimension_names_need_names_and_any_takes_the_rest() -> None:
    rules = _rules({C.AnyArray(): {D.DimensionName("^t"): 4, D.Any(): 2}})
    assert split_edges(rules, "/a", [8, 4], ["time", "y"]) == [[0, 4, 8], [0, 2, 4]]
    assert split_edges(rules, "/a", [8, 4], None) == [[0, 2, 4, 6, 8], [0, 2, 4]]


def test_array_conditions_match_paths_names_and_combinations() -> None:
    both = C.and_conditions([C.path_matches("^/grp/"), C.name_matches("^(temp|rh)$")])
    rules = _rules({both: {D.Any(): 2}, C.path_matches("nowhere") | C.name_matches("x"): {}})
    assert split_edges(rules, "/grp/rh", [4], None) == [[0, 2, 4]]
    assert split_edges(rules, "/grp/rhx", [4], None) == [[0, 4]]
    assert split_edges(rules, "/rh", [4], None) == [[0, 4]]


def test_splits_enumerate_boxes_and_locate_chunks() -> None:
    splits = Splits([[0, 2, 3], [0, 5, 10]])
    assert splits.extents == [
        ((0, 2), (0, 5)),
        ((0, 2), (5, 10)),
        ((2, 3), (0, 5)),
        ((2, 3), (5, 10)),
    ]
    for i, box in enumerate(splits.extents):
        corner = tuple(lo for lo, _ in box)
        assert splits.index_of(corner) == i
    assert splits.index_of((3, 0)) is None
    assert Splits([]).extents == [()]


def test_overlap_is_measured_from_the_manifest_side() -> None:
    split = ((0, 4), (0, 4))
    assert overlap(((1, 2), (0, 4)), split) is Overlap.COMPLETE
    assert overlap(((3, 6), (0, 1)), split) is Overlap.PARTIAL
    assert overlap(((4, 6), (0, 1)), split) is Overlap.NONE


# ---------------------------------------------------------------- writing
def _config(rules: dict[Any, dict[Any, int]], **manifest: Any) -> ic.RepositoryConfig:
    splitting = ic.ManifestSplittingConfig.from_dict(rules)
    return ic.RepositoryConfig(manifest=ic.ManifestConfig(splitting=splitting, **manifest))


def _repo(
    rules: dict[Any, dict[Any, int]], storage: ic.Storage | None = None, **manifest: Any
) -> ic.Repository:
    storage = storage or ic.in_memory_storage()
    return ic.Repository.create(storage, config=_config(rules, **manifest))


def _snapshot(repo: ic.Repository, snapshot_id: str) -> Snapshot:
    from zarr.core.sync import sync

    from icechunk.format.ids import SnapshotId

    return sync(repo._core.assets.fetch_snapshot(SnapshotId.parse(snapshot_id)))


def _extents(repo: ic.Repository, snapshot_id: str, path: str) -> dict[Any, Any]:
    snap = _snapshot(repo, snapshot_id)
    node = next(n for n in snap.nodes if n.path == path)
    assert node.array is not None
    return {ref.extents: ref.object_id for ref in node.array.manifests}


def _fill(repo: ic.Repository) -> str:
    session = repo.writable_session("main")
    array = zarr.create_array(
        session.store, name="a", shape=(10, 4), chunks=(1, 1), dtype="i4", fill_value=0
    )
    array[:] = np.arange(1, 41).reshape(10, 4)
    return session.commit("fill")


def test_one_manifest_per_non_empty_split_and_stable_splits() -> None:
    repo = _repo({C.AnyArray(): {D.Axis(0): 4, D.Axis(1): 2}})
    first = _fill(repo)
    before = _extents(repo, first, "/a")
    assert sorted(before) == [
        ((0, 4), (0, 2)),
        ((0, 4), (2, 4)),
        ((4, 8), (0, 2)),
        ((4, 8), (2, 4)),
        ((8, 10), (0, 2)),
        ((8, 10), (2, 4)),
    ]
    assert len(_snapshot(repo, first).manifest_files) == 6
    session = repo.writable_session("main")
    zarr.open_array(session.store, path="a")[5, 3] = -1
    second = session.commit("one chunk")
    after = _extents(repo, second, "/a")
    changed = {box for box in after if after[box] != before.get(box)}
    assert changed == {((4, 8), (2, 4))}
    data = zarr.open_array(repo.readonly_session("main").store, path="a", mode="r")[:]
    expected = np.arange(1, 41).reshape(10, 4)
    expected[5, 3] = -1
    np.testing.assert_array_equal(data, expected)


def test_a_new_split_config_rewrites_straddling_manifests_per_manifest() -> None:
    storage = ic.in_memory_storage()
    _fill(_repo({C.AnyArray(): {D.Axis(0): 4}}, storage))
    repo = ic.Repository.open(storage, config=_config({C.AnyArray(): {D.Axis(0): 3}}))
    session = repo.writable_session("main")
    zarr.open_array(session.store, path="a")[0, 0] = -1
    tip = session.commit("reconfigured")
    # [0,3) holds the change; [3,6) gets the two old manifests' parts separately.
    assert sorted(_extents(repo, tip, "/a")) == [
        ((0, 3), (0, 4)),
        ((3, 4), (0, 4)),
        ((4, 6), (0, 4)),
        ((6, 8), (0, 4)),
        ((8, 9), (0, 4)),
        ((9, 10), (0, 4)),
    ]
    data = zarr.open_array(repo.readonly_session("main").store, path="a", mode="r")[:]
    assert data[0, 0] == -1 and data[9, 3] == 40 and data[3, 0] == 13


def test_rewrite_manifests_applies_the_current_splitting() -> None:
    storage = ic.in_memory_storage()
    _fill(_repo({C.path_matches("nothing"): {D.Any(): 1}}, storage))
    repo = ic.Repository.open(storage, config=_config({C.AnyArray(): {D.Axis(1): 1}}))
    tip = repo.rewrite_manifests("split", branch="main")
    assert sorted(_extents(repo, tip, "/a")) == [((0, 10), (i, i + 1)) for i in range(4)]
    assert len(repo.list_manifest_files(tip)) == 4
    data = zarr.open_array(repo.readonly_session("main").store, path="a", mode="r")[:]
    np.testing.assert_array_equal(data, np.arange(1, 41).reshape(10, 4))


def test_shrinking_drops_manifests_outside_the_grid() -> None:
    repo = _repo({C.AnyArray(): {D.Axis(0): 4}})
    _fill(repo)
    session = repo.writable_session("main")
    zarr.open_array(session.store, path="a").resize((5, 4))
    tip = session.commit("shrink")
    assert sorted(_extents(repo, tip, "/a")) == [((0, 4), (0, 4)), ((4, 5), (0, 4))]


@pytest.mark.parametrize("preload", [True, False])
def test_reading_split_manifests_with_the_preload_config(preload: bool) -> None:
    condition = ic.ManifestPreloadCondition.path_matches(".*")
    preload_config = ic.ManifestPreloadConfig(max_total_refs=1000, preload_if=condition)
    repo = _repo({C.AnyArray(): {D.Any(): 3}}, preload=preload_config if preload else None)
    _fill(repo)
    data = zarr.open_array(repo.readonly_session("main").store, path="a", mode="r")[:]
    np.testing.assert_array_equal(data, np.arange(1, 41).reshape(10, 4))
