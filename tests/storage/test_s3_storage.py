"""S3 specifics on moto: racing commits from two processes, refreshable credentials,
settings, factories, and the URL reader used by virtual chunks."""

from __future__ import annotations

import datetime as dt
import multiprocessing as mp
import pickle
from typing import Any

import numpy as np
import pytest
import zarr
from servers import S3_KEY_ID, S3_SECRET, S3Bucket
from servers.fixtures import s3_bucket, s3_server

import icechunk as ic
from icechunk._credential_types import REFRESH_MARGIN
from icechunk.storage import (
    ConditionalPutFailed,
    PutMode,
    StorageRetriesSettings,
    StorageSettings,
    StorageTimeoutSettings,
    VersionToken,
    open_object_reader,
)

from . import asynctest

_FIXTURES = (s3_bucket, s3_server)


# --------------------------------------------------------------------------- racing commits
def _racer(repo: ic.Repository, name: str, ready: Any, go: Any, results: Any) -> None:
    session = repo.writable_session("main")
    zarr.open_array(session.store, path="x")[:] = {"a": 1, "b": 2}[name]
    ready.wait()
    go.wait()  # both sessions start from the same parent, then commit at once
    try:
        results.put((name, "won", session.commit(f"by {name}")))
    except ic.ConflictError as exc:
        results.put((name, "conflict", str(exc)))


def test_two_processes_race_to_commit_exactly_one_wins(s3_bucket: S3Bucket) -> None:
    storage = s3_bucket.storage("race")
    repo = ic.Repository.create(storage)
    session = repo.writable_session("main")
    zarr.create_array(session.store, name="x", shape=(4,), chunks=(2,), dtype="i4")
    base = session.commit("setup")

    ctx = mp.get_context("spawn")
    ready, go, results = ctx.Barrier(3), ctx.Event(), ctx.Queue()
    # A storage does not pickle on its own: the children get the repository.
    procs = [ctx.Process(target=_racer, args=(repo, n, ready, go, results)) for n in "ab"]
    for p in procs:
        p.start()
    ready.wait(timeout=120)
    go.set()
    outcomes = sorted(results.get(timeout=120) for _ in procs)
    for p in procs:
        p.join(timeout=60)
        assert p.exitcode == 0
    assert sorted(o[1] for o in outcomes) == ["conflict", "won"]
    winner = next(o for o in outcomes if o[1] == "won")
    history = [info.id for info in ic.Repository.open(storage).ancestry(branch="main")]
    assert history[:2] == [winner[2], base]
    tip = ic.Repository.open(storage).readonly_session("main").store
    expected = {"a": 1, "b": 2}[winner[0]]
    np.testing.assert_array_equal(zarr.open_array(tip, path="x", mode="r")[:], [expected] * 4)


# --------------------------------------------------------------------------- credentials
CALLS: list[dt.datetime] = []


def short_lived_credentials() -> ic.S3StaticCredentials:
    """Picklable callback: credentials that count as expiring one second from now."""
    CALLS.append(dt.datetime.now(dt.UTC))
    expiry = dt.datetime.now(dt.UTC) + REFRESH_MARGIN + dt.timedelta(seconds=1)
    return ic.S3StaticCredentials(S3_KEY_ID, S3_SECRET, expires_after=expiry)


def long_lived_credentials() -> ic.S3StaticCredentials:
    CALLS.append(dt.datetime.now(dt.UTC))
    return ic.S3StaticCredentials(S3_KEY_ID, S3_SECRET)


@asynctest
async def test_refreshable_credentials_are_renewed_before_they_expire(
    s3_bucket: S3Bucket,
) -> None:
    import asyncio

    CALLS.clear()
    kwargs = s3_bucket.endpoint.storage_kwargs(s3_bucket.bucket, "refresh")
    del kwargs["access_key_id"], kwargs["secret_access_key"]
    storage = ic.s3_storage(**kwargs, get_credentials=short_lived_credentials)
    assert CALLS == []  # nothing is fetched before the first request
    await storage.put("a", b"1")
    await storage.get("a")
    assert len(CALLS) == 1  # cached while fresh
    await asyncio.sleep(1.2)
    await storage.get("a")
    assert len(CALLS) == 2  # renewed, before the credentials actually ran out


@asynctest
async def test_scattered_credentials_are_fetched_once_and_travel_with_pickles(
    s3_bucket: S3Bucket,
) -> None:
    CALLS.clear()
    kwargs = s3_bucket.endpoint.storage_kwargs(s3_bucket.bucket, "scatter")
    del kwargs["access_key_id"], kwargs["secret_access_key"]
    storage = ic.s3_storage(
        **kwargs, get_credentials=long_lived_credentials, scatter_initial_credentials=True
    )
    assert len(CALLS) == 1
    with pytest.raises(TypeError, match="cannot pickle 'Storage' object"):
        pickle.dumps(storage)  # the storage alone refuses; a repository carries it
    clone = pickle.loads(pickle.dumps(await ic.Repository.create_async(storage))).storage
    await clone.put("a", b"1")
    assert await storage.get("a") == b"1"
    assert len(CALLS) == 1  # the scattered value served both copies


