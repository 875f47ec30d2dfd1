"""The repo-file codec against repositories written and read by the real icechunk wheel.

A script run under ``.venv-real`` builds a repository that exercises every ops-log kind
the public API can produce (including expiration, which writes pruned tx-log lists), and
reports what the real library sees. We decode the same bytes and compare; then we write
the file ourselves and let the real library read it and commit on top.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import itertools
import json
import os
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest
from interop import harness

from icechunk.errors import FormatError
from icechunk.format.header import FileType, decode_file, encode_file
from icechunk.format.ids import SnapshotId
from icechunk.format.model import RepoInfo, SnapshotEntry, UpdateKind, UpdateRecord
from icechunk.format.repo_info import (
    BACKUP_EPOCH_MS,
    backup_object_name,
    decode_repo_info,
    encode_repo_info,
    next_update_time,
)

pytestmark = [pytest.mark.interop]

_BUILD = r"""
import datetime as dt, json, sys
import icechunk as ic, zarr

EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)
us = lambda t: (t - EPOCH) // dt.timedelta(microseconds=1)
path = sys.argv[1]
repo = ic.Repository.create(ic.local_filesystem_storage(path))

def write(branch, message, value, metadata=None, how="commit"):
    session = repo.writable_session(branch)
    if value == 0:
        zarr.group(store=session.store).create_array("x", shape=(4,), chunks=(2,), dtype="i4")
    zarr.open_array(store=session.store, path="x")[value % 4] = value
    return getattr(session, how)(message, metadata=metadata)

c1 = write("main", "c1", 0)
c2 = write("main", "c2", 1, {"author": "alice", "n": 1})
repo.create_branch("dev", c1)
write("dev", "d1", 2)
write("dev", "d2", 3, {"nested": {"a": [1, 2.5, None, "é"]}, "ok": True})
write("dev", "d2 amended", 5, {"author": "bob"}, how="amend")
repo.create_tag("v1", c1)
repo.create_tag("v2", c2)
repo.delete_tag("v1")
repo.create_branch("tmp", c2)
repo.reset_branch("tmp", c1)
repo.delete_branch("tmp")
write("main", "c3", 2)
write("main", "c4", 3)
repo.expire_snapshots(dt.datetime.now(dt.timezone.utc))
repo.garbage_collect(dt.datetime.now(dt.timezone.utc) - dt.timedelta(days=1))
write("main", "c5", 1)
write("main", "detached", 2, how="flush")
repo.set_feature_flag("move_node", False)
repo.set_feature_flag("create_tag", None)
repo.set_status(ic.RepoStatus(ic.RepoAvailability.read_only, limited_availability_reason="maint"))
repo.set_status(ic.RepoStatus(ic.RepoAvailability.online))
config = ic.RepositoryConfig.default()
config.inline_chunk_threshold_bytes = 100
repo = ic.Repository.open(ic.local_filesystem_storage(path), config=config)
repo.save_config()
repo.set_metadata({"owner": "me", "k": [1, 2]})
print(json.dumps({"inspect": repo.inspect_repo_info()}, default=str))
"""

_PROBE = r"""
import datetime as dt, json, sys
import icechunk as ic, zarr

EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)
us = lambda t: (t - EPOCH) // dt.timedelta(microseconds=1)
path, commit_on = sys.argv[1], sys.argv[2:]
repo = ic.Repository.open(ic.local_filesystem_storage(path))
branches = sorted(repo.list_branches())
out = {
    "inspect": repo.inspect_repo_info(),
    "branches": {b: repo.lookup_branch(b) for b in branches},
    "tags": {t: repo.lookup_tag(t) for t in sorted(repo.list_tags())},
    "ancestry": {
        b: [[s.id, s.parent_id, s.message, s.metadata, us(s.written_at)]
            for s in repo.ancestry(branch=b)]
        for b in branches
    },
    "ops": [[type(u.kind).__name__, us(u.updated_at), u.backup_path] for u in repo.ops_log()],
    "metadata": repo.get_metadata(),
    "flags": {str(f.id): f.setting for f in repo.feature_flags()},
    "threshold": repo.config.inline_chunk_threshold_bytes,
}
for branch in commit_on:
    session = repo.writable_session(branch)
    zarr.open_array(store=session.store, path="x")[0] = 42
    out["new_commit"] = session.commit("real commit on top")
    out["value"] = int(zarr.open_array(store=repo.readonly_session(branch).store, path="x")[0])
