"""``repr``, ``str`` and HTML of the storage settings classes, shaped like the real package's.

The settings classes in :mod:`icechunk.storage.base` are dataclasses; their generated
``repr`` (short class name, declaration order, single line) differs from the real
package's eval-able multi-line form, which users and tests compare against. This mixin
renders them with the same machinery as the :mod:`icechunk.config` classes, so a
``RepositoryConfig`` holding storage settings prints as one consistent tree.

Imports only :mod:`icechunk._config_base`, itself a pure module over :mod:`icechunk.errors`.
"""

from __future__ import annotations

import sys
from typing import Any

from icechunk._config_base import Display, Shown, format_call, quote, render_html, render_text

__all__ = ["RenderedSettings"]


#: Per class: ``(field, shown default)`` in the order the real package shows them
#: (scalars before nested settings). A shown default is what ``str`` prints, suffixed
#: "(default)", for a None field; a :class:`_Nested` default expands that class's own
#: defaults instead; ``None`` prints "None".
_LAYOUT: dict[str, tuple[tuple[str, object], ...]] = {
    "StorageConcurrencySettings": (
        ("max_concurrent_requests_for_object", 18),
        ("ideal_concurrent_request_size", 12 * 1024 * 1024),
    ),
    "StorageRetriesSettings": (
        ("max_tries", 10),
        ("initial_backoff_ms", 100),
        ("max_backoff_ms", 180_000),
    ),
    "StorageTimeoutSettings": (
        ("connect_timeout_ms", None),
        ("read_timeout_ms", None),
        ("operation_timeout_ms", None),
        ("operation_attempt_timeout_ms", None),
    ),
}


class _Nested(str):
    """Names the settings class whose defaults ``str`` expands for a None field."""


_LAYOUT["StorageSettings"] = (
    ("unsafe_use_conditional_create", True),
    ("unsafe_use_conditional_update", True),
    ("unsafe_use_metadata", True),
    ("storage_class", None),
    ("metadata_storage_class", None),
    ("chunks_storage_class", None),
    ("minimum_size_for_multipart_upload", 100 * 1024 * 1024),
    ("concurrency", _Nested("StorageConcurrencySettings")),
    ("retries", _Nested("StorageRetriesSettings")),
    ("timeouts", None),
)


class RenderedSettings:
    """Mixin: eval-able multi-line ``repr``, defaults-expanding ``str`` and HTML."""

    def _repr_name(self) -> str:
        return f"icechunk.storage.{type(self).__name__}"

    def _layout(self) -> tuple[tuple[str, object], ...]:
        return _LAYOUT[type(self).__name__]

    def __repr__(self) -> str:
        items = []
        for name, _ in self._layout():
            value = getattr(self, name)
            items.append((name, quote(value) if isinstance(value, str) else repr(value)))
        return format_call(self._repr_name(), items)

    def _shown(self, value: Any, default: object) -> Shown:
        if value is None and isinstance(default, _Nested):
            value = getattr(sys.modules[type(self).__module__], default)()
        elif value is None:
            return "None" if default is None else f"{default} (default)"
        if isinstance(value, RenderedSettings):
            return value._display()
        return quote(value) if isinstance(value, str) else repr(value)

    def _display(self) -> Display:
        rows = [(n, self._shown(getattr(self, n), d)) for n, d in self._layout()]
        return (self._repr_name(), rows)

    def __str__(self) -> str:
        return render_text(self._display())

    def _repr_html_(self) -> str:
        """HTML rendering for Jupyter."""
        return render_html(self._display())
