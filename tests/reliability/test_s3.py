"""Racing writers, readers, SIGKILLs and lost responses against S3 (moto on loopback).

The S3 server runs in this process (``servers.fixtures.s3_server``); writer and reader
processes are forked from a forkserver and reach it over 127.0.0.1, so every commit is a
real conditional ``PUT`` (``If-Match``) racing others on one server.

* Racing commits without rebase: every commit lands or raises ``ConflictError``; the
  landed ones are exactly main's history (nothing lost or duplicated, one linear chain)
  and the tip holds every landed write.
* With ``rebase_with``: every commit lands.
* A reader polling main meanwhile only ever sees complete snapshots: exactly the writes
  of the commits in its ancestry, in both arrays each commit writes.
* Writers SIGKILLed at a put while committing: the repository opens, acknowledged
  commits are on main, every snapshot on main reads back bit-identical, every object the
  repo file reaches exists.
* A lost response to the conditional ``PUT`` of the repo file (or a retry meeting its
  own write) during a commit, a ref update, an expiration or a garbage collection:
  success, once, as on the local filesystem.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import signal
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import s3_workers
import zarr
from audit import audit, digest_of, garbage
from faults import Fault, FaultyStorage
from figures import report
from servers import S3Bucket

import icechunk as ic
from icechunk.storage.s3 import s3_storage

SOAK = os.environ.get("ICECHUNK_SOAK") == "1"
WORKERS = 4 if SOAK else 3
ATTEMPTS = 10 if SOAK else 4
CRASH_RUNS = 30 if SOAK else 5


def _kwargs(bucket: S3Bucket, prefix: str = "repo") -> dict[str, Any]:
    return bucket.endpoint.storage_kwargs(bucket.bucket, prefix)


def _setup_arrays(kwargs: dict[str, Any]) -> tuple[ic.Repository, str]:
    repo = ic.Repository.create(s3_storage(**kwargs))
    session = repo.writable_session("main")
    root = zarr.create_group(session.store)
    for name in s3_workers.ARRAYS:
        root.create_array(name, shape=(WORKERS * ATTEMPTS,), chunks=(1,), dtype="i4")
    return repo, session.commit("setup")


@pytest.mark.parametrize("rebase", [False, True], ids=["plain", "rebase"])
def test_racing_commits_on_s3_land_or_conflict_and_readers_see_whole_commits(
    s3_bucket: S3Bucket,
    processes: Any,
    rebase: bool,
) -> None:
    kwargs = _kwargs(s3_bucket)
    repo, base = _setup_arrays(kwargs)
    queue, reader_queue, stop = processes.Queue(), processes.Queue(), processes.Event()
    reader = processes.Process(target=s3_workers.reader, args=(kwargs, stop, reader_queue))
    reader.start()
    writers = [
        processes.Process(target=s3_workers.committer, args=(kwargs, w, ATTEMPTS, rebase, queue))
        for w in range(WORKERS)
    ]
    for proc in writers:
        proc.start()
    results = [queue.get(timeout=300) for _ in writers]
    stop.set()
    polled = reader_queue.get(timeout=300)
    for proc in [*writers, reader]:
        proc.join(timeout=60)
    assert all(isinstance(r, tuple) for r in results), results
    assert isinstance(polled, tuple), polled

    landed = [item for ids, _ in results for item in ids]
    conflicts = sum(c for _, c in results)
    assert len(landed) + conflicts == WORKERS * ATTEMPTS
    if rebase:
        assert conflicts == 0, "with rebase every disjoint commit lands"
    history = [info.id for info in repo.ancestry(branch="main")]
    assert len(history) == len(set(history)), "one chain, no repeats"
    assert history[-2:] == [base, history[-1]]
    lost = {sid for sid, _ in landed} - set(history)
    assert sorted(history[:-2]) == sorted(sid for sid, _ in landed), "none lost, none extra"
    s3_workers.check_snapshot(repo, history[0])
    figures = {"commits_attempted": WORKERS * ATTEMPTS, "commits_landed": len(landed)}
    figures.update(conflicts=conflicts, commits_lost=len(lost), reader_polls=polled[0])
    report(f"S3 racing commits ({'rebase' if rebase else 'plain'})", figures)


def _journal(log: Path) -> list[dict[str, str]]:
    return [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []


def test_writers_sigkilled_while_committing_on_s3(
    s3_bucket: S3Bucket, processes: Any, tmp_path: Path
) -> None:
    kwargs = _kwargs(s3_bucket)
    repo = ic.Repository.create(s3_storage(**kwargs))
    session = repo.writable_session("main")
    zarr.create_array(session.store, name="data", shape=(300,), chunks=(100,), dtype="f8")
    session.commit("setup", metadata={"digest": ""})
    log = tmp_path / "journal"
    tally: Counter[str] = Counter()
    verified: set[str] = set()  # snapshots are immutable: read each one once
    for run in range(CRASH_RUNS):
        # Each commit puts chunks, manifest, transaction log, snapshot, backup and repo.
        crash_at, when = 3 + (run * 7) % 40, ["before", "after"][run % 2]
        proc = processes.Process(
            target=s3_workers.crasher, args=(kwargs, str(log), run, crash_at, when)
        )
        proc.start()
        proc.join(timeout=300)
        assert proc.exitcode == -signal.SIGKILL, f"writer must die at its put, got {proc.exitcode}"
        tally["crashes_injected"] += 1
        records = _journal(log)
        repo = ic.Repository.open(s3_storage(**kwargs))
        main = list(repo.ancestry(branch="main"))
        ids = [info.id for info in main]
        assert len(ids) == len(set(ids))
        acked = {r["sid"]: r["digest"] for r in records if "sid" in r}
        assert not set(acked) - set(ids), "acknowledged commits are on main"
        assert len([i for i in ids[:-2] if i not in acked]) <= tally["crashes_injected"]
        for info in main[:-2]:
            if info.id not in verified:
                assert digest_of(repo, info.id) == info.metadata["digest"], info.id
                verified.add(info.id)
        audit(s3_storage(**kwargs))
        tally["crashes_survived"] += 1
        tally["commits_attempted"] = sum("intent" in r for r in records)
        tally["commits_acknowledged"] = len(acked)
        tally["commits_landed"] = len(ids) - 2
        tally["commits_lost"] = len(set(acked) - set(ids))
    report("S3 crashes while committing", tally)
    assert tally["commits_acknowledged"] > 0


# --------------------------------------------------------------------------- lost responses
def _world(bucket: S3Bucket) -> tuple[ic.Storage, str]:
    storage = bucket.storage("lossy")
    repo = ic.Repository.create(storage)
    session = repo.writable_session("main")
    zarr.create_array(session.store, name="x", shape=(400,), chunks=(100,), dtype="f8")[:] = (
        np.arange(400.0)
    )
    first = session.commit("one")
    session = repo.writable_session("main")
    zarr.open_array(session.store, path="x", mode="r+")[:] = -np.arange(400.0)
    session.commit("two")
    return storage, first


@pytest.mark.parametrize("kind", ["lost_response", "retried"])
def test_lost_response_to_the_conditional_put_on_s3(s3_bucket: S3Bucket, kind: str) -> None:
    inner, first = _world(s3_bucket)
    lossy = FaultyStorage(inner)
    repo = ic.Repository.open(lossy)

    def once(action: Any) -> Any:
        lossy.faults = [Fault("put", kind, prefix="repo")]  # type: ignore[arg-type]
        result = action()
        assert lossy.fired.pop() == ("put", kind, "repo")
        return result

    ops = len(list(repo.ops_log()))
    session = repo.writable_session("main")
    zarr.open_array(session.store, path="x", mode="r+")[:10] = 7.0
    sid = once(lambda: session.commit("three"))
    once(lambda: repo.create_tag("v1", sid))
    once(lambda: repo.create_branch("dev", first))
    once(lambda: repo.delete_branch("dev"))
    cutoff = repo.lookup_snapshot(sid).written_at
    once(lambda: repo.expire_snapshots(cutoff))
    once(lambda: repo.garbage_collect(dt.datetime.now(dt.UTC) + dt.timedelta(seconds=2)))
    fresh = ic.Repository.open(inner)
    assert len(list(fresh.ops_log())) == ops + 6, "each operation is recorded exactly once"
    assert [i.message for i in fresh.ancestry(branch="main")] == ["three", "Repository initialized"]
    assert fresh.list_tags() == {"v1"} and fresh.list_branches() == {"main"}
    values = zarr.open_array(fresh.readonly_session("main").store, path="x", mode="r")[:]
    np.testing.assert_array_equal(values, np.r_[np.full(10, 7.0), -np.arange(10.0, 400.0)])
    assert garbage(audit(inner)) == set()
