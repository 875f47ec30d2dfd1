"""Storage faults during snapshot expiration, garbage collection and manifest rewrites.

Every test builds one repository with garbage to find (see :func:`build`), records the
content of every snapshot a branch or tag reaches, then runs one maintenance operation
through a :class:`~faults.FaultyStorage` with one fault rule. Each fault has one defined
outcome (docs/guarantees.md):

* a failed or torn write, or a failed read, before the repo file's compare-and-swap: a
  :class:`~icechunk.StorageError`, nothing changed, nothing deleted;
* a lost response to that swap (or a client retry meeting its own write): success, once;
* a failed, partial or unacknowledged batch delete: garbage collection reports the
  objects in ``objects_failed_to_delete`` and skips the later phases (it never deletes
  what a surviving object refers to), or a failed listing raises ``StorageError``;
* slow storage: success.

Never data loss: afterwards every reachable snapshot reads back bit-identical and every
object the repo file reaches exists; running the operation again (without faults)
converges to the state a fault-free run reaches: the same history, and no garbage left.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, replace

import numpy as np
import pytest
import zarr
from audit import audit, digest_of, garbage
from faults import Fault, FaultyStorage, InjectedFault
from zarr.core.sync import sync

import icechunk as ic
from icechunk.storage import PutMode

EXPECTED_MAIN = ["V4", "Repository initialized"]
EXPECTED_TAG = ["V2", "Repository initialized"]


@dataclass
class World:
    inner: ic.Storage
    expire_before: dt.datetime
    digests: dict[str, str]  # snapshot id -> content digest, for every ref-reachable one
    expirable: set[str]  # V1 and V3 (V2 is a tag tip, V4 main's tip)
    orphan: str  # S1, on the deleted branch


def _write(session: ic.Session, seed: int) -> None:
    data = np.random.default_rng(seed).standard_normal(600)  # incompressible: chunk files
    zarr.open_array(session.store, path="x", mode="r+")[:] = data
    zarr.open_array(session.store, path="g/small", mode="r+")[:] = seed


def build(storage: ic.Storage) -> World:
    """main: V1..V4 (each rewrites every chunk), tag ``keep`` at V2, a deleted branch
    with one commit, and chunks written by a session that never committed."""
    repo = ic.Repository.create(storage)
    session = repo.writable_session("main")
    root = zarr.create_group(session.store, attributes={"kind": "fixture"})
    root.create_array("x", shape=(600,), chunks=(200,), dtype="float64")
    root.create_array("g/small", shape=(4,), chunks=(2,), dtype="int16")
    _write(session, 1)
    sids = [session.commit("V1")]
    for version in (2, 3, 4):
        session = repo.writable_session("main")
        _write(session, version)
        sids.append(session.commit(f"V{version}"))
    repo.create_tag("keep", sids[1])
    repo.create_branch("side", sids[1])
    session = repo.writable_session("side")
    _write(session, 99)
    orphan = session.commit("S1")
    repo.delete_branch("side")
    _write(repo.writable_session("main"), 100)  # never committed: chunk leftovers
    digests = {sid: digest_of(repo, sid) for sid in [*sids, repo.lookup_branch("main")]}
    cutoff = repo.lookup_snapshot(sids[3]).written_at
    return World(storage, cutoff, digests, {sids[0], sids[2]}, orphan)


@pytest.fixture(scope="module")
def template() -> World:
    """Built once; each test gets a byte-for-byte copy on its own backend."""
    return build(ic.in_memory_storage())


async def _copy(source: ic.Storage, target: ic.Storage) -> None:
    async for info in source.list(""):
        await target.put(info.key, await source.get(info.key), mode=PutMode.OVERWRITE)


@pytest.fixture
def world(template: World, fresh_storage: ic.Storage) -> World:
    sync(_copy(template.inner, fresh_storage))
    return replace(template, inner=fresh_storage)


def faulty(world: World, *faults: Fault) -> tuple[ic.Repository, FaultyStorage]:
    """The repository opened through a fault-free storage, then the rules armed.

    Fresh copies of the rules: parametrized ones are shared between backends and count
    requests."""
    storage = FaultyStorage(world.inner)
    repo = ic.Repository.open(storage)
    storage.faults = [replace(f) for f in faults]
    return repo, storage


def gc_cutoff() -> dt.datetime:
    # Past every write so far, and past the whole second some stores list times in.
    return dt.datetime.now(dt.UTC) + dt.timedelta(seconds=2)


def messages(repo: ic.Repository, **ref: str) -> list[str]:
    return [info.message for info in repo.ancestry(**ref)]


def assert_no_data_lost(world: World) -> ic.Repository:
    """Refs intact, every reachable snapshot bit-identical, every reachable object there."""
    repo = ic.Repository.open(world.inner)
    assert repo.list_branches() == {"main"}
    assert repo.list_tags() == {"keep"}
    heads = [repo.lookup_branch("main"), repo.lookup_tag("keep")]
    for head in heads:
        for info in repo.ancestry(snapshot_id=head):
            if info.parent_id is not None:
                assert digest_of(repo, info.id) == world.digests[info.id], info.message
    audit(world.inner)
    return repo


def assert_expired(world: World) -> None:
    repo = assert_no_data_lost(world)
    assert messages(repo, branch="main") == EXPECTED_MAIN
    assert messages(repo, tag="keep") == EXPECTED_TAG


def assert_not_expired(world: World) -> None:
    repo = assert_no_data_lost(world)
    assert messages(repo, branch="main") == ["V4", "V3", "V2", "V1", "Repository initialized"]


def expire(repo: ic.Repository, world: World) -> set[str]:
    return repo.expire_snapshots(world.expire_before)


def assert_released(world: World, released: set[str]) -> None:
    assert world.expirable <= released <= world.expirable | {world.orphan}


def assert_collected(world: World) -> None:
    assert_expired(world)
    assert garbage(audit(world.inner)) == set(), "a retried GC reclaims every leftover"


def expire_clean(world: World) -> None:
    expire(ic.Repository.open(world.inner), world)


# --------------------------------------------------------------------------- expiration
EXPIRE_FAILS = [
    Fault("put", "fail", prefix="overwritten/"),
    Fault("put", "torn", prefix="overwritten/"),
    Fault("put", "fail", prefix="repo"),
    Fault("get", "fail", prefix="repo"),
]


@pytest.mark.parametrize("fault", EXPIRE_FAILS, ids=lambda f: f"{f.op}-{f.kind}-{f.prefix}")
def test_expire_that_fails_before_the_swap_changes_nothing_and_retries(
    world: World, fault: Fault
) -> None:
    repo, storage = faulty(world, fault)
    with pytest.raises(ic.StorageError):
        expire(repo, world)
    assert storage.fired
    assert_not_expired(world)
    assert_released(world, expire(repo, world))  # storage recovered
    assert_expired(world)


@pytest.mark.parametrize("kind", ["lost_response", "retried"])
def test_expire_with_a_lost_response_to_the_swap_reports_success_once(
    world: World, kind: str
) -> None:
    repo, storage = faulty(world, Fault("put", kind, prefix="repo"))  # type: ignore[arg-type]
    ops_before = len(list(ic.Repository.open(world.inner).ops_log()))
    assert_released(world, expire(repo, world))
    assert storage.fired == [("put", kind, "repo")]
    assert_expired(world)
    assert len(list(ic.Repository.open(world.inner).ops_log())) == ops_before + 1
    assert expire(repo, world) == set(), "a repeat finds nothing more to expire"


# --------------------------------------------------------------------------- GC
GC_FAILS_BEFORE_DELETES = [
    Fault("put", "fail", prefix="overwritten/"),
    Fault("put", "torn", prefix="overwritten/"),
    Fault("put", "fail", prefix="repo"),
    Fault("get", "fail", prefix="repo"),
    Fault("get", "fail", prefix="snapshots/"),
    Fault("get", "fail", prefix="manifests/"),
    Fault("list", "fail", prefix="snapshots/"),
]


@pytest.mark.parametrize(
    "fault", GC_FAILS_BEFORE_DELETES, ids=lambda f: f"{f.op}-{f.kind}-{f.prefix}"
)
def test_gc_that_fails_before_deleting_deletes_nothing_and_retries(
    world: World, fault: Fault
) -> None:
    expire_clean(world)
    before = audit(world.inner)
    repo, storage = faulty(world, fault)
    with pytest.raises(ic.StorageError):
        repo.garbage_collect(gc_cutoff())
    assert storage.fired
    after = audit(world.inner)
    assert garbage(after) == garbage(before) != set(), "nothing was deleted"
    assert_expired(world)
    summary = repo.garbage_collect(gc_cutoff())
    assert summary.objects_failed_to_delete == 0
    assert_collected(world)


@pytest.mark.parametrize("kind", ["lost_response", "retried"])
def test_gc_with_a_lost_response_to_the_swap_completes(world: World, kind: str) -> None:
    expire_clean(world)
    repo, storage = faulty(world, Fault("put", kind, prefix="repo"))  # type: ignore[arg-type]
    summary = repo.garbage_collect(gc_cutoff())
    assert storage.fired == [("put", kind, "repo")]
    assert summary.snapshots_deleted >= 2 and summary.objects_failed_to_delete == 0
    assert_collected(world)


PHASES = ["snapshots/", "transactions/", "manifests/", "chunks/"]


@pytest.mark.parametrize("prefix", PHASES)
@pytest.mark.parametrize("kind", ["fail", "torn", "lost_response"])
def test_gc_with_failing_deletes_reports_them_and_a_retry_converges(
    world: World, prefix: str, kind: str
) -> None:
    expire_clean(world)
    repo, storage = faulty(world, Fault("delete", kind, prefix=prefix))  # type: ignore[arg-type]
    summary = repo.garbage_collect(gc_cutoff())
    assert storage.fired
    assert summary.objects_failed_to_delete > 0
    assert summary.delete_errors and "injected" in summary.delete_errors[0]
    later = [p.rstrip("/") for p in PHASES[PHASES.index(prefix) + 1 :]]
    assert [p.replace("transaction_logs", "transactions") for p in summary.skipped_phases] == later
    assert_expired(world)  # nothing reachable was touched
    if kind != "lost_response" or later:
        assert garbage(audit(world.inner)), "some garbage is left for the next run"
    summary = repo.garbage_collect(gc_cutoff())
    assert summary.objects_failed_to_delete == 0 and not summary.skipped_phases
    assert_collected(world)


def test_gc_whose_later_listing_fails_raises_and_a_retry_converges(world: World) -> None:
    expire_clean(world)
    repo, storage = faulty(world, Fault("list", "fail", prefix="chunks/"))
    with pytest.raises(InjectedFault):
        repo.garbage_collect(gc_cutoff())
    assert storage.fired
    assert_expired(world)
    repo.garbage_collect(gc_cutoff())
    assert_collected(world)


def test_slow_storage_only_slows_expire_and_gc(world: World) -> None:
    rules = [Fault(op, "slow", times=None, delay=0.01) for op in ("put", "get", "list", "delete")]
    repo, storage = faulty(world, *rules)
    assert_released(world, expire(repo, world))
    repo.garbage_collect(gc_cutoff())
    assert len(storage.fired) > 20
    assert_collected(world)


# --------------------------------------------------------------------------- rewrite
REWRITE_FAILS = [
    Fault("put", "fail", prefix="manifests/"),
    Fault("put", "torn", prefix="snapshots/"),
    Fault("put", "fail", prefix="repo"),
]


@pytest.mark.parametrize("fault", REWRITE_FAILS, ids=lambda f: f"{f.kind}-{f.prefix}")
def test_rewrite_manifests_that_fails_leaves_the_branch(world: World, fault: Fault) -> None:
    tip = ic.Repository.open(world.inner).lookup_branch("main")
    repo, storage = faulty(world, fault)
    with pytest.raises(ic.StorageError):
        repo.rewrite_manifests("rewrite", branch="main")
    assert storage.fired
    assert ic.Repository.open(world.inner).lookup_branch("main") == tip
    assert_not_expired(world)
    sid = repo.rewrite_manifests("rewrite", branch="main")
    assert digest_of(ic.Repository.open(world.inner), sid) == world.digests[tip]


@pytest.mark.parametrize("kind", ["lost_response", "retried"])
def test_rewrite_manifests_with_a_lost_response_lands_once(world: World, kind: str) -> None:
    tip = ic.Repository.open(world.inner).lookup_branch("main")
    repo, storage = faulty(world, Fault("put", kind, prefix="repo"))  # type: ignore[arg-type]
    sid = repo.rewrite_manifests("rewrite", branch="main")
    assert storage.fired
    fresh = ic.Repository.open(world.inner)
    assert messages(fresh, branch="main")[:2] == ["rewrite", "V4"]
    assert fresh.lookup_branch("main") == sid
    assert digest_of(fresh, sid) == world.digests[tip]
