"""Write xarray Datasets and DataArrays into an Icechunk session, from any dask scheduler.

:func:`to_icechunk` is ``Dataset.to_zarr`` for Icechunk: xarray's own zarr backend
writes the metadata and in-memory variables through the session, and dask-backed
variables are written through a fork whose per-task copies are merged back
(:mod:`icechunk.dask`), so the multiprocessing and distributed schedulers work too.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping, MutableMapping
from dataclasses import dataclass, field
from typing import Any, Literal, overload

import xarray as xr
import zarr
from packaging.version import Version
from xarray import DataArray, Dataset
from xarray.backends.common import ArrayWriter
from xarray.backends.zarr import ZarrStore

from icechunk.errors import InvalidInputError
from icechunk.session import ForkSession, Session
from icechunk.store import IcechunkStore

__all__ = ["LazyArrayWriter", "is_dask_collection", "to_icechunk"]

MINIMUM_XARRAY_VERSION = "2024.10.0"

if Version(xr.__version__) < Version(MINIMUM_XARRAY_VERSION):  # pragma: no cover
    raise ImportError(
        f"writing to Icechunk with xarray needs xarray>={MINIMUM_XARRAY_VERSION}, "
        f"but xarray {xr.__version__} is installed; please upgrade xarray"
    )

try:  # xarray moved its writer helpers out of backends.api in 2025.09
    from xarray.backends.writers import _validate_dataset_names, dump_to_store
except ImportError:  # pragma: no cover - older xarray
    from xarray.backends.api import (  # type: ignore[no-redef,attr-defined]
        _validate_dataset_names,
        dump_to_store,
    )

Region = Mapping[str, slice | Literal["auto"]] | Literal["auto"] | None
ZarrWriteModes = Literal["w", "w-", "a", "a-", "r+", "r"]

#: Names xarray itself uses when it writes a DataArray as a one-variable Dataset, so
#: ``xr.open_dataarray`` reads ours back the way it reads ``DataArray.to_zarr``'s.
DATAARRAY_NAME = "__xarray_dataarray_name__"
DATAARRAY_VARIABLE = "__xarray_dataarray_variable__"


def is_dask_collection(x: Any) -> bool:
    """Whether ``x`` is (or holds) a dask collection; False when dask is not installed."""
    try:
        from dask.base import is_dask_collection as _is_dask
    except ImportError:  # pragma: no cover - dask is optional
        return False
    return bool(_is_dask(x))


def choose_default_mode(
    *, mode: ZarrWriteModes | None, append_dim: Hashable | None, region: Region
) -> ZarrWriteModes:
    """The write mode ``to_zarr`` would use, validated against ``append_dim``/``region``.

    Raises
    ------
    ValueError
        With xarray's messages, for a mode that contradicts ``append_dim`` or
        ``region`` or is not a write mode.
    """
    if mode is None:
        if append_dim is not None:
            mode = "a"
        elif region is not None:
            mode = "r+"
        else:
            mode = "w-"
    if append_dim is not None and mode not in ("a", "a-"):
        raise ValueError("cannot set append_dim unless mode='a' or mode=None")
    if region is not None and mode not in ("a", "a-", "r+"):
        raise ValueError("cannot set region unless mode='a', mode='a-', mode='r+' or mode=None")
    if mode not in ("w", "w-", "a", "a-", "r+"):
        raise ValueError(
            "The only supported options for mode are 'w', "
            f"'w-', 'a', 'a-', and 'r+', but mode={mode!r}"
        )
    return mode


class LazyArrayWriter(ArrayWriter):
    """xarray's array writer, keeping in-memory writes aside until :meth:`write_eager`.

    Dask-backed sources are collected like ``ArrayWriter`` does (for one
    ``dask.array.store`` call); numpy sources are held rather than written at once,
    so metadata, eager data and lazy data can be written in separate steps.
    """

    def __init__(self) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        self.eager_sources: list[Any] = []
        self.eager_targets: list[zarr.Array[Any]] = []
        self.eager_regions: list[tuple[slice, ...] | None] = []

    def add(self, source: Any, target: Any, region: Any = None) -> None:
        """Queue one variable's data for writing into ``target`` (at ``region``)."""
        if is_dask_collection(source):
            self.sources.append(source)
            self.targets.append(target)
            self.regions.append(region)
        else:
            self.eager_sources.append(source)
            self.eager_targets.append(target)
            self.eager_regions.append(region)

    def write_eager(self) -> None:
        """Write the queued in-memory sources into their targets, then forget them."""
        queued = zip(self.eager_sources, self.eager_targets, self.eager_regions, strict=True)
        for source, target, region in queued:
            target[region or ...] = source
        self.eager_sources, self.eager_targets, self.eager_regions = [], [], []


