"""Object-store descriptions used by virtual chunk containers.

:class:`ObjectStoreConfig` says *where and how* to read the bytes of virtual chunks (S3, GCS,
Azure, HTTP, a local directory ...). These are plain values: they open no connection and hold
no credentials.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from enum import IntEnum
from pathlib import Path
from typing import Any, ClassVar

from icechunk._config_base import (
    Display,
    Field,
    Shown,
    Struct,
    Variant,
    check_bool,
    check_instance,
    check_opt_str,
    check_str,
    check_str_map,
    config_format_error,
    opt_uint,
    quote,
    render_html,
    render_text,
    repr_str_map,
    require_map,
)

__all__ = [
    "AnyObjectStoreConfig",
    "ChecksumAlgorithm",
    "ObjectStoreConfig",
    "S3Options",
]


class ChecksumAlgorithm(IntEnum):
    """Checksum algorithm for S3 write requests.

    When :attr:`S3Options.checksum_algorithm` is None the AWS SDK chooses; some
    S3-compatible services accept only some algorithms.
    """

    Crc32 = 0
    Crc32c = 1
    Crc64Nvme = 2
    Sha1 = 3
    Sha256 = 4

    def __repr__(self) -> str:
        return f"ChecksumAlgorithm.{self.name}"

    __str__ = __repr__


_CHECKSUM_NAMES = {
    ChecksumAlgorithm.Crc32: "crc32",
    ChecksumAlgorithm.Crc32c: "crc32c",
    ChecksumAlgorithm.Crc64Nvme: "crc64_nvme",
    ChecksumAlgorithm.Sha1: "sha1",
    ChecksumAlgorithm.Sha256: "sha256",
}
_CHECKSUM_BY_NAME = {v: k for k, v in _CHECKSUM_NAMES.items()}


def _check_checksum(value: object, what: str) -> ChecksumAlgorithm | None:
    if value is None:
        return None
    return check_instance(value, ChecksumAlgorithm, what)


def _req_bool(value: object, what: str) -> bool:
    return check_bool(value, what)


class S3Options(Struct):
    """Options for reaching an S3-compatible object store.

    Parameters
    ----------
    region
        The region; None lets the SDK decide.
    endpoint_url
        A custom endpoint, for S3-compatible services.
    allow_http
        Whether plain HTTP is allowed.
    anonymous
        Whether requests are sent unsigned.
    force_path_style
        Whether to use path-style bucket addressing.
    network_stream_timeout_seconds
        Abort a request when no bytes flow for this long; 0 disables, None is the SDK
        default.
    requester_pays
        Whether to send the requester-pays header.
    checksum_algorithm
        Checksum for write requests; None lets the SDK decide.
    """

    __slots__ = (
        "_allow_http",
        "_anonymous",
        "_checksum_algorithm",
        "_endpoint_url",
        "_force_path_style",
        "_network_stream_timeout_seconds",
        "_region",
        "_requester_pays",
    )
    _FIELDS = (
        "region",
        "endpoint_url",
        "allow_http",
        "anonymous",
        "force_path_style",
        "network_stream_timeout_seconds",
        "requester_pays",
        "checksum_algorithm",
    )
    _REPR_NAME = "icechunk.storage.S3Options"

    region = Field(check_opt_str, "The region of the store, or None for the SDK's choice.")
    endpoint_url = Field(check_opt_str, "A custom endpoint URL, or None.")
    allow_http = Field(_req_bool, "Whether plain HTTP requests are allowed.")
    anonymous = Field(_req_bool, "Whether requests are sent unsigned.")
    force_path_style = Field(_req_bool, "Whether path-style bucket addressing is forced.")
    network_stream_timeout_seconds = Field(
        opt_uint(32), "Idle-stream timeout in seconds; 0 disables it, None is the SDK default."
    )
    requester_pays = Field(_req_bool, "Whether requester-pays requests are enabled.")
    checksum_algorithm = Field(
        _check_checksum, "The checksum algorithm for writes, or None for the SDK's choice."
    )

    def __init__(
        self,
        region: str | None = None,
        endpoint_url: str | None = None,
        allow_http: bool = False,
        anonymous: bool = False,
        force_path_style: bool = False,
        network_stream_timeout_seconds: int | None = None,
        requester_pays: bool = False,
        checksum_algorithm: ChecksumAlgorithm | None = None,
    ) -> None:
        super().__init__()
        self.region = region
        self.endpoint_url = endpoint_url
        self.allow_http = allow_http
        self.anonymous = anonymous
        self.force_path_style = force_path_style
        self.network_stream_timeout_seconds = network_stream_timeout_seconds
        self.requester_pays = requester_pays
        self.checksum_algorithm = checksum_algorithm

    def _repr_value(self, name: str, value: Any) -> str:
        if isinstance(value, ChecksumAlgorithm):
            return f"icechunk.ChecksumAlgorithm.{value.name}"
        return super()._repr_value(name, value)

    def _show_value(self, name: str, value: Any) -> Shown:
        return self._repr_value(name, value)

    def _encode(self, name: str, value: Any) -> Any:
        if isinstance(value, ChecksumAlgorithm):
            return _CHECKSUM_NAMES[value]
        return value

    def _decode(self, name: str, raw: Any) -> Any:
        if name == "checksum_algorithm" and raw is not None:
            if raw not in _CHECKSUM_BY_NAME:
                raise ValueError(f"unknown checksum algorithm {raw!r}")
            return _CHECKSUM_BY_NAME[raw]
        return raw


# --------------------------------------------------------------------------- object stores


class ObjectStoreConfig(Variant):
    """Where the bytes of virtual chunks live; build one of the nested kinds.

    ``ObjectStoreConfig.InMemory()``, ``ObjectStoreConfig.LocalFileSystem(path)``,
    ``ObjectStoreConfig.S3(options)``, ``ObjectStoreConfig.S3Compatible(options)``,
    ``ObjectStoreConfig.Gcs(opts)``, ``ObjectStoreConfig.Azure(opts)``,
    ``ObjectStoreConfig.Tigris(options)`` and ``ObjectStoreConfig.Http(opts, headers)``.
    """

    __slots__ = ()

    InMemory: ClassVar[type[_InMemory]]
    LocalFileSystem: ClassVar[type[_LocalFileSystem]]
    S3: ClassVar[type[_S3]]
    S3Compatible: ClassVar[type[_S3Compatible]]
    Gcs: ClassVar[type[_Gcs]]
    Azure: ClassVar[type[_Azure]]
    Tigris: ClassVar[type[_Tigris]]
    Http: ClassVar[type[_Http]]

    _TAG: ClassVar[str] = ""
    #: URL schemes a container using this store may have.
    _SCHEMES: ClassVar[tuple[str, ...]] = ()

    def __init__(self, *args: Any) -> None:
        if type(self) is ObjectStoreConfig:
            raise TypeError("cannot create 'ObjectStoreConfig' instances; use one of its kinds")
        super().__init__(*args)

    @property
    def _name(self) -> str:
        return f"icechunk.config.{type(self).__qualname__}"

    def __repr__(self) -> str:
        return f"{self._name}({', '.join(self._arg_reprs())})"

    def _arg_reprs(self) -> list[str]:
        return [quote(a) if isinstance(a, str) else repr(a) for a in self._args]

    def _display(self) -> Display:
        return (self._name, [])

    def __str__(self) -> str:
        return render_text(self._display())

    def _repr_html_(self) -> str:
        """HTML rendering for Jupyter."""
        return render_html(self._display())

    def _payload(self) -> Any:
        raise NotImplementedError

    def _to_dict(self) -> Any:
        """The serde form: the kind's snake-case tag mapped to its payload."""
        return {self._TAG: self._payload()}

    @staticmethod
    def _from_dict(data: Any) -> ObjectStoreConfig:
        """Decode the serde form written by :meth:`_to_dict`."""
        if data == _InMemory._TAG:
            return _InMemory()
        mapping = require_map(data, "ObjectStoreConfig")
        if len(mapping) != 1:
            raise config_format_error(f"object store must have exactly one kind, got {data!r}")
        ((tag, payload),) = mapping.items()
        kind = _KINDS.get(tag)
        if kind is None:
            raise config_format_error(f"unknown object store kind {tag!r}")
        try:
            return kind._decode_payload(payload)
        except (TypeError, ValueError) as exc:
            raise config_format_error(f"object store {tag!r}: {exc}") from exc

    @classmethod
    def _decode_payload(cls, payload: Any) -> ObjectStoreConfig:
        raise NotImplementedError


