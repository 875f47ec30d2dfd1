"""Hostile input: odd node paths and ref names, symlink tricks, and pickles.

* Node names with control characters, spaces, unicode or 10 000 characters either get a
  typed error or round-trip exactly through a commit; nothing is written outside the
  storage root. (``..``, absolute and NUL keys: tests/engine/test_corruption.py.)
* Branch and tag names: tests/reliability/test_ref_names.py.
* Local storage never follows a symlink out of its root, even one planted inside the
  repository after it was created (see also tests/storage/test_local_storage.py).
* Unpickling a repository, read-only session, fork, store, storage or config resolves only
  icechunk classes and a few harmless builtins; a restricted unpickler proves it.
"""

from __future__ import annotations

import io
import os
import pickle
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import zarr

import icechunk as ic

ODD_NODE_NAMES = ["tab\there", "new\nline", "ctl\x01x", "sp ace", "ünï/cödé", "x" * 10_000, "a:b*c?"]
def _tree(path: Path) -> set[str]:
    return {str(p.relative_to(path)) for p in path.rglob("*")}


# --------------------------------------------------------------------------- node paths
@pytest.mark.parametrize("name", ODD_NODE_NAMES, ids=lambda n: repr(n[:12]))
def test_odd_node_names_round_trip_or_fail_typed(tmp_path: Path, name: str) -> None:
    path = tmp_path / "outer" / "repo"
    repo = ic.Repository.create(ic.local_filesystem_storage(str(path)))
    session = repo.writable_session("main")
    root = zarr.create_group(session.store)
    try:
        array = root.create_array(name, shape=(3,), chunks=(3,), dtype="i2")
        array[:] = [1, 2, 3]
    except (ic.IcechunkError, ValueError) as err:  # zarr validates names with ValueError
        assert not isinstance(err, AssertionError)
        return
    session.commit("odd name")
    assert _tree(tmp_path) - {"outer"} == {f"outer/{p}" for p in _tree(tmp_path / "outer")}
    assert {p.name for p in (tmp_path / "outer").iterdir()} == {"repo"}
    reread = zarr.open_group(repo.readonly_session("main").store, mode="r")
    members = dict(reread.members(max_depth=None))
    assert name in members
    node = members[name]
    assert isinstance(node, zarr.Array)
    np.testing.assert_array_equal(node[:], [1, 2, 3])


# --------------------------------------------------------------------------- symlinks
@pytest.mark.parametrize("planted", ["chunks", "manifests", "snapshots", "transactions"])
def test_symlink_planted_in_the_repository_is_never_followed(tmp_path: Path, planted: str) -> None:
    path, outside = tmp_path / "repo", tmp_path / "outside"
    outside.mkdir()
    repo = ic.Repository.create(ic.local_filesystem_storage(str(path)))
    session = repo.writable_session("main")
    zarr.create_group(session.store)
    session.commit("group")
    target = path / planted
    if target.exists():
        os.rename(target, tmp_path / "moved-away")
    target.symlink_to(outside, target_is_directory=True)
    session = repo.writable_session("main")
    data = np.random.default_rng(0).standard_normal(2000)  # native chunk files
    try:
        zarr.create_array(session.store, name="x", shape=(2000,), chunks=(1000,), dtype="f8")[:] = data
        session.commit("through the symlink")
    except ic.IcechunkError as err:
        assert isinstance(err, ic.StorageError | ic.InvalidInputError | ic.NotFoundError), err
    assert list(outside.iterdir()) == [], "nothing may be written outside the root"


# --------------------------------------------------------------------------- pickles
#: Every global a pickle of these objects may name outside the icechunk package.
HARMLESS = {
    ("builtins", "set"), ("builtins", "frozenset"), ("builtins", "dict"), ("builtins", "list"),
    ("builtins", "tuple"), ("builtins", "bytearray"), ("builtins", "complex"),
    ("copyreg", "_reconstructor"), ("builtins", "object"), ("collections", "OrderedDict"),
    ("datetime", "datetime"), ("datetime", "timezone"), ("datetime", "timedelta"),
    ("_codecs", "encode"),
    # Once dask.distributed is imported, tblib routes every exception's pickle through this
    # reconstructor; it only calls the exception class, which must itself pass this check.
    ("tblib.pickling_support", "unpickle_exception"),
    ("tblib.pickling_support", "unpickle_traceback"),
}  # fmt: skip


class RestrictedUnpickler(pickle.Unpickler):
    """Resolves only icechunk names and :data:`HARMLESS` ones; records every name."""

    def __init__(self, data: bytes) -> None:
        super().__init__(io.BytesIO(data))
        self.names: set[tuple[str, str]] = set()

    def find_class(self, module: str, name: str) -> Any:
        self.names.add((module, name))
        if module.split(".")[0] != "icechunk" and (module, name) not in HARMLESS:
            raise pickle.UnpicklingError(f"pickle refers to {module}.{name}")
        if name.startswith("__") or any(part.startswith("__") for part in name.split(".")):
            raise pickle.UnpicklingError(f"pickle refers to dunder {module}.{name}")
        return super().find_class(module, name)


def _picklable_objects(path: Path) -> dict[str, object]:
    repo = ic.Repository.create(ic.local_filesystem_storage(str(path)))
    session = repo.writable_session("main")
    zarr.create_array(session.store, name="a", shape=(4,), chunks=(2,), dtype="i4")[:] = 7
    session.commit("a")
    writable = repo.writable_session("main")
    return {
        "repository": repo,
        "readonly_session": repo.readonly_session("main"),
        "readonly_store": repo.readonly_session("main").store,
        "fork": writable.fork(),
        "fork_store": writable.fork().store,
        "error": ic.ConflictError("A", "B"),
    }


def test_storages_configs_and_credentials_never_pickle_alone(tmp_path: Path) -> None:
    refused = {
        "Storage": ic.local_filesystem_storage(str(tmp_path)),
        "RepositoryConfig": ic.RepositoryConfig.default(),
        "StorageSettings": ic.StorageSettings(),
        "Static": ic.s3_static_credentials(access_key_id="AK", secret_access_key="SECRET"),
    }
    for name, obj in refused.items():
        with pytest.raises(TypeError, match=f"cannot pickle '{name}' object"):
            pickle.dumps(obj)


def test_unpickling_needs_only_icechunk_classes(tmp_path: Path) -> None:
    for label, obj in _picklable_objects(tmp_path / "repo").items():
        data = pickle.dumps(obj)
        unpickler = RestrictedUnpickler(data)
        restored = unpickler.load()
        assert type(restored) is type(obj), label
        assert unpickler.names, label
        outside = {n for n in unpickler.names if n[0].split(".")[0] != "icechunk"}
        assert outside <= HARMLESS, (label, outside)


def test_restricted_unpickler_refuses_a_malicious_pickle() -> None:
    """The check above can fail: a pickle that would run os.system is refused."""

    class Evil:
        def __reduce__(self) -> tuple[Any, ...]:
            return (os.system, ("echo owned",))

    with pytest.raises(pickle.UnpicklingError, match="system"):
        RestrictedUnpickler(pickle.dumps(Evil())).load()
