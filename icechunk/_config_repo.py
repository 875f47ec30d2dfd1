"""The repository configuration: every tunable of an open repository in one value."""

from __future__ import annotations

import copy
import os
from collections.abc import Mapping
from typing import Any

from icechunk import _config_settings as settings
from icechunk._config_base import (
    Display,
    Field,
    Shown,
    Struct,
    check_instance,
    check_str,
    config_format_error,
    display_of,
    indent_tail,
    opt_uint,
    quote,
    require_map,
    struct_field,
)
from icechunk._config_core import CachingConfig, CompressionConfig, RepoUpdateRetryConfig
from icechunk._config_manifest import ManifestConfig
from icechunk._config_vcc import VirtualChunkContainer, validate_container

__all__ = ["RepositoryConfig"]

_SCALARS = (
    "inline_chunk_threshold_bytes",
    "get_partial_values_concurrency",
    "max_concurrent_requests",
    "max_concurrent_decodes",
    "num_updates_per_repo_info_file",
)
_STRUCTS = ("compression", "caching", "manifest", "repo_update_retries")
#: Every key of the stored dict that this class understands.
_KNOWN_KEYS = (*_SCALARS, *_STRUCTS, "storage", "virtual_chunk_containers", "previous_file")


def _cpu_count() -> int:
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def _check_containers(value: object, what: str) -> dict[str, VirtualChunkContainer] | None:
    if value is None:
        return None
    if not isinstance(value, Mapping):
        raise TypeError(f"{what}: expected a dict of VirtualChunkContainer")
    return {
        check_str(k, what): copy.deepcopy(check_instance(v, VirtualChunkContainer, what))
        for k, v in value.items()
    }


def _repr_containers(containers: dict[str, VirtualChunkContainer] | None) -> str:
    if containers is None:
        return "None"
    if not containers:
        return "{}"
    body = "".join(f"    {quote(k)}: {indent_tail(repr(v))},\n" for k, v in containers.items())
    return "{\n" + body + "}"


