"""Repository.inspect_*: dict views of stored objects (cross-checked with the real wheel in
tests/interop/test_gc_interop.py)."""

from __future__ import annotations

import json

import pytest
import zarr
from zarr.core.sync import sync

import icechunk as ic
from engine.maintenance_helpers import new_repo, write, written_at
from engine.storage_kinds import NewStorage
from icechunk.errors import InvalidInputError

INITIAL = "1CECHNKREP0F1RSTCMT0"


def test_snapshot_view(new_storage: NewStorage) -> None:
    repo = new_repo(new_storage())
    sid = write(repo, "main", 1, 5)
    view = repo.inspect_snapshot(sid)
    assert view["id"] == sid and view["commit_message"] == "a[1] = 5"
    assert view["header"]["file_type"] == "snapshot"
    assert view["header"]["written_by"] == f"ic-{ic.__version__}"
    assert [n["path"] for n in view["nodes"]] == ["/", "/a"]
    array = view["nodes"][1]
    assert array["shape"] == [{"array_length": 4, "num_chunks": 4}]
    assert array["manifest_refs"][0]["id"] == view["manifests"][0]["id"]
    assert repo.inspect_snapshot(INITIAL)["metadata"] == {"__icechunk": {"is_root": True}}
    json.dumps(view)  # plain JSON data


def test_manifest_view_counts_refs_by_kind(new_storage: NewStorage) -> None:
    config = ic.RepositoryConfig(inline_chunk_threshold_bytes=64)
    repo = ic.Repository.create(new_storage(), config=config)
    session = repo.writable_session("main")
    array = zarr.group(store=session.store).create_array(
        "x", shape=(2, 100), chunks=(1, 100), dtype="f8", compressors=None
    )
    array[0, :] = 1.5
    array[1, :2] = 2.0  # mostly fill value, still 800 bytes uncompressed
    sid = session.commit("x")
    manifest_id = repo.inspect_snapshot(sid)["manifests"][0]["id"]
    view = repo.inspect_manifest(manifest_id)
    assert view["id"] == manifest_id and view["num_arrays"] == 1
    assert view["total_chunk_refs"] == 2 == view["total_native"] + view["total_inline"]
    assert view["compression"] == {"uses_location_compression": False, "num_compressed_refs": 0}
    with pytest.raises(InvalidInputError):
        repo.inspect_manifest("not an id")


def test_transaction_log_view_merges_pruned_ancestors(new_storage: NewStorage) -> None:
    repo = new_repo(new_storage())
    snaps = [write(repo, "main", i, i) for i in range(3)]
    own = repo.inspect_transaction_log(snaps[2])
    assert own["updated_chunks"][0]["chunks"] == [[2]]
    assert "synthetic_composite" not in own
    repo.expire_snapshots(written_at(repo, snaps[2]))
    merged = repo.inspect_transaction_log(snaps[2])
    assert merged["updated_chunks"][0]["chunks"] == [[0], [1], [2]]
    assert len(merged["new_arrays"]) == 1
    composite = merged["synthetic_composite"]
    assert composite["merged_pruned_ancestor_tx_logs"] == snaps[:2]
    assert composite["missing_tx_logs"] == []
    sync(repo.storage.delete(f"transactions/{snaps[0]}"))
    again = repo.inspect_transaction_log(snaps[2])
    assert again["synthetic_composite"]["missing_tx_logs"] == [snaps[0]]


def test_repo_info_view(new_storage: NewStorage) -> None:
    config = ic.RepositoryConfig(num_updates_per_repo_info_file=3)
    repo = ic.Repository.create(new_storage(), config=config)
    sid = write(repo, "main", 0, 1)
    repo.create_tag("t", sid)
    repo.delete_tag("t")
    repo.create_branch("b", sid)
    view = repo.inspect_repo_info()
    assert view["branches"] == {"b": sid, "main": sid}
    assert view["tags"] == {} and view["deleted_tags"] == ["t"]
    assert [s["id"] for s in view["snapshots"]] == sorted([INITIAL, sid])
    root = next(s for s in view["snapshots"] if s["id"] == INITIAL)
    assert "parent_id" not in root
    updates = view["latest_updates"]
    assert updates[0]["update_type"] == {"type": "BranchCreatedUpdate", "name": "b"}
    assert "backup_path" not in updates[0] and "backup_path" in updates[1]
    assert updates[1]["update_type"]["type"] == "TagDeletedUpdate"
    assert len(updates) == 3 and view["repo_before_updates"]


def test_unknown_snapshots_are_not_found(new_storage: NewStorage) -> None:
    repo = new_repo(new_storage())
    with pytest.raises(ic.SnapshotNotFoundError):
        repo.inspect_snapshot("0" * 20)
    with pytest.raises(ic.SnapshotNotFoundError):
        repo.inspect_transaction_log("0" * 20)


async def test_async_views(new_storage: NewStorage) -> None:
    repo = new_repo(new_storage())
    sid = write(repo, "main", 0, 1)
    assert (await repo.inspect_snapshot_async(sid))["id"] == sid
    assert (await repo.inspect_repo_info_async())["branches"]["main"] == sid
    assert (await repo.inspect_transaction_log_async(sid))["new_arrays"]


def test_transaction_log_moves_show_paths_only() -> None:
    # Two repositories making the same move report the same entries (no node ids).
    logs = []
    for _ in range(2):
        repo = ic.Repository.create(ic.in_memory_storage())
        session = repo.writable_session("main")
        zarr.group(store=session.store).create_group("before")
        session.commit("group")
        session = repo.rearrange_session("main")
        session.move("/before", "/after")
        session.commit("move")
        logs.append(repo.inspect_transaction_log(repo.lookup_branch("main"))["moved_nodes"])
    assert logs[0] == logs[1] == [{"from": "/before", "to": "/after"}]
