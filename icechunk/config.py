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
from icechunk._logs import initialize_logs, set_logs_filter

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

initialize_logs()


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
