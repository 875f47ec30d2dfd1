"""Virtual chunk containers and the helper functions that build object-store descriptions.

A :class:`VirtualChunkContainer` binds an :class:`~icechunk.config.ObjectStoreConfig` to the
URL prefix of the virtual chunks it serves.
"""

from __future__ import annotations

import copy
import re
from typing import Any

from icechunk._config_base import (
    Field,
    Shown,
    Struct,
    check_instance,
    check_opt_str,
    check_str,
    config_format_error,
    display_of,
    require_map,
)
from icechunk._config_store import (
    _S3,
    AnyObjectStoreConfig,
    ChecksumAlgorithm,
    ObjectStoreConfig,
    S3Options,
    _Azure,
    _Gcs,
    _Http,
    _LocalFileSystem,
    _S3Compatible,
)
from icechunk.errors import InvalidInputError

__all__ = [
    "VirtualChunkContainer",
    "azure_store",
    "gcs_store",
    "http_store",
    "local_filesystem_store",
    "s3_store",
    "validate_container",
]


# --------------------------------------------------------------------------- factories


def s3_store(
    region: str | None = None,
    endpoint_url: str | None = None,
    allow_http: bool = False,
    anonymous: bool = False,
    s3_compatible: bool = False,
    force_path_style: bool = False,
    network_stream_timeout_seconds: int = 60,
    requester_pays: bool = False,
    checksum_algorithm: ChecksumAlgorithm | None = None,
) -> _S3Compatible | _S3:
    """Describe Amazon S3, or an S3-compatible service when ``s3_compatible`` is True.

    Parameters
    ----------
    region, endpoint_url, allow_http, anonymous, force_path_style
        See :class:`S3Options`.
    s3_compatible
        Build ``ObjectStoreConfig.S3Compatible`` instead of ``ObjectStoreConfig.S3``.
    network_stream_timeout_seconds, requester_pays, checksum_algorithm
        See :class:`S3Options`.

    Returns
    -------
    ObjectStoreConfig.S3 | ObjectStoreConfig.S3Compatible
        The store description.
    """
    options = S3Options(
        region=region,
        endpoint_url=endpoint_url,
        allow_http=allow_http,
        anonymous=anonymous,
        force_path_style=force_path_style,
        network_stream_timeout_seconds=network_stream_timeout_seconds,
        requester_pays=requester_pays,
        checksum_algorithm=checksum_algorithm,
    )
    return _S3Compatible(options) if s3_compatible else _S3(options)


def gcs_store(opts: dict[str, str] | None = None) -> _Gcs:
    """Describe Google Cloud Storage.

    Parameters
    ----------
    opts
        ``object_store`` GCS configuration keys.

    Returns
    -------
    ObjectStoreConfig.Gcs
        The store description.
    """
    return _Gcs(opts)


def http_store(opts: dict[str, str] | None = None, headers: dict[str, str] | None = None) -> _Http:
    """Describe an HTTP(S) server.

    Parameters
    ----------
    opts
        HTTP client options.
    headers
        Headers sent with every request, e.g. ``{"authorization": "Bearer ..."}``.

    Returns
    -------
    ObjectStoreConfig.Http
        The store description.
    """
    return _Http(opts, headers)


def local_filesystem_store(path: str) -> _LocalFileSystem:
    """Describe a directory of the local file system.

    Parameters
    ----------
    path
        The root directory.

    Returns
    -------
    ObjectStoreConfig.LocalFileSystem
        The store description.
    """
    return _LocalFileSystem(path)


def azure_store(*, account: str, config: dict[str, str] | None = None) -> _Azure:
    """Describe Azure Blob Storage.

    Parameters
    ----------
    account
        The storage account.
    config
        Further ``object_store`` Azure configuration keys.

    Returns
    -------
    ObjectStoreConfig.Azure
        The store description.
    """
    return _Azure({"account": account, **(config or {})})


# --------------------------------------------------------------------------- containers


def _check_store(value: object, what: str) -> ObjectStoreConfig:
    return check_instance(value, ObjectStoreConfig, what)


