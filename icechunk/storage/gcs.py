"""Google Cloud Storage over the JSON API (``google-cloud-storage``, in worker threads).

GCS versions objects by *generation*: the version token is the generation number, a
create-only put sends ``ifGenerationMatch=0`` and a compare-and-swap
``ifGenerationMatch=<generation>``; a loser gets 412, mapped to
:class:`~icechunk.storage.ConditionalPutFailed`. (``obstore``'s GCS client speaks the XML
API, which the local fake-gcs-server test server does not implement, hence this module.)
"""

from __future__ import annotations

import asyncio
import builtins
import functools
import json
from collections.abc import AsyncIterator, Callable
from typing import Any

from icechunk.credentials import (
    AnyGcsCredential,
    GcsBearerCredential,
    GcsCredentials,
    GcsStaticCredentials,
    gcs_credentials,
)
from icechunk.errors import ErrorKind, InvalidInputError, StorageError
from icechunk.storage._retry import retry_async
from icechunk.storage.base import (
    ConditionalPutFailed,
    PutMode,
    Storage,
    StorageObjectInfo,
    StorageSettings,
    VersionToken,
    merge_settings,
    object_not_found,
)

__all__ = ["GcsStorage", "gcs_storage"]

_ENDPOINT_KEYS = ("endpoint", "google_storage_endpoint", "base_url")


