"""Spec-v1 layout helpers, and reading repositories written by icechunk 1.1.21."""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from icechunk.errors import FormatError, InvalidInputError
from icechunk.format.header import FileType, read_header
from icechunk.format.ids import INITIAL_SNAPSHOT_ID, SnapshotId
from icechunk.format.model import ArrayNodeData, DimensionShape
from icechunk.format.txlog import decode_transaction_log
from icechunk.format.v1 import (
    V1_BRANCH_PREFIX,
    V1_TAG_PREFIX,
    branch_names,
    branch_ref_key,
    decode_ref,
    deleted_tag_names,
    detect_spec_version,
    encode_ref,
    tag_names,
    tag_ref_key,
    tag_tombstone_key,
)

from .test_snapshot import build_scenario, check_against_dump, read_snapshot
from .test_txlog import check_repo_logs

KEYS = [
    "refs/branch.main/ref.json",
    "refs/branch.dev/ref.json",
    "refs/branch.weird.name/ref.json",
    "refs/branch.half/other.json",
    "refs/tag.v1/ref.json",
    "refs/tag.gone/ref.json",
    "refs/tag.gone/ref.json.deleted",
    "refs/tag.only-tombstone/ref.json.deleted",
    "refs/tags.plural/ref.json",
    "refs/branch./ref.json",
    "snapshots/1CECHNKREP0F1RSTCMT0",
]


def test_keys() -> None:
    assert V1_BRANCH_PREFIX == "refs/branch."
    assert V1_TAG_PREFIX == "refs/tag."
    assert branch_ref_key("main") == "refs/branch.main/ref.json"
    assert tag_ref_key("v1") == "refs/tag.v1/ref.json"
    assert tag_tombstone_key("v1") == "refs/tag.v1/ref.json.deleted"
    for bad in ("", "a/b"):
        with pytest.raises(InvalidInputError):
            branch_ref_key(bad)


def test_ref_names() -> None:
    assert branch_names(KEYS) == ["dev", "main", "weird.name"]
    assert tag_names(KEYS) == ["v1"]
    assert deleted_tag_names(KEYS) == ["gone", "only-tombstone"]
    relative = [k.removeprefix("refs/") for k in KEYS]
    assert branch_names(relative) == ["dev", "main", "weird.name"]
    assert tag_names(iter(relative)) == ["v1"]


def test_ref_json() -> None:
    sid = SnapshotId.random()
    assert decode_ref(encode_ref(sid)) == sid
    assert encode_ref(INITIAL_SNAPSHOT_ID) == b'{"snapshot":"1CECHNKREP0F1RSTCMT0"}'
    assert decode_ref(b'{ "snapshot" : "1cechnkrep0f1rstcmt0" }') == INITIAL_SNAPSHOT_ID


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"{",
        b"[]",
        b"{}",
        b'{"snapshot": 3}',
        b'{"snapshot": "XYZ"}',
        b"\xff\xfe",
        b'{"snapshot": "1CECHNKREP0F1RSTCMT0U"}',
        b'"1CECHNKREP0F1RSTCMT0"',
    ],
)
def test_bad_ref_json(data: bytes) -> None:
    with pytest.raises(FormatError):
        decode_ref(data)


@given(st.binary(max_size=60))
def test_random_ref_json(data: bytes) -> None:
    with contextlib.suppress(FormatError):
        decode_ref(data)


def test_detect_spec_version() -> None:
    assert detect_spec_version({"repo", "refs/branch.main/ref.json"}) == 2
    assert detect_spec_version({"repo"}) == 2
    assert detect_spec_version(["refs/branch.main/ref.json", "config.yaml"]) == 1
    assert detect_spec_version({"refs/branch.dev/ref.json"}) is None
    assert detect_spec_version(set()) is None


# ------------------------------------------------------------------ icechunk 1.1.21
def _keys(root: Path) -> list[str]:
    return [str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()]


@pytest.mark.interop
def test_v1_sample_refs(v1_sample_repo: Any) -> None:
    root, dump = v1_sample_repo.path, v1_sample_repo.dump
    keys = _keys(root)
    assert detect_spec_version(set(keys)) == 1
    refs = [k for k in keys if k.startswith("refs/")]
    assert branch_names(refs) == sorted(dump["branches"])
    assert tag_names(refs) == sorted(dump["tags"])
    assert deleted_tag_names(refs) == ["doomed"]
    for name, snapshot_id in dump["branches"].items():
        assert str(decode_ref((root / branch_ref_key(name)).read_bytes())) == snapshot_id
    for name, snapshot_id in dump["tags"].items():
        assert str(decode_ref((root / tag_ref_key(name)).read_bytes())) == snapshot_id
    assert (root / tag_tombstone_key("doomed")).read_bytes() == b""


@pytest.mark.interop
def test_v1_sample_snapshots(v1_sample_repo: Any) -> None:
    root, dump = v1_sample_repo.path, v1_sample_repo.dump
    for ref, ancestry in dump["ancestry"].items():
        # Follow parent ids file by file, as a v1 reader must.
        chain = [ancestry[0]]
        while True:
            snap = read_snapshot(root, chain[-1])
            if snap.parent_id is None:
                break
            chain.append(str(snap.parent_id))
        assert chain == ancestry, ref
    for snapshot_id, described in dump["snapshots"].items():
        snap = read_snapshot(root, snapshot_id)
        assert snap.spec_version == 1
        assert (
            read_header((root / "snapshots" / snapshot_id).read_bytes(), FileType.SNAPSHOT)[0] == 1
        )
        assert (None if snap.parent_id is None else str(snap.parent_id)) == described["parent_id"]
        check_against_dump(snap, described)
        for info in snap.manifest_files:
            assert info.size_bytes == (root / "manifests" / str(info.id)).stat().st_size
    initial = read_snapshot(root, dump["ancestry"]["branch:main"][-1])
    assert initial.metadata == {"__root": True}
    assert initial.nodes == ()


@pytest.mark.interop
def test_v1_sample_logs(v1_sample_repo: Any) -> None:
    root = v1_sample_repo.path
    assert check_repo_logs(root, v1_sample_repo.dump) >= 5
    for file in (root / "transactions").iterdir():
        log = decode_transaction_log(file.read_bytes())
        assert log.moved_nodes == ()
    # icechunk 1.x writes no transaction log for the initial snapshot.
    assert not (root / "transactions" / str(INITIAL_SNAPSHOT_ID)).exists()


@pytest.mark.interop
def test_v1_scenario(tmp_path: Path, v1_python: str) -> None:
    path = tmp_path / "repo"
    built = build_scenario(v1_python, path)
    for snapshot_id, described in built["dump"]["snapshots"].items():
        check_against_dump(read_snapshot(path, snapshot_id), described)
    first = {n.path: n for n in read_snapshot(path, built["ids"]["c1"]).nodes}
    assert first["/zero"].array == ArrayNodeData(
        (DimensionShape(0, 0), DimensionShape(5, 3)), None, ()
    )
    assert first["/scalar"].array is not None and first["/scalar"].array.shape == ()
    assert check_repo_logs(path, built["dump"]) == 2
