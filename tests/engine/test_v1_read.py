"""Reading spec-version-1 repositories (written by icechunk 1.1.21) through the public API.

pyicechunk reads v1 repositories (refs under ``refs/``, parentage in the snapshots) and
refuses what only spec 2 can store (repository metadata, status, feature flags, the ops
log) with a typed error pointing at the upgrade. Writes to v1 repositories are covered by
``test_v1_write.py``.
"""

from __future__ import annotations

import importlib.util
import pickle
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import zarr
from interop import harness
from interop.samples import SampleRepo

import icechunk
from icechunk.errors import ErrorKind, FormatError, RefNotFoundError

pytestmark = [
    pytest.mark.interop,
    pytest.mark.local_only(reason="the spec-v1 sample repositories are directories written by icechunk 1.1.21"),
]

#: Keys our dump may not reproduce yet (Repository.diff is implemented separately).
_DIFF_KEYS = ("diff_from_parent", "ops_log")


def _open(sample: SampleRepo) -> icechunk.Repository:
    return icechunk.Repository.open(icechunk.local_filesystem_storage(str(sample.path)))


def _load_dump_module() -> Any:
    spec = importlib.util.spec_from_file_location("_v1_read_dump", harness.script_path("dump"))
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _strip(value: Any, keys: tuple[str, ...]) -> Any:
    if isinstance(value, dict):
        return {k: _strip(v, keys) for k, v in value.items() if k not in keys}
    if isinstance(value, list):
        return [_strip(v, keys) for v in value]
    return value


def _files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in root.rglob("*") if p.is_file()}


def test_v1_dump_matches_the_v1_wheel(v1_sample_repo: SampleRepo) -> None:
    """Refs, ancestry, commit data, every zarr.json, chunk and data digest are identical."""
    dump_module = _load_dump_module()
    # Diffs are compared separately, once Repository.diff exists.
    dump_module._diff = lambda repo, parent, child: None
    ours = dump_module.dump(str(v1_sample_repo.path))
    theirs = v1_sample_repo.dump

    assert ours["spec_version"] == theirs["spec_version"] == 1
    # Same repository, so even the raw ids and timestamps must agree.
    assert _strip(ours, _DIFF_KEYS) == _strip(theirs, _DIFF_KEYS)
    assert harness.normalize_dump(ours, drop=_DIFF_KEYS) == harness.normalize_dump(
        theirs, drop=_DIFF_KEYS
    )


def test_v1_diff_matches_the_v1_wheel(v1_sample_repo: SampleRepo) -> None:
    ours = _load_dump_module().dump(str(v1_sample_repo.path))
    assert harness.normalize_dump(ours, drop=("ops_log",)) == harness.normalize_dump(
        v1_sample_repo.dump, drop=("ops_log",)
    )


def test_v1_refs_and_ancestry(v1_sample_repo: SampleRepo) -> None:
    ids = v1_sample_repo.snapshots
    repo = _open(v1_sample_repo)
    assert repo.spec_version == 1
    assert icechunk.Repository.exists(icechunk.local_filesystem_storage(str(v1_sample_repo.path)))
    assert repo.list_branches() == {"main", "dev"}
    assert repo.list_tags() == {"v1", "v2"}
    assert repo.lookup_branch("main") == ids["c4"]
    assert repo.lookup_branch("dev") == ids["d1"]
    assert repo.lookup_tag("v1") == ids["c1"]
    assert repo.lookup_tag("v2") == ids["c2"]

    main = list(repo.ancestry(branch="main"))
    assert [s.id for s in main] == [ids[k] for k in ("c4", "c3", "c2", "c1", "init")]
    assert [s.parent_id for s in main] == [ids[k] for k in ("c3", "c2", "c1", "init")] + [None]
    assert main[0].message == "resize and extend"
    assert main[0].metadata == {"step": 4}
    assert main[3].metadata == {"author": "write_sample", "step": 1, "tags": ["x", "y"], "ok": True}
    dev = [s.id for s in repo.ancestry(branch="dev")]
    assert dev == [ids[k] for k in ("d1", "c3", "c2", "c1", "init")]
    assert [s.id for s in repo.ancestry(tag="v2")] == [ids["c2"], ids["c1"], ids["init"]]
    assert repo.lookup_snapshot(ids["d1"]).message == "dev work"


