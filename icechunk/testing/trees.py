"""Hypothesis strategies for zarr hierarchies and for moves within them.

Hierarchies are drawn in two steps: :func:`skeletons` draws the shape of the tree with
``st.recursive`` (which shrinks well), then :func:`trees` names the nodes, preferring
names close to ones already used (``tas`` next to ``tas_1``, a cousin reusing a name) so
that prefix collisions, a classic source of listing bugs, come up often.

Inside this module paths are relative (``"a/b"``, the root is ``""``); :func:`absolute`
turns them into icechunk's ``/``-prefixed form. Move strategies return absolute paths.
An invalid move comes with a regular expression (one of the ``ERR_*`` fragments) that
the error raised by :meth:`icechunk.Session.move` must match.
"""

from __future__ import annotations

import posixpath
import re
from itertools import combinations
from typing import Literal

import hypothesis.strategies as st
import numpy as np
import zarr.testing.strategies as zrst
from zarr.testing.strategies import node_names

from icechunk.testing.models import ArrayNode, GroupNode, Node
from icechunk.testing.utils import update_paths_after_move

__all__ = [
    "ERR_MISSING_PARENT",
    "ERR_OVERWRITE",
    "ERR_PARENT_NOT_GROUP",
    "ERR_SELF_OR_DESCENDANT",
    "ERR_SOURCE_MISSING",
    "InvalidMoveReason",
    "MixedMove",
    "absolute",
    "child_names_at",
    "fresh_name",
    "fresh_names",
    "invalid_move",
    "invalid_moves",
    "is_descendant",
    "similar_name",
    "skeletons",
    "tree_and_invalid_moves",
    "tree_and_mixed_moves",
    "tree_and_valid_moves",
    "trees",
    "valid_and_invalid_moves",
    "valid_move",
    "valid_moves",
    "wrap_tolerant",
]

InvalidMoveReason = Literal[
    "self", "descendant", "missing_parent", "parent_not_group", "overwrite", "source_missing"
]

# What the error of each kind of refused move says (regular expressions).
ERR_SELF_OR_DESCENDANT = "into itself or its own descendant"
ERR_OVERWRITE = "overwrite existing node"
ERR_MISSING_PARENT = "destination's parent group"
ERR_SOURCE_MISSING = "node not found|could not create path"
ERR_PARENT_NOT_GROUP = "is an array, not a group"

MixedMove = tuple[str, str, str | None]
"""``(source, dest, error pattern)``; the pattern is None for a move that must work."""

affix = st.text(zrst.zarr_key_chars, min_size=1, max_size=3)
separators = st.sampled_from(["_", "-", "."])


def _affixed(base: str) -> st.SearchStrategy[str]:
    """``base`` with a short prefix or suffix joined by a separator."""
    return st.tuples(affix, separators, st.booleans()).map(
        lambda t: f"{base}{t[1]}{t[0]}" if t[2] else f"{t[0]}{t[1]}{base}"
    )


def similar_name(non_sibling_names: set[str], sibling_names: set[str]) -> st.SearchStrategy[str]:
    """A name resembling existing ones but different from every sibling.

    Either a sibling's name with an affix (``"foo"`` -> ``"foo-x1"``) or the exact name
    of a node elsewhere in the tree (a cousin or an ancestor).
    """
    choices: list[st.SearchStrategy[str]] = []
    if sibling_names:
        choices.append(st.sampled_from(sorted(sibling_names)).flatmap(_affixed))
    elsewhere = sorted(non_sibling_names - sibling_names)
    if elsewhere:
        choices.append(st.sampled_from(elsewhere))
    if not choices:
        return st.nothing()
    return st.one_of(choices).filter(lambda name: name not in sibling_names)


def fresh_name(pool: set[str], exclude: set[str]) -> st.SearchStrategy[str]:
    """One node name not in ``exclude``, often resembling a name of ``pool``.

    Two draws may return the same name; use :func:`fresh_names` for distinct names.
    """
    if not pool and not exclude:
        return node_names
    return st.one_of(node_names, similar_name(pool, exclude)).filter(
        lambda name: name not in exclude
    )