print(json.dumps(out, default=str))
"""


def _run(script: str, *args: str) -> dict[str, Any]:
    proc = subprocess.run(
        [harness.real_python(), "-I", "-c", script, *args],  # -I: never our package from cwd
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        env={**os.environ, "RUST_LOG": "error"},
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    result: dict[str, Any] = json.loads(proc.stdout)
    return result


@pytest.fixture(scope="module")
def real_repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A repository written by the real wheel; copy it before modifying."""
    path = tmp_path_factory.mktemp("real-repo-info") / "repo"
    _run(_BUILD, str(path))
    return path


@pytest.fixture(scope="module")
def real_view(real_repo: Path) -> dict[str, Any]:
    """What the real wheel reports about ``real_repo``."""
    return _run(_PROBE, str(real_repo))


def _micros(iso: str) -> int:
    t = dt.datetime.fromisoformat(iso.replace("Z", "+00:00"))
    return (t - dt.datetime(1970, 1, 1, tzinfo=dt.UTC)) // dt.timedelta(microseconds=1)


_TYPE_NAMES = {
    kind: "".join(p.title() for p in kind.name.split("_")) + "Update" for kind in UpdateKind
}
_TYPE_NAMES[UpdateKind.GC_RAN] = "GCRanUpdate"
_TYPE_NAMES[UpdateKind.FEATURE_FLAG_CHANGED] = "FeatureFlagChanged"
_COMMIT_KINDS = (UpdateKind.NEW_COMMIT, UpdateKind.COMMIT_AMENDED)


def _as_inspected(update: UpdateRecord) -> dict[str, Any]:
    """Our ops-log entry in the shape of the real ``inspect_repo_info`` output."""
    kind: dict[str, Any] = {"type": _TYPE_NAMES[update.kind]}
    if update.name is not None:
        kind["branch" if update.kind in _COMMIT_KINDS else "name"] = update.name
    for attr in ("previous_snap_id", "new_snap_id"):
        if getattr(update, attr) is not None:
            kind[attr] = str(getattr(update, attr))
    if update.kind == UpdateKind.FEATURE_FLAG_CHANGED:
        kind["id"] = update.flag_id
        kind["new_value"] = update.flag_value if update.flag_is_set else None
    if update.status is not None:
        kind["status"] = {
            "availability": {0: "Online", 1: "ReadOnly", 2: "Offline"}[update.status.availability],
            "limited_availability_reason": update.status.limited_availability_reason,
            "set_at": update.status.set_at,
        }
    return kind


def _normalize_inspected(entry: dict[str, Any]) -> dict[str, Any]:
    kind = dict(entry["update_type"])
    if "status" in kind:
        kind["status"] = {**kind["status"], "set_at": _micros(kind["status"]["set_at"])}
    return kind


