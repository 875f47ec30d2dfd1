"""The credential value types behind :mod:`icechunk.credentials` (see there).

Every secret-bearing type masks its secrets in ``repr``/``str``.
"""

from __future__ import annotations

import datetime as dt
import pickle
import threading
from typing import Any, ClassVar, Generic, TypeVar

from icechunk._pickling import Unpicklable

MASK = "****"
#: Refreshable credentials are renewed this long before they expire, so a request
#: signed just before the deadline does not reach the server after it.
REFRESH_MARGIN = dt.timedelta(seconds=60)


def _masked(value: object, keep: int = 0) -> str:
    """``None`` as is; a secret as ``****`` (optionally keeping its first characters)."""
    if value is None:
        return "None"
    return f"{str(value)[:keep]}{MASK}"


class _Value(Unpicklable):
    """Immutable-by-convention value with field equality and a secret-free repr.

    Subclasses list their fields in ``_FIELDS`` and the secret ones in ``_SECRETS``
    (masked entirely) or ``_PARTIAL`` (first four characters kept).
    """

    _FIELDS: ClassVar[tuple[str, ...]] = ()
    _SECRETS: ClassVar[frozenset[str]] = frozenset()
    _PARTIAL: ClassVar[frozenset[str]] = frozenset()
    _REPR_NAME: ClassVar[str] = ""

    def _values(self) -> tuple[Any, ...]:
        return tuple(getattr(self, name) for name in self._FIELDS)

    def __eq__(self, other: object) -> bool:
        if type(other) is not type(self):
            return NotImplemented
        return self._values() == other._values()  # type: ignore[attr-defined]

    def __hash__(self) -> int:
        return hash((type(self).__qualname__, *map(_hashable, self._values())))

    def _shown(self, name: str) -> str:
        value = getattr(self, name)
        if name in self._SECRETS:
            return _masked(value)
        if name in self._PARTIAL:
            return _masked(value, keep=4)
        return repr(value) if isinstance(value, _Value) else str(value)

    def __repr__(self) -> str:
        name = self._REPR_NAME or f"icechunk.credentials.{type(self).__qualname__}"
        lines = [f"<{name}>"] + [f"{f}: {self._shown(f)}" for f in self._FIELDS]
        return "\n".join(lines)

    __str__ = __repr__

    def _pickle_reduce(self) -> tuple[Any, ...]:
        return (type(self), self._values())


def _hashable(value: object) -> object:
    return value if not isinstance(value, dict) else tuple(sorted(value.items()))


def _check_str(value: object, what: str) -> str:
    if not isinstance(value, str):
        raise TypeError(f"{what} must be str, not {type(value).__name__}")
    return value


def _check_expiry(value: object) -> dt.datetime | None:
    if value is not None and not isinstance(value, dt.datetime):
        raise TypeError(f"expires_after must be a datetime or None, not {type(value).__name__}")
    return value


# --------------------------------------------------------------------------- S3
class S3StaticCredentials(_Value):
    """An S3 access key pair, optionally with a session token and an expiry time.

    Parameters
    ----------
    access_key_id
        The access key id.
    secret_access_key
        The secret access key.
    session_token
        A session token for temporary credentials.
    expires_after
        When the credentials stop working (used by refreshable credentials).
    """

    _FIELDS = ("access_key_id", "secret_access_key", "session_token", "expires_after")
    _SECRETS = frozenset({"secret_access_key", "session_token"})
    _PARTIAL = frozenset({"access_key_id"})

    def __init__(
        self,
        access_key_id: str,
        secret_access_key: str,
        session_token: str | None = None,
        expires_after: dt.datetime | None = None,
    ) -> None:
        self.access_key_id = _check_str(access_key_id, "access_key_id")
        self.secret_access_key = _check_str(secret_access_key, "secret_access_key")
        self.session_token = None if session_token is None else _check_str(session_token, "token")
        self.expires_after = _check_expiry(expires_after)


class GcsBearerCredential(_Value):
    """A Google Cloud Storage bearer token, optionally with an expiry time.

    Parameters
    ----------
    bearer
        The token.
    expires_after
        When the token stops working.
    """

    _FIELDS = ("bearer", "expires_after")
    _SECRETS = frozenset({"bearer"})

    def __init__(self, bearer: str, *, expires_after: dt.datetime | None = None) -> None:
        self._bearer = _check_str(bearer, "bearer")
        self._expires_after = _check_expiry(expires_after)

    @property
    def bearer(self) -> str:
        """The token."""
        return self._bearer

    @property
    def expires_after(self) -> dt.datetime | None:
        """When the token stops working, or ``None``."""
        return self._expires_after

    def _pickle_reduce(self) -> tuple[Any, ...]:
        return (_new_bearer, (self._bearer, self._expires_after))


def _new_bearer(bearer: str, expires_after: dt.datetime | None) -> GcsBearerCredential:
    return GcsBearerCredential(bearer, expires_after=expires_after)


