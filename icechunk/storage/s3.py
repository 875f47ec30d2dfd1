"""Amazon S3 and S3-compatible storages (R2, Tigris, MinIO, Ceph ...) over ``obstore``.

The repository info file is committed with ``If-None-Match: *`` (create) and
``If-Match: <etag>`` (compare-and-swap). S3 ETags of single-part uploads are content
hashes, so a token names *content*, not a write: rewriting identical bytes at a key gives
the same token. Every Icechunk object that is compare-and-swapped changes content on each
write, so this never lets a stale writer win.
"""

from __future__ import annotations

import builtins
import datetime as dt
import re
from collections.abc import Callable
from typing import Any

from obstore.store import S3Store

from icechunk._config_store import ChecksumAlgorithm, S3Options
from icechunk.credentials import (
    AnyS3Credential,
    S3Credentials,
    S3StaticCredentials,
    s3_credentials,
)
from icechunk.errors import ErrorKind, InvalidInputError, StorageError
from icechunk.storage._objstore import (
    ObjectStoreStorage,
    obstore_client_options,
    obstore_retry_config,
)
from icechunk.storage.base import StorageSettings, VersionToken

__all__ = [
    "S3Storage",
    "hf_storage",
    "r2_storage",
    "s3_object_store_storage",
    "s3_storage",
    "tigris_storage",
]

#: The repr's ``type:`` row, as the real icechunk prints it (Tigris, R2 and Hugging Face
#: storages are S3 storages with preset endpoints).
_KIND_LABELS = {"s3_object_store": "S3"}


def _root_prefix(prefix: str | None, legacy_rooted_keys: bool | None) -> str:
    """The key prefix of the repository root, without leading or trailing slashes."""
    if prefix is not None and not isinstance(prefix, str):
        raise TypeError(f"prefix must be str or None, not {type(prefix).__name__}")
    cleaned = (prefix or "").strip("/")
    if legacy_rooted_keys and cleaned:
        raise InvalidInputError(
            "legacy_rooted_keys=True is only valid with an empty prefix", ErrorKind.STORAGE_CONFIG
        )
    return cleaned


