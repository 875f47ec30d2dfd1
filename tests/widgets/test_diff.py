"""DiffViewer: pure comparison functions and every action, without a browser."""

from __future__ import annotations

import numpy as np
import pytest
import zarr

import icechunk as ic
from icechunk_widgets import DiffViewer
from icechunk_widgets import _diff_data as data

from .conftest import MessageRecorder


def test_metadata_and_attribute_changes() -> None:
    before = {"node_type": "array", "shape": [4], "attributes": {}}
    after = {"node_type": "array", "shape": [8], "attributes": {}}
    assert data.metadata_changes(before, after) == [{"field": "shape", "before": [4], "after": [8]}]
    rows = data.attribute_changes({"a": 1, "b": "x" * 200, "c": 3}, {"a": 2, "b": "y", "d": 4},
                                  max_len=20)
    assert [(r["key"], r["change"]) for r in rows] == [
        ("a", "updated"), ("b", "updated"), ("c", "deleted"), ("d", "added")]
    assert rows[1]["truncated"] and rows[1]["before"].endswith("…") and len(rows[1]["before"]) == 20


def test_chunk_map_grid_projection_and_histogram() -> None:
    grid = data.chunk_map([2, 3], [[0, 0], [1, 2]])
    assert grid["cells"] == [[1, 0, 0], [0, 0, 1]] and grid["depth"] == 1
    cube = data.chunk_map([2, 2, 5], [[0, 0, 1], [0, 0, 4], [1, 1, 0]])
    assert cube["cells"] == [[2, 0], [0, 1]] and cube["depth"] == 5
    line = data.chunk_map([4], [[3]])
    assert line["rows"] == 1 and line["cells"] == [[0, 0, 0, 1]]
    big = data.chunk_map([1000, 1000], [[0, 5], [999, 0], [998, 1]], max_cells=100)
    assert big["kind"] == "histogram" and sum(big["bins"]) == 3 and len(big["bins"]) == 64
    assert big["bins"][0] == 1 and big["bins"][-1] == 2


def test_chunk_slices_and_stats() -> None:
    assert data.chunk_slices([5, 6], [2, 4], [2, 1]) == (slice(4, 5), slice(4, 6))
    with pytest.raises(ValueError, match="outside"):
        data.chunk_slices([5], [2], [3])
    with pytest.raises(ValueError, match="dimensions"):
        data.chunk_slices([5], [2], [0, 0])
    stats = data.value_stats(np.arange(30, dtype="i4"))
    assert stats is not None and stats["min"] == 0 and stats["max"] == 29
    assert len(stats["preview"]) == data.MAX_PREVIEW and data.value_stats(None) is None


def test_filter_entries_glob_or_word() -> None:
    entries = [{"path": "/a/temp"}, {"path": "/b/rain"}]
    assert data.filter_entries(entries, "temp") == [entries[0]]
    assert data.filter_entries(entries, "/b/*") == [entries[1]]
    assert data.filter_entries(entries, "") == entries


def test_resolve_version(history: tuple[ic.Repository, list[str]]) -> None:
    repo, ids = history
    assert data.resolve_version(repo, "dev") == (ids[1], "branch dev")
    assert data.resolve_version(repo, "v1") == (ids[2], "tag v1")
    assert data.resolve_version(repo, ids[0])[0] == ids[0]
    with pytest.raises(ic.IcechunkError):
        data.resolve_version(repo, "nope")


def test_viewer_defaults_to_parent_and_accepts_either_order(
    history: tuple[ic.Repository, list[str]]
) -> None:
    repo, ids = history
    w = DiffViewer(repo)
    assert (w.from_label, w.to_label) == ("parent of branch main", "branch main")
    assert w.summary["counts"]["chunks"] == 1
    newer_first = DiffViewer(repo, "v1", ids[0])
    older_first = DiffViewer(repo, ids[0], "v1")
    assert newer_first.summary == older_first.summary
    with pytest.raises(ValueError, match="initial"):
        DiffViewer(repo, ids[0])


def test_viewer_actions_through_messages(history: tuple[ic.Repository, list[str]],
                                         drive: type[MessageRecorder]) -> None:
    repo, ids = history
    w = DiffViewer(repo, ids[1], "main")
    seen: list[str] = []
    w.on_select(lambda path, _: seen.append(path))
    msgs = drive(w)
    details = msgs.custom({"id": 1, "op": "select_path", "args": {"path": "/"}})["result"]
    assert details["attributes"] == [{"key": "title", "change": "added", "before": None,
                                      "after": '"<b>demo</b>"', "truncated": False}]
    details = msgs.custom({"id": 2, "op": "select_path", "args": {"path": "/temp"}})["result"]
    assert details["chunk_map"]["cells"] == [[1, 0, 0], [0, 0, 0]] and seen == ["/", "/temp"]
    values = msgs.custom({"id": 3, "op": "load_chunk",
                          "args": {"path": "/temp", "coords": [0, 0]}})["result"]
    assert values["from"]["preview"] == [0.0, 1.0, 6.0, 7.0]
    assert values["to"]["preview"] == [-1.0] * 4
    assert msgs.custom({"id": 4, "op": "filter", "args": {"pattern": "tem"}})["result"] == 1
    assert [e["path"] for e in w.visible_entries()] == ["/temp"]
    missing = msgs.custom({"id": 5, "op": "select_path", "args": {"path": "/obs"}})
    assert not missing["ok"] and missing["error"]["type"] == "KeyError"
    counts = msgs.custom({"id": 6, "op": "compare", "args": {"from_": ids[0], "to": "main"}})
    assert counts["result"]["added"] == 2 and w.details == {}


def test_swap_flips_markers(history: tuple[ic.Repository, list[str]]) -> None:
    repo, ids = history
    w = DiffViewer(repo, ids[0], "main")
    before = (w.from_label, w.to_label)
    counts = w.swap()
    assert counts["deleted"] == 2 and counts["added"] == 0
    assert (w.to_label, w.from_label) == before
    assert {e["path"]: e["change"] for e in w.summary["entries"]}["/temp"] == "deleted"
    assert w.swap()["added"] == 2


def test_open_array_returns_either_version(history: tuple[ic.Repository, list[str]]) -> None:
    repo, ids = history
    w = DiffViewer(repo, ids[1], ids[2])
    assert w.open_array("/temp", "from")[0, 0] == 0 and w.open_array("/temp", "to")[0, 0] == -1
    with pytest.raises(KeyError):
        DiffViewer(repo, ids[0], ids[1]).open_array("/temp", "from")


def test_viewer_from_diff_and_from_session(history: tuple[ic.Repository, list[str]]) -> None:
    repo, ids = history
    bare = DiffViewer(repo.diff(from_snapshot_id=ids[0], to_snapshot_id=ids[1]))
    assert bare.select_path("/temp")["chunk_map"]["cells"] == [[1, 1, 1], [1, 1, 1]]
    with pytest.raises(ValueError, match="Repository"):
        bare.compare("main")
    s = repo.writable_session("main")
    w = DiffViewer(s, repo=repo)
    assert w.summary["entries"] == []
    zarr.open_array(s.store, path="temp")[3, 5] = 9
    assert w.refresh()["chunks"] == 1
    values = w.load_chunk("/temp", [1, 2])
    assert values["to"]["preview"] == [16.0, 17.0, 22.0, 9.0]
    assert values["from"]["preview"] == [16.0, 17.0, 22.0, 23.0]
    text = w._repr_text()
    assert "uncommitted changes" in text and "(1,2)" in text
    bundle, _ = w._repr_mimebundle_()
    assert "Diff: base snapshot → uncommitted changes" in bundle["text/html"]
