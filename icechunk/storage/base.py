"""The byte-level storage contract every backend implements.

A :class:`Storage` maps ``/``-separated keys (``"repo"``, ``"snapshots/1CEC..."``) to
byte strings. Its only concurrency primitive is the conditional put:
:attr:`PutMode.CREATE` (create-if-absent) and :attr:`PutMode.UPDATE` (compare-and-swap on
a :class:`VersionToken`); both fail with :class:`ConditionalPutFailed`.

This module is the bottom layer of the package: it knows nothing about the Icechunk
format and imports only :mod:`icechunk.errors`.
"""

from __future__ import annotations

import abc
import builtins
import dataclasses
import datetime as dt
import enum
import html
from collections.abc import AsyncIterator, Iterable
from typing import TYPE_CHECKING, Any

from icechunk._pickling import Unpicklable
from icechunk.errors import (
    ErrorKind,
    InvalidInputError,
    NotFoundError,
    ReadOnlyError,
    StorageError,
)
from icechunk.storage._constructors import CloudConstructors
from icechunk.storage._settings_render import RenderedSettings

if TYPE_CHECKING:
    from icechunk._config_core import Attribution
    from icechunk.storage.local import LocalFileSystemStorage
    from icechunk.storage.memory import InMemoryStorage

__all__ = [
    "ConditionalPutFailed",
    "ObjectInfo",
    "PutMode",
    "Storage",
    "StorageConcurrencySettings",
    "StorageObjectInfo",
    "StorageRetriesSettings",
    "StorageSettings",
    "StorageTimeoutSettings",
    "VersionToken",
    "merge_settings",
    "object_not_found",
    "validate_key",
    "validate_prefix",
]

#: Key components starting with this are reserved for backend bookkeeping (temporary
#: files, lock files) and are never valid in a key.
RESERVED_COMPONENT_PREFIX = ".icechunk-"


# --------------------------------------------------------------------------- value types
class PutMode(enum.Enum):
    """How :meth:`Storage.put` treats an existing object at the key."""

    #: Write unconditionally, replacing any existing object.
    OVERWRITE = "overwrite"
    #: Write only if no object exists at the key (create-if-absent).
    CREATE = "create"
    #: Write only if the current object's version equals ``expected_version`` (CAS).
    UPDATE = "update"


@dataclasses.dataclass(frozen=True, slots=True)
class VersionToken:
    """An opaque version of one stored object, like an HTTP ETag.

    Two different contents of the same key never share a token; a token is only
    meaningful for the storage and key it was obtained from.

    Parameters
    ----------
    value
        The backend-specific version string.
    """

    value: str

    def __str__(self) -> str:
        return self.value


@dataclasses.dataclass(frozen=True, slots=True)
class StorageObjectInfo:
    """What is known about one stored object without reading it.

    Parameters
    ----------
    key
        The object key, relative to the storage root.
    size_bytes
        Size of the object in bytes.
    created_at
        When this version of the object was written (UTC).
    version
        The object's :class:`VersionToken`, when the backend computed it (``head`` always
        does; listings may not).
    """

    key: str
    size_bytes: int
    created_at: dt.datetime
    version: VersionToken | None = None


#: Short alias used by the engine.
ObjectInfo = StorageObjectInfo


class ConditionalPutFailed(StorageError):
    """A conditional put lost: the key already existed, or its version had moved.

    Raised by :meth:`Storage.put` for :attr:`PutMode.CREATE` on an existing key and for
    :attr:`PutMode.UPDATE` when the current version differs from the expected one (or the
    object is gone). Callers re-read and retry, or report a conflict.

    Parameters
    ----------
    key
        The key whose conditional write failed (also an attribute).
    mode
        The :class:`PutMode` that was requested (also an attribute).
    message
        Optional message; by default one is built from the key and mode.
    """

    default_kind = ErrorKind.CONCURRENCY

    def __init__(self, key: str, mode: PutMode, message: str | None = None) -> None:
        if message is None:
            message = (
                f"cannot create {key!r}: an object already exists at that key"
                if mode is PutMode.CREATE
                else f"conditional update of {key!r} failed: it changed since it was read"
            )
        super().__init__(message, ErrorKind.CONCURRENCY)
        self.key = key
        self.mode = mode

    def _extra_state(self) -> dict[str, Any]:
        return {"key": self.key, "mode": self.mode.value}

    def _restore_extra_state(self, state: dict[str, Any]) -> None:
        self.key = state["key"]
        self.mode = PutMode(state["mode"])


