"""Repository.rewrite_manifests and list_manifest_files."""

from __future__ import annotations

import pytest
import zarr

import icechunk as ic
from engine.maintenance_helpers import (
    ancestry_ids,
    keys,
    new_repo,
    now_after_writes,
    op_kinds,
    read,
    write,
)
from engine.storage_kinds import NewStorage
from icechunk.errors import InvalidInputError, RefNotFoundError

NO_SPLITTING = {
    "split_sizes": [
        [{"path_matches": {"regex": ".*"}}, [{"num_chunks": 4294967295, "condition": "Any"}]]
    ]
}


def _history(new_storage: NewStorage) -> tuple[ic.Repository, list[str]]:
    repo = new_repo(new_storage())
    snaps = [write(repo, "main", i, i + 1) for i in range(3)]
    session = repo.writable_session("main")
    zarr.open_group(session.store).create_array("b", shape=(2,), chunks=(1,), dtype="i2")[:] = [
        7,
        8,
    ]
    snaps.append(session.commit("add b"))
    return repo, snaps


def test_rewrite_keeps_data_and_replaces_manifests(new_storage: NewStorage) -> None:
    repo, snaps = _history(new_storage)
    before = {m.id for m in repo.list_manifest_files(snaps[-1])}
    new = repo.rewrite_manifests("rewrite", branch="main", metadata={"who": "test"})
    after = repo.list_manifest_files(new)
    assert {m.id for m in after}.isdisjoint(before)
    assert sum(m.num_chunk_refs for m in after) == 5
    assert all(m.size_bytes > 0 for m in after)
    assert read(repo, branch="main") == [1, 2, 3, -1]
    b = zarr.open_array(repo.readonly_session(branch="main").store, path="b")
    assert list(b[:]) == [7, 8]
    info = repo.lookup_snapshot(new)
    assert info.parent_id == snaps[-1] and info.message == "rewrite"
    assert info.metadata == {"__icechunk": {"splitting_config": NO_SPLITTING}, "who": "test"}
    assert op_kinds(repo, 1) == ["NewCommit"]
    diff = repo.diff(from_snapshot_id=snaps[-1], to_snapshot_id=new)
    assert not diff.updated_chunks and not diff.new_arrays


def test_rewrite_records_the_splitting_config(new_storage: NewStorage) -> None:
    splitting = ic.ManifestSplittingConfig.from_dict(
        {ic.ManifestSplitCondition.AnyArray(): {ic.ManifestSplitDimCondition.Any(): 3}}
    )
    repo, _ = _history(new_storage)
    config = ic.RepositoryConfig(manifest=ic.ManifestConfig(splitting=splitting))
    repo = ic.Repository.open(repo.storage, config=config)
    new = repo.rewrite_manifests("split", branch="main")
    recorded = repo.lookup_snapshot(new).metadata["__icechunk"]["splitting_config"]
    assert recorded == {"split_sizes": [["any_array", [{"condition": "Any", "num_chunks": 3}]]]}
    assert read(repo, branch="main") == [1, 2, 3, -1]


def test_rewrite_can_amend_the_tip(new_storage: NewStorage) -> None:
    repo, snaps = _history(new_storage)
    new = repo.rewrite_manifests("amended", branch="main", commit_method="amend")
    assert ancestry_ids(repo, branch="main")[:2] == [new, snaps[-2]]
    assert op_kinds(repo, 1) == ["CommitAmended"]
    assert read(repo, branch="main") == [1, 2, 3, -1]


def test_rewrite_then_gc_drops_the_old_manifests(new_storage: NewStorage) -> None:
    repo, _ = _history(new_storage)  # four manifests: three versions of /a, one of /b
    tip = repo.rewrite_manifests("rewrite", branch="main")
    repo.expire_snapshots(repo.lookup_snapshot(tip).written_at)
    summary = repo.garbage_collect(now_after_writes())
    assert summary.manifests_deleted == 4
    assert {m.id for m in repo.list_manifest_files(tip)} == keys(repo.storage, "manifests")
    assert read(repo, branch="main") == [1, 2, 3, -1]


def test_rewrite_rejects_bad_input(new_storage: NewStorage) -> None:
    repo, _ = _history(new_storage)
    with pytest.raises(RefNotFoundError):
        repo.rewrite_manifests("x", branch="nope")
    with pytest.raises(InvalidInputError):
        repo.rewrite_manifests("x", branch="main", commit_method="squash")


def test_list_manifest_files_repr_and_unknown_snapshot(new_storage: NewStorage) -> None:
    repo, snaps = _history(new_storage)
    (first,) = repo.list_manifest_files(snaps[0])
    assert repr(first).startswith("<icechunk.snapshots.ManifestFileInfo>\nid: ")
    assert repo.list_manifest_files("1CECHNKREP0F1RSTCMT0") == []
    with pytest.raises(ic.SnapshotNotFoundError):
        repo.list_manifest_files("0" * 20)


def test_rewrite_on_a_spec_v1_repository_commits_a_child_and_refuses_amend() -> None:
    config = ic.RepositoryConfig(inline_chunk_threshold_bytes=0)
    repo = ic.Repository.create(ic.in_memory_storage(), config=config, spec_version=1)
    tip = write(repo, "main", 1, 5)
    new = repo.rewrite_manifests("rewrite", branch="main")
    assert ancestry_ids(repo, branch="main")[:2] == [new, tip]
    assert read(repo, branch="main") == [-1, 5, -1, -1]
    with pytest.raises(ic.IcechunkError, match="use new commit instead") as info:
        repo.rewrite_manifests("again", branch="main", commit_method="amend")
    assert info.value.kind == "unsupported-operation-for-version"
    assert ancestry_ids(repo, branch="main")[0] == new
