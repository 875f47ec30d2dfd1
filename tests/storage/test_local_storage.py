"""Local-filesystem specifics: atomic files, cross-process CAS, confinement, on-disk layout."""

from __future__ import annotations

import asyncio
import json
import os
import pickle
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import pytest

import icechunk as ic
from icechunk.errors import ErrorKind, InvalidInputError, NotFoundError, StorageError
from icechunk.storage import (
    ConditionalPutFailed,
    LocalFileSystemStorage,
    PutMode,
    local_filesystem_storage,
)

from . import asynctest


@pytest.fixture
def root(tmp_path: Path) -> Path:
    return tmp_path / "root"


@pytest.fixture
def storage(root: Path) -> LocalFileSystemStorage:
    return LocalFileSystemStorage(root)


def all_files(directory: Path) -> list[str]:
    return sorted(str(p.relative_to(directory)) for p in directory.rglob("*") if p.is_file())


# --------------------------------------------------------------------------- layout
@asynctest
async def test_keys_are_plain_files_and_the_root_is_created_lazily(
    storage: LocalFileSystemStorage, root: Path
) -> None:
    assert not await storage.exists("repo")
    assert await storage.delete_batch(["repo"]) == 0
    assert [i async for i in storage.list()] == []
    with pytest.raises(NotFoundError):
        await storage.get("repo")
    assert not root.exists()  # reads and deletes never create it
    await storage.put("snapshots/ABC", b"snap")
    await storage.put("repo", b"info", mode=PutMode.CREATE)
    assert (root / "snapshots" / "ABC").read_bytes() == b"snap"
    assert (root / "repo").read_bytes() == b"info"
    listed = sorted([i.key async for i in storage.list()])
    assert listed == ["repo", "snapshots/ABC"]  # the lock directory is not listed


@asynctest
async def test_reads_files_written_by_others(storage: LocalFileSystemStorage, root: Path) -> None:
    (root / "manifests").mkdir(parents=True)
    (root / "manifests" / "M1").write_bytes(b"external")
    assert await storage.get("manifests/M1") == b"external"
    assert [i.key async for i in storage.list("manifests/")] == ["manifests/M1"]
    (root / "dir-not-object").mkdir()
    with pytest.raises(NotFoundError):
        await storage.get("dir-not-object")
    assert await storage.head("dir-not-object") is None