@st.composite
def fresh_names(draw: st.DrawFn, pool: set[str], exclude: set[str], n: int) -> list[str]:
    """``n`` distinct names outside ``exclude`` (each later draw may echo earlier ones)."""
    chosen: list[str] = []
    for _ in range(n):
        chosen.append(draw(fresh_name(pool, exclude | set(chosen))))
    return chosen


def skeletons(*, max_leaves: int = 50, max_children: int = 4) -> st.SearchStrategy[GroupNode]:
    """Root groups of unnamed trees: children are called ``"0"``, ``"1"``, ... for now."""
    leaf: st.SearchStrategy[Node] = st.just(ArrayNode(shape=(1,), dtype=np.dtype("i4")))

    def group_of(children: st.SearchStrategy[Node]) -> st.SearchStrategy[GroupNode]:
        return st.lists(children, min_size=1, max_size=max_children).map(
            lambda nodes: GroupNode(children={str(i): node for i, node in enumerate(nodes)})
        )

    return group_of(st.recursive(leaf, group_of, max_leaves=max_leaves))


@st.composite
def trees(
    draw: st.DrawFn,
    *,
    max_leaves: st.SearchStrategy[int] = st.integers(min_value=5, max_value=50),  # noqa: B008
    max_children: st.SearchStrategy[int] = st.integers(min_value=1, max_value=4),  # noqa: B008
) -> GroupNode:
    """A hierarchy description (:class:`GroupNode`) with realistic, colliding names."""
    skeleton = draw(skeletons(max_leaves=draw(max_leaves), max_children=draw(max_children)))
    used: set[str] = set()

    def named(group: GroupNode) -> GroupNode:
        names = draw(fresh_names(set(used), exclude=set(), n=len(group.children)))
        used.update(names)
        children: dict[str, Node] = {}
        for name, child in zip(names, group.children.values(), strict=True):
            children[name] = named(child) if isinstance(child, GroupNode) else child
        return GroupNode(children=children)

    return named(skeleton)


def child_names_at(parent: str, all_paths: set[str]) -> set[str]:
    """Names directly below ``parent`` among relative paths (root is ``""``)."""
    if not parent:
        return {path.split("/", 1)[0] for path in all_paths if path}
    start = parent + "/"
    return {path[len(start) :].split("/", 1)[0] for path in all_paths if path.startswith(start)}


def is_descendant(path: str, ancestor: str) -> bool:
    """Whether ``path`` lies strictly below ``ancestor`` (relative paths)."""
    return path.startswith(ancestor + "/")


def absolute(path: str) -> str:
    """The icechunk form of a relative path: ``""`` -> ``"/"``, ``"a/b"`` -> ``"/a/b"``."""
    return "/" + path if path else "/"


def wrap_tolerant(pattern: str) -> str:
    """``pattern`` with each run of spaces also matching a wrapped line.

    Long error reports may be wrapped, a space becoming a newline plus a ``|`` margin.
    """
    return re.sub(r" +", r"\\s+\\|?\\s*", pattern)


def _eligible_reasons(all_nodes: set[str], all_arrays: set[str]) -> list[InvalidMoveReason]:
    """The kinds of invalid move that the tree (relative node paths) makes possible."""
    reasons: list[InvalidMoveReason] = ["self", "descendant", "source_missing"]
    if any(not is_descendant(b, a) for a, b in combinations(sorted(all_nodes), 2)):
        reasons.append("overwrite")
    if all_nodes:
        reasons.append("missing_parent")
    if any(_parent_not_group_sources(all_nodes, array) for array in all_arrays):
        reasons.append("parent_not_group")
    return reasons


def _parent_not_group_sources(all_nodes: set[str], array: str) -> list[str]:
    """Nodes that can be moved below ``array`` without being the array or above it."""
    return sorted(n for n in all_nodes if n != array and not is_descendant(array, n))