def test_credential_builders_pick_the_kind() -> None:
    assert isinstance(ic.s3_credentials(), ic.S3Credentials.FromEnv)
    assert isinstance(ic.s3_credentials(anonymous=True), ic.S3Credentials.Anonymous)
    static = ic.s3_credentials(access_key_id="AKIAEXAMPLE", secret_access_key="s")
    assert isinstance(static, ic.S3Credentials.Static)
    assert static.credentials.access_key_id == "AKIAEXAMPLE"
    refresh = ic.s3_credentials(get_credentials=long_lived_credentials)
    assert isinstance(refresh, ic.S3Credentials.Refreshable)
    with pytest.raises(ValueError, match="Conflicting"):
        ic.s3_credentials(access_key_id="a", secret_access_key="b", anonymous=True)
    assert isinstance(ic.gcs_credentials(bearer_token="t"), ic.GcsCredentials.Static)
    assert isinstance(ic.gcs_credentials(), ic.GcsCredentials.FromEnv)
    assert isinstance(ic.azure_credentials(sas_token="t"), ic.AzureCredentials.Static)
    assert isinstance(ic.azure_credentials(anonymous=True), ic.AzureCredentials.Anonymous)
    wrapped = ic.containers_credentials(
        {
            "s3://b/": static,
            "gs://g/": ic.credentials.gcs_anonymous_credentials(),
            "file:///d/": None,
        }
    )
    assert isinstance(wrapped["s3://b/"], ic.Credentials.S3)
    assert isinstance(wrapped["gs://g/"], ic.Credentials.Gcs)
    assert wrapped["file:///d/"] is None
    with pytest.raises(ValueError, match="Unknown credential type"):
        ic.containers_credentials({"s3://b/": "secret"})


def test_wrong_refresh_callback_result_is_a_typed_error() -> None:
    refresh = ic.s3_refreshable_credentials(ic.credentials.gcs_anonymous_credentials)  # type: ignore[arg-type]
    with pytest.raises(ic.StorageError) as info:
        refresh.get()
    assert info.value.kind == ic.ErrorKind.INVALID_CREDENTIALS


# --------------------------------------------------------------------------- settings
@asynctest
async def test_disabling_conditional_writes_turns_them_into_overwrites(
    s3_bucket: S3Bucket,
) -> None:
    safe = s3_bucket.storage("unsafe")
    await safe.put("repo", b"1", mode=PutMode.CREATE)
    with pytest.raises(ConditionalPutFailed):
        await safe.put("repo", b"2", mode=PutMode.CREATE)
    unsafe = safe.with_settings(
        StorageSettings(unsafe_use_conditional_create=False, unsafe_use_conditional_update=False)
    )
    await unsafe.put("repo", b"2", mode=PutMode.CREATE)
    await unsafe.put("repo", b"3", mode=PutMode.UPDATE, expected_version=VersionToken('"x"'))
    assert await safe.get("repo") == b"3"


@asynctest
async def test_retries_and_timeouts_reach_the_client(s3_bucket: S3Bucket) -> None:
    settings = StorageSettings(
        retries=StorageRetriesSettings(max_tries=1, initial_backoff_ms=1, max_backoff_ms=2),
        timeouts=StorageTimeoutSettings(connect_timeout_ms=200, operation_attempt_timeout_ms=500),
    )
    storage = s3_bucket.storage("settings").with_settings(settings)
    assert storage.settings.retries == settings.retries
    assert storage.settings.concurrency == storage.default_settings().concurrency
    await storage.put("k", b"v")
    assert await storage.get("k") == b"v"
    # A server that is gone fails fast (one try, short connect timeout) with a typed error.
    dead = ic.s3_storage(
        **{**s3_bucket.endpoint.storage_kwargs("b", "p"), "endpoint_url": "http://127.0.0.1:9"}
    ).with_settings(settings)
    started = dt.datetime.now()
    with pytest.raises(ic.StorageError):
        await dead.get("k")
    assert dt.datetime.now() - started < dt.timedelta(seconds=10)


