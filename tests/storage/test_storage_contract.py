"""The behaviour every :class:`~icechunk.storage.Storage` backend must have.

Every test here runs once per entry of :data:`BACKENDS`: memory, local filesystem, and
the object stores on local test servers (moto and ministack for S3, Azurite, and
fake-gcs-server; see ``tests/servers``). A backend on a server names the session fixture
that starts it (``server``); its ``open`` then gets the running endpoint and makes a fresh
bucket or container per test. Backend-specific behaviour goes in its own test module.
"""

from __future__ import annotations

import asyncio
import copy
import dataclasses
import datetime as dt
import pickle
import types
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Any

import pytest
from servers import AzureEndpoint, GcsEndpoint, S3Bucket, S3Endpoint
from servers.fixtures import azure_server, gcs_server, ministack_s3_server, s3_server

from icechunk._pickling import pack
from icechunk.errors import ErrorKind, InvalidInputError, NotFoundError
from icechunk.storage import (
    ConditionalPutFailed,
    PutMode,
    Storage,
    StorageConcurrencySettings,
    StorageObjectInfo,
    StorageRetriesSettings,
    StorageSettings,
    StorageTimeoutSettings,
    VersionToken,
    in_memory_storage,
    local_filesystem_storage,
    merge_settings,
)

from . import asynctest

# pytest finds fixtures by name in the module namespace
_FIXTURES = (azure_server, gcs_server, ministack_s3_server, s3_server)

#: Returns a handle on the backend's location; every call sees the same objects.
StorageOpener = Callable[[], Storage]


@dataclasses.dataclass(frozen=True)
class Backend:
    """One storage implementation the contract runs against.

    ``open(scratch_dir, server)`` is a context manager yielding a :data:`StorageOpener`
    for a new, empty location; it tears the location down on exit. ``server`` is the value
    of the session fixture named by :attr:`server` (``None`` without one).
    ``pickle_keeps_data`` says whether an unpickled copy sees the original's objects (not
    so for memory). ``tokens_per_write`` says whether every write gets a new version token
    even for identical bytes; S3 ETags are content hashes, so there it is false.
    """

    name: str
    open: Callable[[Path, Any], AbstractContextManager[StorageOpener]]
    pickle_keeps_data: bool = True
    marks: tuple[Any, ...] = ()
    server: str | None = None
    tokens_per_write: bool = True


@contextmanager
def _memory(scratch: Path, server: None) -> Iterator[StorageOpener]:
    storage = in_memory_storage()  # its data lives only in this object
    yield lambda: storage


@contextmanager
def _local(scratch: Path, server: None) -> Iterator[StorageOpener]:
    yield lambda: local_filesystem_storage(str(scratch / "storage-root"))


@contextmanager
def _s3(scratch: Path, server: S3Endpoint) -> Iterator[StorageOpener]:
    bucket = S3Bucket(server, server.create_bucket())
    yield lambda: bucket.storage("some/prefix")


@contextmanager
def _azure(scratch: Path, server: AzureEndpoint) -> Iterator[StorageOpener]:
    container = server.create_container()
    yield lambda: server.storage(container, "some/prefix")


@contextmanager
def _gcs(scratch: Path, server: GcsEndpoint) -> Iterator[StorageOpener]:
    bucket = server.create_bucket()
    yield lambda: server.storage(bucket, "some/prefix")


BACKENDS = [
    Backend("memory", _memory, pickle_keeps_data=False),
    Backend("local", _local),
    Backend("s3-moto", _s3, server="s3_server", tokens_per_write=False),
    Backend("s3-ministack", _s3, server="ministack_s3_server", tokens_per_write=False),
    Backend("azure-azurite", _azure, server="azure_server"),
    Backend("gcs-fake", _gcs, server="gcs_server"),
]


@pytest.fixture(params=[pytest.param(b, marks=b.marks, id=b.name) for b in BACKENDS])
def backend(request: pytest.FixtureRequest) -> Backend:
    result: Backend = request.param
    return result


@pytest.fixture
def opener(
    backend: Backend, tmp_path: Path, request: pytest.FixtureRequest
) -> Iterator[StorageOpener]:
    server = request.getfixturevalue(backend.server) if backend.server else None
    with backend.open(tmp_path, server) as open_storage:
        yield open_storage


@pytest.fixture
def storage(opener: StorageOpener) -> Storage:
    return opener()


async def keys(storage: Storage, prefix: str = "") -> list[str]:
    return sorted([info.key async for info in storage.list(prefix)])


