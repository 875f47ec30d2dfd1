"""zarr's own Store contract suite, run against IcechunkStore on local disk and S3 (moto).

Icechunk stores only valid zarr v3 documents and chunk keys of existing arrays, so the
tests that write arbitrary bytes under arbitrary keys are re-stated here with valid
metadata; every other contract test runs unchanged.
"""

from __future__ import annotations

from typing import Any

import pytest
import zarr
from zarr.abc.store import OffsetByteRequest, RangeByteRequest, SuffixByteRequest
from zarr.core.buffer import Buffer, cpu, default_buffer_prototype
from zarr.core.sync import collect_aiterator
from zarr.testing.store import StoreTests
from zarr.testing.utils import assert_bytes_equal

import icechunk as ic
from engine.storage_kinds import NewStorage
from icechunk import IcechunkStore

GROUP = b'{"zarr_format":3,"node_type":"group"}'
ARRAY = (
    b'{"zarr_format":3,"node_type":"array","attributes":{"foo":42},"shape":[2,2,2],'
    b'"data_type":"int32","chunk_grid":{"name":"regular","configuration":{"chunk_shape":[1,1,1]}},'
    b'"chunk_key_encoding":{"name":"default","configuration":{"separator":"/"}},"fill_value":0,'
    b'"codecs":[{"name":"bytes","configuration":{"endian":"little"}}],"dimension_names":["x","y","t"]}'
)


def buf(data: bytes) -> Buffer:
    return cpu.Buffer.from_bytes(data)


