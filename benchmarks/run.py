"""Benchmark pyicechunk ("ours") against the real icechunk wheel ("real").

Every workload in ``benchmarks/workloads.py`` runs in its own child process, once per
implementation per repetition, alternating ours/real so drift (page cache, thermal) hits both
alike. Ours runs under ``.venv/bin/python`` with the repository root on ``PYTHONPATH``; real runs
under ``.venv-real/bin/python -I`` from a scratch directory, so ``import icechunk`` cannot find
this checkout. The table shows per-workload medians, the ratio ours/real and the peak RSS
(``ru_maxrss`` reported by the child; max over repetitions).

    .venv/bin/python benchmarks/run.py [--quick] [--repeat N] [--only ours|real] [--json FILE]
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
WORKLOADS_PY = ROOT / "benchmarks" / "workloads.py"

# (workload, timing label, table row name) in run order: each reader follows its writer.
ROWS = [
    ("write_big", "total", "(a) write 256 MiB, 1 MiB chunks + commit"),
    ("write_big", "write", "    of which: write"),
    ("write_big", "commit", "    of which: commit"),
    ("read_big", "total", "(b) read 256 MiB, fresh readonly session"),
    ("write_many", "write", "(c) 100k inline chunks: write"),
    ("write_many", "commit", "(c) 100k inline chunks: commit"),
    ("open_one_chunk", "total", "(d) cold open + read 1 of 100k chunks"),
    ("s3_write", "total", "(f) S3 (moto): write 256 MiB + commit"),
    ("s3_write", "write", "    of which: write"),
    ("s3_write", "commit", "    of which: commit"),
    ("s3_read", "total", "(f) S3 (moto): read 256 MiB"),
    ("local_write", "total", "floor: zarr LocalStore write 256 MiB"),
    ("local_read", "total", "floor: zarr LocalStore read 256 MiB"),
    ("merge_split2", "total", "(g) 64 tasks write+merge+commit, split_every=2"),
    ("merge_split2", "merge", "    of which: driver merge"),
    ("merge_split2", "driver_peak_growth_mib", "    driver peak RSS growth"),
    ("merge_split8", "total", "(g) 64 tasks write+merge+commit, split_every=8"),
    ("merge_split8", "driver_peak_growth_mib", "    driver peak RSS growth"),
    ("merge_splitnone", "total", "(g) 64 tasks write+merge+commit, split_every=None"),
    ("merge_splitnone", "driver_peak_growth_mib", "    driver peak RSS growth"),
]
# Slow to start (each spawns a dask process pool): run only when named in --workloads.
OPT_IN = {"merge_split2", "merge_split8", "merge_splitnone"}
# (d) virtual refs, (e) history, (h) deep history; see benchmarks/README.md.
ROWS += [
    ("write_virtual", "set", "(d) set 100k virtual refs"),
    ("write_virtual", "commit", "(d) commit 100k virtual refs"),
    ("open_virtual_ref", "total", "(d) cold open + read 1 of 100k virtual refs"),
    ("many_commits", "total", "(e) 200 commits"),
    ("ancestry_travel", "ancestry", "(e) open + full ancestry of 200"),
    ("ancestry_travel", "travel", "(e) time travel to the first + read"),
    ("deep_history_commit", "open", "(h) open 10k-snapshot repo + write"),
    ("deep_history_commit", "commit", "(h) commit on 10k-snapshot repo"),
]
#: Untimed set-up run once per benchmark run, under our interpreter, before a workload.
PREPARE = {"deep_history_commit": "build_history"}
QUICK_NAMES = {
    "256 MiB": "1 MiB",
    "1 MiB chunks": "64 KiB chunks",
    "100k virtual": "1000 virtual",
    "100k": "500",
    "200": "5",
    "10k": "20",
}


#: Workloads that talk to the S3 server this driver starts (see s3_server).
S3_WORKLOADS = {"s3_write", "s3_read"}


_BUCKET_OPS = """
import sys, boto3
def client(url):
    return boto3.client("s3", endpoint_url=url, region_name="us-east-1",
                        aws_access_key_id="testing-key-id", aws_secret_access_key="testing-secret-key")
def create(url, bucket):
    client(url).create_bucket(Bucket=bucket)
def empty(url, bucket):
    c = client(url)
    for page in c.get_paginator("list_objects_v2").paginate(Bucket=bucket):
        keys = [{"Key": o["Key"]} for o in page.get("Contents", [])]
        for at in range(0, len(keys), 1000):
            c.delete_objects(Bucket=bucket, Delete={"Objects": keys[at : at + 1000]})
