"""Storage settings inside a repository config, without importing the storage layer.

``RepositoryConfig.storage`` holds a ``StorageSettings`` and ``RepoUpdateRetryConfig.default``
a ``StorageRetriesSettings``; both classes belong to :mod:`icechunk.storage`, which sits
above the config layer. This module reads and builds them through their public API (the
property and keyword names of the real icechunk package) and finds the classes in
``sys.modules`` (the module of a value already at hand, else a loaded
``icechunk.storage``); it never imports them. A stored dict decoded before the storage layer
is loaded is kept as an :class:`Unresolved` value and converted on first access.
"""

from __future__ import annotations

import copy
import sys
from collections.abc import Mapping
from typing import Any

from icechunk._config_base import Block, config_format_error, format_call, quote, require_map
from icechunk._pickling import Unpicklable

__all__ = [
    "RETRIES",
    "STORAGE",
    "Kind",
    "Unresolved",
    "display",
    "from_dict",
    "merge",
    "repr_value",
    "resolve",
    "split_extra",
    "to_dict",
    "with_extra",
]


class Kind:
    """The shape of one settings class: scalar fields and nested settings fields."""

    def __init__(
        self,
        class_name: str,
        scalars: tuple[str, ...],
        nested: Mapping[str, Kind] | None = None,
    ) -> None:
        self.class_name = class_name
        self.scalars = scalars
        self.nested = dict(nested or {})
        self.repr_name = f"icechunk.storage.{class_name}"

    def all_keys(self) -> tuple[str, ...]:
        """Every serde key, scalars first."""
        return (*self.scalars, *self.nested)

    def class_names(self) -> set[str]:
        """This class and every nested settings class."""
        names = {self.class_name}
        for sub in self.nested.values():
            names |= sub.class_names()
        return names


RETRIES = Kind("StorageRetriesSettings", ("max_tries", "initial_backoff_ms", "max_backoff_ms"))
_CONCURRENCY = Kind(
    "StorageConcurrencySettings",
    ("max_concurrent_requests_for_object", "ideal_concurrent_request_size"),
)
_TIMEOUTS = Kind(
    "StorageTimeoutSettings",
    (
        "connect_timeout_ms",
        "read_timeout_ms",
        "operation_timeout_ms",
        "operation_attempt_timeout_ms",
    ),
)
STORAGE = Kind(
    "StorageSettings",
    (
        "unsafe_use_conditional_create",
        "unsafe_use_conditional_update",
        "unsafe_use_metadata",
        "storage_class",
        "metadata_storage_class",
        "chunks_storage_class",
        "minimum_size_for_multipart_upload",
    ),
    {"concurrency": _CONCURRENCY, "retries": RETRIES, "timeouts": _TIMEOUTS},
)


class Unresolved(Unpicklable):
    """A stored settings dict whose class is not loaded yet.

    Parameters
    ----------
    kind
        Which settings class the dict describes.
    raw
        The stored dict.
    """

    __slots__ = ("kind", "raw")

    def __init__(self, kind: Kind, raw: Mapping[str, Any]) -> None:
        self.kind = kind
        self.raw = copy.deepcopy(dict(raw))

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Unresolved):
            return NotImplemented
        return self.kind is other.kind and self.raw == other.raw

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return _repr_raw(self.kind, self.raw)

    def _pickle_reduce(self) -> tuple[Any, ...]:
        return (_unresolved, (self.kind.class_name, self.raw))


def _unresolved(class_name: str, raw: dict[str, Any]) -> Unresolved:
    kind = STORAGE if class_name == STORAGE.class_name else RETRIES
    return Unresolved(kind, raw)


def _repr_raw(kind: Kind, raw: Mapping[str, Any]) -> str:
    items = []
    for key in kind.all_keys():
        value = raw.get(key)
        if key in kind.nested and value is not None:
            items.append((key, _repr_raw(kind.nested[key], value)))
        else:
            items.append((key, quote(value) if isinstance(value, str) else repr(value)))
    return format_call(kind.repr_name, items)


