"""Several processes commit to one branch of one repository (local or S3) at the same time.

Each attempt must either land or raise ConflictError; every landed commit must be in
the branch's ancestry exactly once, and the ancestry must be a single linear chain.
"""

from __future__ import annotations

import multiprocessing as mp

import numpy as np
import zarr

import icechunk as ic
from engine.storage_kinds import NewStorage

WORKERS = 4
ATTEMPTS = 6


def _worker(repo: ic.Repository, worker: int, queue: mp.Queue) -> None:  # type: ignore[type-arg]
    landed, conflicts = [], 0
    for attempt in range(ATTEMPTS):
        session = repo.writable_session("main")
        arr = zarr.open_array(session.store, path="counts")
        arr[worker * ATTEMPTS + attempt] = worker + 1
        try:
            landed.append(session.commit(f"w{worker}-{attempt}"))
        except ic.ConflictError:
            conflicts += 1
    queue.put((landed, conflicts))


def test_racing_commits_land_or_conflict(new_storage: NewStorage) -> None:
    repo = ic.Repository.create(new_storage())  # pickled into each spawned worker
    session = repo.writable_session("main")
    zarr.create_array(session.store, name="counts", shape=(WORKERS * ATTEMPTS,), chunks=(1,), dtype="i4")
    base = session.commit("setup")

    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    procs = [ctx.Process(target=_worker, args=(repo, w, queue)) for w in range(WORKERS)]
    for p in procs:
        p.start()
    results = [queue.get(timeout=240) for _ in procs]
    for p in procs:
        p.join(timeout=60)
        assert p.exitcode == 0

    landed = [sid for ids, _ in results for sid in ids]
    conflicts = sum(c for _, c in results)
    assert len(landed) + conflicts == WORKERS * ATTEMPTS
    assert landed, "at least one commit must land"
    history = [info.id for info in repo.ancestry(branch="main")]
    assert len(history) == len(set(history))
    assert set(landed) == set(history) - {base, history[-1]}
    # Every landed commit's write is visible at the tip; nothing landed was lost.
    values = zarr.open_array(repo.readonly_session("main").store, path="counts", mode="r")[:]
    messages = {info.message for info in repo.ancestry(branch="main")}
    for w in range(WORKERS):
        for a in range(ATTEMPTS):
            expected = w + 1 if f"w{w}-{a}" in messages else 0
            assert values[w * ATTEMPTS + a] == expected, (w, a)
    assert np.count_nonzero(values) == len(landed)
