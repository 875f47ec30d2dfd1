"""Virtual chunk references: what a reference may point at, and who may follow it.

:class:`VirtualResolver` is the security boundary. A virtual chunk is read only when its
location matches one of the repository's virtual chunk containers (longest URL prefix wins,
or the container *name* for ``vcc://name/path`` locations) **and** that container's prefix
was authorized when the repository was opened. Anything else fails before a single byte is
requested, with an error that says which of the two steps is missing.
"""

from __future__ import annotations

import datetime as dt
import re
import warnings
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from icechunk._config_vcc import VirtualChunkContainer, validate_container
from icechunk._virtual_fetch import Checksum, VirtualFetcher, make_fetcher, url_path
from icechunk.errors import ErrorKind, InvalidInputError, StorageError

if TYPE_CHECKING:
    from icechunk.format.model import VirtualPayload

__all__ = [
    "VirtualChunkSpec",
    "VirtualResolver",
    "checksum_fields",
    "normalize_authorizations",
    "parse_location",
]

VCC_SCHEME = "vcc://"
_DOCS = "see https://icechunk.io/en/stable/virtual/"
_ABSOLUTE_URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.\-]*:")
_U32_MAX = 2**32 - 1
# Sentinels that authorize stores needing no credentials (``icechunk.credentials``).
_NO_AUTH_SENTINELS = {"LocalFileSystemAccess", "HttpAccess"}


# --------------------------------------------------------------------------- value checks


def parse_location(location: object) -> str:
    """Check that ``location`` is an absolute URL; normalize ``file://`` paths.

    ``file://`` locations have their ``.``/``..`` segments resolved so prefix matching
    cannot be escaped with ``..``; every other scheme keeps its key verbatim.
    """
    if not isinstance(location, str):
        raise TypeError(f"virtual ref location must be a str, got {type(location).__name__}")
    if _ABSOLUTE_URL.match(location) is None:
        raise InvalidInputError(
            f'error parsing virtual ref URL: "{location}": relative URL without a base; '
            "locations must be absolute URLs such as s3://bucket/key or file:///path",
            ErrorKind.INVALID_VIRTUAL_REF,
        )
    if location[:7].lower() == "file://":
        return _normalize_file_url(location)
    return location


def _normalize_file_url(location: str) -> str:
    rest = location[7:]
    authority, slash, path = rest.partition("/")
    if not slash:
        return location
    path, sep, tail = _split_query(path)
    out: list[str] = []
    segments = path.split("/")
    for i, seg in enumerate(segments):
        last = i == len(segments) - 1
        dots = _DOT_SEGMENTS.get(seg.lower())
        if dots is not None:
            if dots == ".." and out:
                out.pop()
            if last:
                out.append("")
            continue
        out.append(seg)
    return f"file://{authority}/{'/'.join(out)}{sep}{tail}"


# WHATWG URL parsing treats these percent-encoded spellings as "." and ".." too.
_DOT_SEGMENTS = {
    ".": ".",
    "%2e": ".",
    "..": "..",
    ".%2e": "..",
    "%2e.": "..",
    "%2e%2e": "..",
}


def _split_query(path: str) -> tuple[str, str, str]:
    for i, ch in enumerate(path):
        if ch in "?#":
            return path[:i], ch, path[i + 1 :]
    return path, "", ""


def checksum_fields(checksum: object) -> tuple[str | None, int | None]:
    """``(etag, last_modified_seconds)`` for a user checksum (str, aware datetime, None)."""
    if checksum is None:
        return None, None
    if isinstance(checksum, str):
        return checksum, None
    if isinstance(checksum, dt.datetime):
        if checksum.tzinfo is None:
            raise TypeError(
                "checksum datetime must be timezone-aware (expected a datetime with "
                "non-None tzinfo), e.g. datetime.now(timezone.utc)"
            )
        seconds = int(checksum.timestamp())
        if not 0 <= seconds <= _U32_MAX:
            raise InvalidInputError(
                f"checksum datetime {checksum.isoformat()} is outside the storable range "
                "(1970 to 2106)",
                ErrorKind.INVALID_VIRTUAL_REF,
            )
        return None, seconds
    raise TypeError(
        f"checksum must be str | datetime.datetime | None, got {type(checksum).__name__}"
    )


