"""Write or read a repository of virtual references into a local binary file (public API only).

Usage::

    virtual_refs.py write REPO DATA_DIR   # creates DATA_DIR/source.bin and the repository
    virtual_refs.py read REPO DATA_DIR    # prints what a reader sees, as JSON

The repository declares one ``file://DATA_DIR/`` container named ``src`` and holds:

- ``grid``: float64 (12, 10) in (4, 5) chunks, each chunk a byte range of source.bin; some
  refs carry a far-future last-modified checksum, one uses a ``vcc://src/`` location;
- ``many``: 1200 one-byte chunks (enough for the real writer to dictionary-compress the
  locations in the manifest);
- ``guarded``: two chunks whose checksums (a wrong ETag, a long-past time) must be refused.
"""

from __future__ import annotations

import datetime as dt
import json
import sys
import warnings
from pathlib import Path

import numpy as np
import zarr

import icechunk

warnings.simplefilter("ignore", DeprecationWarning)

HEADER = 16
GRID_SHAPE, GRID_CHUNKS = (12, 10), (4, 5)
MANY = 1200
FUTURE = dt.datetime(2100, 1, 1, tzinfo=dt.UTC)
PAST = dt.datetime(2000, 1, 1, tzinfo=dt.UTC)


def grid_values() -> np.ndarray:
    """The values of the ``grid`` array."""
    return np.arange(np.prod(GRID_SHAPE), dtype="<f8").reshape(GRID_SHAPE) / 4 - 7


def _chunk_bytes(values: np.ndarray) -> list[tuple[tuple[int, int], bytes]]:
    out = []
    for i in range(GRID_SHAPE[0] // GRID_CHUNKS[0]):
        for j in range(GRID_SHAPE[1] // GRID_CHUNKS[1]):
            block = values[i * 4 : i * 4 + 4, j * 5 : j * 5 + 5]
            out.append(((i, j), np.ascontiguousarray(block).tobytes()))
    return out


def _config(data_dir: Path) -> tuple[icechunk.RepositoryConfig, str]:
    prefix = f"file://{data_dir.resolve()}/"
    config = icechunk.RepositoryConfig.default()
    store = icechunk.local_filesystem_store(str(data_dir.resolve()))
    config.set_virtual_chunk_container(icechunk.VirtualChunkContainer(prefix, store, "src"))
    return config, prefix


def write(repo_path: Path, data_dir: Path) -> dict[str, object]:
    """Write the source file and the repository."""
    data_dir.mkdir(parents=True, exist_ok=True)
    chunks = _chunk_bytes(grid_values())
    (data_dir / "source.bin").write_bytes(b"H" * HEADER + b"".join(c for _, c in chunks))
    config, prefix = _config(data_dir)
    repo = icechunk.Repository.create(
        icechunk.local_filesystem_storage(str(repo_path)),
        config=config,
        authorize_virtual_chunk_access={prefix: None},
    )
    session = repo.writable_session("main")
    root = zarr.open_group(session.store, mode="w")
    root.create_array("grid", shape=GRID_SHAPE, chunks=GRID_CHUNKS, dtype="<f8", compressors=None)
    root.create_array("many", shape=(MANY,), chunks=(1,), dtype="u1", compressors=None)
    root.create_array("guarded", shape=(2,), chunks=(1,), dtype="u1", compressors=None)
    location = prefix + "source.bin"
    specs = []
    for k, (index, data) in enumerate(chunks):
        loc = "vcc://src/source.bin" if k == 0 else location
        when = FUTURE if k % 2 else None
        offset = HEADER + k * len(data)
        specs.append(icechunk.VirtualChunkSpec(list(index), loc, offset, len(data), None, when))
    assert session.store.set_virtual_refs("grid", specs) is None
    many = [icechunk.VirtualChunkSpec([i], location, i % 97, 1) for i in range(MANY)]
    assert session.store.set_virtual_refs("many", many) is None
    session.store.set_virtual_ref("guarded/c/0", location, offset=0, length=1, checksum="bogus")
    session.store.set_virtual_ref("guarded/c/1", location, offset=0, length=1, checksum=PAST)
    return {"snapshot": session.commit("virtual refs")}


def _guarded(group: zarr.Group) -> list[str]:
    out = []
    for i in range(2):
        try:
            out.append(str(group["guarded"][i]))
        except Exception as exc:  # the refusal is an icechunk error in both implementations
            out.append("modified" if "has changed" in str(exc) else f"error: {exc}")
    return out


def read(repo_path: Path, data_dir: Path) -> dict[str, object]:
    """What a reader sees."""
    _, prefix = _config(data_dir)
    repo = icechunk.Repository.open(
        icechunk.local_filesystem_storage(str(repo_path)),
        authorize_virtual_chunk_access={prefix: None},
    )
    session = repo.readonly_session("main")
    group = zarr.open_group(session.store, mode="r")
    source = (data_dir / "source.bin").read_bytes()
    return {
        "grid_ok": bool(np.array_equal(group["grid"][:], grid_values())),
        "many_ok": group["many"][:].tolist() == [source[i % 97] for i in range(MANY)],
        "guarded": _guarded(group),
        "locations": sorted(set(session.all_virtual_chunk_locations())),
        "n_locations": len(session.all_virtual_chunk_locations()),
        "prefixes": sorted(repo.authorized_virtual_container_prefixes),
        "containers": sorted((repo.config.virtual_chunk_containers or {}).keys()),
    }


def main() -> None:
    """Dispatch on the mode argument and print the JSON result."""
    mode, repo_path, data_dir = sys.argv[1], Path(sys.argv[2]), Path(sys.argv[3])
    result = write(repo_path, data_dir) if mode == "write" else read(repo_path, data_dir)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
