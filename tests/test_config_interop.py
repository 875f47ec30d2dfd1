"""Interop of the stored config dict with the real icechunk wheel (in ``.venv-real``).

The real wheel writes a repository with a rich config; we decode its stored dict and must
re-encode it exactly. Then we store our own dict (with keys from a "future" version) in a real
repository, and the real wheel must read it and save back exactly our known keys.
"""

from __future__ import annotations

import copy
import json
import os
import struct
import subprocess
from pathlib import Path
from typing import Any

import pytest
import zstandard
from flatbuffers import flexbuffers

import icechunk.config as config_module
from icechunk import storage as storage_module
from icechunk.config import (
    ManifestPreloadCondition,
    ManifestSplitCondition,
    ManifestSplitDimCondition,
    RepositoryConfig,
    RepoUpdateRetryConfig,
)
from icechunk.format._fb import root_table
from icechunk.format.header import HEADER_SIZE, FileType, decode_file

MPC = ManifestPreloadCondition
MSC = ManifestSplitCondition
MSD = ManifestSplitDimCondition


def typed(value: Any) -> Any:
    """``value`` with every scalar tagged by its type, so ``1 != True`` when compared."""
    if isinstance(value, dict):
        return {k: typed(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [typed(v) for v in value]
    return (type(value).__name__, value)


REAL_PYTHON = Path(
    os.environ.get("ICECHUNK_REAL_PYTHON")
    or Path(__file__).resolve().parents[1] / ".venv-real" / "bin" / "python"
)

#: Builds the same rich config under the real wheel and under pyicechunk.
RICH_CONFIG = """
def build_config():
    cfg = RepositoryConfig(
        inline_chunk_threshold_bytes=77,
        get_partial_values_concurrency=3,
        compression=CompressionConfig(CompressionAlgorithm.Zstd, 9),
        max_concurrent_requests=11,
        caching=CachingConfig(1, 2, 3, 4, 5),
        storage=StorageSettings(
            concurrency=StorageConcurrencySettings(4, 1000),
            retries=StorageRetriesSettings(3, 4, 5),
            unsafe_use_conditional_create=False,
            unsafe_use_conditional_update=False,
            unsafe_use_metadata=False,
            storage_class="STD",
            metadata_storage_class="M",
            chunks_storage_class="C",
            minimum_size_for_multipart_upload=12345,
            timeouts=StorageTimeoutSettings(1, 2, 3, 4),
        ),
        manifest=ManifestConfig(
            preload=ManifestPreloadConfig(
                99,
                MPC.or_conditions([
                    MPC.and_conditions([MPC.path_matches("^/a"), MPC.num_refs(None, 10)]),
                    MPC.name_matches('t"\\\\d'), MPC.num_refs(5, None), MPC.num_refs(1, 2),
                    MPC.true(), MPC.false(),
                ]),
                7,
            ),
            splitting=ManifestSplittingConfig.from_dict({
                MSC.name_matches("temp"): {MSD.Axis(0): 2, MSD.DimensionName("lon"): 3, MSD.Any(): 1},
                MSC.or_conditions([MSC.path_matches("/x"), MSC.AnyArray() & MSC.name_matches("q")]):
                    {MSD.Any(): 9},
            }),
            virtual_chunk_location_compression=ManifestVirtualChunkLocationCompressionConfig(
                11, dictionary_max_training_samples=12, dictionary_max_size_bytes=13,
                compression_level=14,
            ),
            max_concurrent_manifest_fetches_during_commit=6,
        ),
        repo_update_retries=RepoUpdateRetryConfig(StorageRetriesSettings(7, 8, 9)),
        num_updates_per_repo_info_file=42,
        max_concurrent_decodes=5,
    )
    for cont in [
        VirtualChunkContainer("s3://bucket/prefix/", s3_store(
            region="us-east-1", endpoint_url="http://e", allow_http=True, anonymous=True,
            force_path_style=True, network_stream_timeout_seconds=30, requester_pays=True,
            checksum_algorithm=ChecksumAlgorithm.Crc64Nvme)),
        VirtualChunkContainer("s3://compat/", s3_store(s3_compatible=True), name="compat"),
        VirtualChunkContainer("gs://g/", gcs_store({"k": "v"})),
        VirtualChunkContainer("gs://g2/", gcs_store()),
        VirtualChunkContainer("az://acc/", azure_store(account="acct", config={"x": "y"})),
        VirtualChunkContainer("tigris://t/", ObjectStoreConfig.Tigris(S3Options(region="auto"))),
        VirtualChunkContainer("https://h/", http_store({"o": "p"}, {"h": "v"})),
        VirtualChunkContainer("http://h2/", http_store()),
        VirtualChunkContainer("file:///tmp/data/", local_filesystem_store("/tmp/data")),
    ]:
        cfg.set_virtual_chunk_container(cont)
    return cfg
"""

REAL_SCRIPT = """
import json, sys
import icechunk, icechunk.storage
from icechunk._icechunk_python import RepoUpdateRetryConfig
ns = {**vars(icechunk), **vars(icechunk.storage), "RepoUpdateRetryConfig": RepoUpdateRetryConfig,
      "MPC": icechunk.ManifestPreloadCondition, "MSC": icechunk.ManifestSplitCondition,
      "MSD": icechunk.ManifestSplitDimCondition}
exec(open(sys.argv[1]).read(), ns)
action, path = sys.argv[2], sys.argv[3]
storage = icechunk.local_filesystem_storage(path)
if action == "write":
    repo = icechunk.Repository.create(storage, config=ns["build_config"]())
    repo.save_config()
    print(json.dumps({"ok": True}))
elif action == "create":
    icechunk.Repository.create(storage).save_config()
    print(json.dumps({"ok": True}))
else:  # read what pyicechunk wrote, then persist it again
    fetched = icechunk.Repository.fetch_config(storage)
    repo = icechunk.Repository.open(storage)
    repo.save_config()
    print(json.dumps({"threshold": fetched.inline_chunk_threshold_bytes,
                      "containers": sorted(fetched.virtual_chunk_containers)}))
"""


def run_real(tmp_path: Path, action: str, repo: Path) -> Any:
    if not REAL_PYTHON.exists():  # make test always builds it: a missing wheel is a failure
        pytest.fail(f"the real icechunk wheel is not installed ({REAL_PYTHON} is missing)")
    (tmp_path / "rich.py").write_text(RICH_CONFIG)
    (tmp_path / "real.py").write_text(REAL_SCRIPT)
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
    env["ICECHUNK_LOG"] = "error"
    proc = subprocess.run(
        [str(REAL_PYTHON), "real.py", "rich.py", action, str(repo)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-5000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def our_rich_config() -> RepositoryConfig:
    ns: dict[str, Any] = {**vars(config_module), **vars(storage_module)}
    ns.update(MPC=MPC, MSC=MSC, MSD=MSD, RepoUpdateRetryConfig=RepoUpdateRetryConfig)
    exec(RICH_CONFIG, ns)
    cfg: RepositoryConfig = ns["build_config"]()
    return cfg


def stored_config(repo: Path) -> Any:
    _, payload = decode_file((repo / "repo").read_bytes(), FileType.REPO_INFO)
    raw = root_table(payload).bytes_vector(9)
    assert raw is not None, "the repo file has no config"
    return flexbuffers.Loads(raw)


def replace_stored_config(repo: Path, config: dict[str, Any]) -> None:
    """Point the repo file's config slot at a new flexbuffer appended to the payload."""
    data = (repo / "repo").read_bytes()
    _, payload = decode_file(data, FileType.REPO_INFO)
    slot = root_table(payload).field_pos(9)
    assert slot, "the repo file has no config slot to patch"
    blob = bytes(flexbuffers.Dumps(config))
    buf = bytearray(payload) + b"\0" * (-len(payload) % 8)
    start = len(buf)
    buf += struct.pack("<I", len(blob)) + blob + b"\0" * (-len(blob) % 8)
    struct.pack_into("<I", buf, slot, start - slot)
    body = zstandard.ZstdCompressor(level=3).compress(bytes(buf))
    (repo / "repo").write_bytes(data[:HEADER_SIZE] + body)


@pytest.mark.interop
def test_real_config_decodes_and_round_trips(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    run_real(tmp_path, "write", repo)
    stored = stored_config(repo)
    cfg = RepositoryConfig._from_dict(stored)
    assert typed(cfg._to_dict()) == typed(stored)
    assert typed(our_rich_config()._to_dict()) == typed(stored)
    assert cfg.inline_chunk_threshold_bytes == 77
    manifest = cfg.manifest
    assert manifest is not None and manifest.preload is not None
    assert manifest.preload.preload_if == our_rich_config().manifest.preload.preload_if  # type: ignore[union-attr]


@pytest.mark.interop
def test_real_wheel_accepts_our_config(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    run_real(tmp_path, "create", repo)
    ours = our_rich_config()._to_dict()
    with_future_keys = copy.deepcopy(ours)
    with_future_keys["future_setting"] = {"a": 1}
    with_future_keys["compression"]["future"] = True
    replace_stored_config(repo, with_future_keys)
    seen = run_real(tmp_path, "read", repo)
    assert seen["threshold"] == 77 and "s3://compat/" in seen["containers"]
    assert typed(stored_config(repo)) == typed(ours)  # the real wheel re-saved exactly ours