@dataclass
class _XarrayDatasetWriter:
    """Write one Dataset to a group of an Icechunk store in three steps.

    ``_open_group`` then :meth:`write_metadata` (array metadata, attributes, resizes for
    appends), :meth:`write_eager` (in-memory variables) and :meth:`write_lazy` (dask
    variables; returns the merged fork). :func:`to_icechunk` drives it.
    """

    dataset: Dataset = field(repr=False)
    store: IcechunkStore = field(kw_only=True)
    safe_chunks: bool = field(kw_only=True, default=True)
    align_chunks: bool = field(kw_only=True, default=False)

    _initialized: bool = field(default=False, repr=False)
    xarray_store: ZarrStore = field(init=False, repr=False)
    writer: LazyArrayWriter = field(init=False, repr=False)

    def __post_init__(self) -> None:
        if not isinstance(self.store, IcechunkStore):
            raise InvalidInputError(
                "to_icechunk writes through an icechunk.Session; got a "
                f"{type(self.store).__name__!r} instead"
            )

    def _open_group(
        self,
        *,
        group: str | None,
        mode: ZarrWriteModes | None,
        append_dim: Hashable | None,
        region: Region,
    ) -> None:
        """Open (or create) the target group with xarray's zarr backend."""
        options: dict[str, Any] = {
            "store": self.store,
            "group": group,
            "mode": choose_default_mode(mode=mode, append_dim=append_dim, region=region),
            "zarr_format": 3,
            "append_dim": append_dim,
            "write_region": region,
            "safe_chunks": self.safe_chunks,
            # Icechunk keeps its own node index; consolidated metadata would go stale.
            "consolidated": False,
            "consolidate_on_close": False,
        }
        if Version(xr.__version__) >= Version("2025.06.0"):
            options["align_chunks"] = self.align_chunks
        self.xarray_store = ZarrStore.open_group(**options)
        self.dataset = self.xarray_store._validate_and_autodetect_region(self.dataset)

    def write_metadata(self, encoding: Mapping[Any, Any] | None = None) -> None:
        """Create or update every array's metadata and the group's attributes.

        In-memory data is queued (see :meth:`write_eager`), dask data is queued for
        :meth:`write_lazy`; arrays are resized here for appends.
        """
        _validate_dataset_names(self.dataset)
        encoding = {} if encoding is None else encoding
        self.xarray_store._validate_encoding(encoding)
        # xarray's to_zarr loads empty variables first: a zero-length dask array
        # has no blocks to store.
        for variable in self.dataset.variables.values():
            if variable.size == 0:
                variable.load()
        self.writer = LazyArrayWriter()
        dump_to_store(self.dataset, self.xarray_store, self.writer, encoding=encoding)  # type: ignore[no-untyped-call]
        self._initialized = True

    def _require_metadata(self) -> None:
        if not self._initialized:
            raise ValueError("Please call `write_metadata` first.")

    def write_eager(self) -> None:
        """Write the in-memory variables queued by :meth:`write_metadata`."""
        self._require_metadata()
        self.writer.write_eager()

    def write_lazy(
        self,
        chunkmanager_store_kwargs: MutableMapping[Any, Any] | None = None,
        split_every: int | None = None,
    ) -> ForkSession:
        """Write the dask variables and return the fork holding all their changes.

        The targets must be opened on a fork's store (``to_icechunk`` does this).

        Raises
        ------
        TypeError
            If the dataset has no dask variables to write.
        """
        from icechunk.dask import reject_unsupported_kwargs, session_merge_reduction

        self._require_metadata()
        if not self.writer.sources:
            raise TypeError(
                "Attempting to execute a write with dask but no dask arrays were detected."
            )
        store_kwargs = dict(chunkmanager_store_kwargs or {})
        reject_unsupported_kwargs(store_kwargs, caller="to_icechunk")
        store_kwargs.update(return_stored=True, load_stored=False)
        stored = self.writer.sync(compute=False, chunkmanager_store_kwargs=store_kwargs)  # type: ignore[no-untyped-call]
        return session_merge_reduction(stored, split_every=split_every)

    def _retarget_lazy_writes(self, fork: ForkSession) -> None:
        """Point the queued dask writes at ``fork``'s store (the arrays exist by now)."""
        self.writer.targets = [
            zarr.open_array(fork.store, path=target.path, mode="a")
            for target in self.writer.targets
        ]


