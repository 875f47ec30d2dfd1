"""Storage faults during commits, ref updates and reads have a defined outcome.

Every test starts from a repository with one committed snapshot (``V0``: a native-chunk
array, an inline-chunk array and group attributes), opens it through a
:class:`~faults.FaultyStorage` with one fault rule, performs one public-API operation and
checks the outcome the docs (docs/guarantees.md) promise:

* a fault before the repo file's compare-and-swap: the operation raises a
  :class:`~icechunk.StorageError`, nothing becomes visible, the same session can commit
  again once storage recovers, and the written objects are unreachable leftovers;
* a lost response to the compare-and-swap (or a client retry that meets its own write):
  the operation reports success, exactly once;
* a slow storage: the operation succeeds;
* a failing or short read: a typed error, never wrong data.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest
import zarr
from audit import audit, digest_of
from faults import Fault, FaultyStorage, InjectedFault

import icechunk as ic

NATIVE0 = np.random.default_rng(0).standard_normal(600)  # incompressible: chunk files
NATIVE1 = NATIVE0[::-1].copy()
INLINE0 = np.arange(12, dtype="int16").reshape(3, 4)
PRE_CAS = ("manifests/", "snapshots/", "transactions/", "overwritten/")
LOSSY = ("lost_response", "retried")


@dataclass
class World:
    inner: ic.Storage
    base: str
    base_digest: str


@pytest.fixture
def world(fresh_storage: ic.Storage) -> World:
    repo = ic.Repository.create(fresh_storage)
    session = repo.writable_session("main")
    root = zarr.create_group(session.store, attributes={"v": 0})
    root.create_array("native", shape=NATIVE0.shape, chunks=(200,), dtype="float64")[:] = NATIVE0
    root.create_array("g/inline", shape=INLINE0.shape, chunks=(2, 2), dtype="int16")[:] = INLINE0
    base = session.commit("V0")
    return World(fresh_storage, base, digest_of(repo, base))


def faulty(world: World, *faults: Fault) -> tuple[ic.Repository, FaultyStorage]:
    storage = FaultyStorage(world.inner, list(faults))
    return ic.Repository.open(storage), storage


def change(session: ic.Session) -> None:
    root = zarr.open_group(session.store, mode="r+")
    native = root["native"]
    assert isinstance(native, zarr.Array)
    native[:] = NATIVE1
    root.attrs["v"] = 1


def history(world: World) -> list[str]:
    repo = ic.Repository.open(world.inner)
    return [info.message for info in repo.ancestry(branch="main")]


def assert_unchanged(world: World) -> None:
    repo = ic.Repository.open(world.inner)
    assert repo.lookup_branch("main") == world.base
    assert history(world) == ["V0", "Repository initialized"]
    assert digest_of(repo, world.base) == world.base_digest
    audit(world.inner)


def assert_landed_once(world: World, sid: str) -> None:
    repo = ic.Repository.open(world.inner)
    assert repo.lookup_branch("main") == sid
    assert history(world) == ["V1", "V0", "Repository initialized"]
    native = zarr.open_array(repo.readonly_session(snapshot_id=sid).store, path="native", mode="r")
    np.testing.assert_array_equal(native[:], NATIVE1)
    assert digest_of(repo, world.base) == world.base_digest
    audit(world.inner)


# --------------------------------------------------------------------------- commits
@pytest.mark.parametrize("prefix", PRE_CAS)
@pytest.mark.parametrize("kind", ["fail", "torn", "lost_response"])
def test_fault_before_the_swap_fails_the_commit_and_it_can_be_retried(
    world: World, prefix: str, kind: str
) -> None:
    repo, storage = faulty(world, Fault("put", kind, prefix=prefix))  # type: ignore[arg-type]
    session = repo.writable_session("main")
    change(session)
    with pytest.raises(InjectedFault):
        session.commit("V1")
    assert storage.fired
    assert_unchanged(world)
    leftovers = audit(world.inner).leftovers
    # Storage recovered: the very same session commits its changes, exactly once.
    sid = session.commit("V1")
    assert_landed_once(world, sid)
    # The failed attempt's metadata stays unreachable; its chunk files (written by the
    # session before the commit) are adopted by the retry.
    abandoned = {key for key in leftovers if not key.startswith("chunks/")}
    assert abandoned <= audit(world.inner).leftovers


@pytest.mark.parametrize("prefix", PRE_CAS)
def test_retried_overwrites_before_the_swap_are_harmless(world: World, prefix: str) -> None:
    repo, storage = faulty(world, Fault("put", "retried", prefix=prefix))
    session = repo.writable_session("main")
    change(session)
    sid = session.commit("V1")
    assert storage.fired
    assert_landed_once(world, sid)


@pytest.mark.parametrize("kind", LOSSY)
def test_lost_response_to_the_swap_still_reports_the_commit(world: World, kind: str) -> None:
    repo, storage = faulty(world, Fault("put", kind, prefix="repo"))  # type: ignore[arg-type]
    session = repo.writable_session("main")
    change(session)
    sid = session.commit("V1")
    assert storage.fired == [("put", kind, "repo")]
    assert_landed_once(world, sid)


class IntrudingStorage(FaultyStorage):
    """Our repo write lands, another writer commits on top of it, then our response is lost."""

    base = ""

    async def _put(self, key, data, mode, expected):  # type: ignore[no-untyped-def]
        version = await self.inner.put(key, data, mode=mode, expected_version=expected)
        if key == "repo" and not self.fired:
            self.fired.append(("put", "lost_response", key))
            other = await ic.Repository.open_async(self.inner)
            await other.create_tag_async("intruder", self.base)
            raise InjectedFault("injected lost response after an intruder wrote")
        return version


def test_lost_response_recognised_after_a_later_writer(world: World) -> None:
    """The repo file moved on past our write; its backup chain still identifies ours."""
    storage = IntrudingStorage(world.inner)
    storage.base = world.base
    session = ic.Repository.open(storage).writable_session("main")
    change(session)
    sid = session.commit("V1")
    assert storage.fired
    assert_landed_once(world, sid)
    assert ic.Repository.open(world.inner).list_tags() == {"intruder"}


def test_failed_swap_and_failed_repo_read_leave_nothing(world: World) -> None:
    for fault in (Fault("put", "fail", prefix="repo"), Fault("get", "fail", prefix="repo")):
        repo, storage = faulty(world)
        session = repo.writable_session("main")
        change(session)
        storage.faults = [fault]  # armed for the commit only
        with pytest.raises(ic.StorageError):
            session.commit("V1")
        assert storage.fired
        assert_unchanged(world)
    sid = session.commit("V1")
    assert_landed_once(world, sid)


def test_failing_chunk_write_surfaces_and_leaves_the_branch(world: World) -> None:
    repo, storage = faulty(world, Fault("put", "fail", prefix="chunks/"))
    session = repo.writable_session("main")
    with pytest.raises(ic.StorageError):
        change(session)
    assert storage.fired
    assert_unchanged(world)
    change(session)  # storage recovered: the write goes through and commits
    assert_landed_once(world, session.commit("V1"))


def test_slow_storage_only_slows(world: World) -> None:
    repo, storage = faulty(world, Fault("put", "slow", times=None), Fault("get", "slow", times=None))
    session = repo.writable_session("main")
    change(session)
    sid = session.commit("V1")
    assert len(storage.fired) > 5
    assert_landed_once(world, sid)


def test_rebase_commit_survives_a_lost_response(world: World) -> None:
    repo, _ = faulty(world, Fault("put", "retried", prefix="repo", skip=1))
    ic.Repository.open(world.inner).create_branch("side", world.base)
    session = repo.writable_session("main")
    change(session)
    # A concurrent commit on main forces a rebase; the retried swap is the second repo put.
    other = ic.Repository.open(world.inner).writable_session("main")
    zarr.open_array(other.store, path="g/inline", mode="r+")[0, 0] = 99
    other.commit("other")
    sid = session.commit("V1", rebase_with=ic.ConflictDetector())
    repo = ic.Repository.open(world.inner)
    assert repo.lookup_branch("main") == sid
    assert [i.message for i in repo.ancestry(branch="main")][:2] == ["V1", "other"]


# --------------------------------------------------------------------------- refs
REF_OPS = {
    "create_branch": (lambda r, w: r.create_branch("dev", w.base), lambda r: "dev" in r.list_branches()),
    "reset_branch": (
        lambda r, w: r.reset_branch("side", w.base),
        lambda r: r.lookup_branch("side") == r.lookup_branch("main"),
    ),
    "delete_branch": (lambda r, w: r.delete_branch("side"), lambda r: "side" not in r.list_branches()),
    "create_tag": (lambda r, w: r.create_tag("v1", w.base), lambda r: r.list_tags() == {"old", "v1"}),
    "delete_tag": (lambda r, w: r.delete_tag("old"), lambda r: r.list_tags() == set()),
}


def _prepare_refs(world: World) -> str:
    repo = ic.Repository.open(world.inner)
    initial = list(repo.ancestry(branch="main"))[-1].id
    repo.create_branch("side", initial)
    repo.create_tag("old", world.base)
    return initial


@pytest.mark.parametrize("op", sorted(REF_OPS))
@pytest.mark.parametrize("kind", LOSSY)
def test_ref_update_with_lost_response_applies_once(world: World, op: str, kind: str) -> None:
    _prepare_refs(world)
    before = len(list(ic.Repository.open(world.inner).ops_log()))
    repo, storage = faulty(world, Fault("put", kind, prefix="repo"))  # type: ignore[arg-type]
    action, applied = REF_OPS[op]
    action(repo, world)  # no error: the write landed
    assert storage.fired
    fresh = ic.Repository.open(world.inner)
    assert applied(fresh)
    assert len(list(fresh.ops_log())) == before + 1, "the update is recorded exactly once"
    audit(world.inner)


@pytest.mark.parametrize("op", sorted(REF_OPS))
def test_ref_update_that_fails_changes_nothing(world: World, op: str) -> None:
    _prepare_refs(world)
    fresh = ic.Repository.open(world.inner)
    refs = (fresh.list_branches(), fresh.list_tags(), fresh.lookup_branch("side"))
    repo, _ = faulty(world, Fault("put", "fail", prefix="repo"))
    action, applied = REF_OPS[op]
    with pytest.raises(InjectedFault):
        action(repo, world)
    fresh = ic.Repository.open(world.inner)
    assert (fresh.list_branches(), fresh.list_tags(), fresh.lookup_branch("side")) == refs
    action(repo, world)  # storage recovered (the rule fired once): the retry applies
    assert applied(ic.Repository.open(world.inner))


# --------------------------------------------------------------------------- reads
@pytest.mark.parametrize("prefix", ["repo", "snapshots/", "manifests/", "chunks/"])
@pytest.mark.parametrize("kind", ["fail", "torn"])
def test_faulty_reads_give_typed_errors_never_wrong_data(
    world: World, prefix: str, kind: str
) -> None:
    storage = FaultyStorage(world.inner, [Fault("get", kind, prefix=prefix)])  # type: ignore[arg-type]
    try:
        repo = ic.Repository.open(storage)
        native = zarr.open_array(repo.readonly_session("main").store, path="native", mode="r")
        values = native[:]
    except ic.IcechunkError as err:
        assert storage.fired
        # A short chunk read is caught by its length (the manifest knows it); short
        # metadata reads fail to decode.
        short = (ic.StorageError, ic.FormatError) if prefix == "chunks/" else ic.FormatError
        expected = ic.StorageError if kind == "fail" else short
        assert isinstance(err, expected), f"{type(err).__name__}: {err}"
    else:
        np.testing.assert_array_equal(values, NATIVE0)
