"""Expiration, garbage collection and manifest rewrites SIGKILLed at random points.

One local repository grows in rounds (commits on ``main``, tags, a branch committed to
and deleted, chunks written by a session that never commits), and each round a
:mod:`maint_writer` process runs ``expire_snapshots``, ``garbage_collect`` or
``rewrite_manifests`` on it and is killed: by itself at a chosen put or delete (inside
a batch delete: after the keys before it went), or by this process after a random
delay. After every kill:

* the repository opens; branches and tags are those from before;
* ``main`` is what it was, or expired (the same tip and a sub-sequence of its history),
  or rewritten (a new tip on top of the old one, with the same content);
* every object the repo file reaches exists and decodes, and every snapshot a branch or
  tag reaches reads back bit-identical to the record made when it was committed (read
  back every fifth round and in the last one; objects are immutable, so in between the
  audit that every reachable object is present carries the proof);
* a follow-up garbage collection completes and reclaims every unreachable snapshot,
  transaction log, manifest and chunk, and the same checks pass after it.

Seeds are fixed. ``ICECHUNK_SOAK=1`` (``make soak``) runs many more rounds.
"""

from __future__ import annotations

import datetime as dt
import multiprocessing as mp
import os
import random
import signal
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import maint_writer
import numpy as np
import zarr
from audit import audit, digest_of, digest_store, garbage
from children import run_killable
from figures import report

import icechunk as ic

SOAK = os.environ.get("ICECHUNK_SOAK") == "1"
ROUNDS = 100 if SOAK else 9


@dataclass(frozen=True)
class Before:
    branches: dict[str, str]
    tags: dict[str, str]
    main: list[str]


def _edit(session: ic.Session, seed: int) -> None:
    data = np.random.default_rng(seed).standard_normal(300)  # incompressible: chunk files
    zarr.open_array(session.store, path="x", mode="r+")[:] = data
    zarr.open_group(session.store, mode="r+").attrs["seed"] = seed


def grow(repo: ic.Repository, rng: random.Random, record: dict[str, str], rnd: int) -> None:
    """Two commits on main, maybe a tag, a deleted branch's commit, uncommitted chunks."""
    for i in range(2):
        session = repo.writable_session("main")
        _edit(session, rng.getrandbits(32))
        digest = digest_store(session.store)
        record[session.commit(f"round {rnd}.{i}")] = digest
    tip = repo.lookup_branch("main")
    if rng.random() < 0.5:
        repo.create_tag(f"t{rnd}", tip)
    repo.create_branch("side", tip)
    session = repo.writable_session("side")
    _edit(session, rng.getrandbits(32))
    record[session.commit(f"side {rnd}")] = digest_store(session.store)
    repo.delete_branch("side")
    _edit(repo.writable_session("main"), rng.getrandbits(32))  # never committed


def state(repo: ic.Repository) -> Before:
    branches = {b: repo.lookup_branch(b) for b in repo.list_branches()}
    tags = {t: repo.lookup_tag(t) for t in repo.list_tags()}
    return Before(branches, tags, [info.id for info in repo.ancestry(branch="main")])


def plan(rng: random.Random, repo: ic.Repository, before: Before, rnd: int) -> list[str]:
    """Arguments of one maint_writer run: operation, cutoff, crash op, index, when."""
    operation = ["gc", "expire", "rewrite"][rnd % 3]
    if operation == "expire":
        keep_from = rng.randrange(1, max(2, len(before.main) - 1))
        cutoff = repo.lookup_snapshot(before.main[keep_from - 1]).written_at
    else:
        cutoff = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=2)
    crash_op = "delete" if operation == "gc" and rng.random() < 0.6 else "put"
    crash_at = rng.randrange({"expire": 2, "gc": 2, "rewrite": 6}[operation])
    if crash_op == "delete":
        crash_at = rng.randrange(12)  # the leftovers of one round and more
    return [operation, cutoff.isoformat(), crash_op, str(crash_at), rng.choice(["before", "after"])]


def is_subsequence(short: list[str], long: list[str]) -> bool:
    remaining = iter(long)
    return all(item in remaining for item in short)


def check(path: Path, before: Before, record: dict[str, str], verified: set[str]) -> int:
    """Every check of the module docstring but the follow-up GC; returns snapshots read.

    Snapshots in ``verified`` are not read back again (their objects are immutable and
    :func:`audit` checks they are all still there); newly read ones are added to it."""
    storage = ic.local_filesystem_storage(str(path))
    repo = ic.Repository.open(storage)
    after = state(repo)
    assert after.tags == before.tags
    assert set(after.branches) == set(before.branches) == {"main"}
    if after.main[0] == before.main[0]:  # untouched, or expired
        assert is_subsequence(after.main, before.main), "expiration only drops history"
        assert after.main[-1] == before.main[-1]
    else:  # rewritten: one new snapshot on the old tip, same content
        assert after.main[1:] == before.main, "a rewrite adds exactly one commit"
        record[after.main[0]] = record[before.main[0]]
    checked: set[str] = set()
    verified_before = set(verified)
    for head in [*after.branches.values(), *after.tags.values()]:
        for info in repo.ancestry(snapshot_id=head):
            if info.parent_id is None or info.id in checked:
                continue
            checked.add(info.id)
            if info.id not in verified:
                assert digest_of(repo, info.id) == record[info.id], info.message
                verified.add(info.id)
    audit(storage)
    return len(checked - verified_before)


def test_sigkilled_maintenance_never_damages_reachable_data(
    tmp_path: Path, processes: mp.context.ForkServerContext
) -> None:
    path = tmp_path / "repo"
    storage = ic.local_filesystem_storage(str(path))
    repo = ic.Repository.create(storage)
    session = repo.writable_session("main")
    zarr.create_group(session.store).create_array("x", shape=(300,), chunks=(100,), dtype="f8")
    record: dict[str, str] = {}
    record[session.commit("arrays")] = digest_store(session.store)
    rng = random.Random(20261123)
    tally: Counter[str] = Counter()
    for rnd in range(ROUNDS):
        grow(repo, rng, record, rnd)
        before = state(repo)
        args = plan(rng, repo, before, rnd)
        kill_after = rng.uniform(0.05, 0.5) if rng.random() < 0.2 else 0.0
        code = run_killable(processes, maint_writer.run, (str(path), *args), kill_after)
        tally[f"{args[0]}_runs"] += 1
        tally["crashes_injected"] += code == -signal.SIGKILL
        full = rnd % 5 == 4 or rnd == ROUNDS - 1  # read everything back now and then
        check(path, before, record, set() if full else set(record))
        tally["crashes_survived"] += code == -signal.SIGKILL
        # A follow-up collection completes and leaves no garbage behind.
        repo = ic.Repository.open(storage)
        leftovers = garbage(audit(storage))
        repo.garbage_collect(dt.datetime.now(dt.UTC) + dt.timedelta(seconds=2))
        assert garbage(audit(storage)) == set(), "the follow-up GC reclaims every leftover"
        tally["leftovers_reclaimed"] += len(leftovers)
        tally["snapshots_verified"] += check(
            path, state(repo), record, set() if full else set(record)
        )
    tally["temp_files_left"] = len(list(path.rglob(".icechunk-tmp-*")))
    report("crash consistency (expire/GC/rewrite)", {"rounds": ROUNDS, **tally})
    assert tally["crashes_injected"] >= ROUNDS // 2, "most runs must actually be killed"
    assert tally["leftovers_reclaimed"] > 0
