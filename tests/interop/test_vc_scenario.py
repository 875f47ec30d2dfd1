"""One version-control scenario, played by pyicechunk and by the real 2.3.0 wheel.

``vc_scenario.py`` makes concurrent sessions collide in every way the conflict detector
knows, rebases with each solver, amends, and moves nodes in rearrange sessions. Both
implementations must report the same outcomes: conflict types, paths and chunk indices,
which commits land, ancestry after rebase, diffs and statuses, error classes and kinds.
Then each implementation reads the repository the other wrote (``vc_read.py``), which
exercises the other side's snapshots and transaction logs, moves included.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from icechunk.format.model import NodeType
from icechunk.format.txlog import decode_transaction_log
from interop import harness

pytestmark = pytest.mark.interop

Played = tuple[Path, dict[str, Any]]


@pytest.fixture(scope="module")
def played_by_real(tmp_path_factory: pytest.TempPathFactory) -> Played:
    path = tmp_path_factory.mktemp("vc-real") / "repo"
    return path, harness.run_script("vc_scenario", path, python=harness.real_python())


@pytest.fixture(scope="module")
def played_by_ours(tmp_path_factory: pytest.TempPathFactory) -> Played:
    path = tmp_path_factory.mktemp("vc-ours") / "repo"
    return path, harness.run_script("vc_scenario", path, python=harness.ours_python())


def _differences(real: Any, ours: Any, where: str = "") -> list[str]:
    if isinstance(real, dict) and isinstance(ours, dict):
        out = []
        for key in sorted(set(real) | set(ours)):
            out += _differences(real.get(key, "<missing>"), ours.get(key, "<missing>"), f"{where}/{key}")
        return out
    return [] if real == ours else [f"{where}: real={real!r} ours={ours!r}"]


def test_outcomes_match_the_real_wheel(played_by_real: Played, played_by_ours: Played) -> None:
    differences = _differences(played_by_real[1], played_by_ours[1])
    assert not differences, "\n".join(differences)


def test_scenario_covers_every_conflict_type(played_by_ours: Played) -> None:
    result = played_by_ours[1]
    found = {
        conflict[0]
        for case in result["conflicts"].values()
        for conflict in case["detector"].get("conflicts", [])
    }
    found |= {c[0] for c in result["move_rebase"]["write_over_move"]["conflicts"]}
    assert found == {
        "ChunkDoubleUpdate",
        "ChunksUpdatedInDeletedArray",
        "ChunksUpdatedInUpdatedArray",
        "DeleteOfUpdatedArray",
        "DeleteOfUpdatedGroup",
        "MoveOperationCannotBeRebased",
        "NewNodeConflictsWithExistingNode",
        "ZarrMetadataDoubleUpdate",
        "ZarrMetadataUpdateOfDeletedArray",
        "ZarrMetadataUpdateOfDeletedGroup",
    }
    chunk_case = result["conflicts"]["chunk_double_update"]
    assert chunk_case["detector"]["conflicts"] == [["ChunkDoubleUpdate", "/data/a", [[1, 0]]]]
    assert chunk_case["ancestry"][:2] == ["chunk_double_update: ours", "chunk_double_update: theirs"]
    assert result["amend"]["ancestry"] == ["moved on", "reworded", "base", "Repository initialized"]
    assert result["moves"]["diff"]["moved_nodes"] == [
        ["/data/a", "/meta/a"],
        ["/data", "/stuff"],
        ["/data/b", "/stuff/b"],
        ["/top", "/top2"],
    ]


@pytest.fixture(scope="module")
def reads(played_by_real: Played, played_by_ours: Played) -> dict[tuple[str, str], Any]:
    """``vc_read.py`` output keyed by (writer, reader)."""
    pythons = {"real": harness.real_python(), "ours": harness.ours_python()}
    played = {"real": played_by_real[0], "ours": played_by_ours[0]}
    return {
        (writer, reader): harness.run_script("vc_read", path, python=pythons[reader])
        for writer, path in played.items()
        for reader in pythons
    }


@pytest.mark.parametrize("writer", ["real", "ours"])
def test_each_reads_what_the_other_wrote(writer: str, reads: dict[tuple[str, str], Any]) -> None:
    by_real, by_ours = reads[writer, "real"], reads[writer, "ours"]
    differences = _differences(by_real, by_ours)
    assert not differences, "\n".join(differences)
    assert by_real["moves"]["diffs"][0][0] == "moved"
    assert by_real["moves"]["tip"]["arrays"]["meta/a"][0] == [0] * 6


def test_histories_written_by_both_read_the_same(reads: dict[tuple[str, str], Any]) -> None:
    differences = _differences(reads["real", "real"], reads["ours", "ours"])
    assert not differences, "\n".join(differences)


def test_real_move_records_decode_with_node_types(played_by_real: Played) -> None:
    logs = [decode_transaction_log(p.read_bytes()) for p in (played_by_real[0] / "transactions").iterdir()]
    moves = {m.to_path: m for log in logs for m in log.moved_nodes}
    assert moves["/stuff"].node_type is NodeType.GROUP
    assert moves["/stuff"].from_path == "/data"
    assert moves["/meta/a"].node_type is NodeType.ARRAY
