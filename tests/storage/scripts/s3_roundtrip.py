"""Create, extend or read a small repository on an S3 server; prints JSON.

``s3_roundtrip.py MODE ENDPOINT BUCKET PREFIX KEY_ID SECRET`` with MODE one of ``create``
(array ``a`` = arange(20), chunks of 5), ``append`` (sets ``a[:5] = -1`` in a new commit)
or ``read``. Uses only the public icechunk API, so it runs under the real wheel and ours.
"""

from __future__ import annotations

import json
import sys

import numpy as np
import zarr

import icechunk


def main(mode: str, endpoint: str, bucket: str, prefix: str, key_id: str, secret: str) -> None:
    storage = icechunk.s3_storage(
        bucket=bucket,
        prefix=prefix,
        region="us-east-1",
        endpoint_url=endpoint,
        allow_http=True,
        force_path_style=True,
        access_key_id=key_id,
        secret_access_key=secret,
    )
    if mode == "create":
        repo = icechunk.Repository.create(storage)
        session = repo.writable_session("main")
        array = zarr.create_array(session.store, name="a", shape=(20,), chunks=(5,), dtype="i8")
        array[:] = np.arange(20)
        session.commit("create")
    elif mode == "append":
        repo = icechunk.Repository.open(storage)
        session = repo.writable_session("main")
        zarr.open_array(session.store, path="a")[:5] = -1
        session.commit("append")
    else:
        repo = icechunk.Repository.open(storage)
    store = repo.readonly_session(branch="main").store
    values = zarr.open_array(store, path="a", mode="r")[:].tolist()
    history = [info.message for info in repo.ancestry(branch="main")]
    print(json.dumps({"values": values, "history": history}))


if __name__ == "__main__":
    main(*sys.argv[1:7])
