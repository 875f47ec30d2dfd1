"""A maintenance process for the crash-consistency tests; it is meant to be SIGKILLed.

Usage: ``maint_writer.py REPO OPERATION CUTOFF CRASH_OP CRASH_AT WHEN``, or
:func:`run` with the same arguments in a child process (a forkserver that preloaded
this module starts one in a tenth of a second rather than seconds).

Opens the local repository ``REPO`` and runs one maintenance operation on it:
``expire`` (``expire_snapshots(CUTOFF)``), ``gc`` (``garbage_collect(CUTOFF)``) or
``rewrite`` (``rewrite_manifests`` of ``main``); ``CUTOFF`` is an ISO 8601 time. Prints
``done`` when the operation returned.

With ``CRASH_AT >= 0`` the process SIGKILLs itself at the ``CRASH_AT``-th storage
``CRASH_OP`` (``put`` or ``delete``; inside a batch delete, after the keys before it
went), ``WHEN`` ("before" or "after") the request reaches storage; the parent may also
kill it at any moment.
"""

from __future__ import annotations

import datetime as dt
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from faults import Fault, FaultyStorage

import icechunk as ic


def run(
    path: str, operation: str, cutoff_text: str, crash_op: str, crash_at: str, when: str
) -> None:
    """Run one maintenance operation, maybe SIGKILLing this process on the way."""
    cutoff = dt.datetime.fromisoformat(cutoff_text)
    faults = []
    if int(crash_at) >= 0:
        faults.append(Fault(crash_op, "crash", skip=int(crash_at), when=when))  # type: ignore[arg-type]
    repo = ic.Repository.open(FaultyStorage(ic.local_filesystem_storage(path), faults))
    if operation == "expire":
        repo.expire_snapshots(cutoff)
    elif operation == "gc":
        repo.garbage_collect(cutoff)
    elif operation == "rewrite":
        repo.rewrite_manifests("rewrite", branch="main")
    else:
        raise SystemExit(f"unknown operation {operation!r}")


if __name__ == "__main__":
    run(*sys.argv[1:7])
    print("done", flush=True)
