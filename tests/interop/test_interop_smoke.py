"""Smoke tests of the interop harness and scripts, using only the real icechunk wheels.

These check that the reference side works (the wheels install, the scripts run, dumps are
deterministic), so that a failing pyicechunk interop test points at pyicechunk.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from interop import harness

pytestmark = pytest.mark.interop

EXPECTED_NODES = {
    "/",
    "/a",
    "/a/b",
    "/a/b/int32",
    "/a/int8",
    "/complex64",
    "/edge",
    "/edge/u8_511",
    "/edge/u8_512",
    "/edge/u8_513",
    "/empty",
    "/float32",
    "/float64",
    "/scalar",
    "/sharded",
    "/strings",
    "/uint16",
}
MESSAGES = [
    "resize and extend",
    "delete chunks and nodes",
    "update data and attributes",
    "create hierarchy",
    "Repository initialized",
]


def _tip(dump: dict[str, Any], ref: str) -> dict[str, Any]:
    result: dict[str, Any] = dump["snapshots"][dump["ancestry"][ref][0]]
    return result


def test_reference_wheel_versions(real_python: str, v1_python: str) -> None:
    assert harness.real_version() == "2.3.0"
    assert harness._icechunk_version(v1_python) == "1.1.21"


def test_real_sample_layout(real_sample_repo: Any) -> None:
    path: Path = real_sample_repo.path
    assert (path / "repo").is_file()
    assert not (path / "refs").exists()
    for folder in ("snapshots", "manifests", "transactions", "chunks"):
        assert any((path / folder).iterdir()), folder
    assert real_sample_repo.snapshots["init"] == "1CECHNKREP0F1RSTCMT0"
    assert real_sample_repo.info["branches"] == ["dev", "main"]
    assert real_sample_repo.info["tags"] == ["v1", "v2"]


def test_real_sample_dump_contents(real_sample_repo: Any) -> None:
    dump, ids = real_sample_repo.dump, real_sample_repo.snapshots
    assert dump["spec_version"] == 2
    assert dump["branches"] == {"dev": ids["d1"], "main": ids["c4"]}
    assert dump["tags"] == {"v1": ids["c1"], "v2": ids["c2"]}
    main = [dump["snapshots"][s]["message"] for s in dump["ancestry"]["branch:main"]]
    assert main == MESSAGES
    assert dump["ancestry"]["branch:dev"][1:] == dump["ancestry"]["branch:main"][1:]
    assert dump["snapshots"][ids["c1"]]["metadata"] == {
        "author": "write_sample",
        "ok": True,
        "step": 1,
        "tags": ["x", "y"],
    }

    tree = _tip(dump, "branch:main")["tree"]
    assert set(tree) == EXPECTED_NODES
    assert tree["/"]["zarr_json"]["attributes"]["version"] == 2
    assert tree["/float64"]["summary"]["shape"] == [1200]
    assert sorted(tree["/a/int8"]["chunks"]) == ["c/0/1", "c/1/0", "c/1/1"]  # c/0/0 deleted
    assert tree["/empty"]["chunks"] == {}
    assert list(tree["/scalar"]["chunks"]) == ["c"]

    first = dump["snapshots"][ids["c1"]]["tree"]
    assert {"/bool", "/scratch"} <= set(first)
    assert dump["snapshots"][ids["c3"]]["diff_from_parent"]["deleted_arrays"] == ["/bool"]
    assert "/dev_only" in _tip(dump, "branch:dev")["tree"]

    kinds = [entry["kind"] for entry in dump["ops_log"]]
    assert kinds[-1] == "RepoInitialized"
    assert "TagDeleted" in kinds


def test_dump_is_deterministic(real_sample_repo: Any, tmp_path: Path) -> None:
    again = harness.run_real("dump", real_sample_repo.path)
    assert again == real_sample_repo.dump

    other = tmp_path / "other"
    info = harness.run_real("write_sample", other)
    assert info["snapshots"]["c4"] != real_sample_repo.snapshots["c4"]
    other_dump = harness.run_real("dump", other)
    assert harness.normalize_dump(other_dump) == harness.normalize_dump(real_sample_repo.dump)


def test_commit_on_top_real(real_sample_repo: Any) -> None:
    before = real_sample_repo.snapshots["c4"]
    result = harness.run_real("commit_on_top", real_sample_repo.path)
    assert result["parent_id"] == before
    dump = harness.run_real("dump", real_sample_repo.path)
    assert dump["branches"]["main"] == result["snapshot_id"]
    tip = dump["snapshots"][result["snapshot_id"]]
    assert tip["parent_id"] == before
    assert tip["message"] == "commit on top"
    assert tip["diff_from_parent"]["new_arrays"] == ["/on_top"]
    assert tip["tree"]["/on_top"]["summary"]["shape"] == [3, 50]
    assert sorted(tip["tree"]["/on_top"]["chunks"]) == [
        f"c/{i}/{j}" for i in (0, 1) for j in range(3)
    ]


def test_v1_sample_layout_and_dump(v1_sample_repo: Any, real_sample_repo: Any) -> None:
    path: Path = v1_sample_repo.path
    assert not (path / "repo").exists()
    assert (path / "refs" / "branch.main" / "ref.json").is_file()
    assert (path / "refs" / "tag.doomed" / "ref.json.deleted").is_file()

    v1 = harness.normalize_dump(v1_sample_repo.dump)
    v2 = harness.normalize_dump(real_sample_repo.dump)
    assert v1["spec_version"] == 1
    assert "ops_log" not in v1
    assert v1["snapshots"]["S0"]["metadata"] == {"__root": True}
    assert v2["snapshots"]["S0"]["metadata"] == {"__icechunk": {"is_root": True}}
    # Apart from the format-specific bits, both wheels wrote exactly the same content.
    for dump in (v1, v2):
        del dump["spec_version"], dump["snapshots"]["S0"]["metadata"]
        dump.pop("ops_log", None)
    assert v1 == v2


def test_real_wheel_reads_v1_repo(v1_sample_repo: Any) -> None:
    read_by_real = harness.run_real("dump", v1_sample_repo.path)
    assert read_by_real == v1_sample_repo.dump


def test_missing_interpreter_fails_unless_allowed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(harness.REAL_ENV_VAR, "/nonexistent/python")
    monkeypatch.delenv(harness.ALLOW_SKIP_ENV_VAR, raising=False)
    with pytest.raises(pytest.fail.Exception, match="ICECHUNK_ALLOW_SKIP_INTEROP"):
        harness.real_python()
    monkeypatch.setenv(harness.ALLOW_SKIP_ENV_VAR, "1")
    with pytest.raises(pytest.skip.Exception):
        harness.real_python()


def test_failing_script_reports_stderr(real_python: str, tmp_path: Path) -> None:
    with pytest.raises(harness.InteropError, match=r"(?s)exit code 1.*--- stderr ---.*Error"):
        harness.run_real("commit_on_top", tmp_path / "no-such-repo")