class _InMemory(ObjectStoreConfig):
    """An in-memory store (useful in tests)."""

    __slots__ = ()
    __match_args__ = ()
    _TAG = "in_memory"

    def __init__(self) -> None:
        super().__init__()

    def _to_dict(self) -> Any:
        return self._TAG


class _LocalFileSystem(ObjectStoreConfig):
    """A directory of the local file system.

    Parameters
    ----------
    path
        The root directory.
    """

    __slots__ = ()
    __match_args__ = ("_0",)
    _TAG = "local_file_system"
    _SCHEMES = ("file",)

    def __init__(self, path: str | Path) -> None:
        if isinstance(path, Path):
            path = str(path)
        super().__init__(check_str(path, "path"))

    @property
    def _0(self) -> Path:
        return Path(self._args[0])

    def _display(self) -> Display:
        return (self._name, [("path", quote(self._args[0]))])

    def _payload(self) -> Any:
        return self._args[0]

    @classmethod
    def _decode_payload(cls, payload: Any) -> ObjectStoreConfig:
        return cls(payload)


class _S3Like(ObjectStoreConfig):
    """Shared behaviour of the kinds configured by :class:`S3Options`."""

    __slots__ = ()
    __match_args__ = ("_0",)

    def __init__(self, options: S3Options) -> None:
        check_instance(options, S3Options, "options")
        super().__init__(copy.deepcopy(options))

    @property
    def _0(self) -> S3Options:
        options: S3Options = copy.deepcopy(self._args[0])
        return options

    def _display(self) -> Display:
        return (self._name, self._args[0]._display()[1])

    def _payload(self) -> Any:
        return self._args[0]._to_dict()

    @classmethod
    def _decode_payload(cls, payload: Any) -> ObjectStoreConfig:
        return cls(S3Options._from_dict(payload))