def _unrelated(pair: tuple[str, str]) -> bool:
    a, b = pair
    return a != b and not is_descendant(a, b) and not is_descendant(b, a)


@st.composite
def invalid_move(
    draw: st.DrawFn,
    all_nodes: set[str],
    all_arrays: set[str],
    name_pool: set[str],
    *,
    eligible: list[InvalidMoveReason] | None = None,
) -> tuple[str, str, str]:
    """One move icechunk must refuse, as ``(source, dest, error pattern)`` (relative).

    The checks run in icechunk's order, so each move fails for the drawn reason only:
    a source at or above its destination, then a missing source, then an existing
    destination, then a missing or non-group destination parent.
    """
    reasons = eligible if eligible is not None else _eligible_reasons(all_nodes, all_arrays)
    reason = draw(st.sampled_from(reasons))
    with_root = sorted(all_nodes | {""})
    if reason == "self":
        node = draw(st.sampled_from(with_root))
        return node, node, ERR_SELF_OR_DESCENDANT
    if reason == "descendant":
        node = draw(st.sampled_from(with_root))
        leaf = draw(fresh_name(name_pool, child_names_at(node, all_nodes)))
        return node, posixpath.join(node, leaf), ERR_SELF_OR_DESCENDANT
    if reason == "overwrite":
        nodes = st.sampled_from(sorted(all_nodes))
        source, dest = draw(st.tuples(nodes, nodes).filter(_unrelated))
        return source, dest, ERR_OVERWRITE
    if reason == "missing_parent":
        source = draw(st.sampled_from(sorted(all_nodes)))
        parent, leaf = (draw(fresh_name(name_pool, exclude=name_pool)) for _ in range(2))
        return source, posixpath.join(parent, leaf), ERR_MISSING_PARENT
    if reason == "source_missing":
        top, dest = draw(fresh_names(name_pool, exclude=name_pool, n=2))
        deeper = draw(st.lists(fresh_name(name_pool, exclude=name_pool), max_size=3))
        return posixpath.join(top, *deeper), dest, ERR_SOURCE_MISSING
    array = draw(
        st.sampled_from(sorted(a for a in all_arrays if _parent_not_group_sources(all_nodes, a)))
    )
    source = draw(st.sampled_from(_parent_not_group_sources(all_nodes, array)))
    leaf = draw(fresh_name(name_pool, exclude=name_pool))
    return source, posixpath.join(array, leaf), ERR_PARENT_NOT_GROUP


@st.composite
def valid_move(
    draw: st.DrawFn, all_nodes: set[str], all_groups: set[str], name_pool: set[str]
) -> tuple[str, str]:
    """One move icechunk must accept, as ``(source, dest)`` relative paths.

    ``all_groups`` includes the root ``""``; the destination is a new name in a group
    that is neither the source nor below it.
    """
    source = draw(st.sampled_from(sorted(all_nodes)))
    parents = sorted(g for g in all_groups if g != source and not is_descendant(g, source))
    parent = draw(st.sampled_from(parents))
    name = draw(fresh_name(name_pool, child_names_at(parent, all_nodes)))
    return source, posixpath.join(parent, name)


@st.composite
def valid_and_invalid_moves(
    draw: st.DrawFn,
    tree: GroupNode,
    n_moves: st.SearchStrategy[int] = st.integers(min_value=1, max_value=10),  # noqa: B008
    p_invalid: st.SearchStrategy[float] = st.floats(min_value=0.0, max_value=1.0),  # noqa: B008
) -> list[MixedMove]:
    """Moves applied one after the other to ``tree``, some of them invalid.

    Each move is invalid with a probability drawn once for the whole sequence. Valid
    moves change the tree the later moves see; invalid ones leave it as it was.
    """
    groups = set(tree.groups(include_root=True))
    nodes = set(tree.nodes())
    arrays = nodes - groups
    probability = draw(p_invalid)
    roll = st.floats(min_value=0.0, max_value=1.0, exclude_max=True)
    reasons = _eligible_reasons(nodes, arrays)
    moves: list[MixedMove] = []
    for _ in range(draw(n_moves)):
        pool = {path.rsplit("/", 1)[-1] for path in nodes}
        if draw(roll) < probability:
            src, dst, pattern = draw(invalid_move(nodes, arrays, pool, eligible=reasons))
            moves.append((absolute(src), absolute(dst), pattern))
            continue
        src, dst = draw(valid_move(nodes, groups, pool))
        moves.append((absolute(src), absolute(dst), None))
        arrays, groups = update_paths_after_move(src, dst, arrays, groups)
        nodes = arrays | (groups - {""})
        reasons = _eligible_reasons(nodes, arrays)
    return moves


