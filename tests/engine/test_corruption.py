"""Corrupt or missing repository files, and hostile keys, give typed errors, never wrong data.

A small repository is written once by pyicechunk on the local filesystem (two commits: one
native-chunk array and one inline-chunk array, plus attributes). Every test works on a private
copy. For each metadata file kind (the repo file, a snapshot, a manifest, a transaction log)
the file is damaged in a fixed set of ways and at random (hypothesis), then the repository is
opened, its data read and, when available, a diff computed. Each step must either succeed with
the correct result or raise an :class:`icechunk.IcechunkError` subclass, a ``FormatError`` when
a file exists but is unreadable.
"""

from __future__ import annotations

import os
import shutil
import struct
import tempfile
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import zarr
import zstandard
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from zarr.core.buffer import default_buffer_prototype
from zarr.core.sync import sync

import icechunk as ic
from icechunk.format.header import HEADER_SIZE, MAGIC

pytestmark = pytest.mark.local_only(
    reason="damages object files and plants hostile paths on the local disk"
)

HAS_DIFF = hasattr(ic.Repository, "diff")
SPEC_AT = HEADER_SIZE - 3
TYPE_AT = HEADER_SIZE - 2

NATIVE = np.random.default_rng(3).standard_normal(1000)  # random floats: ~1.6 kB chunks
INLINE = np.arange(12, dtype="int16").reshape(3, 4)  # tiny: inline chunks
NATIVE_UPDATED = NATIVE.copy()
NATIVE_UPDATED[:200] = -1.5
KINDS = ("repo", "snapshot", "manifest", "transaction")


@dataclass(frozen=True)
class Pristine:
    path: Path
    first: str
    tip: str


@pytest.fixture(scope="module")
def pristine(tmp_path_factory: pytest.TempPathFactory) -> Pristine:
    path = tmp_path_factory.mktemp("corruption") / "repo"
    repo = ic.Repository.create(ic.local_filesystem_storage(str(path)))
    session = repo.writable_session("main")
    root = zarr.create_group(session.store, attributes={"title": "corruption"})
    native = root.create_array("native", shape=NATIVE.shape, chunks=(200,), dtype="float64")
    native[:] = NATIVE
    small = root.create_array("g/inline", shape=INLINE.shape, chunks=(2, 2), dtype="int16")
    small[:] = INLINE
    first = session.commit("first")
    session = repo.writable_session("main")
    root = zarr.open_group(session.store, mode="r+")
    array_at(root, "native")[:200] = -1.5
    root.attrs["step"] = 2
    tip = session.commit("second")
    return Pristine(path, first, tip)


def array_at(group: zarr.Group, name: str) -> zarr.Array[Any]:
    node = group[name]
    assert isinstance(node, zarr.Array), name
    return node


@contextmanager
def private_copy(pristine: Pristine) -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="corrupt-") as tmp:
        dest = Path(tmp) / "repo"
        shutil.copytree(pristine.path, dest)
        yield dest


def targets_of(path: Path, pristine: Pristine, kind: str) -> list[Path]:
    """The files of ``kind`` that reading the tip depends on (every manifest, for manifests)."""
    if kind == "repo":
        return [path / "repo"]
    if kind == "snapshot":
        return [path / "snapshots" / pristine.tip]
    if kind == "transaction":
        return [path / "transactions" / pristine.tip]
    return sorted((path / "manifests").iterdir())


def read_tip(path: Path) -> tuple[np.ndarray, np.ndarray, dict[str, object]]:
    repo = ic.Repository.open(ic.local_filesystem_storage(str(path)))
    store = repo.readonly_session(branch="main").store
    root = zarr.open_group(store, mode="r")
    native = np.asarray(array_at(root, "native")[:])
    small = np.asarray(array_at(root, "g/inline")[:])
    return native, small, dict(root.attrs)


