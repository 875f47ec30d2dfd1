"""A writer process for the crash-consistency tests; it is meant to be SIGKILLed.

Usage: ``crash_writer.py REPO LOG SEED STEPS CRASH_AT WHEN``

Opens the local repository ``REPO`` (creating it if absent) and performs ``STEPS`` random
operations chosen by ``SEED``: array writes, attribute changes, array deletes and
commits on ``main``; branch creates/resets/deletes and tag creates/deletes. Each commit
carries the SHA-256 digest of the session content it was made from in its metadata, so
a checker can prove it reads back bit-identical. Before an operation an ``intent`` line
is appended to ``LOG``, after it returns a ``done`` line (fsynced), so the checker knows
which operations were acknowledged.

With ``CRASH_AT >= 0`` the process SIGKILLs itself at the ``CRASH_AT``-th storage put,
``WHEN`` ("before" or "after") the request reaches storage; the parent may also kill it
at any moment.
"""

from __future__ import annotations

import json
import os
import random
import sys
from pathlib import Path

import numpy as np
import zarr

sys.path.insert(0, str(Path(__file__).parent))

from audit import digest_store
from faults import Fault, FaultyStorage

import icechunk as ic

ARRAYS = {"a": (64, 16), "b": (40, 8), "g/c": (30, 30)}


class Journal:
    def __init__(self, path: str) -> None:
        self.fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)

    def write(self, **record: object) -> None:
        os.write(self.fd, (json.dumps(record) + "\n").encode())
        os.fsync(self.fd)


def open_repo(path: str, crash_at: int, when: str) -> ic.Repository:
    inner = ic.local_filesystem_storage(path)
    faults = [Fault("put", "crash", skip=crash_at, when=when)] if crash_at >= 0 else []  # type: ignore[arg-type]
    storage = FaultyStorage(inner, faults)
    if not ic.Repository.exists(inner):
        ic.Repository.create(inner)
    return ic.Repository.open(storage)


def edit(session: ic.Session, rng: random.Random) -> None:
    root = zarr.open_group(session.store, mode="a")
    for _ in range(rng.randint(1, 3)):
        name = rng.choice(sorted(ARRAYS))
        n, chunk = ARRAYS[name]
        roll = rng.random()
        if name not in root or roll < 0.1:
            if name in root:
                del root[name]
            root.create_array(name, shape=(n,), chunks=(chunk,), dtype="float64", fill_value=0.0)
            continue
        if roll < 0.2:
            root.attrs[f"k{rng.randint(0, 5)}"] = rng.randint(0, 1000)
            continue
        array = root[name]
        assert isinstance(array, zarr.Array)
        start = rng.randrange(n)
        stop = rng.randint(start + 1, n)
        data = np.random.default_rng(rng.getrandbits(32)).standard_normal(stop - start)
        array[start:stop] = data


def ref_op(repo: ic.Repository, rng: random.Random, tag: str, journal: Journal) -> None:
    tip = repo.lookup_branch("main")
    branches = sorted(repo.list_branches() - {"main"})
    tags = sorted(repo.list_tags())
    roll = rng.random()
    if roll < 0.3 or not branches:
        op, args = "create_branch", (f"b{tag}", tip)
    elif roll < 0.5:
        op, args = "reset_branch", (rng.choice(branches), tip)
    elif roll < 0.6:
        op, args = "delete_branch", (rng.choice(branches),)
    elif roll < 0.9 or not tags:
        op, args = "create_tag", (f"t{tag}", tip)
    else:
        op, args = "delete_tag", (rng.choice(tags),)
    journal.write(intent=op, args=list(args))
    getattr(repo, op)(*args)
    journal.write(done=op, args=list(args))


def run(path: str, log: str, seed: str, steps: str, crash_at: str, when: str) -> None:
    """The whole writer (the command line's arguments); also a forkserver child's target."""
    rng = random.Random(int(seed))
    journal = Journal(log)
    repo = open_repo(path, int(crash_at), when)
    for step in range(int(steps)):
        if rng.random() < 0.25:
            ref_op(repo, rng, f"{seed}-{step}", journal)
            continue
        session = repo.writable_session("main")
        edit(session, rng)
        digest = digest_store(session.store)
        journal.write(intent="commit", step=step, digest=digest)
        sid = session.commit(f"step {seed}/{step}", metadata={"digest": digest})
        journal.write(done="commit", sid=sid, digest=digest)
    journal.write(finished=True)


if __name__ == "__main__":
    run(*sys.argv[1:7])