class S3Storage(ObjectStoreStorage):
    """Objects under ``prefix`` in an S3 bucket; build one with :func:`s3_storage`.

    Parameters
    ----------
    options
        Region, endpoint and connection flags.
    bucket
        The bucket.
    prefix
        The repository root inside the bucket (``None`` or ``""``: the bucket root).
    credentials
        Any S3 credential kind; ``None`` reads them from the environment.
    kind
        ``"s3"``, ``"s3_object_store"``, ``"tigris"`` or ``"r2"`` (presentation only).
    strip_etag_quotes
        Send ``If-Match`` ETags without quotes (Ceph RGW only matches those).
    settings
        Overrides of the default :class:`StorageSettings`.
    headers
        Extra HTTP headers sent with every request.
    """

    def __init__(
        self,
        options: S3Options,
        bucket: str,
        prefix: str | None,
        credentials: AnyS3Credential | None = None,
        *,
        kind: str = "s3",
        strip_etag_quotes: bool = False,
        settings: StorageSettings | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(settings)
        if not isinstance(bucket, str) or not bucket:
            raise InvalidInputError("an S3 storage needs a bucket name", ErrorKind.STORAGE_CONFIG)
        self._options = options
        self._bucket = bucket
        self._prefix = _root_prefix(prefix, None)
        self._credentials = credentials
        self._kind = kind
        self._strip_quotes = strip_etag_quotes
        self._headers = dict(headers or {})

    @property
    def bucket(self) -> str:
        """The bucket name."""
        return self._bucket

    @property
    def prefix(self) -> str:
        """The repository root inside the bucket ('' for the bucket root)."""
        return self._prefix

    @property
    def _at_bucket_root(self) -> bool:
        return not self._prefix

    # ------------------------------------------------------------------ identity
    def _state(self) -> tuple[Any, ...]:
        return (
            self._options,
            self._bucket,
            self._prefix,
            self._credentials,
            self._kind,
            self._strip_quotes,
            self._user_settings,
            self._headers,
        )

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, S3Storage):
            return NotImplemented
        return self._location() == other._location()

    def __hash__(self) -> int:
        return hash(self._location())

    def _location(self) -> tuple[Any, ...]:
        opts = self._options
        return (self._kind, opts.endpoint_url, opts.region, self._bucket, self._prefix)

    def _pickle_reduce(self) -> tuple[Any, ...]:
        return (_rebuild, self._state())

    def _clone(self) -> S3Storage:
        clone: S3Storage = _rebuild(*self._state())
        return clone

    def _description(self) -> builtins.list[tuple[str, str]]:
        opts = self._options
        rows = [
            ("type", _KIND_LABELS.get(self._kind, "S3 (native)")),
            ("bucket", self._bucket),
        ]
        if self._prefix:
            rows.append(("prefix", self._prefix))
        for name in ("region", "endpoint_url"):
            value = getattr(opts, name)
            if value is not None:
                rows.append((name, str(value)))
        for flag in ("allow_http", "force_path_style", "requester_pays"):
            if getattr(opts, flag):
                rows.append((flag, "True"))
        return rows

    # ------------------------------------------------------------------ client
    def _etag_for_request(self, expected: VersionToken) -> str:
        return expected.value.strip('"') if self._strip_quotes else expected.value

    def _build_store(self, settings: StorageSettings) -> Any:
        opts = self._options
        config: Any = {}
        if opts.region is not None:
            config["region"] = opts.region
        elif opts.endpoint_url is not None:
            config["region"] = "us-east-1"  # S3-compatible servers ignore it; signing needs one
        if opts.endpoint_url is not None:
            config["endpoint"] = opts.endpoint_url
        if opts.force_path_style:
            config["virtual_hosted_style_request"] = False
        if opts.requester_pays:
            config["request_payer"] = True
        if opts.checksum_algorithm is ChecksumAlgorithm.Sha256:
            config["checksum_algorithm"] = "sha256"  # the only one object_store can send
        provider: Any = _apply_credentials(config, self._credentials, opts.anonymous)
        client: Any = obstore_client_options(
            settings,
            allow_http=opts.allow_http,
            stream_timeout_s=opts.network_stream_timeout_seconds,
            user_agent=self._user_agent(),
        )
        if self._headers:
            client["default_headers"] = dict(self._headers)
        return S3Store(
            self._bucket,
            prefix=self._prefix or None,
            config=config,
            client_options=client,
            retry_config=obstore_retry_config(settings),  # type: ignore[arg-type]
            credential_provider=provider,
        )


def _apply_credentials(
    config: dict[str, Any], credentials: AnyS3Credential | None, anonymous: bool
) -> Callable[[], dict[str, Any]] | None:
    """Put static credentials in ``config``; return a provider for refreshable ones."""
    if anonymous or isinstance(credentials, S3Credentials.Anonymous):
        config["skip_signature"] = True
        return None
    if isinstance(credentials, S3Credentials.Static):
        creds: S3StaticCredentials = credentials.credentials
        config["access_key_id"] = creds.access_key_id
        config["secret_access_key"] = creds.secret_access_key
        if creds.session_token is not None:
            config["session_token"] = creds.session_token
        return None
    if isinstance(credentials, S3Credentials.Refreshable):
        return _RefreshingProvider(credentials)
    return None  # FromEnv or None: obstore reads AWS_* variables and instance metadata


class _RefreshingProvider:
    """obstore credential callback over :class:`S3Credentials.Refreshable`."""

    def __init__(self, credentials: S3Credentials.Refreshable) -> None:
        self._credentials = credentials

    def __call__(self) -> dict[str, Any]:
        creds = self._credentials.get()
        expires = creds.expires_after
        if expires is not None and expires.tzinfo is None:
            expires = expires.replace(tzinfo=dt.UTC)
        if expires is not None:  # make obstore ask again when we would refresh
            from icechunk._credential_types import REFRESH_MARGIN

            expires = expires - REFRESH_MARGIN
        return {
            "access_key_id": creds.access_key_id,
            "secret_access_key": creds.secret_access_key,
            "token": creds.session_token,
            "expires_at": expires,
        }

    def __repr__(self) -> str:
        return "<refreshable S3 credentials>"


