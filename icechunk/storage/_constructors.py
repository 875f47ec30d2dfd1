"""``Storage.new_s3(...)`` and the other object-store constructors of :class:`Storage`.

They mirror the factory functions (:func:`~icechunk.s3_storage`...) but take an
:class:`~icechunk.S3Options` and a ready-made credential, like the real ``icechunk``.
Kept apart from :mod:`icechunk.storage.base` so the contract module stays small; the
backends are imported lazily because they import ``base``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from icechunk._config_store import S3Options
    from icechunk.storage.azure import AzureBlobStorage
    from icechunk.storage.gcs import GcsStorage
    from icechunk.storage.http import HttpStorage
    from icechunk.storage.s3 import S3Storage

__all__ = ["CloudConstructors"]


def _headers(
    read: dict[str, str] | None, write: dict[str, str] | None, both: dict[str, str] | None
) -> dict[str, str]:
    from icechunk.storage.s3 import _merged_headers

    return _merged_headers(read, write, both)


class CloudConstructors:
    """Mixin of :class:`~icechunk.storage.Storage` with the object-store constructors."""

    @classmethod
    def new_s3(
        cls,
        config: S3Options,
        bucket: str,
        prefix: str | None,
        credentials: Any = None,
        legacy_rooted_keys: bool | None = None,
        *,
        read_headers: dict[str, str] | None = None,
        write_headers: dict[str, str] | None = None,
        headers: dict[str, str] | None = None,
    ) -> S3Storage:
        """An S3 storage for ``config`` (see :func:`~icechunk.s3_storage`)."""
        from icechunk.storage.s3 import S3Storage, _root_prefix

        _root_prefix(prefix, legacy_rooted_keys)
        merged = _headers(read_headers, write_headers, headers)
        return S3Storage(config, bucket, prefix, credentials, headers=merged)

    @classmethod
    def new_s3_object_store(
        cls,
        config: S3Options,
        bucket: str,
        prefix: str | None,
        credentials: Any = None,
        *,
        read_headers: dict[str, str] | None = None,
        write_headers: dict[str, str] | None = None,
        headers: dict[str, str] | None = None,
    ) -> S3Storage:
        """Same as :meth:`new_s3` (one S3 client serves both here)."""
        from icechunk.storage.s3 import S3Storage

        merged = _headers(read_headers, write_headers, headers)
        return S3Storage(
            config, bucket, prefix, credentials, kind="s3_object_store", headers=merged
        )

    @classmethod
    def new_tigris(
        cls,
        config: S3Options,
        bucket: str,
        prefix: str | None,
        use_weak_consistency: bool,
        credentials: Any = None,
        legacy_rooted_keys: bool | None = None,
        *,
        read_headers: dict[str, str] | None = None,
        write_headers: dict[str, str] | None = None,
        headers: dict[str, str] | None = None,
    ) -> S3Storage:
        """A Tigris storage (see :func:`~icechunk.tigris_storage`)."""
        from icechunk.errors import ErrorKind, InvalidInputError
        from icechunk.storage.s3 import S3Storage

        if use_weak_consistency:
            raise InvalidInputError(
                "use_weak_consistency=True is not supported", ErrorKind.STORAGE_CONFIG
            )
        merged = _headers(read_headers, write_headers, headers)
        return S3Storage(config, bucket, prefix, credentials, kind="tigris", headers=merged)

    @classmethod
    def new_r2(
        cls,
        config: S3Options,
        bucket: str | None = None,
        prefix: str | None = None,
        account_id: str | None = None,
        credentials: Any = None,
        legacy_rooted_keys: bool | None = None,
        *,
        read_headers: dict[str, str] | None = None,
        write_headers: dict[str, str] | None = None,
        headers: dict[str, str] | None = None,
    ) -> S3Storage:
        """A Cloudflare R2 storage (see :func:`~icechunk.r2_storage`)."""
        import copy

        from icechunk.storage.s3 import r2_storage

        storage = r2_storage(
            bucket=bucket,
            prefix=prefix,
            account_id=account_id,
            endpoint_url=config.endpoint_url,
            anonymous=True,  # replaced below by the given credentials
            read_headers=read_headers,
            write_headers=write_headers,
            headers=headers,
        )
        options = copy.deepcopy(config)
        options.endpoint_url = storage._options.endpoint_url
        options.region = config.region or "auto"
        storage._options, storage._credentials = options, credentials
        return storage

    @classmethod
    def new_gcs(
        cls,
        bucket: str,
        prefix: str | None,
        credentials: Any = None,
        *,
        config: dict[str, str] | None = None,
        read_headers: dict[str, str] | None = None,
        write_headers: dict[str, str] | None = None,
        headers: dict[str, str] | None = None,
    ) -> GcsStorage:
        """A Google Cloud Storage storage (see :func:`~icechunk.gcs_storage`)."""
        from icechunk.storage.gcs import GcsStorage

        return GcsStorage(bucket, prefix, credentials, config)

    @classmethod
    def new_azure_blob(
        cls,
        account: str,
        container: str,
        prefix: str,
        credentials: Any = None,
        *,
        config: dict[str, str] | None = None,
    ) -> AzureBlobStorage:
        """An Azure Blob Storage storage (see :func:`~icechunk.azure_storage`)."""
        from icechunk.storage.azure import AzureBlobStorage

        return AzureBlobStorage(account, container, prefix, credentials, config)

    @classmethod
    def new_http(
        cls,
        base_url: str,
        config: dict[str, str] | None = None,
        headers: dict[str, str] | None = None,
    ) -> HttpStorage:
        """A read-only HTTP storage (see :func:`~icechunk.http_storage`)."""
        from icechunk.storage.http import HttpStorage

        return HttpStorage(base_url, config, headers)
