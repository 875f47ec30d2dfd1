"""Writers SIGKILLed at random points never damage what was committed.

One local repository is written by a sequence of :mod:`crash_writer` processes. Each is
killed, either by itself at a chosen storage put (before or after the request reached
the disk) or by this process after a random delay (which can land inside a file write,
a temporary-file rename, a lock, or opening the repository). After every kill:

* the repository opens;
* every snapshot reachable from any branch or tag reads back bit-identical to the
  content its writer saw before committing (digest in the commit metadata);
* every acknowledged commit is on ``main``, exactly once; an unacknowledged one
  (in flight at the kill) may or may not have landed, and at most one per kill did;
* branches and tags match a replay of the acknowledged ref operations (names touched
  by an in-flight operation may have either outcome);
* every object the repo file reaches exists and decodes; the rest are unreachable
  leftovers (which garbage collection may delete).

Seeds are fixed. ``ICECHUNK_SOAK=1`` (``make soak``) runs many more kills.
"""

from __future__ import annotations

import json
import os
import random
import signal
from collections import Counter
from dataclasses import dataclass, field
from multiprocessing.context import ForkServerContext
from pathlib import Path

import crash_writer
from audit import audit, digest_of
from children import run_killable
from figures import report

import icechunk as ic

SOAK = os.environ.get("ICECHUNK_SOAK") == "1"
RUNS = 200 if SOAK else 10
STEPS = 8 if SOAK else 5


@dataclass
class Tally:
    """Figures reported by the test (and checked)."""

    counts: Counter[str] = field(default_factory=Counter)

    def report(self) -> str:
        return ", ".join(f"{k}={v}" for k, v in sorted(self.counts.items()))


def run_writer(
    processes: ForkServerContext, repo: Path, log: Path, seed: int, crash_at: int, when: str, kill_after: float
) -> int:
    args = (str(repo), str(log), str(seed), str(STEPS), str(crash_at), when)
    return run_killable(processes, crash_writer.run, args, kill_after)


def read_journal(log: Path) -> list[dict[str, object]]:
    if not log.exists():
        return []
    lines = log.read_text().splitlines()
    return [json.loads(line) for line in lines if line.strip()]


def replay_refs(records: list[dict[str, object]]) -> tuple[dict[str, str], dict[str, str], set[str]]:
    """Expected branches and tags from acknowledged ops, plus names left uncertain."""
    branches: dict[str, str] = {}
    tags: dict[str, str] = {}
    uncertain: set[str] = set()
    pending: dict[str, object] | None = None
    for record in records:
        if "intent" in record:
            if pending is not None and pending["intent"] != "commit":
                uncertain.add(f"{pending['intent']}:{pending['args'][0]}")  # type: ignore[index]
            pending = record
            continue
        pending = None
        op, args = record.get("done"), record.get("args")
        if not isinstance(args, list):
            continue
        if op in ("create_branch", "reset_branch"):
            branches[args[0]] = args[1]
        elif op == "delete_branch":
            branches.pop(args[0], None)
        elif op == "create_tag":
            tags[args[0]] = args[1]
        elif op == "delete_tag":
            tags.pop(args[0], None)
    if pending is not None and pending["intent"] != "commit":
        uncertain.add(f"{pending['intent']}:{pending['args'][0]}")  # type: ignore[index]
    return branches, tags, {name.split(":", 1)[1] for name in uncertain}


def check_repository(
    path: Path,
    records: list[dict[str, object]],
    kills: int,
    tally: Tally,
    verified: set[str] | None = None,
) -> None:
    """All checks listed in the module docstring.

    Snapshot contents are digested unless their id is in ``verified`` (snapshots are
    immutable; the soak run re-digests everything only every tenth kill); newly digested
    ids are added to it.
    """
    storage = ic.local_filesystem_storage(str(path))
    repo = ic.Repository.open(storage)
    acked = {str(r["sid"]): str(r["digest"]) for r in records if r.get("done") == "commit"}
    intended = Counter(str(r["digest"]) for r in records if r.get("intent") == "commit")
    main = [info for info in repo.ancestry(branch="main")]
    ids = [info.id for info in main]
    assert len(ids) == len(set(ids)), "main's history is a chain without repeats"
    lost = set(acked) - set(ids)
    assert not lost, f"acknowledged commits lost: {sorted(lost)}"
    unacked_landed = [info for info in main[:-1] if info.id not in acked]
    assert len(unacked_landed) <= kills, "at most one unacknowledged commit lands per kill"
    for info in unacked_landed:
        assert intended[str(info.metadata["digest"])] > 0, "a landed commit was never attempted"
    # Every reachable snapshot reads back exactly as its writer saw it.
    heads = {**{b: repo.lookup_branch(b) for b in repo.list_branches()}}
    heads.update({f"tag:{t}": repo.lookup_tag(t) for t in repo.list_tags()})
    checked: set[str] = set()
    known = set() if verified is None else verified
    for head in heads.values():
        for info in repo.ancestry(snapshot_id=head):
            if info.id in checked or info.parent_id is None:
                continue
            checked.add(info.id)
            if info.id not in known:
                assert digest_of(repo, info.id) == info.metadata["digest"], info.id
                known.add(info.id)
            if info.id in acked:
                assert acked[info.id] == info.metadata["digest"]
    branches, tags, uncertain = replay_refs(records)
    actual_branches = {b: repo.lookup_branch(b) for b in repo.list_branches() - {"main"}}
    actual_tags = {t: repo.lookup_tag(t) for t in repo.list_tags()}
    for expected, actual in ((branches, actual_branches), (tags, actual_tags)):
        for name in (set(expected) | set(actual)) - uncertain:
            assert expected.get(name) == actual.get(name), name
    split = audit(storage)
    tally.counts["snapshots_verified"] = len(checked)
    tally.counts["commits_attempted"] = sum(intended.values())
    tally.counts["commits_acknowledged"] = len(acked)
    tally.counts["commits_landed"] = len(ids) - 1  # minus the initial snapshot
    tally.counts["commits_lost"] = len(lost)
    tally.counts["leftover_objects"] = len(split.leftovers)
    # Temporary files of writes cut short: never listed, never read, safe to delete.
    tally.counts["leftover_temp_files"] = len(list(path.rglob(".icechunk-tmp-*")))


def test_sigkilled_writers_never_damage_committed_data(
    tmp_path: Path, processes: ForkServerContext
) -> None:
    path, log = tmp_path / "repo", tmp_path / "journal"
    ic.Repository.create(ic.local_filesystem_storage(str(path)))
    rng = random.Random(20261123)
    tally = Tally()
    kills = 0
    verified: set[str] = set()
    for run in range(RUNS):
        if run % 2 == 0:
            crash_at, when, kill_after = rng.randrange(30), rng.choice(["before", "after"]), 0.0
        else:
            crash_at, when, kill_after = -1, "before", rng.uniform(0.05, 0.8)
        code = run_writer(processes, path, log, 1000 + run, crash_at, when, kill_after)
        kills += code == -signal.SIGKILL
        tally.counts["crashes_injected"] = kills
        cache = verified if run % 10 else None  # a full re-digest every tenth run
        check_repository(path, read_journal(log), kills, tally, cache)
        tally.counts["crashes_survived"] = kills
    # A last writer without faults still works on the survived repository.
    assert run_writer(processes, path, log, 1, -1, "before", 0.0) == 0
    check_repository(path, read_journal(log), kills, tally)
    report("crash consistency (set/commit/refs)", {"runs": RUNS + 1, **tally.counts})
    assert tally.counts["commits_acknowledged"] > 0
    assert kills >= RUNS // 2, "most runs must actually be killed"
