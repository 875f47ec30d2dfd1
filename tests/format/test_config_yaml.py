"""The spec-v1 ``config.yaml``: serde_yaml's tagged-enum form, persisted and read back."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from interop import harness

import icechunk as ic
from icechunk.format.config_yaml import decode_config_yaml, encode_config_yaml

MPC = ic.ManifestPreloadCondition
MSC = ic.ManifestSplitCondition
MSD = ic.ManifestSplitDimCondition


def _rich_config() -> ic.RepositoryConfig:
    config = ic.RepositoryConfig(inline_chunk_threshold_bytes=7)
    config.manifest = ic.ManifestConfig(
        preload=ic.ManifestPreloadConfig(preload_if=MPC.name_matches("t") & MPC.true()),
        splitting=ic.ManifestSplittingConfig.from_dict(
            {MSC.path_matches(".*"): {MSD.Axis(0): 4, MSD.DimensionName("true"): 2}}
        ),
    )
    config.set_virtual_chunk_container(
        ic.VirtualChunkContainer("http://example.com/", ic.http_store(opts={"x": "1"}))
    )
    return config


def test_enum_values_become_tags_and_read_back_unchanged() -> None:
    stored = _rich_config()._to_dict()
    text = encode_config_yaml(stored).decode()
    assert "preload_if: !and\n" in text
    assert "condition: !Axis 0\n" in text  # plain: serde reads a quoted 0 as a string
    assert "condition: !DimensionName 'true'\n" in text  # quoted: plain would be a bool
    assert "store: !http\n" in text
    assert decode_config_yaml(text.encode()) == stored
    assert decode_config_yaml(b"") == {}


def test_v1_repository_persists_its_config(tmp_path: Path) -> None:
    storage = ic.local_filesystem_storage(str(tmp_path))
    repo = ic.Repository.create(storage, config=_rich_config(), spec_version=1)
    assert ic.Repository.fetch_config(storage) == repo.config
    changed = repo.config
    changed.inline_chunk_threshold_bytes = 11
    ic.Repository.open(storage, config=changed).save_config()
    reopened = ic.Repository.open(storage)
    assert reopened.spec_version == 1
    assert reopened.config.inline_chunk_threshold_bytes == 11
    assert reopened.config.manifest == _rich_config().manifest


def test_fetch_config_without_a_repository_is_not_found() -> None:
    try:
        ic.Repository.fetch_config(ic.in_memory_storage())
    except ic.RepositoryNotFoundError as exc:
        assert "doesn't exist" in str(exc)
    else:
        raise AssertionError("fetch_config found a config where there is no repository")


def test_real_wheel_reads_our_v1_config(tmp_path: Path) -> None:
    ic.Repository.create(
        ic.local_filesystem_storage(str(tmp_path)), config=_rich_config(), spec_version=1
    )
    code = (
        "import json, sys, icechunk as ic\n"
        "c = ic.Repository.fetch_config(ic.local_filesystem_storage(sys.argv[1]))\n"
        "print(json.dumps([c.inline_chunk_threshold_bytes, repr(c.manifest.splitting),"
        " sorted(c.virtual_chunk_containers)]))\n"
    )
    done = subprocess.run(
        [harness.real_python(), "-c", code, str(tmp_path)],
        capture_output=True,
        text=True,
        check=True,
        cwd=tmp_path,  # not the checkout: `-c` puts the cwd first on sys.path
    )
    threshold, splitting, containers = json.loads(done.stdout.strip().splitlines()[-1])
    assert threshold == 7
    assert "axis(0), 4" in splitting and 'dimension_name("true"), 2' in splitting
    assert containers == ["http://example.com/"]