class TestIcechunkStore(StoreTests[IcechunkStore, cpu.Buffer]):
    store_cls = IcechunkStore
    buffer_cls = cpu.Buffer

    async def set(self, store: IcechunkStore, key: str, value: Buffer) -> None:
        await store._store.set(key, value.to_bytes())

    async def get(self, store: IcechunkStore, key: str) -> Buffer | None:
        try:
            return self.buffer_cls.from_bytes(await store._store.get(key))
        except KeyError:
            return None

    @pytest.fixture
    def store_kwargs(self, new_storage: NewStorage) -> dict[str, Any]:
        return {"storage": new_storage("store"), "read_only": False}

    @pytest.fixture
    def open_kwargs(self, store_kwargs: dict[str, Any]) -> dict[str, Any]:
        return store_kwargs

    @staticmethod
    def _session(kwargs: dict[str, Any]) -> ic.Session:
        repo = ic.Repository.open_or_create(kwargs["storage"])
        if kwargs.get("read_only"):
            return repo.readonly_session(branch="main")
        return repo.writable_session("main")

    @pytest.fixture
    async def store(self, store_kwargs: dict[str, Any]) -> IcechunkStore:
        return self._session(store_kwargs).store

    @pytest.fixture
    async def store_not_open(self, store_kwargs: dict[str, Any]) -> IcechunkStore:
        store = self._session(store_kwargs).store
        store._is_open = False
        return store

    # ---- construction: stores come from sessions, not from Store.open(**kwargs)
    def test_store_eq(self, store: IcechunkStore, store_kwargs: dict[str, Any]) -> None:
        assert store == store
        other = self._session(store_kwargs).store
        assert store != other  # different sessions are different stores

    def test_store_repr(self, store: IcechunkStore) -> None:
        text = repr(store)
        assert "IcechunkStore" in text and "snapshot_id" in text

    @pytest.mark.parametrize("read_only", [True, False])
    async def test_store_open_read_only(
        self, store_kwargs: dict[str, Any], read_only: bool
    ) -> None:
        ic.Repository.open_or_create(store_kwargs["storage"])
        store = self._session({**store_kwargs, "read_only": read_only}).store
        assert store._is_open
        assert store.read_only == read_only

    async def test_store_context_manager(self, store: IcechunkStore) -> None:
        with store as s:
            assert s is store

    async def test_read_only_store_raises(self, store_kwargs: dict[str, Any]) -> None:
        ic.Repository.open_or_create(store_kwargs["storage"])
        store = self._session({**store_kwargs, "read_only": True}).store
        assert store.read_only
        with pytest.raises(ic.IcechunkError):
            await store.set("foo/zarr.json", buf(GROUP))
        with pytest.raises(ic.IcechunkError):
            await store.delete("foo/zarr.json")

    async def test_with_read_only_store(self, store: IcechunkStore) -> None:
        reader = store.with_read_only(read_only=True)
        assert reader.read_only
        with pytest.raises(ic.ReadOnlyError):
            await reader.set("zarr.json", buf(GROUP))
        await store.set("zarr.json", buf(GROUP))
        assert (await reader.get("zarr.json", default_buffer_prototype())) is not None

    async def test_serializable_store(self, store: IcechunkStore) -> None:
        with pytest.raises(ValueError, match="fork"):
            import pickle

            pickle.dumps(store)

    # ---- data: only valid zarr documents and chunks of existing arrays
    @pytest.mark.parametrize(
        "byte_range",
        [None, RangeByteRequest(1, 4), OffsetByteRequest(1), SuffixByteRequest(1)],
    )
    async def test_get(self, store: IcechunkStore, byte_range: Any) -> None:
        await store.set("foo/zarr.json", buf(ARRAY))
        data = b"\x01\x02\x03\x04"
        await self.set(store, "foo/c/0/0/0", buf(data))
        observed = await store.get("foo/c/0/0/0", default_buffer_prototype(), byte_range)
        start, stop = {
            None: (0, 4),
            RangeByteRequest: (1, 4),
            OffsetByteRequest: (1, 4),
            SuffixByteRequest: (3, 4),
        }[None if byte_range is None else type(byte_range)]
        assert_bytes_equal(observed, buf(data[start:stop]))

    async def test_get_not_open(self, store_not_open: IcechunkStore) -> None:
        await store_not_open.set("zarr.json", buf(ARRAY))
        await self.set(store_not_open, "c/0/0/0", buf(b"\x01\x02\x03\x04"))
        observed = await store_not_open.get("c/0/0/0", default_buffer_prototype())
        assert_bytes_equal(observed, buf(b"\x01\x02\x03\x04"))

    async def test_set_not_open(self, store_not_open: IcechunkStore) -> None:
        await store_not_open.set("zarr.json", buf(ARRAY))
        await store_not_open.set("c/0/0/0", buf(b"\x01\x02\x03\x04"))
        assert_bytes_equal(await self.get(store_not_open, "c/0/0/0"), buf(b"\x01\x02\x03\x04"))

    async def test_get_raises(self, store: IcechunkStore) -> None:
        await store.set("zarr.json", buf(ARRAY))
        await self.set(store, "c/0/0/0", buf(b"\x01\x02\x03\x04"))
        with pytest.raises((ValueError, TypeError), match=r"Unexpected byte_range, got.*"):
            await store.get("c/0/0/0", default_buffer_prototype(), (0, 2))  # type: ignore[arg-type]

    async def test_set_invalid_buffer(self, store: IcechunkStore) -> None:
        await store.set("zarr.json", buf(ARRAY))
        with pytest.raises(TypeError, match=r"IcechunkStore\.set\(\): `value` must be a Buffer"):
            await store.set("c/0/0/0", 0)  # type: ignore[arg-type]

    async def test_get_many(self, store: IcechunkStore) -> None:
        await store.set("zarr.json", buf(ARRAY))
        keys = [f"c/{i}/{j}/{k}" for i in range(2) for j in range(2) for k in range(2)]
        values = [bytes([n + 1]) * (n + 1) for n in range(len(keys))]
        for k, v in zip(keys, values, strict=True):
            await self.set(store, k, buf(v))
        got = collect_aiterator(
            store._get_many(zip(keys, [default_buffer_prototype()] * 8, [None] * 8, strict=True))
        )
        assert sorted((k, b.to_bytes()) for k, b in got) == sorted(zip(keys, values, strict=True))

    async def test_getsize(self, store: IcechunkStore) -> None:
        await self.set(store, "k/zarr.json", buf(GROUP))
        assert await store.getsize("k/zarr.json") == len(GROUP)

    async def test_getsize_prefix(self, store: IcechunkStore) -> None:
        await store.set("array/zarr.json", buf(ARRAY))
        values = [bytes([n + 1]) * (n + 1) for n in range(8)]
        for n, v in enumerate(values):
            await self.set(store, f"array/c/{n // 4}/{(n // 2) % 2}/{n % 2}", buf(v))
        assert await store.getsize_prefix("array") == sum(map(len, values)) + len(ARRAY)

    async def test_getsize_raises(self, store: IcechunkStore) -> None:
        with pytest.raises(ic.IcechunkError):
            await store.getsize("not-a-real-key")

    async def test_set(self, store: IcechunkStore) -> None:
        await store.set("zarr.json", buf(GROUP))
        assert await store.exists("zarr.json")
        assert (await self.get(store, "zarr.json")).to_bytes() == GROUP  # type: ignore[union-attr]

    async def test_set_many(self, store: IcechunkStore) -> None:
        await store.set("zarr.json", buf(ARRAY))
        items = {"zarr.json": buf(ARRAY), "c/0/0/0": buf(b"abcd"), "c/1/1/1": buf(b"efgh")}
        await store._set_many(items.items())
        for k, v in items.items():
            assert (await self.get(store, k)).to_bytes() == v.to_bytes()  # type: ignore[union-attr]

    async def test_get_partial_values(self, store: IcechunkStore) -> None:
        await self.set(store, "zarr.json", buf(GROUP))
        values = await store.get_partial_values(
            default_buffer_prototype(),
            [("zarr.json", RangeByteRequest(0, 5)), ("zarr.json", OffsetByteRequest(10))],
        )
        assert [v.to_bytes() for v in values if v is not None] == [GROUP[:5], GROUP[10:]]

    async def test_exists(self, store: IcechunkStore) -> None:
        with pytest.raises(ic.IcechunkError):
            await store.exists("foo")
        assert not await store.exists("foo/zarr.json")
        with pytest.raises(ic.IcechunkError):
            await store.set("foo", buf(b"bar"))
        await store.set("foo/zarr.json", buf(GROUP))
        assert await store.exists("foo/zarr.json")

    async def test_delete(self, store: IcechunkStore) -> None:
        await store.set("foo/zarr.json", buf(GROUP))
        await store.delete("foo/zarr.json")
        assert not await store.exists("foo/zarr.json")

    async def test_delete_dir(self, store: IcechunkStore) -> None:
        await store.set("zarr.json", buf(GROUP))
        await store.set("foo-bar/zarr.json", buf(GROUP))
        await store.set("foo/zarr.json", buf(ARRAY))
        await store.set("foo/c/0/0/0", buf(b"chun"))
        await store.delete_dir("foo")
        assert await store.exists("zarr.json")
        assert await store.exists("foo-bar/zarr.json")
        assert not await store.exists("foo/zarr.json")
        assert not await store.exists("foo/c/0/0/0")

    async def test_delete_nonexistent_key_does_not_raise(self, store: IcechunkStore) -> None:
        await store.delete("zarr.json")

    async def test_is_empty(self, store: IcechunkStore) -> None:
        assert await store.is_empty("")
        for key in ("zarr.json", "foo/zarr.json", "foo/bar/zarr.json"):
            await self.set(store, key, buf(GROUP))
        assert not await store.is_empty("")
        assert await store.is_empty("fo")
        assert not await store.is_empty("foo/")
        assert not await store.is_empty("foo")
        assert await store.is_empty("spam/")

    async def test_clear(self, store: IcechunkStore) -> None:
        await self.set(store, "foo/zarr.json", buf(GROUP))
        await store.clear()
        assert await store.is_empty("")

    async def test_list(self, store: IcechunkStore) -> None:
        assert [k async for k in store.list()] == []
        await store.set("foo/zarr.json", buf(ARRAY))
        keys = {"foo/zarr.json"} | {f"foo/c/{i}/0/1" for i in range(2)}
        for key in keys - {"foo/zarr.json"}:
            await store.set(key, buf(b"data"))
        assert sorted([k async for k in store.list()]) == sorted(keys)

    async def test_list_prefix(self, store: IcechunkStore) -> None:
        prefixes = ("", "a/", "a/b/", "a/b/c/")
        keys = [p + "zarr.json" for p in prefixes]
        await store._set_many((k, buf(GROUP)) for k in keys)
        for prefix in prefixes:
            observed = sorted([k async for k in store.list_prefix(prefix)])
            assert observed == sorted(k for k in keys if k.startswith(prefix))

    async def test_list_empty_path(self, store: IcechunkStore) -> None:
        await store.set("foo/bar/zarr.json", buf(ARRAY))
        chunks = ["foo/bar/c/1/0/0", "foo/bar/c/0/0/0"]
        await store._set_many((k, buf(b"x")) for k in chunks)
        every = sorted([*chunks, "foo/bar/zarr.json"])
        assert sorted([k async for k in store.list()]) == every
        assert sorted([k async for k in store.list_prefix("")]) == every
        assert sorted([k async for k in store.list_prefix("foo/bar/")]) == every

    async def test_list_dir(self, store: IcechunkStore) -> None:
        assert [k async for k in store.list_dir("")] == []
        for key in ("zarr.json", "foo/zarr.json", "goo/zarr.json"):
            await store.set(key, buf(GROUP))
        assert {k async for k in store.list_dir("")} == {"foo", "goo", "zarr.json"}
        assert {k async for k in store.list_dir("foo")} == {"zarr.json"}
        assert {k async for k in store.list_dir("foo/")} == {"zarr.json"}

    async def test_set_if_not_exists(self, store: IcechunkStore) -> None:
        await self.set(store, "zarr.json", buf(ARRAY))
        await store.set_if_not_exists("zarr.json", buf(b"1111"))  # exists: not even parsed
        assert (await store.get("zarr.json", default_buffer_prototype())) == buf(ARRAY)
        await store.set_if_not_exists("c/0/0/0", buf(b"1111"))
        assert (await store.get("c/0/0/0", default_buffer_prototype())) == buf(b"1111")

    async def test_get_bytes(self, store: IcechunkStore) -> None:
        await store.set("zarr.json", buf(ARRAY))
        await store.set("c/0/0/0", buf(b"abcd"))
        assert await store._get_bytes("c/0/0/0", prototype=default_buffer_prototype()) == b"abcd"

    def test_get_bytes_sync(self, store: IcechunkStore) -> None:
        from zarr.core.sync import sync

        sync(store.set("zarr.json", buf(ARRAY)))
        assert store._get_bytes_sync("zarr.json", prototype=default_buffer_prototype()) == ARRAY

    async def test_get_json(self, store: IcechunkStore) -> None:
        await store.set("zarr.json", buf(GROUP))
        doc = await store._get_json("zarr.json", prototype=default_buffer_prototype())
        assert doc == {"zarr_format": 3, "node_type": "group"}

    def test_get_json_sync(self, store: IcechunkStore) -> None:
        from zarr.core.sync import sync

        sync(store.set("zarr.json", buf(GROUP)))
        doc = store._get_json_sync("zarr.json", prototype=default_buffer_prototype())
        assert doc["node_type"] == "group"

    def test_store_does_not_claim_zarr_sync_protocol(self, store: IcechunkStore) -> None:
        # like the real package's store: zarr's sync-protocol tests skip instead of writing
        # arbitrary keys (``sync_get``) an Icechunk store cannot hold
        from zarr.abc.store import SupportsDeleteSync, SupportsGetSync, SupportsSetSync

        for protocol in (SupportsGetSync, SupportsSetSync, SupportsDeleteSync):
            assert not isinstance(store, protocol)

    async def test_metadata_suffix_read_matches_real_package(self, store: IcechunkStore) -> None:
        # the real package answers a suffix request on zarr.json with all but the last
        # ``suffix`` bytes; chunks get a true suffix
        await store.set("zarr.json", buf(ARRAY))
        await store.set("c/0/0/0", buf(b"0123456789"))
        proto = default_buffer_prototype()
        meta = await store.get("zarr.json", proto, SuffixByteRequest(5))
        assert meta is not None and meta.to_bytes() == ARRAY[:-5]
        chunk = await store.get("c/0/0/0", proto, SuffixByteRequest(5))
        assert chunk is not None and chunk.to_bytes() == b"56789"
        values = await store.get_partial_values(
            proto, [("zarr.json", RangeByteRequest(0, 5)), ("zarr.json", OffsetByteRequest(10))]
        )
        assert [v.to_bytes() for v in values if v is not None] == [ARRAY[:5], ARRAY[10:]]


