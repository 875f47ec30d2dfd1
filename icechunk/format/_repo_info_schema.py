"""Layout facts of the repo file shared by its reader and writer.

Slot numbers of the ``Repo`` and ``SnapshotInfo`` tables, the fields of each ops-log
union table, and the parent-link check both directions run.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from numpy.typing import NDArray

from icechunk.format.model import UpdateKind

__all__ = [
    "CODE_SIZE",
    "ID_SIZE",
    "KIND_BY_ID",
    "REPO_SPEC_VERSION",
    "UPDATE_FIELDS",
    "FieldSpec",
    "is_acyclic",
]

#: The only ``Repo.spec_version`` this package reads and writes.
REPO_SPEC_VERSION = 2
#: Size of an ObjectId12 struct.
ID_SIZE = 12

# Repo table slots.
SPEC, TAGS, BRANCHES, DELETED_TAGS, SNAPSHOTS, STATUS, METADATA, UPDATES = range(8)
BEFORE, CONFIG, ENABLED, DISABLED = range(8, 12)
# SnapshotInfo slots.
SNAP_ID, SNAP_PARENT, SNAP_FLUSHED, SNAP_MESSAGE, SNAP_METADATA, SNAP_PRUNED = range(6)
# Update table slots (slot 0 is the union's type byte, slot 1 its value).
UPD_TYPE, UPD_VALUE, UPD_TIME, UPD_BACKUP = range(4)

# Field codes of union tables: "S" required string, "D" required ObjectId12, "B" u8,
# "H" u16, "?" bool, "T" optional RepoStatus table.
FieldSpec = tuple[tuple[int, str, str], ...]
_NAME: FieldSpec = ((0, "name", "S"),)
_NAME_PREV: FieldSpec = ((0, "name", "S"), (1, "previous_snap_id", "D"))

#: For each update kind: ``(slot, UpdateRecord attribute, field code)`` of its union table.
UPDATE_FIELDS: dict[UpdateKind, FieldSpec] = {
    UpdateKind.REPO_INITIALIZED: (),
    UpdateKind.REPO_MIGRATED: ((0, "from_version", "B"), (1, "to_version", "B")),
    UpdateKind.CONFIG_CHANGED: (),
    UpdateKind.METADATA_CHANGED: (),
    UpdateKind.TAG_CREATED: _NAME,
    UpdateKind.TAG_DELETED: _NAME_PREV,
    UpdateKind.BRANCH_CREATED: _NAME,
    UpdateKind.BRANCH_DELETED: _NAME_PREV,
    UpdateKind.BRANCH_RESET: _NAME_PREV,
    UpdateKind.NEW_COMMIT: ((0, "name", "S"), (1, "new_snap_id", "D")),
    UpdateKind.COMMIT_AMENDED: (
        (0, "name", "S"),
        (1, "previous_snap_id", "D"),
        (2, "new_snap_id", "D"),
    ),
    UpdateKind.NEW_DETACHED_SNAPSHOT: ((0, "new_snap_id", "D"),),
    UpdateKind.GC_RAN: (),
    UpdateKind.EXPIRATION_RAN: (),
    UpdateKind.FEATURE_FLAG_CHANGED: (
        (0, "flag_id", "H"),
        (1, "flag_value", "?"),
        (2, "flag_is_set", "?"),
    ),
    UpdateKind.REPO_STATUS_CHANGED: ((0, "status", "T"),),
}

#: Update kinds by their union discriminant.
KIND_BY_ID: dict[int, UpdateKind] = {int(kind): kind for kind in UpdateKind}

#: Inline size in bytes of each field code ("O"/"I" uoffset or u32, "Q" u64, "i" i32).
CODE_SIZE = {"S": 4, "D": ID_SIZE, "B": 1, "H": 2, "?": 1, "T": 4, "O": 4, "I": 4, "i": 4, "Q": 8}


def is_acyclic(parents: Sequence[int] | NDArray[np.integer[Any]]) -> bool:
    """Whether following parent positions (-1: none) always ends at a root.

    Every position must already be in ``-1 .. len(parents) - 1``. Uses pointer jumping:
    after k rounds each node points 2**k steps up, so all reach the sentinel unless a
    cycle exists.
    """
    n = len(parents)
    if not n:
        return True
    up = np.asarray(parents, dtype=np.int64)
    up = np.append(np.where(up < 0, n, up), n)  # node n is a sentinel root
    for _ in range(n.bit_length()):
        up = up[up]
    return bool((up == n).all())
