"""One way to build a repository whose virtual chunks live on a given backend."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import zarr

import icechunk as ic
from virtual.vsources import NC_CHUNKS, NC_SHAPE, RAW_CHUNKS, RAW_SHAPE, Ref, netcdf_refs, raw_refs


@dataclass
class Backend:
    """Where the sources are served from, and how a repository reaches them."""

    name: str
    url_prefix: str
    store: Any
    url: Callable[[str], str]  # source file name -> location URL
    republish: Callable[[Path], None]  # make the backend serve the file's current bytes

    def config(self) -> ic.RepositoryConfig:
        """A repository config declaring this backend's container."""
        config = ic.RepositoryConfig.default()
        config.set_virtual_chunk_container(ic.VirtualChunkContainer(self.url_prefix, self.store))
        return config

    def authorized(self) -> dict[str, Any]:
        """The authorization map that lets a repository read from this backend."""
        return {self.url_prefix: None}


def create_repo(path: Path, backend: Backend, authorize: bool = True) -> ic.Repository:
    """A new repository on local disk with the backend's container declared."""
    return ic.Repository.create(
        ic.local_filesystem_storage(str(path)),
        config=backend.config(),
        authorize_virtual_chunk_access=backend.authorized() if authorize else None,
    )


def open_repo(path: Path, backend: Backend | None) -> ic.Repository:
    """Reopen, authorizing the backend's container (or nothing)."""
    return ic.Repository.open(
        ic.local_filesystem_storage(str(path)),
        authorize_virtual_chunk_access=None if backend is None else backend.authorized(),
    )


def specs(location: str, refs: list[Ref], checksum: object = None) -> list[ic.VirtualChunkSpec]:
    """One VirtualChunkSpec per chunk, all in ``location``."""
    etag = checksum if isinstance(checksum, str) else None
    when = None if isinstance(checksum, str) else checksum
    return [
        ic.VirtualChunkSpec(list(r.index), location, r.offset, r.length, etag, when)  # type: ignore[arg-type]
        for r in refs
    ]


def write_virtual_dataset(
    session: ic.Session, backend: Backend, netcdf: Path, checksum: object = None
) -> None:
    """Arrays ``raw`` (float64) and ``temp`` (int32) whose chunks are all virtual.

    ``checksum`` (an ETag of raw.bin, or a time) is recorded on the ``raw`` refs only.
    """
    root = zarr.open_group(session.store, mode="w")
    root.create_array(
        "raw",
        shape=RAW_SHAPE,
        chunks=RAW_CHUNKS,
        dtype="<f8",
        compressors=None,
        fill_value=np.nan,
        dimension_names=("ry", "rx"),
    )
    root.create_array(
        "temp",
        shape=NC_SHAPE,
        chunks=NC_CHUNKS,
        dtype="<i4",
        compressors=None,
        fill_value=-1,
        dimension_names=("y", "x"),
    )
    store = session.store
    assert (
        store.set_virtual_refs("raw", specs(backend.url("raw.bin"), raw_refs(), checksum)) is None
    )
    refs = netcdf_refs(netcdf)
    assert store.set_virtual_refs("/temp", specs(backend.url("data.nc"), refs)) is None
