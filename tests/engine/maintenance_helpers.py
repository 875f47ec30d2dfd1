"""Small helpers shared by the expiration, GC and version-control model tests.

Every repository here stores one int32 array ``/a`` of ``SIZE`` one-element chunks, with
inline chunks disabled so each write makes a real chunk object that GC can delete.
"""

from __future__ import annotations

import datetime as dt
import itertools
import time
from typing import Any

import numpy as np
import zarr

import icechunk as ic
from engine.storage_kinds import storage_kind
from icechunk.storage import Storage

SIZE = 4
FILL = -1


def new_repo(storage: Storage | None = None) -> ic.Repository:
    """A repository whose every chunk becomes its own chunk object."""
    config = ic.RepositoryConfig(inline_chunk_threshold_bytes=0)
    return ic.Repository.create(storage or ic.in_memory_storage(), config=config)


def write(repo: ic.Repository, branch: str, index: int, value: int) -> str:
    """Commit ``a[index] = value`` on ``branch`` (creating ``/a`` first if needed)."""
    session = repo.writable_session(branch)
    root = zarr.open_group(session.store, mode="a")
    if "a" in root:
        array = root["a"]
    else:
        array = root.create_array("a", shape=(SIZE,), chunks=(1,), dtype="i4", fill_value=FILL)
    array[index] = value
    return session.commit(f"a[{index}] = {value}")


def read(repo: ic.Repository, **ref: Any) -> list[int] | None:
    """The contents of ``/a`` at a branch, tag or snapshot; None when it does not exist."""
    session = repo.readonly_session(**ref)
    try:
        array = zarr.open_array(session.store, path="a", mode="r")
    except FileNotFoundError:  # zarr's NodeNotFoundError derives from it
        return None
    return [int(x) for x in np.asarray(array[:])]


def ancestry_ids(repo: ic.Repository, **ref: Any) -> list[str]:
    """Snapshot ids from the ref back to the root."""
    return [info.id for info in repo.ancestry(**ref)]


def written_at(repo: ic.Repository, snapshot_id: str) -> dt.datetime:
    """When a snapshot was flushed, as recorded in the repo info."""
    return repo.lookup_snapshot(snapshot_id).written_at


def keys(storage: Storage, prefix: str) -> set[str]:
    """Object ids under ``prefix`` (``"chunks"``, ``"snapshots"``...)."""
    return {key.rpartition("/")[2] for key, _ in storage.list_objects(prefix=prefix + "/")}


def total_size(storage: Storage) -> int:
    """Bytes stored under the four object prefixes GC manages."""
    prefixes = ("snapshots/", "manifests/", "chunks/", "transactions/")
    return sum(size for p in prefixes for _, size in storage.list_objects(prefix=p))


def now_after_writes() -> dt.datetime:
    """A cutoff strictly after every write so far (the clock may not tick between calls).

    S3 lists whole-second modification times, which GC reads as "some time in that second"
    (``created_entirely_before``): on S3 the cutoff is taken just after the next second
    boundary, so that every earlier write certainly precedes it and later writes do not.
    """
    time.sleep(0.002)
    if storage_kind() == "s3":
        time.sleep(1.01 - dt.datetime.now(dt.UTC).microsecond / 1_000_000)
    return dt.datetime.now(dt.UTC)


def op_kinds(repo: ic.Repository, count: int) -> list[str]:
    """Type names of the newest ``count`` ops-log entries."""
    return [type(update.kind).__name__ for update in itertools.islice(repo.ops_log(), count)]