# --------------------------------------------------------------------------- settings
#: Integer settings for which zero makes no sense; other integers only need to be >= 0.
_POSITIVE_FIELDS = frozenset(
    {"max_tries", "max_concurrent_requests_for_object", "ideal_concurrent_request_size"}
)


def _check_field(owner: str, name: str, value: object, annotation: str) -> None:
    """Check ``value`` against a ``"T | None"`` field annotation (builtin or settings T)."""
    type_name = annotation.split(" | ")[0]
    expected = {"int": int, "bool": bool, "str": str}.get(type_name) or globals()[type_name]
    if not isinstance(value, expected) or (isinstance(value, bool) and expected is not bool):
        raise TypeError(f"{owner}.{name} must be {type_name} or None, not {type(value).__name__}")
    minimum = 1 if name in _POSITIVE_FIELDS else 0
    if expected is int and isinstance(value, int) and value < minimum:
        raise InvalidInputError(
            f"{owner}.{name} must be at least {minimum}, got {value}", ErrorKind.STORAGE_CONFIG
        )


def _rebuild_settings(cls: type[_Validated], fields: dict[str, Any]) -> _Validated:
    return cls(**fields)


class _Validated(Unpicklable, RenderedSettings):
    """Type-checks every assignment to a dataclass field (the real classes do too)."""

    def _pickle_reduce(self) -> tuple[Any, ...]:
        fields = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}  # type: ignore[arg-type]
        return (_rebuild_settings, (type(self), fields))

    def __setattr__(self, name: str, value: object) -> None:
        field = getattr(self, "__dataclass_fields__", {}).get(name)
        if field is not None and value is not None:
            _check_field(type(self).__name__, name, value, str(field.type))
        object.__setattr__(self, name, value)


@dataclasses.dataclass(repr=False)
class StorageConcurrencySettings(_Validated):
    """How many concurrent requests Icechunk makes for one object.

    Parameters
    ----------
    max_concurrent_requests_for_object
        Upper bound on concurrent requests for one object; ``None`` uses the default.
    ideal_concurrent_request_size
        Preferred size in bytes of each part of a split request; ``None`` uses the default.
    """

    max_concurrent_requests_for_object: int | None = None
    ideal_concurrent_request_size: int | None = None


@dataclasses.dataclass(repr=False)
class StorageRetriesSettings(_Validated):
    """How failed requests are retried, with exponential backoff.

    Parameters
    ----------
    max_tries
        Maximum number of tries including the first; ``1`` disables retries.
    initial_backoff_ms
        First backoff duration in milliseconds.
    max_backoff_ms
        Cap on the backoff duration in milliseconds.
    """

    max_tries: int | None = None
    initial_backoff_ms: int | None = None
    max_backoff_ms: int | None = None


@dataclasses.dataclass(repr=False)
class StorageTimeoutSettings(_Validated):
    """Network timeouts of object-store clients, in milliseconds (``None``: client default).

    Parameters
    ----------
    connect_timeout_ms
        Timeout for establishing a connection.
    read_timeout_ms
        Timeout for reading a response.
    operation_timeout_ms
        Timeout for a whole operation, retries included.
    operation_attempt_timeout_ms
        Timeout for a single attempt of an operation.
    """

    connect_timeout_ms: int | None = None
    read_timeout_ms: int | None = None
    operation_timeout_ms: int | None = None
    operation_attempt_timeout_ms: int | None = None


