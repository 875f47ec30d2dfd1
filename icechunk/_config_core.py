"""Small config values: compression, caching, repo-info retries, attribution, feature flags."""

from __future__ import annotations

import copy
import re
from enum import EnumType, IntEnum
from typing import Any

from icechunk import _config_settings as settings
from icechunk._config_base import (
    Display,
    Field,
    Shown,
    Struct,
    check_opt_str,
    format_call,
    opt_uint,
    quote,
    render_html,
    render_text,
    require_map,
)
from icechunk._pickling import Unpicklable
from icechunk.errors import InvalidInputError

__all__ = [
    "Attribution",
    "CachingConfig",
    "CompressionAlgorithm",
    "CompressionConfig",
    "FeatureFlag",
    "RepoUpdateRetryConfig",
]


class _DefaultingEnumType(EnumType):
    """Lets ``CompressionAlgorithm()`` return the default member."""

    def __call__(cls, *args: Any, **kwargs: Any) -> Any:  # type: ignore[override]
        if not args and not kwargs:
            return cls.default()  # type: ignore[attr-defined]
        return super().__call__(*args, **kwargs)


class CompressionAlgorithm(IntEnum, metaclass=_DefaultingEnumType):
    """The algorithm Icechunk compresses its metadata files with.

    ``CompressionAlgorithm()`` is the default, :attr:`Zstd`.
    """

    Zstd = 0

    @staticmethod
    def default() -> CompressionAlgorithm:
        """The default algorithm.

        Returns
        -------
        CompressionAlgorithm
            :attr:`CompressionAlgorithm.Zstd`.
        """
        return CompressionAlgorithm.Zstd

    def __repr__(self) -> str:
        return f"CompressionAlgorithm.{self.name}"

    __str__ = __repr__


_ALGORITHM_NAMES = {CompressionAlgorithm.Zstd: "zstd"}
_ALGORITHM_BY_NAME = {v: k for k, v in _ALGORITHM_NAMES.items()}


def _check_algorithm(value: object, what: str) -> CompressionAlgorithm | None:
    if value is None or isinstance(value, CompressionAlgorithm):
        return value
    raise TypeError(
        f"{what}: {type(value).__name__!r} object is not an instance of 'CompressionAlgorithm'"
    )


class CompressionConfig(Struct):
    """How Icechunk compresses its metadata files.

    Parameters
    ----------
    algorithm
        The algorithm; None means zstd.
    level
        The compression level; None means 3.
    """

    __slots__ = ("_algorithm", "_level")
    _FIELDS = ("algorithm", "level")
    _REPR_NAME = "icechunk.config.CompressionConfig"

    algorithm = Field(
        _check_algorithm, "The compression algorithm; None means zstd.", shown_default="Zstd"
    )
    level = Field(opt_uint(8), "The compression level; None means 3.", shown_default=3)

    def __init__(
        self, algorithm: CompressionAlgorithm | None = None, level: int | None = None
    ) -> None:
        super().__init__()
        self.algorithm = algorithm
        self.level = level

    @staticmethod
    def default() -> CompressionConfig:
        """A config with every setting left to its default.

        Returns
        -------
        CompressionConfig
            ``CompressionConfig()``.
        """
        return CompressionConfig()

    def _repr_value(self, name: str, value: Any) -> str:
        if isinstance(value, CompressionAlgorithm):
            return f"icechunk.config.CompressionAlgorithm.{value.name}"
        return super()._repr_value(name, value)

    def _show_value(self, name: str, value: Any) -> Shown:
        if isinstance(value, CompressionAlgorithm):
            return value.name
        return super()._show_value(name, value)

    def _encode(self, name: str, value: Any) -> Any:
        return _ALGORITHM_NAMES[value] if isinstance(value, CompressionAlgorithm) else value

    def _decode(self, name: str, raw: Any) -> Any:
        if name == "algorithm" and raw is not None:
            if raw not in _ALGORITHM_BY_NAME:
                raise ValueError(f"unknown compression algorithm {raw!r}")
            return _ALGORITHM_BY_NAME[raw]
        return raw


