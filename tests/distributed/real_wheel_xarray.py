"""Run by the interop test under the real icechunk wheel (``python -I``): read or write an
xarray dataset in an Icechunk repository with plain xarray/zarr, JSON on stdout.

    python real_wheel_xarray.py read REPO_PATH
    python real_wheel_xarray.py write REPO_PATH
"""

from __future__ import annotations

import json
import sys

import numpy as np
import xarray as xr

import icechunk


def _read(path: str) -> dict[str, object]:
    repo = icechunk.Repository.open(icechunk.local_filesystem_storage(path))
    session = repo.readonly_session("main")
    ds = xr.open_zarr(session.store, consolidated=False, chunks=None).load()
    tair = ds["Tair"].values
    return {
        "icechunk": icechunk.__version__,
        "tair": [None if np.isnan(v) else float(v) for v in tair.ravel()],
        "shape": list(tair.shape),
        "time": [str(t) for t in ds["time"].values.astype("datetime64[D]")],
        "attrs": ds.attrs,
        "tair_attrs": ds["Tair"].attrs,
        "chunks": list(ds["Tair"].encoding["chunks"]),
        "message": next(iter(repo.ancestry(branch="main"))).message,
    }


def _write(path: str) -> dict[str, object]:
    repo = icechunk.Repository.create(icechunk.local_filesystem_storage(path))
    session = repo.writable_session("main")
    ds = xr.Dataset(
        {"Tair": (("time", "y"), np.zeros((6, 3)), {"units": "C"})},
        coords={"time": np.arange("2000-01", "2000-07", dtype="datetime64[M]").astype("M8[ns]")},
        attrs={"writer": "real"},
    )
    ds.to_zarr(session.store, consolidated=False, encoding={"Tair": {"chunks": (1, 3)}})
    return {"icechunk": icechunk.__version__, "snapshot": session.commit("real wrote zeros")}


if __name__ == "__main__":
    command, repo_path = sys.argv[1], sys.argv[2]
    print(json.dumps(_read(repo_path) if command == "read" else _write(repo_path)))
