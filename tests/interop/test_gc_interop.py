"""Expiration and GC across implementations.

One implementation writes a history (``gc_history.py write``); two byte-identical copies are
then expired and garbage collected, one by the real icechunk 2.3.0 wheel and one by
pyicechunk. Both must expire the same snapshots, delete the same objects (same counts and
bytes: the files are the same), leave the same files behind, and read back the same
history, whichever implementation reads.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

import pytest

from interop import harness

pytestmark = pytest.mark.interop

PREFIXES = ("snapshots", "manifests", "chunks", "transactions")


def _files(path: Path) -> dict[str, set[str]]:
    return {p: set(os.listdir(path / p)) if (path / p).is_dir() else set() for p in PREFIXES}


def _maintain_both(
    source: Path, cut: str, tmp_path: Path, *extra: str
) -> tuple[Path, Path, Any, Any]:
    by_real, by_ours = tmp_path / "by_real", tmp_path / "by_ours"
    shutil.copytree(source, by_real)  # copy2 keeps mtimes, which GC compares with the cut
    shutil.copytree(source, by_ours)
    real = harness.run_script(
        "gc_history", "maintain", by_real, cut, *extra, python=harness.real_python()
    )
    ours = harness.run_script(
        "gc_history", "maintain", by_ours, cut, *extra, python=harness.ours_python()
    )
    return by_real, by_ours, real, ours


def _check_same_outcome(by_real: Path, by_ours: Path, real: Any, ours: Any) -> None:
    assert ours == real
    assert _files(by_ours) == _files(by_real)
    for python in (harness.real_python(), harness.ours_python()):
        seen_real = harness.run_script("gc_history", "read", by_real, python=python)
        seen_ours = harness.run_script("gc_history", "read", by_ours, python=python)
        assert seen_ours == seen_real
        assert seen_ours["ops"][:2] == ["GCRan", "ExpirationRan"]


@pytest.mark.parametrize("delete_refs", [False, True], ids=["keep_refs", "delete_refs"])
def test_maintenance_of_a_real_history(tmp_path: Path, delete_refs: bool) -> None:
    source = tmp_path / "source"
    written = harness.run_script("gc_history", "write", source, python=harness.real_python())
    extra = ("delete_refs",) if delete_refs else ()
    by_real, by_ours, real, ours = _maintain_both(source, written["cut"], tmp_path, *extra)
    assert real["gc"]["snapshots_deleted"] > 0 and real["gc"]["chunks_deleted"] > 0
    _check_same_outcome(by_real, by_ours, real, ours)


def test_maintenance_of_our_history(tmp_path: Path) -> None:
    source = tmp_path / "source"
    written = harness.run_script("gc_history", "write", source, python=harness.ours_python())
    by_real, by_ours, real, ours = _maintain_both(source, written["cut"], tmp_path)
    assert set(real["expired"]) <= set(written["snapshots"])
    _check_same_outcome(by_real, by_ours, real, ours)


def test_real_commits_on_top_of_our_maintained_repo(tmp_path: Path) -> None:
    source = tmp_path / "source"
    written = harness.run_script("gc_history", "write", source, python=harness.real_python())
    harness.run_script(
        "gc_history", "maintain", source, written["cut"], python=harness.ours_python()
    )
    top = harness.run_script("commit_on_top", source, "main", python=harness.real_python())
    seen = harness.run_script("gc_history", "read", source, python=harness.ours_python())
    assert seen["branches"]["main"]["ancestry"][0] == top["snapshot_id"]


def test_rewritten_manifests_read_the_same_in_both(tmp_path: Path) -> None:
    source = tmp_path / "source"
    harness.run_script("gc_history", "write", source, python=harness.real_python())
    before = harness.run_script("gc_history", "read", source, python=harness.real_python())
    new = harness.run_script("gc_history", "rewrite", source, python=harness.ours_python())
    after = harness.run_script("gc_history", "read", source, python=harness.real_python())
    main = after["branches"]["main"]
    assert main["ancestry"][0] == new["snapshot_id"]
    assert main["ancestry"][1:] == before["branches"]["main"]["ancestry"]
    assert main["data"][0] == before["branches"]["main"]["data"][0]


def _without_notes(views: dict[str, Any]) -> dict[str, Any]:
    for view in views.values():
        if isinstance(view, dict):
            view.get("synthetic_composite", {}).pop("note", None)
    return views


@pytest.mark.parametrize("writer", ["real", "ours"])
def test_inspect_views_match_the_real_wheel(tmp_path: Path, writer: str) -> None:
    python = harness.real_python() if writer == "real" else harness.ours_python()
    source = tmp_path / "source"
    written = harness.run_script("gc_history", "write", source, python=python)
    harness.run_script("gc_history", "maintain", source, written["cut"], python=python)
    real = harness.run_script("inspect_all", source, python=harness.real_python())
    ours = harness.run_script("inspect_all", source, python=harness.ours_python())
    assert any("synthetic_composite" in v for v in real.values() if isinstance(v, dict))
    assert _without_notes(ours) == _without_notes(real)


# ---------------------------------------------------------------- spec-v1 repositories
def _decoded_snapshots(path: Path) -> dict[str, Any]:
    from icechunk.format.snapshot import decode_snapshot

    folder = path / "snapshots"
    return {name: decode_snapshot((folder / name).read_bytes()) for name in os.listdir(folder)}


@pytest.mark.parametrize(
    ("writer", "delete_refs"),
    [("v1_wheel", False), ("v1_wheel", True), ("ours", True)],
    ids=["v1_wheel-keep_refs", "v1_wheel-delete_refs", "ours-delete_refs"],
)
def test_maintenance_of_a_spec_v1_history(tmp_path: Path, writer: str, delete_refs: bool) -> None:
    """Expire + GC of a v1 repository: same released ids, deletions, rewritten parents."""
    source = tmp_path / "source"
    if writer == "v1_wheel":
        written = harness.run_script("gc_history", "write", source, python=harness.v1_python())
    else:
        written = harness.run_script(
            "gc_history", "write", source, "v1", python=harness.ours_python()
        )
    assert not (source / "repo").exists()
    extra = ("delete_refs",) if delete_refs else ()
    by_real, by_ours, real, ours = _maintain_both(source, written["cut"], tmp_path, *extra)
    assert real["gc"]["snapshots_deleted"] > 0 and real["expired"]
    assert ours == real
    assert _files(by_ours) == _files(by_real)
    assert sorted(os.listdir(by_ours / "refs")) == sorted(os.listdir(by_real / "refs"))
    for ref in os.listdir(by_real / "refs"):
        assert sorted(os.listdir(by_ours / "refs" / ref)) == sorted(
            os.listdir(by_real / "refs" / ref)
        )
    # Kept snapshots whose parent expired are rewritten in place, onto the root.
    assert _decoded_snapshots(by_ours) == _decoded_snapshots(by_real)
    assert not (by_ours / "repo").exists() and not (by_real / "repo").exists()
    # Same files on both sides (checked above), so reading ours everywhere covers both.
    expected = harness.run_script("gc_history", "read", by_real, python=harness.real_python())
    assert expected["ops"] is None
    for python in (harness.real_python(), harness.ours_python(), harness.v1_python()):
        assert harness.run_script("gc_history", "read", by_ours, python=python) == expected
