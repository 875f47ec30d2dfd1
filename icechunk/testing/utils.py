"""Set-up helpers for tests that compare an icechunk store with a reference model."""

from __future__ import annotations

from collections.abc import Iterator

from icechunk.repository import Repository
from icechunk.session import Session
from icechunk.storage import in_memory_storage
from icechunk.store import IcechunkStore
from icechunk.testing.models import GroupNode, ModelStore

__all__ = [
    "precommit_postcommit_readonly",
    "tree_to_model_and_icechunk",
    "update_paths_after_move",
]


def tree_to_model_and_icechunk(
    tree: GroupNode, add_hypothesis_note: bool = True
) -> tuple[ModelStore, Session, Repository]:
    """Write ``tree`` into a fresh model store and into an uncommitted icechunk session.

    Parameters
    ----------
    tree
        The hierarchy to write.
    add_hypothesis_note
        Record the hierarchy with :func:`hypothesis.note`, so a failing example shows it.

    Returns
    -------
    tuple
        ``(model, session, repo)``: the session is a writable session on ``main`` of an
        in-memory repository, with the hierarchy written but not committed.
    """
    model = ModelStore()
    tree.materialize(model)
    repo = Repository.create(in_memory_storage())
    session = repo.writable_session("main")
    tree.materialize(session.store)
    if add_hypothesis_note:
        from hypothesis import note

        note(tree.outline())
    return model, session, repo


def precommit_postcommit_readonly(
    session: Session, repo: Repository, *, allow_empty: bool = False
) -> Iterator[tuple[str, IcechunkStore]]:
    """The same hierarchy seen before a commit, after it, and from a read-only session.

    Yields ``("pre-commit", store)``, then commits ``session`` on ``main`` and yields
    ``("post-commit", store)`` and ``("readonly", store)``.
    """
    yield "pre-commit", session.store
    session.commit("commit", allow_empty=allow_empty)
    yield "post-commit", session.store
    yield "readonly", repo.readonly_session(branch="main").store


def update_paths_after_move(
    source: str, dest: str, arrays: set[str], groups: set[str]
) -> list[set[str]]:
    """The array and group path sets after moving the node at ``source`` to ``dest``.

    Returns ``[arrays, groups]`` with ``source`` and every path below it renamed.
    """

    def renamed(path: str) -> str:
        if path == source or path.startswith(source + "/"):
            return dest + path[len(source) :]
        return path

    return [{renamed(path) for path in arrays}, {renamed(path) for path in groups}]
