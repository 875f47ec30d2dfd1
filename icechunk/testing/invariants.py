"""Reusable assertions about icechunk histories and store listings."""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Sequence
from typing import Any

from hypothesis import event
from hypothesis.control import currently_in_test_context

__all__ = [
    "assert_ancestry_invariants",
    "assert_list_dir_equal",
    "assert_moves_sorted_by_final_path",
    "compare_list_dir",
]

INITIAL_SNAPSHOT_ID = "1CECHNKREP0F1RSTCMT0"


def assert_ancestry_invariants(
    ancestry: Sequence[Any],
    known_commits: set[str] | None = None,
    *,
    must_contain_initial: bool = True,
) -> None:
    """Check a list of :class:`~icechunk.SnapshotInfo`, newest first, is a valid history.

    Times strictly decrease, no snapshot repeats, only the last one lacks a parent, and
    (by default) the last one is the repository's initial snapshot. With
    ``known_commits``, every snapshot must be one of them.
    """
    ids = [snap.id for snap in ancestry]
    assert len(set(ids)) == len(ids), f"a snapshot repeats in the ancestry {ids}"
    if known_commits is not None:
        assert set(ids) <= known_commits, f"unknown snapshots {set(ids) - known_commits}"
    for newer, older in itertools.pairwise(ancestry):
        assert newer.written_at > older.written_at, f"{newer.id} is not newer than {older.id}"
    last = ancestry[-1]
    if must_contain_initial:
        assert last.id == INITIAL_SNAPSHOT_ID, f"history ends at {last.id}, not the initial"
    assert last.parent_id is None, f"history ends at {last.id}, which has a parent"
    orphans = [snap.id for snap in ancestry[:-1] if snap.parent_id is None]
    assert not orphans, f"snapshots without a parent before the end: {orphans}"
    if currently_in_test_context():  # outside hypothesis there are no statistics to feed
        low = len(ids) // 10 * 10
        event(f"ancestry length: {low}-{low + 9}")


def assert_moves_sorted_by_final_path(moved_nodes: list[tuple[str, str]]) -> None:
    """Check ``(from, to)`` moves are ordered by destination, component by component."""
    assert moved_nodes, "expected at least one move"
    destinations = [to for _, to in moved_nodes]
    ordered = sorted(destinations, key=lambda path: path.split("/"))
    assert destinations == ordered, f"moves not sorted by final path: {moved_nodes}"


def assert_list_dir_equal(path: str, expected: list[str], actual: list[str]) -> None:
    """Compare two ``list_dir`` results, tolerating a differing ``"c"`` chunk prefix.

    Icechunk always lists an array's ``c`` prefix; a memory-store model lists it only
    while a chunk exists.
    """
    if set(expected) ^ set(actual) == {"c"}:
        return
    assert expected == actual, f"list_dir({path!r}):\n  model:    {expected}\n  icechunk: {actual}"


async def compare_list_dir(model: Any, store: Any, paths: Iterable[str]) -> None:
    """``assert_list_dir_equal`` for every path, listing a model store and an icechunk store."""
    for path in sorted(paths):
        expected = sorted([key async for key in model.list_dir(path)])
        actual = sorted([key async for key in store.list_dir(path)])
        assert_list_dir_equal(path, expected, actual)
