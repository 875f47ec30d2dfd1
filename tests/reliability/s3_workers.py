"""Process bodies of the S3 reliability tests (started from a forkserver that preloads this).

Every function gets the keyword arguments of ``icechunk.s3_storage`` for one repository
on the test's S3 server (a loopback moto, shared by all processes) and reports through
a multiprocessing queue or, when it may be SIGKILLed, an fsynced journal file.
"""

from __future__ import annotations

import json
import os
import random
import sys
from pathlib import Path
from typing import Any

import numpy as np
import zarr

sys.path.insert(0, str(Path(__file__).parent))

from audit import digest_store
from faults import Fault, FaultyStorage

import icechunk as ic
from icechunk.storage.s3 import s3_storage

#: Each commit writes ``value`` at its own index of both arrays and names the index in
#: its metadata, so a reader can tell a complete snapshot from a partial one.
ARRAYS = ("counts", "mirror")


def committer(kwargs: dict[str, Any], worker: int, attempts: int, rebase: bool, queue: Any) -> None:
    """Commit ``attempts`` times to main; report (landed [(sid, index)], conflicts)."""
    repo = ic.Repository.open(s3_storage(**kwargs))
    landed: list[tuple[str, int]] = []
    conflicts = 0
    try:
        for attempt in range(attempts):
            index = worker * attempts + attempt
            session = repo.writable_session("main")
            for name in ARRAYS:
                zarr.open_array(session.store, path=name, mode="r+")[index] = worker + 1
            detector = ic.ConflictDetector() if rebase else None
            try:
                sid = session.commit(
                    f"w{worker}-{attempt}", metadata={"index": index}, rebase_with=detector
                )
            except ic.ConflictError:
                conflicts += 1
                continue
            landed.append((sid, index))
    except Exception as err:  # report it instead of leaving the parent waiting
        queue.put(f"worker {worker}: {type(err).__name__}: {err}")
        return
    queue.put((landed, conflicts))


def check_snapshot(repo: ic.Repository, sid: str) -> None:
    """The snapshot holds exactly the writes of the commits in its ancestry."""
    expected = {
        int(i.metadata["index"]) for i in repo.ancestry(snapshot_id=sid) if "index" in i.metadata
    }
    store = repo.readonly_session(snapshot_id=sid).store
    counts, mirror = (zarr.open_array(store, path=name, mode="r")[:] for name in ARRAYS)
    assert set(np.flatnonzero(counts).tolist()) == expected, (sid, counts, expected)
    np.testing.assert_array_equal(counts, mirror)


def reader(kwargs: dict[str, Any], stop: Any, queue: Any) -> None:
    """Poll main until ``stop`` is set; report (polls, distinct snapshots) or an error."""
    repo = ic.Repository.open(s3_storage(**kwargs))
    seen: set[str] = set()
    polls = 0
    try:
        while not stop.is_set() or polls == 0:
            sid = repo.lookup_branch("main")
            polls += 1
            if sid not in seen:
                check_snapshot(repo, sid)
                seen.add(sid)
    except BaseException as err:
        queue.put(f"reader: {type(err).__name__}: {err}")
        return
    queue.put((polls, len(seen)))


def crasher(kwargs: dict[str, Any], log: str, seed: int, crash_at: int, when: str) -> None:
    """Commit random writes to main until SIGKILLed at the ``crash_at``-th put.

    Journal lines (fsynced): ``{"intent": digest}`` before a commit, ``{"sid", "digest"}``
    after it returned."""
    rng = random.Random(seed)
    rule = Fault("put", "crash", skip=crash_at, when=when)  # type: ignore[arg-type]
    repo = ic.Repository.open(FaultyStorage(s3_storage(**kwargs), [rule]))
    fd = os.open(log, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)

    def journal(**record: object) -> None:
        os.write(fd, (json.dumps(record) + "\n").encode())
        os.fsync(fd)

    for _ in range(50):
        session = repo.writable_session("main")
        array = zarr.open_array(session.store, path="data", mode="r+")
        start = rng.randrange(array.shape[0])
        array[start:] = np.random.default_rng(rng.getrandbits(32)).standard_normal(
            array.shape[0] - start
        )
        digest = digest_store(session.store)
        journal(intent=digest)
        sid = session.commit(f"crash {seed}", metadata={"digest": digest})
        journal(sid=sid, digest=digest)
