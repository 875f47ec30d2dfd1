"""WriteMonitor: live progress of a distributed write through forked sessions.

It watches *future-like* objects (anything with ``add_done_callback``, ``exception`` and
``result``: ``distributed.Future``, ``concurrent.futures.Future``), so it does not depend on
how the write was scheduled (``icechunk.dask``, ``client.submit``, a process pool). Tasks
that return a :class:`~icechunk.ForkSession` are counted as forks returned and are merged
into the watched session by :meth:`WriteMonitor.merge_and_commit`. Workers can also report
per-chunk progress as ``distributed`` events (:func:`report_chunks`) which
:meth:`WriteMonitor.subscribe` receives.
"""

from __future__ import annotations

import threading
import time
import traceback as tb
from collections.abc import Callable, Iterable, Mapping
from typing import Any, ClassVar

import traitlets

import icechunk as ic
from icechunk._html import esc, kv_table, render_box, short_id, table

from ._base import IcechunkWidget, Throttle, load_asset

__all__ = ["EVENT_TOPIC", "WriteMonitor", "progress_rows", "report_chunks"]

EVENT_TOPIC = "icechunk-write"


def report_chunks(path: str, chunks: int = 1, nbytes: int = 0) -> None:
    """Call on a dask worker after writing chunks, to feed a subscribed monitor."""
    from distributed import get_worker

    get_worker().log_event(EVENT_TOPIC, {"path": path, "chunks": chunks, "bytes": nbytes})


def progress_rows(arrays: Mapping[str, Mapping[str, int]], elapsed: float) -> list[dict[str, Any]]:
    """Per array: done/expected chunks, percent, bytes, throughput and ETA (pure)."""
    rows = []
    for path in sorted(arrays):
        a = arrays[path]
        done, expected = a.get("written", 0), a.get("expected", 0)
        rate = done / elapsed if elapsed > 0 else 0.0
        left = max(0, expected - done)
        rows.append(
            {
                "path": path,
                "written": done,
                "expected": expected,
                "percent": 100.0 if expected == 0 else round(100.0 * min(done, expected) / expected, 1),
                "bytes": a.get("bytes", 0),
                "chunks_per_s": round(rate, 2),
                "bytes_per_s": round(a.get("bytes", 0) / elapsed, 1) if elapsed > 0 else 0.0,
                "eta_s": None if rate == 0 else round(left / rate, 1),
            }
        )
    return rows


