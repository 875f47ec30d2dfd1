"""A storage over a directory of the local filesystem.

Every key is a file under the root directory, so a repository written here can be read
by the real ``icechunk`` and vice versa. Guarantees:

* **Atomic writes**: content goes to a temporary file in the target directory, then is
  moved into place with ``os.replace`` (or hard-linked for create-if-absent). Readers
  never see a partial object.
* **Durability of published data** (``fsync=True``, the default): see "Durability" below.
* **Create-if-absent** uses ``os.link``, which fails if the target exists.
* **Compare-and-swap** is safe between processes that use this module: the writer holds
  an exclusive ``fcntl.flock`` on a lock file in ``<root>/.icechunk-locks/`` while it
  re-reads the current version, compares and replaces. Overwrites and deletes take the
  same lock. (The real ``icechunk`` takes no lock, so it is not protected against.)
* **Version tokens** combine inode, size, modification time and a SHA-256 prefix of the
  content, so two different contents never share a token. Computing one reads the file.
* **Confinement**: a key resolving outside the root (``..``, absolute paths, symlinks)
  is rejected before anything is written.

Names starting with ``.icechunk-`` (temporary files, the lock directory) are never
listed and are not valid key components. Blocking work runs in ``asyncio.to_thread``.

Durability
----------
Objects under the content-addressed prefixes (``chunks/``, ``manifests/``, ``snapshots/``,
``transactions/``) and the uniquely named ``overwritten/`` backups of the repository info
file are immutable and unreachable until a later write of the repository info file (or a
v1 ref) names them; a crash before that write loses nothing committed, only orphans. So
those writes are *not* fsync'd one by one (that was half of the time of a large write).
Every other write -- the repository info compare-and-swap, refs, config -- first makes
all earlier writes durable, then is written and fsync'd (file and directory) itself. "All earlier writes" is one ``syncfs(2)`` of the
filesystem holding the root on Linux, which also covers objects written by other
processes (e.g. distributed workers whose chunks a coordinator commits); elsewhere it is
an ``fsync`` of every deferred file (and its directories) that this process wrote, done
in parallel threads. Either way the published ref never points at data that a crash
could lose. On Linux each deferred write also starts its own writeback right away
(``sync_file_range``, non-blocking), so the disk works while the session computes and the
flush before the publish has less left to do.
"""

from __future__ import annotations

import asyncio
import builtins
import concurrent.futures
import contextlib
import ctypes
import datetime as dt
import fcntl
import hashlib
import os
import stat
import sys
import threading
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

from icechunk.errors import ErrorKind, InvalidInputError, NotFoundError, StorageError
from icechunk.storage import _local_reclaim
from icechunk.storage.base import (
    RESERVED_COMPONENT_PREFIX,
    ConditionalPutFailed,
    PutMode,
    Storage,
    StorageConcurrencySettings,
    StorageObjectInfo,
    StorageRetriesSettings,
    StorageSettings,
    VersionToken,
    object_not_found,
)

__all__ = ["LocalFileSystemStorage", "local_filesystem_storage"]

LOCK_DIR = RESERVED_COMPONENT_PREFIX + "locks"
TEMP_PREFIX = _local_reclaim.TEMP_PREFIX
_LIST_BATCH = 1000
#: Immutable, content-addressed objects: their fsync is deferred to the next publishing
#: write (see "Durability" in the module docstring).
DEFERRED_SYNC_PREFIXES = ("chunks/", "manifests/", "snapshots/", "transactions/", "overwritten/")
_SYNC_THREADS = 16


