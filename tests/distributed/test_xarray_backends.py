"""xarray's own zarr backend suite, run against Icechunk session stores.

``ZarrBase`` is the suite xarray runs against every zarr store it supports; here its
target is the store of a fork of a writable session on a local repository (a fork so
the suite's pickling tests can pickle it, as a dask worker would). ``TestZarrRegionAuto``
is re-run with ``to_icechunk`` as its writer, as the real project does.
"""

from __future__ import annotations

import contextlib
import tempfile
from collections.abc import Iterator
from typing import Any

import pytest

pytest.importorskip("dask")
pytest.importorskip("xarray.tests.test_backends")

import zarr

# Import the module, not its Test* classes: a Test* name in this module would be
# collected and run a second time against xarray's own stores.
from xarray.tests import test_backends as xarray_backends
from xarray.tests.conftest import time_unit, use_dask  # noqa: F401  (the suite's fixtures)

import icechunk as ic
from icechunk.xarray import to_icechunk


@pytest.fixture(params=[3])
def default_zarr_format(request: pytest.FixtureRequest) -> Iterator[None]:
    """Icechunk stores only zarr format 3: run the suite's format-3 half only."""
    with zarr.config.set(default_zarr_format=request.param):
        yield


@pytest.fixture
def tmp_store(tmp_path: Any) -> Any:
    """The suite's ``tmp_store`` fixture; its region tests only pass it through."""
    return tmp_path


@contextlib.contextmanager
def _fork_store() -> Iterator[ic.IcechunkStore]:
    with tempfile.TemporaryDirectory() as tmp:
        repo = ic.Repository.create(ic.local_filesystem_storage(tmp))
        yield repo.writable_session("main").fork().store


class TestIcechunkSessionStore(xarray_backends.ZarrBase):
    @contextlib.contextmanager
    def create_zarr_target(self) -> Iterator[ic.IcechunkStore]:
        with _fork_store() as store:
            yield store


@pytest.mark.filterwarnings("ignore:Failed to open:RuntimeWarning")
class TestIcechunkRegionAuto(xarray_backends.TestZarrRegionAuto):
    @contextlib.contextmanager
    def create_zarr_target(self) -> Iterator[ic.IcechunkStore]:
        repo = ic.Repository.create(ic.in_memory_storage())
        yield repo.writable_session("main").store

    def save(self, target: ic.IcechunkStore, ds: Any, **kwargs: Any) -> None:
        kwargs.pop("compute", None)
        to_icechunk(ds, target.session, **kwargs)
