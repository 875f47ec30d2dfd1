"""pyicechunk: a pure-Python, format-compatible implementation of Icechunk.

Icechunk is a transactional storage engine for Zarr: git-like branches, tags and
snapshots over object storage. The public names match the ``icechunk`` package.
"""

from __future__ import annotations

from icechunk.config import *  # noqa: F403
from icechunk.config import __all__ as _config_all
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
from icechunk.ops import Update, UpdateType
from icechunk.repository import Repository
from icechunk.session import Session, SessionMode
from icechunk.snapshots import SnapshotInfo
from icechunk.storage import Storage, in_memory_storage, local_filesystem_storage
from icechunk.store import IcechunkStore

__version__ = "0.1.0"

__all__ = [
    "AlreadyExistsError",
    "ConflictError",
    "Diff",
    "ErrorKind",
    "FormatError",
    "IcechunkError",
    "IcechunkStore",
    "InternalError",
    "InvalidInputError",
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
    "__version__",
    "in_memory_storage",
    "local_filesystem_storage",
    *_config_all,
]
