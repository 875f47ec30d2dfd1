"""Racing writers with rebase, through storage that loses responses to the repo swap.

Several processes commit disjoint chunks to ``main`` with ``rebase_with``; every third
``repo`` put of each process has its response lost (the client retries and meets its own
write). Every commit must land exactly once: the ancestry is one chain holding each
acknowledged commit once, and the tip holds every write. (Racing without rebase:
tests/engine/test_concurrency.py.)
"""

from __future__ import annotations

import multiprocessing as mp
import sys
from pathlib import Path

import numpy as np
import zarr

import icechunk as ic

WORKERS = 3
ATTEMPTS = 4


def _worker(path: str, worker: int, queue: mp.Queue) -> None:  # type: ignore[type-arg]
    sys.path.insert(0, str(Path(__file__).parent))
    from faults import Fault, FaultyStorage

    storage = FaultyStorage(ic.local_filesystem_storage(path), [])
    repo = ic.Repository.open(storage)
    landed = []
    try:
        for attempt in range(ATTEMPTS):
            session = repo.writable_session("main")
            zarr.open_array(session.store, path="counts")[worker * ATTEMPTS + attempt] = worker + 1
            storage.faults = [Fault("put", "retried", prefix="repo", skip=attempt % 3)]
            sid = session.commit(f"w{worker}-{attempt}", rebase_with=ic.ConflictDetector())
            landed.append(sid)
    except Exception as err:  # report it instead of leaving the parent waiting
        queue.put(f"worker {worker}: {type(err).__name__}: {err}")
        return
    queue.put((landed, len(storage.fired)))


def test_rebasing_writers_with_lost_responses_land_every_commit_once(tmp_path: Path) -> None:
    path = str(tmp_path / "repo")
    repo = ic.Repository.create(ic.local_filesystem_storage(path))
    session = repo.writable_session("main")
    zarr.create_array(session.store, name="counts", shape=(WORKERS * ATTEMPTS,), chunks=(1,), dtype="i4")
    base = session.commit("setup")

    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    procs = [ctx.Process(target=_worker, args=(path, w, queue)) for w in range(WORKERS)]
    for p in procs:
        p.start()
    results = [queue.get(timeout=300) for _ in procs]
    assert all(isinstance(r, tuple) for r in results), [r for r in results if isinstance(r, str)]
    for p in procs:
        p.join(timeout=60)
        assert p.exitcode == 0

    landed = [sid for ids, _ in results for sid in ids]
    assert sum(fired for _, fired in results) > 0, "lost responses were injected"
    history = [info.id for info in repo.ancestry(branch="main")]
    assert len(history) == len(set(history))
    assert set(landed) == set(history) - {base, history[-1]}
    assert len(landed) == WORKERS * ATTEMPTS
    values = zarr.open_array(repo.readonly_session("main").store, path="counts", mode="r")[:]
    expected = np.repeat(np.arange(1, WORKERS + 1), ATTEMPTS)
    np.testing.assert_array_equal(values, expected)
