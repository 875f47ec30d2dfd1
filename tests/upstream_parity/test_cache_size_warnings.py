"""Caches too small for the objects they hold are reported once, as the real package does.

A manifest taking more than half of ``num_chunk_refs``, or a snapshot more than a fifth
of ``num_snapshot_nodes``, gets one WARN record per repository and object kind.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
import zarr

import icechunk as ic


@pytest.fixture(autouse=True)
def _warn_level() -> Iterator[None]:
    ic.set_logs_filter("warn")
    yield
    ic.set_logs_filter("warn")


def _config(refs: int | None, nodes: int | None) -> ic.RepositoryConfig:
    return ic.RepositoryConfig(
        caching=ic.CachingConfig(num_chunk_refs=refs, num_snapshot_nodes=nodes)
    )


def _write(repo: ic.Repository, arrays: int = 1) -> None:
    """Commit a group holding ``arrays`` arrays of 6 (non-fill) chunks each."""
    session = repo.writable_session("main")
    zarr.create_group(session.store, path="group", overwrite=True)
    for i in range(arrays):
        array = zarr.create_array(
            session.store, name=f"group/a{i}", shape=(12,), chunks=(2,), dtype="int32"
        )
        array[:] = i + 1
    session.commit("data")


def test_zero_sized_caches_warn_once_per_kind(capfd: pytest.CaptureFixture[str]) -> None:
    repo = ic.Repository.create(ic.in_memory_storage(), config=_config(0, 0))
    _write(repo, arrays=2)
    _write(repo, arrays=2)
    err = capfd.readouterr().err
    assert len(re.findall("WARN", err)) == 2
    assert "WARN icechunk::asset_manager:" in err
    assert "manifest with 6 chunk references" in err and "keep 0 references" in err
    assert "snapshot with 4 nodes" in err and "keep 0 nodes" in err


@pytest.mark.parametrize(
    ("refs", "nodes", "expected"),
    [
        (11, 100, ["manifest"]),  # 6 refs > 11 / 2
        (12, 100, []),
        (100, 14, ["snapshot"]),  # 3 nodes > 14 / 5
        (100, 15, []),
    ],
)
def test_warning_thresholds(
    capfd: pytest.CaptureFixture[str], refs: int, nodes: int, expected: list[str]
) -> None:
    repo = ic.Repository.create(ic.in_memory_storage(), config=_config(refs, nodes))
    _write(repo)
    err = capfd.readouterr().err
    warned = re.findall(r"Caching a (\w+) with", err)
    assert warned == expected


def test_default_caches_are_silent(capfd: pytest.CaptureFixture[str]) -> None:
    _write(ic.Repository.create(ic.in_memory_storage()), arrays=3)
    assert capfd.readouterr().err == ""


def test_reading_through_a_small_cache_warns_too(capfd: pytest.CaptureFixture[str]) -> None:
    storage = ic.in_memory_storage()
    _write(ic.Repository.create(storage))
    assert capfd.readouterr().err == ""
    small = ic.Repository.open(storage, config=_config(1, 1))
    session = small.readonly_session("main")
    assert zarr.open_array(session.store, path="group/a0", mode="r")[0] == 1
    err = capfd.readouterr().err
    assert "snapshot with 3 nodes" in err and "keep 1 nodes" in err
    assert "manifest with 6 chunk references" in err and "keep 1 references" in err
