"""Distributed-write workloads: 64 dask tasks write disjoint regions through a fork, then the
tasks' forks are tree-merged (``split_every`` 2, 8 or dask's default) and committed.

Loaded by ``workloads.py`` (by path, since the real wheel's child runs with ``python -I``).
Only public API: ``icechunk.dask.store_dask``, ``Session.fork``/``merge``/``commit`` and zarr.
The tasks run on dask's ``processes`` scheduler over two spawned workers, so every task
returns its own pickled fork and the merges do real work; the pool is started and warmed
up (imports done) before the clock starts.
"""

from __future__ import annotations

import multiprocessing as mp
import resource
import shutil
import threading
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import dask
import dask.array as da
import numpy as np
import zarr

import icechunk
import icechunk.dask

N_TASKS = 64


def _shape(quick: bool) -> tuple[int, int, int, int]:
    """(rows, cols, zarr chunk rows, zarr chunk cols): 64 dask blocks along rows."""
    if quick:
        return N_TASKS, 16, 1, 8  # 128 tiny chunks, two per task
    return N_TASKS * 16, 256, 16, 64  # 2 MiB of float64 in 256 chunks, four per task


class RssSampler:
    """Highest resident set size of this process while active, sampled every 2 ms.

    ``ru_maxrss`` is a lifetime high-water mark that the warm-up round already set;
    sampling ``/proc/self/statm`` measures the growth during the timed section alone,
    whatever allocator (Python or Rust) grew it.
    """

    def __init__(self) -> None:
        self._page = resource.getpagesize()
        self.start = self.peak = self._rss()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _rss(self) -> int:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * self._page

    def _run(self) -> None:
        while not self._stop.wait(0.002):
            self.peak = max(self.peak, self._rss())

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self._rss())

    @property
    def growth_mib(self) -> float:
        return (self.peak - self.start) / (1024 * 1024)


def _new_target(path: Path, quick: bool) -> tuple[icechunk.Repository, np.ndarray]:
    rows, cols, crow, ccol = _shape(quick)
    shutil.rmtree(path, ignore_errors=True)
    repo = icechunk.Repository.create(icechunk.local_filesystem_storage(str(path)))
    session = repo.writable_session("main")
    zarr.create_array(
        session.store, name="a", shape=(rows, cols), chunks=(crow, ccol), dtype="f8", fill_value=-1
    )
    session.commit("empty array")
    return repo, np.arange(rows * cols, dtype="f8").reshape(rows, cols)


def _write_and_merge(
    repo: icechunk.Repository, data: np.ndarray, split_every: int | None
) -> dict[str, float]:
    source = da.from_array(data, chunks=(data.shape[0] // N_TASKS, data.shape[1]))  # type: ignore[no-untyped-call]
    assert source.numblocks == (N_TASKS, 1)
    session = repo.writable_session("main")
    fork = session.fork()
    target = zarr.open_array(fork.store, path="a")
    t0 = time.perf_counter()
    merged = icechunk.dask.store_dask(sources=[source], targets=[target], split_every=split_every)
    t1 = time.perf_counter()
    session.merge(merged)
    t2 = time.perf_counter()
    session.commit(f"64 tasks, split_every={split_every}")
    t3 = time.perf_counter()
    return {"write+reduce": t1 - t0, "merge": t2 - t1, "commit": t3 - t2, "total": t3 - t0}


def merge_64(workdir: Path, quick: bool, split_every: int | None) -> dict[str, float]:
    """Time 64 region writes + tree merge + commit; also the driver's peak-RSS growth."""
    pool = ProcessPoolExecutor(max_workers=2, mp_context=mp.get_context("spawn"))
    try:
        with dask.config.set(scheduler="processes", pool=pool):
            # Warm-up round on a scratch repository: workers import everything here.
            warm_repo, warm_data = _new_target(workdir / "merge-warmup", quick)
            _write_and_merge(warm_repo, warm_data, split_every)
            repo, data = _new_target(workdir / "merge", quick)
            with RssSampler() as rss:
                timings = _write_and_merge(repo, data, split_every)
    finally:
        pool.shutdown(wait=True)
    timings["driver_peak_growth_mib"] = rss.growth_mib
    written = zarr.open_array(repo.readonly_session("main").store, path="a", mode="r")[:]
    if not np.array_equal(written, data):
        raise SystemExit(f"merge_64(split_every={split_every}): wrong data after commit")
    return timings
