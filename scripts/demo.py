"""Build a small demo repository on the local filesystem and print a summary of it.

Run with ``make demo``. The repository lands in ./demo-repo (recreated each run).
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import numpy as np
import zarr

import icechunk as ic

ROOT = Path(__file__).resolve().parent.parent / "demo-repo"


def build(path: Path) -> ic.Repository:
    """Create the repository with a few commits, a branch and tags."""
    shutil.rmtree(path, ignore_errors=True)
    repo = ic.Repository.create(ic.local_filesystem_storage(str(path)))
    session = repo.writable_session("main")
    root = zarr.group(session.store, attributes={"title": "pyicechunk demo"})
    temps = root.create_array("temperature", shape=(24, 10), chunks=(6, 10), dtype="float32",
                              dimension_names=("hour", "station"))
    temps[:] = 15 + 5 * np.sin(np.arange(240, dtype="float32").reshape(24, 10) / 10)
    first = session.commit("Add hourly temperatures", metadata={"author": "demo"})
    repo.create_tag("v1.0", first)

    session = repo.writable_session("main")
    arr = zarr.open_array(session.store, path="temperature")
    arr[:6] += 0.5
    session.commit("Calibrate the first six hours")

    repo.create_branch("experiment", first)
    session = repo.writable_session("experiment")
    zarr.open_group(session.store).create_array("humidity", shape=(24,), chunks=(12,), dtype="uint8")[:] = 60
    session.commit("Try adding humidity")
    repo.create_tag("v1.1", repo.lookup_branch("main"))
    return repo


def summarize(repo: ic.Repository) -> str:
    """A human-readable summary of refs, history and contents."""
    lines = [f"Demo repository at {ROOT}", "", "Branches:"]
    for name in sorted(repo.list_branches()):
        lines.append(f"  {name:<12} -> {repo.lookup_branch(name)}")
    lines.append("Tags:")
    for name in sorted(repo.list_tags()):
        lines.append(f"  {name:<12} -> {repo.lookup_tag(name)}")
    for branch in sorted(repo.list_branches()):
        lines.append(f"\nHistory of {branch}:")
        for snap in repo.ancestry(branch=branch):
            lines.append(f"  {snap.id}  {snap.written_at:%Y-%m-%d %H:%M:%S}  {snap.message}")
    session = repo.readonly_session("main")
    group = zarr.open_group(session.store, mode="r")
    lines.append("\nArrays on main:")
    for name, arr in sorted(group.arrays()):
        lines.append(f"  {name}: shape={arr.shape} dtype={arr.dtype} mean={float(np.mean(arr[:])):.3f}")
    old = zarr.open_array(repo.readonly_session(tag="v1.0").store, path="temperature", mode="r")
    lines.append(f"\nTime travel: temperature[0, 0] at v1.0 = {old[0, 0]:.3f}, "
                 f"now = {zarr.open_array(session.store, path='temperature', mode='r')[0, 0]:.3f}")
    return "\n".join(lines)


def main() -> int:
    """Build the demo repository and print its summary."""
    repo = build(ROOT)
    print(summarize(repo))
    return 0


if __name__ == "__main__":
    sys.exit(main())
