"""Write the interop sample repository at ``argv[1]`` using only the public icechunk API.

The same file runs under the real ``icechunk`` wheel (2.x and 1.1.21, which writes spec-v1
repositories) and under pyicechunk, so the repositories it writes can be compared with
``dump.py``. Data is deterministic (seeded numpy); only snapshot ids and timestamps vary.

Prints a JSON object ``{"snapshots": {label: snapshot_id}, "branches": [...], "tags": [...]}``.

History written (oldest first)::

    main:  init -> c1 "create hierarchy" -> c2 "update data and attributes"
                -> c3 "delete chunks and nodes" -> c4 "resize and extend"
    dev:   c3 -> d1 "dev work"
    tags:  v1 -> c1, v2 -> c2, "doomed" -> c1 (then deleted)
"""

from __future__ import annotations

import json
import sys

import numpy as np
import zarr

import icechunk


def _create_arrays(root: zarr.Group, rng: np.random.Generator) -> None:
    """Create every sample array and write its initial data."""
    a = root.create_group("a", attributes={"kind": "group-a", "n": 1})
    b = a.create_group("b")
    root.create_group("scratch", attributes={"to_be_deleted": True})

    # Small chunks: after compression these stay well under 512 bytes (inline).
    i8 = a.create_array(
        "int8",
        shape=(10, 10),
        chunks=(5, 5),
        dtype="int8",
        fill_value=0,
        dimension_names=["y", "x"],
        attributes={"units": "counts"},
    )
    i8[:] = rng.integers(-100, 100, size=(10, 10), dtype="int8")

    i32 = b.create_array("int32", shape=(100,), chunks=(50,), dtype="int32", fill_value=-1)
    i32[:60] = np.arange(60, dtype="int32") * 3

    # Random data barely compresses: these chunks are larger than 512 bytes (native).
    u16 = root.create_array(
        "uint16",
        shape=(64, 64),
        chunks=(32, 32),
        dtype="uint16",
        fill_value=7,
        dimension_names=["row", "col"],
    )
    u16[:, :] = rng.integers(0, 2**16, size=(64, 64), dtype="uint16")

    f32 = root.create_array(
        "float32",
        shape=(40, 30),
        chunks=(20, 15),
        dtype="float32",
        fill_value=float("nan"),
        dimension_names=["time", "lon"],
        attributes={"long_name": "temperature", "units": "K"},
    )
    f32[:20, :] = rng.standard_normal((20, 30)).astype("float32")

    f64 = root.create_array(
        "float64",
        shape=(1000,),
        chunks=(256,),
        dtype="float64",
        fill_value=0.0,
        dimension_names=["t"],
    )
    f64[:] = rng.standard_normal(1000)

    flags = root.create_array("bool", shape=(17,), chunks=(8,), dtype="bool", fill_value=False)
    flags[:] = rng.integers(0, 2, size=17).astype(bool)

    c64 = root.create_array(
        "complex64", shape=(6, 6), chunks=(3, 3), dtype="complex64", fill_value=0j
    )
    c64[:3, :] = (rng.standard_normal((3, 6)) + 1j * rng.standard_normal((3, 6))).astype(
        "complex64"
    )

    words = root.create_array("strings", shape=(5,), chunks=(2,), dtype=str, fill_value="")
    words[:] = np.array(["ice", "chunk", "zarr", "🧊", ""], dtype=object)

    scalar = root.create_array("scalar", shape=(), dtype="float64", fill_value=-9.0)
    scalar[()] = 42.5

    sharded = root.create_array(
        "sharded",
        shape=(64, 64),
        chunks=(8, 8),
        shards=(32, 32),
        dtype="int32",
        fill_value=0,
    )
    sharded[:40, :] = rng.integers(0, 1000, size=(40, 64), dtype="int32")

    # Uncompressed chunks of 511, 512 and 513 bytes straddle the default inline threshold.
    edge = root.create_group("edge")
    for size in (511, 512, 513):
        arr = edge.create_array(
            f"u8_{size}",
            shape=(2 * size,),
            chunks=(size,),
            dtype="uint8",
            fill_value=0,
            compressors=None,
        )
        arr[:] = rng.integers(1, 256, size=2 * size, dtype="uint8")

    # Created but never written: no chunks at all.
    root.create_array("empty", shape=(3, 4), chunks=(2, 2), dtype="int32", fill_value=5)


def main(path: str) -> None:
    rng = np.random.default_rng(20240611)
    repo = icechunk.Repository.create(icechunk.local_filesystem_storage(path))
    ids: dict[str, str] = {}
    ids["init"] = repo.lookup_branch("main")

    session = repo.writable_session("main")
    root = zarr.create_group(
        store=session.store,
        attributes={"title": "Ice 🧊 chunk sample", "version": 1, "nested": {"a": [1, 2.5, None]}},
    )
    _create_arrays(root, rng)
    ids["c1"] = session.commit(
        "create hierarchy",
        metadata={"author": "write_sample", "step": 1, "tags": ["x", "y"], "ok": True},
    )
    repo.create_tag("v1", ids["c1"])
    repo.create_tag("doomed", ids["c1"])

    session = repo.writable_session("main")
    root = zarr.open_group(session.store, mode="r+")
    root.attrs.update({"version": 2, "extra": "added"})
    f32 = root["float32"]
    f32.attrs["units"] = "degC"
    f32[20:, :] = rng.standard_normal((20, 30)).astype("float32")
    i32 = root["a/b/int32"]
    i32[60:] = 1000
    root["a/b"].attrs["b_attr"] = "set later"
    ids["c2"] = session.commit("update data and attributes", metadata={"step": 2})
    repo.create_tag("v2", ids["c2"])
    repo.delete_tag("doomed")

    session = repo.writable_session("main")
    root = zarr.open_group(session.store, mode="r+")
    # Writing the fill value over a whole chunk makes zarr delete that chunk.
    root["a/int8"][0:5, 0:5] = 0
    root["uint16"][32:, 32:] = 7
    del root["scratch"]
    del root["bool"]
    ids["c3"] = session.commit("delete chunks and nodes", metadata={"step": 3})

    repo.create_branch("dev", ids["c3"])
    session = repo.writable_session("dev")
    root = zarr.open_group(session.store, mode="r+")
    root["float64"][:256] = -1.5
    dev_only = root.create_array("dev_only", shape=(4,), chunks=(4,), dtype="int16", fill_value=0)
    dev_only[:] = np.array([1, -2, 3, -4], dtype="int16")
    ids["d1"] = session.commit("dev work", metadata={"branch": "dev"})

    session = repo.writable_session("main")
    root = zarr.open_group(session.store, mode="r+")
    f64 = root["float64"]
    f64.resize((1200,))
    f64[1000:] = np.linspace(0.0, 1.0, 200)
    root["empty"].attrs["still_empty"] = True
    ids["c4"] = session.commit("resize and extend", metadata={"step": 4})

    out = {
        "snapshots": ids,
        "branches": sorted(repo.list_branches()),
        "tags": sorted(repo.list_tags()),
    }
    print(json.dumps(out, sort_keys=True))


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(f"usage: {sys.argv[0]} REPO_PATH")
    main(sys.argv[1])
