"""Names importable from ``icechunk._icechunk_python`` and how storage settings print.

Both are surfaces code written against the real package relies on: the native module's
names (``RepoUpdateRetryConfig`` is only reachable there) and the exact text of the
settings reprs (users compare them, and a config's repr nests them).
"""

from __future__ import annotations

import pytest

import icechunk
import icechunk._icechunk_python as native
from icechunk.config import ManifestSplitCondition, ManifestSplitDimCondition


def test_native_module_resolves_names_to_the_public_objects() -> None:
    from icechunk._icechunk_python import PyRepository, RepoUpdateRetryConfig, StorageSettings

    assert RepoUpdateRetryConfig is icechunk.config.RepoUpdateRetryConfig
    assert PyRepository is icechunk.Repository
    assert StorageSettings is icechunk.StorageSettings
    assert native.ConflictError is icechunk.ConflictError
    retry = RepoUpdateRetryConfig(default=icechunk.StorageRetriesSettings(max_tries=7))
    assert retry.default is not None and retry.default.max_tries == 7


def test_native_module_rejects_unknown_names() -> None:
    with pytest.raises(AttributeError, match="no attribute 'NoSuchThing'"):
        _ = native.NoSuchThing
    with pytest.raises(ImportError):
        from icechunk._icechunk_python import NoSuchThing  # noqa: F401


def test_storage_settings_repr_is_multiline_with_dotted_names() -> None:
    settings = icechunk.StorageSettings(
        storage_class="COLD", retries=icechunk.StorageRetriesSettings(max_tries=3)
    )
    text = repr(settings)
    lines = text.splitlines()
    assert lines[0] == "icechunk.storage.StorageSettings("
    assert lines[1] == "    unsafe_use_conditional_create=None,"
    assert '    storage_class="COLD",' in lines
    # nested settings come after the scalar fields, indented one more level
    assert lines.index("    concurrency=None,") > lines.index(
        "    minimum_size_for_multipart_upload=None,"
    )
    assert "    retries=icechunk.storage.StorageRetriesSettings(" in lines
    assert "        max_tries=3," in lines
    assert lines[-1] == ")"


def test_storage_settings_str_expands_defaults() -> None:
    text = str(icechunk.StorageSettings(retries=icechunk.StorageRetriesSettings(max_tries=3)))
    assert text.startswith("<icechunk.storage.StorageSettings>\n")
    assert "unsafe_use_conditional_create: True (default)" in text
    assert "minimum_size_for_multipart_upload: 104857600 (default)" in text
    assert "    max_concurrent_requests_for_object: 18 (default)" in text
    assert "    max_tries: 3\n" in text
    assert "    initial_backoff_ms: 100 (default)" in text
    assert "timeouts: None" in text
    assert icechunk.StorageTimeoutSettings()._repr_html_().count("None") >= 4


def test_repository_config_repr_nests_storage_settings() -> None:
    config = icechunk.RepositoryConfig(storage=icechunk.StorageSettings(storage_class="X"))
    assert "    storage=icechunk.storage.StorageSettings(\n" in repr(config)
    assert '        storage_class="X",\n' in repr(config)


def test_default_settings_of_local_and_memory_storage(tmp_path: object) -> None:
    memory = icechunk.in_memory_storage().default_settings()
    assert memory.concurrency == icechunk.StorageConcurrencySettings(5, 1)
    assert memory.retries == icechunk.StorageRetriesSettings(1, 0, 0)
    local = icechunk.local_filesystem_storage(str(tmp_path)).default_settings()
    assert local.concurrency == icechunk.StorageConcurrencySettings(5, 4096)
    assert local.unsafe_use_conditional_update is False
    assert local.unsafe_use_metadata is False


def test_split_condition_reprs_use_snake_case_constructors() -> None:
    prefix = "icechunk.config."
    assert repr(ManifestSplitDimCondition.Any()) == prefix + "ManifestSplitDimCondition.any()"
    assert repr(ManifestSplitDimCondition.Axis(2)) == prefix + "ManifestSplitDimCondition.axis(2)"
    assert (
        repr(ManifestSplitDimCondition.DimensionName("t"))
        == prefix + 'ManifestSplitDimCondition.dimension_name("t")'
    )
    assert repr(ManifestSplitCondition.AnyArray()) == prefix + "ManifestSplitCondition.any_array()"


@pytest.mark.parametrize("spec_version", [1, 2])
def test_commit_metadata_without_json_form_is_a_type_error(spec_version: int) -> None:
    import zarr

    class Opaque:
        pass

    repo = icechunk.Repository.create(icechunk.in_memory_storage(), spec_version=spec_version)
    session = repo.writable_session("main")
    zarr.group(store=session.store)
    with pytest.raises(TypeError, match="'Opaque' object cannot be cast") as caught:
        session.commit("bad metadata", {"ok": 1, "nested": [{"bad": Opaque()}]})
    assert isinstance(caught.value, icechunk.InvalidInputError)
    assert session.commit("good metadata", {"ok": [1, {"x": None}]})


def test_repository_repr_nests_storage_and_elides_config() -> None:
    repo = icechunk.Repository.create(icechunk.in_memory_storage())
    assert repr(repo) == (
        "<icechunk.Repository (v2)>\n"
        "storage:\n"
        "    <icechunk.Storage>\n"
        "    type: in-memory\n"
        "config: <RepositoryConfig ...>\n"
    )


def test_storage_module_exposes_s3_options_for_eval_of_reprs() -> None:
    options = icechunk.S3Options(region="us-east-1", allow_http=True)
    assert icechunk.storage.S3Options is icechunk.S3Options
    assert eval(repr(options), {"icechunk": icechunk}) == options
