"""Repository configuration values.

:class:`RepositoryConfig` gathers every tunable of a repository: inline-chunk threshold,
concurrency limits, metadata compression (:class:`CompressionConfig`), caches
(:class:`CachingConfig`), manifest preloading and splitting (:class:`ManifestConfig` and
friends), storage settings and the virtual chunk containers virtual references may be read
from (each an :class:`ObjectStoreConfig` bound to a URL prefix). Settings left as None take
their defaults; ``Repository.save_config()`` persists the config in the repository.

The classes live in private modules (``icechunk._config_*``); this module is their public
home. The storage-facing names (:class:`S3Options`, :class:`ChecksumAlgorithm`, the
``*_store`` helpers) and :class:`VirtualChunkContainer` are also re-exported by
``icechunk.storage`` and ``icechunk.virtual``, where the real package keeps them.
"""

from __future__ import annotations

import logging
import os

from icechunk._config_conditions import ManifestPreloadCondition
from icechunk._config_core import (
    Attribution,
    CachingConfig,
    CompressionAlgorithm,
    CompressionConfig,
    FeatureFlag,
)
from icechunk._config_core import RepoUpdateRetryConfig as RepoUpdateRetryConfig
from icechunk._config_manifest import (
    ManifestConfig,
    ManifestPreloadConfig,
    ManifestSplittingConfig,
    ManifestVirtualChunkLocationCompressionConfig,
)
from icechunk._config_repo import RepositoryConfig
from icechunk._config_split import ManifestSplitCondition, ManifestSplitDimCondition

# Public elsewhere in the real package (icechunk.storage, icechunk.virtual); re-exported
# explicitly here for the modules that publish them there.
from icechunk._config_store import AnyObjectStoreConfig as AnyObjectStoreConfig
from icechunk._config_store import ChecksumAlgorithm as ChecksumAlgorithm
from icechunk._config_store import ObjectStoreConfig
from icechunk._config_store import S3Options as S3Options
from icechunk._config_vcc import VirtualChunkContainer as VirtualChunkContainer
from icechunk._config_vcc import azure_store as azure_store
from icechunk._config_vcc import gcs_store as gcs_store
from icechunk._config_vcc import http_store as http_store
from icechunk._config_vcc import local_filesystem_store as local_filesystem_store
from icechunk._config_vcc import s3_store as s3_store

__all__ = [
    "Attribution",
    "CachingConfig",
    "CompressionAlgorithm",
    "CompressionConfig",
    "FeatureFlag",
    "ManifestConfig",
    "ManifestPreloadCondition",
    "ManifestPreloadConfig",
    "ManifestSplitCondition",
    "ManifestSplitDimCondition",
    "ManifestSplittingConfig",
    "ManifestVirtualChunkLocationCompressionConfig",
    "ObjectStoreConfig",
    "RepositoryConfig",
    "initialize_logs",
    "set_logs_filter",
    "shutdown_telemetry",
]


def _publish(cls: type) -> None:
    """Present ``cls`` (and its nested kinds) as defined here, where pickle will find it."""
    cls.__module__ = __name__
    for name in dir(cls):
        nested = getattr(cls, name, None)
        if isinstance(nested, type) and issubclass(nested, cls) and nested is not cls:
            nested.__module__ = __name__


for _cls in (
    Attribution,
    CachingConfig,
    ChecksumAlgorithm,
    CompressionAlgorithm,
    CompressionConfig,
    FeatureFlag,
    ManifestConfig,
    ManifestPreloadCondition,
    ManifestPreloadConfig,
    ManifestSplitCondition,
    ManifestSplitDimCondition,
    ManifestSplittingConfig,
    ManifestVirtualChunkLocationCompressionConfig,
    ObjectStoreConfig,
    RepoUpdateRetryConfig,
    RepositoryConfig,
    S3Options,
    VirtualChunkContainer,
):
    _publish(_cls)
del _cls

_LOGGER = logging.getLogger("icechunk")
_LEVELS = {
    "trace": logging.DEBUG,
    "debug": logging.DEBUG,
    "info": logging.INFO,
    "warn": logging.WARNING,
    "warning": logging.WARNING,
    "error": logging.ERROR,
    "off": logging.CRITICAL + 10,
}


def _level_for(directive: str) -> int:
    """The level a ``RUST_LOG``-style directive (``"warn"``, ``"icechunk=debug,info"``) sets
    for the ``icechunk`` logger."""
    level = logging.WARNING
    for part in (p.strip() for p in directive.split(",") if p.strip()):
        target, _, value = part.rpartition("=")
        if target in ("", "icechunk"):
            level = _LEVELS.get(value.lower(), level)
    return level


def set_logs_filter(log_filter_directive: str | None) -> None:
    """Set which log records of the ``icechunk`` logger are emitted.

    Parameters
    ----------
    log_filter_directive
        A directive such as ``"debug"`` or ``"icechunk=debug,warn"``; None uses the
        ``ICECHUNK_LOG`` environment variable, or ``"warn"``.
    """
    directive = log_filter_directive
    if directive is None:
        directive = os.environ.get("ICECHUNK_LOG", "warn")
    _LOGGER.setLevel(_level_for(directive))


def initialize_logs() -> None:
    """Configure the ``icechunk`` logger from the ``ICECHUNK_LOG`` environment variable.

    Logs go to stderr through a handler added to the ``icechunk`` logger (once).
    """
    if not any(getattr(h, "_icechunk_default", False) for h in _LOGGER.handlers):
        handler = logging.StreamHandler()
        handler._icechunk_default = True  # type: ignore[attr-defined]
        _LOGGER.addHandler(handler)
    set_logs_filter(None)


def shutdown_telemetry() -> None:
    """Flush telemetry exporters; pyicechunk exports no telemetry, so this does nothing."""


#: ``{dimension condition: number of chunks}`` of one splitting rule.
ManifestSplitValues = dict[ManifestSplitDimCondition, int]
#: ``{array condition: ManifestSplitValues}``, as taken by ``ManifestSplittingConfig.from_dict``.
SplitSizesDict = dict[ManifestSplitCondition, ManifestSplitValues]


def from_dict(split_sizes: SplitSizesDict) -> ManifestSplittingConfig:
    """Same as :meth:`ManifestSplittingConfig.from_dict`.

    Parameters
    ----------
    split_sizes
        ``{array condition: {dimension condition: size}}``.

    Returns
    -------
    ManifestSplittingConfig
        The config.
    """
    return ManifestSplittingConfig.from_dict(split_sizes)


def to_dict(config: ManifestSplittingConfig) -> SplitSizesDict:
    """Same as :meth:`ManifestSplittingConfig.to_dict`.

    Parameters
    ----------
    config
        A splitting config.

    Returns
    -------
    SplitSizesDict
        Its rules.
    """
    return config.to_dict()