def _with_slash(prefix: str) -> str:
    return prefix if prefix.endswith("/") else prefix + "/"


def normalize_authorizations(
    authorize: Mapping[str, Any] | None,
) -> dict[str, Any]:
    """Copy of the authorization map, keys type-checked; warns on deprecated ``None``."""
    if authorize is None:
        return {}
    if not isinstance(authorize, Mapping):
        raise TypeError(
            "authorize_virtual_chunk_access must be a dict of url_prefix -> credentials"
        )
    out: dict[str, Any] = {}
    for prefix, cred in authorize.items():
        if not isinstance(prefix, str):
            raise TypeError("authorize_virtual_chunk_access keys must be url prefixes (str)")
        if cred is None:
            warnings.warn(
                f"Passing `None` in `authorize_virtual_chunk_access` for container "
                f"`{prefix}` is deprecated; pass an explicit credential or a no-auth "
                "sentinel (icechunk.credentials.LocalFileSystemAccess / HttpAccess) instead.",
                DeprecationWarning,
                stacklevel=4,
            )
        out[prefix] = cred
    return out


# --------------------------------------------------------------------------- the spec type


class VirtualChunkSpec:
    """One virtual reference for :meth:`IcechunkStore.set_virtual_refs`.

    Parameters
    ----------
    index
        The chunk's coordinates in the chunk grid.
    location
        Absolute URL of the object holding the bytes, e.g. ``s3://bucket/file.nc``.
    offset, length
        Byte range of the chunk inside that object.
    etag_checksum
        The object's ETag; reading fails if the object no longer has it.
    last_updated_at_checksum
        A timezone-aware time; reading fails if the object was modified after it.
    """

    __slots__ = ("_etag", "_index", "_last_modified", "_length", "_location", "_offset")

    def __init__(
        self,
        index: Sequence[int],
        location: str,
        offset: int,
        length: int,
        etag_checksum: str | None = None,
        last_updated_at_checksum: dt.datetime | None = None,
    ) -> None:
        self._index = [_non_negative(i, "index") for i in index]
        if not isinstance(location, str):
            raise TypeError("location must be a str")
        self._location = location
        self._offset = _non_negative(offset, "offset")
        self._length = _non_negative(length, "length")
        if etag_checksum is not None and not isinstance(etag_checksum, str):
            raise TypeError("etag_checksum must be a str or None")
        if last_updated_at_checksum is not None:
            checksum_fields(last_updated_at_checksum)  # a timezone-aware datetime
        self._etag = etag_checksum
        self._last_modified = last_updated_at_checksum

    @property
    def index(self) -> list[int]:
        """The chunk index, in chunk coordinates."""
        return list(self._index)

    @property
    def location(self) -> str:
        """The URL of the object holding the chunk."""
        return self._location

    @property
    def offset(self) -> int:
        """The chunk's offset within the object, in bytes."""
        return self._offset

    @property
    def length(self) -> int:
        """The chunk's length in bytes."""
        return self._length

    @property
    def etag_checksum(self) -> str | None:
        """The object's ETag when the reference was made, if recorded."""
        return self._etag

    @property
    def last_updated_at_checksum(self) -> dt.datetime | None:
        """Reading fails if the object was modified after this time, if recorded."""
        return self._last_modified

    def checksum(self) -> str | dt.datetime | None:
        """The recorded checksum in the form ``set_virtual_ref`` accepts."""
        return self._etag if self._etag is not None else self._last_modified

    def __repr__(self) -> str:
        return (
            f"VirtualChunkSpec(index={self._index}, location={self._location!r}, "
            f"offset={self._offset}, length={self._length})"
        )