def _assert_matches(info: RepoInfo, view: dict[str, Any]) -> None:
    inspected = view["inspect"]
    assert (
        {k: str(v) for k, v in info.branches.items()} == view["branches"] == inspected["branches"]
    )
    assert {k: str(v) for k, v in info.tags.items()} == view["tags"] == inspected["tags"]
    assert sorted(info.deleted_tags) == inspected["deleted_tags"]
    assert info.metadata == view["metadata"] == inspected["metadata"]
    assert len(info.snapshots) == len(inspected["snapshots"])
    by_text = {str(sid): entry for sid, entry in info.snapshots.items()}
    for snap in inspected["snapshots"]:
        ours = by_text[snap["id"]]
        assert (str(ours.parent_id) if ours.parent_id else None) == snap.get("parent_id")
        assert ours.flushed_at == _micros(snap["flushed_at"])
        assert (ours.message, ours.metadata) == (snap["message"], snap["metadata"])
    for branch, ancestry in view["ancestry"].items():
        walk: list[list[Any]] = []
        at: SnapshotId | None = info.branches[branch]
        while at is not None:
            entry = info.snapshots[at]
            walk.append(
                [
                    str(at),
                    entry.parent_id and str(entry.parent_id),
                    entry.message,
                    entry.metadata,
                    entry.flushed_at,
                ]
            )
            at = entry.parent_id
        assert walk == ancestry
    assert [_as_inspected(u) for u in info.latest_updates] == [
        _normalize_inspected(u) for u in inspected["latest_updates"]
    ]
    assert [
        [_TYPE_NAMES[u.kind].removesuffix("Update"), u.updated_at, u.backup_path]
        for u in info.latest_updates
    ] == [[name.removesuffix("Update"), t, b] for name, t, b in view["ops"]]
    flags = {int(k): v for k, v in view["flags"].items() if v is not None}
    assert {
        **dict.fromkeys(info.enabled_feature_flags, True),
        **dict.fromkeys(info.disabled_feature_flags, False),
    } == flags


def test_decode_matches_what_the_real_wheel_reports(
    real_repo: Path, real_view: dict[str, Any]
) -> None:
    info = decode_repo_info((real_repo / "repo").read_bytes())
    _assert_matches(info, real_view)
    assert info.config is not None and info.config["inline_chunk_threshold_bytes"] == 100
    assert any(e.pruned_ancestor_tx_logs for e in info.snapshots.values())  # expiration ran
    kinds = {u.kind for u in info.latest_updates}
    assert kinds >= set(UpdateKind) - {UpdateKind.REPO_MIGRATED}


