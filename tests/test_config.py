"""Tests of the configuration value classes (icechunk.config and its private modules)."""

from __future__ import annotations

import copy
import pickle
import sys
import types
from pathlib import Path
from typing import Any

import pytest
from flatbuffers import flexbuffers
from hypothesis import given, settings
from hypothesis import strategies as st

import icechunk.config as config_module
from icechunk import storage as storage_module
from icechunk._config_base import ConfigRangeError
from icechunk._config_settings import Unresolved
from icechunk._pickling import pack
from icechunk.config import (
    Attribution,
    CachingConfig,
    ChecksumAlgorithm,
    CompressionAlgorithm,
    CompressionConfig,
    ManifestConfig,
    ManifestPreloadCondition,
    ManifestPreloadConfig,
    ManifestSplitCondition,
    ManifestSplitDimCondition,
    ManifestSplittingConfig,
    ManifestVirtualChunkLocationCompressionConfig,
    ObjectStoreConfig,
    RepositoryConfig,
    RepoUpdateRetryConfig,
    S3Options,
    VirtualChunkContainer,
    azure_store,
    gcs_store,
    http_store,
    local_filesystem_store,
    s3_store,
)
from icechunk.errors import FormatError, InvalidInputError

MPC = ManifestPreloadCondition
MSC = ManifestSplitCondition
MSD = ManifestSplitDimCondition
StorageSettings = storage_module.StorageSettings
StorageRetriesSettings = storage_module.StorageRetriesSettings

#: The real package prints split conditions with snake_case constructors it does not
#: define (``ManifestSplitDimCondition.any()``); to evaluate such a repr, the test namespace
#: maps those spellings onto the real constructors.
_SPLIT_REPR_NAMES = types.SimpleNamespace(
    ManifestSplitCondition=types.SimpleNamespace(
        any_array=MSC.AnyArray,
        path_matches=MSC.path_matches,
        name_matches=MSC.name_matches,
        or_conditions=MSC.or_conditions,
        and_conditions=MSC.and_conditions,
    ),
    ManifestSplitDimCondition=types.SimpleNamespace(
        any=MSD.Any, axis=MSD.Axis, dimension_name=MSD.DimensionName
    ),
)

#: What ``icechunk`` must provide for our reprs to evaluate (as the real package does).
ICECHUNK_NS = types.SimpleNamespace(
    config=types.SimpleNamespace(**{**vars(config_module), **vars(_SPLIT_REPR_NAMES)}),
    storage=types.SimpleNamespace(
        S3Options=S3Options,
        StorageSettings=StorageSettings,
        StorageRetriesSettings=StorageRetriesSettings,
        StorageConcurrencySettings=storage_module.StorageConcurrencySettings,
        StorageTimeoutSettings=storage_module.StorageTimeoutSettings,
    ),
    virtual=types.SimpleNamespace(VirtualChunkContainer=VirtualChunkContainer),
    ChecksumAlgorithm=ChecksumAlgorithm,
    Attribution=Attribution,
)


def reval(obj: Any) -> Any:
    # (the storage layer's own reprs may use bare class names)
    return eval(repr(obj), {"icechunk": ICECHUNK_NS, **vars(ICECHUNK_NS.storage)})


