"""pyicechunk: a pure-Python, format-compatible implementation of Icechunk.

Icechunk is a transactional storage engine for Zarr: git-like branches, tags and
snapshots over object storage. The public names match the ``icechunk`` package.
"""

from __future__ import annotations

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
from icechunk.ops import GCSummary, Update, UpdateType
from icechunk.repository import Repository
from icechunk.session import ForkSession, Session, SessionMode
from icechunk.snapshots import ManifestFileInfo, SnapshotInfo
from icechunk.storage import (
    Storage,
    StorageConcurrencySettings,
    StorageRetriesSettings,
    StorageSettings,
    StorageTimeoutSettings,
    in_memory_storage,
    local_filesystem_storage,
)
from icechunk.store import IcechunkStore
from icechunk.versions import SpecVersion, spec_version

__version__ = "0.1.0"

__all__ = [
    "AlreadyExistsError",
    "BasicConflictSolver",
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
    "__version__",
    "gcs_store",
    "http_store",
    "local_filesystem_store",
    "s3_store",
    "spec_version",
    "in_memory_storage",
    "local_filesystem_storage",
    *_config_all,
]
