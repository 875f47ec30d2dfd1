"""Read byte ranges of objects named by URL, for virtual chunks.

:func:`open_object_reader` turns an object-store description (an
:class:`~icechunk.config.ObjectStoreConfig` kind, as held by a virtual chunk container)
plus optional credentials into an :class:`ObjectReader`. The reader maps a URL such as
``s3://bucket/path/file.nc`` to the right bucket and key and reads bytes with the same
clients, retries and error mapping as the repository storages::

    reader = open_object_reader(container.store, credentials)
    data = await reader.read("s3://bucket/data/file.nc", 1000, 2000)  # bytes [1000, 2000)

Readers are cached per bucket inside one :class:`ObjectReader`; create one reader per
container and reuse it.
"""

from __future__ import annotations

import datetime as dt
import threading
import urllib.parse
from typing import Any

from icechunk._config_store import ObjectStoreConfig, S3Options
from icechunk.credentials import Credentials
from icechunk.errors import ErrorKind, InvalidInputError
from icechunk.storage.base import Storage, StorageObjectInfo

__all__ = ["ObjectReader", "open_object_reader"]


class ObjectReader:
    """Reads byte ranges of objects addressed by URL from one kind of object store.

    Build one with :func:`open_object_reader`.
    """

    def __init__(self, store: Any, credentials: Any = None) -> None:
        self._store = store
        self._credentials = _unwrap(credentials)
        self._storages: dict[str, Storage] = {}
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"<ObjectReader for {type(self._store).__qualname__}>"

    async def read(self, url: str, start: int = 0, end: int | None = None) -> bytes:
        """Bytes ``[start, end)`` of the object at ``url`` (``end=None``: to its end).

        Raises
        ------
        NotFoundError
            With kind ``OBJECT_NOT_FOUND`` when the object does not exist.
        InvalidInputError
            When the URL's scheme does not fit the store.
        """
        storage, key = self._locate(url)
        return await storage._get(key, start, end)

    async def read_if_unchanged(
        self,
        url: str,
        start: int,
        end: int | None,
        etag: str | None = None,
        modified_by: dt.datetime | None = None,
    ) -> bytes | None:
        """Bytes ``[start, end)`` if the object still matches ``etag`` / ``modified_by``.

        Returns ``None`` when the object changed (a failed precondition); see
        :meth:`~icechunk.storage.Storage.get_if_unchanged`.
        """
        storage, key = self._locate(url)
        return await storage.get_if_unchanged(key, (start, end), etag, modified_by)

    async def head(self, url: str) -> StorageObjectInfo | None:
        """Size, version (ETag/generation) and modification time of the object, or None."""
        storage, key = self._locate(url)
        return await storage._head(key)

    def _locate(self, url: str) -> tuple[Storage, str]:
        parsed = urllib.parse.urlsplit(url)
        scheme = parsed.scheme.lower()
        allowed = getattr(type(self._store), "_SCHEMES", ())
        if scheme not in allowed:
            raise InvalidInputError(
                f"URL {url!r} cannot be read with {type(self._store).__qualname__}",
                ErrorKind.STORAGE_CONFIG,
            )
        if scheme == "file":  # one storage per directory (a root of "/" confuses confinement)
            directory, _, key = urllib.parse.unquote(parsed.path).rpartition("/")
            root = directory or "/"
        elif scheme in ("http", "https"):
            root = f"{scheme}://{parsed.netloc}"
            key = parsed.path.lstrip("/") + (f"?{parsed.query}" if parsed.query else "")
        else:
            root, key = parsed.netloc, parsed.path.lstrip("/")
        if not key:
            raise InvalidInputError(f"URL {url!r} names no object", ErrorKind.STORAGE_CONFIG)
        with self._lock:
            storage = self._storages.get(root)
            if storage is None:
                storage = self._storages[root] = self._open(root)
        return storage, key

    def _open(self, root: str) -> Storage:
        store = self._store
        name = type(store).__name__
        if name == "LocalFileSystem":
            from icechunk.storage.local import LocalFileSystemStorage

            return LocalFileSystemStorage(root)
        if name in ("S3", "S3Compatible", "Tigris"):
            from icechunk.storage.s3 import S3Storage

            options: S3Options = store._0
            return S3Storage(options, root, None, self._credentials)
        if name == "Gcs":
            from icechunk.storage.gcs import GcsStorage

            return GcsStorage(root, None, self._credentials, store._0)
        if name == "Azure":
            from icechunk.storage.azure import AzureBlobStorage

            opts = dict(store._0 or {})
            account = opts.pop("account", None) or opts.pop("azure_storage_account_name", "")
            return AzureBlobStorage(account, root, "", self._credentials, opts)
        if name == "Http":
            from icechunk.storage.http import HttpStorage

            return HttpStorage(root, store._0, store._1)
        raise InvalidInputError(f"cannot read virtual chunks from {name}", ErrorKind.STORAGE_CONFIG)


def _unwrap(credentials: Any) -> Any:
    """The provider credentials inside a :class:`Credentials` wrapper (or as given)."""
    if isinstance(credentials, Credentials.S3 | Credentials.Gcs | Credentials.Azure):
        return credentials.credentials
    if isinstance(credentials, Credentials.LocalFileSystemAccess | Credentials.HttpAccess):
        return None
    return credentials


def open_object_reader(store: ObjectStoreConfig, credentials: Any = None) -> ObjectReader:
    """An :class:`ObjectReader` for URLs served by ``store``.

    Parameters
    ----------
    store
        An :class:`~icechunk.config.ObjectStoreConfig` kind (``s3_store(...)``,
        ``gcs_store(...)``, ``azure_store(...)``, ``http_store(...)``,
        ``local_filesystem_store(...)``).
    credentials
        Credentials for the store: a :class:`~icechunk.Credentials` wrapper (as built by
        :func:`~icechunk.containers_credentials`), a provider credential such as
        :func:`~icechunk.s3_static_credentials`, or ``None`` (environment / anonymous
        as the store's options say).

    Returns
    -------
    ObjectReader
        A reader that opens one client per bucket, lazily.
    """
    if not isinstance(store, ObjectStoreConfig):
        raise TypeError(f"store must be an ObjectStoreConfig kind, not {type(store).__name__}")
    return ObjectReader(store, credentials)
