"""Source files for virtual chunk tests and the references that point into them."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

RAW_SHAPE = (12, 10)
RAW_CHUNKS = (4, 5)
NC_SHAPE = (6, 8)
NC_CHUNKS = (3, 4)


@dataclass
class Sources:
    """Source files and what is in them."""

    root: Path
    raw: Path
    raw_values: np.ndarray
    netcdf: Path
    netcdf_values: np.ndarray


def _raw_chunked(values: np.ndarray, chunks: tuple[int, int]) -> bytes:
    """Chunks of ``values`` one after the other (C order inside each chunk)."""
    out = []
    for i in range(0, values.shape[0], chunks[0]):
        for j in range(0, values.shape[1], chunks[1]):
            out.append(np.ascontiguousarray(values[i : i + chunks[0], j : j + chunks[1]]).tobytes())
    return b"".join(out)


def write_sources(root: Path) -> Sources:
    """A raw binary file laid out chunk by chunk and a chunked, uncompressed NetCDF4 file."""
    import netCDF4

    root.mkdir(parents=True, exist_ok=True)
    raw_values = np.arange(np.prod(RAW_SHAPE), dtype="<f8").reshape(RAW_SHAPE) * 1.5
    raw = root / "raw.bin"
    raw.write_bytes(b"HEADER--" + _raw_chunked(raw_values, RAW_CHUNKS))
    nc_values = (np.arange(np.prod(NC_SHAPE), dtype="<i4").reshape(NC_SHAPE) * 7) - 20
    netcdf = root / "data.nc"
    with netCDF4.Dataset(netcdf, "w", format="NETCDF4") as ds:
        ds.createDimension("y", NC_SHAPE[0])
        ds.createDimension("x", NC_SHAPE[1])
        var = ds.createVariable(
            "temp", "<i4", ("y", "x"), chunksizes=NC_CHUNKS, zlib=False, fill_value=False
        )
        var[:] = nc_values
    return Sources(root, raw, raw_values, netcdf, nc_values)


def upload(client: Any, path: Path, key: str) -> str:
    """Put a file into the ``sources`` bucket with a boto3 client; returns its ETag."""
    response = client.put_object(Bucket="sources", Key=key, Body=path.read_bytes())
    etag: str = response["ETag"]
    return etag


def file_url(path: Path | str) -> str:
    """``file://`` URL of an absolute path."""
    return "file://" + os.path.abspath(path)


@dataclass(frozen=True)
class Ref:
    """One chunk's place in a source file."""

    index: tuple[int, ...]
    offset: int
    length: int


RAW_HEADER = 8


def raw_refs() -> list[Ref]:
    """Where each chunk of the raw file's array lives."""
    rows, cols = RAW_SHAPE[0] // RAW_CHUNKS[0], RAW_SHAPE[1] // RAW_CHUNKS[1]
    size = RAW_CHUNKS[0] * RAW_CHUNKS[1] * 8
    return [
        Ref((i, j), RAW_HEADER + (i * cols + j) * size, size)
        for i in range(rows)
        for j in range(cols)
    ]


def netcdf_refs(path: Path) -> list[Ref]:
    """Where HDF5 put each chunk of the NetCDF variable (read with h5py)."""
    import h5py

    with h5py.File(path, "r") as f:
        dsid: Any = f["temp"].id
        out = []
        for k in range(dsid.get_num_chunks()):
            info = dsid.get_chunk_info(k)
            index = tuple(o // c for o, c in zip(info.chunk_offset, NC_CHUNKS, strict=True))
            out.append(Ref(index, int(info.byte_offset), int(info.size)))
    return out


@dataclass
class S3Server:
    """A moto S3 server and a boto3 client for it."""

    endpoint: str
    client: object