# --------------------------------------------------------------------------- reads
@asynctest
async def test_put_then_get_round_trips_bytes_like_inputs(storage: Storage) -> None:
    await storage.put("a", b"bytes")
    await storage.put("b", bytearray(b"bytearray"))
    await storage.put("c", memoryview(b"xxmemoryview")[2:])
    await storage.put("empty", b"")
    assert await storage.get("a") == b"bytes"
    assert await storage.get("b") == b"bytearray"
    assert await storage.get("c") == b"memoryview"
    assert await storage.get("empty") == b""


@asynctest
async def test_large_object_and_ranges(storage: Storage) -> None:
    data = bytes(range(256)) * (3 * 4096 + 7)  # ~3 MiB, not a power of two
    await storage.put("chunks/big", data)
    assert await storage.get("chunks/big") == data
    assert await storage.get("chunks/big", (1_000_000, 1_000_100)) == data[1_000_000:1_000_100]
    assert await storage.get_suffix("chunks/big", 12345) == data[-12345:]


@pytest.mark.parametrize(
    ("byte_range", "expected"),
    [
        (None, b"0123456789"),
        ((0, None), b"0123456789"),
        ((2, 5), b"234"),
        ((7, None), b"789"),
        ((4, 4), b""),
        ((8, 100), b"89"),
        ((10, None), b""),
        ((50, 60), b""),
    ],
)
@asynctest
async def test_ranged_get(
    storage: Storage, byte_range: tuple[int, int | None] | None, expected: bytes
) -> None:
    await storage.put("k", b"0123456789")
    assert await storage.get("k", byte_range) == expected


@pytest.mark.parametrize(("length", "expected"), [(0, b""), (3, b"789"), (10, b"0123456789")])
@asynctest
async def test_suffix_get(storage: Storage, length: int, expected: bytes) -> None:
    await storage.put("k", b"0123456789")
    assert await storage.get_suffix("k", length) == expected
    assert await storage.get_suffix("k", length + 100) == b"0123456789"[-(length + 100) :]


@pytest.mark.parametrize("byte_range", [(-1, 3), (5, 2)])
@asynctest
async def test_invalid_ranges_are_rejected(
    storage: Storage, byte_range: tuple[int, int | None]
) -> None:
    await storage.put("k", b"0123456789")
    with pytest.raises(InvalidInputError) as info:
        await storage.get("k", byte_range)
    assert info.value.kind == ErrorKind.INVALID_BYTE_RANGE
    with pytest.raises(InvalidInputError):
        await storage.get_suffix("k", -1)


@asynctest
async def test_missing_key(storage: Storage) -> None:
    for read in (
        storage.get("snapshots/NOPE"),
        storage.get("snapshots/NOPE", (0, 1)),
        storage.get_suffix("snapshots/NOPE", 4),
        storage.get_with_version("snapshots/NOPE"),
    ):
        with pytest.raises(NotFoundError) as info:
            await read
        assert info.value.kind == ErrorKind.OBJECT_NOT_FOUND
        assert isinstance(info.value, KeyError)
    assert await storage.head("snapshots/NOPE") is None
    assert not await storage.exists("snapshots/NOPE")


@asynctest
async def test_head_and_versions_agree(storage: Storage) -> None:
    before = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=5)
    token = await storage.put("refs/x", b"12345")
    assert isinstance(token, VersionToken)
    data, read_token = await storage.get_with_version("refs/x")
    assert (data, read_token) == (b"12345", token)
    info = await storage.head("refs/x")
    assert isinstance(info, StorageObjectInfo)
    assert (info.key, info.size_bytes, info.version) == ("refs/x", 5, token)
    assert before <= info.created_at <= dt.datetime.now(dt.UTC) + dt.timedelta(seconds=5)
    assert await storage.exists("refs/x")
    assert not await storage.exists("refs")  # a "directory" is not an object


@asynctest
async def test_every_write_gets_a_new_token(storage: Storage, backend: Backend) -> None:
    tokens = [await storage.put("repo", f"content {i}".encode()) for i in range(20)]
    if backend.tokens_per_write:
        tokens.append(await storage.put("other", b"content 0"))
    assert len(set(tokens)) == len(tokens)


# --------------------------------------------------------------------------- puts
@asynctest
async def test_overwrite_replaces(storage: Storage) -> None:
    first = await storage.put("k", b"first")
    second = await storage.put("k", b"second, longer")
    assert first != second
    assert await storage.get("k") == b"second, longer"


