"""icechunk.testing.models / trees / utils: the helpers property tests build on.

The real package ships these modules and its own test suite imports them, so they must
exist with the same names; here they are checked against plain zarr stores and against
icechunk sessions.
"""

from __future__ import annotations

import re

import numpy as np
import pytest
import zarr
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from zarr.core.buffer import default_buffer_prototype
from zarr.core.sync import sync

import icechunk as ic
from icechunk.testing.models import ArrayNode, GroupNode, ModelStore
from icechunk.testing.trees import (
    absolute,
    child_names_at,
    tree_and_invalid_moves,
    tree_and_valid_moves,
    trees,
    wrap_tolerant,
)
from icechunk.testing.utils import (
    precommit_postcommit_readonly,
    tree_to_model_and_icechunk,
    update_paths_after_move,
)

FEW = settings(
    max_examples=8, deadline=None, suppress_health_check=[HealthCheck.too_slow], database=None
)


def test_from_paths_implies_parent_groups() -> None:
    tree = GroupNode.from_paths(arrays={"/a/b/x", "/y"}, groups={"/c", "/"})
    assert sorted(tree.groups()) == ["a", "a/b", "c"]
    assert sorted(tree.arrays()) == ["a/b/x", "y"]
    assert tree.groups(include_root=True)[0] == ""
    assert tree.children["y"] == ArrayNode(shape=(1,), dtype=np.dtype("i4"))
    with pytest.raises(ValueError, match="absolute"):
        GroupNode.from_paths(arrays={"relative"}, groups=set())


def test_materialize_and_read_back_through_icechunk() -> None:
    tree = GroupNode.from_paths(arrays={"/g/temp", "/rain"}, groups={"/empty"})
    model, session, repo = tree_to_model_and_icechunk(tree, add_hypothesis_note=False)
    assert GroupNode.from_store(model) == tree
    seen = [
        (label, GroupNode.from_store(store))
        for label, store in precommit_postcommit_readonly(session, repo)
    ]
    assert [label for label, _ in seen] == ["pre-commit", "post-commit", "readonly"]
    assert all(found == tree for _, found in seen)
    assert sync(GroupNode.from_store_async(model)) == tree


async def _value(store: ModelStore, key: str) -> bytes | None:
    found = await store.get(key, prototype=default_buffer_prototype())
    return None if found is None else found.to_bytes()


async def test_model_store_moves_a_node_with_its_descendants() -> None:
    model = ModelStore()
    GroupNode.from_paths(arrays={"/a/x", "/ab"}, groups=set()).materialize(model)
    await model.move("/a", "/b")
    assert GroupNode.from_store(model) == GroupNode.from_paths(arrays={"/b/x", "/ab"}, groups=set())
    with pytest.raises(ValueError, match="absolute"):
        await model.move("b", "/c")


async def test_model_store_shift_drops_and_clears_chunks() -> None:
    model = ModelStore()
    model.spec_version = 2
    array = zarr.create_array(model, name="v", shape=(3,), chunks=(1,), dtype="u1", fill_value=0)
    array[:] = [1, 2, 3]
    before = [await _value(model, f"v/c/{i}") for i in range(3)]
    await model.shift_array("v", (1,), (3,))
    # chunk 2 falls off the end, chunk 0 is vacated, the rest move up by one
    assert [await _value(model, f"v/c/{i}") for i in range(3)] == [None, *before[:2]]
    twin = await model.copy()
    assert twin.spec_version == 2
    assert await _value(twin, "v/c/2") == before[1]


def test_paths_follow_a_move() -> None:
    arrays, groups = update_paths_after_move("a", "z", {"a/x", "ab/y"}, {"", "a", "ab"})
    assert arrays == {"z/x", "ab/y"}
    assert groups == {"", "z", "ab"}


def test_path_helpers() -> None:
    assert absolute("") == "/"
    assert absolute("a/b") == "/a/b"
    assert child_names_at("", {"a", "a/b", "c"}) == {"a", "c"}
    assert child_names_at("a", {"a", "a/b", "a/b/c", "ab/d"}) == {"b"}
    wrapped = "cannot move\n  | into itself"
    assert re.search(wrap_tolerant("move into itself"), wrapped)


@FEW
@given(tree=trees(max_leaves=st.just(6)))
def test_drawn_trees_round_trip(tree: GroupNode) -> None:
    model, session, _ = tree_to_model_and_icechunk(tree, add_hypothesis_note=False)
    assert GroupNode.from_store(model) == tree
    assert GroupNode.from_store(session.store) == tree


def _committed(tree: GroupNode) -> tuple[ModelStore, ic.Repository]:
    model, session, repo = tree_to_model_and_icechunk(tree, add_hypothesis_note=False)
    session.commit("tree")
    return model, repo


@FEW
@given(case=tree_and_valid_moves(max_leaves=st.just(6), n_moves=st.integers(1, 4)))
def test_valid_moves_apply_like_the_model(case: tuple[GroupNode, list[tuple[str, str]]]) -> None:
    tree, moves = case
    model, repo = _committed(tree)
    session = repo.rearrange_session("main")
    for source, dest in moves:
        session.move(source, dest)
        sync(model.move(source, dest))
    assert GroupNode.from_store(session.store) == GroupNode.from_store(model)


@FEW
@given(case=tree_and_invalid_moves(max_leaves=st.just(6), n_moves=st.integers(1, 4)))
def test_invalid_moves_fail_with_their_pattern(
    case: tuple[GroupNode, list[tuple[str, str, str]]],
) -> None:
    tree, moves = case
    _, repo = _committed(tree)
    session = repo.rearrange_session("main")
    for source, dest, pattern in moves:
        with pytest.raises(ic.IcechunkError, match=wrap_tolerant(pattern)):
            session.move(source, dest)
    assert not session.has_uncommitted_changes