def to_icechunk(
    obj: DataArray | Dataset,
    session: Session,
    *,
    group: str | None = None,
    mode: ZarrWriteModes | None = None,
    safe_chunks: bool = True,
    align_chunks: bool = False,
    append_dim: Hashable | None = None,
    region: Region = None,
    encoding: Mapping[Any, Any] | None = None,
    chunkmanager_store_kwargs: MutableMapping[Any, Any] | None = None,
    split_every: int | None = None,
    **kwargs: Any,
) -> None:
    """Write an xarray object into a group of an Icechunk session, like ``to_zarr``.

    In-memory data is written through ``session`` directly; dask data is written by
    the current dask scheduler (threads, processes or distributed) through a fork of
    ``session`` that is merged back before this returns. Commit ``session`` afterwards.

    Parameters
    ----------
    obj
        The Dataset or DataArray to write.
    session
        A writable session.
    group
        The group to write into (the root when None).
    mode
        ``"w"`` (overwrite), ``"w-"`` (create, fail if it exists), ``"a"`` (override or
        append variables), ``"a-"`` (append only variables with ``append_dim``) or
        ``"r+"`` (modify existing values only). Default: ``"a"`` with ``append_dim``,
        ``"r+"`` with ``region``, else ``"w-"``.
    safe_chunks
        Refuse dask chunks that would make two tasks write one zarr chunk (and
        partial-chunk region writes in ``"r+"``), with xarray's messages.
    align_chunks
        Rechunk dask data to the zarr chunks before writing (disables ``safe_chunks``).
    append_dim
        Dimension along which to append to existing arrays.
    region
        ``"auto"`` or a mapping from dimension to slice (or ``"auto"``): where in the
        existing arrays to write.
    encoding
        Per-variable zarr encodings, e.g. ``{"v": {"chunks": (1, 10)}}``.
    chunkmanager_store_kwargs
        Passed on to ``dask.array.store``; ``compute``, ``lock``, ``return_stored`` and
        ``load_stored`` are not supported.
    split_every
        Fan-in of the tree that merges the write tasks' forks.
    **kwargs
        Not supported; ``to_zarr`` options such as ``compute`` raise an error.

    Raises
    ------
    UnsupportedDaskArgumentError
        For ``compute`` or any other keyword ``to_icechunk`` does not take.
    ValueError
        From xarray's own validation (modes, regions, unsafe chunks, encodings).
    """
    if kwargs:
        from icechunk.dask import UnsupportedDaskArgumentError

        raise UnsupportedDaskArgumentError(
            f"to_icechunk got unsupported keyword argument(s) {', '.join(sorted(kwargs))}; "
            "it always writes immediately (there is no compute=False: commit or discard "
            "the session instead)"
        )
    writer = _XarrayDatasetWriter(
        _make_dataset(obj), store=session.store, safe_chunks=safe_chunks, align_chunks=align_chunks
    )
    writer._open_group(group=group, mode=mode, append_dim=append_dim, region=region)
    writer.write_metadata(encoding)
    writer.write_eager()
    if not writer.writer.sources:
        return
    # Dask tasks may run in other processes, and a writable session does not pickle:
    # they write through a fork (it already sees the metadata written above), and the
    # merged result is folded back, so several to_icechunk calls can share a session.
    fork = session.fork()
    writer._retarget_lazy_writes(fork)
    merged = writer.write_lazy(
        chunkmanager_store_kwargs=chunkmanager_store_kwargs, split_every=split_every
    )
    session.merge(merged)


@overload
def _make_dataset(obj: DataArray) -> Dataset: ...
@overload
def _make_dataset(obj: Dataset) -> Dataset: ...
def _make_dataset(obj: DataArray | Dataset) -> Dataset:
    """The Dataset to write for ``obj``, naming a DataArray the way ``to_zarr`` does."""
    if isinstance(obj, Dataset):
        return obj
    if not isinstance(obj, DataArray):
        raise InvalidInputError(
            f"to_icechunk writes an xarray Dataset or DataArray, got a {type(obj).__name__!r}"
        )
    if obj.name is None:
        return obj.to_dataset(name=DATAARRAY_VARIABLE)
    if obj.name in obj.coords or obj.name in obj.dims:
        # A variable may not share its name with a coordinate or dimension; store it
        # under xarray's placeholder and remember the real name in an attribute.
        dataset = obj.to_dataset(name=DATAARRAY_VARIABLE)
        dataset.attrs[DATAARRAY_NAME] = obj.name
        return dataset
    return obj.to_dataset()
