"""Distributed writes interoperate with the real wheel: what our forks wrote and merged,
the real icechunk reads back; what it wrote, our forks update in place."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import numpy as np
import pytest

pytest.importorskip("dask")

import xarray as xr
from dask_recipes import synthetic_rasm
from interop import harness

import icechunk as ic
from icechunk.xarray import to_icechunk

SCRIPT = Path(__file__).with_name("real_wheel_xarray.py")

pytestmark = pytest.mark.interop


def _real(command: str, repo_path: Path) -> dict[str, Any]:
    # -I: the real wheel must not see this checkout (cwd or PYTHONPATH).
    proc = subprocess.run(
        [harness.real_python(), "-I", str(SCRIPT), command, str(repo_path)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        cwd=repo_path.parent,
    )
    assert proc.returncode == 0, proc.stderr[-5000:]
    result: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result["icechunk"].startswith("2.")
    return result


@pytest.mark.usefixtures("processes_scheduler")
def test_real_wheel_reads_what_our_forks_wrote(tmp_path: Path) -> None:
    path = tmp_path / "repo"
    ds = synthetic_rasm().chunk({"time": 1})
    session = ic.Repository.create(ic.local_filesystem_storage(str(path))).writable_session("main")
    to_icechunk(ds, session, mode="w", split_every=3)
    session.commit("ours: 24 forks merged")

    seen = _real("read", path)
    expected = ds["Tair"].values
    assert seen["shape"] == list(expected.shape)
    got = np.array([np.nan if v is None else v for v in seen["tair"]]).reshape(expected.shape)
    np.testing.assert_array_equal(got, expected)
    assert seen["time"] == [str(t) for t in ds["time"].values.astype("datetime64[D]")]
    assert seen["attrs"] == ds.attrs and seen["tair_attrs"] == ds["Tair"].attrs
    assert seen["chunks"] == [1, 3, 4]
    assert seen["message"] == "ours: 24 forks merged"


@pytest.mark.usefixtures("processes_scheduler")
def test_our_forks_update_a_real_wheel_repository(tmp_path: Path) -> None:
    path = tmp_path / "repo"
    _real("write", path)

    repo = ic.Repository.open(ic.local_filesystem_storage(str(path)))
    # A distributed read goes through a read-only session: writable ones do not pickle.
    base = xr.open_zarr(repo.readonly_session("main").store, consolidated=False).load()
    session = repo.writable_session("main")
    update = (base.isel(time=slice(2, 5)) + 7).chunk({"time": 1})
    to_icechunk(update, session, region="auto")
    session.commit("ours: region write through forks")

    seen = _real("read", path)
    expected = np.zeros((6, 3))
    expected[2:5] = 7
    np.testing.assert_array_equal(np.array(seen["tair"]).reshape(6, 3), expected)
    assert seen["attrs"] == {"writer": "real"}
    assert seen["message"] == "ours: region write through forks"
