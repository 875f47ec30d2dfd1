"""Recreate a pending conflict on the demo repository's ``shared-analysis`` branch.

An uncommitted session cannot be saved to disk, so the conflict is rebuilt on demand:

>>> from demo_conflict import pending_conflict       # with scripts/ on sys.path
>>> session = pending_conflict(repo)                  # Bob's session, now stale
>>> session.commit("Bob: ...")                        # raises icechunk.ConflictError
>>> session.rebase(icechunk.ConflictDetector())       # raises icechunk.RebaseFailedError

Each call adds one commit (Alice's) to ``shared-analysis``, so the history keeps growing in a
believable way. Run as a script to see the whole story printed:
``python scripts/demo_conflict.py [PATH]``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import zarr

import icechunk as ic

BRANCH = "shared-analysis"
DEFAULT_PATH = Path(__file__).resolve().parent.parent / "demo-repo"


def pending_conflict(repo: ic.Repository, branch: str = BRANCH) -> ic.Session:
    """Return a writable session whose changes clash with a commit that landed after it started.

    Bob opens a session and overwrites hours 0-11 at every station (one chunk) and renames the
    variable; before he commits, Alice commits a different edit of the same chunk and of the
    same attribute. Bob's commit then fails with ``ConflictError``; rebasing reports a
    ``ChunkDoubleUpdate`` and a ``ZarrMetadataDoubleUpdate`` on ``/temperature``.
    """
    bob = repo.writable_session(branch)
    bob_temps = zarr.open_array(bob.store, path="temperature")
    bob_temps[:12] = np.asarray(bob_temps[:12]) - 0.2
    bob_temps.attrs["long_name"] = "2 m air temperature (Bob's QC)"

    alice = repo.writable_session(branch)
    alice_temps = zarr.open_array(alice.store, path="temperature")
    alice_temps[:12] = np.asarray(alice_temps[:12]) + 0.1
    alice_temps.attrs["long_name"] = "2 m air temperature (Alice's QC)"
    alice.commit("Alice: QC of hours 0-11", metadata={"author": "alice"})
    return bob


def describe(repo: ic.Repository, session: ic.Session) -> str:
    """Try to commit and to rebase the session, and tell what happened (changes nothing)."""
    lines = [f"Bob's session is based on {session.snapshot_id}; "
             f"{session.branch} is at {repo.lookup_branch(session.branch or BRANCH)}"]
    try:
        session.commit("Bob: QC of hours 0-11")
    except ic.ConflictError as error:
        lines.append(f"commit -> {type(error).__name__}: expected parent {error.expected_parent}, "
                     f"branch at {error.actual_parent}")
    try:
        session.rebase(ic.ConflictDetector())
    except ic.RebaseFailedError as error:
        lines.append(f"rebase -> {len(error.conflicts)} conflict(s):")
        lines += [f"  {c.conflict_type!s}: {c.path} chunks={c.conflicted_chunks}"
                  for c in error.conflicts]
    lines.append("Resolve with BasicConflictSolver for the chunks and by redoing the attribute "
                 "edit on a fresh session (see notebooks/04_conflicts_and_rebase.ipynb).")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Recreate the pending conflict on the demo repository and print what it looks like."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("path", nargs="?", type=Path, default=DEFAULT_PATH)
    args = parser.parse_args(argv)
    repo = ic.Repository.open(ic.local_filesystem_storage(str(args.path.resolve())))
    print(describe(repo, pending_conflict(repo)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