def _rebuild(*state: Any) -> S3Storage:
    options, bucket, prefix, credentials, kind, strip, settings, headers = state
    return S3Storage(
        options,
        bucket,
        prefix,
        credentials,
        kind=kind,
        strip_etag_quotes=strip,
        settings=settings,
        headers=headers,
    )


_HEADER_NAME = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")  # an RFC 9110 token


def check_headers(headers: dict[str, str]) -> dict[str, str]:
    """Return ``headers`` if every name is an HTTP token and no value holds a line break.

    Raises
    ------
    InvalidInputError
        (a ``ValueError``) naming the first bad header.
    """
    for name, value in headers.items():
        if not isinstance(name, str) or not _HEADER_NAME.match(name):
            raise InvalidInputError(f"invalid HTTP header name {name!r}", ErrorKind.STORAGE_CONFIG)
        if not isinstance(value, str) or any(c in value for c in "\r\n\x00"):
            raise InvalidInputError(
                f"invalid HTTP header value for {name!r}", ErrorKind.STORAGE_CONFIG
            )
    return headers


def _merged_headers(
    read: dict[str, str] | None, write: dict[str, str] | None, both: dict[str, str] | None
) -> dict[str, str]:
    # One client serves reads and writes here, so role-specific headers are merged in.
    return check_headers({**(both or {}), **(read or {}), **(write or {})})


def s3_storage(
    *,
    bucket: str,
    prefix: str | None,
    region: str | None = None,
    endpoint_url: str | None = None,
    allow_http: bool = False,
    access_key_id: str | None = None,
    secret_access_key: str | None = None,
    session_token: str | None = None,
    expires_after: dt.datetime | None = None,
    anonymous: bool | None = None,
    from_env: bool | None = None,
    get_credentials: Callable[[], S3StaticCredentials] | None = None,
    scatter_initial_credentials: bool = False,
    force_path_style: bool = False,
    network_stream_timeout_seconds: int = 60,
    requester_pays: bool = False,
    checksum_algorithm: ChecksumAlgorithm | None = None,
    legacy_rooted_keys: bool | None = None,
    read_headers: dict[str, str] | None = None,
    write_headers: dict[str, str] | None = None,
    headers: dict[str, str] | None = None,
) -> S3Storage:
    """Create a storage in an S3 (or S3-compatible) bucket.

    Parameters
    ----------
    bucket
        The bucket holding the repository.
    prefix
        The repository root inside the bucket; ``None`` or ``""`` is the bucket root.
    region, endpoint_url, allow_http, force_path_style, requester_pays, checksum_algorithm
        Connection options, see :class:`~icechunk.S3Options`.
    access_key_id, secret_access_key, session_token, expires_after
        Static credentials.
    anonymous
        Send unsigned requests.
    from_env
        Read credentials from the environment (the default when nothing else is given).
    get_credentials
        A picklable callback returning :class:`~icechunk.S3StaticCredentials`, called
        again shortly before they expire.
    scatter_initial_credentials
        Call ``get_credentials`` now and ship the result with pickled copies.
    network_stream_timeout_seconds
        Abort a request when no bytes flow for this long (0 disables).
    legacy_rooted_keys
        ``True`` is only accepted with an empty prefix; keys are never rooted here.
    read_headers, write_headers, headers
        Extra HTTP headers for requests.

    Returns
    -------
    S3Storage
        A storage; it connects lazily on the first request.
    """
    credentials = s3_credentials(
        access_key_id=access_key_id,
        secret_access_key=secret_access_key,
        session_token=session_token,
        expires_after=expires_after,
        anonymous=anonymous,
        from_env=from_env,
        get_credentials=get_credentials,
        scatter_initial_credentials=scatter_initial_credentials,
    )
    options = S3Options(
        region=region,
        endpoint_url=endpoint_url,
        allow_http=allow_http,
        anonymous=anonymous or False,
        force_path_style=force_path_style,
        network_stream_timeout_seconds=network_stream_timeout_seconds,
        requester_pays=requester_pays,
        checksum_algorithm=checksum_algorithm,
    )
    _root_prefix(prefix, legacy_rooted_keys)
    return S3Storage(
        options,
        bucket,
        prefix,
        credentials,
        headers=_merged_headers(read_headers, write_headers, headers),
    )