@dataclasses.dataclass(repr=False)
class StorageSettings(_Validated):
    """How Icechunk uses a :class:`Storage`; ``None`` fields fall back to its defaults.

    Parameters
    ----------
    concurrency
        Request concurrency, see :class:`StorageConcurrencySettings`.
    retries
        Retry policy, see :class:`StorageRetriesSettings`.
    unsafe_use_conditional_create
        Use create-if-absent puts (default true); disabling loses consistency guarantees.
    unsafe_use_conditional_update
        Use compare-and-swap puts (default true); disabling loses consistency guarantees.
    unsafe_use_metadata
        Write object metadata fields (default true).
    storage_class
        Object-store storage class for every object, passed to the provider as is.
    metadata_storage_class
        Storage class for metadata objects (falls back to ``storage_class``).
    chunks_storage_class
        Storage class for chunk objects (falls back to ``storage_class``).
    minimum_size_for_multipart_upload
        Objects larger than this many bytes use multipart uploads.
    timeouts
        Client timeouts, see :class:`StorageTimeoutSettings`.
    """

    concurrency: StorageConcurrencySettings | None = None
    retries: StorageRetriesSettings | None = None
    unsafe_use_conditional_create: bool | None = None
    unsafe_use_conditional_update: bool | None = None
    unsafe_use_metadata: bool | None = None
    storage_class: str | None = None
    metadata_storage_class: str | None = None
    chunks_storage_class: str | None = None
    minimum_size_for_multipart_upload: int | None = None
    timeouts: StorageTimeoutSettings | None = None


def _overlay(base: Any, overrides: Any) -> Any:
    """Field-wise overlay of two settings dataclasses of the same type (None keeps base)."""
    if overrides is None:
        return base
    if base is None:
        return dataclasses.replace(overrides)
    changes = {}
    for field in dataclasses.fields(base):
        value = getattr(overrides, field.name)
        if dataclasses.is_dataclass(value):
            value = _overlay(getattr(base, field.name), value)
        if value is not None:
            changes[field.name] = value
    return dataclasses.replace(base, **changes)


def merge_settings(base: StorageSettings, overrides: StorageSettings | None) -> StorageSettings:
    """Overlay the non-``None`` fields of ``overrides`` (recursively) on ``base``.

    Parameters
    ----------
    base
        Usually :meth:`Storage.default_settings`.
    overrides
        User settings, e.g. from the repository configuration.

    Returns
    -------
    StorageSettings
        A new object; neither argument is modified.
    """
    merged: StorageSettings = _overlay(dataclasses.replace(base), overrides)
    return merged


# --------------------------------------------------------------------------- keys
def _bad_component(part: str) -> str | None:
    if part == "":
        return "empty path component"
    if part in (".", ".."):
        return f"{part!r} component"
    if part.startswith(RESERVED_COMPONENT_PREFIX):
        return f"reserved name {part!r}"
    return None


def _key_problem(key: object, allow_trailing_slash: bool) -> str | None:
    if not isinstance(key, str):
        return f"keys are str, not {type(key).__name__}"
    if any(ord(c) < 0x20 or c == "\x7f" for c in key):
        return "control character (NUL, newline...)"
    if "\\" in key:
        return "backslash"
    if key.startswith("/"):
        return "absolute key"
    body = key[:-1] if allow_trailing_slash and key.endswith("/") else key
    for part in body.split("/"):
        problem = _bad_component(part)
        if problem is not None:
            return problem
    return None


def validate_key(key: str) -> str:
    """Check that ``key`` is a relative ``/``-separated object key and return it.

    Raises
    ------
    InvalidInputError
        With kind ``INVALID_KEY`` for an empty or absolute key, ``.``/``..`` or empty
        components, backslashes, control characters or reserved names.
    """
    problem = "empty key" if key == "" else _key_problem(key, allow_trailing_slash=False)
    if problem is not None:
        raise InvalidInputError(f"invalid storage key {key!r}: {problem}", ErrorKind.INVALID_KEY)
    return key


def validate_prefix(prefix: str) -> str:
    """Check a listing prefix (``""``, a key, or a key prefix ending in ``/``) and return it.

    Raises
    ------
    InvalidInputError
        With kind ``BAD_KEY_PREFIX`` on the same problems as :func:`validate_key`.
    """
    if prefix == "":
        return prefix
    problem = _key_problem(prefix, allow_trailing_slash=True)
    if problem is not None:
        raise InvalidInputError(
            f"invalid storage prefix {prefix!r}: {problem}", ErrorKind.BAD_KEY_PREFIX
        )
    return prefix


