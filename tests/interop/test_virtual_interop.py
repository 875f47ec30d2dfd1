"""Virtual references round-trip with the real icechunk 2.3.0 wheel, both ways.

One side writes a repository of virtual refs into a local file (absolute and ``vcc://``
locations, last-modified and ETag checksums, 1200 refs so the real writer compresses
locations); the other side opens it, reads the values and sees the same refusals.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from interop import harness

pytestmark = pytest.mark.interop

SCRIPT = "virtual_refs.py"


def _expected(data_dir: Path) -> dict[str, object]:
    prefix = f"file://{data_dir.resolve()}/"
    return {
        "grid_ok": True,
        "many_ok": True,
        "guarded": ["modified", "modified"],
        "locations": [prefix + "source.bin"],
        "n_locations": 6 + 1200 + 2,
        "prefixes": [prefix],
        "containers": [prefix],
    }


@pytest.mark.parametrize(
    ("writer", "reader"),
    [("ours", "real"), ("real", "ours"), ("ours", "ours")],
)
def test_virtual_refs_round_trip(tmp_path: Path, writer: str, reader: str) -> None:
    pythons = {"ours": harness.ours_python(), "real": harness.real_python()}
    repo, data = tmp_path / "repo", tmp_path / "data"
    written = harness.run_script(SCRIPT, "write", repo, data, python=pythons[writer])
    assert isinstance(written["snapshot"], str)
    seen = harness.run_script(SCRIPT, "read", repo, data, python=pythons[reader])
    assert seen == _expected(data)
