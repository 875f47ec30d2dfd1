"""Status, feature flags and default commit metadata cross between us and the real wheel."""

from __future__ import annotations

from pathlib import Path

import pytest

from interop import harness

pytestmark = pytest.mark.interop

EXPECTED_FLAGS = [
    ["create_tag", False, False],
    ["delete_tag", True, True],
    ["move_node", None, True],
]
EXPECTED_OPS = [
    "NewCommit",
    "TagCreated",
    "FeatureFlagChanged",
    "FeatureFlagChanged",
    "RepoStatusChanged",
    "RepoStatusChanged",
    "FeatureFlagChanged",
    "FeatureFlagChanged",
    "NewCommit",
    "RepoInitialized",
]


@pytest.mark.parametrize("writer", ["ours", "real"])
def test_admin_state_crosses_implementations(tmp_path: Path, writer: str) -> None:
    pythons = {"ours": harness.ours_python(), "real": harness.real_python()}
    reader = "real" if writer == "ours" else "ours"
    path = tmp_path / "repo"
    harness.run_script("admin_state", "write", path, python=pythons[writer])
    seen = harness.run_script("admin_state", "read", path, python=pythons[reader])
    assert seen["availability"] == "RepoAvailability.read_only"
    assert seen["reason"] == "maintenance"
    assert seen["flags"] == EXPECTED_FLAGS
    assert seen["metadata"] == {"author": "writer", "tool": "override"}
    assert seen["writable_session"] == "ReadOnlyError"
    assert seen["create_branch"] == "ReadOnlyError"
    assert seen["create_tag_while_disabled"] == "SessionStateError"
    assert seen["ops_log"] == EXPECTED_OPS
