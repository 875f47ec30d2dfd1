"""New repositories are refused at a bucket root (an empty prefix) and on read-only storage.

The refusal happens before any request, so these storages point at an address where no
server listens: reaching the network would fail with a different error.
"""

from __future__ import annotations

import pytest

import icechunk as ic

_NOWHERE = "http://127.0.0.1:9"


def _s3(prefix: str | None, **extra: bool) -> ic.Storage:
    return ic.s3_storage(
        bucket="bucket",
        prefix=prefix,
        region="us-east-1",
        endpoint_url=_NOWHERE,
        allow_http=True,
        access_key_id="key",
        secret_access_key="secret",
        force_path_style=True,
        **extra,
    )


@pytest.mark.parametrize("prefix", [None, "", "/"])
def test_s3_bucket_root_creation_is_refused(prefix: str | None) -> None:
    with pytest.raises(ic.InvalidInputError, match="empty prefix") as info:
        ic.Repository.create(_s3(prefix))
    assert info.value.kind == ic.ErrorKind.EMPTY_PREFIX_CREATION


def test_refused_even_without_the_clean_root_check_or_with_legacy_keys() -> None:
    with pytest.raises(ic.InvalidInputError, match="empty prefix"):
        ic.Repository.create(_s3(None), check_clean_root=False, spec_version=1)
    with pytest.raises(ic.InvalidInputError, match="empty prefix"):
        ic.Repository.create(_s3("", legacy_rooted_keys=True))


def test_gcs_and_azure_bucket_roots_are_refused_too() -> None:
    gcs = ic.gcs_storage(bucket="bucket", prefix="", bearer_token="token")
    azure = ic.azure_storage(
        account="account",
        container="container",
        prefix="",
        access_key="a2V5",
        config={"azure_storage_endpoint": _NOWHERE, "allow_http": "true"},
    )
    for storage in (gcs, azure):
        with pytest.raises(ic.InvalidInputError, match="empty prefix"):
            ic.Repository.create(storage)


def test_a_non_empty_prefix_gets_past_the_check() -> None:
    # With a prefix, creation goes on to contact the (absent) server.
    storage = _s3("repo").with_settings(
        ic.StorageSettings(retries=ic.StorageRetriesSettings(max_tries=1))
    )
    with pytest.raises(ic.StorageError):
        ic.Repository.create(storage)


def test_read_only_storage_refuses_creation() -> None:
    with pytest.raises(ic.ReadOnlyError, match="read-only"):
        ic.Repository.create(ic.http_storage(_NOWHERE + "/repo"))


def test_gcs_connection_failures_are_storage_errors() -> None:
    # Past the checks, an unreachable GCS endpoint is a typed error, not a raw requests one.
    storage = ic.gcs_storage(
        bucket="bucket", prefix="repo", anonymous=True, config={"endpoint": _NOWHERE}
    ).with_settings(ic.StorageSettings(retries=ic.StorageRetriesSettings(max_tries=1)))
    with pytest.raises(ic.StorageError, match="GCS request"):
        ic.Repository.exists(storage)