class _NoArgs(_Value):
    """A credential kind without parameters (from the environment, anonymous...)."""

    def __init__(self) -> None:
        pass


class _Wrapper(_Value):
    """A credential kind wrapping one value (static credentials of some kind)."""

    _FIELDS = ("credentials",)

    def __init__(self, credentials: Any) -> None:
        self.credentials = credentials


T = TypeVar("T", bound=_Value)


class _Refreshable(_Value, Generic[T]):
    """Credentials fetched from a pickled callback, cached until shortly before expiry."""

    _FIELDS = ("pickled_function", "current")
    _SECRETS = frozenset({"pickled_function", "current"})
    _RESULT_TYPES: ClassVar[tuple[type, ...]] = ()

    def __init__(self, pickled_function: bytes, current: T | None = None) -> None:
        if not isinstance(pickled_function, bytes | bytearray):
            raise TypeError("pickled_function must be bytes (use pickle.dumps(callback))")
        self.pickled_function = bytes(pickled_function)
        self.current = current
        self._cached: T | None = current
        self._lock = threading.Lock()

    def get(self) -> T:
        """The current credentials, calling the callback when none are fresh enough."""
        with self._lock:
            cached = self._cached
            if cached is None or _expiring(getattr(cached, "expires_after", None)):
                cached = self._fetch()
                self._cached = cached
            return cached

    def _fetch(self) -> T:
        from icechunk.errors import ErrorKind, StorageError

        try:
            function = pickle.loads(self.pickled_function)
            fetched = function()
        except Exception as exc:
            # The callback's own message is what tells the user what went wrong.
            raise StorageError(
                f"fetching refreshable credentials failed: {type(exc).__name__}: {exc}",
                ErrorKind.INVALID_CREDENTIALS,
            ) from exc
        if self._RESULT_TYPES and not isinstance(fetched, self._RESULT_TYPES):
            expected = " or ".join(f"'{t.__qualname__}'" for t in self._RESULT_TYPES)
            raise StorageError(
                "fetching refreshable credentials failed: TypeError: "
                f"'{type(fetched).__name__}' object is not an instance of {expected}",
                ErrorKind.INVALID_CREDENTIALS,
            )
        result: T = fetched
        return result


def _expiring(expires_after: dt.datetime | None) -> bool:
    if expires_after is None:
        return False
    if expires_after.tzinfo is None:
        expires_after = expires_after.replace(tzinfo=dt.UTC)
    return expires_after - REFRESH_MARGIN <= dt.datetime.now(dt.UTC)


class S3Credentials:
    """The kinds of S3 credentials: ``FromEnv``, ``Anonymous``, ``Static``, ``Refreshable``."""

    class FromEnv(_NoArgs):
        """Credentials from the environment (``AWS_*`` variables, profiles...)."""

    class Anonymous(_NoArgs):
        """Unsigned requests, for public buckets."""

    class Static(_Wrapper):
        """Fixed :class:`S3StaticCredentials`."""

        def __init__(self, credentials: S3StaticCredentials) -> None:
            if not isinstance(credentials, S3StaticCredentials):
                raise TypeError("S3Credentials.Static needs S3StaticCredentials")
            super().__init__(credentials)

    class Refreshable(_Refreshable[S3StaticCredentials]):
        """Credentials returned by a pickled callback, renewed before they expire."""

        _RESULT_TYPES = (S3StaticCredentials,)


class GcsStaticCredentials:
    """Static GCS credential kinds."""

    class ServiceAccount(_Value):
        """A service account JSON file, by path."""

        _FIELDS = ("path",)

        def __init__(self, path: str) -> None:
            self.path = _check_str(path, "path")

    class ServiceAccountKey(_Value):
        """A serialized service account key."""

        _FIELDS = ("key",)
        _SECRETS = frozenset({"key"})

        def __init__(self, key: str) -> None:
            self.key = _check_str(key, "key")

    class ApplicationCredentials(_Value):
        """An application default credentials file, by path."""

        _FIELDS = ("path",)

        def __init__(self, path: str) -> None:
            self.path = _check_str(path, "path")

    class BearerToken(_Value):
        """A fixed bearer token."""

        _FIELDS = ("token",)
        _SECRETS = frozenset({"token"})

        def __init__(self, token: str) -> None:
            self.token = _check_str(token, "token")


class GcsCredentials:
    """The kinds of GCS credentials: ``Anonymous``, ``FromEnv``, ``Static``, ``Refreshable``."""

    class Anonymous(_NoArgs):
        """Unauthenticated requests, for public buckets."""

    class FromEnv(_NoArgs):
        """Credentials from the environment (application default credentials)."""

    class Static(_Wrapper):
        """One of the :class:`GcsStaticCredentials` kinds."""

    class Refreshable(_Refreshable[GcsBearerCredential]):
        """Bearer tokens returned by a pickled callback, renewed before they expire."""

        _RESULT_TYPES = (GcsBearerCredential,)


