"""Azure Blob Storage over ``obstore``.

A create-only put that loses gets ``409 BlobAlreadyExists``, a stale compare-and-swap
``412 ConditionNotMet``; both become :class:`~icechunk.storage.ConditionalPutFailed`.
Azure ETags change on every write, so version tokens are unique per write.
"""

from __future__ import annotations

import builtins
import datetime as dt
from typing import Any

from obstore.store import AzureStore

from icechunk.credentials import (
    AnyAzureCredential,
    AzureCredentials,
    AzureRefreshableCredential,
    AzureStaticCredentials,
    azure_credentials,
)
from icechunk.errors import ErrorKind, InvalidInputError
from icechunk.storage._objstore import (
    ObjectStoreStorage,
    obstore_client_options,
    obstore_retry_config,
)
from icechunk.storage.base import StorageSettings

__all__ = ["AzureBlobStorage", "azure_storage"]

#: ``config`` keys that configure the HTTP client rather than the Azure store.
_CLIENT_KEYS = frozenset(
    {"allow_http", "allow_invalid_certificates", "connect_timeout", "timeout", "user_agent"}
)


def _check_name(value: object, what: str) -> str:
    if not isinstance(value, str) or not value:
        raise InvalidInputError(f"an Azure storage needs a {what}", ErrorKind.STORAGE_CONFIG)
    return value


class AzureBlobStorage(ObjectStoreStorage):
    """Objects under ``prefix`` in an Azure container; build one with :func:`azure_storage`.

    Parameters
    ----------
    account
        The storage account.
    container
        The blob container.
    prefix
        The repository root inside the container.
    credentials
        Any Azure credential kind; ``None`` reads them from the environment.
    config
        ``object_store`` Azure configuration keys (e.g. ``azure_storage_endpoint``);
        client keys such as ``allow_http`` are accepted too.
    settings
        Overrides of the default :class:`StorageSettings`.
    """

    _SUFFIX_RANGES = False

    def __init__(
        self,
        account: str,
        container: str,
        prefix: str,
        credentials: AnyAzureCredential | None = None,
        config: dict[str, str] | None = None,
        settings: StorageSettings | None = None,
    ) -> None:
        super().__init__(settings)
        self._account = _check_name(account, "account")
        self._container = _check_name(container, "container")
        self._prefix = (prefix or "").strip("/")
        self._credentials = credentials
        self._config = dict(config or {})

    @property
    def _at_bucket_root(self) -> bool:
        return not self._prefix

    def _state(self) -> tuple[Any, ...]:
        return (
            self._account,
            self._container,
            self._prefix,
            self._credentials,
            self._config,
            self._user_settings,
        )

    def _location(self) -> tuple[str, ...]:
        endpoint = self._config.get("azure_storage_endpoint", self._config.get("endpoint", ""))
        return (self._account, self._container, self._prefix, endpoint)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, AzureBlobStorage):
            return NotImplemented
        return self._location() == other._location()

    def __hash__(self) -> int:
        return hash(self._location())

    def _pickle_reduce(self) -> tuple[Any, ...]:
        return (AzureBlobStorage, self._state())

    def _clone(self) -> AzureBlobStorage:
        return AzureBlobStorage(*self._state())

    def _description(self) -> builtins.list[tuple[str, str]]:
        return [
            ("type", "Azure"),
            ("account", self._account),
            ("container", self._container),
            ("prefix", self._prefix),
        ]

    def _build_store(self, settings: StorageSettings) -> Any:
        store_config: Any = {"account_name": self._account}
        client: Any = obstore_client_options(settings, user_agent=self._user_agent())
        for key, value in self._config.items():
            if key in _CLIENT_KEYS:
                client[key] = value
            else:
                store_config[key] = value
        provider = _apply_credentials(store_config, self._credentials)
        return AzureStore(
            self._container,
            prefix=self._prefix or None,
            config=store_config,
            client_options=client,
            retry_config=obstore_retry_config(settings),  # type: ignore[arg-type]
            credential_provider=provider,
        )


def _apply_credentials(config: dict[str, Any], credentials: AnyAzureCredential | None) -> Any:
    """Put static credentials in ``config``; return a provider for refreshable ones."""
    if isinstance(credentials, AzureCredentials.Anonymous):
        config["skip_signature"] = True
    elif isinstance(credentials, AzureCredentials.Static):
        _static_config(config, credentials.credentials)
    elif isinstance(credentials, AzureCredentials.Refreshable):
        return _RefreshingProvider(credentials)
    return None


def _static_config(config: dict[str, Any], secret: Any) -> None:
    if isinstance(secret, AzureStaticCredentials.AccessKey):
        config["account_key"] = secret.value
    elif isinstance(secret, AzureStaticCredentials.SasToken):
        config["sas_key"] = secret.value
    elif isinstance(secret, AzureStaticCredentials.BearerToken):
        config["token"] = secret.value
    else:
        raise TypeError(f"unknown Azure static credential {type(secret).__name__}")


class _RefreshingProvider:
    """obstore credential callback over :class:`AzureCredentials.Refreshable`."""

    def __init__(self, credentials: AzureCredentials.Refreshable) -> None:
        self._credentials = credentials

    def __call__(self) -> dict[str, Any]:
        secret = self._credentials.get()
        expires = secret.expires_after
        if expires is not None and expires.tzinfo is None:
            expires = expires.replace(tzinfo=dt.UTC)
        if isinstance(secret, AzureRefreshableCredential.AccessKey):
            return {"access_key": secret.value, "expires_at": expires}
        if isinstance(secret, AzureRefreshableCredential.SasToken):
            pairs = [tuple(p.split("=", 1)) for p in secret.value.lstrip("?").split("&") if p]
            return {"sas_token": pairs, "expires_at": expires}
        return {"token": secret.value, "expires_at": expires}

    def __repr__(self) -> str:
        return "<refreshable Azure credentials>"


def azure_storage(
    *,
    account: str,
    container: str,
    prefix: str,
    access_key: str | None = None,
    sas_token: str | None = None,
    bearer_token: str | None = None,
    from_env: bool | None = None,
    anonymous: bool | None = None,
    config: dict[str, str] | None = None,
) -> AzureBlobStorage:
    """Create a storage in an Azure Blob Storage container.

    Parameters
    ----------
    account
        The storage account.
    container
        The container holding the repository.
    prefix
        The repository root inside the container.
    access_key, sas_token, bearer_token
        Static credentials (give at most one).
    from_env
        Read credentials from the environment (the default when nothing else is given).
    anonymous
        Access a public container without credentials.
    config
        ``object_store`` Azure configuration keys, e.g. ``{"azure_storage_endpoint": url}``.

    Returns
    -------
    AzureBlobStorage
        A storage; it connects lazily on the first request.
    """
    credentials = azure_credentials(
        access_key=access_key,
        sas_token=sas_token,
        bearer_token=bearer_token,
        from_env=from_env,
        anonymous=anonymous,
    )
    return AzureBlobStorage(account, container, prefix, credentials, config)