def _classes(kind: Kind, hints: tuple[object, ...]) -> dict[str, type] | None:
    modules = [sys.modules.get(type(h).__module__) for h in hints if h is not None]
    modules.append(sys.modules.get("icechunk.storage"))
    needed = kind.class_names()
    for module in modules:
        if module is not None and all(isinstance(getattr(module, n, None), type) for n in needed):
            return {n: getattr(module, n) for n in needed}
    return None


# --------------------------------------------------------------------------- conversions


def to_dict(kind: Kind, value: object) -> dict[str, Any] | None:
    """The serde dict of a settings object (or of an :class:`Unresolved` one)."""
    if value is None:
        return None
    if isinstance(value, Unresolved):
        return copy.deepcopy(value.raw)
    out: dict[str, Any] = {key: getattr(value, key) for key in kind.scalars}
    for key, sub in kind.nested.items():
        out[key] = to_dict(sub, getattr(value, key))
    return out


def _build(kind: Kind, raw: Mapping[str, Any], classes: dict[str, type]) -> object:
    kwargs: dict[str, Any] = {key: raw.get(key) for key in kind.scalars}
    for key, sub in kind.nested.items():
        value = raw.get(key)
        kwargs[key] = None if value is None else _build(sub, require_map(value, key), classes)
    return classes[kind.class_name](**kwargs)


def from_dict(kind: Kind, raw: Any, *hints: object) -> object:
    """A settings object built from a stored dict, or :class:`Unresolved` if its class is
    not loaded; ``hints`` are values whose module may define the classes."""
    if raw is None:
        return None
    mapping = require_map(raw, kind.class_name)
    classes = _classes(kind, hints)
    if classes is None:
        return Unresolved(kind, mapping)
    try:
        return _build(kind, mapping, classes)
    except (TypeError, ValueError) as exc:
        raise config_format_error(f"{kind.class_name}: {exc}") from exc


def resolve(value: object) -> object:
    """``value`` with an :class:`Unresolved` dict converted, when its class is loaded."""
    if isinstance(value, Unresolved):
        converted = from_dict(value.kind, value.raw)
        if not isinstance(converted, Unresolved):
            return converted
    return value


def split_extra(kind: Kind, raw: Any) -> dict[str, Any]:
    """The keys of a stored dict (at any nesting) that ``kind`` does not know."""
    if not isinstance(raw, Mapping):
        return {}
    extra: dict[str, Any] = {
        k: copy.deepcopy(v) for k, v in raw.items() if k not in kind.all_keys()
    }
    for key, sub in kind.nested.items():
        nested = split_extra(sub, raw.get(key))
        if nested:
            extra[key] = nested
    return extra


def with_extra(kind: Kind, data: dict[str, Any] | None, extra: Mapping[str, Any]) -> Any:
    """``data`` with the unknown keys from :func:`split_extra` put back."""
    if data is None:
        return None
    for key, value in extra.items():
        if key in kind.nested:
            data[key] = with_extra(kind.nested[key], data.get(key), value)
        else:
            data.setdefault(key, copy.deepcopy(value))
    return data


def _merge_dicts(kind: Kind, mine: Mapping[str, Any], theirs: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(mine)
    for key in kind.scalars:
        if theirs.get(key) is not None:
            out[key] = theirs[key]
    for key, sub in kind.nested.items():
        a, b = mine.get(key), theirs.get(key)
        out[key] = b if a is None else a if b is None else _merge_dicts(sub, a, b)
    return out


def merge(kind: Kind, mine: object, theirs: object) -> object:
    """Field-by-field merge of two settings values; ``theirs`` wins where it is set."""
    if theirs is None:
        return copy.deepcopy(mine)
    if mine is None:
        return copy.deepcopy(theirs)
    merged = _merge_dicts(kind, to_dict(kind, mine) or {}, to_dict(kind, theirs) or {})
    return from_dict(kind, merged, theirs, mine)


# --------------------------------------------------------------------------- rendering


def repr_value(value: object) -> str:
    """How a config's ``repr`` shows a settings value."""
    return repr(value)


def display(value: object) -> str | Block:
    """How a config's ``str`` shows a settings value."""
    if value is None:
        return "None"
    text = str(value)
    to_html = getattr(value, "_repr_html_", None)
    page = to_html() if callable(to_html) else f"<pre>{text}</pre>"
    return Block(text if text.startswith("<") else repr(value), page)