def s3_object_store_storage(
    *,
    bucket: str,
    prefix: str | None,
    region: str | None = None,
    endpoint_url: str | None = None,
    allow_http: bool = False,
    access_key_id: str | None = None,
    secret_access_key: str | None = None,
    session_token: str | None = None,
    expires_after: dt.datetime | None = None,
    anonymous: bool | None = None,
    from_env: bool | None = None,
    force_path_style: bool = False,
    read_headers: dict[str, str] | None = None,
    write_headers: dict[str, str] | None = None,
    headers: dict[str, str] | None = None,
) -> S3Storage:
    """Create an S3 storage through the generic object-store client.

    Same as :func:`s3_storage` (both use ``obstore`` here) without refreshable credentials.
    """
    storage = s3_storage(
        bucket=bucket,
        prefix=prefix,
        region=region,
        endpoint_url=endpoint_url,
        allow_http=allow_http,
        access_key_id=access_key_id,
        secret_access_key=secret_access_key,
        session_token=session_token,
        expires_after=expires_after,
        anonymous=anonymous,
        from_env=from_env,
        force_path_style=force_path_style,
        read_headers=read_headers,
        write_headers=write_headers,
        headers=headers,
    )
    storage._kind = "s3_object_store"
    return storage


def tigris_storage(
    *,
    bucket: str,
    prefix: str | None,
    region: str | None = None,
    endpoint_url: str | None = None,
    use_weak_consistency: bool = False,
    allow_http: bool = False,
    access_key_id: str | None = None,
    secret_access_key: str | None = None,
    session_token: str | None = None,
    expires_after: dt.datetime | None = None,
    anonymous: bool | None = None,
    from_env: bool | None = None,
    get_credentials: Callable[[], S3StaticCredentials] | None = None,
    scatter_initial_credentials: bool = False,
    network_stream_timeout_seconds: int = 60,
    checksum_algorithm: ChecksumAlgorithm | None = None,
    legacy_rooted_keys: bool | None = None,
    read_headers: dict[str, str] | None = None,
    write_headers: dict[str, str] | None = None,
    headers: dict[str, str] | None = None,
) -> S3Storage:
    """Create a storage on Tigris (S3-compatible, endpoint ``https://t3.storage.dev``).

    ``region`` is required: without it Tigris does not give the consistency commits need.
    ``use_weak_consistency`` is refused for the same reason.
    """
    if use_weak_consistency:
        raise InvalidInputError(
            "use_weak_consistency=True is not supported: commits need strong consistency",
            ErrorKind.STORAGE_CONFIG,
        )
    if region is None:
        raise StorageError(
            "Tigris storage requires a region to provide full consistency",
            ErrorKind.STORAGE_CONFIG,
        )
    storage = s3_storage(
        bucket=bucket,
        prefix=prefix,
        region=region,
        endpoint_url=endpoint_url or "https://t3.storage.dev",
        allow_http=allow_http,
        access_key_id=access_key_id,
        secret_access_key=secret_access_key,
        session_token=session_token,
        expires_after=expires_after,
        anonymous=anonymous,
        from_env=from_env,
        get_credentials=get_credentials,
        scatter_initial_credentials=scatter_initial_credentials,
        network_stream_timeout_seconds=network_stream_timeout_seconds,
        checksum_algorithm=checksum_algorithm,
        legacy_rooted_keys=legacy_rooted_keys,
        read_headers=read_headers,
        write_headers=write_headers,
        headers=headers,
    )
    storage._kind = "tigris"
    return storage


