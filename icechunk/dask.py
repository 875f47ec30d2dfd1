"""Write dask arrays into Icechunk from any dask scheduler, merging the workers' changes.

Every write task of :func:`store_dask` writes through a pickled copy of a
:class:`~icechunk.session.ForkSession` and hands it back; the forks are then folded
together by a tree reduction (fan-in ``split_every``) so the driver receives one fork
to merge into its session and commit.
"""

from __future__ import annotations

import functools
import itertools
import sys
from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Any, ParamSpec, TypeVar

import dask
import dask.array
import dask.base
import numpy as np
from dask.base import tokenize
from dask.delayed import Delayed, delayed
from packaging.version import Version

from icechunk.distributed import extract_session, merge_sessions
from icechunk.errors import ErrorKind, InvalidInputError

if TYPE_CHECKING:
    import zarr
    from dask.array import Array

    from icechunk.session import ForkSession

__all__ = [
    "UnsupportedDaskArgumentError",
    "computing_meta",
    "session_merge_reduction",
    "store_dask",
]

P = ParamSpec("P")
R = TypeVar("R")

#: ``dask.array.store`` arguments that store_dask must control itself: the writes run
#: now (``compute``), each task hands back its target so its fork can be collected
#: (``return_stored``/``load_stored``), and forks never share a lock across processes.
UNSUPPORTED_STORE_KWARGS = ("compute", "return_stored", "load_stored", "lock")

#: Fan-in of the merge tree when neither the caller nor dask's config choose one.
DEFAULT_SPLIT_EVERY = 8

MINIMUM_DASK_VERSION = "2024.11.0"


class UnsupportedDaskArgumentError(InvalidInputError, TypeError):
    """A keyword argument that Icechunk's dask writers cannot honour.

    Also a :class:`TypeError`, like the error Python raises for an unexpected keyword.
    """

    default_kind = ErrorKind.NOT_ALLOWED


def computing_meta(func: Callable[P, R]) -> Callable[P, Any]:
    """Wrap ``func`` so dask's meta inference does not run it.

    When dask calls the wrapped function with ``computing_meta=True`` (to learn the
    type of its result) it returns a one-element object array instead of calling
    ``func``; otherwise it calls ``func`` unchanged.

    Parameters
    ----------
    func
        The per-block or aggregate function of a dask reduction.

    Returns
    -------
    Callable
        The wrapped function.
    """

    @functools.wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> Any:
        if kwargs.get("computing_meta", False):
            return np.array([object()], dtype=object)
        return func(*args, **kwargs)

    return wrapper


def reject_unsupported_kwargs(kwargs: Iterable[str], *, caller: str) -> None:
    """Raise :class:`UnsupportedDaskArgumentError` if any of ``kwargs`` is reserved.

    Raises
    ------
    UnsupportedDaskArgumentError
        Naming every reserved argument that was passed.
    """
    bad = sorted(set(kwargs) & set(UNSUPPORTED_STORE_KWARGS))
    if bad:
        raise UnsupportedDaskArgumentError(
            f"{caller} does not support the dask.array.store argument(s) {', '.join(bad)}: "
            "Icechunk writes always run immediately, without a lock, and collect every "
            "task's fork to merge it; drop these arguments"
        )


def _assert_dask_version() -> None:
    installed: str = getattr(dask, "__version__", "0")
    if Version(installed) < Version(MINIMUM_DASK_VERSION):
        raise InvalidInputError(
            f"writing to Icechunk with dask needs dask>={MINIMUM_DASK_VERSION}, "
            f"but dask {installed} is installed; please upgrade dask"
        )


def store_dask(
    *,
    sources: list[Array],
    targets: list[zarr.Array[Any]],
    regions: list[tuple[slice, ...]] | None = None,
    split_every: int | None = None,
    **store_kwargs: Any,
) -> ForkSession:
    """Write dask arrays into zarr arrays of an Icechunk fork, like ``dask.array.store``.

    The writes run immediately on the current dask scheduler. Open each target on the
    store of a :class:`~icechunk.session.ForkSession` (``session.fork().store``) so it
    can be pickled to workers; the forks the tasks return are merged into one.

    Parameters
    ----------
    sources
        Dask arrays to write.
    targets
        One zarr array per source, opened on a fork's store.
    regions
        Optionally one tuple of slices per target: where in it to write.
    split_every
        How many forks are merged together at each level of the merge tree
        (default: dask's ``split_every`` config, else 8).
    **store_kwargs
        Passed on to ``dask.array.store`` and to ``dask.compute`` (for example
        ``scheduler=``). ``compute``, ``return_stored``, ``load_stored`` and ``lock``
        are not supported.

    Returns
    -------
    ForkSession
        The merged fork; merge it into the session that forked it and commit that.

    Raises
    ------
    UnsupportedDaskArgumentError
        If a reserved ``dask.array.store`` argument is passed.
    """
    reject_unsupported_kwargs(store_kwargs, caller="store_dask")
    _assert_dask_version()
    stored = dask.array.store(
        sources=sources,
        targets=targets,  # type: ignore[arg-type]
        regions=regions,
        compute=False,
        return_stored=True,
        load_stored=False,
        lock=False,
        **store_kwargs,
    )
    return session_merge_reduction(stored, split_every=split_every, **store_kwargs)