def test_real_backups_follow_the_naming_rule_and_decode(real_repo: Path) -> None:
    info = decode_repo_info((real_repo / "repo").read_bytes())
    entries = info.latest_updates
    assert entries[0].backup_path is None
    for newer, entry in itertools.pairwise(entries):
        assert entry.backup_path is not None
        _, countdown, random_id = entry.backup_path.split(".")
        written_ms = BACKUP_EPOCH_MS - int(countdown)
        assert len(countdown) == 14 and len(random_id) == 20
        assert abs(written_ms - newer.updated_at // 1000) < 1000  # made by the newer write
        backup = decode_repo_info((real_repo / "overwritten" / entry.backup_path).read_bytes())
        top = backup.latest_updates[0]
        assert top == dataclasses.replace(entry, backup_path=None)


def test_real_wheel_reads_our_reencoding_unchanged(
    real_repo: Path, real_view: dict[str, Any], tmp_path: Path
) -> None:
    copy = tmp_path / "repo"
    shutil.copytree(real_repo, copy)
    info = decode_repo_info((copy / "repo").read_bytes())
    (copy / "repo").write_bytes(encode_repo_info(info))
    view = _run(_PROBE, str(copy))
    assert view["threshold"] == 100
    for key in ("branches", "tags", "ancestry", "ops", "metadata", "flags"):
        assert view[key] == real_view[key], key
    assert {k: v for k, v in view["inspect"].items() if k != "header"} == {
        k: v for k, v in real_view["inspect"].items() if k != "header"
    }


def test_real_wheel_sees_our_new_branch_and_commits_on_it(real_repo: Path, tmp_path: Path) -> None:
    copy = tmp_path / "repo"
    shutil.copytree(real_repo, copy)
    old = (copy / "repo").read_bytes()
    info = decode_repo_info(old)
    target = info.tags["v2"]
    now_us = time.time_ns() // 1000
    stamp = next_update_time(info.latest_updates[0].updated_at, now_us)
    backup = backup_object_name(stamp // 1000, os.urandom(12))
    (copy / "overwritten" / backup).write_bytes(old)
    created = UpdateRecord(UpdateKind.BRANCH_CREATED, stamp, name="from-py")
    previous_top = dataclasses.replace(info.latest_updates[0], backup_path=backup)
    ours = dataclasses.replace(
        info,
        branches={**info.branches, "from-py": target},
        latest_updates=(created, previous_top, *info.latest_updates[1:]),
    )
    written = encode_repo_info(ours)
    (copy / "repo").write_bytes(written)

    view = _run(_PROBE, str(copy), "from-py")
    assert view["branches"]["from-py"] == str(target)
    assert view["ops"][0] == ["BranchCreated", stamp, None]
    assert view["ops"][1][2] == backup
    assert view["value"] == 42

    after = decode_repo_info((copy / "repo").read_bytes())
    new_id = after.branches["from-py"]
    assert str(new_id) == view["new_commit"]
    assert after.snapshots[new_id].parent_id == target
    top, ours_entry = after.latest_updates[:2]
    assert (top.kind, top.name, top.new_snap_id) == (UpdateKind.NEW_COMMIT, "from-py", new_id)
    assert top.updated_at > stamp
    assert ours_entry == dataclasses.replace(created, backup_path=ours_entry.backup_path)
    assert ours_entry.backup_path is not None
    # The real writer backed up exactly the file we wrote.
    assert (copy / "overwritten" / ours_entry.backup_path).read_bytes() == written
    assert after.latest_updates[2:] == ours.latest_updates[1:]
    # The real writer re-serialized everything else it read from our file unchanged,
    # including the expiration's pruned tx-log lists that inspect does not show.
    assert {k: v for k, v in after.snapshots.items() if k != new_id} == ours.snapshots
    assert any(e.pruned_ancestor_tx_logs for e in after.snapshots.values())
    same = ("tags", "deleted_tags", "status", "metadata", "config", "enabled_feature_flags")
    assert all(getattr(after, f) == getattr(ours, f) for f in same)
    assert after.disabled_feature_flags == ours.disabled_feature_flags


def test_real_wheel_reads_a_large_file_of_ours(real_repo: Path, tmp_path: Path) -> None:
    """Thousands of synthetic snapshots with shared metadata: ancestry needs only the repo file."""
    copy = tmp_path / "repo"
    shutil.copytree(real_repo, copy)
    info = decode_repo_info((copy / "repo").read_bytes())
    snapshots = dict(info.snapshots)
    parent = info.branches["main"]
    base = snapshots[parent].flushed_at
    for i in range(3000):
        sid = SnapshotId(os.urandom(12))
        metadata = {"author": "bot", "i": i % 7} if i % 3 else {}
        snapshots[sid] = SnapshotEntry(sid, parent, base + i + 1, f"synthetic {i}", metadata)
        parent = sid
    stamp = next_update_time(info.latest_updates[0].updated_at, time.time_ns() // 1000)
    backup = backup_object_name(stamp // 1000, os.urandom(12))
    (copy / "overwritten" / backup).write_bytes((copy / "repo").read_bytes())
    big = dataclasses.replace(
        info,
        snapshots=snapshots,
        branches={**info.branches, "big": parent},
        latest_updates=(
            UpdateRecord(UpdateKind.BRANCH_CREATED, stamp, name="big"),
            dataclasses.replace(info.latest_updates[0], backup_path=backup),
            *info.latest_updates[1:],
        ),
    )
    (copy / "repo").write_bytes(encode_repo_info(big))
    view = _run(_PROBE, str(copy))
    _assert_matches(big, view)
    assert len(view["ancestry"]["big"]) == 3000 + len(view["ancestry"]["main"])


def test_corrupted_real_file_raises_format_error_only(real_repo: Path) -> None:
    payload = bytearray(decode_file((real_repo / "repo").read_bytes(), FileType.REPO_INFO)[1])
    for i in range(len(payload)):
        mutated = bytearray(payload)
        mutated[i] ^= (0xFF, 0x01, 0x80)[i % 3]
        with contextlib.suppress(FormatError):
            decode_repo_info(encode_file(FileType.REPO_INFO, bytes(mutated)))
