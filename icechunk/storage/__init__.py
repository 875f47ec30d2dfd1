"""Byte-level storage backends: where repository objects live.

The contract is :class:`Storage` (async get / put / list / delete with conditional puts).
Factories: :func:`in_memory_storage`, :func:`local_filesystem_storage`, :func:`s3_storage`
(and :func:`s3_object_store_storage`, :func:`tigris_storage`, :func:`r2_storage`),
:func:`gcs_storage`, :func:`azure_storage` and the read-only :func:`http_storage`.
:func:`open_object_reader` reads byte ranges of objects named by URL (virtual chunks).
This layer imports nothing from the Icechunk format or higher layers.
"""

from __future__ import annotations

from icechunk._config_store import S3Options  # the real package also lists it here
from icechunk.storage.azure import AzureBlobStorage, azure_storage
from icechunk.storage.base import (
    ConditionalPutFailed,
    ObjectInfo,
    PutMode,
    Storage,
    StorageConcurrencySettings,
    StorageObjectInfo,
    StorageRetriesSettings,
    StorageSettings,
    StorageTimeoutSettings,
    VersionToken,
    merge_settings,
    validate_key,
    validate_prefix,
)
from icechunk.storage.fetch import ObjectReader, open_object_reader
from icechunk.storage.gcs import GcsStorage, gcs_storage
from icechunk.storage.http import HttpStorage, http_storage
from icechunk.storage.local import LocalFileSystemStorage, local_filesystem_storage
from icechunk.storage.memory import InMemoryStorage, in_memory_storage
from icechunk.storage.redirect import RedirectStorage, redirect_storage
from icechunk.storage.s3 import (
    S3Storage,
    hf_storage,
    r2_storage,
    s3_object_store_storage,
    s3_storage,
    tigris_storage,
)

__all__ = [
    "AzureBlobStorage",
    "ConditionalPutFailed",
    "GcsStorage",
    "HttpStorage",
    "InMemoryStorage",
    "LocalFileSystemStorage",
    "ObjectInfo",
    "ObjectReader",
    "RedirectStorage",
    "S3Options",
    "S3Storage",
    "PutMode",
    "Storage",
    "StorageConcurrencySettings",
    "StorageObjectInfo",
    "StorageRetriesSettings",
    "StorageSettings",
    "StorageTimeoutSettings",
    "VersionToken",
    "azure_storage",
    "gcs_storage",
    "hf_storage",
    "http_storage",
    "in_memory_storage",
    "local_filesystem_storage",
    "merge_settings",
    "open_object_reader",
    "r2_storage",
    "redirect_storage",
    "s3_object_store_storage",
    "s3_storage",
    "tigris_storage",
    "validate_key",
    "validate_prefix",
]