def _non_negative(value: object, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{what} must be an int, got {type(value).__name__}")
    if value < 0:
        raise OverflowError(f"{what} must be non-negative, got {value}")
    return value


# --------------------------------------------------------------------------- the resolver


class VirtualResolver:
    """Matches virtual chunk locations to authorized containers and fetches their bytes.

    Parameters
    ----------
    containers
        The repository's containers (from its config); invalid ones are ignored, since
        a persisted config may have been edited by hand.
    authorized
        URL prefix -> credentials (or None) that the opener authorized.
    """

    def __init__(
        self,
        containers: Mapping[str, VirtualChunkContainer] | None,
        authorized: Mapping[str, Any] | None,
    ) -> None:
        self._containers = sorted(
            _valid_containers((containers or {}).values()),
            key=lambda c: -len(c.url_prefix),
        )
        self._given = set(authorized or {})
        self._authorized = {_with_slash(k): v for k, v in (authorized or {}).items()}
        self._fetchers: dict[str, VirtualFetcher] = {}

    # -- matching
    def _by_name(self, name: str) -> VirtualChunkContainer | None:
        return next((c for c in self._containers if c.name == name), None)

    def _by_url(self, location: str) -> VirtualChunkContainer | None:
        return next((c for c in self._containers if location.startswith(c.url_prefix)), None)

    def expand(self, location: str) -> str:
        """The absolute URL of a location, resolving ``vcc://name/path`` through its container."""
        if not location.startswith(VCC_SCHEME):
            return location
        name, slash, rest = location[len(VCC_SCHEME) :].partition("/")
        cont = self._by_name(name) if slash else None
        if cont is None:
            raise InvalidInputError(
                f"no virtual chunk container named {name!r} found, check the repository "
                "configuration (VirtualChunkContainer(..., name=...))",
                ErrorKind.NO_CONTAINER_FOR_VIRTUAL_CHUNK,
            )
        return cont.url_prefix + rest

    def serves(self, location: str) -> bool:
        """Whether some container matches ``location`` (by name for ``vcc://``)."""
        if location.startswith(VCC_SCHEME):
            name = location[len(VCC_SCHEME) :].partition("/")[0]
            return self._by_name(name) is not None
        return self._by_url(location) is not None

    def validate(self, location: str) -> None:
        """Raise unless some container would serve ``location`` (used when writing refs)."""
        if not self.serves(location):
            raise InvalidInputError(
                "invalid chunk location, no matching virtual chunk container: "
                f"`{location}`; add one with RepositoryConfig.set_virtual_chunk_container, "
                "or pass validate_container=False",
                ErrorKind.INVALID_VIRTUAL_REF,
            )

    def _container_for(self, url: str) -> VirtualChunkContainer:
        cont = self._by_url(url)
        if cont is None:
            raise InvalidInputError(
                f"no virtual chunk container can handle the chunk location ({url}); "
                "edit the repository configuration adding a virtual chunk container for "
                f"the chunk references (RepositoryConfig.set_virtual_chunk_container), {_DOCS}",
                ErrorKind.NO_CONTAINER_FOR_VIRTUAL_CHUNK,
            )
        return cont

    def _fetcher_for(self, cont: VirtualChunkContainer) -> VirtualFetcher:
        prefix = cont.url_prefix
        fetcher = self._fetchers.get(prefix)
        if fetcher is not None:
            return fetcher
        if prefix not in self._authorized or (
            self._authorized[prefix] is None and cont.store._TAG == "azure"
        ):
            raise InvalidInputError(
                f"a virtual chunk in this repository resolves to the url prefix {prefix}, "
                "which was not authorized; to fetch it, authorize the virtual chunk container "
                "when you open/create the repository: authorize_virtual_chunk_access="
                f"{{{prefix!r}: <credentials>}}, {_DOCS}",
                ErrorKind.UNAUTHORIZED_VIRTUAL_CHUNK_CONTAINER,
            )
        cred = self._authorized[prefix]
        _check_credentials(cont, cred)
        fetcher = self._fetchers[prefix] = make_fetcher(cont.store, cred)
        return fetcher

    # -- reading
    async def fetch(
        self, payload: VirtualPayload, byte_range: tuple[int, int | None] | None
    ) -> bytes:
        """The chunk's bytes (or the ``[start, stop)`` slice of them)."""
        url = parse_location(self.expand(payload.location))
        fetcher = self._fetcher_for(self._container_for(url))
        _check_key(url)
        start, stop = 0, payload.length
        if byte_range is not None:
            start = min(byte_range[0], payload.length)
            stop = payload.length if byte_range[1] is None else min(byte_range[1], payload.length)
        if stop <= start:
            return b""
        checksum = None
        if payload.checksum_etag is not None or payload.checksum_last_modified:
            checksum = Checksum(payload.checksum_etag, payload.checksum_last_modified or None)
        return await fetcher.fetch(url, payload.offset + start, stop - start, checksum)

    def check_credentials(self) -> None:
        """Fail early if an authorization cannot work with its container's store kind."""
        for cont in self._containers:
            if cont.url_prefix in self._authorized:
                _check_credentials(cont, self._authorized[cont.url_prefix])

    def authorized_prefixes(self) -> set[str]:
        """The URL prefixes the opener authorized, as given."""
        return set(self._given)


def _check_key(url: str) -> None:
    """Refuse object keys with empty, ``.`` or ``..`` segments once percent-decoded.

    Such keys cannot name an object in the stores we read, and for ``file://`` a decoded
    ``..`` would step outside the container the location was matched against.
    """
    key = url_path(url).strip("/")
    if key and any(seg in ("", ".", "..") for seg in key.split("/")):
        raise InvalidInputError(
            f"unsupported object key for this virtual chunk container: {url_path(url)!r} "
            "(empty, '.' or '..' path segments after percent-decoding)",
            ErrorKind.INVALID_VIRTUAL_REF,
        )


def _valid_containers(
    containers: Any,
) -> list[VirtualChunkContainer]:
    out = []
    for cont in containers:
        candidate = VirtualChunkContainer(_with_slash(cont.url_prefix), cont.store, cont.name)
        try:
            validate_container(candidate)
        except InvalidInputError:
            continue  # a hand-edited persisted config must not widen what can be read
        out.append(candidate)
    return out


def _sentinel_name(cred: object) -> str | None:
    """``LocalFileSystemAccess`` / ``HttpAccess`` for those no-auth sentinels (class or instance)."""
    name = cred.__name__ if isinstance(cred, type) else type(cred).__name__
    return next((s for s in _NO_AUTH_SENTINELS if s in name), None)


def _check_credentials(cont: VirtualChunkContainer, cred: object) -> None:
    """Refuse credentials that cannot work with the container's kind of store."""
    if cred is None:
        return
    tag, name = cont.store._TAG, _sentinel_name(cred)
    allowed = {"local_file_system": "LocalFileSystemAccess", "http": "HttpAccess"}.get(tag)
    if allowed is not None and name != allowed:
        what = "local file storage" if tag == "local_file_system" else "http storage"
        raise StorageError(
            f"{what} does not accept credentials ({cont.url_prefix}); authorize it with "
            f"icechunk.credentials.{allowed} instead",
            ErrorKind.INVALID_CREDENTIALS,
        )
    if allowed is None and name in _NO_AUTH_SENTINELS:
        raise StorageError(
            f"virtual chunk container credentials do not match store type: {name} cannot "
            f"authorize the {type(cont.store).__name__} container {cont.url_prefix}",
            ErrorKind.INVALID_CREDENTIALS,
        )