class LocalFileSystemStorage(Storage):
    """Objects stored as files under a root directory; see :func:`local_filesystem_storage`.

    Parameters
    ----------
    path
        The root directory; made absolute now, created on the first write.
    fsync
        Make committed data durable (the default): immutable objects are flushed in one
        batch right before the write that publishes them, which is itself fsync'd (see
        the module docstring). Turning it off is faster but a machine crash can lose or
        truncate recent objects, including a commit that was reported as done.
    """

    def __init__(self, path: str | os.PathLike[str], *, fsync: bool = True) -> None:
        raw = os.fspath(path)
        if not isinstance(raw, str) or not raw or "\x00" in raw:
            raise InvalidInputError(f"invalid local storage path {raw!r}", ErrorKind.STORAGE_CONFIG)
        self._root = os.path.abspath(raw)
        self._fsync = fsync

    @property
    def path(self) -> str:
        """The absolute root directory."""
        return self._root

    # ------------------------------------------------------------------ identity
    def __eq__(self, other: object) -> bool:
        if not isinstance(other, LocalFileSystemStorage):
            return NotImplemented
        return self._root == other._root

    def __hash__(self) -> int:
        return hash((LocalFileSystemStorage, self._root))

    def _pickle_reduce(self) -> tuple[Any, ...]:
        return (_rebuild, (self._root, self._fsync))

    def _description(self) -> builtins.list[tuple[str, str]]:
        return [("type", "local filesystem"), ("path", self._root)]

    def default_settings(self) -> StorageSettings:
        """Defaults for local disk: no retries, no object metadata (as the real package).

        ``unsafe_use_conditional_update`` reads False because a local directory has no
        compare-and-swap put; this backend emulates it with a lock file regardless.
        """
        return StorageSettings(
            concurrency=StorageConcurrencySettings(
                max_concurrent_requests_for_object=5,
                ideal_concurrent_request_size=4096,
            ),
            retries=StorageRetriesSettings(max_tries=1, initial_backoff_ms=0, max_backoff_ms=0),
            unsafe_use_conditional_update=False,
            unsafe_use_metadata=False,
        )

    # ------------------------------------------------------------------ operations
    async def _get(self, key: str, start: int, end: int | None) -> bytes:
        return await asyncio.to_thread(_read_range, self._root, key, start, end)

    async def _get_suffix(self, key: str, length: int) -> bytes:
        return await asyncio.to_thread(_read_suffix, self._root, key, length)

    async def _get_with_version(self, key: str) -> tuple[bytes, VersionToken]:
        return await asyncio.to_thread(_read_versioned, self._root, key)

    async def _head(self, key: str) -> StorageObjectInfo | None:
        return await asyncio.to_thread(_head, self._root, key)

    async def _exists(self, key: str) -> bool:
        return await asyncio.to_thread(_exists, self._root, key)

    async def _put(
        self, key: str, data: bytes, mode: PutMode, expected: VersionToken | None
    ) -> VersionToken:
        return await asyncio.to_thread(_put, self._root, key, data, mode, expected, self._fsync)

    async def _delete_batch(self, keys: builtins.list[str]) -> int:
        return await asyncio.to_thread(_delete_batch, self._root, keys)

    async def _reclaim_abandoned_writes(self, older_than: dt.datetime) -> int:
        return await asyncio.to_thread(
            _local_reclaim.remove_abandoned_temp_files, self._root, older_than
        )

    async def _list(self, prefix: str) -> AsyncIterator[StorageObjectInfo]:
        scan = _scan(self._root, prefix)
        while True:
            batch = await asyncio.to_thread(_take, scan, _LIST_BATCH)
            for info in batch:
                yield info
            if len(batch) < _LIST_BATCH:
                return


def _rebuild(root: str, fsync: bool) -> LocalFileSystemStorage:
    return LocalFileSystemStorage(root, fsync=fsync)


def local_filesystem_storage(path: str) -> Storage:
    """Create a storage that keeps objects as files under the directory ``path``.

    The directory is created on the first write. Concurrent commits from several
    pyicechunk processes are safe (see :mod:`icechunk.storage.local`); object stores
    remain the better choice for production data.

    Parameters
    ----------
    path
        Root directory of the repository; relative paths are made absolute now.

    Returns
    -------
    Storage
        A :class:`LocalFileSystemStorage`.
    """
    return LocalFileSystemStorage(path)


# --------------------------------------------------------------------------- paths
def _object_path(root: str, key: str) -> str:
    """The file for ``key``, refusing any key that resolves outside ``root``."""
    path = os.path.join(root, *key.split("/"))
    real_root = os.path.realpath(root)
    if not os.path.realpath(path).startswith(real_root + os.sep):
        raise InvalidInputError(
            f"storage key {key!r} resolves outside the storage root {root!r} "
            "(through a symbolic link?)",
            ErrorKind.BAD_KEY_PREFIX,
        )
    return path


