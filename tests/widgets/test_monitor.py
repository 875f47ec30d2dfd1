"""WriteMonitor: progress math, throttling, and a real distributed write through forks."""

from __future__ import annotations

import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import zarr

import icechunk as ic
from icechunk_widgets import WriteMonitor
from icechunk_widgets._base import Throttle
from icechunk_widgets.monitor import progress_rows

from .conftest import MessageRecorder

N_BLOCKS = 6


def test_progress_rows_percent_rate_eta() -> None:
    rows = progress_rows({"/b": {"expected": 10, "written": 4, "bytes": 400},
                          "/a": {"expected": 0, "written": 0}}, elapsed=2.0)
    assert [r["path"] for r in rows] == ["/a", "/b"]
    b = rows[1]
    assert (b["percent"], b["chunks_per_s"], b["eta_s"], b["bytes_per_s"]) == (40.0, 2.0, 3.0, 200.0)
    assert rows[0]["percent"] == 100.0 and rows[0]["eta_s"] is None


def test_throttle_batches_to_the_rate_and_delivers_the_last_update() -> None:
    batches: list[dict[str, Any]] = []
    throttle = Throttle(batches.append, rate=10)
    start = time.monotonic()
    for i in range(500):
        throttle.push({"n": i})
        time.sleep(0.001)
    time.sleep(0.25)
    elapsed = time.monotonic() - start
    assert batches[-1] == {"n": 499}
    assert len(batches) <= elapsed * 10 + 2
    gaps = np.diff(throttle.flushes)
    assert (gaps >= 0.099).all()


def _repo_with_array(path: Path) -> tuple[ic.Repository, ic.Session]:
    repo = ic.Repository.create(ic.local_filesystem_storage(str(path)))
    session = repo.writable_session("main")
    zarr.create_array(session.store, name="data", shape=(N_BLOCKS * 4,), chunks=(4,), dtype="i4",
                      fill_value=0)
    session.commit("empty array")
    return repo, repo.writable_session("main")


def _write_block(fork: ic.ForkSession, i: int) -> ic.ForkSession:
    zarr.open_array(fork.store, path="data", mode="r+")[i * 4:(i + 1) * 4] = i + 1
    return fork


def test_thread_pool_write_then_merge_and_commit(tmp_path: Path,
                                                 drive: type[MessageRecorder]) -> None:
    repo, session = _repo_with_array(tmp_path / "r")
    monitor = WriteMonitor(session)
    msgs = drive(monitor)
    early = msgs.custom({"id": 1, "op": "merge_and_commit", "args": {"message": "x"}})
    assert early["error"]["type"] == "SessionStateError"
    with ThreadPoolExecutor(2) as pool:
        futures = [pool.submit(_write_block, session.fork(), i) for i in range(N_BLOCKS)]
        monitor.watch(futures, path="/data", chunks_per_task=1)
        assert monitor.wait(30)
    assert monitor.state == "done" and monitor.progress[0]["percent"] == 100.0
    assert monitor.tasks["done"] == N_BLOCKS and monitor.forks["returned"] == N_BLOCKS
    reply = msgs.custom({"id": 2, "op": "merge_and_commit", "args": {"message": "blocks"}})
    sid = reply["result"]
    assert repo.lookup_branch("main") == sid == monitor.snapshot_id
    assert monitor.forks["merged"] == N_BLOCKS and monitor.state == "committed"
    data = zarr.open_array(repo.readonly_session("main").store, path="data")[:]
    assert (data == np.repeat(np.arange(1, N_BLOCKS + 1), 4)).all()
    assert f"{N_BLOCKS}/{N_BLOCKS} chunks" in monitor._repr_text()
    assert sid[:8] in monitor._repr_mimebundle_()[0]["text/html"]


def test_failed_task_blocks_commit_and_shows_traceback(tmp_path: Path) -> None:
    _, session = _repo_with_array(tmp_path / "r")
    monitor = WriteMonitor(session)
    ok: Future[Any] = Future()
    bad: Future[Any] = Future()
    monitor.watch([ok, bad], path="/data")
    ok.set_result(session.fork())
    try:
        raise RuntimeError("disk full")
    except RuntimeError as exc:
        bad.set_exception(exc)
    assert monitor.wait(5)
    assert monitor.state == "failed" and monitor.tasks["failed"] == 1
    assert "disk full" in monitor.errors[0]["message"]
    assert "RuntimeError" in monitor.errors[0]["traceback"]
    with pytest.raises(ic.SessionStateError, match="1 failed"):
        monitor.merge_and_commit("nope")
    with pytest.raises(ValueError, match="Client"):
        monitor.retry_failed()


def test_cancel_stops_pending_tasks(tmp_path: Path) -> None:
    _, session = _repo_with_array(tmp_path / "r")
    monitor = WriteMonitor(session)
    gate = threading.Event()
    with ThreadPoolExecutor(1) as pool:
        first = pool.submit(gate.wait, 10)
        rest = [pool.submit(_write_block, session.fork(), i) for i in range(3)]
        monitor.watch([first, *rest], path="/data")
        assert monitor.cancel() == 4  # the running one cannot be stopped by a thread pool
        gate.set()
    assert monitor.wait(10) and monitor.tasks["cancelled"] == 3
    assert monitor.state == "cancelled"


@pytest.mark.slow
def test_local_cluster_write_reaches_100_percent(tmp_path: Path) -> None:
    distributed = pytest.importorskip("distributed")
    repo, session = _repo_with_array(tmp_path / "r")

    def write(fork: ic.ForkSession, i: int) -> ic.ForkSession:  # pickled by value
        import zarr as z

        from icechunk_widgets import report_chunks

        z.open_array(fork.store, path="data", mode="r+")[i * 4:(i + 1) * 4] = i + 1
        report_chunks("/events", 1, 16)
        return fork

    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=":0") as cluster, \
            distributed.Client(cluster) as client:
        monitor = WriteMonitor(session, client)
        monitor.subscribe()
        monitor.expect("/events", N_BLOCKS)
        futures = [client.submit(write, session.fork(), i, pure=False) for i in range(N_BLOCKS)]
        monitor.watch(futures, path="/data", chunks_per_task=None)
        assert monitor.wait(60)
        assert monitor.workers["count"] == 2 and monitor.dashboard.startswith("http")
        deadline = time.monotonic() + 10
        while monitor.progress[0]["written"] < N_BLOCKS and time.monotonic() < deadline:
            time.sleep(0.1)  # events travel separately from task results
            monitor._throttle.flush()
        rows = {r["path"]: r for r in monitor.progress}
        assert rows["/data"]["written"] == N_BLOCKS and rows["/data"]["percent"] == 100.0
        assert rows["/events"]["written"] == N_BLOCKS and rows["/events"]["bytes"] == 16 * N_BLOCKS
        sid = monitor.merge_and_commit("distributed blocks")
    data = zarr.open_array(repo.readonly_session(snapshot_id=sid).store, path="data")[:]
    assert (data == np.repeat(np.arange(1, N_BLOCKS + 1), 4)).all()
