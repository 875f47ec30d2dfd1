"""Fuzz targets: every metadata-file decoder, and a seed corpus of valid files.

:func:`decode_all` hands one byte string to every decoder (repo info, snapshot, manifest,
transaction log of spec v1 and v2, and the spec-v1 ``ref.json``). Each must return a value
or raise an :class:`icechunk.IcechunkError`; anything else is a bug. Shared by the atheris
harness (``fuzz_decoders.py``) and the hypothesis tests (``test_fuzz.py``).
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import numpy as np
import zarr

import icechunk as ic
from icechunk.format.header import HEADER_SIZE, MAGIC, Compression, FileType, decode_file
from icechunk.format.manifest import decode_manifest
from icechunk.format.repo_info import decode_repo_info
from icechunk.format.snapshot import decode_snapshot
from icechunk.format.txlog import decode_transaction_log
from icechunk.format.v1 import decode_ref

DECODERS: dict[str, Callable[[bytes], object]] = {
    "repo": decode_repo_info,
    "snapshot": decode_snapshot,
    "manifest": decode_manifest,
    "transaction": decode_transaction_log,
    "ref": decode_ref,
}

#: Which decoder reads the files under each top-level directory of a repository.
KIND_OF_DIR = {"snapshots": "snapshot", "manifests": "manifest", "transactions": "transaction"}


def decode_all(data: bytes) -> int:
    """Run every decoder on ``data``; return how many raised a typed error."""
    typed = 0
    for decode in DECODERS.values():
        try:
            decode(data)
        except ic.IcechunkError:
            typed += 1
    return typed


#: Payload-target selector byte -> (file type, spec version).
PAYLOAD_KINDS = [
    (file_type, spec)
    for file_type in (FileType.REPO_INFO, FileType.SNAPSHOT, FileType.MANIFEST, FileType.TRANSACTION_LOG)
    for spec in (2, 1)
]
_DECODER_OF = {
    FileType.REPO_INFO: decode_repo_info,
    FileType.SNAPSHOT: decode_snapshot,
    FileType.MANIFEST: decode_manifest,
    FileType.TRANSACTION_LOG: decode_transaction_log,
}


def wrap_payload(file_type: FileType, spec: int, payload: bytes) -> bytes:
    """A metadata file holding ``payload`` uncompressed (so mutations reach the parser)."""
    name = b"fuzz".ljust(HEADER_SIZE - len(MAGIC) - 3)
    return MAGIC + name + bytes((spec, int(file_type), Compression.NONE)) + payload


def decode_payload(data: bytes) -> bool:
    """First byte picks a file kind and spec, the rest is its flatbuffer payload.

    Returns whether the decoder raised a typed error.
    """
    if not data:
        return False
    file_type, spec = PAYLOAD_KINDS[data[0] % len(PAYLOAD_KINDS)]
    try:
        _DECODER_OF[file_type](wrap_payload(file_type, spec, data[1:]))
    except ic.IcechunkError:
        return True
    return False


def payload_seed(data: bytes) -> bytes | None:
    """The payload-target input equivalent to a valid metadata file, or None."""
    for index, (file_type, spec) in enumerate(PAYLOAD_KINDS):
        if len(data) > HEADER_SIZE and data[HEADER_SIZE - 2] == file_type and data[HEADER_SIZE - 3] == spec:
            return bytes([index]) + decode_file(data, file_type)[1]
    return None


def kind_of(relative: Path) -> str | None:
    """The decoder kind of a repository file, or None for chunks and other objects."""
    if relative.parts == ("repo",):
        return "repo"
    if relative.name == "ref.json":
        return "ref"
    return KIND_OF_DIR.get(relative.parts[0]) if len(relative.parts) == 2 else None


def write_sample_repository(path: Path) -> None:
    """A small spec-v2 repository with every metadata kind and varied content."""
    repo = ic.Repository.create(ic.local_filesystem_storage(str(path)))
    session = repo.writable_session("main")
    root = zarr.create_group(session.store, attributes={"title": "fuzz", "n": [1, 2.5, None]})
    native = root.create_array("native", shape=(600,), chunks=(200,), dtype="float64")
    native[:] = np.random.default_rng(1).standard_normal(600)
    small = root.create_array(
        "g/inline", shape=(3, 4), chunks=(2, 2), dtype="int16", dimension_names=["y", "x"]
    )
    small[:] = np.arange(12, dtype="int16").reshape(3, 4)
    first = session.commit("first", metadata={"author": "fuzz"})
    session = repo.writable_session("main")
    root = zarr.open_group(session.store, mode="r+")
    del root["g/inline"]
    root.attrs["step"] = 2
    root.create_group("other")
    session.commit("second")
    repo.create_branch("dev", first)
    repo.create_tag("v1", first)
    repo.delete_tag("v1")


def collect_seeds(repos: list[Path], dest: Path) -> dict[str, int]:
    """Copy every metadata file of ``repos`` into ``dest`` as ``<kind>-<n>``; count kinds."""
    dest.mkdir(parents=True, exist_ok=True)
    counts: dict[str, int] = {}
    for repo in repos:
        for file in sorted(p for p in repo.rglob("*") if p.is_file()):
            kind = kind_of(file.relative_to(repo))
            if kind is None or ".icechunk-" in str(file):
                continue
            counts[kind] = counts.get(kind, 0) + 1
            shutil.copyfile(file, dest / f"{kind}-{counts[kind]}")
    return counts
