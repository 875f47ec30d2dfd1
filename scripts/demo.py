"""Build the demo repository: a small weather archive with a history worth browsing.

Run with ``python scripts/demo.py [PATH]`` (``make demo`` does it, then starts JupyterLab).
The repository lands in PATH, default ./demo-repo, recreated on each run. It holds:

* ``main``: an hourly temperature array filled in over several commits (ingests, a
  calibration, an attribute fix), tagged ``v1.0``, ``v1.1`` and ``v2.0``;
* ``experiment``: forks from ``v1.0`` and adds a humidity array;
* ``reprocessing``: forks from ``v1.1`` and rewrites part of the record twice;
* ``shared-analysis``: the branch two analysts share; ``scripts/demo_conflict.py`` recreates a
  pending conflict on it (a session whose commit fails until it is rebased);
* an operations log with a reset and a deleted branch, not only commits.
"""

from __future__ import annotations

import argparse
import shutil
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import zarr

import icechunk as ic

DEFAULT_PATH = Path(__file__).resolve().parent.parent / "demo-repo"
HOURS, STATIONS = 48, 10
CONFLICT_BRANCH = "shared-analysis"


def _commit(repo: ic.Repository, branch: str, message: str, author: str,
            edit: Callable[[ic.Session], None]) -> str:
    """Open a session on ``branch``, apply ``edit(session)``, commit with an author."""
    session = repo.writable_session(branch)
    edit(session)
    return session.commit(message, metadata={"author": author})


def _temperatures() -> np.ndarray[tuple[int, int], np.dtype[np.float32]]:
    hours = np.arange(HOURS, dtype="float32")[:, None]
    stations = np.arange(STATIONS, dtype="float32")[None, :]
    return (12 + 6 * np.sin(2 * np.pi * hours / 24) + 0.3 * stations).astype("float32")


def _build_main(repo: ic.Repository) -> None:
    data = _temperatures()

    def create(session: ic.Session) -> None:
        root = zarr.group(session.store, attributes={"title": "pyicechunk demo: station weather"})
        temps = root.create_array(
            "temperature", shape=(HOURS, STATIONS), chunks=(12, STATIONS), dtype="float32",
            fill_value=float("nan"), dimension_names=("hour", "station"),
            attributes={"units": "degC"},
        )
        temps[:12] = data[:12]

    _commit(repo, "main", "Create the temperature array with the first 12 hours", "ingest-bot", create)
    for start in (12, 24):
        def ingest(session: ic.Session, start: int = start) -> None:
            zarr.open_array(session.store, path="temperature")[start:start + 12] = data[start:start + 12]
        _commit(repo, "main", f"Ingest hours {start}-{start + 11}", "ingest-bot", ingest)
    repo.create_tag("v1.0", repo.lookup_branch("main"))

    def calibrate(session: ic.Session) -> None:
        temps = zarr.open_array(session.store, path="temperature")
        temps[:12] = np.asarray(temps[:12]) + 0.5
    _commit(repo, "main", "Calibrate the first 12 hours (+0.5 degC)", "ana", calibrate)

    def describe(session: ic.Session) -> None:
        zarr.open_array(session.store, path="temperature").attrs.update(
            {"units": "degC", "long_name": "air temperature at 2 m"})
    _commit(repo, "main", "Describe the temperature variable", "ana", describe)
    repo.create_tag("v1.1", repo.lookup_branch("main"))

    def ingest_last(session: ic.Session) -> None:
        zarr.open_array(session.store, path="temperature")[36:] = data[36:]
    _commit(repo, "main", "Ingest hours 36-47", "ingest-bot", ingest_last)
    repo.create_tag("v2.0", repo.lookup_branch("main"))


def _build_branches(repo: ic.Repository) -> None:
    repo.create_branch("experiment", repo.lookup_tag("v1.0"))

    def humidity(session: ic.Session) -> None:
        group = zarr.open_group(session.store)
        hum = group.create_array("humidity", shape=(HOURS,), chunks=(12,), dtype="uint8",
                                 dimension_names=("hour",), attributes={"units": "%"})
        hum[:] = 60
    _commit(repo, "experiment", "Try adding humidity", "ben", humidity)

    repo.create_branch("reprocessing", repo.lookup_tag("v1.1"))
    for factor in (0.98, 0.99):
        def rescale(session: ic.Session, factor: float = factor) -> None:
            temps = zarr.open_array(session.store, path="temperature")
            temps[12:24] = np.asarray(temps[12:24]) * factor
        _commit(repo, "reprocessing", f"Rescale hours 12-23 by {factor}", "chen", rescale)

    # A branch that was reset and then deleted, so the operations log shows more than commits.
    repo.create_branch("scratch", repo.lookup_branch("main"))

    def scribble(session: ic.Session) -> None:
        zarr.open_array(session.store, path="temperature")[0, 0] = -99
    _commit(repo, "scratch", "Oops: test value", "ben", scribble)
    repo.reset_branch("scratch", repo.lookup_branch("main"))
    repo.delete_branch("scratch")

    repo.create_branch(CONFLICT_BRANCH, repo.lookup_branch("main"))


def build(path: Path) -> ic.Repository:
    """Create the demo repository at ``path``, replacing whatever was there."""
    shutil.rmtree(path, ignore_errors=True)
    repo = ic.Repository.create(ic.local_filesystem_storage(str(path)))
    _build_main(repo)
    _build_branches(repo)
    return repo


def summarize(repo: ic.Repository, path: Path) -> str:
    """A human-readable summary of refs, history and contents."""
    lines = [f"Demo repository at {path}", "", "Branches:"]
    for name in sorted(repo.list_branches()):
        lines.append(f"  {name:<16} -> {repo.lookup_branch(name)}")
    lines.append("Tags:")
    for name in sorted(repo.list_tags()):
        lines.append(f"  {name:<16} -> {repo.lookup_tag(name)}")
    for branch in sorted(repo.list_branches()):
        lines.append(f"\nHistory of {branch}:")
        for snap in repo.ancestry(branch=branch):
            lines.append(f"  {snap.id}  {snap.written_at:%Y-%m-%d %H:%M:%S}  {snap.message}")
    session = repo.readonly_session(branch="main")
    group = zarr.open_group(session.store, mode="r")
    lines.append("\nArrays on main:")
    for name, arr in sorted(group.arrays()):
        lines.append(f"  {name}: shape={arr.shape} dtype={arr.dtype} "
                     f"mean={float(np.nanmean(np.asarray(arr[:]))):.3f}")
    old = zarr.open_array(repo.readonly_session(tag="v1.0").store, path="temperature", mode="r")
    now = zarr.open_array(session.store, path="temperature", mode="r")
    then_value, now_value = float(np.asarray(old[0, 0])), float(np.asarray(now[0, 0]))
    lines.append(f"\nTime travel: temperature[0, 0] at v1.0 = {then_value:.3f}, now = {now_value:.3f}")
    lines.append(f"Operations log entries: {sum(1 for _ in repo.ops_log())}")
    lines.append(f"Pending conflict: python scripts/demo_conflict.py {path}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Build the demo repository and print its summary."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("path", nargs="?", type=Path, default=DEFAULT_PATH)
    args = parser.parse_args(argv)
    path = args.path.resolve()
    repo = build(path)
    print(summarize(repo, path))
    return 0


if __name__ == "__main__":
    sys.exit(main())
