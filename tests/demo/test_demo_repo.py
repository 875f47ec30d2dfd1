"""The demo repository has what the README promises: branches, tags, history, a conflict."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

import icechunk as ic

SCRIPTS = Path(__file__).resolve().parents[2] / "scripts"


def _load(name: str) -> ModuleType:
    # A distinct module name: tests/demo is itself importable as the package ``demo``.
    spec = importlib.util.spec_from_file_location(f"scripts_{name}", SCRIPTS / f"{name}.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


demo = _load("demo")
demo_conflict = _load("demo_conflict")
demo_server = _load("demo_server")


@pytest.fixture(scope="module")
def repo(tmp_path_factory: pytest.TempPathFactory) -> ic.Repository:
    built: ic.Repository = demo.build(tmp_path_factory.mktemp("demo") / "repo")
    return built


def test_refs_and_history(repo: ic.Repository) -> None:
    assert repo.list_branches() == {"main", "experiment", "reprocessing", "shared-analysis"}
    assert repo.list_tags() == {"v1.0", "v1.1", "v2.0"}
    messages = [snap.message for snap in repo.ancestry(branch="main")]
    assert len(messages) == 7 and messages[-1] == "Repository initialized"
    # Branches fork from the tags the docstring names.
    experiment = [snap.id for snap in repo.ancestry(branch="experiment")]
    assert experiment[1] == repo.lookup_tag("v1.0")
    assert repo.lookup_tag("v2.0") == repo.lookup_branch("main")


def test_ops_log_has_more_than_commits(repo: ic.Repository) -> None:
    kinds = {type(update.kind).__name__ for update in repo.ops_log()}
    assert {"BranchReset", "BranchDeleted", "TagCreated", "NewCommit"} <= kinds


def test_pending_conflict_fails_commit_then_rebase(repo: ic.Repository) -> None:
    before = repo.lookup_branch("shared-analysis")
    session = demo_conflict.pending_conflict(repo)
    assert session.snapshot_id == before != repo.lookup_branch("shared-analysis")
    with pytest.raises(ic.ConflictError):
        session.commit("Bob: QC")
    with pytest.raises(ic.RebaseFailedError) as failed:
        session.rebase(ic.ConflictDetector())
    assert {conflict.path for conflict in failed.value.conflicts} == {"/temperature"}
    assert repo.lookup_branch("shared-analysis") != before  # Alice's commit landed, Bob's not
    assert session.has_uncommitted_changes


def test_describe_tells_the_story(repo: ic.Repository) -> None:
    text = demo_conflict.describe(repo, demo_conflict.pending_conflict(repo))
    assert "ConflictError" in text and "conflict(s)" in text


def test_panel_mode_fails_clearly_without_the_app(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    monkeypatch.setattr(demo_server, "PANEL_MODULE", "icechunk_widgets.no_such_panel_app")
    code = demo_server.main(["panel", "--no-build", "--repo", str(tmp_path)])
    assert code == 2
    assert "icechunk_widgets.no_such_panel_app" in capsys.readouterr().err