@asynctest
async def test_create_only_if_absent(storage: Storage) -> None:
    token = await storage.put("repo", b"one", mode=PutMode.CREATE)
    with pytest.raises(ConditionalPutFailed) as info:
        await storage.put("repo", b"two", mode=PutMode.CREATE)
    assert (info.value.key, info.value.mode) == ("repo", PutMode.CREATE)
    assert info.value.kind == ErrorKind.CONCURRENCY
    assert await storage.get_with_version("repo") == (b"one", token)


@asynctest
async def test_compare_and_swap(storage: Storage) -> None:
    v1 = await storage.put("repo", b"v1", mode=PutMode.CREATE)
    v2 = await storage.put("repo", b"v2", mode=PutMode.UPDATE, expected_version=v1)
    assert await storage.get_with_version("repo") == (b"v2", v2)
    with pytest.raises(ConditionalPutFailed) as info:
        await storage.put("repo", b"stale", mode=PutMode.UPDATE, expected_version=v1)
    assert info.value.mode is PutMode.UPDATE
    assert await storage.get_with_version("repo") == (b"v2", v2)
    v3 = await storage.put("repo", b"v3", mode=PutMode.UPDATE, expected_version=v2)
    assert await storage.get_with_version("repo") == (b"v3", v3)


@asynctest
async def test_compare_and_swap_on_missing_or_foreign_token_fails(
    storage: Storage, backend: Backend
) -> None:
    token = await storage.put("a", b"a")
    with pytest.raises(ConditionalPutFailed):
        await storage.put("missing", b"x", mode=PutMode.UPDATE, expected_version=token)
    assert not await storage.exists("missing")
    await storage.put("b", b"b")
    with pytest.raises(ConditionalPutFailed):
        await storage.put("b", b"x", mode=PutMode.UPDATE, expected_version=token)
    with pytest.raises(ConditionalPutFailed):
        await storage.put("a", b"x", mode=PutMode.UPDATE, expected_version=VersionToken("bogus"))
    await storage.delete("a")
    if not backend.tokens_per_write:
        return  # an ETag is a content hash: identical bytes written again match it
    await storage.put("a", b"a")  # same key and content, written again: a new version
    with pytest.raises(ConditionalPutFailed):
        await storage.put("a", b"x", mode=PutMode.UPDATE, expected_version=token)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"mode": PutMode.UPDATE},
        {"mode": PutMode.OVERWRITE, "expected_version": VersionToken("v")},
        {"mode": PutMode.CREATE, "expected_version": VersionToken("v")},
        {"mode": "overwrite"},
    ],
)
@asynctest
async def test_bad_put_arguments(storage: Storage, kwargs: dict[str, Any]) -> None:
    with pytest.raises(InvalidInputError):
        await storage.put("k", b"x", **kwargs)
    assert not await storage.exists("k")


@asynctest
async def test_concurrent_creates_have_exactly_one_winner(storage: Storage) -> None:
    writers = [storage.put("repo", f"writer {i}".encode(), mode=PutMode.CREATE) for i in range(16)]
    results = await asyncio.gather(*writers, return_exceptions=True)
    winners = [i for i, r in enumerate(results) if isinstance(r, VersionToken)]
    assert len(winners) == 1
    assert all(isinstance(r, ConditionalPutFailed) for r in results if r is not results[winners[0]])
    assert await storage.get_with_version("repo") == (
        f"writer {winners[0]}".encode(),
        results[winners[0]],
    )


@asynctest
async def test_concurrent_swaps_from_one_version_have_exactly_one_winner(
    storage: Storage,
) -> None:
    base = await storage.put("repo", b"base")
    writers = [
        storage.put("repo", f"w{i}".encode(), mode=PutMode.UPDATE, expected_version=base)
        for i in range(16)
    ]
    results = await asyncio.gather(*writers, return_exceptions=True)
    winners = [i for i, r in enumerate(results) if isinstance(r, VersionToken)]
    assert len(winners) == 1
    assert sum(isinstance(r, ConditionalPutFailed) for r in results) == 15
    assert await storage.get("repo") == f"w{winners[0]}".encode()