class WriteMonitor(IcechunkWidget):
    """Progress of a distributed write into ``session``; cancel, retry, merge and commit.

    Parameters
    ----------
    session
        The writable session the forks were made from; it receives the merged forks.
    client
        A ``distributed.Client``: gives the worker count, the dashboard link, cancel and
        retry. Optional.
    rate
        Maximum front-end updates per second (updates are batched).
    """

    _esm = load_asset("common.js", "monitor.js")
    _css = load_asset("common.css")
    _ops: ClassVar[dict[str, str]] = {"cancel": "cancel", "retry_failed": "retry_failed",
            "merge_and_commit": "merge_and_commit"}

    progress: traitlets.List[Any] = traitlets.List([]).tag(sync=True)
    tasks = traitlets.Dict({}).tag(sync=True)
    forks = traitlets.Dict({}).tag(sync=True)
    workers = traitlets.Dict({}).tag(sync=True)
    elapsed = traitlets.Float(0.0).tag(sync=True)
    state = traitlets.Unicode("idle").tag(sync=True)
    errors: traitlets.List[Any] = traitlets.List([]).tag(sync=True)
    dashboard = traitlets.Unicode("").tag(sync=True)
    session_status = traitlets.Dict({}).tag(sync=True)
    snapshot_id = traitlets.Unicode("").tag(sync=True)

    def __init__(self, session: ic.Session, client: Any = None, rate: float = 10.0) -> None:
        super().__init__()
        self.session = session
        self.client = client
        self._lock = threading.Lock()
        self._arrays: dict[str, dict[str, int]] = {}
        self._futures: list[Any] = []
        self._task_path: dict[int, tuple[str | None, int | None]] = {}
        self._counts = {"total": 0, "done": 0, "failed": 0, "cancelled": 0, "retried": 0}
        self._forks = {"created": 0, "returned": 0, "merged": 0}
        self._returned: list[ic.ForkSession] = []
        self._errors: list[dict[str, str]] = []
        self._started: float | None = None
        self._finished = threading.Event()
        self._on_done: list[Callable[[WriteMonitor], None]] = []
        self._throttle = Throttle(self._apply, rate)
        if client is not None:
            self.dashboard = str(getattr(client, "dashboard_link", "") or "")
        self._push()

    # ------------------------------------------------------------------ feeding
    def expect(self, path: str, chunks: int) -> None:
        """Declare that ``chunks`` more chunks of ``path`` will be written."""
        with self._lock:
            self._arrays.setdefault(path, {"expected": 0, "written": 0, "bytes": 0})
            self._arrays[path]["expected"] += chunks
        self._push()

    def watch(self, futures: Iterable[Any], path: str | None = None,
              chunks_per_task: int | None = 1, forks_created: int | None = None) -> None:
        """Track tasks; each finished one adds ``chunks_per_task`` chunks to ``path``.

        ``chunks_per_task=None`` counts, for tasks returning a fork, the chunks that fork
        wrote (``fork.status()``). ``forks_created`` defaults to one fork per task.
        """
        new = list(futures)
        with self._lock:
            self._started = self._started or time.monotonic()
            self._finished.clear()
            self._counts["total"] += len(new)
            self._forks["created"] += len(new) if forks_created is None else forks_created
            if path is not None:
                entry = self._arrays.setdefault(path, {"expected": 0, "written": 0, "bytes": 0})
                entry["expected"] += len(new) * (chunks_per_task or 0)
            for f in new:
                self._task_path[id(f)] = (path, chunks_per_task)
            self._futures.extend(new)
        self._workers()
        self._push({"state": "running"})
        for f in new:
            f.add_done_callback(self._task_done)

    def record(self, path: str, chunks: int = 1, nbytes: int = 0) -> None:
        """Count chunks written (from worker events or any other source)."""
        with self._lock:
            entry = self._arrays.setdefault(path, {"expected": 0, "written": 0, "bytes": 0})
            entry["written"] += chunks
            entry["bytes"] += nbytes
        self._push()

    def subscribe(self, client: Any = None) -> None:
        """Receive :func:`report_chunks` events from the workers of ``client``."""
        client = client or self.client
        if client is None:
            raise ValueError("subscribe needs a distributed.Client")

        def handler(event: Any) -> None:
            _, msg = event
            self.record(str(msg["path"]), int(msg.get("chunks", 1)), int(msg.get("bytes", 0)))

        client.subscribe_topic(EVENT_TOPIC, handler)

    def _task_done(self, future: Any) -> None:
        path, per_task = self._task_path.get(id(future), (None, 1))
        # Read the outcome before taking the lock: distributed's result() waits on the
        # client's event loop, which may itself be waiting for this lock in record().
        cancelled = _cancelled(future)
        error = None if cancelled else future.exception()
        result = None if cancelled or error is not None else future.result()
        with self._lock:
            if cancelled:
                self._counts["cancelled"] += 1
            elif error is not None:
                self._counts["failed"] += 1
                self._errors.append({"message": f"{type(error).__name__}: {error}",
                                     "traceback": "".join(tb.format_exception(error))})
            else:
                self._counts["done"] += 1
                if isinstance(result, ic.ForkSession):
                    self._forks["returned"] += 1
                    self._returned.append(result)
                self._count_chunks(path, per_task, result)
            finished = sum(self._counts[k] for k in ("done", "failed", "cancelled"))
            over = finished >= self._counts["total"]
        self._push()
        if over:
            self._finish()

    def _count_chunks(self, path: str | None, per_task: int | None, result: Any) -> None:
        if per_task is not None:
            if path is not None:
                self._arrays[path]["written"] += per_task
            return
        if isinstance(result, ic.Session):
            for p, chunks in result.status().updated_chunks.items():
                entry = self._arrays.setdefault(p, {"expected": 0, "written": 0, "bytes": 0})
                entry["written"] += len(chunks)
                entry["expected"] = max(entry["expected"], entry["written"])

    def _finish(self) -> None:
        with self._lock:
            c = self._counts
            state = "failed" if c["failed"] else "cancelled" if c["cancelled"] else "done"
        self._push({"state": state})
        self._throttle.flush()
        self._finished.set()
        for callback in self._on_done:
            callback(self)

    # ------------------------------------------------------------------ actions
    def wait(self, timeout: float | None = None) -> bool:
        """Block until every watched task finished; True unless the timeout expired."""
        done = self._finished.wait(timeout)
        self._throttle.flush()
        return done

    def cancel(self) -> int:
        """Cancel every unfinished task; returns how many were asked to stop."""
        pending = [f for f in self._futures if not f.done()]
        if self.client is not None and pending:
            self.client.cancel(pending)
        else:
            for f in pending:
                f.cancel()
        return len(pending)

    def retry_failed(self) -> int:
        """Resubmit failed tasks (needs a distributed client); returns how many."""
        failed = [f for f in self._futures if f.done() and not _cancelled(f)
                  and f.exception() is not None]
        if not failed:
            return 0
        if self.client is None:
            raise ValueError("retrying needs the distributed.Client that ran the tasks")
        with self._lock:
            self._counts["failed"] -= len(failed)
            self._counts["retried"] += len(failed)
            self._errors.clear()
            self._finished.clear()
        self.client.retry(failed)
        for f in failed:
            f.add_done_callback(self._task_done)
        self._push({"state": "running"})
        return len(failed)

    def can_commit(self) -> bool:
        """True once every task succeeded and every fork it returned can be merged."""
        c = self._counts
        return c["total"] > 0 and c["done"] == c["total"] and self.state != "committed"

    def merge_and_commit(self, message: str, metadata: dict[str, Any] | None = None) -> str:
        """Merge every returned fork into the session and commit; returns the snapshot id."""
        if not self.can_commit():
            raise ic.SessionStateError(
                f"cannot commit yet: {self._counts['done']} of {self._counts['total']} tasks "
                f"succeeded ({self._counts['failed']} failed)"
            )
        if not message.strip():
            raise ValueError("write a commit message")
        with self._lock:
            forks, self._returned = list(self._returned), []
        self.session.merge(*forks)
        with self._lock:
            self._forks["merged"] += len(forks)
        sid = self.session.commit(message, metadata)
        self._push({"state": "committed", "snapshot_id": sid})
        self._throttle.flush()
        return sid

    def on_done(self, callback: Callable[[WriteMonitor], None]) -> None:
        """Call ``callback(monitor)`` when every watched task has finished."""
        self._on_done.append(callback)

    # ------------------------------------------------------------------ internals
    def _workers(self) -> None:
        if self.client is None:
            return
        try:
            info = self.client.scheduler_info()
        except Exception:  # a closed client must not break the monitor
            return
        workers = info.get("workers", {})
        active = sum(1 for w in workers.values() if w.get("metrics", {}).get("executing", 0))
        self._push({"workers": {"count": len(workers), "active": active}})

    def _snapshot_state(self) -> dict[str, Any]:
        with self._lock:
            elapsed = 0.0 if self._started is None else time.monotonic() - self._started
            return {
                "progress": progress_rows(self._arrays, elapsed),
                "tasks": dict(self._counts),
                "forks": dict(self._forks),
                "elapsed": round(elapsed, 2),
                "errors": list(self._errors[-20:]),
            }

    def _push(self, extra: Mapping[str, Any] | None = None) -> None:
        self._throttle.push({**self._snapshot_state(), **(extra or {})})

    def _apply(self, batch: dict[str, Any]) -> None:
        if batch.get("state") in ("done", "committed"):
            status = self.session.status()
            batch["session_status"] = {
                "arrays": len(status.new_arrays | status.updated_arrays),
                "chunks": sum(len(v) for v in status.updated_chunks.values()),
            }
        with self.hold_sync():
            for name, value in batch.items():
                setattr(self, name, value)

    # ------------------------------------------------------------------ display
    def _repr_text(self) -> str:
        t = self.tasks
        lines = [f"WriteMonitor: {self.state}, {t.get('done', 0)}/{t.get('total', 0)} tasks, "
                 f"{t.get('failed', 0)} failed, {self.elapsed:.1f} s"]
        lines += [f"  {r['path']}: {r['written']}/{r['expected']} chunks ({r['percent']}%)"
                  for r in self.progress]
        if self.snapshot_id:
            lines.append(f"  committed {self.snapshot_id}")
        return "\n".join(lines)

    def _repr_static_html(self) -> str:
        rows = [[f"<code>{esc(r['path'])}</code>", f"{r['written']} / {r['expected']}",
                 f"{r['percent']}%", str(r["bytes"])] for r in self.progress]
        t, f = self.tasks, self.forks
        facts = kv_table([
            ("state", esc(self.state)),
            ("tasks", esc(f"{t.get('done', 0)} done of {t.get('total', 0)}, "
                          f"{t.get('failed', 0)} failed, {t.get('retried', 0)} retried")),
            ("forks", esc(f"{f.get('created', 0)} created, {f.get('returned', 0)} returned, "
                          f"{f.get('merged', 0)} merged")),
            ("duration", esc(f"{self.elapsed:.1f} s")),
            ("snapshot", short_id(self.snapshot_id) if self.snapshot_id else "— (not committed)"),
        ])
        return render_box("Icechunk write", facts + table(["array", "chunks", "done", "bytes"],
                                                          rows))


def _cancelled(future: Any) -> bool:
    status = getattr(future, "status", None)
    if status is not None:
        return bool(status == "cancelled")
    return bool(future.cancelled())