def _read(
    repo: icechunk.Repository,
    path: str,
    branch: str | None = None,
    tag: str | None = None,
    snapshot_id: str | None = None,
) -> np.ndarray[Any, Any]:
    store = repo.readonly_session(branch, tag=tag, snapshot_id=snapshot_id).store
    return np.asarray(zarr.open_array(store, path=path, mode="r")[...])


def test_v1_readonly_sessions_read_data(v1_sample_repo: SampleRepo) -> None:
    ids = v1_sample_repo.snapshots
    repo = _open(v1_sample_repo)
    tip = _read(repo, "float64", branch="main")
    assert tip.shape == (1200,)
    np.testing.assert_allclose(tip[1000:], np.linspace(0.0, 1.0, 200))
    root = zarr.open_group(repo.readonly_session("main").store, mode="r")
    assert "scratch" not in root

    assert _read(repo, "float64", tag="v1").shape == (1000,)
    old = zarr.open_group(repo.readonly_session(tag="v1").store, mode="r")
    assert "scratch" in old and old.attrs["version"] == 1
    assert _read(repo, "dev_only", snapshot_id=ids["d1"]).tolist() == [1, -2, 3, -4]


_V2_ONLY: dict[str, Callable[[icechunk.Repository], object]] = {
    "set_metadata": lambda r: r.set_metadata({"a": 1}),
    "get_metadata": lambda r: r.get_metadata(),
    "ops_log": lambda r: list(r.ops_log()),
    "get_status": lambda r: r.get_status(),
    "feature_flags": lambda r: r.feature_flags(),
    "set_feature_flag": lambda r: r.set_feature_flag("create_tag", False),
}


@pytest.mark.parametrize("operation", sorted(_V2_ONLY))
def test_v2_only_operations_are_refused(v1_sample_repo: SampleRepo, operation: str) -> None:
    before = _files(v1_sample_repo.path)
    repo = _open(v1_sample_repo)
    with pytest.raises(FormatError, match=r"at least version 2\.0, please upgrade") as info:
        _V2_ONLY[operation](repo)
    assert info.value.kind == ErrorKind.UNSUPPORTED_SPEC_VERSION  # as the real wheel reports
    assert _files(v1_sample_repo.path) == before


def test_v1_deleted_tags_are_hidden(v1_sample_repo: SampleRepo) -> None:
    repo = _open(v1_sample_repo)
    # "doomed" was created and deleted by icechunk 1.1.21: its ref.json stays, with a tombstone.
    assert (v1_sample_repo.path / "refs/tag.doomed/ref.json.deleted").exists()
    assert "doomed" not in repo.list_tags()
    with pytest.raises(RefNotFoundError):
        repo.lookup_tag("doomed")

    # A tombstone added later hides that tag too.
    (v1_sample_repo.path / "refs/tag.v2/ref.json.deleted").write_bytes(b"")
    assert repo.list_tags() == {"v1"}
    with pytest.raises(RefNotFoundError):
        repo.lookup_tag("v2")
    with pytest.raises(RefNotFoundError):
        repo.readonly_session(tag="v2")


def test_v1_handles_survive_pickling_and_reopen(v1_sample_repo: SampleRepo) -> None:
    repo = _open(v1_sample_repo)
    for other in (pickle.loads(pickle.dumps(repo)), repo.reopen()):
        assert other.spec_version == 1
        assert other.lookup_tag("v1") == v1_sample_repo.snapshots["c1"]
        with pytest.raises(FormatError):
            other.set_metadata({"a": 1})
    assert "(v1)" in repr(repo)
