"""Virtual references into a remote object (S3 or HTTP), written or read with the public API.

Usage::

    virtual_refs_remote.py write REPO s3 ENDPOINT ETAG   # s3://sources/source.bin must exist
    virtual_refs_remote.py write REPO http BASE_URL ETAG # BASE_URL/source.bin must exist
    virtual_refs_remote.py read REPO KIND ENDPOINT_OR_BASE_URL

The object holds 64 little-endian float64 values after a 16-byte header. The repository
(on local disk) declares one container (S3-compatible for ``s3://sources/`` at ENDPOINT, or
HTTP for BASE_URL) and has one array ``v`` of 8 chunks (8 values each): chunks 0-3 carry no
checksum, 4-7 the object's ETag, plus ``guarded`` whose only chunk has a wrong ETag. S3
credentials come from the AWS_* environment variables (authorization value None).
"""

from __future__ import annotations

import json
import sys
import warnings

import numpy as np
import zarr

import icechunk

warnings.simplefilter("ignore", DeprecationWarning)

HEADER = 16


def _container(kind: str, endpoint: str) -> icechunk.VirtualChunkContainer:
    if kind == "http":
        return icechunk.VirtualChunkContainer(endpoint, icechunk.http_store())
    store = icechunk.s3_store(
        region="us-east-1",
        endpoint_url=endpoint,
        allow_http=True,
        s3_compatible=True,
        force_path_style=True,
    )
    return icechunk.VirtualChunkContainer("s3://sources/", store)


def write(repo_path: str, kind: str, endpoint: str, etag: str) -> dict[str, object]:
    """Create the repository of virtual refs."""
    container = _container(kind, endpoint)
    config = icechunk.RepositoryConfig.default()
    config.set_virtual_chunk_container(container)
    prefix = container.url_prefix
    location = prefix + "source.bin"
    repo = icechunk.Repository.create(
        icechunk.local_filesystem_storage(repo_path),
        config=config,
        authorize_virtual_chunk_access={prefix: None},
    )
    session = repo.writable_session("main")
    root = zarr.open_group(session.store, mode="w")
    root.create_array("v", shape=(64,), chunks=(8,), dtype="<f8", compressors=None)
    root.create_array("guarded", shape=(8,), chunks=(8,), dtype="<f8", compressors=None)
    specs = [
        icechunk.VirtualChunkSpec([i], location, HEADER + 64 * i, 64, etag if i >= 4 else None)
        for i in range(8)
    ]
    assert session.store.set_virtual_refs("v", specs) is None
    session.store.set_virtual_ref(
        "guarded/c/0", location, offset=HEADER, length=64, checksum='"0123456789abcdef"'
    )
    return {"snapshot": session.commit("s3 virtual refs")}


def read(repo_path: str, kind: str, endpoint: str) -> dict[str, object]:
    """Read the values back and report what the guarded chunk does."""
    repo = icechunk.Repository.open(
        icechunk.local_filesystem_storage(repo_path),
        authorize_virtual_chunk_access={_container(kind, endpoint).url_prefix: None},
    )
    group = zarr.open_group(repo.readonly_session("main").store, mode="r")
    try:
        guarded = str(group["guarded"][0])
    except Exception as exc:  # the refusal is an icechunk error in both implementations
        guarded = "modified" if "has changed" in str(exc) else f"error: {exc}"
    values = group["v"][:]
    return {
        "values_ok": bool(np.array_equal(values, np.arange(64, dtype="<f8") * 0.5)),
        "guarded": guarded,
    }


def main() -> None:
    """Dispatch on the mode argument and print the JSON result."""
    mode, repo_path, kind, endpoint = sys.argv[1:5]
    if mode == "write":
        result = write(repo_path, kind, endpoint, sys.argv[5])
    else:
        result = read(repo_path, kind, endpoint)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