def typed(value: Any) -> Any:
    """``value`` with every scalar tagged by its type, so ``1 != True`` when compared."""
    if isinstance(value, dict):
        return {k: typed(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [typed(v) for v in value]
    return (type(value).__name__, value)


# --------------------------------------------------------------------------- defaults


def test_defaults_are_none() -> None:
    cfg = RepositoryConfig()
    assert cfg == RepositoryConfig.default()
    for name in RepositoryConfig._FIELDS:
        assert getattr(cfg, name) is None
    assert cfg.previous_file is None
    assert CompressionConfig().algorithm is None and CompressionConfig().level is None
    assert CachingConfig.default() == CachingConfig()
    assert ManifestSplittingConfig().split_sizes is None
    assert RepoUpdateRetryConfig().default is None
    assert ManifestConfig().preload is None


def test_s3_defaults() -> None:
    opts = S3Options()
    assert (opts.region, opts.allow_http, opts.network_stream_timeout_seconds) == (
        None,
        False,
        None,
    )
    assert s3_store()._0.network_stream_timeout_seconds == 60
    assert isinstance(s3_store(s3_compatible=True), ObjectStoreConfig.S3Compatible)


def test_compression_algorithm_enum() -> None:
    zstd = CompressionAlgorithm()  # type: ignore[call-arg]
    assert zstd is CompressionAlgorithm.Zstd is CompressionAlgorithm.default()
    assert repr(CompressionAlgorithm.Zstd) == "CompressionAlgorithm.Zstd"
    assert int(CompressionAlgorithm.Zstd) == 0 and int(ChecksumAlgorithm.Sha1) == 3
    assert repr(ChecksumAlgorithm.Crc64Nvme) == "ChecksumAlgorithm.Crc64Nvme"


# --------------------------------------------------------------------------- setters


def test_setters_validate_and_store() -> None:
    cfg = RepositoryConfig()
    cfg.inline_chunk_threshold_bytes = 100
    cfg.caching = CachingConfig(num_chunk_refs=True)  # bools are ints, as in the real class
    assert cfg.inline_chunk_threshold_bytes == 100 and cfg.caching.num_chunk_refs == 1
    cfg.compression = CompressionConfig()
    cfg.compression.level = 7  # nested values are held by reference
    assert cfg.compression == CompressionConfig(level=7)
    with pytest.raises(TypeError):
        cfg.compression = 5  # type: ignore[assignment]
    with pytest.raises(TypeError):
        CompressionConfig(algorithm="zstd")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        S3Options(allow_http=1)  # type: ignore[arg-type]
    with pytest.raises(AttributeError):
        cfg.virtual_chunk_containers = {}  # type: ignore[misc]
    with pytest.raises(AttributeError):
        CompressionConfig().foo = 1  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("build", "bits"),
    [
        (lambda v: RepositoryConfig(inline_chunk_threshold_bytes=v), 16),
        (lambda v: RepositoryConfig(max_concurrent_decodes=v), 16),
        (lambda v: CompressionConfig(level=v), 8),
        (lambda v: CachingConfig(num_chunk_refs=v), 64),
        (lambda v: ManifestPreloadConfig(max_total_refs=v), 32),
        (lambda v: ManifestVirtualChunkLocationCompressionConfig(min_num_chunks=v), 16),
        (lambda v: ManifestConfig(max_concurrent_manifest_fetches_during_commit=v), 16),
        (lambda v: MPC.num_refs(v, None), 32),
        (lambda v: MSD.Axis(v), 64),
        (lambda v: ManifestSplittingConfig(((MSC.AnyArray(), ((MSD.Any(), v),)),)), 32),
        (lambda v: S3Options(network_stream_timeout_seconds=v), 32),
    ],
)
def test_integer_ranges_match_the_format(build: Any, bits: int) -> None:
    build(0)
    build(2**bits - 1)
    for bad in (-1, 2**bits):
        with pytest.raises(ConfigRangeError) as info:
            build(bad)
        assert isinstance(info.value, InvalidInputError) and isinstance(info.value, OverflowError)
    with pytest.raises(TypeError):
        build("1")


def test_signed_compression_level() -> None:
    assert (
        ManifestVirtualChunkLocationCompressionConfig(compression_level=-5).compression_level == -5
    )
    with pytest.raises(ConfigRangeError):
        ManifestVirtualChunkLocationCompressionConfig(compression_level=2**31)


# --------------------------------------------------------------------------- equality


def test_equality_is_structural() -> None:
    assert CompressionConfig() != CompressionConfig(CompressionAlgorithm.Zstd, 3)
    assert CompressionConfig(level=3) == CompressionConfig(level=3)
    assert CompressionConfig() != 5
    assert RepositoryConfig(virtual_chunk_containers={}) != RepositoryConfig()
    assert MSD.Axis(3) == MSD.Axis(3) and MSD.Axis(3) != MSD.DimensionName("3")
    assert ObjectStoreConfig.S3(S3Options()) != ObjectStoreConfig.S3Compatible(S3Options())
    assert ObjectStoreConfig.Gcs(None) != ObjectStoreConfig.Gcs({})


def test_hashability_matches_the_real_classes() -> None:
    assert hash(MSC.name_matches("x")) == hash(MSC.name_matches("x"))
    assert {MSD.Axis(1): 2}[MSD.Axis(1)] == 2
    for value in (RepositoryConfig(), MPC.true(), ObjectStoreConfig.InMemory(), S3Options()):
        with pytest.raises(TypeError):
            hash(value)


def test_variants_are_subclasses_and_immutable() -> None:
    store = ObjectStoreConfig.LocalFileSystem("/data")
    assert isinstance(store, ObjectStoreConfig) and store._0 == Path("/data")
    assert type(store).__qualname__ == "ObjectStoreConfig.LocalFileSystem"
    assert isinstance(getattr(MPC, "True")(), MPC)
    assert getattr(MPC.num_refs(3, None), "from") == 3
    with pytest.raises(AttributeError):
        store._args = ("/x",)
    with pytest.raises(TypeError):
        ObjectStoreConfig()
    match MPC.name_matches("t"):
        case MPC.NameMatches(regex):
            assert regex == "t"


def test_combinators_nest_without_flattening() -> None:
    a, b = MPC.true(), MPC.false()
    assert (a & b) & a == MPC.and_conditions([MPC.and_conditions([a, b]), a])
    assert a | b == MPC.or_conditions([a, b])
    assert MSC.AnyArray() | MSC.name_matches("x") == MSC.or_conditions(
        [MSC.AnyArray(), MSC.name_matches("x")]
    )


# --------------------------------------------------------------------------- reprs


def test_reprs_have_the_real_form() -> None:
    assert repr(CompressionConfig(level=5)) == (
        "icechunk.config.CompressionConfig(\n    algorithm=None,\n    level=5,\n)"
    )
    assert repr(RepositoryConfig()).splitlines()[:3] == [
        "icechunk.config.RepositoryConfig(",
        "    inline_chunk_threshold_bytes=None,",
        "    get_partial_values_concurrency=None,",
    ]
    assert (
        repr(MPC.num_refs(None, 5)) == "icechunk.config.ManifestPreloadCondition.num_refs(None, 5)"
    )
    assert repr(ObjectStoreConfig.Http(None, {"h": "v"})) == (
        'icechunk.config.ObjectStoreConfig.Http(None, {"h": "v"})'
    )
    assert repr(local_filesystem_store("/x")) == (
        'icechunk.config.ObjectStoreConfig.LocalFileSystem("/x")'
    )


def test_str_shows_effective_defaults() -> None:
    assert str(CompressionConfig()) == (
        "<icechunk.config.CompressionConfig>\nalgorithm: Zstd (default)\nlevel: 3 (default)\n"
    )
    text = str(RepositoryConfig())
    assert "inline_chunk_threshold_bytes: 512 (default)" in text
    assert "        max_tries: 100\n" in text and "virtual_chunk_containers: None" in text
    assert "<details>" in RepositoryConfig()._repr_html_()


def test_attribution() -> None:
    label = Attribution(client="lib/1.0", workload="nightly ingest", principal="u")
    assert reval(label) == label and repr(label).startswith("icechunk.Attribution(\n")
    with pytest.raises(TypeError, match="cannot pickle 'Attribution' object"):
        pickle.dumps(label)
    assert label == pickle.loads(pickle.dumps(pack(label)))
    for bad in ({"client": ""}, {"client": "a b"}, {"workload": "a;b"}, {"principal": "x" * 129}):
        with pytest.raises(ValueError):
            Attribution(**bad)


# --------------------------------------------------------------------------- hypothesis

text = st.text(max_size=6)
#: Python's flexbuffers writer only takes ASCII map keys without NUL (Rust's takes UTF-8).
keys = st.text(st.characters(min_codepoint=0x21, max_codepoint=0x7E), min_size=1, max_size=6)


def uints(bits: int) -> st.SearchStrategy[int | None]:
    # Python's flexbuffers writer encodes every int as signed: stay below 2**63.
    return st.none() | st.integers(0, min(2**bits, 2**63) - 1)


preload_conditions = st.recursive(
    st.sampled_from([MPC.true(), MPC.false()])
    | text.map(MPC.path_matches)
    | text.map(MPC.name_matches)
    | st.builds(MPC.num_refs, uints(32), uints(32)),
    lambda kids: st.lists(kids, max_size=3).flatmap(
        lambda cs: st.sampled_from([MPC.or_conditions(cs), MPC.and_conditions(cs)])
    ),
    max_leaves=6,
)
split_conditions = st.recursive(
    st.just(MSC.AnyArray()) | text.map(MSC.path_matches) | text.map(MSC.name_matches),
    lambda kids: st.lists(kids, max_size=3).flatmap(
        lambda cs: st.sampled_from([MSC.or_conditions(cs), MSC.and_conditions(cs)])
    ),
    max_leaves=5,
)
dim_conditions = (
    st.integers(0, 2**63 - 1).map(MSD.Axis) | text.map(MSD.DimensionName) | st.just(MSD.Any())
)
splittings = st.lists(
    st.tuples(
        split_conditions, st.lists(st.tuples(dim_conditions, st.integers(0, 2**32 - 1)), max_size=3)
    ),
    max_size=3,
).map(lambda rules: ManifestSplittingConfig(tuple((c, tuple(s)) for c, s in rules)))
manifests = st.builds(
    ManifestConfig,
    st.none()
    | st.builds(ManifestPreloadConfig, uints(32), st.none() | preload_conditions, uints(32)),
    st.none() | splittings | st.just(ManifestSplittingConfig()),
    st.none()
    | st.builds(
        ManifestVirtualChunkLocationCompressionConfig,
        uints(16),
        dictionary_max_training_samples=uints(16),
        dictionary_max_size_bytes=uints(32),
        compression_level=st.none() | st.integers(-(2**31), 2**31 - 1),
    ),
    uints(16),
)
s3_options = st.builds(
    S3Options,
    st.none() | text,
    st.none() | text,
    st.booleans(),
    st.booleans(),
    st.booleans(),
    uints(32),
    st.booleans(),
    st.none() | st.sampled_from(ChecksumAlgorithm),
)
str_maps = st.dictionaries(keys.filter(lambda k: k != "headers"), text, max_size=2)
stores = st.one_of(
    st.builds(ObjectStoreConfig.InMemory),
    text.map(ObjectStoreConfig.LocalFileSystem),
    s3_options.map(ObjectStoreConfig.S3),
    s3_options.map(ObjectStoreConfig.S3Compatible),
    s3_options.map(ObjectStoreConfig.Tigris),
    (st.none() | str_maps).map(ObjectStoreConfig.Gcs),
    (st.none() | str_maps).map(ObjectStoreConfig.Azure),
    st.builds(ObjectStoreConfig.Http, st.none() | str_maps, st.none() | str_maps),
)
containers = st.builds(VirtualChunkContainer, text, stores, st.none() | text)
repo_configs = st.builds(
    RepositoryConfig,
    uints(16),
    uints(16),
    st.none()
    | st.builds(CompressionConfig, st.none() | st.just(CompressionAlgorithm.Zstd), uints(8)),
    uints(16),
    st.none() | st.builds(CachingConfig, uints(64), uints(64), uints(64), uints(64), uints(64)),
    st.none() | st.builds(StorageSettings, storage_class=st.none() | text),
    st.none() | st.dictionaries(keys, containers, max_size=2),
    st.none() | manifests,
    st.none()
    | st.builds(
        RepoUpdateRetryConfig, st.none() | st.builds(StorageRetriesSettings, st.integers(1, 99))
    ),
    uints(16),
    uints(16),
)


@settings(max_examples=60, deadline=None)
@given(repo_configs)
def test_repr_eval_and_packed_pickle_round_trip(cfg: RepositoryConfig) -> None:
    if "****" not in repr(cfg):
        assert reval(cfg) == cfg
    # else: a secret-looking store option (key, token, password...) is masked, so that repr
    # cannot rebuild the config; test_credentials_redaction.py checks the masking itself.
    with pytest.raises(TypeError, match="cannot pickle 'RepositoryConfig' object"):
        pickle.dumps(cfg)  # like the real wheel; a pickled Repository carries it packed
    assert pickle.loads(pickle.dumps(pack(cfg))) == cfg
    assert copy.deepcopy(cfg) == cfg
    str(cfg)  # renders


@settings(max_examples=60, deadline=None)
@given(repo_configs)
def test_dict_round_trip(cfg: RepositoryConfig) -> None:
    stored = cfg._to_dict()
    decoded = RepositoryConfig._from_dict(flexbuffers.Loads(flexbuffers.Dumps(stored)))
    assert typed(decoded._to_dict()) == typed(stored)


@settings(max_examples=40, deadline=None)
@given(st.one_of(preload_conditions, split_conditions, dim_conditions, stores, s3_options))
def test_parts_round_trip(value: Any) -> None:
    assert reval(value) == value
    with pytest.raises(TypeError, match="cannot pickle"):
        pickle.dumps(value)
    assert pickle.loads(pickle.dumps(pack(value))) == value
    assert copy.deepcopy(value) == value
    assert type(value)._from_dict(value._to_dict())._to_dict() == value._to_dict()


# --------------------------------------------------------------------------- dicts


def test_unknown_keys_survive_a_round_trip() -> None:
    stored = RepositoryConfig(
        compression=CompressionConfig(level=1),
        storage=StorageSettings(retries=StorageRetriesSettings(2)),
        repo_update_retries=RepoUpdateRetryConfig(StorageRetriesSettings(3)),
        virtual_chunk_containers={"s3://b/": VirtualChunkContainer("s3://b/", s3_store())},
    )._to_dict()
    stored["future_top"] = {"x": [1, 2]}
    stored["compression"]["future"] = "f"
    stored["storage"]["future"] = 1
    stored["storage"]["retries"]["jitter"] = True
    stored["repo_update_retries"]["default"]["jitter"] = False
    stored["virtual_chunk_containers"]["s3://b/"]["future"] = 2
    stored["virtual_chunk_containers"]["s3://b/"]["store"]["s3"]["future"] = 3
    stored["previous_file"] = "somewhere"
    cfg = RepositoryConfig._from_dict(stored)
    assert cfg.previous_file == "somewhere"
    assert typed(cfg._to_dict()) == typed(stored)
    assert typed(pickle.loads(pickle.dumps(pack(cfg)))._to_dict()) == typed(stored)
    assert typed(cfg.merge(RepositoryConfig())._to_dict()) == typed(stored)


def test_known_serde_shapes() -> None:
    assert MPC.num_refs(1, None)._to_dict() == {
        "num_refs": {"from": {"Included": 1}, "to": "Unbounded"}
    }
    assert MPC.true()._to_dict() == "true" and MSC.AnyArray()._to_dict() == "any_array"
    assert MSD.Any()._to_dict() == "Any" and MSD.Axis(2)._to_dict() == {"Axis": 2}
    assert ObjectStoreConfig.InMemory()._to_dict() == "in_memory"
    assert http_store({"o": "p"}, {"h": "v"})._to_dict() == {
        "http": {"o": "p", "headers": {"h": "v"}}
    }
    assert azure_store(account="a")._to_dict() == {"azure": {"account": "a"}}
    assert gcs_store()._to_dict() == {"gcs": {}}
    excluded = {"num_refs": {"from": {"Excluded": 4}, "to": {"Included": 9}}}
    assert MPC._from_dict(excluded)._to_dict() == excluded


def test_bad_stored_dicts_raise_format_errors() -> None:
    bad: Any
    for bad in (
        {"inline_chunk_threshold_bytes": "x"},
        {"compression": {"algorithm": "lz4"}},
        {"manifest": {"preload": {"preload_if": {"maybe": 1}}}},
        {"virtual_chunk_containers": {"k": {"url_prefix": "s3://b/", "store": {"ftp": {}}}}},
        [],
    ):
        with pytest.raises(FormatError):
            RepositoryConfig._from_dict(bad)


def test_storage_settings_wait_for_the_storage_layer(monkeypatch: pytest.MonkeyPatch) -> None:
    stored = RepositoryConfig(storage=StorageSettings(storage_class="X"))._to_dict()
    monkeypatch.delitem(sys.modules, "icechunk.storage")
    cfg = RepositoryConfig._from_dict(stored)
    assert isinstance(cfg._storage, Unresolved) and 'storage_class="X"' in repr(cfg)
    assert cfg._to_dict() == stored
    monkeypatch.undo()
    assert cfg.storage == StorageSettings(storage_class="X")


# --------------------------------------------------------------------------- containers


def test_virtual_chunk_container_registry() -> None:
    cfg = RepositoryConfig()
    cfg.set_virtual_chunk_container(VirtualChunkContainer("s3://a/", s3_store()))
    cfg.set_virtual_chunk_container(VirtualChunkContainer("s3://b/", s3_store(), name="n"))
    cfg.set_virtual_chunk_container(VirtualChunkContainer("s3://c/", s3_store(), name="n"))
    assert sorted(cfg.virtual_chunk_containers or {}) == ["s3://a/", "s3://c/"]
    assert cfg.get_virtual_chunk_container("n") is None
    found = cfg.get_virtual_chunk_container("s3://c/")
    assert found is not None and found.name == "n"
    found.name = "changed"  # a copy
    assert cfg.get_virtual_chunk_container("s3://c/") == VirtualChunkContainer(
        "s3://c/", s3_store(), name="n"
    )
    cfg.clear_virtual_chunk_containers()
    assert cfg.virtual_chunk_containers == {}


@pytest.mark.parametrize(
    ("prefix", "store", "message"),
    [
        ("s3://x", s3_store(), "must end in a / character"),
        ("/x/", local_filesystem_store("/y"), "relative URL without a base"),
        ("gs://x/", s3_store(), "Invalid url prefix scheme (gs)"),
        ("memory://x/", ObjectStoreConfig.InMemory(), "Invalid url prefix scheme (memory)"),
        ("s3:///", s3_store(), "s3:// containers must include a host"),
        ("gs:/x/", gcs_store(), "GCS containers must include a host"),
        ("file:///", local_filesystem_store("/y"), "must include a path"),
        ("s3://x y/", s3_store(), "invalid domain character"),
    ],
)
def test_container_validation(prefix: str, store: Any, message: str) -> None:
    with pytest.raises(InvalidInputError, match=message.replace("(", r"\(").replace(")", r"\)")):
        RepositoryConfig().set_virtual_chunk_container(VirtualChunkContainer(prefix, store))


@pytest.mark.parametrize(
    ("prefix", "store"),
    [
        ("S3://x/", s3_store()),
        ("s3://x/", ObjectStoreConfig.Tigris(S3Options())),
        ("abfs://x/", azure_store(account="a")),
        ("file://x/", local_filesystem_store("/y")),
        ("http:/x/", http_store()),
    ],
)
def test_container_validation_accepts(prefix: str, store: Any) -> None:
    RepositoryConfig().set_virtual_chunk_container(VirtualChunkContainer(prefix, store))
    with pytest.raises(InvalidInputError, match="name must be non-empty"):
        RepositoryConfig().set_virtual_chunk_container(VirtualChunkContainer(prefix, store, "a/b"))


# --------------------------------------------------------------------------- merge


def test_merge_semantics() -> None:
    mine = RepositoryConfig(
        inline_chunk_threshold_bytes=1,
        compression=CompressionConfig(level=5),
        caching=CachingConfig(num_chunk_refs=3),
        storage=StorageSettings(retries=StorageRetriesSettings(None, 2), storage_class="A"),
        manifest=ManifestConfig(
            preload=ManifestPreloadConfig(max_total_refs=4, preload_if=MPC.true()),
            virtual_chunk_location_compression=ManifestVirtualChunkLocationCompressionConfig(1),
            max_concurrent_manifest_fetches_during_commit=2,
        ),
        repo_update_retries=RepoUpdateRetryConfig(StorageRetriesSettings(None, 2)),
        virtual_chunk_containers={"s3://a/": VirtualChunkContainer("s3://a/", s3_store())},
    )
    theirs = RepositoryConfig(
        get_partial_values_concurrency=2,
        compression=CompressionConfig(algorithm=CompressionAlgorithm.Zstd),
        caching=CachingConfig(num_snapshot_nodes=7),
        storage=StorageSettings(retries=StorageRetriesSettings(7)),
        manifest=ManifestConfig(
            preload=ManifestPreloadConfig(max_arrays_to_scan=9),
            splitting=ManifestSplittingConfig(()),
            virtual_chunk_location_compression=ManifestVirtualChunkLocationCompressionConfig(
                dictionary_max_size_bytes=5
            ),
        ),
        repo_update_retries=RepoUpdateRetryConfig(StorageRetriesSettings(1)),
        virtual_chunk_containers={"s3://c/": VirtualChunkContainer("s3://c/", s3_store())},
    )
    merged = mine.merge(theirs)
    assert merged.inline_chunk_threshold_bytes == 1 and merged.get_partial_values_concurrency == 2
    assert merged.compression == CompressionConfig(CompressionAlgorithm.Zstd, 5)
    assert merged.caching == CachingConfig(num_snapshot_nodes=7, num_chunk_refs=3)
    assert merged.storage == StorageSettings(
        retries=StorageRetriesSettings(7, 2), storage_class="A"
    )
    manifest = merged.manifest
    assert manifest is not None
    assert manifest.preload == ManifestPreloadConfig(max_arrays_to_scan=9)  # replaced
    assert manifest.splitting == ManifestSplittingConfig(())
    assert manifest.virtual_chunk_location_compression == (
        ManifestVirtualChunkLocationCompressionConfig(1, dictionary_max_size_bytes=5)
    )
    assert manifest.max_concurrent_manifest_fetches_during_commit == 2
    assert merged.repo_update_retries == RepoUpdateRetryConfig(StorageRetriesSettings(1, 2))
    assert list(merged.virtual_chunk_containers or {}) == ["s3://c/"]  # replaced, not extended
    assert mine.merge(RepositoryConfig()) == mine and mine.merge(theirs) is not mine
    assert mine.compression == CompressionConfig(level=5)  # inputs untouched
