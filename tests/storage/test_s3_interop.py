"""Repositories on S3 (moto) written by the real icechunk 2.x wheel are read and extended by
pyicechunk, and the other way round: same object keys, same conditional-write protocol."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest
from interop import harness
from servers import S3Bucket
from servers.fixtures import s3_bucket, s3_server

_FIXTURES = (s3_bucket, s3_server)
SCRIPT = Path(__file__).parent / "scripts" / "s3_roundtrip.py"
CREATED = {"values": list(range(20)), "history": ["create", "Repository initialized"]}
APPENDED = {
    "values": [-1] * 5 + list(range(5, 20)),
    "history": ["append", "create", "Repository initialized"],
}


def run(python: str, mode: str, bucket: S3Bucket, prefix: str) -> Any:
    endpoint = bucket.endpoint
    args = [mode, endpoint.url, bucket.bucket, prefix, endpoint.access_key_id]
    cmd = [python, str(SCRIPT), *args, endpoint.secret_access_key]
    env = harness._script_env(python)
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=240, env=env)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.mark.interop
def test_real_writes_ours_extends_real_reads(s3_bucket: S3Bucket) -> None:
    real, ours = harness.real_python(), harness.ours_python()
    assert run(real, "create", s3_bucket, "from-real") == CREATED
    assert run(ours, "read", s3_bucket, "from-real") == CREATED
    assert run(ours, "append", s3_bucket, "from-real") == APPENDED
    assert run(real, "read", s3_bucket, "from-real") == APPENDED


@pytest.mark.interop
def test_ours_writes_real_extends_ours_reads(s3_bucket: S3Bucket) -> None:
    real, ours = harness.real_python(), harness.ours_python()
    assert run(ours, "create", s3_bucket, "from-ours") == CREATED
    assert run(real, "append", s3_bucket, "from-ours") == APPENDED
    assert run(ours, "read", s3_bucket, "from-ours") == APPENDED