class _S3(_S3Like):
    """Amazon S3.

    Parameters
    ----------
    options
        How to reach the service.
    """

    __slots__ = ()
    _TAG = "s3"
    _SCHEMES = ("s3",)


class _S3Compatible(_S3Like):
    """A service speaking the S3 protocol (MinIO, Ceph ...).

    Parameters
    ----------
    options
        How to reach the service; usually with ``endpoint_url`` set.
    """

    __slots__ = ()
    _TAG = "s3_compatible"
    _SCHEMES = ("s3",)


class _Tigris(_S3Like):
    """Tigris object storage.

    Parameters
    ----------
    opts
        How to reach the service.
    """

    __slots__ = ()
    _TAG = "tigris"
    _SCHEMES = ("tigris", "s3")

    def __init__(self, opts: S3Options) -> None:
        super().__init__(opts)


_SECRET_WORDS = (
    "key",
    "secret",
    "token",
    "password",
    "sas",
    "authorization",
    "credential",
    "signature",
    "cookie",
)


def _masked_map(mapping: Mapping[str, str]) -> str:
    """:func:`repr_str_map` with the values of secret-looking keys shown as ``****``."""

    def secret(key: str) -> bool:
        low = key.lower()
        return not low.startswith("skip_") and any(w in low for w in _SECRET_WORDS)

    return repr_str_map({k: "****" if secret(k) else v for k, v in mapping.items()})


