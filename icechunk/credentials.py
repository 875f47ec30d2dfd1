"""Credentials for object stores: S3, Google Cloud Storage and Azure Blob Storage.

Credentials are plain values handed to a storage factory (:func:`~icechunk.s3_storage`...)
or, through :func:`containers_credentials`, to a repository for its virtual chunk
containers. Secrets never appear in a ``repr``/``str``: only the first four characters of
an access key id are shown, every other secret prints as ``****``.

Credentials, like storages and configs, refuse to pickle on their own (``TypeError``, as
in the real ``icechunk``). A pickled repository, read-only session or fork keeps what is
needed to reconnect: static credentials travel with it (so dask workers can write),
refreshable ones travel as their pickled callback plus, only when
``scatter_initial_credentials`` asked for it, the first value it returned. Credentials
fetched later are never pickled.
"""

from __future__ import annotations

import datetime as dt
import pickle
from collections.abc import Callable, Mapping
from typing import Any

from icechunk._credential_types import (
    AnyAzureCredential,
    AnyAzureStaticCredential,
    AnyCredential,
    AnyGcsCredential,
    AnyGcsStaticCredential,
    AnyS3Credential,
    AzureCredentials,
    AzureRefreshableCredential,
    AzureStaticCredentials,
    Credentials,
    GcsBearerCredential,
    GcsCredentials,
    GcsStaticCredentials,
    HttpAccess,
    LocalFileSystemAccess,
    S3Credentials,
    S3StaticCredentials,
)

__all__ = [
    "AnyAzureCredential",
    "AnyAzureStaticCredential",
    "AnyCredential",
    "AnyGcsCredential",
    "AnyGcsStaticCredential",
    "AnyS3Credential",
    "AzureCredentials",
    "AzureRefreshableCredential",
    "AzureStaticCredentials",
    "Credentials",
    "GcsBearerCredential",
    "GcsCredentials",
    "GcsStaticCredentials",
    "HttpAccess",
    "LocalFileSystemAccess",
    "S3Credentials",
    "S3StaticCredentials",
    "azure_anonymous_credentials",
    "azure_credentials",
    "azure_from_env_credentials",
    "azure_refreshable_credentials",
    "azure_static_credentials",
    "containers_credentials",
    "gcs_anonymous_credentials",
    "gcs_credentials",
    "gcs_from_env_credentials",
    "gcs_refreshable_credentials",
    "gcs_static_credentials",
    "s3_anonymous_credentials",
    "s3_credentials",
    "s3_from_env_credentials",
    "s3_refreshable_credentials",
    "s3_static_credentials",
]


# --------------------------------------------------------------------------- S3 builders
def s3_refreshable_credentials(
    get_credentials: Callable[[], S3StaticCredentials], scatter_initial_credentials: bool = False
) -> S3Credentials.Refreshable:
    """S3 credentials obtained by calling ``get_credentials`` (which must pickle).

    Parameters
    ----------
    get_credentials
        Returns :class:`S3StaticCredentials`; called again shortly before they expire.
    scatter_initial_credentials
        Call it now and keep the result, so pickled copies need not call it at once
        (the result then travels with every pickled copy).
    """
    current = get_credentials() if scatter_initial_credentials else None
    return S3Credentials.Refreshable(pickle.dumps(get_credentials), current)


def s3_static_credentials(
    *,
    access_key_id: str,
    secret_access_key: str,
    session_token: str | None = None,
    expires_after: dt.datetime | None = None,
) -> S3Credentials.Static:
    """Fixed S3 credentials.

    Parameters
    ----------
    access_key_id, secret_access_key, session_token, expires_after
        See :class:`S3StaticCredentials`.
    """
    return S3Credentials.Static(
        S3StaticCredentials(access_key_id, secret_access_key, session_token, expires_after)
    )


def s3_anonymous_credentials() -> S3Credentials.Anonymous:
    """Unsigned S3 requests (public buckets)."""
    return S3Credentials.Anonymous()


