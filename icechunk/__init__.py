"""pyicechunk: a pure-Python, format-compatible implementation of Icechunk.

Icechunk is a transactional storage engine for Zarr: git-like branches, tags and
snapshots over object storage. The public names match the ``icechunk`` package.
"""

from __future__ import annotations

from icechunk._ancestry_graph import AncestryGraph
from icechunk._migration import upgrade_icechunk_repository
from icechunk._virtual_refs import ChunkType
from icechunk.config import *  # noqa: F403
from icechunk.config import (
    AnyObjectStoreConfig,
    ChecksumAlgorithm,
    S3Options,
    VirtualChunkContainer,
    gcs_store,
    http_store,
    local_filesystem_store,
    s3_store,
)
from icechunk.config import __all__ as _config_all
from icechunk.conflicts import (
    BasicConflictSolver,
    Conflict,
    ConflictDetector,
    ConflictSolver,
    ConflictType,
    VersionSelection,
)
from icechunk.credentials import (
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
    S3Credentials,
    S3StaticCredentials,
    azure_anonymous_credentials,
    azure_credentials,
    azure_from_env_credentials,
    azure_refreshable_credentials,
    azure_static_credentials,
    containers_credentials,
    gcs_credentials,
    gcs_from_env_credentials,
    gcs_refreshable_credentials,
    gcs_static_credentials,
    s3_anonymous_credentials,
    s3_credentials,
    s3_from_env_credentials,
    s3_refreshable_credentials,
    s3_static_credentials,
)
from icechunk.diff import Diff
from icechunk.errors import (
    AlreadyExistsError,
    ConflictError,
    ErrorKind,
    FormatError,
    IcechunkError,
    InternalError,
    InvalidInputError,
    NodeNotFoundError,
    NotFoundError,
    ReadOnlyError,
    RebaseFailedError,
    RefNotFoundError,
    RepositoryNotFoundError,
    SessionStateError,
    SnapshotNotFoundError,
    StorageError,
)
from icechunk.format.model import RepoAvailability
from icechunk.ops import GCSummary, RepoStatus, Update, UpdateType
from icechunk.repository import Repository
from icechunk.session import ForkSession, Session, SessionMode
from icechunk.snapshots import ManifestFileInfo, SnapshotInfo
from icechunk.storage import (
    Storage,
    StorageConcurrencySettings,
    StorageRetriesSettings,
    StorageSettings,
    StorageTimeoutSettings,
    azure_storage,
    gcs_storage,
    hf_storage,
    http_storage,
    in_memory_storage,
    local_filesystem_storage,
    r2_storage,
    redirect_storage,
    s3_storage,
    tigris_storage,
)
from icechunk.store import IcechunkStore
from icechunk.versions import PACKAGE_VERSION as _PACKAGE_VERSION
from icechunk.versions import PYICECHUNK_VERSION as _PYICECHUNK_VERSION
from icechunk.versions import (
    SpecVersion,
    print_debug_info,
    spec_version,
    supported_spec_versions,
    user_agent,
)
from icechunk.virtual import VirtualChunkSpec

#: The reference ``icechunk`` API version this package implements, with our own release as
#: the local label (files record it as their writer: see icechunk.versions).
__version__ = _PACKAGE_VERSION
#: This implementation's own release.
__pyicechunk_version__ = _PYICECHUNK_VERSION

__all__ = [
    "AlreadyExistsError",
    "AncestryGraph",
    "RepoAvailability",
    "RepoStatus",
    "print_debug_info",
    "supported_spec_versions",
    "user_agent",
    "upgrade_icechunk_repository",
    "BasicConflictSolver",
    "ChunkType",
    "Conflict",
    "ConflictDetector",
    "ConflictError",
    "ConflictSolver",
    "ConflictType",
    "Diff",
    "ErrorKind",
    "ForkSession",
    "FormatError",
    "GCSummary",
    "IcechunkError",
    "IcechunkStore",
    "InternalError",
    "InvalidInputError",
    "ManifestFileInfo",
    "NodeNotFoundError",
    "NotFoundError",
    "ReadOnlyError",
    "RebaseFailedError",
    "RefNotFoundError",
    "Repository",
    "RepositoryNotFoundError",
    "Session",
    "SessionMode",
    "SessionStateError",
    "SnapshotInfo",
    "SnapshotNotFoundError",
    "Storage",
    "StorageError",
    "Update",
    "UpdateType",
    "VersionSelection",
    "AnyObjectStoreConfig",
    "ChecksumAlgorithm",
    "S3Options",
    "SpecVersion",
    "StorageConcurrencySettings",
    "StorageRetriesSettings",
    "StorageSettings",
    "StorageTimeoutSettings",
    "VirtualChunkContainer",
    "VirtualChunkSpec",
    "__version__",
    "gcs_store",
    "http_store",
    "local_filesystem_store",
    "s3_store",
    "spec_version",
    "in_memory_storage",
    "local_filesystem_storage",
    "azure_storage",
    "gcs_storage",
    "hf_storage",
    "http_storage",
    "r2_storage",
    "redirect_storage",
    "s3_storage",
    "tigris_storage",
    *_config_all,
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
    "S3Credentials",
    "S3StaticCredentials",
    "azure_anonymous_credentials",
    "azure_credentials",
    "azure_from_env_credentials",
    "azure_refreshable_credentials",
    "azure_static_credentials",
    "containers_credentials",
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
