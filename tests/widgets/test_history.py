"""HistoryBrowser: data functions and every action, driven without a browser."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest
import zarr

import icechunk as ic
from icechunk_widgets import HistoryBrowser
from icechunk_widgets import _history_data as data

from .conftest import MessageRecorder
from .scenarios import make_history


def test_layout_lanes_opens_a_lane_per_branch_and_joins_at_the_fork() -> None:
    # main: c3 -> c1 -> c0 ; dev: d2 -> c1
    placed = data.layout_lanes([("c3", "c1"), ("d2", "c1"), ("c1", "c0"), ("c0", None)])
    assert [p["lane"] for p in placed] == [0, 1, 0, 0]
    assert placed[2]["closing"] == [1]
    assert [data.graph_text(p) for p in placed] == ["●", "│●", "●╯", "●"]


def test_layout_lanes_reuses_freed_lanes() -> None:
    placed = data.layout_lanes([("a", None), ("b", None)])
    assert [p["lane"] for p in placed] == [0, 0]


def test_matches_filter() -> None:
    row = {"id": "ABCD1234", "message": "Fix coords", "refs": ["dev"], "metadata": {"author": "ana"}}
    assert data.matches_filter(row, "abcd") and data.matches_filter(row, "ANA")
    assert data.matches_filter(row, "dev") and not data.matches_filter(row, "zzz")
    assert data.matches_filter(row, "  ")


def test_ref_rows_mark_main_undeletable(history: tuple[ic.Repository, list[str]]) -> None:
    repo, ids = history
    now = dt.datetime.now(dt.UTC)
    rows = data.ref_rows(repo, now)
    assert [(r["name"], r["kind"]) for r in rows] == [("main", "branch"), ("dev", "branch"),
                                                       ("v1", "tag")]
    assert rows[0]["snapshot_id"] == ids[2] and not rows[0]["deletable"]
    assert rows[1]["deletable"] and rows[2]["deletable"]


def test_collect_commits_pages_and_caches(tmp_path: Path) -> None:
    repo, ids = make_history(tmp_path / "r")
    s = repo.writable_session("main")
    for i in range(4):
        zarr.open_array(s.store, path="temp")[0, 0] = i
        ids.append(s.commit(f"step {i}"))
        s = repo.writable_session("main")
    cache: dict[str, ic.SnapshotInfo] = {}
    first = data.collect_commits(repo, [ids[-1]], 3, cache)
    assert [i.id for i in first] == ids[-1:-4:-1]
    everything = data.collect_commits(repo, [ids[-1]], 100, cache)
    assert [i.id for i in everything] == ids[::-1]


def test_browser_shows_lanes_for_diverged_branch(history: tuple[ic.Repository, list[str]]) -> None:
    repo, ids = history
    s = repo.writable_session("dev")
    zarr.open_group(s.store).attrs["dev"] = True
    dev_tip = s.commit("work on dev")
    w = HistoryBrowser(repo)
    graph = {c["id"]: c["graph"] for c in w.commits}
    assert graph[dev_tip] == "●" and graph[ids[2]] == "│●" and graph[ids[1]] == "●╯"
    text = w._repr_text()
    assert "(dev) work on dev" in text and "(main, v1)" in text


def test_select_one_shows_details_and_diff_to_parent(
    history: tuple[ic.Repository, list[str]], drive: type[MessageRecorder]
) -> None:
    repo, ids = history
    w = HistoryBrowser(repo)
    picked: list[list[str]] = []
    w.on_select(picked.append)
    msgs = drive(w)
    reply = msgs.custom({"id": 1, "op": "select", "args": {"ids": [ids[2]]}})
    assert reply == {"id": 1, "op": "select", "ok": True, "result": reply["result"]}
    assert w.selected_ids == [ids[2]] and picked == [[ids[2]]]
    assert w.detail["message"] == "edit corner <script>" and w.detail["parent"] == ids[1]
    assert w.diff["summary"]["counts"]["chunks"] == 1
    assert w.diff_viewer is not None and w.diff_viewer.to_label == ids[2][:8]


def test_select_two_opens_their_diff(history: tuple[ic.Repository, list[str]],
                                     drive: type[MessageRecorder]) -> None:
    repo, ids = history
    w = HistoryBrowser(repo)
    msgs = drive(w)
    msgs.custom({"id": 1, "op": "select", "args": {"ids": [ids[2]]}})
    msgs.custom({"id": 2, "op": "select", "args": {"ids": [ids[0]], "add": True}})
    assert w.selected_ids == [ids[2], ids[0]]
    assert w.diff["summary"]["counts"] == {"added": 2, "deleted": 0, "updated": 1, "chunks": 6}
    assert w.compare(ids[0], ids[2]) == w.diff["summary"]["counts"]


def test_initial_commit_has_no_diff(history: tuple[ic.Repository, list[str]]) -> None:
    repo, ids = history
    w = HistoryBrowser(repo)
    assert w.select(ids[0])["initial"] and w.diff == {}


def test_open_session_is_read_only_at_the_commit(history: tuple[ic.Repository, list[str]]) -> None:
    repo, ids = history
    w = HistoryBrowser(repo)
    w.select(ids[1])
    assert w.open_session() == ids[1]
    assert w.selected_session is not None and w.selected_session.read_only
    assert w.selected_session.snapshot_id == ids[1]


def test_create_branch_and_tag_here(history: tuple[ic.Repository, list[str]],
                                    drive: type[MessageRecorder]) -> None:
    repo, ids = history
    w = HistoryBrowser(repo)
    changes: list[tuple[str, dict[str, Any]]] = []
    w.on_change(lambda a, info: changes.append((a, info)))
    msgs = drive(w)
    msgs.custom({"id": 1, "op": "select", "args": {"ids": [ids[1]]}})
    assert msgs.custom({"id": 2, "op": "create_branch",
                        "args": {"name": "fix", "snapshot_id": ids[1]}})["ok"]
    w.create_tag("v0")
    assert repo.lookup_branch("fix") == ids[1] and repo.lookup_tag("v0") == ids[1]
    assert {r["name"] for r in w.ref_list} == {"main", "dev", "fix", "v1", "v0"}
    assert [a for a, _ in changes] == ["create_branch", "create_tag"]
    bad = msgs.custom({"id": 3, "op": "create_tag", "args": {"name": "v0", "snapshot_id": ids[1]}})
    assert not bad["ok"] and bad["error"]["type"] == "AlreadyExistsError"
    assert w.error["type"] == "AlreadyExistsError"


def test_reset_branch_needs_confirmation_and_is_conditional(
    history: tuple[ic.Repository, list[str]], drive: type[MessageRecorder]
) -> None:
    repo, ids = history
    w = HistoryBrowser(repo)
    msgs = drive(w)
    args = {"name": "dev", "snapshot_id": ids[2], "expected_tip": ids[1], "confirm": "de"}
    reply = msgs.custom({"id": 1, "op": "reset_branch", "args": args})
    assert reply["error"]["type"] == "ConfirmationError" and repo.lookup_branch("dev") == ids[1]
    # someone else moves dev after the browser showed it
    repo.reset_branch("dev", ids[0])
    reply = msgs.custom({"id": 2, "op": "reset_branch", "args": {**args, "confirm": "dev"}})
    assert reply["error"]["type"] == "ConflictError" and "Refresh" in reply["error"]["hint"]
    assert repo.lookup_branch("dev") == ids[0]  # not overwritten
    w.refresh()
    assert w.reset_branch("dev", ids[2]) == ids[2] and repo.lookup_branch("dev") == ids[2]


def test_delete_branch_and_tag(history: tuple[ic.Repository, list[str]],
                               drive: type[MessageRecorder]) -> None:
    repo, ids = history
    w = HistoryBrowser(repo)
    msgs = drive(w)
    with pytest.raises(ValueError, match="main"):
        w.delete_branch("main")
    reply = msgs.custom({"id": 1, "op": "delete_branch",
                         "args": {"name": "main", "expected_tip": ids[2], "confirm": "main"}})
    assert not reply["ok"] and "main" in repo.list_branches()
    s = repo.writable_session("dev")
    zarr.open_group(s.store).attrs["x"] = 1
    s.commit("moved dev")  # the browser still shows the old tip
    with pytest.raises(ic.ConflictError):
        w.delete_branch("dev")
    assert "dev" in repo.list_branches()
    w.refresh()
    assert msgs.custom({"id": 2, "op": "delete_branch",
                        "args": {"name": "dev", "expected_tip": repo.lookup_branch("dev"),
                                 "confirm": "dev"}})["ok"]
    assert "dev" not in repo.list_branches()
    w.delete_tag("v1")
    assert repo.list_tags() == set() and all(r["name"] != "v1" for r in w.ref_list)


def test_paging_filter_and_unknown_op(tmp_path: Path, drive: type[MessageRecorder]) -> None:
    repo, ids = make_history(tmp_path / "r")
    w = HistoryBrowser(repo, page_size=2)
    assert len(w.commits) == 2 and w.has_more
    msgs = drive(w)
    assert msgs.custom({"id": 1, "op": "load_more", "args": {}})["result"] == 3
    assert not w.has_more
    assert msgs.custom({"id": 2, "op": "filter", "args": {"text": "corner"}})["result"] == 1
    assert w.commits[0]["id"] == ids[2]
    assert msgs.custom({"id": 3, "op": "nope", "args": {}})["error"]["type"] == "ValueError"


def test_bundle_has_static_html_and_text(history: tuple[ic.Repository, list[str]]) -> None:
    repo, ids = history
    data_, _ = HistoryBrowser(repo)._repr_mimebundle_()
    page = data_["text/html"]
    assert "application/vnd.jupyter.widget-view+json" in data_
    assert "<script" not in page and "&lt;script&gt;" in page and ids[2][:8] in page
    assert "HistoryBrowser" in data_["text/plain"]