"""


@contextmanager
def s3_server(needed: bool) -> Iterator[Any]:
    """moto's S3 server on a free loopback port, with one bucket, for the (f) workloads.

    Started with the test suite's own helpers (``tests/servers``) as a child process;
    the children learn where it is from ``ICECHUNK_BENCH_S3``. Yields a function that
    deletes every object in the bucket (moto keeps them in memory).
    """
    if not needed:
        yield lambda: None
        return
    sys.path.insert(0, str(ROOT / "tests"))
    from servers import S3Endpoint, free_port, subprocess_server, unique_name

    # Everything S3 runs in child processes, not here: a child's ru_maxrss starts at its
    # parent's peak (fork), so moto's memory (or boto3's) in this driver would inflate
    # every peak RSS in the table.
    port = free_port()
    argv = [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)]
    with subprocess_server(argv, f"http://127.0.0.1:{port}/"):
        endpoint = S3Endpoint("moto", f"http://127.0.0.1:{port}")
        bucket = unique_name("bench")
        kwargs = endpoint.storage_kwargs(bucket, "")
        del kwargs["prefix"]
        os.environ["ICECHUNK_BENCH_S3"] = json.dumps(kwargs)

        def bucket_op(op: str) -> None:
            script = _BUCKET_OPS + f"\n{op}(*sys.argv[1:])"
            subprocess.run([sys.executable, "-c", script, endpoint.url, bucket], check=True)

        bucket_op("create")
        try:
            yield lambda: bucket_op("empty")
        finally:
            os.environ.pop("ICECHUNK_BENCH_S3", None)


def workload_order() -> list[str]:
    seen: list[str] = []
    for w, _, _ in ROWS:
        if w not in seen:
            seen.append(w)
    return seen


def interpreters(only: str | None) -> dict[str, tuple[list[str], dict[str, str], Path | None]]:
    """impl -> (argv prefix, env, cwd)."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
    impls: dict[str, tuple[list[str], dict[str, str], Path | None]] = {}
    if only in (None, "ours"):
        ours_py = ROOT / ".venv" / "bin" / "python"
        exe = str(ours_py) if ours_py.exists() else sys.executable
        impls["ours"] = ([exe], {**env, "PYTHONPATH": str(ROOT)}, ROOT)
    if only in (None, "real"):
        real_py = Path(
            os.environ.get("ICECHUNK_REAL_PYTHON", ROOT / ".venv-real" / "bin" / "python")
        )
        if not real_py.exists():
            raise SystemExit(f"real-wheel interpreter not found: {real_py} (run `make venvs`)")
        # cwd is set per run to a scratch dir outside the checkout; -I drops cwd/PYTHON* env.
        impls["real"] = ([str(real_py), "-I"], env, None)
    return impls


def run_one(
    impl: str,
    spec: tuple[list[str], dict[str, str], Path | None],
    workload: str,
    workdir: Path,
    quick: bool,
) -> dict[str, Any]:
    argv, env, cwd = spec
    cmd = [*argv, str(WORKLOADS_PY), workload, "--workdir", str(workdir)]
    if quick:
        cmd.append("--quick")
    proc = subprocess.run(
        cmd, env=env, cwd=str(cwd or workdir.parent), capture_output=True, text=True, check=False
    )
    if proc.returncode != 0:
        sys.stderr.write(proc.stderr)
        raise SystemExit(f"{impl}/{workload} failed with exit code {proc.returncode}")
    result: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    if impl == "real" and Path(result["icechunk_file"]).resolve().is_relative_to(ROOT / "icechunk"):
        raise SystemExit("the real-wheel run imported this checkout's icechunk package")
    if impl == "ours" and not Path(result["icechunk_file"]).resolve().is_relative_to(ROOT):
        raise SystemExit(f"the 'ours' run imported {result['icechunk_file']}")
    return result


def fmt_value(label: str, x: float | None) -> str:
    """Seconds, or MiB for ``*_mib`` labels."""
    if label.endswith("_mib"):
        return "-" if x is None else f"{x:.1f} MiB"
    return fmt_s(x)


def fmt_s(x: float | None) -> str:
    if x is None:
        return "-"
    return f"{x * 1000:.1f} ms" if x < 1 else f"{x:.2f} s"


