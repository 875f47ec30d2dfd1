"""Byte-level storage backends: where repository objects live.

The contract is :class:`Storage` (async get / put / list / delete with conditional puts);
:func:`in_memory_storage` and :func:`local_filesystem_storage` build the two backends.
This layer imports nothing from the Icechunk format or higher layers.
"""

from __future__ import annotations

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
from icechunk.storage.local import LocalFileSystemStorage, local_filesystem_storage
from icechunk.storage.memory import InMemoryStorage, in_memory_storage

__all__ = [
    "ConditionalPutFailed",
    "InMemoryStorage",
    "LocalFileSystemStorage",
    "ObjectInfo",
    "PutMode",
    "Storage",
    "StorageConcurrencySettings",
    "StorageObjectInfo",
    "StorageRetriesSettings",
    "StorageSettings",
    "StorageTimeoutSettings",
    "VersionToken",
    "in_memory_storage",
    "local_filesystem_storage",
    "merge_settings",
    "validate_key",
    "validate_prefix",
]