async def test_list_prefix_names_a_node_like_the_real_package(new_storage: NewStorage) -> None:
    session = ic.Repository.create(new_storage()).writable_session("main")
    root = zarr.group(store=session.store)
    root.create_group("foo-bar")
    root.create_group("foo").create_array("arr", shape=(2,), chunks=(1,), dtype="i4")[:] = 1
    store = session.store

    async def listed(prefix: str) -> list[str]:
        return sorted([k async for k in store.list_prefix(prefix)])

    expected = ["foo/arr/c/0", "foo/arr/c/1", "foo/arr/zarr.json", "foo/zarr.json"]
    assert await listed("foo") == expected  # a sibling named foo-bar is not under foo
    assert await listed("foo/") == expected
    assert "foo-bar/zarr.json" in await listed("")
    for not_a_node in ("f", "foo/arr/c", "foo/arr/zarr.json", "missing/"):
        with pytest.raises(ic.InvalidInputError, match="bad key prefix") as caught:
            await listed(not_a_node)
        assert caught.value.kind == ic.ErrorKind.BAD_KEY_PREFIX
    with pytest.raises(ic.InvalidInputError):
        await store.getsize_prefix("missing")
    # directory-style queries stay lenient, as in the real package
    assert await store.is_empty("f") and await store.is_empty("missing/")
    assert not await store.is_empty("foo")
    assert sorted([k async for k in store.list_dir("foo/arr/c")]) == ["0", "1"]
    assert sorted([k async for k in store.list_dir("missing")]) == []


async def test_invalid_keys_and_ranges_are_typed_errors(new_storage: NewStorage) -> None:
    session = ic.Repository.create(new_storage()).writable_session("main")
    store = session.store
    await store.set("zarr.json", buf(ARRAY))
    await store.set("c/0/0/0", buf(b"abcdef"))
    with pytest.raises(ic.InvalidInputError) as oob:
        await store.set("c/5/0/0", buf(b"x"))
    assert oob.value.kind == "invalid-chunk-index"
    with pytest.raises(ic.InvalidInputError) as empty:
        await store.set("c/1/1/1", buf(b""))
    assert empty.value.kind == "zero-length-chunk"
    with pytest.raises(ic.InvalidInputError):
        await store.get("c/0/0/0", default_buffer_prototype(), RangeByteRequest(2, 100))
    with pytest.raises(ic.InvalidInputError) as bad_meta:
        await store.set("g/zarr.json", buf(b"bar"))
    assert bad_meta.value.kind == "bad-metadata"
    with pytest.raises(ic.AlreadyExistsError):
        await store.set("zarr.json", buf(GROUP))
    assert await store.get("nope/c/0", default_buffer_prototype()) is None
    assert not await store.exists("nope/c/0")