def _root_problem(root: str) -> StorageError | None:
    if os.path.exists(root) and not os.path.isdir(root):
        return StorageError(
            f"local storage path {root!r} exists but is not a directory; "
            "point the storage at a directory (or a path that does not exist yet)",
            ErrorKind.STORAGE_CONFIG,
        )
    return None


def _io_error(root: str, key: str, action: str, exc: OSError) -> StorageError:
    problem = _root_problem(root)
    if problem is not None:
        return problem
    return StorageError(
        f"cannot {action} {key!r} in local storage {root!r}: {exc.strerror or exc}",
        ErrorKind.IO,
    )


def _mtime(st: os.stat_result) -> dt.datetime:
    seconds, nanos = divmod(st.st_mtime_ns, 1_000_000_000)
    return dt.datetime.fromtimestamp(seconds, dt.UTC).replace(microsecond=nanos // 1000)


def _token(st: os.stat_result, data: bytes) -> VersionToken:
    digest = hashlib.sha256(data).hexdigest()[:32]
    return VersionToken(f"{st.st_ino:x}-{st.st_size:x}-{st.st_mtime_ns:x}-{digest}")


# --------------------------------------------------------------------------- reads
@contextlib.contextmanager
def _opened(root: str, key: str) -> Iterator[tuple[int, os.stat_result]]:
    """Open the object read-only; a missing or non-regular file is "not found"."""
    path = _object_path(root, key)
    try:
        fd = os.open(path, os.O_RDONLY)
    except (FileNotFoundError, NotADirectoryError) as exc:
        raise (_root_problem(root) or object_not_found(key)) from exc
    except OSError as exc:
        raise _io_error(root, key, "read", exc) from exc
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise object_not_found(key)
        yield fd, st
    except OSError as exc:
        raise _io_error(root, key, "read", exc) from exc
    finally:
        os.close(fd)


def _pread_all(fd: int, length: int, offset: int) -> bytes:
    parts = []
    while length > 0:
        part = os.pread(fd, length, offset)
        if not part:
            break
        parts.append(part)
        length -= len(part)
        offset += len(part)
    return b"".join(parts)


def _read_range(root: str, key: str, start: int, end: int | None) -> bytes:
    with _opened(root, key) as (fd, st):
        stop = st.st_size if end is None else min(end, st.st_size)
        return _pread_all(fd, stop - start, start) if stop > start else b""


def _read_suffix(root: str, key: str, length: int) -> bytes:
    with _opened(root, key) as (fd, st):
        take = min(length, st.st_size)
        return _pread_all(fd, take, st.st_size - take)


def _read_versioned(root: str, key: str) -> tuple[bytes, VersionToken]:
    with _opened(root, key) as (fd, st):
        data = _pread_all(fd, st.st_size, 0)
        return data, _token(st, data)


def _head(root: str, key: str) -> StorageObjectInfo | None:
    try:
        with _opened(root, key) as (fd, st):
            data = _pread_all(fd, st.st_size, 0)
    except NotFoundError:
        return None
    return StorageObjectInfo(key, st.st_size, _mtime(st), _token(st, data))


def _exists(root: str, key: str) -> bool:
    problem = _root_problem(root)
    if problem is not None:
        raise problem
    return os.path.isfile(_object_path(root, key))


# --------------------------------------------------------------------------- writes
def _put(
    root: str, key: str, data: bytes, mode: PutMode, expected: VersionToken | None, sync: bool
) -> VersionToken:
    path = _object_path(root, key)
    parent = os.path.dirname(path)
    deferred = sync and key.startswith(DEFERRED_SYNC_PREFIXES)
    sync_now = sync and not deferred
    try:
        if sync_now:
            _make_pending_durable(root)
        _ensure_dir(parent, sync_now)
        tmp, token = _write_temp(parent, data, sync_now, start_writeback=deferred)
        try:
            _COMMITS[mode](root, key, path, tmp, expected)
        finally:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
        if sync_now:
            _fsync_dir(parent)
        elif deferred and _SYNCFS is None:
            _PENDING.add(root, path)
    except OSError as exc:
        raise _io_error(root, key, "write", exc) from exc
    return token


def _ensure_dir(directory: str, sync: bool) -> None:
    """Create ``directory`` and its missing parents, syncing each new directory entry."""
    missing = []
    probe = directory
    while not os.path.isdir(probe):
        missing.append(probe)
        probe = os.path.dirname(probe)
    if not missing:
        return
    os.makedirs(directory, exist_ok=True)
    if sync:
        for created in reversed(missing):
            _fsync_dir(os.path.dirname(created))


def _write_temp(
    directory: str, data: bytes, sync: bool, *, start_writeback: bool = False
) -> tuple[str, VersionToken]:
    """Write ``data`` to a fresh temporary file in ``directory``; return it and its token.

    ``start_writeback`` asks the kernel to begin writing the pages out now without
    waiting (Linux ``sync_file_range``), so the flush before the next publish overlaps
    with the rest of the session's work instead of starting from 0 then.
    """
    tmp = os.path.join(directory, TEMP_PREFIX + uuid.uuid4().hex)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
        if sync:
            os.fsync(fd)
        elif start_writeback and _SYNC_FILE_RANGE is not None:
            _SYNC_FILE_RANGE(fd, 0, 0, _SYNC_FILE_RANGE_WRITE)  # advisory: result ignored
        st = os.fstat(fd)
    except BaseException:
        os.close(fd)
        os.unlink(tmp)
        raise
    os.close(fd)
    return tmp, _token(st, data)


class _PendingSyncs:
    """Deferred files per storage root, for platforms without ``syncfs`` (thread-safe)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._paths: dict[str, set[str]] = {}

    def add(self, root: str, path: str) -> None:
        with self._lock:
            self._paths.setdefault(root, set()).add(path)

    def take(self, root: str) -> set[str]:
        with self._lock:
            return self._paths.pop(root, set())


_PENDING = _PendingSyncs()


def _load_syncfs() -> Callable[[int], int] | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        fn: Callable[[int], int] = ctypes.CDLL(None, use_errno=True).syncfs
    except (OSError, AttributeError):
        return None
    return fn


_SYNCFS = _load_syncfs()
_SYNC_FILE_RANGE_WRITE = 2


def _load_sync_file_range() -> Callable[[int, int, int, int], int] | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        fn = ctypes.CDLL(None, use_errno=True).sync_file_range
    except (OSError, AttributeError):
        return None
    fn.argtypes = [ctypes.c_int, ctypes.c_int64, ctypes.c_int64, ctypes.c_uint]
    fn.restype = ctypes.c_int
    result: Callable[[int, int, int, int], int] = fn
    return result


_SYNC_FILE_RANGE = _load_sync_file_range()


def _make_pending_durable(root: str) -> None:
    """Make every deferred write under ``root`` durable before a publishing write."""
    if _SYNCFS is not None:
        if not os.path.isdir(root):
            return  # nothing was written yet
        fd = os.open(root, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
        try:
            if _SYNCFS(fd) != 0:
                err = ctypes.get_errno()
                raise OSError(err, os.strerror(err))
        finally:
            os.close(fd)
        return
    paths = _PENDING.take(root)
    if not paths:
        return
    dirs = {root}
    for path in paths:
        parent = os.path.dirname(path)
        while parent.startswith(root + os.sep) and parent not in dirs:
            dirs.add(parent)
            parent = os.path.dirname(parent)
    try:
        with concurrent.futures.ThreadPoolExecutor(_SYNC_THREADS) as pool:
            list(pool.map(_fsync_file, paths))
            list(pool.map(_fsync_dir, dirs))
    except BaseException:
        for path in paths:  # keep them pending: the publishing write is not attempted
            _PENDING.add(root, path)
        raise


def _fsync_file(path: str) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        return  # deleted since (garbage collection): nothing to keep
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_dir(directory: str) -> None:
    fd = os.open(directory, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _commit_overwrite(
    root: str, key: str, path: str, tmp: str, expected: VersionToken | None
) -> None:
    with _locked(root, _shard(key)):
        os.replace(tmp, path)


def _commit_create(root: str, key: str, path: str, tmp: str, expected: VersionToken | None) -> None:
    try:
        os.link(tmp, path)
    except FileExistsError as exc:
        raise ConditionalPutFailed(key, PutMode.CREATE) from exc


def _commit_update(root: str, key: str, path: str, tmp: str, expected: VersionToken | None) -> None:
    with _locked(root, _shard(key)):
        try:
            _, current = _read_versioned(root, key)
        except NotFoundError as exc:
            raise ConditionalPutFailed(key, PutMode.UPDATE) from exc
        if current != expected:
            raise ConditionalPutFailed(key, PutMode.UPDATE)
        os.replace(tmp, path)


_COMMITS: dict[PutMode, Callable[[str, str, str, str, VersionToken | None], None]] = {
    PutMode.OVERWRITE: _commit_overwrite,
    PutMode.CREATE: _commit_create,
    PutMode.UPDATE: _commit_update,
}


def _shard(key: str) -> str:
    """Lock shard of a key: 256 lock files bound the lock directory's size."""
    return hashlib.sha256(key.encode()).hexdigest()[:2]


@contextlib.contextmanager
def _locked(root: str, shard: str) -> Iterator[None]:
    """Hold the exclusive inter-process lock of one shard of keys."""
    lock_dir = os.path.join(root, LOCK_DIR)
    os.makedirs(lock_dir, exist_ok=True)
    fd = os.open(os.path.join(lock_dir, shard + ".lock"), os.O_RDWR | os.O_CREAT, 0o666)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing the descriptor releases the lock


def _delete_batch(root: str, keys: builtins.list[str]) -> int:
    by_shard: dict[str, builtins.list[tuple[str, str]]] = {}
    for key in keys:
        by_shard.setdefault(_shard(key), []).append((key, _object_path(root, key)))
    if not os.path.isdir(root):
        problem = _root_problem(root)
        if problem is not None:
            raise problem
        return 0
    return sum(_delete_shard(root, shard, items) for shard, items in by_shard.items())


def _delete_shard(root: str, shard: str, items: builtins.list[tuple[str, str]]) -> int:
    deleted = 0
    with _locked(root, shard):
        for key, path in items:
            try:
                os.unlink(path)
                deleted += 1
            except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
                pass
            except OSError as exc:
                raise _io_error(root, key, "delete", exc) from exc
    return deleted


# --------------------------------------------------------------------------- listing
def _scan(root: str, prefix: str) -> Iterator[StorageObjectInfo]:
    """Every object whose key starts with ``prefix``, walking only the needed directories."""
    problem = _root_problem(root)
    if problem is not None:
        raise problem
    head = prefix.rpartition("/")[0]
    base = _object_path(root, head) if head else root
    yield from _walk(base, head, prefix)


def _walk(directory: str, rel: str, prefix: str) -> Iterator[StorageObjectInfo]:
    try:
        with os.scandir(directory) as it:
            entries = sorted(it, key=lambda e: e.name)
    except (FileNotFoundError, NotADirectoryError):
        return
    for entry in entries:
        if entry.name.startswith(RESERVED_COMPONENT_PREFIX):
            continue
        key = f"{rel}/{entry.name}" if rel else entry.name
        try:
            if entry.is_dir(follow_symlinks=False):
                if key.startswith(prefix) or prefix.startswith(key + "/"):
                    yield from _walk(entry.path, key, prefix)
            elif entry.is_file(follow_symlinks=False) and key.startswith(prefix):
                st = entry.stat(follow_symlinks=False)
                yield StorageObjectInfo(key, st.st_size, _mtime(st))
        except FileNotFoundError:
            continue  # removed while we were listing


def _take(it: Iterator[StorageObjectInfo], n: int) -> builtins.list[StorageObjectInfo]:
    out = []
    for item in it:
        out.append(item)
        if len(out) == n:
            break
    return out