def test_path_is_absolute_and_storage_travels_in_repository_pickles(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    storage = LocalFileSystemStorage("relative/repo", fsync=False)
    assert storage.path == str(tmp_path / "relative" / "repo")
    assert "path: " + storage.path in repr(storage)
    with pytest.raises(TypeError, match="cannot pickle 'Storage' object"):
        pickle.dumps(storage)
    clone = pickle.loads(pickle.dumps(ic.Repository.create(storage))).storage
    assert clone == storage
    assert clone == local_filesystem_storage(str(tmp_path / "relative" / "repo"))
    assert clone != LocalFileSystemStorage(tmp_path / "other")
    assert clone._fsync is False
    with pytest.raises(InvalidInputError):
        LocalFileSystemStorage("")


@asynctest
async def test_a_root_that_is_a_file_gives_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "a-file"
    path.write_bytes(b"not a directory")
    storage = LocalFileSystemStorage(path)
    for call in (
        storage.put("repo", b"x"),
        storage.put("repo", b"x", mode=PutMode.CREATE),
        storage.get("repo"),
        storage.exists("repo"),
        storage.delete_batch(["repo"]),
    ):
        with pytest.raises(StorageError, match="not a directory") as info:
            await call
        assert info.value.kind == ErrorKind.STORAGE_CONFIG
    with pytest.raises(StorageError, match="not a directory"):
        [i async for i in storage.list()]
    assert path.read_bytes() == b"not a directory"


# --------------------------------------------------------------------------- atomicity
@asynctest
async def test_readers_never_see_a_partial_object(storage: LocalFileSystemStorage) -> None:
    big_a, big_b = b"a" * (1 << 20), b"b" * (3 << 19)
    await storage.put("repo", big_a)
    stop = threading.Event()
    seen: set[bytes] = set()

    def reader() -> None:
        reader_storage = LocalFileSystemStorage(storage.path)
        while not stop.is_set():
            data = asyncio.run(reader_storage.get("repo"))
            seen.add(data[:1] * len(data))
            assert data in (big_a, big_b)

    thread = threading.Thread(target=reader)
    thread.start()
    try:
        for i in range(30):
            await storage.put("repo", big_b if i % 2 else big_a)
    finally:
        stop.set()
        thread.join()
    assert seen <= {big_a, big_b}


@asynctest
async def test_no_temporary_files_are_left_or_listed(
    storage: LocalFileSystemStorage, root: Path
) -> None:
    stale = await storage.put("repo", b"v1", mode=PutMode.CREATE)
    await storage.put("repo", b"v2", mode=PutMode.UPDATE, expected_version=stale)
    with pytest.raises(ConditionalPutFailed):
        await storage.put("repo", b"v3", mode=PutMode.CREATE)
    with pytest.raises(ConditionalPutFailed):
        await storage.put("repo", b"v3", mode=PutMode.UPDATE, expected_version=stale)
    await storage.put("chunks/c", b"chunk")
    await storage.delete("chunks/c")
    assert [f for f in all_files(root) if "tmp" in f] == []
    stray = root / "snapshots" / ".icechunk-tmp-deadbeef"  # as left by a crashed writer
    stray.parent.mkdir()
    stray.write_bytes(b"partial")
    assert sorted([i.key async for i in storage.list()]) == ["repo"]


@asynctest
async def test_token_changes_with_content_even_if_stat_is_identical(
    storage: LocalFileSystemStorage, root: Path
) -> None:
    token = await storage.put("repo", b"AAAA")
    st = (root / "repo").stat()
    with (root / "repo").open("r+b") as handle:  # foreign in-place edit, same size
        handle.write(b"BBBB")
    os.utime(root / "repo", ns=(st.st_atime_ns, st.st_mtime_ns))
    assert (root / "repo").stat().st_ino == st.st_ino
    _, now = await storage.get_with_version("repo")
    assert now != token
    with pytest.raises(ConditionalPutFailed):
        await storage.put("repo", b"CCCC", mode=PutMode.UPDATE, expected_version=token)


@asynctest
async def test_fsync_off_still_writes_atomically(root: Path) -> None:
    storage = LocalFileSystemStorage(root, fsync=False)
    token = await storage.put("a/b/c", b"x", mode=PutMode.CREATE)
    await storage.put("a/b/c", b"y", mode=PutMode.UPDATE, expected_version=token)
    assert await LocalFileSystemStorage(root).get("a/b/c") == b"y"


# --------------------------------------------------------------------------- confinement
@asynctest
async def test_symlinks_cannot_escape_the_root(
    storage: LocalFileSystemStorage, tmp_path: Path
) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret").write_bytes(b"secret")
    await storage.put("repo", b"r")
    root = Path(storage.path)
    (root / "linkdir").symlink_to(outside, target_is_directory=True)
    (root / "linkfile").symlink_to(outside / "secret")
    attempts = [
        storage.put("linkdir/new", b"x"),
        storage.put("linkdir/secret", b"x"),
        storage.put("linkdir/sub/new", b"x", mode=PutMode.CREATE),
        storage.put("linkfile", b"x"),
        storage.get("linkdir/secret"),
        storage.get("linkfile"),
        storage.exists("linkfile"),
        storage.delete_batch(["linkdir/secret"]),
    ]
    for attempt in attempts:
        with pytest.raises(InvalidInputError) as info:
            await attempt
        assert info.value.kind == ErrorKind.BAD_KEY_PREFIX
    with pytest.raises(InvalidInputError):
        [i async for i in storage.list("linkdir/")]
    assert all_files(outside) == ["secret"]
    assert (outside / "secret").read_bytes() == b"secret"
    assert sorted([i.key async for i in storage.list()]) == ["repo"]  # links are not objects


@pytest.mark.parametrize("key", ["../escape", "a/../../escape", "/tmp/escape", "..\\escape"])
@asynctest
async def test_traversal_keys_write_nothing(
    storage: LocalFileSystemStorage, tmp_path: Path, key: str
) -> None:
    before = all_files(tmp_path)
    with pytest.raises(InvalidInputError):
        await storage.put(key, b"x")
    assert all_files(tmp_path) == before


# --------------------------------------------------------------------------- processes
_WORKER = textwrap.dedent(
    """
    import asyncio, json, sys, time
    from pathlib import Path
    from icechunk.storage import ConditionalPutFailed, LocalFileSystemStorage, PutMode

    async def increment(storage, times):
        conflicts = 0
        for _ in range(times):
            while True:
                data, version = await storage.get_with_version("counter")
                new = str(int(data) + 1).encode()
                try:
                    await storage.put("counter", new, mode=PutMode.UPDATE, expected_version=version)
                    break
                except ConditionalPutFailed:
                    conflicts += 1
        return {"conflicts": conflicts}

    async def create(storage, name):
        try:
            await storage.put("repo", name.encode(), mode=PutMode.CREATE)
            return {"won": True}
        except ConditionalPutFailed:
            return {"won": False}

    def main():
        root, go, action, arg = sys.argv[1:5]
        storage = LocalFileSystemStorage(root)
        while not Path(go).exists():
            time.sleep(0.001)
        job = increment(storage, int(arg)) if action == "increment" else create(storage, arg)
        print(json.dumps(asyncio.run(job)))

    main()
    """
)


def _run_workers(root: Path, action: str, args: list[str]) -> list[dict[str, object]]:
    go = root.parent / "go"
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", _WORKER, str(root), str(go), action, arg],
            stdout=subprocess.PIPE,
            text=True,
        )
        for arg in args
    ]
    go.touch()  # start them together
    outputs = [p.communicate(timeout=300)[0] for p in procs]
    assert [p.returncode for p in procs] == [0] * len(procs)
    return [json.loads(out) for out in outputs]


@pytest.mark.slow  # each worker process imports icechunk
def test_compare_and_swap_is_safe_between_processes(root: Path) -> None:
    asyncio.run(LocalFileSystemStorage(root).put("counter", b"0"))
    results = _run_workers(root, "increment", ["50"] * 4)
    assert (root / "counter").read_bytes() == b"200"  # no increment lost
    print("conflicts per process:", [r["conflicts"] for r in results])


@pytest.mark.slow  # each worker process imports icechunk
def test_create_race_between_processes_has_one_winner(root: Path) -> None:
    results = _run_workers(root, "create", [f"writer-{i}" for i in range(4)])
    assert sum(bool(r["won"]) for r in results) == 1
    winner = next(i for i, r in enumerate(results) if r["won"])
    assert (root / "repo").read_bytes() == f"writer-{winner}".encode()


# --------------------------------------------------------------------------- interop
@pytest.mark.interop
@asynctest
async def test_reads_a_repository_written_by_the_real_wheel(real_sample_repo: object) -> None:
    path = Path(real_sample_repo.path)  # type: ignore[attr-defined]
    storage = LocalFileSystemStorage(path)
    listed = {i.key: i.size_bytes async for i in storage.list()}
    assert listed == {f: (path / f).stat().st_size for f in all_files(path)}
    assert "repo" in listed
    assert any(k.startswith("snapshots/") for k in listed)
    assert await storage.get("repo") == (path / "repo").read_bytes()