class CachingConfig(Struct):
    """How much of its metadata a repository keeps in memory.

    Parameters
    ----------
    num_snapshot_nodes
        Snapshot nodes to cache; None means 500,000.
    num_chunk_refs
        Chunk references to cache; None means 15,000,000.
    num_transaction_changes
        Transaction-log changes to cache; None means 0.
    num_bytes_attributes
        Bytes of attributes to cache; None means 0.
    num_bytes_chunks
        Bytes of (inline) chunks to cache; None means 0.
    """

    __slots__ = (
        "_num_bytes_attributes",
        "_num_bytes_chunks",
        "_num_chunk_refs",
        "_num_snapshot_nodes",
        "_num_transaction_changes",
    )
    _FIELDS = (
        "num_snapshot_nodes",
        "num_chunk_refs",
        "num_transaction_changes",
        "num_bytes_attributes",
        "num_bytes_chunks",
    )
    _REPR_NAME = "icechunk.config.CachingConfig"

    num_snapshot_nodes = Field(
        opt_uint(64), "Snapshot nodes to cache; None means 500,000.", shown_default=500_000
    )
    num_chunk_refs = Field(
        opt_uint(64), "Chunk references to cache; None means 15,000,000.", shown_default=15_000_000
    )
    num_transaction_changes = Field(
        opt_uint(64), "Transaction-log changes to cache; None means 0.", shown_default=0
    )
    num_bytes_attributes = Field(
        opt_uint(64), "Bytes of attributes to cache; None means 0.", shown_default=0
    )
    num_bytes_chunks = Field(
        opt_uint(64), "Bytes of chunks to cache; None means 0.", shown_default=0
    )

    def __init__(
        self,
        num_snapshot_nodes: int | None = None,
        num_chunk_refs: int | None = None,
        num_transaction_changes: int | None = None,
        num_bytes_attributes: int | None = None,
        num_bytes_chunks: int | None = None,
    ) -> None:
        super().__init__()
        self.num_snapshot_nodes = num_snapshot_nodes
        self.num_chunk_refs = num_chunk_refs
        self.num_transaction_changes = num_transaction_changes
        self.num_bytes_attributes = num_bytes_attributes
        self.num_bytes_chunks = num_bytes_chunks

    @staticmethod
    def default() -> CachingConfig:
        """A config with every setting left to its default.

        Returns
        -------
        CachingConfig
            ``CachingConfig()``.
        """
        return CachingConfig()


#: Retry settings used for repo-info updates when none are configured.
_DEFAULT_REPO_RETRIES = {"max_tries": 100, "initial_backoff_ms": 50, "max_backoff_ms": 30_000}


class RepoUpdateRetryConfig(Struct):
    """Retries of the compare-and-swap updates of the repo-info file.

    Parameters
    ----------
    default
        A ``StorageRetriesSettings`` for every kind of update; None means 100 tries with
        backoff from 50 ms up to 30 s.
    """

    __slots__ = ("_default", "_default_extra")
    _FIELDS = ("default",)
    _default: Any
    _default_extra: dict[str, Any]
    _REPR_NAME = "icechunk.config.RepoUpdateRetryConfig"

    def __init__(self, default: Any = None) -> None:
        super().__init__()
        self.default = default

    @property
    def default(self) -> Any:
        """The ``StorageRetriesSettings`` for repo-info updates, or None for the defaults."""
        self._default = settings.resolve(self._default)
        return self._default

    @default.setter
    def default(self, value: Any) -> None:
        self._default = value
        self._default_extra = {}

    def _retries_dict(self) -> dict[str, Any] | None:
        return settings.to_dict(settings.RETRIES, self._default)

    def __eq__(self, other: object) -> bool:
        if type(other) is not type(self):
            return NotImplemented
        assert isinstance(other, RepoUpdateRetryConfig)
        return self._retries_dict() == other._retries_dict()

    def _show_value(self, name: str, value: Any) -> Shown:
        if value is None:
            rows: list[Any] = [(k, str(v)) for k, v in _DEFAULT_REPO_RETRIES.items()]
            return (settings.RETRIES.repr_name, rows)
        return settings.display(value)

    def _to_dict(self) -> dict[str, Any]:
        data = settings.with_extra(settings.RETRIES, self._retries_dict(), self._default_extra)
        out: dict[str, Any] = {"default": data}
        out.update((k, copy.deepcopy(v)) for k, v in self._extra.items() if k not in out)
        return out

    @classmethod
    def _from_dict(cls, data: Any) -> RepoUpdateRetryConfig:
        """Decode a stored value, keeping unknown keys."""
        mapping = require_map(data, "RepoUpdateRetryConfig")
        obj = cls(settings.from_dict(settings.RETRIES, mapping.get("default")))
        obj._default_extra = settings.split_extra(settings.RETRIES, mapping.get("default"))
        obj._extra = {k: copy.deepcopy(v) for k, v in mapping.items() if k != "default"}
        return obj

    def _merged(self, other: RepoUpdateRetryConfig) -> RepoUpdateRetryConfig:
        result = RepoUpdateRetryConfig(
            settings.merge(settings.RETRIES, self._default, other._default)
        )
        result._default_extra = {**self._default_extra, **other._default_extra}
        result._extra = {**self._extra, **other._extra}
        return result


# --------------------------------------------------------------------------- attribution

_TOKEN = r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+"
_CLIENT = re.compile(rf"{_TOKEN}(/{_TOKEN})?")
_FORBIDDEN = set('()\\;="')
_MAX_LABEL = 128


def _check_client(value: str | None) -> str | None:
    if value is None:
        return None
    check_opt_str(value, "client")
    if len(value.encode()) > _MAX_LABEL:
        raise InvalidInputError(f"attribution `client` is longer than {_MAX_LABEL} bytes")
    if not _CLIENT.fullmatch(value):
        raise InvalidInputError(
            "attribution `client` must be `name` or `name/version` in token characters, "
            f"got {quote(value)}"
        )
    return value