def undetectable(before: bytes, after: bytes) -> bool:
    """True when a damaged file still has the same header and a well-formed zstd payload.

    The format has no checksum (neither pyicechunk nor icechunk 2.3.0 writes zstd content
    checksums), so such a change can alter stored values (zarr.json bytes, inline chunks,
    chunk offsets) without any way to notice it. It may then surface as wrong data or as an
    error raised by *zarr* while it parses the bytes we returned faithfully; icechunk code
    itself must still only raise IcechunkError.
    """
    if after[:HEADER_SIZE] != before[:HEADER_SIZE] or after == before:
        return False
    try:
        decoded = zstandard.ZstdDecompressor().decompress(
            after[HEADER_SIZE:], max_output_size=1 << 26
        )
    except (zstandard.ZstdError, MemoryError):
        # MemoryError: the damaged frame declares a huge content size, which python-zstandard
        # tries to allocate; our reader caps that size first and raises a typed error.
        return False
    return bool(decoded)


def _raised_in_zarr(err: BaseException) -> bool:
    """Whether the innermost icechunk-or-zarr frame of ``err``'s traceback is zarr's."""
    owner = None
    for frame, _ in traceback.walk_tb(err.__traceback__):
        name = frame.f_globals.get("__name__", "")
        if name.split(".")[0] in ("zarr", "numcodecs"):
            owner = "zarr"
        elif name.split(".")[0] == "icechunk":
            owner = "icechunk"
    return owner == "zarr"


def check_reads(path: Path, *, corrupt: bool, undetectable_change: bool = False) -> None:
    """Every step either gives the right answer or a typed error (FormatError if corrupt).

    With ``undetectable_change`` (see :func:`undetectable`) wrong values and errors raised by
    zarr itself are tolerated; a non-Icechunk exception raised inside icechunk never is.
    """
    expected_error: type[ic.IcechunkError] = ic.FormatError if corrupt else ic.IcechunkError

    def step(action: Callable[[], None]) -> None:
        try:
            action()
        except ic.IcechunkError as err:
            if not undetectable_change:
                assert isinstance(err, expected_error), f"{type(err).__name__}: {err}"
        except AssertionError:
            if not undetectable_change:
                raise
        except Exception as err:
            if not (undetectable_change and _raised_in_zarr(err)):
                raise

    def data() -> None:
        native, small, attrs = read_tip(path)
        np.testing.assert_array_equal(native, NATIVE_UPDATED)
        np.testing.assert_array_equal(small, INLINE)
        assert attrs == {"title": "corruption", "step": 2}

    def history() -> None:
        repo = ic.Repository.open(ic.local_filesystem_storage(str(path)))
        assert [i.message for i in repo.ancestry(branch="main")] == [
            "second",
            "first",
            "Repository initialized",
        ]

    def diff() -> None:
        repo = ic.Repository.open(ic.local_filesystem_storage(str(path)))
        infos = list(repo.ancestry(branch="main"))
        d = repo.diff(from_snapshot_id=infos[1].id, to_snapshot_id=infos[0].id)  # type: ignore[attr-defined]
        assert sorted(d.updated_chunks) == ["/native"]
        assert sorted(tuple(i) for i in d.updated_chunks["/native"]) == [(0,)]
        assert sorted(d.updated_groups) == ["/"]

    step(data)
    step(history)
    if HAS_DIFF:
        step(diff)


def corrupt_files(targets: list[Path], damage: Callable[[bytes], bytes]) -> tuple[bool, bool]:
    """Apply ``damage`` to every target; return (anything changed, some change undetectable)."""
    changed = hidden = False
    for target in targets:
        before = target.read_bytes()
        after = damage(before)
        target.write_bytes(after)
        changed |= after != before
        hidden |= undetectable(before, after)
    return changed, hidden


# --- deterministic corruptions ---------------------------------------------------------------


