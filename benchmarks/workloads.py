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
import resource
import shutil
import sys
import time
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
        }
    return {
        "big_elems": 256 * MIB // 4,  # 256 MiB of float32
        "big_chunk": MIB // 4,  # 1 MiB chunks
        "many_chunks": 100_000,  # 100k chunks of one float64 (8 bytes, stored inline)
        "merge_quick": 0,  # distributed_merge.py's full sizes
    }


def _big_data(n: int) -> np.ndarray:
    # Deterministic, non-constant (so no chunk is skipped as "empty").
    return np.arange(1, n + 1, dtype=np.float32)


def _fresh(path: Path) -> Path:
    shutil.rmtree(path, ignore_errors=True)
    return path


def write_big(workdir: Path, s: dict[str, int]) -> dict[str, float]:
    data = _big_data(s["big_elems"])
    t0 = time.perf_counter()
    repo = icechunk.Repository.create(
        icechunk.local_filesystem_storage(str(_fresh(workdir / "big")))
    )
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
    t0 = time.perf_counter()
    repo = icechunk.Repository.open(icechunk.local_filesystem_storage(str(workdir / "big")))
    session = repo.readonly_session(branch="main")
    arr = zarr.open_array(session.store, path="big", mode="r")
    out = arr[:]
    t1 = time.perf_counter()
    if out.shape != (s["big_elems"],) or out[-1] != s["big_elems"]:
        raise SystemExit("read_big: wrong data")
    return {"total": t1 - t0}


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