def _check_label(value: str | None, what: str) -> str | None:
    if value is None:
        return None
    check_opt_str(value, what)
    if len(value.encode()) > _MAX_LABEL:
        raise InvalidInputError(f"attribution `{what}` is longer than {_MAX_LABEL} bytes")
    for ch in value:
        if not " " <= ch <= "~" or ch in _FORBIDDEN:
            raise InvalidInputError(f"attribution `{what}` contains the forbidden character {ch!r}")
    return value


class Attribution(Unpicklable):
    """Labels added to the User-Agent of every request a repository makes.

    They let a bucket owner tell traffic apart in access logs.

    Parameters
    ----------
    client
        The software making the requests: ``name`` or ``name/version`` in HTTP token
        characters, at most 128 bytes (e.g. ``weatherlib/0.9``).
    workload
        What the requests are for (a job or deployment name): printable ASCII without
        ``( ) \\ ; = "``, at most 128 bytes.
    principal
        On whose behalf they are made; same rules as ``workload``.

    Raises
    ------
    ValueError
        If a label is invalid.
    """

    __slots__ = ("_client", "_principal", "_workload")

    __hash__ = None  # type: ignore[assignment]

    def __init__(
        self,
        *,
        client: str | None = None,
        workload: str | None = None,
        principal: str | None = None,
    ) -> None:
        self._client = _check_client(client)
        self._workload = _check_label(workload, "workload")
        self._principal = _check_label(principal, "principal")

    @property
    def client(self) -> str | None:
        """The software label, or None."""
        return self._client

    @property
    def workload(self) -> str | None:
        """The workload label, or None."""
        return self._workload

    @property
    def principal(self) -> str | None:
        """The principal label, or None."""
        return self._principal

    def _rows(self) -> list[tuple[str, str]]:
        values = [("client", self._client), ("workload", self._workload)]
        values.append(("principal", self._principal))
        return [(k, "None" if v is None else quote(v)) for k, v in values]

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Attribution):
            return NotImplemented
        return self._rows() == other._rows()

    def __repr__(self) -> str:
        return format_call("icechunk.Attribution", self._rows())

    def __str__(self) -> str:
        return render_text(("icechunk.Attribution", list(self._rows())))

    def _repr_html_(self) -> str:
        """HTML rendering for Jupyter."""
        return render_html(("icechunk.Attribution", list(self._rows())))

    def _pickle_reduce(self) -> tuple[Any, ...]:
        return (_attribution, (self._client, self._workload, self._principal))


def _attribution(client: str | None, workload: str | None, principal: str | None) -> Attribution:
    return Attribution(client=client, workload=workload, principal=principal)


class FeatureFlag(Unpicklable):
    """A repository feature that can be switched on or off (read-only).

    Instances come from ``Repository.feature_flags()`` and its siblings.
    """

    __slots__ = ("_default_enabled", "_id", "_name", "_setting")
    _id: int
    _name: str
    _default_enabled: bool
    _setting: bool | None

    __hash__ = None  # type: ignore[assignment]

    def __init__(self) -> None:
        raise TypeError("FeatureFlag instances come from Repository.feature_flags()")

    @classmethod
    def _new(cls, id: int, name: str, default_enabled: bool, setting: bool | None) -> FeatureFlag:
        flag = cls.__new__(cls)
        flag._id, flag._name = id, name
        flag._default_enabled, flag._setting = default_enabled, setting
        return flag

    @property
    def id(self) -> int:
        """The flag's stable numeric id."""
        return self._id

    @property
    def name(self) -> str:
        """The flag's name, e.g. ``move_node``."""
        return self._name

    @property
    def default_enabled(self) -> bool:
        """Whether the feature is on when the repository does not set it."""
        return self._default_enabled

    @property
    def setting(self) -> bool | None:
        """The repository's explicit setting, or None."""
        return self._setting

    @property
    def enabled(self) -> bool:
        """Whether the feature is on."""
        return self._default_enabled if self._setting is None else self._setting

    def _display(self) -> Display:
        rows: list[Any] = [("id", str(self._id)), ("name", self._name)]
        rows += [("default_enabled", str(self._default_enabled)), ("setting", repr(self._setting))]
        rows.append(("enabled", str(self.enabled)))
        return ("icechunk.config.FeatureFlag", rows)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, FeatureFlag):
            return NotImplemented
        return self._display() == other._display()

    def __repr__(self) -> str:
        return render_text(self._display())

    def _repr_html_(self) -> str:
        """HTML rendering for Jupyter."""
        return render_html(self._display())

    def _pickle_reduce(self) -> tuple[Any, ...]:
        return (_feature_flag, (self._id, self._name, self._default_enabled, self._setting))


def _feature_flag(id: int, name: str, default_enabled: bool, setting: bool | None) -> FeatureFlag:
    return FeatureFlag._new(id, name, default_enabled, setting)
