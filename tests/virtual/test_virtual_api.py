"""The virtual-reference API: specs, validation of locations, batch results, inspection."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pytest
import zarr

import icechunk as ic
from virtual.vsources import Sources, file_url

pytestmark = pytest.mark.filterwarnings("ignore:Passing `None`:DeprecationWarning")


@pytest.fixture
def prefix(sources: Sources) -> str:
    return file_url(sources.root) + "/"


@pytest.fixture
def session(tmp_path: Path, sources: Sources, prefix: str) -> ic.Session:
    config = ic.RepositoryConfig.default()
    config.set_virtual_chunk_container(
        ic.VirtualChunkContainer(prefix, ic.local_filesystem_store(str(sources.root)), "src")
    )
    repo = ic.Repository.create(
        ic.local_filesystem_storage(str(tmp_path / "repo")),
        config=config,
        authorize_virtual_chunk_access={prefix: None},
    )
    session = repo.writable_session("main")
    zarr.create_array(
        session.store, name="x", shape=(8,), chunks=(2,), dtype="<f8", compressors=None
    )
    return session


def test_spec_properties() -> None:
    when = dt.datetime(2024, 1, 2, tzinfo=dt.UTC)
    spec = ic.VirtualChunkSpec([1, 2], "s3://b/k", 3, 4, "tag", when)
    assert (spec.index, spec.location, spec.offset, spec.length) == ([1, 2], "s3://b/k", 3, 4)
    assert (spec.etag_checksum, spec.last_updated_at_checksum) == ("tag", when)
    with pytest.raises(OverflowError):
        ic.VirtualChunkSpec([-1], "s3://b/k", 0, 4)


@pytest.mark.parametrize("location", ["", "some/relative/url", "/url/without/protocol"])
def test_relative_locations_are_rejected(session: ic.Session, location: str) -> None:
    for validate in (True, False):
        with pytest.raises(ic.InvalidInputError, match="error parsing"):
            session.store.set_virtual_ref(
                "x/c/0", location, offset=0, length=4, validate_container=validate
            )
    with pytest.raises(ic.InvalidInputError, match="error parsing"):
        session.store.set_virtual_refs("x", [ic.VirtualChunkSpec([0], location, 0, 4)])


def test_unserved_locations(session: ic.Session, prefix: str) -> None:
    with pytest.raises(ic.InvalidInputError, match="invalid chunk location"):
        session.store.set_virtual_ref("x/c/0", "bad://host/key", offset=0, length=16)
    good = ic.VirtualChunkSpec([0], prefix + "raw.bin", 8, 16)
    bad = ic.VirtualChunkSpec([1], "s3://elsewhere/key", 0, 16)
    assert session.store.set_virtual_refs("x", [good, bad]) == [(1,)]
    assert session.chunk_type("/x", [0]) == ic.ChunkType.virtual
    assert session.chunk_type("/x", [1]) == ic.ChunkType.uninitialized
    assert session.store.set_virtual_refs("/x", [bad], validate_containers=False) is None
    assert session.chunk_type("/x", [1]) == ic.ChunkType.virtual


def test_checksum_types(session: ic.Session, prefix: str) -> None:
    loc = prefix + "raw.bin"
    with pytest.raises(TypeError):
        session.store.set_virtual_ref(
            "x/c/0", loc, offset=8, length=16, checksum=dt.datetime(2020, 1, 1)
        )
    with pytest.raises(TypeError):
        session.store.set_virtual_ref("x/c/0", loc, offset=8, length=16, checksum=5)  # type: ignore[arg-type]
    with pytest.raises(ic.InvalidInputError, match="zero-length"):
        session.store.set_virtual_ref("x/c/0", loc, offset=8, length=0)
    with pytest.raises(ic.InvalidInputError, match="outside the chunk grid"):
        session.store.set_virtual_ref("x/c/9", loc, offset=8, length=16)


def test_named_container_locations(session: ic.Session, prefix: str, sources: Sources) -> None:
    session.store.set_virtual_ref("x/c/0", "vcc://src/raw.bin", offset=8, length=16)
    session.store.set_virtual_ref("x/c/1", prefix + "raw.bin", offset=24, length=16)
    with pytest.raises(ic.InvalidInputError, match="invalid chunk location"):
        session.store.set_virtual_ref("x/c/2", "vcc://other/raw.bin", offset=8, length=16)
    values = zarr.open_array(session.store, path="x")[:4]
    np.testing.assert_array_equal(values, sources.raw_values.ravel()[:4])
    assert session.all_virtual_chunk_locations() == [prefix + "raw.bin"] * 2


def test_inspection_after_commit(session: ic.Session, prefix: str) -> None:
    session.store.set_virtual_ref("x/c/0", prefix + "raw.bin", offset=8, length=16)
    zarr.open_array(session.store, path="x")[4:8] = np.arange(4.0)
    session.commit("mixed")
    assert session.all_virtual_chunk_locations() == [prefix + "raw.bin"]
    kinds = [session.chunk_type("/x", [i]) for i in range(4)]
    assert kinds == [
        ic.ChunkType.virtual,
        ic.ChunkType.uninitialized,
        ic.ChunkType.inline,
        ic.ChunkType.inline,
    ]
    with pytest.raises(ic.InvalidInputError, match="must start with"):
        session.chunk_type("x", [0])


def test_read_only_store_refuses_refs(session: ic.Session, prefix: str) -> None:
    session.commit("array")
    store = session.store.with_read_only(True)
    with pytest.raises(ic.ReadOnlyError):
        store.set_virtual_ref("x/c/0", prefix + "raw.bin", offset=8, length=16)


def test_set_virtual_refs_arr(session: ic.Session, prefix: str, sources: Sources) -> None:
    zarr.create_array(
        session.store,
        name="g",
        shape=(4, 4),
        chunks=(1, 2),
        dtype="<f8",
        fill_value=-1.0,
        compressors=None,
    )
    loc = prefix + "raw.bin"
    u64 = np.uint64
    offsets = np.array([8, 24, 40, 56], dtype=u64)
    lengths = np.full(4, 16, dtype=u64)
    failed = session.store.set_virtual_refs_arr(
        "g", (2, 2), [loc, "", loc, "s3://nowhere/k"], offsets, lengths
    )
    assert failed == [(1, 1)]
    failed = session.store.set_virtual_refs_arr(
        "/g", (2, 1), [loc, "bad://x"], offsets[:2], lengths[:2], arr_offset=(2, 1)
    )
    assert failed == [(3, 1)]
    flat = np.frombuffer(sources.raw.read_bytes()[8:], dtype="<f8")  # file order
    expected = np.full((4, 4), -1.0)
    expected[0, 0:2], expected[1, 0:2], expected[2, 2:4] = flat[0:2], flat[4:6], flat[0:2]
    np.testing.assert_array_equal(zarr.open_array(session.store, path="g")[:], expected)
    with pytest.raises(ValueError, match="product of chunk_grid_shape"):
        session.store.set_virtual_refs_arr("g", (2, 2), [loc], offsets[:1], lengths[:1])
    with pytest.raises(ValueError, match="same length"):
        session.store.set_virtual_refs_arr("g", (1, 1), [loc], offsets[:2], lengths[:1])
    with pytest.raises(TypeError, match="uint64"):
        session.store.set_virtual_refs_arr("g", (1, 1), [loc], np.array([8]), lengths[:1])
    # A block reaching past the grid (rows 3..4 of 4) is refused like a single ref.
    with pytest.raises(ic.InvalidInputError, match=r"chunk index \[4, 0\] is outside"):
        session.store.set_virtual_refs_arr(
            "g", (2, 2), [loc] * 4, offsets, lengths, arr_offset=(3, 0)
        )


async def test_array_chunk_iterator(session: ic.Session, prefix: str) -> None:
    big = zarr.create_array(
        session.store, name="big", shape=(3, 100), chunks=(1, 100), dtype="<f8", compressors=None
    )
    big[0] = np.arange(100.0)  # 800 bytes: a native chunk
    big[2, :1] = 7.0  # the rest of the row is the fill value: still 800 bytes, native
    session.store.set_virtual_ref("big/c/1/0", "vcc://src/raw.bin", offset=8, length=800)
    batches = [b async for b in session.store.array_chunk_iterator("/big", batch_size=2)]
    assert [len(b[2]) for b in batches] == [2, 1]
    coords = np.concatenate([b[0] for b in batches])
    np.testing.assert_array_equal(coords, [[0, 0], [1, 0], [2, 0]])
    kinds = np.concatenate([b[1] for b in batches]).tolist()
    assert kinds == [ic.ChunkType.native.value, ic.ChunkType.virtual.value, 1]
    assert batches[0][2][1] == prefix + "raw.bin"
    assert batches[0][3][1] == 8 and batches[0][4][1] == 800
    assert batches[0][5] == {} and batches[1][5] == {}
    zarr.create_array(session.store, name="small", shape=(2,), chunks=(1,), dtype="u1")
    zarr.open_array(session.store, path="small")[:] = [1, 2]
    (batch,) = [b async for b in session.store.array_chunk_iterator("small")]
    assert batch[1].tolist() == [3, 3] and set(batch[5]) == {0, 1}


async def test_byte_ranges_of_a_virtual_chunk(
    session: ic.Session, prefix: str, sources: Sources
) -> None:
    from zarr.abc.store import OffsetByteRequest, RangeByteRequest, SuffixByteRequest
    from zarr.core.buffer import default_buffer_prototype

    session.store.set_virtual_ref("x/c/1", prefix + "raw.bin", offset=8, length=16)
    whole = sources.raw.read_bytes()[8:24]
    proto = default_buffer_prototype()
    for request, expected in [
        (RangeByteRequest(2, 10), whole[2:10]),
        (OffsetByteRequest(12), whole[12:]),
        (SuffixByteRequest(5), whole[-5:]),
        (None, whole),
    ]:
        got = await session.store.get("x/c/1", proto, request)
        assert got is not None and got.to_bytes() == expected
    assert await session.store.exists("x/c/1")
