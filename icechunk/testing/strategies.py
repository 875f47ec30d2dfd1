"""Hypothesis strategies for icechunk tests (same names and signatures as the real package)."""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import Iterable
from types import ModuleType
from typing import Any

import hypothesis.strategies as st

import icechunk as ic

__all__ = [
    "chunk_coordinates",
    "chunk_paths",
    "chunk_slicers",
    "draw_older_than",
    "repository_configs",
    "splitting_configs",
]

_EPOCH = dt.datetime(2000, 1, 1, tzinfo=dt.UTC)


def _split_key(draw: st.DrawFn, axis: int, dim_name: str | None) -> Any:
    """Split an array along an axis, by its index or (sometimes) its dimension name."""
    if dim_name is not None and draw(st.booleans()):
        return ic.ManifestSplitDimCondition.DimensionName(dim_name)
    return ic.ManifestSplitDimCondition.Axis(axis)


@st.composite
def splitting_configs(draw: st.DrawFn, *, arrays: Iterable[Any]) -> ic.ManifestSplittingConfig:
    """Manifest splitting configs that split each of ``arrays`` along one of its axes.

    Each array is selected by its name or its full path; the split size ranges from 1 to
    a little more than the axis length, so both many-way and no-op splits occur.
    """
    conditions: dict[Any, dict[Any, int]] = {}
    for array in arrays:
        name = array.path.split("/")[-1]
        by_name = draw(st.booleans())
        condition = (
            ic.ManifestSplitCondition.name_matches(name)
            if by_name
            else ic.ManifestSplitCondition.path_matches(array.path)
        )
        names = getattr(array.metadata, "dimension_names", None) or (None,) * array.ndim
        axes = list(zip(array.shape, range(array.ndim), names, strict=False))
        chosen = draw(st.lists(st.sampled_from(axes), min_size=1, unique=True))
        for length, axis, dim_name in chosen:
            size = draw(st.integers(min_value=1, max_value=length + 10))
            conditions[condition] = {_split_key(draw, axis, dim_name): size}
    return ic.ManifestSplittingConfig.from_dict(conditions)


def _major_version(module: ModuleType) -> int:
    text = str(getattr(module, "__version__", "2"))
    head = text.split(".", 1)[0]
    return int(head) if head.isdigit() else 2


@st.composite
def repository_configs(
    draw: st.DrawFn,
    num_updates_per_repo_info_file: st.SearchStrategy[int] = st.integers(  # noqa: B008
        min_value=1, max_value=5
    ),
    inline_chunk_threshold_bytes: st.SearchStrategy[int] | None = None,
    splitting: st.SearchStrategy[ic.ManifestSplittingConfig] | None = None,
    ic_module: ModuleType | None = None,
) -> ic.RepositoryConfig:
    """Repository configs with small ops-log files and optional inline/splitting settings.

    ``ic_module`` builds the config with another icechunk module (an older wheel, say);
    ``num_updates_per_repo_info_file`` is only drawn for modules that know it.
    """
    module = ic_module or ic
    kwargs: dict[str, Any] = {
        "inline_chunk_threshold_bytes": (
            None if inline_chunk_threshold_bytes is None else draw(inline_chunk_threshold_bytes)
        ),
        "manifest": None if splitting is None else module.ManifestConfig(splitting=draw(splitting)),
    }
    # pyicechunk reports its own version; only an older (1.x) real module lacks the field.
    if module is ic or _major_version(module) >= 2:
        kwargs["num_updates_per_repo_info_file"] = draw(num_updates_per_repo_info_file)
    config: ic.RepositoryConfig = module.RepositoryConfig(**kwargs)
    return config


@st.composite
def chunk_coordinates(draw: st.DrawFn, numblocks: tuple[int, ...]) -> tuple[int, ...]:
    """The grid coordinates of one chunk of an array with ``numblocks`` chunks per axis."""
    return tuple(draw(st.integers(min_value=0, max_value=n - 1)) for n in numblocks)


@st.composite
def chunk_slicers(
    draw: st.DrawFn, numblocks: tuple[int, ...], chunk_shape: tuple[int, ...]
) -> tuple[slice, ...]:
    """A tuple of slices selecting exactly one chunk of a regular chunk grid.

    Parameters
    ----------
    numblocks : tuple of int
        Number of chunks along each axis.
    chunk_shape : tuple of int
        Shape of every chunk.
    """
    coords = draw(chunk_coordinates(numblocks))
    return tuple(slice(c * n, (c + 1) * n) for c, n in zip(coords, chunk_shape, strict=True))


@st.composite
def chunk_paths(draw: st.DrawFn, numblocks: tuple[int, ...]) -> str:
    """A chunk key suffix such as ``"0/3"`` for an array with ``numblocks`` chunks per axis."""
    return "/".join(str(c) for c in draw(chunk_coordinates(numblocks)))


def _snapshot_times(storage: ic.Storage, repo: ic.Repository | None) -> list[dt.datetime]:
    """Per snapshot, the latest of its file's, its tx log's and its flush time, newest first.

    GC compares object write times and expiration compares flush times; a cutoff just
    after the latest of the three catches the snapshot in both.
    """
    logs = {o.key.rpartition("/")[2]: o.created_at for o in _listing(storage, "transactions")}
    times = []
    for obj in _listing(storage, "snapshots"):
        sid = obj.key.rpartition("/")[2]
        flushed = _EPOCH
        if repo is not None:
            # A snapshot already expired out of the history keeps the epoch.
            with contextlib.suppress(ic.SnapshotNotFoundError):
                flushed = repo.lookup_snapshot(sid).written_at
        times.append(max(obj.created_at, logs.get(sid, _EPOCH), flushed))
    return sorted(times, reverse=True)


def _listing(storage: ic.Storage, prefix: str) -> list[Any]:
    return list(storage.list_objects_metadata(prefix=prefix))


def draw_older_than(
    data: st.DataObject, storage: ic.Storage, repo: ic.Repository | None = None
) -> dt.datetime:
    """Draw an ``older_than`` cutoff for expiration and GC from the stored snapshots' times.

    With ``repo``, each snapshot's flush time counts too (expiration compares those).

    The choices, most destructive first: a day after every snapshot, just after one
    snapshot's times (so that snapshot and its transaction log both qualify), or a date
    before any snapshot.
    """
    times = _snapshot_times(storage, repo) or [_EPOCH]
    # An index into a fixed range, not sampled_from(times): replaying a choice must not
    # depend on how many snapshots earlier steps left.
    just_after = st.integers(min_value=0, max_value=255).map(
        lambda i: times[i % len(times)] + dt.timedelta(microseconds=1)
    )
    choice: dt.datetime = data.draw(
        st.one_of(st.just(times[0] + dt.timedelta(days=1)), just_after, st.just(_EPOCH))
    )
    return choice