class RepositoryConfig(Struct):
    """Configuration of a repository; None everywhere means "use the default".

    Parameters
    ----------
    inline_chunk_threshold_bytes
        Chunks up to this size are stored inside the manifest; None means 512.
    get_partial_values_concurrency
        Concurrent requests of a partial-values read; None means 10.
    compression
        Metadata compression; None uses the defaults.
    max_concurrent_requests
        Most concurrent requests to storage; None means 256.
    caching
        In-memory caches; None uses the defaults.
    storage
        A ``StorageSettings``; None keeps the storage backend's own settings.
    virtual_chunk_containers
        Containers that virtual chunks may be read from; None means none.
    manifest
        Manifest preloading, splitting and compression; None uses the defaults.
    repo_update_retries
        Retries of repo-info updates; None uses the defaults.
    num_updates_per_repo_info_file
        Operations kept in one repo-info file before it rolls over; None means 1,000.
    max_concurrent_decodes
        Metadata files decompressed and parsed at once; None means the number of CPUs.
    """

    __slots__ = (
        "_caching",
        "_compression",
        "_get_partial_values_concurrency",
        "_inline_chunk_threshold_bytes",
        "_manifest",
        "_max_concurrent_decodes",
        "_max_concurrent_requests",
        "_num_updates_per_repo_info_file",
        "_previous_file",
        "_repo_update_retries",
        "_storage",
        "_storage_extra",
        "_virtual_chunk_containers",
    )
    _FIELDS = (
        *_SCALARS,
        "compression",
        "caching",
        "storage",
        "manifest",
        "repo_update_retries",
        "virtual_chunk_containers",
    )
    _REPR_NAME = "icechunk.config.RepositoryConfig"
    _storage: Any
    _storage_extra: dict[str, Any]
    _virtual_chunk_containers: dict[str, VirtualChunkContainer] | None
    _previous_file: Any

    inline_chunk_threshold_bytes = Field(
        opt_uint(16),
        "Largest chunk stored inline in a manifest; None means 512.",
        shown_default=512,
    )
    get_partial_values_concurrency = Field(
        opt_uint(16),
        "Concurrent requests of a partial-values read; None means 10.",
        shown_default=10,
    )
    max_concurrent_requests = Field(
        opt_uint(16), "Most concurrent storage requests; None means 256.", shown_default=256
    )
    max_concurrent_decodes = Field(
        opt_uint(16),
        "Metadata files decoded at once; None means the number of CPUs.",
        shown_default=_cpu_count(),
    )
    num_updates_per_repo_info_file = Field(
        opt_uint(16), "Operations per repo-info file; None means 1,000.", shown_default=1000
    )
    compression = struct_field(CompressionConfig, "Metadata compression settings.", merge=True)
    caching = struct_field(CachingConfig, "In-memory cache sizes.", merge=True)
    manifest = struct_field(ManifestConfig, "Manifest settings.", merge=True)
    repo_update_retries = struct_field(
        RepoUpdateRetryConfig, "Retries of repo-info updates.", merge=True
    )

    def __init__(
        self,
        inline_chunk_threshold_bytes: int | None = None,
        get_partial_values_concurrency: int | None = None,
        compression: CompressionConfig | None = None,
        max_concurrent_requests: int | None = None,
        caching: CachingConfig | None = None,
        storage: Any = None,
        virtual_chunk_containers: dict[str, VirtualChunkContainer] | None = None,
        manifest: ManifestConfig | None = None,
        repo_update_retries: RepoUpdateRetryConfig | None = None,
        num_updates_per_repo_info_file: int | None = None,
        max_concurrent_decodes: int | None = None,
    ) -> None:
        super().__init__()
        self.inline_chunk_threshold_bytes = inline_chunk_threshold_bytes
        self.get_partial_values_concurrency = get_partial_values_concurrency
        self.compression = compression
        self.max_concurrent_requests = max_concurrent_requests
        self.caching = caching
        self.storage = storage
        self._virtual_chunk_containers = _check_containers(
            virtual_chunk_containers, "virtual_chunk_containers"
        )
        self.manifest = manifest
        self.repo_update_retries = repo_update_retries
        self.num_updates_per_repo_info_file = num_updates_per_repo_info_file
        self.max_concurrent_decodes = max_concurrent_decodes
        self._previous_file = None

    @staticmethod
    def default() -> RepositoryConfig:
        """A config with every setting left to its default.

        Returns
        -------
        RepositoryConfig
            ``RepositoryConfig()``.
        """
        return RepositoryConfig()

    # -- storage settings (a class of the storage layer, handled through _config_settings)

    @property
    def storage(self) -> Any:
        """The ``StorageSettings``, or None to keep the storage backend's own settings."""
        self._storage = settings.resolve(self._storage)
        return self._storage

    @storage.setter
    def storage(self, value: Any) -> None:
        self._storage = value
        self._storage_extra = {}

    def _storage_dict(self) -> dict[str, Any] | None:
        return settings.to_dict(settings.STORAGE, self._storage)

    @property
    def previous_file(self) -> Any:
        """The ``previous_file`` entry of the stored config (read-only; normally None)."""
        return copy.deepcopy(self._previous_file)

    # -- virtual chunk containers

    @property
    def virtual_chunk_containers(self) -> dict[str, VirtualChunkContainer] | None:
        """A copy of the virtual chunk containers, keyed by URL prefix, or None."""
        return copy.deepcopy(self._virtual_chunk_containers)

    def get_virtual_chunk_container(self, name: str) -> VirtualChunkContainer | None:
        """The container stored under ``name`` (its URL prefix), or None.

        Parameters
        ----------
        name
            The key of the container.

        Returns
        -------
        VirtualChunkContainer | None
            A copy of the container.
        """
        found = (self._virtual_chunk_containers or {}).get(name)
        return copy.deepcopy(found)

    def set_virtual_chunk_container(self, cont: VirtualChunkContainer) -> None:
        """Add a container, or replace the one with the same URL prefix or name.

        Parameters
        ----------
        cont
            The container.

        Raises
        ------
        InvalidInputError
            If the container's URL prefix or name is invalid for its store.
        """
        check_instance(cont, VirtualChunkContainer, "cont")
        validate_container(cont)
        containers = dict(self._virtual_chunk_containers or {})
        if cont.name is not None:
            containers = {k: v for k, v in containers.items() if v.name != cont.name}
        containers[cont.url_prefix] = copy.deepcopy(cont)
        self._virtual_chunk_containers = containers

    def clear_virtual_chunk_containers(self) -> None:
        """Remove every virtual chunk container."""
        self._virtual_chunk_containers = {}

    # -- merging

    def merge(self, other: RepositoryConfig) -> RepositoryConfig:
        """A new config with ``other``'s settings over this one's.

        Plain settings set in ``other`` win; compression, caching, manifest, storage and
        repo-update retries merge field by field; ``other``'s virtual chunk containers, when
        set, replace this config's.

        Parameters
        ----------
        other
            The overriding config.

        Returns
        -------
        RepositoryConfig
            The merged config.
        """
        check_instance(other, RepositoryConfig, "other")
        result = self._merged(other)
        result._storage = settings.merge(settings.STORAGE, self._storage, other._storage)
        result._storage_extra = {**self._storage_extra, **other._storage_extra}
        if other._virtual_chunk_containers is not None:
            result._virtual_chunk_containers = copy.deepcopy(other._virtual_chunk_containers)
        if other._previous_file is not None:
            result._previous_file = copy.deepcopy(other._previous_file)
        return result

    # -- comparison and rendering

    def __eq__(self, other: object) -> bool:
        if type(other) is not type(self):
            return NotImplemented
        assert isinstance(other, RepositoryConfig)
        plain = (n for n in self._FIELDS if n != "storage")
        return (
            all(getattr(self, n) == getattr(other, n) for n in plain)
            and self._storage_dict() == other._storage_dict()
            and self._previous_file == other._previous_file
        )

    def _repr_value(self, name: str, value: Any) -> str:
        if name == "virtual_chunk_containers":
            return _repr_containers(value)
        return super()._repr_value(name, value)

    def _show_value(self, name: str, value: Any) -> Shown:
        if name == "storage":
            return settings.display(value)
        if name == "virtual_chunk_containers" and value:
            rows: list[tuple[str, Shown]] = [(k, display_of(v)) for k, v in value.items()]
            tree: Display = ("", rows)
            return tree
        if name == "virtual_chunk_containers":
            return "None" if value is None else "{}"
        return super()._show_value(name, value)

    # -- serde dicts

    def _to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {name: getattr(self, name) for name in _SCALARS}
        for name in _STRUCTS:
            value = getattr(self, name)
            out[name] = None if value is None else value._to_dict()
        storage = self._storage_dict()
        out["storage"] = settings.with_extra(settings.STORAGE, storage, self._storage_extra)
        containers = self._virtual_chunk_containers
        out["virtual_chunk_containers"] = (
            None if containers is None else {k: v._to_dict() for k, v in containers.items()}
        )
        out["previous_file"] = copy.deepcopy(self._previous_file)
        out.update((k, copy.deepcopy(v)) for k, v in self._extra.items() if k not in out)
        return out

    @classmethod
    def _from_dict(cls, data: Any) -> RepositoryConfig:
        """Decode the config dict stored in the repo file, keeping unknown keys.

        Raises
        ------
        FormatError
            If the dict does not describe a valid config.
        """
        mapping = require_map(data, "RepositoryConfig")
        obj = cls()
        try:
            for name in (*_SCALARS, *_STRUCTS):
                setattr(obj, name, obj._decode(name, mapping.get(name)))
        except (TypeError, ValueError) as exc:
            raise config_format_error(f"RepositoryConfig: {exc}") from exc
        obj._storage = settings.from_dict(settings.STORAGE, mapping.get("storage"))
        obj._storage_extra = settings.split_extra(settings.STORAGE, mapping.get("storage"))
        obj._virtual_chunk_containers = _decode_containers(mapping.get("virtual_chunk_containers"))
        obj._previous_file = copy.deepcopy(mapping.get("previous_file"))
        obj._extra = {k: copy.deepcopy(v) for k, v in mapping.items() if k not in _KNOWN_KEYS}
        return obj


def _decode_containers(raw: Any) -> dict[str, VirtualChunkContainer] | None:
    if raw is None:
        return None
    mapping = require_map(raw, "virtual_chunk_containers")
    return {key: VirtualChunkContainer._from_dict(value) for key, value in mapping.items()}