def s3_from_env_credentials() -> S3Credentials.FromEnv:
    """S3 credentials found in the environment."""
    return S3Credentials.FromEnv()


def s3_credentials(
    *,
    access_key_id: str | None = None,
    secret_access_key: str | None = None,
    session_token: str | None = None,
    expires_after: dt.datetime | None = None,
    anonymous: bool | None = None,
    from_env: bool | None = None,
    get_credentials: Callable[[], S3StaticCredentials] | None = None,
    scatter_initial_credentials: bool = False,
) -> AnyS3Credential:
    """Pick the S3 credential kind from the arguments given (none: from the environment).

    Raises
    ------
    ValueError
        When the arguments mix kinds (e.g. keys together with ``anonymous=True``).
    """
    no_keys = access_key_id is None and secret_access_key is None
    no_static = no_keys and session_token is None and expires_after is None
    if (from_env is None or from_env) and no_static and not anonymous and get_credentials is None:
        return s3_from_env_credentials()
    if anonymous and no_static and not from_env and get_credentials is None:
        return s3_anonymous_credentials()
    if get_credentials is not None and no_static and not from_env and not anonymous:
        return s3_refreshable_credentials(get_credentials, scatter_initial_credentials)
    static_ok = not from_env and not anonymous and get_credentials is None
    if access_key_id and secret_access_key and static_ok:
        return s3_static_credentials(
            access_key_id=access_key_id,
            secret_access_key=secret_access_key,
            session_token=session_token,
            expires_after=expires_after,
        )
    raise ValueError("Conflicting arguments to s3_credentials function")


# --------------------------------------------------------------------------- GCS builders
def gcs_static_credentials(
    *,
    service_account_file: str | None = None,
    service_account_key: str | None = None,
    application_credentials: str | None = None,
    bearer_token: str | None = None,
) -> AnyGcsStaticCredential:
    """Exactly one static GCS credential (the first of the arguments given)."""
    if service_account_file is not None:
        return GcsStaticCredentials.ServiceAccount(service_account_file)
    if service_account_key is not None:
        return GcsStaticCredentials.ServiceAccountKey(service_account_key)
    if application_credentials is not None:
        return GcsStaticCredentials.ApplicationCredentials(application_credentials)
    if bearer_token is not None:
        return GcsStaticCredentials.BearerToken(bearer_token)
    raise ValueError("Conflicting arguments to gcs_static_credentials function")


def gcs_refreshable_credentials(
    get_credentials: Callable[[], GcsBearerCredential], scatter_initial_credentials: bool = False
) -> GcsCredentials.Refreshable:
    """GCS bearer tokens obtained by calling ``get_credentials`` (which must pickle)."""
    current = get_credentials() if scatter_initial_credentials else None
    return GcsCredentials.Refreshable(pickle.dumps(get_credentials), current)


def gcs_anonymous_credentials() -> GcsCredentials.Anonymous:
    """Unauthenticated GCS requests."""
    return GcsCredentials.Anonymous()


def gcs_from_env_credentials() -> GcsCredentials.FromEnv:
    """GCS credentials found in the environment."""
    return GcsCredentials.FromEnv()


def gcs_credentials(
    *,
    service_account_file: str | None = None,
    service_account_key: str | None = None,
    application_credentials: str | None = None,
    bearer_token: str | None = None,
    from_env: bool | None = None,
    anonymous: bool | None = None,
    get_credentials: Callable[[], GcsBearerCredential] | None = None,
    scatter_initial_credentials: bool = False,
) -> AnyGcsCredential:
    """Pick the GCS credential kind from the arguments given (none: from the environment)."""
    statics = (service_account_file, service_account_key, application_credentials, bearer_token)
    has_static = any(s is not None for s in statics)
    if anonymous:
        return gcs_anonymous_credentials()
    if (from_env is None or from_env) and not has_static and get_credentials is None:
        return gcs_from_env_credentials()
    if has_static and not from_env:
        return GcsCredentials.Static(
            gcs_static_credentials(
                service_account_file=service_account_file,
                service_account_key=service_account_key,
                application_credentials=application_credentials,
                bearer_token=bearer_token,
            )
        )
    if get_credentials is not None:
        return gcs_refreshable_credentials(get_credentials, scatter_initial_credentials)
    raise ValueError("Conflicting arguments to gcs_credentials function")


