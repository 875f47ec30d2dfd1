"""Data behind the conflict resolver: which choices the public solver can honour.

The public :class:`~icechunk.BasicConflictSolver` decides per conflict *kind*, not per path:
chunk double updates can keep ours, keep theirs or fail; deletes of nodes the other side
updated can let our delete win or fail; every other kind always fails (the session has to
change or discard those edits). These functions encode exactly that and nothing more.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import icechunk as ic

__all__ = [
    "DEFAULT_CHOICES",
    "OPTIONS",
    "group_by_path",
    "options_for",
    "solver_code",
    "solver_from_choices",
    "validate_choice",
]

OPTIONS: dict[str, list[str]] = {
    "ChunkDoubleUpdate": ["ours", "theirs", "fail"],
    "DeleteOfUpdatedArray": ["ours", "fail"],
    "DeleteOfUpdatedGroup": ["ours", "fail"],
}
"""Choices per conflict kind; kinds not listed can only fail."""

DEFAULT_CHOICES: dict[str, str] = {kind: "fail" for kind in OPTIONS}
"""The safe default: nothing is resolved until the user picks a side."""

EXPLANATIONS: dict[str, dict[str, str]] = {
    "ChunkDoubleUpdate": {
        "ours": "keep the chunks this session wrote",
        "theirs": "drop this session's writes to those chunks; keep the committed ones",
        "fail": "stop the rebase",
    },
    "DeleteOfUpdatedArray": {"ours": "our delete wins over their update", "fail": "stop"},
    "DeleteOfUpdatedGroup": {"ours": "our delete wins over their update", "fail": "stop"},
}


def options_for(kind: str) -> list[str]:
    """The choices the public solver supports for a conflict kind."""
    return OPTIONS.get(kind, ["fail"])


def validate_choice(kind: str, choice: str) -> None:
    """Raise ``ValueError`` for a choice the public solver cannot honour."""
    allowed = options_for(kind)
    if choice not in allowed:
        raise ValueError(
            f"{kind} conflicts can only be resolved with {allowed}: BasicConflictSolver "
            "has no other option for them"
        )


def solver_from_choices(choices: Mapping[str, str]) -> ic.BasicConflictSolver:
    """The :class:`~icechunk.BasicConflictSolver` that applies ``choices`` (kind -> choice)."""
    selection = {
        "ours": ic.VersionSelection.UseOurs,
        "theirs": ic.VersionSelection.UseTheirs,
        "fail": ic.VersionSelection.Fail,
    }[choices.get("ChunkDoubleUpdate", "fail")]
    return ic.BasicConflictSolver(
        on_chunk_conflict=selection,
        fail_on_delete_of_updated_array=choices.get("DeleteOfUpdatedArray", "fail") == "fail",
        fail_on_delete_of_updated_group=choices.get("DeleteOfUpdatedGroup", "fail") == "fail",
    )


def solver_code(choices: Mapping[str, str], message: str = "...") -> str:
    """The Python that performs the same resolution, for readers without a kernel."""
    selection = {"ours": "UseOurs", "theirs": "UseTheirs", "fail": "Fail"}[
        choices.get("ChunkDoubleUpdate", "fail")
    ]
    array_fail = choices.get("DeleteOfUpdatedArray", "fail") == "fail"
    group_fail = choices.get("DeleteOfUpdatedGroup", "fail") == "fail"
    return (
        "from icechunk import BasicConflictSolver, VersionSelection\n\n"
        "solver = BasicConflictSolver(\n"
        f"    on_chunk_conflict=VersionSelection.{selection},\n"
        f"    fail_on_delete_of_updated_array={array_fail},\n"
        f"    fail_on_delete_of_updated_group={group_fail},\n"
        ")\n"
        "session.rebase(solver)\n"
        f"session.commit({message!r})"
    )


def group_by_path(rows: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Conflict rows grouped by path (sorted), each group listing its conflicts by kind."""
    groups: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        groups.setdefault(row["path"], []).append(dict(row))
    return [
        {"path": path, "conflicts": sorted(items, key=lambda r: r["kind"])}
        for path, items in sorted(groups.items())
    ]
