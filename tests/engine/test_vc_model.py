"""Version control against a pure-Python model: commits, refs, resets, expiration and GC.

The model keeps, per snapshot, its parent, flush time and the array contents it holds,
plus the branches, tags and deleted tag names. Expiration is modelled from the rules the
real engine documents (exclusive bound, roots and ``main``'s tip kept, ref tips kept unless
their kind is deleted, survivors re-parented onto the root). After every step the refs,
their ancestries and their data must equal the model; after every GC the storage must
hold exactly the objects reachable from the refs, and every reachable snapshot must read
back its data.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import hypothesis.strategies as st
from hypothesis import HealthCheck, event, given, settings
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)
from zarr.core.sync import sync

import icechunk as ic
from engine.maintenance_helpers import (
    SIZE,
    new_repo,
    now_after_writes,
    read,
    write,
)
from engine.storage_kinds import examples
from icechunk._gc import created_entirely_before
from icechunk.format.ids import SnapshotId
from icechunk.format.manifest import decode_manifest
from icechunk.format.repo_info import decode_repo_info
from icechunk.format.snapshot import decode_snapshot
from icechunk.testing import strategies as icst

INITIAL = "1CECHNKREP0F1RSTCMT0"
BRANCH_NAMES = ("b1", "b2", "b3")
TAG_NAMES = ("t1", "t2", "t3")
EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)

Data = tuple[int, ...] | None


@dataclass
class Snap:
    parent: str | None
    written: int  # µs since the epoch
    data: Data


@dataclass
class Model:
    """What the repository should contain."""

    snaps: dict[str, Snap] = field(default_factory=dict)
    branches: dict[str, str] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)
    deleted_tags: set[str] = field(default_factory=set)

    def ancestry(self, sid: str) -> list[str]:
        out = []
        current: str | None = sid
        while current is not None:
            out.append(current)
            current = self.snaps[current].parent
        return out

    def reachable(self) -> set[str]:
        tips = [*self.branches.values(), *self.tags.values()]
        return {s for tip in tips for s in self.ancestry(tip)}

    def expire(self, cut: int, delete_branches: bool, delete_tags: bool) -> set[str]:
        expired = {s for s, v in self.snaps.items() if v.written < cut and v.parent is not None}
        kept_tips = {self.branches["main"]}
        if not delete_tags:
            kept_tips |= set(self.tags.values())
        if not delete_branches:
            kept_tips |= set(self.branches.values())
        released = expired - kept_tips
        for sid, snap in self.snaps.items():
            if sid not in released and snap.parent in released:
                snap.parent = INITIAL
        for sid in released:
            del self.snaps[sid]
        if delete_tags:
            gone = {t for t, s in self.tags.items() if s in expired}
            self.deleted_tags |= gone
            self.tags = {t: s for t, s in self.tags.items() if t not in gone}
        if delete_branches:
            self.branches = {
                b: s for b, s in self.branches.items() if b == "main" or s not in expired
            }
        return released

    def collect(self, old: set[str] | None = None) -> set[str]:
        """GC: unreachable snapshots go when old (all of them when ``old`` is None).

        A kept snapshot whose parent goes is re-parented onto its nearest kept ancestor.
        """
        reachable = self.reachable()
        dropped = {s for s in self.snaps if s not in reachable and (old is None or s in old)}
        for snap in self.snaps.values():
            while snap.parent in dropped:
                snap.parent = self.snaps[snap.parent].parent
        self.snaps = {s: v for s, v in self.snaps.items() if s not in dropped}
        return dropped


def _pick(data: st.DataObject, items: list[str]) -> str:
    """One of ``items`` (in creation order), drawn so that replays stay consistent.

    Snapshot ids are random and how many survive a GC depends on timing, so
    ``sampled_from`` would see different lists when hypothesis replays an example.
    """
    return items[data.draw(st.integers(0, 255)) % len(items)]


def _micros(when: dt.datetime) -> int:
    delta = when - EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def _updated(data: Data, index: int, value: int) -> Data:
    values = list(data) if data is not None else [-1] * SIZE
    values[index] = value
    return tuple(values)


def _raw(storage: ic.Storage, key: str) -> bytes:
    data: bytes = sync(storage.get(key))
    return data


def expected_objects(repo: ic.Repository) -> dict[str, set[str]]:
    """The objects the refs need, computed by decoding the stored files directly."""
    storage = repo.storage
    info = decode_repo_info(_raw(storage, "repo"))
    reachable: set[str] = set()
    for tip in [*info.branches.values(), *info.tags.values()]:
        current: SnapshotId | None = tip
        while current is not None:
            reachable.add(str(current))
            current = info.snapshots[current].parent_id
    manifests: set[str] = set()
    for sid in reachable:
        snap = decode_snapshot(_raw(storage, f"snapshots/{sid}"))
        manifests |= {str(m.id) for m in snap.manifest_files}
    chunks: set[str] = set()
    for mid in manifests:
        manifest = decode_manifest(_raw(storage, f"manifests/{mid}"))
        for table in manifest.arrays.values():
            chunks |= {str(c) for c in table.native_chunk_ids()}
    logs = set(reachable)
    for entry in info.snapshots.values():
        logs |= {str(x) for x in entry.pruned_ancestor_tx_logs or ()}
    return {"snapshots": reachable, "manifests": manifests, "chunks": chunks, "transactions": logs}


def stored_objects(repo: ic.Repository) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for prefix in ("snapshots", "manifests", "chunks", "transactions"):
        listed = repo.storage.list_objects(prefix=prefix + "/")
        out[prefix] = {key.rpartition("/")[2] for key, _ in listed}
    return out


def _as_list(data: Data) -> list[int] | None:
    return None if data is None else list(data)


def check_after_gc(repo: ic.Repository, model: Model) -> None:
    """Storage holds exactly what the refs need; every reachable snapshot reads back."""
    assert stored_objects(repo) == expected_objects(repo)
    for sid in model.reachable():
        expected = model.snaps[sid].data
        assert read(repo, snapshot_id=sid) == (None if expected is None else list(expected))


class VersionControlMachine(RuleBasedStateMachine):
    """Drives a repository and the model with the same operations."""

    def __init__(self, storage: ic.Storage) -> None:
        super().__init__()
        self.repo = new_repo(storage)
        initial = self.repo.lookup_snapshot(INITIAL)
        self.model = Model(
            snaps={INITIAL: Snap(None, _micros(initial.written_at), None)},
            branches={"main": INITIAL},
        )

    def _record(self, sid: str, parent: str, data: Data) -> None:
        written = _micros(self.repo.lookup_snapshot(sid).written_at)
        self.model.snaps[sid] = Snap(parent, written, data)

    def _commit(self, branch: str, index: int, value: int) -> None:
        parent = self.model.branches[branch]
        sid = write(self.repo, branch, index, value)
        self._record(sid, parent, _updated(self.model.snaps[parent].data, index, value))
        self.model.branches[branch] = sid

    @initialize(values=st.lists(st.integers(0, 99), min_size=2, max_size=4))
    def some_history(self, values: list[int]) -> None:
        for i, value in enumerate(values):
            self._commit("main", i % SIZE, value)

    @rule(
        data=st.data(),
        writes=st.lists(st.tuples(st.integers(0, SIZE - 1), st.integers(0, 99)), max_size=3),
    )
    def commit(self, data: st.DataObject, writes: list[tuple[int, int]]) -> None:
        branch = _pick(data, sorted(self.model.branches))
        for index, value in writes or [(0, 0)]:
            self._commit(branch, index, value)

    @rule(data=st.data(), name=st.sampled_from(BRANCH_NAMES))
    def create_branch(self, data: st.DataObject, name: str) -> None:
        target = _pick(data, list(self.model.snaps))
        if name in self.model.branches:
            return
        self.repo.create_branch(name, target)
        self.model.branches[name] = target

    @precondition(lambda self: len(self.model.branches) > 1)
    @rule(data=st.data())
    def delete_branch(self, data: st.DataObject) -> None:
        name = _pick(data, sorted(set(self.model.branches) - {"main"}))
        self.repo.delete_branch(name)
        del self.model.branches[name]

    @rule(data=st.data(), name=st.sampled_from(TAG_NAMES))
    def create_tag(self, data: st.DataObject, name: str) -> None:
        if name in self.model.tags or name in self.model.deleted_tags:
            return
        target = _pick(data, list(self.model.snaps))
        self.repo.create_tag(name, target)
        self.model.tags[name] = target

    @precondition(lambda self: bool(self.model.tags))
    @rule(data=st.data())
    def delete_tag(self, data: st.DataObject) -> None:
        name = _pick(data, sorted(self.model.tags))
        self.repo.delete_tag(name)
        del self.model.tags[name]
        self.model.deleted_tags.add(name)

    @rule(data=st.data())
    def reset_branch(self, data: st.DataObject) -> None:
        branch = _pick(data, sorted(self.model.branches))
        target = _pick(data, list(self.model.snaps))
        self.repo.reset_branch(branch, target)
        self.model.branches[branch] = target

    @rule(
        data=st.data(),
        offset=st.sampled_from([-1, 0, 1]),
        delete_branches=st.booleans(),
        delete_tags=st.booleans(),
    )
    def expire(
        self, data: st.DataObject, offset: int, delete_branches: bool, delete_tags: bool
    ) -> None:
        # Pivot on a commit (not the root) so the bound decides something.
        commits = [s for s, v in self.model.snaps.items() if v.parent is not None]
        pivot = _pick(data, commits or [INITIAL])
        cut = self.model.snaps[pivot].written + offset
        released = self.repo.expire_snapshots(
            EPOCH + dt.timedelta(microseconds=cut),
            delete_expired_branches=delete_branches,
            delete_expired_tags=delete_tags,
        )
        expected = self.model.expire(cut, delete_branches, delete_tags)
        event(f"expire released {min(len(expected), 2)}+ snapshots, offset {offset}")
        assert released == expected

    @rule()
    def garbage_collect(self) -> None:
        before = stored_objects(self.repo)["snapshots"]
        summary = self.repo.garbage_collect(now_after_writes())
        self.model.collect()
        assert summary.snapshots_deleted == len(before - self.model.reachable())
        check_after_gc(self.repo, self.model)

    @rule(data=st.data())
    def garbage_collect_partially(self, data: st.DataObject) -> None:
        cutoff = icst.draw_older_than(data, self.repo.storage, self.repo)
        listed = self.repo.storage.list_objects_metadata(prefix="snapshots/")
        created = {o.key.rpartition("/")[2]: o.created_at for o in listed}
        files = set(created)
        old = {s for s, when in created.items() if created_entirely_before(when, cutoff)}
        summary = self.repo.garbage_collect(cutoff)
        event(f"partial gc deleted {min(summary.snapshots_deleted, 2)}+ snapshots")
        self.model.collect(old)
        assert summary.snapshots_deleted == len((files - self.model.reachable()) & old)
        left = stored_objects(self.repo)
        # Transaction logs go with their snapshot files, except those a survivor's
        # pruned ancestors still need.
        assert left["snapshots"] <= left["transactions"]
        assert (
            left["transactions"] - left["snapshots"] <= expected_objects(self.repo)["transactions"]
        )
        for sid in self.model.reachable():
            assert read(self.repo, snapshot_id=sid) == _as_list(self.model.snaps[sid].data)

    @invariant()
    def refs_history_and_data_match(self) -> None:
        assert self.repo.list_branches() == set(self.model.branches)
        assert self.repo.list_tags() == set(self.model.tags)
        refs: list[tuple[dict[str, Any], str]] = [
            *(({"branch": b}, tip) for b, tip in self.model.branches.items()),
            *(({"tag": t}, tip) for t, tip in self.model.tags.items()),
        ]
        for ref, tip in refs:
            assert [i.id for i in self.repo.ancestry(**ref)] == self.model.ancestry(tip)
            expected = self.model.snaps[tip].data
            assert read(self.repo, **ref) == (None if expected is None else list(expected))


def test_version_control_machine(unique_storage: Callable[[], ic.Storage]) -> None:
    run_state_machine_as_test(
        lambda: VersionControlMachine(unique_storage()),
        settings=settings(
            max_examples=examples(15),
            stateful_step_count=14,
            deadline=None,
            suppress_health_check=[HealthCheck.function_scoped_fixture],
        ),
    )


_OPS = st.lists(
    st.tuples(st.sampled_from(["commit", "branch", "reset", "tag"]), st.integers(0, 30)),
    min_size=1,
    max_size=10,
)


@settings(
    max_examples=examples(10),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(ops=_OPS, pivot=st.integers(0, 30), delete_refs=st.booleans())
def test_gc_after_random_history_keeps_exactly_what_refs_need(
    unique_storage: Callable[[], ic.Storage],
    ops: list[tuple[str, int]],
    pivot: int,
    delete_refs: bool,
) -> None:
    repo = new_repo(unique_storage())
    snaps = [INITIAL]
    for op, n in ops:
        if op == "commit":
            branch = sorted(repo.list_branches())[n % len(repo.list_branches())]
            snaps.append(write(repo, branch, n % SIZE, n))
        elif op == "branch" and f"b{n % 3}" not in repo.list_branches():
            repo.create_branch(f"b{n % 3}", snaps[n % len(snaps)])
        elif op == "reset":
            repo.reset_branch("main", snaps[n % len(snaps)])
        elif op == "tag" and f"t{n}" not in repo.list_tags():
            repo.create_tag(f"t{n}", snaps[n % len(snaps)])
    cut = repo.lookup_snapshot(snaps[pivot % len(snaps)]).written_at
    repo.expire_snapshots(cut, delete_expired_branches=delete_refs, delete_expired_tags=delete_refs)
    before = {ref: read(repo, branch=ref) for ref in repo.list_branches()}
    repo.garbage_collect(now_after_writes())
    assert stored_objects(repo) == expected_objects(repo)
    assert {ref: read(repo, branch=ref) for ref in repo.list_branches()} == before
