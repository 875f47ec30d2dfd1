"""Upgrading spec-v1 repositories (written by icechunk 1.1.21) to spec v2."""

from __future__ import annotations

import importlib.util
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import zarr
from interop import harness
from interop.samples import SampleRepo

import icechunk as ic

pytestmark = [
    pytest.mark.interop,
    pytest.mark.local_only(reason="the spec-v1 sample repositories are directories written by icechunk 1.1.21"),
]

# Keys whose values legitimately change with the upgrade: the spec version itself, and the
# ops log that v1 does not have.
_UPGRADE_KEYS = ("spec_version", "ops_log")


def _dump(path: Path) -> dict[str, Any]:
    spec = importlib.util.spec_from_file_location("_migration_dump", harness.script_path("dump"))
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    result: dict[str, Any] = module.dump(str(path))
    return result


def _files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in root.rglob("*") if p.is_file()}


def _open(path: Path) -> ic.Repository:
    return ic.Repository.open(ic.local_filesystem_storage(str(path)))


def test_dry_run_changes_nothing(v1_sample_repo: SampleRepo) -> None:
    before = _files(v1_sample_repo.path)
    repo = _open(v1_sample_repo.path)
    assert ic.upgrade_icechunk_repository(repo, dry_run=True) is repo
    assert repo.spec_version == ic.SpecVersion.v1
    assert _files(v1_sample_repo.path) == before
    assert repo.list_branches() == {"main", "dev"}  # the handle still works


def test_upgrade_keeps_history_and_data(v1_sample_repo: SampleRepo) -> None:
    path = v1_sample_repo.path
    expected = _dump(path)
    old = _open(path)
    repo = ic.upgrade_icechunk_repository(old, dry_run=False)
    assert repo.spec_version == ic.SpecVersion.v2
    assert ic.Repository.fetch_spec_version(repo.storage) == ic.SpecVersion.v2
    assert not (path / "refs").exists() or not any((path / "refs").rglob("*.json"))
    with pytest.raises(RuntimeError, match="invalidated by upgrade_icechunk_repository"):
        old.writable_session("main")

    upgraded = _dump(path)
    assert upgraded["spec_version"] == 2
    # Same ids, messages, metadata, trees and chunk bytes as before the upgrade.
    assert {k: v for k, v in upgraded.items() if k not in _UPGRADE_KEYS} == {
        k: v for k, v in expected.items() if k not in _UPGRADE_KEYS
    }
    kinds = [entry["kind"] for entry in upgraded["ops_log"]]
    assert kinds[0] == "RepoMigrated" and kinds[-1] == "RepoInitialized"

    # The upgraded repository takes new commits on top of v1 snapshots.
    session = repo.writable_session("main")
    arr = zarr.open_array(session.store, path="float64")
    arr[:3] = -1.0
    sid = session.commit("after the upgrade")
    assert repo.lookup_snapshot(sid).parent_id == v1_sample_repo.snapshots["c4"]
    values = zarr.open_array(repo.readonly_session("main").store, path="float64", mode="r")[:5]
    np.testing.assert_array_equal(values[:3], -1.0)


def test_real_wheel_reads_our_upgrade(v1_sample_repo: SampleRepo) -> None:
    path = v1_sample_repo.path
    ic.upgrade_icechunk_repository(_open(path), dry_run=False)
    ours = _dump(path)
    theirs = harness.run_real("dump", path)
    assert theirs["spec_version"] == 2
    assert harness.normalize_dump(theirs) == harness.normalize_dump(ours)
    harness.run_real("commit_on_top", path, "dev")
    assert _open(path).lookup_snapshot(_open(path).lookup_branch("dev")).message == "commit on top"


def test_ops_log_matches_the_real_upgrade(v1_sample_repo: SampleRepo, tmp_path: Path) -> None:
    twin = tmp_path / "twin"
    shutil.copytree(v1_sample_repo.path, twin)
    theirs = harness.run_real("upgrade", twin)
    ours = harness.run_ours("upgrade", v1_sample_repo.path)
    assert ours["spec_version"] == theirs["spec_version"] == 2
    # Everything but the RepoMigrated entry is reconstructed from the history, so the
    # kinds, their fields and their times must agree exactly.
    assert ours["ops_log"][1:] == theirs["ops_log"][1:]
    assert ours["ops_log"][0][0] == theirs["ops_log"][0][0]


def test_upgrade_refuses_a_v2_repository(tmp_path: Path) -> None:
    repo = ic.Repository.create(ic.local_filesystem_storage(str(tmp_path / "v2")))
    with pytest.raises(ic.SessionStateError, match="can only migrate repositories that use"):
        ic.upgrade_icechunk_repository(repo, dry_run=False)
    assert repo.list_branches() == {"main"}


def test_upgrade_keeps_only_what_live_refs_reach(tmp_path: Path) -> None:
    # A commit reachable only from a deleted tag (its branch deleted too) is not part of the
    # upgraded repository: the real 2.3.0 upgrade leaves it out and then refuses to tag it.
    storage = ic.local_filesystem_storage(str(tmp_path / "repo"))
    repo = ic.Repository.create(storage, spec_version=1)
    session = repo.writable_session("main")
    zarr.group(session.store)
    first = session.commit("first")
    repo.create_branch("side", first)
    session = repo.writable_session("side")
    zarr.create_array(session.store, name="x", shape=(2,), dtype="i4")
    orphan = session.commit("only on a deleted tag")
    repo.create_tag("t", orphan)
    repo.delete_branch("side")
    repo.delete_tag("t")

    ic.upgrade_icechunk_repository(
        ic.Repository.open(storage), dry_run=False, delete_unused_v1_files=True
    )
    upgraded = ic.Repository.open(storage)
    assert first in [snapshot.id for snapshot in upgraded.ancestry(branch="main")]
    with pytest.raises(ic.IcechunkError, match=r"does not exist|not found"):
        upgraded.create_tag("again", orphan)
    upgraded.create_tag("kept", first)  # what a live ref reaches can still be tagged