# --------------------------------------------------------------------------- listing
@asynctest
async def test_list_by_prefix(storage: Storage) -> None:
    objects = {
        "repo": b"r",
        "snapshots/AAA": b"12",
        "snapshots/BBB": b"123",
        "snapshots2/CCC": b"",
        "chunks/x/y/z": b"nested",
        "overwritten/repo.1": b"old",
    }
    for key, data in objects.items():
        await storage.put(key, data)
    assert await keys(storage) == sorted(objects)
    assert await keys(storage, "snapshots/") == ["snapshots/AAA", "snapshots/BBB"]
    assert await keys(storage, "snapshots") == ["snapshots/AAA", "snapshots/BBB", "snapshots2/CCC"]
    assert await keys(storage, "snapshots/B") == ["snapshots/BBB"]
    assert await keys(storage, "chunks/x/") == ["chunks/x/y/z"]
    assert await keys(storage, "repo") == ["repo"]
    assert await keys(storage, "nothing/") == []
    sizes = {info.key: info.size_bytes async for info in storage.list()}
    assert sizes == {k: len(v) for k, v in objects.items()}


@asynctest
async def test_list_on_empty_storage(storage: Storage) -> None:
    assert await keys(storage) == []
    assert await keys(storage, "snapshots/") == []


def test_sync_list_objects(storage: Storage) -> None:
    asyncio.run(storage.put("snapshots/A", b"abc"))
    asyncio.run(storage.put("repo", b"r"))
    assert sorted(storage.list_objects()) == [("repo", 1), ("snapshots/A", 3)]
    [info] = storage.list_objects_metadata(prefix="snapshots/")
    assert (info.key, info.size_bytes) == ("snapshots/A", 3)


# --------------------------------------------------------------------------- deletes
@asynctest
async def test_delete_batch(storage: Storage) -> None:
    for key in ("chunks/a", "chunks/b", "chunks/c", "repo"):
        await storage.put(key, b"x")
    assert await storage.delete_batch(["chunks/a", "chunks/b", "chunks/missing"]) == 2
    assert await keys(storage) == ["chunks/c", "repo"]
    assert await storage.delete_batch([]) == 0
    assert await storage.delete_batch(["chunks/a"]) == 0
    assert await storage.delete("chunks/c")
    assert not await storage.delete("chunks/c")
    with pytest.raises(NotFoundError):
        await storage.get("chunks/c")


# --------------------------------------------------------------------------- keys
BAD_KEYS = [
    "",
    "/abs",
    "/",
    "..",
    "../up",
    "a/../../up",
    "a/./b",
    "a//b",
    "a/",
    "a\\..\\b",
    "nul\x00byte",
    "new\nline",
    ".icechunk-locks/00.lock",
    "a/.icechunk-tmp-0123",
]


@pytest.mark.parametrize("key", BAD_KEYS)
@asynctest
async def test_bad_keys_are_rejected_and_nothing_is_written(storage: Storage, key: str) -> None:
    token = await storage.put("ok", b"ok")
    calls = [
        storage.put(key, b"x"),
        storage.put(key, b"x", mode=PutMode.CREATE),
        storage.put(key, b"x", mode=PutMode.UPDATE, expected_version=token),
        storage.get(key),
        storage.get_suffix(key, 1),
        storage.get_with_version(key),
        storage.head(key),
        storage.exists(key),
        storage.delete_batch(["ok", key]),
    ]
    for call in calls:
        with pytest.raises(InvalidInputError) as info:
            await call
        assert info.value.kind == ErrorKind.INVALID_KEY
    assert await keys(storage) == ["ok"]


@pytest.mark.parametrize("prefix", ["/", "/abs", "../", "a/../", "a//", "x\x00"])
@asynctest
async def test_bad_prefixes_are_rejected(storage: Storage, prefix: str) -> None:
    with pytest.raises(InvalidInputError) as info:
        await keys(storage, prefix)
    assert info.value.kind == ErrorKind.BAD_KEY_PREFIX


# --------------------------------------------------------------------------- the object
@asynctest
async def test_a_new_handle_sees_the_data(opener: StorageOpener) -> None:
    first = opener()
    token = await first.put("repo", b"durable", mode=PutMode.CREATE)
    second = opener()
    assert second == first
    assert await second.get_with_version("repo") == (b"durable", token)
    await second.put("repo", b"next", mode=PutMode.UPDATE, expected_version=token)
    assert await first.get("repo") == b"next"


