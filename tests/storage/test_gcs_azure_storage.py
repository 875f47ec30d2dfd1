"""GCS (fake-gcs-server) and Azure (Azurite) specifics: refreshable credentials and the
provider-specific version tokens."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from servers import AZURITE_ACCOUNT, AZURITE_KEY, AzureEndpoint, GcsEndpoint
from servers.fixtures import azure_server, gcs_server

import icechunk as ic
from icechunk.storage import PutMode
from icechunk.storage.azure import AzureBlobStorage
from icechunk.storage.gcs import GcsStorage

from . import asynctest

_FIXTURES = (azure_server, gcs_server)


def _calls(path: Path) -> int:
    return len(path.read_text()) if path.exists() else 0


class CountingBearer:
    """Picklable GCS token callback that counts its calls in a file."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def __call__(self) -> ic.GcsBearerCredential:
        self.path.write_text("." * (_calls(self.path) + 1))
        expiry = dt.datetime.now(dt.UTC) + dt.timedelta(hours=1)
        return ic.GcsBearerCredential("token-from-callback", expires_after=expiry)


class CountingAzureKey:
    """Picklable Azure callback returning Azurite's development key."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def __call__(self) -> ic.AzureRefreshableCredential.AccessKey:
        self.path.write_text("." * (_calls(self.path) + 1))
        return ic.AzureRefreshableCredential.AccessKey(AZURITE_KEY, expires_after=None)


@asynctest
async def test_gcs_refreshable_token_is_fetched_once_and_cached(
    gcs_server: GcsEndpoint, tmp_path: Path
) -> None:
    counter = tmp_path / "calls"
    bucket = gcs_server.create_bucket()
    storage = ic.gcs_storage(
        bucket=bucket,
        prefix="p",
        get_credentials=CountingBearer(counter),
        config={"endpoint": gcs_server.url},
    )
    assert isinstance(storage, GcsStorage) and _calls(counter) == 0
    first = await storage.put("repo", b"1", mode=PutMode.CREATE)
    assert first.value.isdigit()  # a GCS generation
    await storage.put("repo", b"2", mode=PutMode.UPDATE, expected_version=first)
    assert await storage.get("repo") == b"2"
    assert _calls(counter) == 1


@asynctest
async def test_azure_refreshable_key_signs_requests(
    azure_server: AzureEndpoint, tmp_path: Path
) -> None:
    counter = tmp_path / "calls"
    container = azure_server.create_container()
    credentials = ic.credentials.azure_refreshable_credentials(CountingAzureKey(counter))
    storage = AzureBlobStorage(
        AZURITE_ACCOUNT,
        container,
        "p",
        credentials,
        {"azure_storage_endpoint": azure_server.url, "allow_http": "true"},
    )
    await storage.put("repo", b"1", mode=PutMode.CREATE)
    assert await storage.get("repo") == b"1"
    assert _calls(counter) >= 1
    # A wrong key is refused by the server: a typed error, not a silent success.
    wrong = ic.azure_storage(
        account=AZURITE_ACCOUNT,
        container=container,
        prefix="p",
        access_key="d3Jvbmcga2V5",
        config={"azure_storage_endpoint": azure_server.url, "allow_http": "true"},
    )
    try:
        await wrong.get("repo")
    except ic.StorageError as exc:
        assert AZURITE_KEY not in str(exc)
    else:
        raise AssertionError("a wrong Azure key was accepted")


@asynctest
async def test_bad_store_configuration_is_a_typed_error() -> None:
    storage = ic.azure_storage(
        account="a", container="c", prefix="p", access_key="k", config={"bogus_key": "1"}
    )
    try:
        await storage.get("repo")
    except ic.InvalidInputError as exc:
        assert exc.kind == ic.ErrorKind.STORAGE_CONFIG and "bogus_key" in str(exc)
    else:
        raise AssertionError("an unknown Azure config key was accepted")


@asynctest
async def test_unloadable_gcs_credentials_are_a_typed_error(tmp_path: Path) -> None:
    storage = ic.gcs_storage(
        bucket="b", prefix="p", service_account_file=str(tmp_path / "missing.json")
    )
    try:
        await storage.get("repo")
    except ic.StorageError as exc:
        assert exc.kind == ic.ErrorKind.INVALID_CREDENTIALS
    else:
        raise AssertionError("a missing service account file was accepted")