class GcsStorage(Storage):
    """Objects under ``prefix`` in a GCS bucket; build one with :func:`gcs_storage`.

    Parameters
    ----------
    bucket
        The bucket.
    prefix
        The repository root inside the bucket.
    credentials
        Any GCS credential kind; ``None`` uses application default credentials.
    config
        Options; ``endpoint`` points the client at another server (e.g. an emulator).
    settings
        Overrides of the default :class:`StorageSettings` (timeouts are honoured).
    """

    def __init__(
        self,
        bucket: str,
        prefix: str | None,
        credentials: AnyGcsCredential | None = None,
        config: dict[str, str] | None = None,
        settings: StorageSettings | None = None,
    ) -> None:
        if not isinstance(bucket, str) or not bucket:
            raise InvalidInputError("a GCS storage needs a bucket name", ErrorKind.STORAGE_CONFIG)
        self._bucket_name = bucket
        self._prefix = (prefix or "").strip("/")
        self._credentials = credentials
        self._config = dict(config or {})
        self._user_settings = settings
        self._bucket: Any = None

    @property
    def _at_bucket_root(self) -> bool:
        return not self._prefix

    # ------------------------------------------------------------------ identity
    def _state(self) -> tuple[Any, ...]:
        return (
            self._bucket_name,
            self._prefix,
            self._credentials,
            self._config,
            self._user_settings,
        )

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, GcsStorage):
            return NotImplemented
        return self._state()[:2] == other._state()[:2] and self._endpoint() == other._endpoint()

    def __hash__(self) -> int:
        return hash((self._bucket_name, self._prefix))

    def _pickle_reduce(self) -> tuple[Any, ...]:
        return (GcsStorage, self._state())

    def _description(self) -> builtins.list[tuple[str, str]]:
        return [("type", "GCS"), ("bucket", self._bucket_name), ("prefix", self._prefix)]

    @property
    def settings(self) -> StorageSettings:
        """The effective settings: defaults overlaid with the ones this storage was given."""
        return merge_settings(self.default_settings(), self._user_settings)

    def with_settings(self, settings: StorageSettings | None) -> GcsStorage:
        """A copy of this storage that uses ``settings`` (overlaid on the defaults)."""
        return GcsStorage(self._bucket_name, self._prefix, self._credentials, self._config, settings)

    # ------------------------------------------------------------------ client
    def _endpoint(self) -> str | None:
        return next((self._config[k] for k in _ENDPOINT_KEYS if k in self._config), None)

    def _client_bucket(self) -> Any:
        if self._bucket is None:
            from google.cloud import storage as gcs

            options = {"api_endpoint": self._endpoint()} if self._endpoint() else None
            try:
                credentials = _google_credentials(self._credentials)
            except Exception as exc:  # google-auth raises its own types (and OSError)
                raise StorageError(
                    f"cannot load GCS credentials: {type(exc).__name__}: {exc}",
                    ErrorKind.INVALID_CREDENTIALS,
                ) from exc
            client = gcs.Client(
                project=self._config.get("project", "icechunk"),
                credentials=credentials,
                client_options=options,
            )
            self._bucket = client.bucket(self._bucket_name)
        return self._bucket

    def _timeout(self) -> Any:
        timeouts = self.settings.timeouts
        if timeouts is None:
            return 60
        connect = (timeouts.connect_timeout_ms or 60_000) / 1000
        read = (timeouts.read_timeout_ms or 60_000) / 1000
        return (connect, read)

    def _name(self, key: str) -> str:
        return f"{self._prefix}/{key}" if self._prefix else key

    def _key(self, name: str) -> str:
        return name[len(self._prefix) + 1 :] if self._prefix else name

    async def _run(self, key: str, fn: Callable[[], Any]) -> Any:
        from google.api_core import exceptions as gexc

        try:
            return await self._retrying(fn)
        except gexc.NotFound as exc:
            raise object_not_found(key) from exc
        except gexc.GoogleAPIError as exc:
            kind = ErrorKind.STORAGE_OTHER
            if isinstance(exc, gexc.Unauthorized | gexc.Forbidden):
                kind = ErrorKind.INVALID_CREDENTIALS
            raise StorageError(f"GCS request for {key!r} failed: {exc}", kind) from exc
        except OSError as exc:  # requests' connection errors, once retries are spent
            raise StorageError(f"GCS request for {key!r} failed: {exc}") from exc

    async def _retrying(self, fn: Callable[[], Any]) -> Any:
        """Run ``fn`` in a thread, retried on transient errors as the settings say."""
        return await retry_async(lambda: asyncio.to_thread(fn), self.settings.retries, _transient)

    # ------------------------------------------------------------------ reads
    async def _get(self, key: str, start: int, end: int | None) -> bytes:
        from google.api_core import exceptions as gexc

        if end == start:
            return await self._empty_if_exists(key)
        blob = self._client_bucket().blob(self._name(key))

        def download() -> bytes | None:
            last = None if end is None else end - 1  # the API's end is inclusive
            try:
                data = blob.download_as_bytes(
                    start=start, end=last, timeout=self._timeout(), retry=None
                )
            except gexc.RequestRangeNotSatisfiable:
                return None  # the range starts at or past the end of the object
            return bytes(data)

        data: bytes | None = await self._run(key, download)
        return await self._empty_if_exists(key) if data is None else data

    async def _empty_if_exists(self, key: str) -> bytes:
        if await self._head(key) is None:
            raise object_not_found(key)
        return b""

    async def _get_suffix(self, key: str, length: int) -> bytes:
        info = await self._head(key)
        if info is None:
            raise object_not_found(key)
        return await self._get(key, max(0, info.size_bytes - length), info.size_bytes)

    async def _get_with_version(self, key: str) -> tuple[bytes, VersionToken]:
        blob = self._client_bucket().blob(self._name(key))

        def download() -> tuple[bytes, VersionToken]:
            data = blob.download_as_bytes(timeout=self._timeout(), retry=None)
            return bytes(data), VersionToken(str(blob.generation))

        result: tuple[bytes, VersionToken] = await self._run(key, download)
        return result

    async def _head(self, key: str) -> StorageObjectInfo | None:
        bucket = self._client_bucket()
        blob = await self._run(
            key, lambda: bucket.get_blob(self._name(key), timeout=self._timeout(), retry=None)
        )
        return None if blob is None else self._info(blob)

    def _info(self, blob: Any) -> StorageObjectInfo:
        return StorageObjectInfo(
            key=self._key(blob.name),
            size_bytes=int(blob.size or 0),
            created_at=blob.updated,
            version=VersionToken(str(blob.generation)),
        )

    async def _list(self, prefix: str) -> AsyncIterator[StorageObjectInfo]:
        bucket = self._client_bucket()
        full = self._name(prefix) if prefix else (f"{self._prefix}/" if self._prefix else "")
        pages = await self._run(
            prefix, lambda: list(bucket.client.list_blobs(bucket, prefix=full or None, retry=None))
        )
        for blob in pages:
            yield self._info(blob)

    # ------------------------------------------------------------------ writes
    async def _put(
        self, key: str, data: bytes, mode: PutMode, expected: VersionToken | None
    ) -> VersionToken:
        from google.api_core import exceptions as gexc

        settings = self.settings
        match: int | None = None
        if mode is PutMode.CREATE and settings.unsafe_use_conditional_create is not False:
            match = 0
        elif mode is PutMode.UPDATE and settings.unsafe_use_conditional_update is not False:
            assert expected is not None
            if not expected.value.isdigit():
                raise ConditionalPutFailed(key, mode)  # not a generation: cannot match
            match = int(expected.value)
        blob = self._client_bucket().blob(self._name(key))

        def upload() -> VersionToken:
            blob.upload_from_string(
                data,
                content_type="application/octet-stream",
                if_generation_match=match,
                timeout=self._timeout(),
                retry=None,
            )
            return VersionToken(str(blob.generation))

        try:
            token: VersionToken = await self._retrying(upload)
        except gexc.PreconditionFailed as exc:
            raise ConditionalPutFailed(key, mode) from exc
        except (gexc.GoogleAPIError, OSError) as exc:
            raise StorageError(f"GCS write of {key!r} failed: {exc}") from exc
        return token

    async def _delete_batch(self, keys: builtins.list[str]) -> int:
        from google.api_core import exceptions as gexc

        bucket = self._client_bucket()

        def delete(key: str) -> bool:
            try:
                bucket.delete_blob(self._name(key), timeout=self._timeout(), retry=None)
            except gexc.NotFound:
                return False
            return True

        results = await asyncio.gather(
            *(self._run(k, functools.partial(delete, k)) for k in dict.fromkeys(keys))
        )
        return sum(results)