@asynctest
async def test_pickle_refused_but_repository_state_round_trips(
    storage: Storage, backend: Backend
) -> None:
    await storage.put("repo", b"data")
    with pytest.raises(TypeError, match="cannot pickle 'Storage' object") as refused:
        pickle.dumps(storage)  # like the real wheel: credentials never travel on their own
    assert "Repository" in refused.value.__notes__[0]
    # What a pickled repository, read-only session or fork carries for its storage.
    clone = pickle.loads(pickle.dumps(pack(storage)))
    assert type(clone) is type(storage)
    assert repr(clone) == repr(storage)
    if backend.pickle_keeps_data:
        assert clone == storage
        assert hash(clone) == hash(storage)
        assert await clone.get("repo") == b"data"
    else:
        assert clone != storage
        assert await keys(clone) == []


def test_repr_capabilities_and_settings(storage: Storage) -> None:
    assert repr(storage).startswith("<icechunk.Storage>\ntype: ")
    assert repr(storage).endswith("\n") and not repr(storage).endswith("\n\n")
    assert storage.can_write
    assert storage.supports_conditional_put
    settings = storage.default_settings()
    assert isinstance(settings, StorageSettings)
    assert settings == storage.settings
    settings.concurrency = StorageConcurrencySettings(max_concurrent_requests_for_object=99)
    assert storage.default_settings() != settings  # callers get a copy


# --------------------------------------------------------------------------- errors & settings
def test_conditional_put_failed_pickles() -> None:
    err = ConditionalPutFailed("repo", PutMode.UPDATE)
    clone = pickle.loads(pickle.dumps(err))
    assert (type(clone), clone.key, clone.mode, clone.kind, str(clone)) == (
        ConditionalPutFailed,
        "repo",
        PutMode.UPDATE,
        ErrorKind.CONCURRENCY,
        str(err),
    )


def _full_settings() -> StorageSettings:
    return StorageSettings(
        concurrency=StorageConcurrencySettings(5, 1024),
        retries=StorageRetriesSettings(max_tries=3, initial_backoff_ms=10),
        unsafe_use_conditional_update=False,
        storage_class="STANDARD_IA",
        minimum_size_for_multipart_upload=1 << 20,
        timeouts=StorageTimeoutSettings(connect_timeout_ms=50),
    )


def test_settings_equality_repr_and_pickle() -> None:
    settings = _full_settings()
    assert settings == _full_settings()
    assert settings != StorageSettings()
    # the real package's eval-able multi-line form: full dotted names, scalars first
    assert repr(settings).startswith(
        "icechunk.storage.StorageSettings(\n    unsafe_use_conditional_create="
    )
    assert "    concurrency=icechunk.storage.StorageConcurrencySettings(\n" in repr(settings)
    names = {
        "StorageSettings": StorageSettings,
        "StorageConcurrencySettings": StorageConcurrencySettings,
        "StorageRetriesSettings": StorageRetriesSettings,
        "StorageTimeoutSettings": StorageTimeoutSettings,
    }
    assert (
        eval(
            repr(settings),
            {"icechunk": types.SimpleNamespace(storage=types.SimpleNamespace(**names))},
        )
        == settings
    )
    with pytest.raises(TypeError, match="cannot pickle 'StorageSettings' object"):
        pickle.dumps(settings)
    assert pickle.loads(pickle.dumps(pack(settings))) == settings
    assert copy.deepcopy(settings) == settings
    with pytest.raises(TypeError):
        hash(settings)  # mutable, like the real classes


def test_settings_are_mutable_and_type_checked() -> None:
    retries = StorageRetriesSettings()
    retries.max_tries = 4
    assert retries == StorageRetriesSettings(max_tries=4)
    with pytest.raises(TypeError):
        retries.max_tries = "4"  # type: ignore[assignment]
    with pytest.raises(TypeError):
        StorageSettings(unsafe_use_metadata=1)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        StorageSettings(concurrency=StorageRetriesSettings())  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        StorageTimeoutSettings(read_timeout_ms=True)
    with pytest.raises(ValueError):
        StorageRetriesSettings(max_tries=0)
    with pytest.raises(ValueError):
        StorageTimeoutSettings(read_timeout_ms=-1)


def test_merge_settings_overlays_non_none_fields() -> None:
    base = _full_settings()
    merged = merge_settings(
        base,
        StorageSettings(retries=StorageRetriesSettings(max_backoff_ms=7), storage_class="X"),
    )
    assert merged.retries == StorageRetriesSettings(3, 10, 7)
    assert merged.storage_class == "X"
    assert merged.concurrency == base.concurrency
    assert base == _full_settings()  # inputs untouched
    assert merge_settings(base, None) == base
    assert merge_settings(StorageSettings(), base) == base
