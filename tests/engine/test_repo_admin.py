"""Repository status, feature flags, default commit metadata, transactions, history graph."""

from __future__ import annotations

import datetime as dt
import pickle

import numpy as np
import pytest
import zarr

import icechunk as ic
from engine.storage_kinds import NewStorage


@pytest.fixture
def repo(new_storage: NewStorage) -> ic.Repository:
    return ic.Repository.create(new_storage())


def _commit_group(repo: ic.Repository, branch: str, path: str, message: str) -> str:
    session = repo.writable_session(branch)
    zarr.create_group(session.store, path=path)
    return session.commit(message)


# ---------------------------------------------------------------- status
def test_new_repository_is_online(repo: ic.Repository) -> None:
    status = repo.get_status()
    assert status.availability == ic.RepoAvailability.online
    assert status.limited_availability_reason is None
    assert status.set_at.tzinfo is not None
    assert repo.status == status


def test_read_only_status_refuses_every_write_until_reset(repo: ic.Repository) -> None:
    sid = _commit_group(repo, "main", "", "root")
    pending = repo.writable_session("main")
    zarr.create_group(pending.store, path="late")
    repo.set_status(
        ic.RepoStatus(ic.RepoAvailability.read_only, limited_availability_reason="maintenance")
    )
    status = repo.get_status()
    assert status.availability == ic.RepoAvailability.read_only
    assert status.limited_availability_reason == "maintenance"

    with pytest.raises(ic.ReadOnlyError, match="Cannot create writable session") as err:
        repo.writable_session("main")
    assert "maintenance" in str(err.value)
    for attempt in (
        lambda: repo.create_branch("dev", sid),
        lambda: repo.create_tag("v1", sid),
        lambda: repo.set_metadata({"a": 1}),
        lambda: pending.commit("late commit"),
        lambda: repo.set_feature_flag("create_tag", False),
    ):
        with pytest.raises(ic.ReadOnlyError):
            attempt()
    # Reads keep working, and nothing changed.
    assert repo.lookup_branch("main") == sid
    assert repo.list_tags() == set()

    repo.set_status(ic.RepoStatus(ic.RepoAvailability.online))
    assert pending.commit("late commit") != sid
    kinds = [type(update.kind).__name__ for update in repo.ops_log()][:3]
    assert kinds == ["NewCommit", "RepoStatusChanged", "RepoStatusChanged"]


def test_repo_status_constructor_rules(repo: ic.Repository) -> None:
    when = dt.datetime(2024, 5, 1, 12, 0, tzinfo=dt.UTC)
    status = ic.RepoStatus(ic.RepoAvailability.read_only, set_at=when)
    assert status.set_at == when
    with pytest.raises(TypeError, match="tzinfo"):
        ic.RepoStatus(ic.RepoAvailability.online, set_at=dt.datetime(2024, 5, 1))
    assert repr(ic.RepoAvailability.read_only) == "RepoAvailability.read_only"
    assert "availability: ReadOnly" in repr(status)
    with pytest.raises(TypeError):
        repo.set_status("online")  # type: ignore[arg-type]


# ---------------------------------------------------------------- feature flags
def test_feature_flags_defaults_and_changes(repo: ic.Repository) -> None:
    names = {flag.name: flag for flag in repo.feature_flags()}
    assert set(names) == {"move_node", "create_tag", "delete_tag"}
    assert all(flag.enabled and flag.setting is None for flag in names.values())
    assert repo.disabled_feature_flags() == []

    sid = _commit_group(repo, "main", "", "root")
    repo.create_tag("keep", sid)
    repo.set_feature_flag("create_tag", False)
    repo.set_feature_flag("delete_tag", False)
    assert {f.name for f in repo.disabled_feature_flags()} == {"create_tag", "delete_tag"}
    with pytest.raises(ic.SessionStateError, match=r"disabled by a feature flag \(create_tag\)"):
        repo.create_tag("v1", sid)
    with pytest.raises(ic.SessionStateError, match=r"disabled by a feature flag \(delete_tag\)"):
        repo.delete_tag("keep")
    assert repo.list_tags() == {"keep"}

    repo.set_feature_flag("create_tag", None)
    flag = next(f for f in repo.feature_flags() if f.name == "create_tag")
    assert flag.setting is None and flag.enabled
    repo.create_tag("v1", sid)
    changes = [u.kind for u in repo.ops_log() if type(u.kind).__name__ == "FeatureFlagChanged"]
    assert [(c.id, c.new_value) for c in changes] == [(4, None), (5, False), (4, False)]


