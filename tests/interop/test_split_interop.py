"""Manifest splitting across implementations.

The same history (``split_history.py``) is written by the real icechunk 2.3.0 wheel and by
pyicechunk under several splitting configurations, and under a change of configuration
between commits. Every commit must leave the same manifest layout on both sides: per
array the same extents, each either reused from the parent commit or newly written, and
the same number of manifest files. Each side also reads the other's split repository.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from icechunk.format.snapshot import decode_snapshot
from interop import harness

pytestmark = pytest.mark.interop


def _layout(path: Path, newest_first: list[str]) -> list[Any]:
    """Per commit, oldest first: message, manifest count, and per array its split refs."""
    out: list[Any] = []
    before: set[Any] = set()
    for sid in reversed(newest_first):
        snap = decode_snapshot((path / "snapshots" / sid).read_bytes())
        arrays = {
            node.path: sorted(
                (ref.extents, "reused" if ref.object_id in before else "new")
                for ref in node.array.manifests
            )
            for node in snap.nodes
            if node.array is not None
        }
        out.append([snap.message, len(snap.manifest_files), arrays])
        before = {m.id for m in snap.manifest_files}
    return out


_WRITTEN: dict[tuple[str, ...], tuple[Path, list[Any]]] = {}


def _write(base: pytest.TempPathFactory, who: str, *configs: str) -> tuple[Path, list[Any]]:
    """Write (once per module run) the history under ``configs`` with one implementation."""
    key = (who, *configs)
    if key not in _WRITTEN:
        python = harness.real_python() if who == "real" else harness.ours_python()
        where = base.mktemp("-".join(key))
        written = harness.run_script("split_history", "write", where, *configs, python=python)
        _WRITTEN[key] = where, _layout(where, written["snapshots"])
    return _WRITTEN[key]


@pytest.mark.parametrize(
    "configs",
    # Each history covers its first configuration on its own, then the change.
    [("axis0", "dim_names"), ("dim_names", "axis0"), ("two_rules", "and_or"), ("none",)],
    ids="-".join,
)
def test_split_layout_matches_the_real_wheel(
    tmp_path_factory: pytest.TempPathFactory, configs: tuple[str, ...]
) -> None:
    _, real = _write(tmp_path_factory, "real", *configs)
    _, ours = _write(tmp_path_factory, "ours", *configs)
    assert ours == real
    if configs != ("none",):  # the configuration really splits something
        assert max(len(refs) for _, _, arrays in real for refs in arrays.values()) > 1


def test_each_side_reads_the_others_split_repository(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    by_real, _ = _write(tmp_path_factory, "real", "dim_names", "axis0")
    by_ours, _ = _write(tmp_path_factory, "ours", "dim_names", "axis0")
    real_py, ours_py = harness.real_python(), harness.ours_python()
    real_sees_real = harness.run_script("split_history", "read", by_real, python=real_py)
    ours_sees_real = harness.run_script("split_history", "read", by_real, python=ours_py)
    real_sees_ours = harness.run_script("split_history", "read", by_ours, python=real_py)
    ours_sees_ours = harness.run_script("split_history", "read", by_ours, python=ours_py)
    assert ours_sees_real == real_sees_real
    assert real_sees_ours == ours_sees_ours
    # Same writes on both sides: the contents match commit by commit.
    assert list(real_sees_real.values()) == list(ours_sees_ours.values())
    assert len(real_sees_real) == 1 and all(real_sees_real.values())
