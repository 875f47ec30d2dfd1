"""Secrets never show in a repr, str, HTML repr, log line or error message; storages and
credentials refuse to pickle on their own, and Repository/Session pickles carry only what a
copy needs to reconnect (static credentials, as in the real wheel, so dask workers can write)."""

from __future__ import annotations

import copy
import datetime as dt
import logging
import pickle
from typing import Any

import pytest
from servers import S3Bucket
from servers.fixtures import s3_bucket, s3_server

import icechunk as ic
from icechunk import credentials as cr
from icechunk._pickling import pack

from . import asynctest

_FIXTURES = (s3_bucket, s3_server)
SECRET = "SUPERSECRET-0123456789abcdef"
KEY_ID = "AKIAVISIBLEPARTHIDDEN"


def _fetch_secret() -> ic.S3StaticCredentials:
    return ic.S3StaticCredentials(KEY_ID, SECRET, SECRET)


def _credentials() -> list[Any]:
    expiry = dt.datetime(2030, 1, 1, tzinfo=dt.UTC)
    return [
        ic.S3StaticCredentials(KEY_ID, SECRET, SECRET, expiry),
        cr.s3_static_credentials(
            access_key_id=KEY_ID, secret_access_key=SECRET, session_token=SECRET
        ),
        cr.s3_refreshable_credentials(_fetch_secret, scatter_initial_credentials=True),
        ic.GcsBearerCredential(SECRET, expires_after=expiry),
        cr.gcs_credentials(bearer_token=SECRET),
        cr.gcs_credentials(service_account_key=SECRET),
        cr.azure_credentials(access_key=SECRET),
        cr.azure_credentials(sas_token=SECRET),
        cr.azure_credentials(bearer_token=SECRET),
        ic.AzureRefreshableCredential.SasToken(SECRET, expires_after=expiry),
        ic.containers_credentials(
            {"s3://b/": cr.s3_static_credentials(access_key_id=KEY_ID, secret_access_key=SECRET)}
        )["s3://b/"],
    ]


@pytest.mark.parametrize("credential", _credentials(), ids=lambda c: type(c).__qualname__)
def test_credentials_hide_secrets_and_refuse_to_pickle(credential: Any) -> None:
    for text in (repr(credential), str(credential), f"{credential}", repr([credential])):
        assert SECRET not in text
        assert KEY_ID not in text
    assert "****" in repr(credential)
    name = type(credential).__name__
    with pytest.raises(TypeError, match=f"cannot pickle '{name}' object"):
        pickle.dumps(credential)
    assert copy.deepcopy(credential) == credential
    assert pickle.loads(pickle.dumps(pack(credential))) == credential  # a repository's way


def test_access_key_id_shows_only_its_first_characters() -> None:
    text = repr(ic.S3StaticCredentials(KEY_ID, SECRET))
    assert text.splitlines()[0] == "<icechunk.credentials.S3StaticCredentials>"
    assert "access_key_id: AKIA****" in text and "secret_access_key: ****" in text


def _storages() -> list[Any]:
    return [
        ic.s3_storage(
            bucket="b",
            prefix="p",
            access_key_id=KEY_ID,
            secret_access_key=SECRET,
            session_token=SECRET,
        ),
        ic.gcs_storage(bucket="b", prefix="p", bearer_token=SECRET),
        ic.azure_storage(account="a", container="c", prefix="p", access_key=SECRET),
        ic.http_storage("https://example.com/repo", headers={"Authorization": SECRET}),
    ]


@pytest.mark.parametrize("storage", _storages(), ids=lambda s: type(s).__name__)
def test_storage_reprs_hold_no_secret(storage: ic.Storage) -> None:
    assert SECRET not in repr(storage) and SECRET not in str(storage)
    assert KEY_ID not in repr(storage)