def test_unknown_feature_flag_is_a_typed_error(repo: ic.Repository) -> None:
    with pytest.raises(ic.InvalidInputError, match="invalid feature flag name: nope"):
        repo.set_feature_flag("nope", True)
    with pytest.raises(ic.InvalidInputError):
        repo.set_feature_flag("create_tag", "yes")  # type: ignore[arg-type]


# ---------------------------------------------------------------- commit defaults
def test_default_commit_metadata_applies_to_new_sessions(repo: ic.Repository) -> None:
    before = repo.writable_session("main")
    repo.set_default_commit_metadata({"author": "ana", "tool": "x"})
    assert repo.default_commit_metadata() == {"author": "ana", "tool": "x"}
    after = repo.writable_session("main")
    zarr.create_group(after.store)
    sid = after.commit("with defaults", metadata={"tool": "y"})
    assert repo.lookup_snapshot(sid).metadata == {"author": "ana", "tool": "y"}

    zarr.create_group(before.store, path="old")
    with pytest.raises(ic.ConflictError):
        before.commit("made before the defaults")
    clone = pickle.loads(pickle.dumps(repo))
    assert clone.default_commit_metadata() == {"author": "ana", "tool": "x"}
    repo.set_default_commit_metadata({})
    assert repo.default_commit_metadata() == {}


# ---------------------------------------------------------------- transactions
def test_transaction_commits_on_exit_and_not_on_error(repo: ic.Repository) -> None:
    base = repo.lookup_branch("main")
    with repo.transaction("main", message="tx", metadata={"k": 1}) as store:
        arr = zarr.create_array(store, name="a", shape=(4,), chunks=(2,), dtype="i4")
        arr[:] = np.arange(4)
    tip = repo.lookup_branch("main")
    assert tip != base
    info = repo.lookup_snapshot(tip)
    assert (info.message, info.metadata) == ("tx", {"k": 1})

    with (
        pytest.raises(RuntimeError, match="boom"),
        repo.transaction("main", message="never") as store,
    ):
        zarr.open_array(store, path="a")[:] = 9
        raise RuntimeError("boom")
    assert repo.lookup_branch("main") == tip
    data = zarr.open_array(repo.readonly_session("main").store, path="a")[:]
    np.testing.assert_array_equal(data, np.arange(4))


# ---------------------------------------------------------------- history graph
def test_ancestry_graph_lanes_and_labels(repo: ic.Repository) -> None:
    first = _commit_group(repo, "main", "", "first")
    repo.create_branch("dev", first)
    dev = _commit_group(repo, "dev", "a", "on dev")
    main = _commit_group(repo, "main", "b", "on main")
    repo.create_tag("v1", main)

    graph = repo.ancestry_graph(plain=True)
    lines = str(graph).splitlines()
    node_lines = [line for line in lines if "●" in line]
    assert len(node_lines) == 4  # initial, first, dev, main
    assert node_lines[0].startswith("●") and f"{main[:8]} (main, v1) on main" in node_lines[0]
    assert node_lines[1].startswith("│ ●") and "(dev) on dev" in node_lines[1]
    assert node_lines[2].startswith("●─╯") and f"{first[:8]} first" in node_lines[2]
    assert "Repository initialized" in node_lines[3]
    assert "\x1b[" not in str(graph)
    assert "\x1b[" in str(repo.ancestry_graph())

    only_dev = [line for line in str(repo.ancestry_graph(branch="dev", plain=True)).splitlines()]
    assert [line[:1] for line in only_dev if "●" in line] == ["●", "●", "●"]
    assert dev[:8] in only_dev[0]
    assert graph._repr_svg_().startswith("<svg") and main in graph._repr_svg_()
    with pytest.raises(ic.RefNotFoundError):
        repo.ancestry_graph(branch="nope")


# ---------------------------------------------------------------- module-level helpers
def test_fetch_spec_version(new_storage: NewStorage, repo: ic.Repository) -> None:
    assert ic.Repository.fetch_spec_version(repo.storage) == ic.SpecVersion.v2
    empty = new_storage("empty")
    assert ic.Repository.fetch_spec_version(empty) is None
    assert ic.supported_spec_versions() == [ic.SpecVersion.v2, ic.SpecVersion.v1]


def test_print_debug_info(capsys: pytest.CaptureFixture[str]) -> None:
    ic.print_debug_info()
    out = capsys.readouterr().out
    assert f"icechunk:  {ic.__version__}" in out
    assert f"zarr:  {zarr.__version__}" in out
