"""Manifest settings: preloading, splitting and compression of virtual chunk locations."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from icechunk._config_base import (
    Field,
    Shown,
    Struct,
    check_instance,
    config_format_error,
    opt_instance,
    opt_sint,
    opt_uint,
    require_map,
    struct_field,
    uint,
)
from icechunk._config_conditions import ManifestPreloadCondition, _list
from icechunk._config_split import ManifestSplitCondition, ManifestSplitDimCondition

__all__ = [
    "ManifestConfig",
    "ManifestPreloadConfig",
    "ManifestSplittingConfig",
    "ManifestVirtualChunkLocationCompressionConfig",
    "SplitSizes",
]

#: Splitting rules in order: ``((array condition, ((dimension condition, size), ...)), ...)``.
SplitSizes = tuple[
    tuple[ManifestSplitCondition, tuple[tuple[ManifestSplitDimCondition, int], ...]], ...
]
_SplitDict = dict[ManifestSplitCondition, dict[ManifestSplitDimCondition, int]]
_U32 = uint(32)


class ManifestPreloadConfig(Struct):
    """Which manifests a session loads as soon as it opens.

    Parameters
    ----------
    max_total_refs
        Stop preloading after this many chunk references; None means 10,000.
    preload_if
        The condition a manifest must meet; None preloads arrays with CF-like coordinate
        names (``time``, ``lat``, ``lon`` ...) and at most 1,000 chunk references.
    max_arrays_to_scan
        How many arrays to inspect looking for manifests to preload; None means 50.
    """

    __slots__ = ("_max_arrays_to_scan", "_max_total_refs", "_preload_if")
    _FIELDS = ("max_total_refs", "preload_if", "max_arrays_to_scan")
    _REPR_NAME = "icechunk.config.ManifestPreloadConfig"

    max_total_refs = Field(
        opt_uint(32), "Most chunk references to preload; None means 10,000.", shown_default=10_000
    )
    preload_if = Field(
        opt_instance(ManifestPreloadCondition),
        "The condition for preloading a manifest; None means the CF-coordinate heuristic.",
    )
    max_arrays_to_scan = Field(
        opt_uint(32), "Most arrays inspected for preloading; None means 50.", shown_default=50
    )

    def __init__(
        self,
        max_total_refs: int | None = None,
        preload_if: ManifestPreloadCondition | None = None,
        max_arrays_to_scan: int | None = None,
    ) -> None:
        super().__init__()
        self.max_total_refs = max_total_refs
        self.preload_if = preload_if
        self.max_arrays_to_scan = max_arrays_to_scan

    def _encode(self, name: str, value: Any) -> Any:
        return value._to_dict() if isinstance(value, ManifestPreloadCondition) else value

    def _decode(self, name: str, raw: Any) -> Any:
        if name == "preload_if" and raw is not None:
            return ManifestPreloadCondition._from_dict(raw)
        return raw


def _check_split_sizes(value: object, what: str) -> SplitSizes | None:
    if value is None:
        return None
    if not isinstance(value, Iterable):
        raise TypeError(f"{what}: expected a sequence of (condition, sizes) pairs")
    rules = []
    for rule in value:
        condition, sizes = rule
        check_instance(condition, ManifestSplitCondition, what)
        entries = []
        for dim, size in sizes:
            check_instance(dim, ManifestSplitDimCondition, what)
            entries.append((dim, _U32(size, what)))
        rules.append((condition, tuple(entries)))
    return tuple(rules)


def _decode_split_sizes(raw: Any) -> SplitSizes | None:
    if raw is None:
        return None
    rules = []
    for rule in _list(raw, "split_sizes"):
        pair = _list(rule, "split_sizes rule")
        if len(pair) != 2:
            raise config_format_error(f"a split rule is a [condition, sizes] pair, got {rule!r}")
        condition = ManifestSplitCondition._from_dict(pair[0])
        entries = []
        for entry in _list(pair[1], "split sizes"):
            mapping = require_map(entry, "split size")
            dim = ManifestSplitDimCondition._from_dict(mapping.get("condition"))
            entries.append((dim, mapping.get("num_chunks")))
        rules.append((condition, tuple(entries)))
    return _check_split_sizes(rules, "split_sizes")


class ManifestSplittingConfig(Struct):
    """How array manifests are split into several files.

    Parameters
    ----------
    split_sizes
        Rules in order; the first whose array condition matches applies. Each rule maps
        dimension conditions to a number of chunks per split along that dimension. None
        keeps one manifest per array.

    Examples
    --------
    >>> ManifestSplittingConfig.from_dict(
    ...     {ManifestSplitCondition.name_matches("temperature"):
    ...         {ManifestSplitDimCondition.DimensionName("longitude"): 3}}
    ... )  # doctest: +SKIP
    """

    __slots__ = ("_split_sizes",)
    _FIELDS = ("split_sizes",)
    _REPR_NAME = "icechunk.config.ManifestSplittingConfig"

    def __init__(self, split_sizes: SplitSizes | None = None) -> None:
        super().__init__()
        self.split_sizes = split_sizes  # type: ignore[assignment]

    @property
    def split_sizes(self) -> list[tuple[ManifestSplitCondition, list[tuple[Any, int]]]] | None:
        """The splitting rules as ``[(condition, [(dimension, size), ...]), ...]``, or None."""
        rules: SplitSizes | None = self._split_sizes
        if rules is None:
            return None
        return [(cond, list(sizes)) for cond, sizes in rules]

    @split_sizes.setter
    def split_sizes(self, value: SplitSizes | None) -> None:
        self._split_sizes = _check_split_sizes(value, "split_sizes")

    @staticmethod
    def from_dict(split_sizes: Mapping[Any, Mapping[Any, int]]) -> ManifestSplittingConfig:
        """Build a config from ``{array condition: {dimension condition: size}}``.

        Parameters
        ----------
        split_sizes
            The rules; dict order is the order they are tried in.

        Returns
        -------
        ManifestSplittingConfig
            The config.
        """
        rules = tuple((cond, tuple(sizes.items())) for cond, sizes in split_sizes.items())
        return ManifestSplittingConfig(rules)

    def to_dict(self) -> _SplitDict:
        """The rules as ``{array condition: {dimension condition: size}}``.

        Returns
        -------
        dict
            The rules, in order.
        """
        return {cond: dict(sizes) for cond, sizes in self._split_sizes or ()}

    def _repr_value(self, name: str, value: Any) -> str:
        if value is None:
            return "None"
        rules = []
        for cond, sizes in value:
            inner = ", ".join(f"({dim!r}, {size})" for dim, size in sizes)
            rules.append(f"({cond!r}, [{inner}])")
        return "[" + ", ".join(rules) + "]"

    def _show_value(self, name: str, value: Any) -> Shown:
        return self._repr_value(name, value)

    def _encode(self, name: str, value: Any) -> Any:
        if value is None:
            return None
        return [
            [cond._to_dict(), [{"condition": d._to_dict(), "num_chunks": n} for d, n in sizes]]
            for cond, sizes in value
        ]

    def _decode(self, name: str, raw: Any) -> Any:
        return _decode_split_sizes(raw)


def _shown_default_splitting() -> ManifestSplittingConfig:
    """What the format does when no splitting is configured: never split."""
    rule = (
        ManifestSplitCondition.path_matches(".*"),
        ((ManifestSplitDimCondition.Any(), 2**32 - 1),),
    )
    return ManifestSplittingConfig((rule,))


class ManifestVirtualChunkLocationCompressionConfig(Struct):
    """Zstd dictionary compression of virtual chunk URLs inside manifests.

    Parameters
    ----------
    min_num_chunks
        Compress only manifests with at least this many virtual chunks; None means 1,000.
    dictionary_max_training_samples
        URLs used to train the dictionary; None means 100.
    dictionary_max_size_bytes
        Largest dictionary size; None means 2,048.
    compression_level
        The zstd level; None means 3.
    """

    __slots__ = (
        "_compression_level",
        "_dictionary_max_size_bytes",
        "_dictionary_max_training_samples",
        "_min_num_chunks",
    )
    _FIELDS = (
        "min_num_chunks",
        "dictionary_max_training_samples",
        "dictionary_max_size_bytes",
        "compression_level",
    )
    _REPR_NAME = "icechunk.config.ManifestVirtualChunkLocationCompressionConfig"

    min_num_chunks = Field(
        opt_uint(16),
        "Fewest virtual chunks worth compressing; None means 1,000.",
        shown_default=1000,
    )
    dictionary_max_training_samples = Field(
        opt_uint(16), "URLs used to train the dictionary; None means 100.", shown_default=100
    )
    dictionary_max_size_bytes = Field(
        opt_uint(32), "Largest dictionary in bytes; None means 2,048.", shown_default=2048
    )
    compression_level = Field(opt_sint(32), "The zstd level; None means 3.", shown_default=3)

    def __init__(
        self,
        min_num_chunks: int | None = None,
        *,
        dictionary_max_training_samples: int | None = None,
        dictionary_max_size_bytes: int | None = None,
        compression_level: int | None = None,
    ) -> None:
        super().__init__()
        self.min_num_chunks = min_num_chunks
        self.dictionary_max_training_samples = dictionary_max_training_samples
        self.dictionary_max_size_bytes = dictionary_max_size_bytes
        self.compression_level = compression_level


class ManifestConfig(Struct):
    """How manifests are preloaded, split and compressed.

    Parameters
    ----------
    preload
        Preloading settings; None uses the defaults.
    splitting
        Splitting settings; None keeps one manifest per array.
    virtual_chunk_location_compression
        Compression of virtual chunk URLs; None uses the defaults.
    max_concurrent_manifest_fetches_during_commit
        Manifests fetched and rewritten concurrently by commit, amend, flush and
        rewrite_manifests; None means 1.
    """

    __slots__ = (
        "_max_concurrent_manifest_fetches_during_commit",
        "_preload",
        "_splitting",
        "_virtual_chunk_location_compression",
    )
    _FIELDS = (
        "preload",
        "splitting",
        "virtual_chunk_location_compression",
        "max_concurrent_manifest_fetches_during_commit",
    )
    _REPR_NAME = "icechunk.config.ManifestConfig"

    preload = struct_field(ManifestPreloadConfig, "Preloading settings, or None for defaults.")
    splitting = struct_field(
        ManifestSplittingConfig,
        "Splitting settings, or None for one manifest per array.",
        shown_default=_shown_default_splitting,
    )
    virtual_chunk_location_compression = struct_field(
        ManifestVirtualChunkLocationCompressionConfig,
        "Compression of virtual chunk URLs, or None for defaults.",
        merge=True,
    )
    max_concurrent_manifest_fetches_during_commit = Field(
        opt_uint(16),
        "Manifests fetched and rewritten concurrently during a commit; None means 1.",
        shown_default=1,
    )

    def __init__(
        self,
        preload: ManifestPreloadConfig | None = None,
        splitting: ManifestSplittingConfig | None = None,
        virtual_chunk_location_compression: ManifestVirtualChunkLocationCompressionConfig
        | None = None,
        max_concurrent_manifest_fetches_during_commit: int | None = None,
    ) -> None:
        super().__init__()
        self.preload = preload
        self.splitting = splitting
        self.virtual_chunk_location_compression = virtual_chunk_location_compression
        self.max_concurrent_manifest_fetches_during_commit = (
            max_concurrent_manifest_fetches_during_commit
        )