class _AzureSecret(_Value):
    _FIELDS = ("value", "expires_after")
    _SECRETS = frozenset({"value"})

    def __init__(self, value: str, *, expires_after: dt.datetime | None = None) -> None:
        self.value = _check_str(value, "credential")
        self.expires_after = _check_expiry(expires_after)

    def _pickle_reduce(self) -> tuple[Any, ...]:
        return (_new_azure_secret, (type(self), self.value, self.expires_after))


def _new_azure_secret(cls: type[_AzureSecret], value: str, expires: Any) -> _AzureSecret:
    return cls(value, expires_after=expires)


class AzureRefreshableCredential:
    """What an Azure credentials callback returns: a key, SAS or bearer token with expiry."""

    class AccessKey(_AzureSecret):
        """An account access key."""

    class SasToken(_AzureSecret):
        """A shared access signature token."""

    class BearerToken(_AzureSecret):
        """An OAuth bearer token."""


class AzureStaticCredentials:
    """Static Azure credential kinds: ``AccessKey``, ``SasToken``, ``BearerToken``."""

    class AccessKey(_AzureSecret):
        """An account access key."""

        def __init__(self, key: str) -> None:
            super().__init__(key)

    class SasToken(_AzureSecret):
        """A shared access signature token."""

        def __init__(self, token: str) -> None:
            super().__init__(token)

    class BearerToken(_AzureSecret):
        """An OAuth bearer token."""

        def __init__(self, token: str) -> None:
            super().__init__(token)


def _new_static_azure(cls: type[_AzureSecret], value: str, expires: Any) -> _AzureSecret:
    return cls(value)


def _static_azure_reduce(self: _AzureSecret) -> tuple[Any, ...]:
    return (_new_static_azure, (type(self), self.value, None))


for _cls in (
    AzureStaticCredentials.AccessKey,
    AzureStaticCredentials.SasToken,
    AzureStaticCredentials.BearerToken,
):
    _cls._pickle_reduce = _static_azure_reduce  # type: ignore[method-assign]


class AzureCredentials:
    """The kinds of Azure credentials: ``Anonymous``, ``FromEnv``, ``Static``, ``Refreshable``."""

    class Anonymous(_NoArgs):
        """Unauthenticated requests, for public containers."""

    class FromEnv(_NoArgs):
        """Credentials from the environment (``AZURE_STORAGE_*`` variables)."""

    class Static(_Wrapper):
        """One of the :class:`AzureStaticCredentials` kinds."""

    class Refreshable(_Refreshable[_AzureSecret]):
        """Credentials returned by a pickled callback, renewed before they expire."""

        _RESULT_TYPES = (
            AzureRefreshableCredential.AccessKey,
            AzureRefreshableCredential.SasToken,
            AzureRefreshableCredential.BearerToken,
        )


class Credentials:
    """Credentials of one virtual chunk container, by provider."""

    class S3(_Wrapper):
        """S3 credentials (any :data:`AnyS3Credential`)."""

    class Gcs(_Wrapper):
        """GCS credentials (any :data:`AnyGcsCredential`)."""

    class Azure(_Wrapper):
        """Azure credentials (any :data:`AnyAzureCredential`)."""

    class LocalFileSystemAccess(_NoArgs):
        """Authorizes a ``file://`` container, which needs no credentials."""

    class HttpAccess(_NoArgs):
        """Authorizes an ``http(s)://`` container, which needs no credentials."""


AnyS3Credential = (
    S3Credentials.Static
    | S3Credentials.Anonymous
    | S3Credentials.FromEnv
    | S3Credentials.Refreshable
)
AnyGcsStaticCredential = (
    GcsStaticCredentials.ServiceAccount
    | GcsStaticCredentials.ServiceAccountKey
    | GcsStaticCredentials.ApplicationCredentials
    | GcsStaticCredentials.BearerToken
)
AnyGcsCredential = (
    GcsCredentials.Anonymous
    | GcsCredentials.FromEnv
    | GcsCredentials.Static
    | GcsCredentials.Refreshable
)
AnyAzureStaticCredential = (
    AzureStaticCredentials.AccessKey
    | AzureStaticCredentials.SasToken
    | AzureStaticCredentials.BearerToken
)
AnyAzureCredential = (
    AzureCredentials.FromEnv
    | AzureCredentials.Anonymous
    | AzureCredentials.Static
    | AzureCredentials.Refreshable
)
AnyCredential = (
    Credentials.S3
    | Credentials.Gcs
    | Credentials.Azure
    | Credentials.LocalFileSystemAccess
    | Credentials.HttpAccess
)

#: Authorizes a local-filesystem (``file://``) virtual chunk container.
LocalFileSystemAccess = Credentials.LocalFileSystemAccess()
#: Authorizes an ``http://``/``https://`` virtual chunk container.
HttpAccess = Credentials.HttpAccess()