def _fan_in(split_every: int | None) -> int:
    chosen = split_every if split_every is not None else dask.config.get("split_every", None)
    if chosen is None:
        return DEFAULT_SPLIT_EVERY
    if isinstance(chosen, bool) or not isinstance(chosen, int) or chosen < 2:
        raise InvalidInputError(
            f"split_every must be an integer of at least 2 (forks merged per step), got {chosen!r}"
        )
    return chosen


def _merge_forks(*forks: ForkSession) -> ForkSession:
    """Aggregate step of the merge tree: fold every fork into the first one."""
    return merge_sessions(*forks)


def _block_forks(arrays: Sequence[Array], token: str) -> list[Delayed]:
    """One task per write block, each yielding the fork its zarr target wrote through."""
    blocks = itertools.chain.from_iterable(
        a.to_delayed().ravel()  # type: ignore[no-untyped-call]
        for a in arrays
    )
    extract = delayed(extract_session, pure=True)
    return [
        extract(block, dask_key_name=f"ice-changeset-extract-{token}-{i}")
        for i, block in enumerate(blocks)
    ]


def _merge_tree(leaves: list[Delayed], fan_in: int, token: str) -> Delayed:
    """Reduce ``leaves`` by merging ``fan_in`` of them per task until one remains."""
    merge = delayed(_merge_forks, pure=True)
    level = leaves
    depth = 0
    while len(level) > 1:
        level = [
            merge(
                *level[start : start + fan_in],
                dask_key_name=f"ice-changeset-merge-{token}-{depth}-{i}",
            )
            for i, start in enumerate(range(0, len(level), fan_in))
        ]
        depth += 1
    if depth == 0:
        # A single write task still goes through one merge so the result is always
        # a validated ForkSession.
        root: Delayed = merge(*level, dask_key_name=f"ice-changeset-merge-{token}-0-0")
        return root
    return level[0]


def _require_dask_array(arr: object) -> None:
    """Refuse anything but a dask array (the real package raises ``TypeError`` too)."""
    if isinstance(arr, dask.array.Array):
        return
    other = sys.modules.get("dask_array")
    if other is not None and isinstance(arr, other.Array):
        return
    raise TypeError(f"Expected a dask array, received {type(arr)!r}")


def session_merge_reduction(
    arrays: Array | Sequence[Array], *, split_every: int | None, **compute_kwargs: Any
) -> ForkSession:
    """Run the stored arrays' write tasks and tree-reduce their forks into one.

    Parameters
    ----------
    arrays
        What ``dask.array.store(..., return_stored=True, load_stored=False)`` returned:
        arrays whose blocks are the zarr targets each task wrote to.
    split_every
        Fan-in of the merge tree (forks merged per task).
    **compute_kwargs
        Passed to ``dask.compute`` (for example ``scheduler=``).

    Returns
    -------
    ForkSession
        Every task's changes merged together.

    Raises
    ------
    TypeError
        If an element is not a dask array.
    SessionStateError
        If two tasks made conflicting changes (kind ``merge-failed``).
    """
    as_list: list[Array] = list(arrays) if isinstance(arrays, (list, tuple)) else [arrays]  # type: ignore[list-item]
    for arr in as_list:
        _require_dask_array(arr)
    fan_in = _fan_in(split_every)
    if not as_list:
        raise InvalidInputError("nothing to merge: no stored dask arrays were given")
    token = tokenize([a.name for a in as_list], fan_in)
    root = _merge_tree(_block_forks(as_list, token), fan_in, token)
    compute_kwargs = {k: v for k, v in compute_kwargs.items() if k in _COMPUTE_KWARGS}
    (merged,) = dask.base.compute(root, **compute_kwargs)  # type: ignore[no-untyped-call]
    return merged  # type: ignore[no-any-return]


#: ``dask.compute`` options worth forwarding from store kwargs; the rest (``flush``,
#: ``name``...) only mean something to ``dask.array.store``.
_COMPUTE_KWARGS = frozenset({"scheduler", "get", "num_workers", "pool", "optimize_graph"})
