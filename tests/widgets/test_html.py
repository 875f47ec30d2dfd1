"""Static HTML reprs of core objects: escaped, bounded, readable without CSS, no secrets."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import zarr

import icechunk as ic
from icechunk import _html

from .scenarios import make_history


def text_of(page: str) -> str:
    """What a reader sees with every tag and style removed."""
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", page))


def assert_static_safe(page: str) -> None:
    for forbidden in ("<script", "<style", " id=", " hidden", "<svg"):
        assert forbidden not in page


def test_repository_repr_lists_refs_and_storage(tmp_path: Path) -> None:
    repo, ids = make_history(tmp_path / "r")
    page = repo._repr_html_()
    assert_static_safe(page)
    text = text_of(page)
    assert "icechunk.Repository" in text and str(tmp_path / "r") in text
    assert "main" in text and "dev" in text and "v1" in text
    assert ids[2][:8] in text  # tip of main, as a short id
    assert f'title="{ids[2]}"' in page  # full id on hover


def test_redact_hides_secret_values() -> None:
    line = "secret_access_key: abc123 region: us-east-1 session_token=xyz"
    out = _html.redact(line)
    assert "abc123" not in out and "xyz" not in out and "us-east-1" in out


def test_session_and_store_reprs_show_uncommitted_changes(tmp_path: Path) -> None:
    repo, ids = make_history(tmp_path / "r")
    s = repo.writable_session("main")
    assert "uncommitted changes no" in text_of(s._repr_html_())
    zarr.open_array(s.store, path="temp")[2:4, 4:6] = 7
    text = text_of(s._repr_html_())
    assert "writable" in text and "main" in text and ids[2][:8] in text
    assert "uncommitted changes yes" in text and "1 chunks written" in text
    assert "(1,2)" in text
    store_text = text_of(s.store._repr_html_())
    assert "icechunk.IcechunkStore" in store_text and "writable" in store_text
    assert "icechunk.session.ForkSession" in text_of(s.fork()._repr_html_())
    ro = repo.readonly_session(tag="v1")
    assert "read-only" in text_of(ro._repr_html_())


def test_snapshot_repr_escapes_messages(tmp_path: Path) -> None:
    repo, ids = make_history(tmp_path / "r")
    info = repo.lookup_snapshot(ids[2])
    page = info._repr_html_()
    assert_static_safe(page)
    assert "&lt;script&gt;" in page
    text = text_of(page)
    assert ids[2] in text and ids[1][:8] in text and "metadata.author" in text


def test_diff_repr_groups_paths_with_text_markers(tmp_path: Path) -> None:
    repo, ids = make_history(tmp_path / "r")
    diff = repo.diff(from_snapshot_id=ids[0], to_branch="main")
    page = diff._repr_html_()
    assert_static_safe(page)
    text = text_of(page)
    assert "+ 2 added" in text and "~ 1 updated" in text  # temp, obs; root attrs
    assert "<code>/temp</code>" in page and "6 chunks" in text
    assert "<details" in page
    empty = repo.writable_session("main").status()
    assert "no changes" in text_of(empty._repr_html_())


def test_table_caps_rows_and_counts_the_rest() -> None:
    page = _html.table(["n"], [[str(i)] for i in range(_html.MAX_ROWS + 7)])
    assert "… 7 more" in page and f">{_html.MAX_ROWS - 1}<" in page
    assert f">{_html.MAX_ROWS}<" not in page


def test_chunk_list_text_elides() -> None:
    chunks = [[i, 0] for i in range(15)]
    assert _html.chunk_list_text(chunks, limit=2) == "15 chunks: (0,0) (1,0) … +13 more"


def test_relative_time() -> None:
    now = dt.datetime(2026, 1, 2, tzinfo=dt.UTC)
    assert _html.relative_time(now - dt.timedelta(minutes=5), now) == "5 min ago"
    assert _html.relative_time(now - dt.timedelta(days=3), now) == "3 d ago"
    assert _html.relative_time(now, now) == "0 s ago"


def test_conflict_and_rebase_error_reprs() -> None:
    c = ic.Conflict(ic.ConflictType.ChunkDoubleUpdate, "/temp", [[0, 0], [1, 1]])
    err = ic.RebaseFailedError("ABCDEFGH", [c])
    page = err._repr_html_()
    assert_static_safe(page)
    text = text_of(page)
    assert "ChunkDoubleUpdate" in text and "/temp" in text and "2 chunks: (0,0) (1,1)" in text
    assert "BasicConflictSolver" in text
    assert "ChunkDoubleUpdate" in text_of(c._repr_html_())
