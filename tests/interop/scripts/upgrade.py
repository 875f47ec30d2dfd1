"""Upgrade the spec-v1 repository at ``argv[1]`` to spec v2 with ``upgrade_icechunk_repository``.

Uses only the public icechunk API, so it runs under the real 2.x wheel and under pyicechunk.
Prints ``{"spec_version": ..., "ops_log": [[kind repr, updated_at iso], ...]}`` of the result.
"""

from __future__ import annotations

import json
import sys

import icechunk


def main(path: str) -> None:
    repo = icechunk.Repository.open(icechunk.local_filesystem_storage(path))
    upgraded = icechunk.upgrade_icechunk_repository(repo, dry_run=False)
    log = [[repr(u.kind), u.updated_at.isoformat()] for u in upgraded.ops_log()]
    print(json.dumps({"spec_version": int(upgraded.spec_version), "ops_log": log}))


if __name__ == "__main__":
    main(sys.argv[1])