def test_factories_and_their_validation() -> None:
    r2 = ic.r2_storage(bucket="b", prefix="p", account_id="acc", from_env=True)
    assert "endpoint_url: https://acc.r2.cloudflarestorage.com" in repr(r2)
    assert "force_path_style: True" in repr(r2) and "region: auto" in repr(r2)
    assert ic.r2_storage(prefix="bucket/sub/dir", account_id="acc").prefix == "sub/dir"
    with pytest.raises(ic.StorageError, match="account_id"):
        ic.r2_storage(bucket="b", prefix="p")
    tigris = ic.tigris_storage(bucket="b", prefix="p", region="iad", anonymous=True)
    assert "endpoint_url: https://t3.storage.dev" in repr(tigris)
    with pytest.raises(ic.StorageError, match="region"):
        ic.tigris_storage(bucket="b", prefix="p", anonymous=True)
    with pytest.raises(ic.InvalidInputError):
        ic.tigris_storage(bucket="b", prefix="p", region="iad", use_weak_consistency=True)
    hf = ic.hf_storage(bucket="b", prefix="p", namespace="ns", from_env=True)
    assert "endpoint_url: https://s3.hf.co/ns" in repr(hf) and "force_path_style" in repr(hf)
    with pytest.raises(ic.InvalidInputError):
        ic.s3_storage(bucket="", prefix="p")
    with pytest.raises(ic.InvalidInputError):
        ic.s3_storage(bucket="b", prefix="p", legacy_rooted_keys=True)
    store = ic.storage.s3_object_store_storage(bucket="b", prefix="/p/", anonymous=True)
    assert store.prefix == "p" and repr(store).splitlines()[1] == "type: S3"
    root = ic.s3_storage(bucket="b", prefix=None, anonymous=True, requester_pays=True)
    assert repr(root).splitlines()[1:] == ["type: S3 (native)", "bucket: b", "requester_pays: True"]


# --------------------------------------------------------------------------- URL reader
@asynctest
async def test_object_reader_reads_ranges_by_url(s3_bucket: S3Bucket, tmp_path: Any) -> None:
    endpoint = s3_bucket.endpoint
    await s3_bucket.storage("").put("data/file.bin", bytes(range(100)))
    store = ic.s3_store(
        region=endpoint.region, endpoint_url=endpoint.url, allow_http=True, s3_compatible=True
    )
    creds = ic.containers_credentials(
        {"s3://x/": ic.s3_static_credentials(access_key_id=S3_KEY_ID, secret_access_key=S3_SECRET)}
    )["s3://x/"]
    reader = open_object_reader(store, creds)
    url = f"s3://{s3_bucket.bucket}/data/file.bin"
    assert await reader.read(url, 10, 20) == bytes(range(10, 20))
    assert await reader.read(url) == bytes(range(100))
    info = await reader.head(url)
    assert info is not None and info.size_bytes == 100 and info.version is not None
    with pytest.raises(ic.NotFoundError):
        await reader.read(f"s3://{s3_bucket.bucket}/data/missing.bin", 0, 1)
    with pytest.raises(ic.InvalidInputError):
        await reader.read("gs://bucket/file", 0, 1)
    (tmp_path / "local.bin").write_bytes(b"0123456789")
    local = open_object_reader(
        ic.local_filesystem_store(str(tmp_path)), ic.credentials.LocalFileSystemAccess
    )
    assert await local.read(f"file://{tmp_path}/local.bin", 2, 5) == b"234"


@asynctest
async def test_large_ranges_are_split_into_concurrent_requests(s3_bucket: S3Bucket) -> None:
    from icechunk.storage import StorageConcurrencySettings

    settings = StorageSettings(
        concurrency=StorageConcurrencySettings(
            max_concurrent_requests_for_object=4, ideal_concurrent_request_size=1000
        )
    )
    storage = s3_bucket.storage("split").with_settings(settings)
    data = bytes(range(256)) * 40  # 10240 bytes
    await storage.put("big", data)
    assert storage._split(0, 10_240) == [(0, 2560), (2560, 5120), (5120, 7680), (7680, 10240)]
    assert storage._split(0, 900) == [(0, 900)]
    assert await storage.get("big", (0, 10_240)) == data
    assert await storage.get("big", (17, 9_999)) == data[17:9_999]
    assert await storage.get("big", (5_000, 50_000)) == data[5_000:]  # parts past the end


def test_invalid_headers_are_rejected_at_construction() -> None:
    with pytest.raises(ValueError, match="invalid HTTP header"):
        ic.s3_storage(bucket="b", prefix="p", anonymous=True, write_headers={"bad name": "v"})
    with pytest.raises(ValueError, match="invalid HTTP header"):
        ic.http_storage("http://h/r", headers={"X-Ok": "line\nbreak"})


def test_write_headers_survive_pickle_and_reach_storage(s3_bucket: S3Bucket) -> None:
    import boto3

    kwargs = s3_bucket.endpoint.storage_kwargs(s3_bucket.bucket, "headers")
    storage = ic.s3_storage(**kwargs, write_headers={"x-amz-meta-written-by": "pyicechunk"})
    repo = pickle.loads(pickle.dumps(ic.Repository.create(storage)))
    session = repo.writable_session("main")
    zarr.create_array(session.store, name="a", shape=(4,), chunks=(2,), dtype="i4")[:] = 1
    session.commit("with headers")
    endpoint = s3_bucket.endpoint
    client = boto3.client(
        "s3",
        endpoint_url=endpoint.url,
        region_name=endpoint.region,
        aws_access_key_id=endpoint.access_key_id,
        aws_secret_access_key=endpoint.secret_access_key,
    )
    listed = client.list_objects_v2(Bucket=s3_bucket.bucket, Prefix="headers/snapshots/")
    key = listed["Contents"][0]["Key"]
    head = client.head_object(Bucket=s3_bucket.bucket, Key=key)
    assert head["Metadata"].get("written-by") == "pyicechunk"