class VirtualChunkContainer(Struct):
    """Lets a repository read virtual chunks whose URL starts with ``url_prefix``.

    Parameters
    ----------
    url_prefix
        The URL prefix this container serves; it must end with ``/``.
    store
        The object store holding those URLs.
    name
        Optional name; chunks may then use ``vcc://name/path`` locations.
    """

    __slots__ = ("_name", "_store", "_url_prefix")
    _FIELDS = ("name", "url_prefix", "store")
    _REPR_NAME = "icechunk.virtual.VirtualChunkContainer"

    name = Field(check_opt_str, "Optional name used by relative ``vcc://name/...`` locations.")
    url_prefix = Field(check_str, "The URL prefix served by this container.")
    store = Field(_check_store, "The object store the URLs point into.")

    def __init__(
        self, url_prefix: str, store: AnyObjectStoreConfig, name: str | None = None
    ) -> None:
        super().__init__()
        self.url_prefix = url_prefix
        self.store = store
        self.name = name

    def _repr_value(self, name: str, value: Any) -> str:
        return repr(value) if name == "store" else super()._repr_value(name, value)

    def _show_value(self, name: str, value: Any) -> Shown:
        return display_of(value)

    def _encode(self, name: str, value: Any) -> Any:
        return value._to_dict() if name == "store" else value

    @classmethod
    def _from_dict(cls, data: Any) -> VirtualChunkContainer:
        """Decode a stored container, keeping unknown keys."""
        mapping = require_map(data, "VirtualChunkContainer")
        try:
            store = ObjectStoreConfig._from_dict(mapping.get("store"))
            obj = cls(mapping.get("url_prefix"), store, mapping.get("name"))  # type: ignore[arg-type]
        except (TypeError, ValueError) as exc:
            raise config_format_error(f"VirtualChunkContainer: {exc}") from exc
        obj._extra = {k: copy.deepcopy(v) for k, v in mapping.items() if k not in cls._FIELDS}
        return obj


_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.\-]*):(.*)$", re.DOTALL)
_HOST_LABEL = {
    "s3": "s3://",
    "tigris": "tigris://",
    "gcs": "GCS",
    "gs": "GCS",
    "az": "Azure",
    "azure": "Azure",
    "abfs": "Azure",
}
_BAD_HOST_CHARS = set(" \t\n\r#%/<>?@[\\]^|")


def _host(rest: str) -> str:
    if not rest.startswith("//"):
        return ""
    authority = rest[2:].split("/", 1)[0]
    return authority.rsplit("@", 1)[-1].split(":", 1)[0]


def _check_location(scheme: str, rest: str) -> None:
    host = _host(rest)
    if scheme == "file":
        path = rest[2:].partition("/")[2] if rest.startswith("//") else rest
        if not host and not path.strip("/"):
            raise InvalidInputError("Url prefix for file:// containers must include a path")
        return
    host_label = _HOST_LABEL.get(scheme)
    if host_label is not None and not host:
        raise InvalidInputError(f"Url prefix for {host_label} containers must include a host")
    if any(ch in _BAD_HOST_CHARS for ch in host):
        raise InvalidInputError("invalid domain character")


def validate_container(cont: VirtualChunkContainer) -> None:
    """Check a container the way the repository does before accepting it.

    Raises
    ------
    InvalidInputError
        If the prefix does not end with ``/``, is not an absolute URL, has a scheme the
        store cannot serve or lacks a host; or if the name is empty or contains ``/``.
    """
    prefix = cont.url_prefix
    if not prefix.endswith("/"):
        raise InvalidInputError("VirtualChunkContainer url_prefix must end in a / character")
    match = _SCHEME.match(prefix)
    if match is None:
        raise InvalidInputError("relative URL without a base")
    scheme, rest = match.group(1).lower(), match.group(2)
    if scheme not in cont.store._SCHEMES:
        raise InvalidInputError(
            f"Invalid url prefix scheme ({scheme}) for this object store config: ({cont.store!r})"
        )
    _check_location(scheme, rest)
    if cont.name is not None and (not cont.name or "/" in cont.name):
        raise InvalidInputError("VirtualChunkContainer name must be non-empty and not contain '/'")
