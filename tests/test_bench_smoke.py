"""Smoke test: the benchmark driver runs end to end at quick sizes (no timing assertions)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_bench_quick_ours() -> None:
    proc = subprocess.run(
        [
            sys.executable,
            str(ROOT / "benchmarks" / "run.py"),
            "--quick",
            "--repeat",
            "1",
            "--only",
            "ours",
        ],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "ours median" in proc.stdout
    for workload in (
        "write_big",
        "read_big",
        "write_many",
        "open_one_chunk",
        "local_read",
        "write_virtual",
        "open_virtual_ref",
        "many_commits",
        "ancestry_travel",
        "deep_history_commit",
    ):
        assert f"ours {workload}" in proc.stdout
