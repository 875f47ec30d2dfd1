"""Print every ``inspect_*`` view of the repository at ``argv[1]`` as one JSON object.

Keys: ``repo`` (inspect_repo_info), then for each snapshot on the ancestry of every branch
its id (inspect_snapshot), ``tx:<id>`` (inspect_transaction_log, except for root
snapshots) and each manifest id it uses (inspect_manifest). Runs under the real wheel and
under pyicechunk.
"""

from __future__ import annotations

import json
import sys
from typing import Any

import icechunk


def main(path: str) -> None:
    repo = icechunk.Repository.open(icechunk.local_filesystem_storage(path))
    out: dict[str, Any] = {"repo": repo.inspect_repo_info()}
    for branch in sorted(repo.list_branches()):
        for snap in repo.ancestry(branch=branch):
            view = repo.inspect_snapshot(snap.id)
            out[snap.id] = view
            if snap.parent_id is not None:
                out["tx:" + snap.id] = repo.inspect_transaction_log(snap.id)
            for manifest in view["manifests"]:
                out[manifest["id"]] = repo.inspect_manifest(manifest["id"])
    print(json.dumps(out, sort_keys=True))


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(f"usage: {sys.argv[0]} REPO_PATH")
    main(sys.argv[1])
