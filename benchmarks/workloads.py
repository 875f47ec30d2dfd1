"""One benchmark workload, run in a fresh child process by ``benchmarks/run.py``.

Uses only the public ``icechunk`` and ``zarr`` API, so the same file runs under pyicechunk and
under the real icechunk wheel. Prints one JSON object on stdout::

    {"workload": ..., "timings": {label: seconds}, "peak_rss_mib": ..., "icechunk": version}

Workloads that read (``read_big``, ``open_one_chunk``, ``local_read``) expect the matching
write workload to have run earlier against the same ``--workdir``.

Usage: python workloads.py WORKLOAD --workdir DIR [--quick]
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import resource
import shutil
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import numpy as np
import zarr

import icechunk

MIB = 1024 * 1024


def sizes(quick: bool) -> dict[str, int]:
    """Array sizes, in float32 / float64 elements."""
    if quick:
        # 1 MiB array of 64 KiB chunks; 500 tiny chunks.
        return {
            "big_elems": MIB // 4,
            "big_chunk": 64 * 1024 // 4,
            "many_chunks": 500,
            "merge_quick": 1,
            "virtual_refs": 1000,
            "commits": 5,
            "snapshots": 20,
        }
    return {
        "big_elems": 256 * MIB // 4,  # 256 MiB of float32
        "big_chunk": MIB // 4,  # 1 MiB chunks
        "many_chunks": 100_000,  # 100k chunks of one float64 (8 bytes, stored inline)
        "merge_quick": 0,  # distributed_merge.py's full sizes
        "virtual_refs": 100_000,  # (d) virtual refs into one local file
        "commits": 200,  # (e)
        "snapshots": 10_000,  # (h)
    }


def _big_data(n: int) -> np.ndarray:
    # Deterministic, non-constant (so no chunk is skipped as "empty").
    return np.arange(1, n + 1, dtype=np.float32)


def _fresh(path: Path) -> Path:
    shutil.rmtree(path, ignore_errors=True)
    return path


def write_big(workdir: Path, s: dict[str, int]) -> dict[str, float]:
    return _write_big_to(lambda: icechunk.local_filesystem_storage(str(_fresh(workdir / "big"))), s)


def _write_big_to(storage: Any, s: dict[str, int]) -> dict[str, float]:
    """(a): a new repo on ``storage()`` (called inside the timing), 1 MiB chunks, no codec."""
    data = _big_data(s["big_elems"])
    t0 = time.perf_counter()
    repo = icechunk.Repository.create(storage())
    session = repo.writable_session("main")
    arr = zarr.create_array(
        session.store,
        name="big",
        shape=data.shape,
        chunks=(s["big_chunk"],),
        dtype="float32",
        compressors=None,
        fill_value=0,
    )
    arr[:] = data
    t1 = time.perf_counter()
    session.commit("write big")
    t2 = time.perf_counter()
    return {"write": t1 - t0, "commit": t2 - t1, "total": t2 - t0}


def read_big(workdir: Path, s: dict[str, int]) -> dict[str, float]:
    return _read_big_from(
        lambda: icechunk.local_filesystem_storage(str(workdir / "big")), s, "read_big"
    )


def _read_big_from(storage: Any, s: dict[str, int], what: str) -> dict[str, float]:
    """(b): open what (a) wrote on ``storage()`` and read the whole array."""
    t0 = time.perf_counter()
    repo = icechunk.Repository.open(storage())
    session = repo.readonly_session(branch="main")
    out = zarr.open_array(session.store, path="big", mode="r")[:]
    t1 = time.perf_counter()
    if out.shape != (s["big_elems"],) or out[-1] != s["big_elems"]:
        raise SystemExit(f"{what}: wrong data")
    return {"total": t1 - t0}


# --------------------------------------------------------------------------- (f) S3
#: Set by run.py: JSON of ``icechunk.s3_storage`` keyword arguments (no prefix) for the
#: moto server it started on loopback.
S3_ENV = "ICECHUNK_BENCH_S3"


def _s3_storage(prefix: str) -> Any:
    raw = os.environ.get(S3_ENV)
    if not raw:
        raise SystemExit(f"the S3 workloads need {S3_ENV} (run them through benchmarks/run.py)")
    return icechunk.s3_storage(prefix=prefix, **json.loads(raw))


def s3_write(workdir: Path, s: dict[str, int]) -> dict[str, float]:
    """(a) against the S3 server, under a fresh prefix."""
    prefix = f"big-{uuid.uuid4().hex}"
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / "s3-prefix").write_text(prefix)
    return _write_big_to(lambda: _s3_storage(prefix), s)


def s3_read(workdir: Path, s: dict[str, int]) -> dict[str, float]:
    """(b) against the S3 server: what s3_write wrote."""
    prefix = (workdir / "s3-prefix").read_text()
    return _read_big_from(lambda: _s3_storage(prefix), s, "s3_read")


def write_many(workdir: Path, s: dict[str, int]) -> dict[str, float]:
    n = s["many_chunks"]
    data = np.arange(n, dtype=np.float64)
    t0 = time.perf_counter()
    repo = icechunk.Repository.create(
        icechunk.local_filesystem_storage(str(_fresh(workdir / "many")))
    )
    session = repo.writable_session("main")
    arr = zarr.create_array(
        session.store,
        name="many",
        shape=(n,),
        chunks=(1,),
        dtype="float64",
        compressors=None,
        fill_value=-1.0,
    )
    arr[:] = data
    t1 = time.perf_counter()
    session.commit("write many")
    t2 = time.perf_counter()
    return {"write": t1 - t0, "commit": t2 - t1, "total": t2 - t0}


def open_one_chunk(workdir: Path, s: dict[str, int]) -> dict[str, float]:
    n = s["many_chunks"]
    idx = n // 2 + 7
    t0 = time.perf_counter()
    repo = icechunk.Repository.open(icechunk.local_filesystem_storage(str(workdir / "many")))
    session = repo.readonly_session(branch="main")
    arr = zarr.open_array(session.store, path="many", mode="r")
    value = arr[idx]
    t1 = time.perf_counter()
    if value != idx:
        raise SystemExit(f"open_one_chunk: wrong value {value!r}")
    return {"total": t1 - t0}


def local_write(workdir: Path, s: dict[str, int]) -> dict[str, float]:
    data = _big_data(s["big_elems"])
    t0 = time.perf_counter()
    store = zarr.storage.LocalStore(str(_fresh(workdir / "local")))
    arr = zarr.create_array(
        store,
        name="big",
        shape=data.shape,
        chunks=(s["big_chunk"],),
        dtype="float32",
        compressors=None,
        fill_value=0,
    )
    arr[:] = data
    t1 = time.perf_counter()
    return {"total": t1 - t0}


def local_read(workdir: Path, s: dict[str, int]) -> dict[str, float]:
    t0 = time.perf_counter()
    store = zarr.storage.LocalStore(str(workdir / "local"), read_only=True)
    arr = zarr.open_array(store, path="big", mode="r")
    out = arr[:]
    t1 = time.perf_counter()
    if out.shape != (s["big_elems"],) or out[-1] != s["big_elems"]:
        raise SystemExit("local_read: wrong data")
    return {"total": t1 - t0}


def _merge_workload(split_every: int | None) -> Any:
    """A distributed-merge workload from distributed_merge.py (loaded by path: the real
    wheel's child runs with ``python -I``, which leaves this directory off sys.path)."""

    def run(workdir: Path, s: dict[str, int]) -> dict[str, float]:
        spec = importlib.util.spec_from_file_location(
            "distributed_merge", Path(__file__).with_name("distributed_merge.py")
        )
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        timings: dict[str, float] = module.merge_64(workdir, bool(s["merge_quick"]), split_every)
        return timings

    return run


# --------------------------------------------------------------------------- (d) virtual refs
def _virtual_source(workdir: Path, n: int) -> tuple[str, Path]:
    """A local file holding ``n`` float64 values, and the file:// prefix that serves it."""
    src = workdir / "vsrc"
    src.mkdir(parents=True, exist_ok=True)
    data = src / "data.bin"
    if not data.exists() or data.stat().st_size != 8 * n:
        np.arange(n, dtype="<f8").tofile(data)
    return "file://" + str(src.resolve()) + "/", data


def _virtual_config(prefix: str, src: Path) -> Any:
    config = icechunk.RepositoryConfig.default()
    config.set_virtual_chunk_container(
        icechunk.VirtualChunkContainer(prefix, icechunk.local_filesystem_store(str(src)))
    )
    return config


def write_virtual(workdir: Path, s: dict[str, int]) -> dict[str, float]:
    n = s["virtual_refs"]
    prefix, data = _virtual_source(workdir, n)
    t0 = time.perf_counter()
    repo = icechunk.Repository.create(
        icechunk.local_filesystem_storage(str(_fresh(workdir / "virtual"))),
        config=_virtual_config(prefix, data.parent),
        authorize_virtual_chunk_access={prefix: None},
    )
    session = repo.writable_session("main")
    zarr.create_array(
        session.store,
        name="v",
        shape=(n,),
        chunks=(1,),
        dtype="<f8",
        compressors=None,
        fill_value=-1.0,
    )
    t1 = time.perf_counter()
    failed = session.store.set_virtual_refs_arr(
        "v",
        (n,),
        [prefix + data.name] * n,
        np.arange(n, dtype=np.uint64) * 8,
        np.full(n, 8, dtype=np.uint64),
    )
    if failed:
        raise SystemExit(f"write_virtual: {len(failed)} refs rejected")
    t2 = time.perf_counter()
    session.commit("virtual refs")
    t3 = time.perf_counter()
    return {"set": t2 - t1, "commit": t3 - t2, "total": t3 - t0}


def open_virtual_ref(workdir: Path, s: dict[str, int]) -> dict[str, float]:
    n = s["virtual_refs"]
    prefix, _ = _virtual_source(workdir, n)
    idx = n // 2 + 11
    t0 = time.perf_counter()
    repo = icechunk.Repository.open(
        icechunk.local_filesystem_storage(str(workdir / "virtual")),
        authorize_virtual_chunk_access={prefix: None},
    )
    session = repo.readonly_session(branch="main")
    arr = zarr.open_array(session.store, path="v", mode="r")
    value = arr[idx]
    t1 = time.perf_counter()
    if value != idx:
        raise SystemExit(f"open_virtual_ref: wrong value {value!r}")
    return {"total": t1 - t0}


# --------------------------------------------------------------------------- (e) history
def many_commits(workdir: Path, s: dict[str, int]) -> dict[str, float]:
    n = s["commits"]
    t0 = time.perf_counter()
    repo = icechunk.Repository.create(
        icechunk.local_filesystem_storage(str(_fresh(workdir / "history")))
    )
    session = repo.writable_session("main")
    zarr.create_array(
        session.store,
        name="h",
        shape=(n,),
        chunks=(1,),
        dtype="i8",
        compressors=None,
        fill_value=-1,
    )
    session.commit("create array")
    for i in range(n):
        session = repo.writable_session("main")
        arr = zarr.open_array(session.store, path="h", mode="r+")
        arr[i] = i
        session.commit(f"commit {i}")
    t1 = time.perf_counter()
    return {"total": t1 - t0}


def ancestry_travel(workdir: Path, s: dict[str, int]) -> dict[str, float]:
    n = s["commits"]
    t0 = time.perf_counter()
    repo = icechunk.Repository.open(icechunk.local_filesystem_storage(str(workdir / "history")))
    history = list(repo.ancestry(branch="main"))
    t1 = time.perf_counter()
    first = history[-3]  # [-1] is the repository's initial commit, [-2] created the array
    session = repo.readonly_session(snapshot_id=first.id)
    arr = zarr.open_array(session.store, path="h", mode="r")
    values = arr[:2]
    t2 = time.perf_counter()
    if len(history) != n + 2 or first.message != "commit 0" or list(values) != [0, -1]:
        raise SystemExit(f"ancestry_travel: wrong history {len(history)} {first.message!r}")
    return {"ancestry": t1 - t0, "travel": t2 - t1, "total": t2 - t0}


# --------------------------------------------------------------------------- (h) deep history
def _history_template(workdir: Path) -> Path:
    return workdir.parent / "deep-history-template"


def build_history(workdir: Path, s: dict[str, int]) -> dict[str, float]:
    """Build (untimed, pyicechunk only) a repository whose main has ``snapshots`` commits.

    Committing 10,000 times through the API rewrites the repo file (which lists every
    snapshot) each time -- quadratic. Instead: one real commit, then ``snapshots`` copies
    of its snapshot file under new ids chained by parent links in one repo file. Each
    snapshot file is valid (same tree as the base commit); they have no transaction logs,
    which neither opening, ancestry nor a commit on the tip reads.
    """
    import dataclasses

    from icechunk.format.ids import SnapshotId
    from icechunk.format.model import SnapshotEntry
    from icechunk.format.repo_info import decode_repo_info, encode_repo_info
    from icechunk.format.snapshot import decode_snapshot, encode_snapshot

    t0 = time.perf_counter()
    target = _fresh(_history_template(workdir))
    repo = icechunk.Repository.create(icechunk.local_filesystem_storage(str(target)))
    session = repo.writable_session("main")
    arr = zarr.create_array(
        session.store, name="d", shape=(64,), chunks=(8,), dtype="i8", compressors=None
    )
    arr[:] = np.arange(64)
    session.commit("base")
    info = decode_repo_info((target / "repo").read_bytes())
    parent = info.branches["main"]
    base = decode_snapshot((target / "snapshots" / str(parent)).read_bytes())
    entries = dict(info.snapshots)
    when = base.flushed_at
    for i in range(s["snapshots"]):
        sid, when = SnapshotId.random(), when + 1000
        snap = dataclasses.replace(base, id=sid, flushed_at=when, message=f"deep {i}")
        (target / "snapshots" / str(sid)).write_bytes(encode_snapshot(snap))
        entries[sid] = SnapshotEntry(sid, parent, when, snap.message, {})
        parent = sid
    deep = dataclasses.replace(info, branches={**info.branches, "main": parent}, snapshots=entries)
    (target / "repo").write_bytes(encode_repo_info(deep))
    return {"total": time.perf_counter() - t0}


def deep_history_commit(workdir: Path, s: dict[str, int]) -> dict[str, float]:
    repo_dir = _fresh(workdir / "deep")
    shutil.copytree(_history_template(workdir), repo_dir)  # untimed: each run commits
    # Flush the copy's 10k files now (untimed): our durable commit syncs the filesystem
    # and would otherwise be timed writing back this set-up, not the commit.
    os.sync()
    t0 = time.perf_counter()
    repo = icechunk.Repository.open(icechunk.local_filesystem_storage(str(repo_dir)))
    session = repo.writable_session("main")
    arr = zarr.open_array(session.store, path="d", mode="r+")
    arr[:8] = -np.arange(8)
    t1 = time.perf_counter()
    session.commit("on top of a deep history")
    t2 = time.perf_counter()
    if repo.lookup_branch("main") != session.snapshot_id:
        raise SystemExit("deep_history_commit: the commit did not land")
    return {"open": t1 - t0, "commit": t2 - t1, "total": t2 - t0}


# Run order matters: readers follow their writers.
WORKLOADS = {
    "write_big": write_big,
    "read_big": read_big,
    "write_many": write_many,
    "open_one_chunk": open_one_chunk,
    "local_write": local_write,
    "local_read": local_read,
    "merge_split2": _merge_workload(2),
    "merge_split8": _merge_workload(8),
    "merge_splitnone": _merge_workload(None),
    "s3_write": s3_write,
    "s3_read": s3_read,
    "write_virtual": write_virtual,
    "open_virtual_ref": open_virtual_ref,
    "many_commits": many_commits,
    "ancestry_travel": ancestry_travel,
    "build_history": build_history,
    "deep_history_commit": deep_history_commit,
}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("workload", choices=list(WORKLOADS))
    p.add_argument("--workdir", required=True, type=Path)
    p.add_argument("--quick", action="store_true")
    args = p.parse_args(argv)
    args.workdir.mkdir(parents=True, exist_ok=True)
    timings = WORKLOADS[args.workload](args.workdir, sizes(args.quick))
    # ru_maxrss is KiB on Linux (bytes on macOS).
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    rss_mib = rss / MIB if sys.platform == "darwin" else rss / 1024
    result: dict[str, Any] = {
        "workload": args.workload,
        "timings": timings,
        "peak_rss_mib": round(rss_mib, 1),
        "icechunk": getattr(icechunk, "__version__", "?"),
        "icechunk_file": icechunk.__file__,
        "zarr": zarr.__version__,
        "python": sys.version.split()[0],
    }
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