def _transient(exc: BaseException) -> bool:
    """Server errors, throttling, timeouts and dropped connections are worth retrying."""
    import requests
    from google.api_core import exceptions as gexc

    retryable = (
        gexc.ServerError,
        gexc.TooManyRequests,
        requests.ConnectionError,
        requests.Timeout,
    )
    return isinstance(exc, retryable)


def _google_credentials(credentials: AnyGcsCredential | None) -> Any:
    """google-auth credentials for one of our GCS credential kinds."""
    from google.auth.credentials import AnonymousCredentials

    if isinstance(credentials, GcsCredentials.Anonymous):
        return AnonymousCredentials()  # type: ignore[no-untyped-call]
    if isinstance(credentials, GcsCredentials.Static):
        return _static_google_credentials(credentials.credentials)
    if isinstance(credentials, GcsCredentials.Refreshable):
        return _refreshing_google_credentials(credentials)
    import google.auth

    return google.auth.default()[0]  # FromEnv or None


def _static_google_credentials(static: Any) -> Any:
    import google.auth
    from google.oauth2 import credentials as oauth
    from google.oauth2 import service_account

    scopes = ["https://www.googleapis.com/auth/devstorage.read_write"]
    if isinstance(static, GcsStaticCredentials.ServiceAccount):
        return service_account.Credentials.from_service_account_file(  # type: ignore[no-untyped-call]
            static.path, scopes=scopes
        )
    if isinstance(static, GcsStaticCredentials.ServiceAccountKey):
        info = json.loads(static.key)
        return service_account.Credentials.from_service_account_info(  # type: ignore[no-untyped-call]
            info, scopes=scopes
        )
    if isinstance(static, GcsStaticCredentials.ApplicationCredentials):
        return google.auth.load_credentials_from_file(  # type: ignore[no-untyped-call]
            static.path, scopes=scopes
        )[0]
    if isinstance(static, GcsStaticCredentials.BearerToken):
        return oauth.Credentials(token=static.token)  # type: ignore[no-untyped-call]
    raise TypeError(f"unknown GCS static credential {type(static).__name__}")


def _refreshing_google_credentials(refreshable: GcsCredentials.Refreshable) -> Any:
    from google.auth import credentials as gcreds

    class Refreshing(gcreds.Credentials):  # type: ignore[misc]
        """google-auth credentials whose refresh calls the user's callback."""

        def refresh(self, request: Any) -> None:
            bearer: GcsBearerCredential = refreshable.get()
            self.token = bearer.bearer
            expiry = bearer.expires_after
            # google-auth compares naive UTC datetimes
            self.expiry = None if expiry is None else expiry.replace(tzinfo=None)

    return Refreshing()  # type: ignore[no-untyped-call]


def gcs_storage(
    *,
    bucket: str,
    prefix: str | None,
    service_account_file: str | None = None,
    service_account_key: str | None = None,
    application_credentials: str | None = None,
    bearer_token: str | None = None,
    anonymous: bool | None = None,
    from_env: bool | None = None,
    config: dict[str, str] | None = None,
    get_credentials: Callable[[], GcsBearerCredential] | None = None,
    scatter_initial_credentials: bool = False,
    read_headers: dict[str, str] | None = None,
    write_headers: dict[str, str] | None = None,
    headers: dict[str, str] | None = None,
) -> GcsStorage:
    """Create a storage in a Google Cloud Storage bucket.

    Parameters
    ----------
    bucket
        The bucket holding the repository.
    prefix
        The repository root inside the bucket.
    service_account_file, service_account_key, application_credentials, bearer_token
        Static credentials (give at most one).
    anonymous
        Unauthenticated requests (public buckets, emulators).
    from_env
        Application default credentials (the default when nothing else is given).
    config
        Options; ``endpoint`` (or ``google_storage_endpoint``) selects another server.
    get_credentials
        A picklable callback returning :class:`~icechunk.GcsBearerCredential`.
    scatter_initial_credentials
        Call ``get_credentials`` now and ship the result with pickled copies.
    read_headers, write_headers, headers
        Accepted for API compatibility; not sent by this client.

    Returns
    -------
    GcsStorage
        A storage; it connects lazily on the first request.
    """
    credentials = gcs_credentials(
        service_account_file=service_account_file,
        service_account_key=service_account_key,
        application_credentials=application_credentials,
        bearer_token=bearer_token,
        from_env=from_env,
        anonymous=anonymous,
        get_credentials=get_credentials,
        scatter_initial_credentials=scatter_initial_credentials,
    )
    return GcsStorage(bucket, prefix, credentials, config)