def table(results: dict[str, dict[str, list[dict[str, Any]]]], quick: bool) -> str:
    impls = list(results)
    header = ["workload"]
    for impl in impls:
        header.append(f"{impl} median")
    if len(impls) == 2:
        header.append("ours/real")
    for impl in impls:
        header.append(f"{impl} peak RSS")
    lines = [header]
    for workload, label, name in ROWS:
        if not any(workload in results[impl] for impl in impls):
            continue
        if quick:
            for long, short in QUICK_NAMES.items():
                name = name.replace(long, short)
        row = [name]
        medians: dict[str, float] = {}
        for impl in impls:
            runs = results[impl].get(workload, [])
            if runs:
                medians[impl] = statistics.median(r["timings"][label] for r in runs)
            row.append(fmt_value(label, medians.get(impl)))
        if len(impls) == 2:
            ok = "ours" in medians and medians.get("real") and not label.endswith("_mib")
            row.append(f"{medians['ours'] / medians['real']:.2f}x" if ok else "-")
        for impl in impls:
            runs = results[impl].get(workload, [])
            show = runs and label in ("total", "write") and not name.startswith("    ")
            if workload == "write_many" and label == "commit":
                show = False
            first_row = next(lab for w, lab, _ in ROWS if w == workload)
            show = show or (runs and label == first_row)
            row.append(f"{max(r['peak_rss_mib'] for r in runs):.0f} MiB" if show else "")
        lines.append(row)
    widths = [max(len(r[i]) for r in lines) for i in range(len(header))]
    out = []
    for n, r in enumerate(lines):
        cells = [r[0].ljust(widths[0])] + [
            c.rjust(w) for c, w in zip(r[1:], widths[1:], strict=True)
        ]
        out.append("| " + " | ".join(cells) + " |")
        if n == 0:
            out.append("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--repeat", type=int, default=3, help="repetitions per workload (default 3)")
    p.add_argument("--quick", action="store_true", help="tiny sizes, for smoke runs")
    p.add_argument("--only", choices=["ours", "real"], help="run a single implementation")
    p.add_argument(
        "--workloads",
        help="comma-separated subset of: "
        + ",".join(workload_order())
        + " (the merge_* ones run only when named)",
    )
    p.add_argument("--json", type=Path, help="also write the raw results here")
    p.add_argument("--keep", action="store_true", help="keep the scratch directory")
    args = p.parse_args(argv)

    order = workload_order()
    if args.workloads:
        wanted = args.workloads.split(",")
        unknown = set(wanted) - set(order)
        if unknown:
            raise SystemExit(f"unknown workloads: {sorted(unknown)}")
        order = [w for w in order if w in wanted]
    else:
        order = [w for w in order if w not in OPT_IN]

    if S3_WORKLOADS & set(order) and importlib.util.find_spec("moto") is None:
        print("moto is not installed (pip install 'moto[server]'): skipping the S3 workloads")
        order = [w for w in order if w not in S3_WORKLOADS]
    with s3_server(bool(S3_WORKLOADS & set(order))) as empty_bucket:
        results, versions = run_all(args, order, empty_bucket)

    print()
    for impl, v in versions.items():
        print(f"{impl}: {v}")
    print(f"repetitions: {args.repeat}{' (quick sizes)' if args.quick else ''}\n")
    print(table(results, args.quick))
    if args.json:
        args.json.write_text(json.dumps({"versions": versions, "results": results}, indent=1))
    return 0


def run_all(
    args: argparse.Namespace, order: list[str], empty_bucket: Any
) -> tuple[dict[str, dict[str, list[dict[str, Any]]]], dict[str, str]]:
    """Run every workload of ``order`` ``args.repeat`` times per implementation."""
    impls = interpreters(args.only)
    scratch = Path(tempfile.mkdtemp(prefix="icechunk-bench-"))
    results: dict[str, dict[str, list[dict[str, Any]]]] = {i: {} for i in impls}
    versions: dict[str, str] = {}
    try:
        for workload in order:
            if workload in PREPARE:
                prep = impls.get("ours") or interpreters("ours")["ours"]
                run_one("ours", prep, PREPARE[workload], scratch / "ours", args.quick)
        for rep in range(args.repeat):
            # Alternate which implementation goes first on each repetition.
            names = list(impls) if rep % 2 == 0 else list(reversed(impls))
            for workload in order:
                for impl in names:
                    workdir = scratch / impl
                    r = run_one(impl, impls[impl], workload, workdir, args.quick)
                    results[impl].setdefault(workload, []).append(r)
                    versions[impl] = (
                        f"icechunk {r['icechunk']}, zarr {r['zarr']}, Python {r['python']}"
                    )
                    times = ", ".join(f"{k}={fmt_value(k, v)}" for k, v in r["timings"].items())
                    print(f"[{rep + 1}/{args.repeat}] {impl:4} {workload:15} {times}", flush=True)
                if workload == "s3_read":
                    empty_bucket()  # both sides have read their copy: free moto's memory
    finally:
        if args.keep:
            print(f"scratch kept at {scratch}")
        else:
            shutil.rmtree(scratch, ignore_errors=True)
    return results, versions


if __name__ == "__main__":
    sys.exit(main())
