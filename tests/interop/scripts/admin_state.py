"""Repository status and feature flags, written by one implementation and read by the other.

Uses only the public icechunk API, so it runs under the real wheel and under pyicechunk.

``admin_state.py write PATH``: create a repository with one commit (made with default commit
metadata), disable the ``create_tag`` flag, enable ``delete_tag`` explicitly and set the status
to read-only with reason "maintenance".

``admin_state.py read PATH``: report what this implementation sees and refuses; then set the
status back online, reset both flags and commit once more, reporting the new tip.

Prints one JSON object.
"""

from __future__ import annotations

import json
import sys

import zarr

import icechunk as ic


def write(path: str) -> dict[str, object]:
    repo = ic.Repository.create(ic.local_filesystem_storage(path))
    repo.set_default_commit_metadata({"author": "writer", "tool": "admin_state"})
    session = repo.writable_session("main")
    zarr.create_group(session.store, attributes={"written": True})
    tip = session.commit("first", metadata={"tool": "override"})
    repo.set_feature_flag("create_tag", False)
    repo.set_feature_flag("delete_tag", True)
    repo.set_status(
        ic.RepoStatus(ic.RepoAvailability.read_only, limited_availability_reason="maintenance")
    )
    return {"tip": tip}


def _refusal(action: object) -> str:
    try:
        action()  # type: ignore[operator]
    except ic.IcechunkError as exc:
        return type(exc).__name__
    return "allowed"


def read(path: str) -> dict[str, object]:
    repo = ic.Repository.open(ic.local_filesystem_storage(path))
    status = repo.get_status()
    tip = repo.lookup_branch("main")
    out: dict[str, object] = {
        "availability": str(status.availability),
        "reason": status.limited_availability_reason,
        "flags": sorted((f.name, f.setting, f.enabled) for f in repo.feature_flags()),
        "metadata": repo.lookup_snapshot(tip).metadata,
        "writable_session": _refusal(lambda: repo.writable_session("main")),
        "create_branch": _refusal(lambda: repo.create_branch("dev", tip)),
    }
    repo.set_status(ic.RepoStatus(ic.RepoAvailability.online))
    out["create_tag_while_disabled"] = _refusal(lambda: repo.create_tag("v1", tip))
    repo.set_feature_flag("create_tag", None)
    repo.set_feature_flag("delete_tag", None)
    repo.create_tag("v1", tip)
    session = repo.writable_session("main")
    zarr.create_group(session.store, path="after")
    session.commit("after")
    out["ops_log"] = [type(u.kind).__name__ for u in repo.ops_log()]
    return out


if __name__ == "__main__":
    command, target = sys.argv[1], sys.argv[2]
    result = write(target) if command == "write" else read(target)
    print(json.dumps(result, default=str))
