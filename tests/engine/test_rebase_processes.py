"""Four processes each make ten commits on one branch, rebasing with ConflictDetector.

Every process writes only its own chunks, so every rebase succeeds: all 40 commits must
land, the branch's ancestry must be one linear chain holding each of them exactly once,
every written value must be readable at the tip, and each commit's transaction log must
name exactly the chunk its process wrote.
"""

from __future__ import annotations

import itertools
import multiprocessing as mp

import numpy as np
import zarr

import icechunk as ic
from engine.storage_kinds import NewStorage

WORKERS = 4
COMMITS = 10


def _worker(repo: ic.Repository, worker: int, start: mp.synchronize.Event, queue: mp.Queue) -> None:  # type: ignore[type-arg]
    start.wait()
    landed, rebased = [], 0
    for step in range(COMMITS):
        session = repo.writable_session("main")
        started_on = session.snapshot_id
        zarr.open_array(session.store, path="grid")[worker, step] = worker * 100 + step + 1
        sid = session.commit(f"w{worker}-{step}", rebase_with=ic.ConflictDetector())
        landed.append(sid)
        rebased += repo.lookup_snapshot(sid).parent_id != started_on
    queue.put((worker, landed, rebased))


def test_every_rebased_commit_lands(new_storage: NewStorage) -> None:
    repo = ic.Repository.create(new_storage())  # pickled into each spawned worker
    session = repo.writable_session("main")
    zarr.create_array(
        session.store, name="grid", shape=(WORKERS, COMMITS), chunks=(1, 1), dtype="i4"
    )
    base = session.commit("setup")

    ctx = mp.get_context("spawn")
    start, queue = ctx.Event(), ctx.Queue()
    procs = [ctx.Process(target=_worker, args=(repo, w, start, queue)) for w in range(WORKERS)]
    for proc in procs:
        proc.start()
    start.set()  # all processes race from here on
    outputs = [queue.get(timeout=240) for _ in procs]
    results = {worker: sids for worker, sids, _ in outputs}
    for proc in procs:
        proc.join(timeout=60)
        assert proc.exitcode == 0

    # The processes really raced: some commits landed only after a rebase.
    assert sum(rebased for _, _, rebased in outputs) > 0
    landed = {sid: (w, step) for w, sids in results.items() for step, sid in enumerate(sids)}
    assert len(landed) == WORKERS * COMMITS
    chain = list(repo.ancestry(branch="main"))
    ids = [snap.id for snap in chain]
    assert len(ids) == len(set(ids))  # linear: no snapshot twice
    assert ids[-2:] == [base, "1CECHNKREP0F1RSTCMT0"]
    assert set(ids[:-2]) == set(landed)
    for child, parent in itertools.pairwise(chain):
        assert child.parent_id == parent.id
    # Each process's own commits keep their order in the shared history.
    for worker in range(WORKERS):
        mine = [landed[i][1] for i in reversed(ids[:-2]) if landed[i][0] == worker]
        assert mine == list(range(COMMITS))

    grid = zarr.open_array(repo.readonly_session("main").store, path="grid")[:]
    expected = np.arange(COMMITS)[None, :] + 1 + 100 * np.arange(WORKERS)[:, None]
    np.testing.assert_array_equal(grid, expected)
    for sid, (worker, step) in landed.items():
        parent = repo.lookup_snapshot(sid).parent_id
        assert parent is not None
        diff = repo.diff(from_snapshot_id=parent, to_snapshot_id=sid)
        assert diff.updated_chunks == {"/grid": [[worker, step]]}