@st.composite
def valid_moves(
    draw: st.DrawFn,
    tree: GroupNode,
    n_moves: st.SearchStrategy[int] = st.integers(min_value=1, max_value=10),  # noqa: B008
) -> list[tuple[str, str]]:
    """A sequence of moves that must all succeed, as absolute ``(source, dest)``."""
    mixed = draw(valid_and_invalid_moves(tree, n_moves=n_moves, p_invalid=st.just(0.0)))
    return [(src, dst) for src, dst, _ in mixed]


@st.composite
def invalid_moves(
    draw: st.DrawFn,
    tree: GroupNode,
    n_moves: st.SearchStrategy[int] = st.integers(min_value=1, max_value=10),  # noqa: B008
) -> list[tuple[str, str, str]]:
    """Moves that must each be refused, with the error pattern of each."""
    mixed = draw(valid_and_invalid_moves(tree, n_moves=n_moves, p_invalid=st.just(1.0)))
    return [(src, dst, pattern) for src, dst, pattern in mixed if pattern is not None]


def _tree_kwargs(
    max_leaves: st.SearchStrategy[int] | None, max_children: st.SearchStrategy[int] | None
) -> dict[str, st.SearchStrategy[int]]:
    given = {"max_leaves": max_leaves, "max_children": max_children}
    return {name: value for name, value in given.items() if value is not None}


@st.composite
def tree_and_valid_moves(
    draw: st.DrawFn,
    max_leaves: st.SearchStrategy[int] | None = None,
    max_children: st.SearchStrategy[int] | None = None,
    n_moves: st.SearchStrategy[int] = st.integers(min_value=1, max_value=10),  # noqa: B008
) -> tuple[GroupNode, list[tuple[str, str]]]:
    """A tree and a sequence of valid moves within it."""
    tree = draw(trees(**_tree_kwargs(max_leaves, max_children)))
    return tree, draw(valid_moves(tree, n_moves=n_moves))


@st.composite
def tree_and_invalid_moves(
    draw: st.DrawFn,
    max_leaves: st.SearchStrategy[int] | None = None,
    max_children: st.SearchStrategy[int] | None = None,
    n_moves: st.SearchStrategy[int] = st.integers(min_value=1, max_value=10),  # noqa: B008
) -> tuple[GroupNode, list[tuple[str, str, str]]]:
    """A tree and moves within it that must each be refused."""
    tree = draw(trees(**_tree_kwargs(max_leaves, max_children)))
    return tree, draw(invalid_moves(tree, n_moves=n_moves))


@st.composite
def tree_and_mixed_moves(
    draw: st.DrawFn,
    max_leaves: st.SearchStrategy[int] | None = None,
    max_children: st.SearchStrategy[int] | None = None,
    n_moves: st.SearchStrategy[int] = st.integers(min_value=1, max_value=10),  # noqa: B008
    p_invalid: st.SearchStrategy[float] = st.floats(min_value=0.0, max_value=1.0),  # noqa: B008
) -> tuple[GroupNode, list[MixedMove]]:
    """A tree and a sequence of valid and invalid moves within it."""
    tree = draw(trees(**_tree_kwargs(max_leaves, max_children)))
    return tree, draw(valid_and_invalid_moves(tree, n_moves=n_moves, p_invalid=p_invalid))