def _check_range(byte_range: tuple[int, int | None] | None) -> tuple[int, int | None]:
    if byte_range is None:
        return 0, None
    start, end = byte_range
    if start < 0 or (end is not None and end < start):
        raise InvalidInputError(
            f"invalid byte range {byte_range!r}: need 0 <= start <= end",
            ErrorKind.INVALID_BYTE_RANGE,
        )
    return start, end


def strip_etag(etag: str) -> str:
    """An ETag without weak marker and quotes (``W/"abc"`` -> ``abc``)."""
    etag = etag.strip()
    if etag.startswith("W/"):
        etag = etag[2:]
    return etag[1:-1] if len(etag) >= 2 and etag[0] == etag[-1] == '"' else etag


def unchanged(info: StorageObjectInfo, etag: str | None, modified_by: dt.datetime | None) -> bool:
    """Whether an object (its head) still matches a recorded ETag / modification bound."""
    if etag is not None:
        return info.version is None or strip_etag(str(info.version)) == strip_etag(etag)
    if modified_by is not None:
        return info.created_at.replace(microsecond=0) <= modified_by
    return True


def object_not_found(key: str) -> NotFoundError:
    """The error every backend raises when no object exists at ``key``."""
    return NotFoundError(f"object not found in storage: {key!r}", ErrorKind.OBJECT_NOT_FOUND)