class _OptsStore(ObjectStoreConfig):
    """Shared behaviour of the kinds configured by a string map of options."""

    __slots__ = ()
    __match_args__ = ("_0",)

    def __init__(self, opts: Mapping[str, str] | None = None) -> None:
        super().__init__(check_str_map(opts, "opts"))

    @property
    def _0(self) -> dict[str, str] | None:
        opts: dict[str, str] | None = self._args[0]
        return None if opts is None else dict(opts)

    def _arg_reprs(self) -> list[str]:
        opts = self._args[0]
        return ["None" if opts is None else _masked_map(opts)]

    def _display(self) -> Display:
        return (self._name, [("config", self._arg_reprs()[0])])

    def _payload(self) -> Any:
        return dict(self._args[0] or {})

    @classmethod
    def _decode_payload(cls, payload: Any) -> ObjectStoreConfig:
        return cls(require_map(payload, cls._TAG))


class _Gcs(_OptsStore):
    """Google Cloud Storage.

    Parameters
    ----------
    opts
        ``object_store`` GCS configuration keys, or None.
    """

    __slots__ = ()
    _TAG = "gcs"
    _SCHEMES = ("gcs", "gs")


class _Azure(_OptsStore):
    """Azure Blob Storage.

    Parameters
    ----------
    opts
        ``object_store`` Azure configuration keys (``account`` ...), or None.
    """

    __slots__ = ()
    _TAG = "azure"
    _SCHEMES = ("az", "azure", "abfs")


class _Http(ObjectStoreConfig):
    """A plain HTTP(S) server.

    Parameters
    ----------
    opts
        HTTP client options, or None.
    headers
        Headers sent with every request, or None.
    """

    __slots__ = ()
    __match_args__ = ("_0", "_1")
    _TAG = "http"
    _SCHEMES = ("http", "https")

    def __init__(
        self, opts: Mapping[str, str] | None = None, headers: Mapping[str, str] | None = None
    ) -> None:
        super().__init__(check_str_map(opts, "opts"), check_str_map(headers, "headers"))

    @property
    def _0(self) -> dict[str, str] | None:
        opts: dict[str, str] | None = self._args[0]
        return None if opts is None else dict(opts)

    @property
    def _1(self) -> dict[str, str] | None:
        headers: dict[str, str] | None = self._args[1]
        return None if headers is None else dict(headers)

    def _arg_reprs(self) -> list[str]:
        return ["None" if m is None else _masked_map(m) for m in self._args]

    def _display(self) -> Display:
        opts, headers = self._arg_reprs()
        return (self._name, [("opts", opts), ("headers", headers)])

    def _payload(self) -> Any:
        out: dict[str, Any] = dict(self._args[0] or {})
        if self._args[1] is not None:
            out["headers"] = dict(self._args[1])
        return out

    @classmethod
    def _decode_payload(cls, payload: Any) -> ObjectStoreConfig:
        mapping = dict(require_map(payload, "http"))
        headers = mapping.pop("headers", None)
        return cls(mapping, None if headers is None else require_map(headers, "http headers"))


_KINDS: dict[str, type[ObjectStoreConfig]] = {}
for _kind in (_InMemory, _LocalFileSystem, _S3, _S3Compatible, _Gcs, _Azure, _Tigris, _Http):
    _public = _kind.__name__.lstrip("_")
    _kind.__name__ = _public
    _kind.__qualname__ = f"ObjectStoreConfig.{_public}"
    setattr(ObjectStoreConfig, _public, _kind)
    _KINDS[_kind._TAG] = _kind
del _kind, _public

#: Any concrete object store kind.
AnyObjectStoreConfig = (
    _InMemory | _LocalFileSystem | _S3 | _S3Compatible | _Gcs | _Azure | _Tigris | _Http
)
