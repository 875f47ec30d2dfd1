"""Support for running xarray's own zarr backend suite against Icechunk stores.

xarray's ``test_backends`` uses markers its repository's root conftest defines and the
installed package does not ship. Register them (we run with ``--strict-markers``) and
honour them as xarray's default run does: ``skip_if_param`` skips when the named
fixture parameters match; ``flaky`` and ``network`` tests are skipped.
"""

from __future__ import annotations

import multiprocessing as mp
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor

import dask
import pytest


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "skip_if_param(reason, condition=True, **params): skip when the test's fixture "
        "parameters match params (used by xarray's test_backends)",
    )

    config.addinivalue_line("markers", "flaky: xarray test known to be flaky (skipped)")
    for name in ("skip_with_dask_array", "xfail_with_dask_array"):
        # Used by xarray test modules that test_backends imports, not by the tests run here.
        config.addinivalue_line("markers", f"{name}: xarray duck-array test marker")
    config.addinivalue_line("markers", "network: xarray test needing the network (skipped)")


def pytest_runtest_setup(item: pytest.Item) -> None:
    if item.get_closest_marker("flaky") is not None:
        pytest.skip("flaky xarray test; xarray itself runs these only with --run-flaky")
    if item.get_closest_marker("network") is not None:
        pytest.skip("needs the network; this suite runs offline")
    params = getattr(getattr(item, "callspec", None), "params", {})
    for mark in item.iter_markers("skip_if_param"):
        expected = {k: v for k, v in mark.kwargs.items() if k not in ("reason", "condition")}
        condition = mark.kwargs.get("condition", True)
        matches = all(k in params and params[k] == v for k, v in expected.items())
        if condition and matches:
            pytest.skip(mark.kwargs.get("reason", "skipped for these parameters"))


@pytest.fixture(scope="session")
def dask_process_pool() -> Iterator[ProcessPoolExecutor]:
    """Two spawned worker processes shared by every test using dask's processes scheduler.

    Spawning and importing numpy/zarr/icechunk costs seconds per process on a busy
    machine; one pool for the session keeps that cost out of each test.
    """
    pool = ProcessPoolExecutor(max_workers=2, mp_context=mp.get_context("spawn"))
    yield pool
    pool.shutdown(wait=True, cancel_futures=True)


@pytest.fixture
def processes_scheduler(dask_process_pool: ProcessPoolExecutor) -> Iterator[None]:
    """Run dask computations of the test on the shared process pool."""
    with dask.config.set(scheduler="processes", pool=dask_process_pool):
        yield