def test_repository_pickles_carry_secrets_only_when_needed_to_reconnect() -> None:
    # pack() is what Repository/Session.__getstate__ store for their storage.
    from_env = ic.s3_storage(bucket="b", prefix="p", from_env=True)
    refresh = ic.s3_storage(bucket="b", prefix="p", get_credentials=_fetch_secret)
    assert SECRET.encode() not in pickle.dumps(pack(from_env))
    assert SECRET.encode() not in pickle.dumps(pack(refresh))  # only the callback travels
    refresh._credentials.get()  # type: ignore[attr-defined]  # fetched later: stays local
    assert SECRET.encode() not in pickle.dumps(pack(refresh))
    # Like the real icechunk: static credentials travel so dask workers can write.
    static = _storages()[0]
    assert SECRET.encode() in pickle.dumps(pack(static))


@pytest.mark.parametrize("storage", _storages(), ids=lambda s: type(s).__name__)
def test_storages_refuse_to_pickle_on_their_own(storage: ic.Storage) -> None:
    with pytest.raises(TypeError, match="cannot pickle 'Storage' object") as refused:
        pickle.dumps(storage)
    assert "read-only Session" in refused.value.__notes__[0]
    with pytest.raises(TypeError, match="cannot pickle 'Storage' object"):
        pickle.dumps({"nested": [storage]})


@asynctest
async def test_logs_and_errors_hold_no_secret(
    s3_bucket: S3Bucket, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    kwargs = s3_bucket.endpoint.storage_kwargs(s3_bucket.bucket, "logs")
    storage = ic.s3_storage(**kwargs, session_token=SECRET)  # moto accepts any token
    repo = await ic.Repository.create_async(storage)
    await storage.put("k", b"v")
    assert SECRET not in repr(repo)
    dead = ic.s3_storage(**{**kwargs, "endpoint_url": "http://127.0.0.1:9"}, session_token=SECRET)
    dead = dead.with_settings(ic.StorageSettings(retries=ic.StorageRetriesSettings(max_tries=1)))
    with pytest.raises(ic.StorageError) as info:
        await dead.get("k")
    assert SECRET not in str(info.value) and SECRET not in repr(info.value)
    assert SECRET not in caplog.text


def _text_forms(obj: Any) -> list[str]:
    html = getattr(obj, "_repr_html_", None)
    return [repr(obj), str(obj), f"{obj!r:}", *([html()] if callable(html) else [])]


@pytest.mark.parametrize(
    "obj", [*_credentials(), *_storages()], ids=lambda o: type(o).__qualname__
)
def test_html_reprs_hold_no_secret(obj: Any) -> None:
    for text in _text_forms(obj):
        assert SECRET not in text and KEY_ID not in text


def _authorized() -> dict[str, Any]:
    return ic.containers_credentials(
        {
            "s3://bucket/": cr.s3_static_credentials(
                access_key_id=KEY_ID, secret_access_key=SECRET, session_token=SECRET
            ),
            "gs://bucket/": cr.gcs_credentials(bearer_token=SECRET),
            "az://container/": cr.azure_credentials(sas_token=SECRET),
        }
    )


def _virtual_config() -> ic.RepositoryConfig:
    config = ic.RepositoryConfig.default()
    for prefix, store in (
        ("s3://bucket/", ic.s3_store(region="us-east-1")),
        ("gs://bucket/", ic.gcs_store({"service_account_key": SECRET})),
        ("az://container/", ic.ObjectStoreConfig.Azure({"account": "acct", "access_key": SECRET})),
    ):
        config.set_virtual_chunk_container(ic.VirtualChunkContainer(prefix, store))
    return config


def test_config_containers_repository_and_sessions_hold_no_secret() -> None:
    config = _virtual_config()
    repo = ic.Repository.create(
        ic.in_memory_storage(), config=config, authorize_virtual_chunk_access=_authorized()
    )
    objects: list[Any] = [config, *config.virtual_chunk_containers.values(), repo]
    objects += [repo.readonly_session("main"), repo.writable_session("main")]
    objects += list(_authorized().values())
    for obj in objects:
        for text in _text_forms(obj):
            assert SECRET not in text, (type(obj).__name__, text)
            assert KEY_ID not in text