# --------------------------------------------------------------------------- Azure builders
def azure_static_credentials(
    *, access_key: str | None = None, sas_token: str | None = None, bearer_token: str | None = None
) -> AnyAzureStaticCredential:
    """Exactly one static Azure credential (the first of the arguments given)."""
    if access_key is not None:
        return AzureStaticCredentials.AccessKey(access_key)
    if sas_token is not None:
        return AzureStaticCredentials.SasToken(sas_token)
    if bearer_token is not None:
        return AzureStaticCredentials.BearerToken(bearer_token)
    raise ValueError("Conflicting arguments to azure_static_credentials function")


def azure_refreshable_credentials(
    get_credentials: Callable[[], Any], scatter_initial_credentials: bool = False
) -> AzureCredentials.Refreshable:
    """Azure credentials obtained by calling ``get_credentials`` (which must pickle).

    ``get_credentials`` returns one of the :class:`AzureRefreshableCredential` kinds.
    """
    current = get_credentials() if scatter_initial_credentials else None
    return AzureCredentials.Refreshable(pickle.dumps(get_credentials), current)


def azure_from_env_credentials() -> AzureCredentials.FromEnv:
    """Azure credentials found in the environment."""
    return AzureCredentials.FromEnv()


def azure_anonymous_credentials() -> AzureCredentials.Anonymous:
    """Unauthenticated Azure requests."""
    return AzureCredentials.Anonymous()


def azure_credentials(
    *,
    access_key: str | None = None,
    sas_token: str | None = None,
    bearer_token: str | None = None,
    from_env: bool | None = None,
    anonymous: bool | None = None,
    get_credentials: Callable[[], Any] | None = None,
    scatter_initial_credentials: bool = False,
) -> AnyAzureCredential:
    """Pick the Azure credential kind from the arguments given (none: from the environment)."""
    has_static = any(s is not None for s in (access_key, sas_token, bearer_token))
    if anonymous:
        return azure_anonymous_credentials()
    if get_credentials is not None:
        return azure_refreshable_credentials(get_credentials, scatter_initial_credentials)
    if (from_env is None or from_env) and not has_static:
        return azure_from_env_credentials()
    if has_static and not from_env:
        return AzureCredentials.Static(
            azure_static_credentials(
                access_key=access_key, sas_token=sas_token, bearer_token=bearer_token
            )
        )
    raise ValueError("Conflicting arguments to azure_credentials function")


# --------------------------------------------------------------------------- containers
def containers_credentials(
    m: Mapping[str, Any] | None = None, **kwargs: Any
) -> dict[str, AnyCredential | None]:
    """Wrap per-container credentials for ``authorize_virtual_chunk_access``.

    Parameters
    ----------
    m
        Container URL prefix to S3, GCS or Azure credentials, to :data:`HttpAccess` /
        :data:`LocalFileSystemAccess`, or to ``None`` (deprecated).
    **kwargs
        More entries, keyed by keyword (the older documented form).

    Raises
    ------
    ValueError
        For a value of any other type.
    """
    entries = {**(m or {}), **kwargs}
    result: dict[str, AnyCredential | None] = {}
    for prefix, cred in entries.items():
        if cred is None or isinstance(
            cred, Credentials.LocalFileSystemAccess | Credentials.HttpAccess
        ):
            result[prefix] = cred
        elif isinstance(cred, AnyS3Credential):
            result[prefix] = Credentials.S3(cred)
        elif isinstance(cred, AnyGcsCredential):
            result[prefix] = Credentials.Gcs(cred)
        elif isinstance(cred, AnyAzureCredential):
            result[prefix] = Credentials.Azure(cred)
        else:
            raise ValueError(f"Unknown credential type {type(cred)}")
    return result
