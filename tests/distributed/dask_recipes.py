"""Shared pieces of the distributed-write tests: a stand-in for xarray's "rasm" tutorial
dataset (the docs' example data, which needs the network) and the docs' write task.

Functions here run in worker processes, so they live in a small importable module.
"""

from __future__ import annotations

from typing import TypeVar

import numpy as np
import pandas as pd
import xarray as xr

from icechunk import Session

S = TypeVar("S", bound=Session)

N_TIME = 24
NY, NX = 3, 4


def synthetic_rasm(n_time: int = N_TIME) -> xr.Dataset:
    """A small dataset shaped like ``xr.tutorial.open_dataset("rasm")``.

    ``Tair(time, y, x)`` in degrees C with NaN over "land", 2-D ``xc``/``yc`` coordinates,
    a monthly time axis and global attributes; deterministic, so every worker
    process rebuilds exactly the same values.
    """
    rng = np.random.default_rng(1234)
    tair = rng.normal(5.0, 10.0, size=(n_time, NY, NX))
    tair[:, 0, 0] = np.nan
    xc = np.linspace(189.2, 195.0, NX)[np.newaxis, :] + np.zeros((NY, 1))
    yc = np.linspace(16.5, 18.0, NY)[:, np.newaxis] + np.zeros((1, NX))
    return xr.Dataset(
        {"Tair": (("time", "y", "x"), tair, {"units": "C", "long_name": "air_temperature"})},
        coords={
            "time": pd.date_range("1980-09-16", periods=n_time, freq="MS"),
            "xc": (("y", "x"), xc, {"long_name": "longitude of grid cell center"}),
            "yc": (("y", "x"), yc, {"long_name": "latitude of grid cell center"}),
        },
        attrs={"title": "synthetic stand-in for the RASM tutorial dataset", "nx": NX},
    )


def write_timestamp(*, itime: int, session: S) -> S:
    """The docs' write task: write one time step with ``region="auto"``, return the session."""
    # pass a list to isel to preserve the time dimension
    ds = synthetic_rasm().isel(time=[itime])
    # region="auto" tells xarray to infer which region of the output arrays to write to.
    ds.to_zarr(session.store, region="auto", consolidated=False)
    return session