def truncate_header(data: bytes) -> bytes:
    return data[: HEADER_SIZE // 2]


def truncate_payload(data: bytes) -> bytes:
    return data[: HEADER_SIZE + (len(data) - HEADER_SIZE) // 2]


def truncate_empty(data: bytes) -> bytes:
    return b""


def flip_payload(data: bytes) -> bytes:
    out = bytearray(data)
    for i in range(HEADER_SIZE + 4, len(out), max(1, (len(out) - HEADER_SIZE) // 7)):
        out[i] ^= 0xFF
    return bytes(out)


def bad_magic(data: bytes) -> bytes:
    return b"NOTICECHUNK!" + data[len(MAGIC) :]


def spec_version_3(data: bytes) -> bytes:
    return data[:SPEC_AT] + b"\x03" + data[SPEC_AT + 1 :]


def wrong_file_type(data: bytes) -> bytes:
    kind = data[TYPE_AT]
    other = 2 if kind != 2 else 1
    return data[:TYPE_AT] + bytes([other]) + data[TYPE_AT + 1 :]


def random_bytes(data: bytes) -> bytes:
    return np.random.default_rng(11).bytes(len(data))


def random_bytes_with_header(data: bytes) -> bytes:
    return data[:HEADER_SIZE] + np.random.default_rng(12).bytes(len(data) - HEADER_SIZE)


CORRUPTIONS: dict[str, Callable[[bytes], bytes]] = {
    f.__name__: f
    for f in (
        truncate_header,
        truncate_payload,
        truncate_empty,
        flip_payload,
        bad_magic,
        spec_version_3,
        wrong_file_type,
        random_bytes,
        random_bytes_with_header,
    )
}


def test_pristine_reads_correctly(pristine: Pristine) -> None:
    with private_copy(pristine) as path:
        native, small, attrs = read_tip(path)
        np.testing.assert_array_equal(native, NATIVE_UPDATED)
        np.testing.assert_array_equal(small, INLINE)
        assert attrs == {"title": "corruption", "step": 2}
        assert list((path / "chunks").iterdir()), "the native array must have chunk files"
        check_reads(path, corrupt=False)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("corruption", sorted(CORRUPTIONS))
def test_corrupt_metadata_file(pristine: Pristine, kind: str, corruption: str) -> None:
    with private_copy(pristine) as path:
        targets = targets_of(path, pristine, kind)
        changed, hidden = corrupt_files(targets, CORRUPTIONS[corruption])
        assert changed
        check_reads(path, corrupt=True, undetectable_change=hidden)


@pytest.mark.parametrize("kind", KINDS)
def test_header_errors_are_format_errors(pristine: Pristine, kind: str) -> None:
    """Opening and reading raise exactly FormatError for an unsupported spec version."""
    with private_copy(pristine) as path:
        targets = targets_of(path, pristine, kind)
        for target in targets:
            target.write_bytes(spec_version_3(target.read_bytes()))
        if kind == "repo":
            with pytest.raises(ic.FormatError):
                ic.Repository.open(ic.local_filesystem_storage(str(path)))
        elif kind in ("snapshot", "manifest"):
            with pytest.raises(ic.FormatError):
                read_tip(path)
        else:
            # Transaction logs are not needed to read data.
            native, small, _ = read_tip(path)
            np.testing.assert_array_equal(native, NATIVE_UPDATED)
            np.testing.assert_array_equal(small, INLINE)
            if HAS_DIFF:
                repo = ic.Repository.open(ic.local_filesystem_storage(str(path)))
                with pytest.raises(ic.FormatError):
                    repo.diff(from_snapshot_id=pristine.first, to_snapshot_id=pristine.tip)  # type: ignore[attr-defined]


# --- random corruptions ----------------------------------------------------------------------


@st.composite
def corruption_plans(draw: st.DrawFn) -> tuple[str, int, list[tuple[float, int]]]:
    """A truncation, a set of byte edits (relative position, xor mask), or random content."""
    mode = draw(st.sampled_from(["truncate", "edit", "replace"]))
    length = draw(st.integers(min_value=0, max_value=4096))
    edits = draw(
        st.lists(
            st.tuples(st.floats(min_value=0, max_value=1), st.integers(1, 255)),
            min_size=1,
            max_size=8,
        )
    )
    return mode, length, edits


def apply_plan(data: bytes, plan: tuple[str, int, list[tuple[float, int]]], seed: int) -> bytes:
    mode, length, edits = plan
    if mode == "truncate":
        return data[: length % max(1, len(data))]
    if mode == "replace":
        return np.random.default_rng(seed).bytes(length)
    out = bytearray(data)
    for where, mask in edits:
        i = min(len(out) - 1, int(where * len(out)))
        out[i] ^= mask
    return bytes(out)


def test_a_frame_declaring_a_huge_size_counts_as_detectable_damage() -> None:
    # A CI run damaged a manifest so that its zstd frame declared a huge content size:
    # python-zstandard then tries to allocate it (MemoryError) while our reader refuses it.
    huge_frame = (
        struct.pack("<I", 0xFD2FB528) + bytes([0b11100000]) + struct.pack("<Q", 1 << 40)
    ) + bytes([1, 0, 0])
    header = b"h" * HEADER_SIZE
    assert not undetectable(header + b"pristine", header + huge_frame)


@pytest.mark.parametrize("kind", KINDS)
@settings(
    max_examples=50,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(plan=corruption_plans(), seed=st.integers(0, 2**32 - 1))
def test_random_corruption(
    pristine: Pristine, kind: str, plan: tuple[str, int, list[tuple[float, int]]], seed: int
) -> None:
    with private_copy(pristine) as path:
        targets = targets_of(path, pristine, kind)
        changed, hidden = corrupt_files(targets, lambda data: apply_plan(data, plan, seed))
        check_reads(path, corrupt=changed, undetectable_change=hidden)


# --- missing files ---------------------------------------------------------------------------


def test_missing_chunk_file_is_a_typed_error(pristine: Pristine) -> None:
    with private_copy(pristine) as path:
        for chunk in (path / "chunks").iterdir():
            chunk.unlink()
        repo = ic.Repository.open(ic.local_filesystem_storage(str(path)))
        root = zarr.open_group(repo.readonly_session(branch="main").store, mode="r")
        with pytest.raises(ic.IcechunkError):
            array_at(root, "native")[:]
        # Inline chunks live in the manifest and are still readable.
        np.testing.assert_array_equal(array_at(root, "g/inline")[:], INLINE)


def test_missing_snapshot_file_is_snapshot_not_found(pristine: Pristine) -> None:
    with private_copy(pristine) as path:
        (path / "snapshots" / pristine.tip).unlink()
        repo = ic.Repository.open(ic.local_filesystem_storage(str(path)))
        proto = default_buffer_prototype()
        for session in (
            repo.readonly_session(branch="main"),
            repo.readonly_session(snapshot_id=pristine.tip),
        ):
            for key in ("zarr.json", "native/zarr.json", "native/c/0"):
                with pytest.raises(ic.SnapshotNotFoundError):
                    sync(session.store.get(key, prototype=proto))
        # zarr.open_group turns every KeyError (NotFoundError is one, in icechunk 2.3.0 too)
        # into its own GroupNotFoundError, dropping the typed error.
        with pytest.raises(zarr.errors.GroupNotFoundError):
            zarr.open_group(repo.readonly_session(branch="main").store, mode="r")
        # The parent snapshot is untouched and still reads.
        old = zarr.open_group(repo.readonly_session(snapshot_id=pristine.first).store, mode="r")
        np.testing.assert_array_equal(array_at(old, "native")[:], NATIVE)


# --- hostile keys ----------------------------------------------------------------------------

# Keys with a leading '/' are accepted by icechunk 2.3.0 and land inside the hierarchy
# ("/abs/zarr.json" creates the group "/abs"); pyicechunk matches that, see below.
NORMALIZED_KEYS = ["/abs/zarr.json", "//abs/zarr.json"]
BAD_KEYS = [
    "../escape/zarr.json",
    "a/../../escape/zarr.json",
    "a/\x00/zarr.json",
    "nul\x00/zarr.json",
    "native/c/../../../escape",
    "native/../../escape/zarr.json",
    "./zarr.json",
    "a//b/zarr.json",
]


def _tree(path: Path) -> set[str]:
    return {str(p.relative_to(path)) for p in path.rglob("*")}


@pytest.mark.parametrize("key", BAD_KEYS)
def test_hostile_keys_are_rejected(tmp_path: Path, key: str) -> None:
    base = tmp_path / "outer"
    repo_path = base / "inner" / "repo"
    repo = ic.Repository.create(ic.local_filesystem_storage(str(repo_path)))
    session = repo.writable_session("main")
    store = session.store
    zarr.create_group(store)
    outside_before = _tree(base) - {s for s in _tree(base) if s.startswith("inner/repo")}
    proto = default_buffer_prototype()
    group_doc = b'{"zarr_format": 3, "node_type": "group", "attributes": {}}'
    with pytest.raises(ic.IcechunkError):
        sync(store.set(key, proto.buffer.from_bytes(group_doc)))
    for action in (
        lambda: sync(store.get(key, prototype=proto)),
        lambda: sync(store.exists(key)),
        lambda: sync(store.delete(key)),
    ):
        try:
            result = action()
        except ic.IcechunkError:
            continue
        assert result in (None, False), f"{key!r} unexpectedly resolved to {result!r}"
    session.commit("after hostile keys")
    outside_after = _tree(base) - {s for s in _tree(base) if s.startswith("inner/repo")}
    assert outside_after == outside_before
    assert not (tmp_path / "escape").exists()
    assert not (base / "escape").exists()
    assert not Path("/abs").exists()
    # Nothing hostile made it into the committed hierarchy either.
    keys = sync(_list(repo.readonly_session(branch="main").store))
    assert keys == ["zarr.json"]


async def _list(store: ic.IcechunkStore) -> list[str]:
    return sorted([k async for k in store.list_prefix("")])


def test_no_stray_files_in_repository(pristine: Pristine) -> None:
    """Sanity: the pristine repository holds only the known top-level entries."""
    entries = {p.name for p in pristine.path.iterdir()}
    known = {"repo", "snapshots", "manifests", "transactions", "chunks", "overwritten"}
    assert entries <= known | {".icechunk-locks"}  # local storage's lock files
    assert os.path.isfile(pristine.path / "repo")


@pytest.mark.parametrize("key", NORMALIZED_KEYS)
def test_leading_slash_keys_stay_inside_the_hierarchy(tmp_path: Path, key: str) -> None:
    base = tmp_path / "outer"
    repo = ic.Repository.create(ic.local_filesystem_storage(str(base / "repo")))
    session = repo.writable_session("main")
    zarr.create_group(session.store)
    group_doc = b'{"zarr_format": 3, "node_type": "group", "attributes": {}}'
    proto = default_buffer_prototype()
    sync(session.store.set(key, proto.buffer.from_bytes(group_doc)))
    session.commit("leading slash")
    assert {p.name for p in base.iterdir()} == {"repo"}
    assert not Path("/abs").exists()
    keys = sync(_list(repo.readonly_session(branch="main").store))
    assert keys == ["abs/zarr.json", "zarr.json"]


def test_damaged_manifest_error_names_the_failing_operations(tmp_path: Path) -> None:
    import glob

    import zarr

    storage = ic.local_filesystem_storage(str(tmp_path))
    session = ic.Repository.create(storage).writable_session("main")
    zarr.group(store=session.store).create_array("a", shape=(4,), chunks=(2,), dtype="i4")[:] = 7
    session.commit("data")
    (manifest,) = glob.glob(f"{tmp_path}/manifests/*")
    Path(manifest).write_bytes(b"not a manifest")
    reader = ic.Repository.open(storage).readonly_session("main")
    array = zarr.open_array(store=reader.store, path="a", mode="r")
    with pytest.raises(ic.FormatError) as caught:
        array[0]
    message = str(caught.value)
    # innermost first, numbered, in the layout of the real package's span trace
    assert "\n\ncontext:\n   0: icechunk::asset_manager::fetch_manifest\n" in message
    assert "           with manifest_id=" in message
    assert '   1: icechunk::store::get\n           with key="a/c/0"' in message
    assert caught.value.message == message