def r2_storage(
    *,
    bucket: str | None = None,
    prefix: str | None = None,
    account_id: str | None = None,
    endpoint_url: str | None = None,
    region: str | None = None,
    allow_http: bool = False,
    access_key_id: str | None = None,
    secret_access_key: str | None = None,
    session_token: str | None = None,
    expires_after: dt.datetime | None = None,
    anonymous: bool | None = None,
    from_env: bool | None = None,
    get_credentials: Callable[[], S3StaticCredentials] | None = None,
    scatter_initial_credentials: bool = False,
    network_stream_timeout_seconds: int = 60,
    checksum_algorithm: ChecksumAlgorithm | None = None,
    legacy_rooted_keys: bool | None = None,
    read_headers: dict[str, str] | None = None,
    write_headers: dict[str, str] | None = None,
    headers: dict[str, str] | None = None,
) -> S3Storage:
    """Create a storage on Cloudflare R2.

    Give ``account_id`` (the endpoint is then ``https://<account_id>.r2.cloudflarestorage.com``)
    or ``endpoint_url``. Without ``bucket``, ``prefix`` must start with the bucket name.
    """
    if endpoint_url is None:
        if account_id is None:
            raise StorageError(
                "Either endpoint_url or account_id must be provided", ErrorKind.STORAGE_CONFIG
            )
        endpoint_url = f"https://{account_id}.r2.cloudflarestorage.com"
    if bucket is None:
        if not prefix:
            raise StorageError("r2_storage needs a bucket", ErrorKind.STORAGE_CONFIG)
        bucket, _, prefix = prefix.strip("/").partition("/")
    storage = s3_storage(
        bucket=bucket,
        prefix=prefix,
        region=region or "auto",
        endpoint_url=endpoint_url,
        allow_http=allow_http,
        force_path_style=True,
        access_key_id=access_key_id,
        secret_access_key=secret_access_key,
        session_token=session_token,
        expires_after=expires_after,
        anonymous=anonymous,
        from_env=from_env,
        get_credentials=get_credentials,
        scatter_initial_credentials=scatter_initial_credentials,
        network_stream_timeout_seconds=network_stream_timeout_seconds,
        checksum_algorithm=checksum_algorithm,
        legacy_rooted_keys=legacy_rooted_keys,
        read_headers=read_headers,
        write_headers=write_headers,
        headers=headers,
    )
    storage._kind = "r2"
    return storage


def hf_storage(
    *,
    bucket: str,
    prefix: str | None,
    namespace: str,
    access_key_id: str | None = None,
    secret_access_key: str | None = None,
    session_token: str | None = None,
    expires_after: dt.datetime | None = None,
    from_env: bool | None = None,
    get_credentials: Callable[[], S3StaticCredentials] | None = None,
    scatter_initial_credentials: bool = False,
    network_stream_timeout_seconds: int = 60,
    legacy_rooted_keys: bool | None = None,
    read_headers: dict[str, str] | None = None,
    write_headers: dict[str, str] | None = None,
    headers: dict[str, str] | None = None,
) -> S3Storage:
    """Create a storage in a Hugging Face Storage Bucket, through its S3 gateway.

    The gateway is ``https://s3.hf.co/<namespace>`` (path-style addressing); the
    credentials are the S3 key pair generated from a Hugging Face access token.
    """
    storage = s3_storage(
        bucket=bucket,
        prefix=prefix,
        region="us-east-1",
        endpoint_url=f"https://s3.hf.co/{namespace}",
        force_path_style=True,
        access_key_id=access_key_id,
        secret_access_key=secret_access_key,
        session_token=session_token,
        expires_after=expires_after,
        from_env=from_env,
        get_credentials=get_credentials,
        scatter_initial_credentials=scatter_initial_credentials,
        network_stream_timeout_seconds=network_stream_timeout_seconds,
        legacy_rooted_keys=legacy_rooted_keys,
        read_headers=read_headers,
        write_headers=write_headers,
        headers=headers,
    )
    storage._kind = "hf"
    return storage