# --------------------------------------------------------------------------- storage
class Storage(Unpicklable, CloudConstructors, abc.ABC):
    """Byte-level access to the objects of one repository location.

    Build one with :func:`~icechunk.storage.in_memory_storage` or
    :func:`~icechunk.storage.local_filesystem_storage`. All I/O methods are coroutines;
    keys are ``/``-separated paths relative to the storage root (see
    :func:`validate_key`). Missing objects raise :class:`~icechunk.NotFoundError` with
    kind ``OBJECT_NOT_FOUND``; lost conditional puts raise :class:`ConditionalPutFailed`.

    A storage never pickles on its own (its credentials would travel in the clear); a
    pickled repository, read-only session or fork carries it, rebuilt from the private
    ``_pickle_reduce`` every backend implements.
    """

    _PICKLE_NAME = "Storage"

    @abc.abstractmethod
    def _pickle_reduce(self) -> tuple[Any, ...]:
        """``(rebuild, args)`` recreating this storage in another process."""

    # ------------------------------------------------------------------ constructors
    @classmethod
    def new_in_memory(cls) -> InMemoryStorage:
        """Create an in-memory storage, see :func:`~icechunk.storage.in_memory_storage`."""
        from icechunk.storage.memory import InMemoryStorage

        return InMemoryStorage()

    @classmethod
    def new_local_filesystem(cls, path: str) -> LocalFileSystemStorage:
        """Create a local storage, see :func:`~icechunk.storage.local_filesystem_storage`."""
        from icechunk.storage.local import LocalFileSystemStorage

        return LocalFileSystemStorage(path)

    # ------------------------------------------------------------------ capabilities
    @property
    def can_write(self) -> bool:
        """Whether :meth:`put` and :meth:`delete_batch` are allowed."""
        return True

    @property
    def _at_bucket_root(self) -> bool:
        """Whether this is an object store rooted at a bucket's top level (empty prefix)."""
        return False

    @property
    def supports_conditional_put(self) -> bool:
        """Whether :attr:`PutMode.CREATE` and :attr:`PutMode.UPDATE` are atomic."""
        return True

    @property
    def settings(self) -> StorageSettings:
        """The settings this storage uses when none are given (a fresh copy)."""
        return self.default_settings()

    def with_settings(self, settings: StorageSettings | None) -> Storage:
        """This storage using ``settings`` (overlaid on its defaults) for its requests.

        Backends with nothing to tune (memory, local disk) return themselves; object
        stores return a copy with its own client.
        """
        return self

    def with_attribution(self, attribution: Attribution | None) -> Storage:
        """This storage labelling its requests with ``attribution`` (User-Agent).

        Only HTTP-based object stores send a User-Agent; the others return themselves.
        """
        return self

    def with_repository_settings(self, overrides: StorageSettings | None) -> Storage:
        """This storage with a repository's ``config.storage`` overlaid on its own settings.

        Parameters
        ----------
        overrides
            The :attr:`RepositoryConfig.storage` of the repository opened on this storage;
            ``None`` returns this storage unchanged.
        """
        if overrides is None:
            return self
        return self.with_settings(merge_settings(self.settings, overrides))

    def default_settings(self) -> StorageSettings:
        """The backend's default :class:`StorageSettings` (a fresh, mutable copy)."""
        return StorageSettings(
            concurrency=StorageConcurrencySettings(
                max_concurrent_requests_for_object=18,
                ideal_concurrent_request_size=12 * 1024 * 1024,
            ),
            retries=StorageRetriesSettings(
                max_tries=10, initial_backoff_ms=100, max_backoff_ms=180_000
            ),
        )

    # ------------------------------------------------------------------ reads
    async def get(self, key: str, byte_range: tuple[int, int | None] | None = None) -> bytes:
        """Read an object, or its bytes ``[start, end)`` (``end=None``: to the end).

        A range reaching past the end of the object is truncated, like slicing.

        Raises
        ------
        NotFoundError
            With kind ``OBJECT_NOT_FOUND`` if no object exists at ``key``.
        """
        start, end = _check_range(byte_range)
        return await self._get(validate_key(key), start, end)

    async def get_suffix(self, key: str, length: int) -> bytes:
        """Read the last ``length`` bytes of an object (all of it if it is shorter)."""
        if length < 0:
            raise InvalidInputError(
                f"suffix length must be >= 0, got {length}", ErrorKind.INVALID_BYTE_RANGE
            )
        return await self._get_suffix(validate_key(key), length)

    async def get_with_version(self, key: str) -> tuple[bytes, VersionToken]:
        """Read a whole object together with the version token of exactly those bytes."""
        return await self._get_with_version(validate_key(key))

    async def get_if_unchanged(
        self,
        key: str,
        byte_range: tuple[int, int | None],
        etag: str | None = None,
        modified_by: dt.datetime | None = None,
    ) -> bytes | None:
        """Bytes ``[start, end)`` of ``key`` if the object has not changed, else ``None``.

        Parameters
        ----------
        etag
            The object's ETag (or GCS generation) when the caller saw it; quotes optional.
        modified_by
            The object must not have been modified after this time (whole seconds count).

        Raises
        ------
        NotFoundError
            With kind ``OBJECT_NOT_FOUND`` when the object does not exist.
        """
        start, end = _check_range(byte_range)
        return await self._get_if_unchanged(validate_key(key), start, end, etag, modified_by)

    async def _get_if_unchanged(
        self,
        key: str,
        start: int,
        end: int | None,
        etag: str | None,
        modified_by: dt.datetime | None,
    ) -> bytes | None:
        """Default: compare the object's head, then read (object stores send preconditions)."""
        info = await self._head(key)
        if info is None:
            raise object_not_found(key)
        if not unchanged(info, etag, modified_by):
            return None
        return await self._get(key, start, end)

    async def head(self, key: str) -> StorageObjectInfo | None:
        """Size, version and write time of an object, or ``None`` if it does not exist."""
        return await self._head(validate_key(key))

    async def exists(self, key: str) -> bool:
        """Whether an object exists at ``key``."""
        return await self._exists(validate_key(key))

    def list(self, prefix: str = "") -> AsyncIterator[StorageObjectInfo]:
        """Iterate over the objects whose key starts with ``prefix``, in no given order.

        Listed infos may carry no :attr:`~StorageObjectInfo.version`.
        """
        return self._list(validate_prefix(prefix))

    # ------------------------------------------------------------------ writes
    async def put(
        self,
        key: str,
        data: bytes | bytearray | memoryview,
        *,
        mode: PutMode = PutMode.OVERWRITE,
        expected_version: VersionToken | None = None,
    ) -> VersionToken:
        """Write an object atomically and return its new :class:`VersionToken`.

        Readers see the old bytes or the new, never a mix. ``expected_version`` is
        required with, and only allowed with, :attr:`PutMode.UPDATE`.

        Raises
        ------
        ConditionalPutFailed
            CREATE on an existing key; UPDATE when the current version differs from
            ``expected_version`` or the object is gone. Nothing is written then.
        """
        self._check_put_args(mode, expected_version)
        self._check_writable()
        return await self._put(validate_key(key), bytes(data), mode, expected_version)

    async def delete_batch(self, keys: Iterable[str]) -> int:
        """Delete objects; missing keys are ignored. Returns how many objects were deleted."""
        self._check_writable()
        checked = [validate_key(k) for k in keys]
        return await self._delete_batch(checked) if checked else 0

    async def delete(self, key: str) -> bool:
        """Delete one object; returns whether it existed."""
        return await self.delete_batch([key]) == 1

    async def _reclaim_abandoned_writes(self, older_than: dt.datetime) -> int:
        """Remove leftovers of writes cut off before ``older_than``; return how many.

        Object stores publish an object in one request, so they leave none: the default
        does nothing. Local storage overrides it (temporary files of interrupted puts).
        """
        del older_than
        return 0

    # ------------------------------------------------------------------ sync helpers
    def list_objects(
        self, settings: StorageSettings | None = None, prefix: str | None = None
    ) -> builtins.list[tuple[str, int]]:
        """``(key, size_in_bytes)`` of every object under ``prefix`` (blocking; no loop).

        ``settings`` is accepted for API compatibility and ignored.
        """
        return [(o.key, o.size_bytes) for o in self.list_objects_metadata(settings, prefix)]

    def list_objects_metadata(
        self, settings: StorageSettings | None = None, prefix: str | None = None
    ) -> builtins.list[StorageObjectInfo]:
        """:class:`StorageObjectInfo` of every object under ``prefix`` (blocking)."""
        from zarr.core.sync import sync

        async def collect() -> builtins.list[StorageObjectInfo]:
            return [info async for info in self.list(prefix or "")]

        result: builtins.list[StorageObjectInfo] = sync(collect())
        return result

    # ------------------------------------------------------------------ presentation
    def __repr__(self) -> str:
        lines = ["<icechunk.Storage>"] + [f"{k}: {v}" for k, v in self._description()]
        return "\n".join(lines) + "\n"  # the real icechunk ends it with a newline too

    def _repr_html_(self) -> str:
        rows = "".join(
            f"<tr><td>{html.escape(str(k))}</td><td>{html.escape(str(v))}</td></tr>"
            for k, v in self._description()
        )
        return (
            '<div class="icechunk-repr"><div style="font-weight:bold">icechunk.Storage</div>'
            f"<table>{rows}</table></div>"
        )

    # ------------------------------------------------------------------ internals
    @staticmethod
    def _check_put_args(mode: PutMode, expected: VersionToken | None) -> None:
        if not isinstance(mode, PutMode):
            raise InvalidInputError(f"mode must be a PutMode, not {mode!r}")
        if mode is PutMode.UPDATE and not isinstance(expected, VersionToken):
            raise InvalidInputError("PutMode.UPDATE needs expected_version=<VersionToken>")
        if mode is not PutMode.UPDATE and expected is not None:
            raise InvalidInputError("expected_version is only allowed with PutMode.UPDATE")

    def _check_writable(self) -> None:
        if not self.can_write:
            raise ReadOnlyError(
                f"{type(self).__name__} is read-only; open a writable storage to change it",
                ErrorKind.READ_ONLY_STORAGE,
            )

    async def _exists(self, key: str) -> bool:
        return await self._head(key) is not None

    @abc.abstractmethod
    def _description(self) -> builtins.list[tuple[str, str]]:
        """``(label, value)`` pairs for the repr; must hold no secrets."""

    @abc.abstractmethod
    async def _get(self, key: str, start: int, end: int | None) -> bytes: ...

    @abc.abstractmethod
    async def _get_suffix(self, key: str, length: int) -> bytes: ...

    @abc.abstractmethod
    async def _get_with_version(self, key: str) -> tuple[bytes, VersionToken]: ...

    @abc.abstractmethod
    async def _head(self, key: str) -> StorageObjectInfo | None: ...

    @abc.abstractmethod
    async def _put(
        self, key: str, data: bytes, mode: PutMode, expected: VersionToken | None
    ) -> VersionToken: ...

    @abc.abstractmethod
    def _list(self, prefix: str) -> AsyncIterator[StorageObjectInfo]: ...

    @abc.abstractmethod
    async def _delete_batch(self, keys: builtins.list[str]) -> int: ...
