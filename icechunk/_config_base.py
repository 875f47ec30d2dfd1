"""Shared machinery of the configuration value classes in :mod:`icechunk.config`.

Every config class is a small mutable record: typed fields held in ``__slots__``, a keyword
constructor, structural ``==``, an eval-able multi-line ``repr``, a human-oriented ``str`` and
HTML rendering that show the effective defaults, pickling, and conversion to and from the
plain dict that Rust's serde writes into the repo file (see
``docs/design/001-config-serialization.md``). Keys of a stored dict that a class does not know
are kept in ``_extra`` and written back unchanged.

This module imports only :mod:`icechunk.errors`.
"""

from __future__ import annotations

import copy
import html
from collections.abc import Callable, Iterator, Mapping
from typing import Any, ClassVar, Generic, NamedTuple, TypeVar, overload

from icechunk._pickling import Unpicklable
from icechunk.errors import ErrorKind, FormatError, InvalidInputError

__all__ = [
    "ConfigRangeError",
    "Block",
    "Variant",
    "Display",
    "Field",
    "Shown",
    "Struct",
    "check_bool",
    "check_instance",
    "check_opt_bool",
    "check_opt_str",
    "check_str",
    "check_str_map",
    "config_format_error",
    "display_of",
    "format_call",
    "indent_tail",
    "opt_instance",
    "opt_sint",
    "opt_uint",
    "quote",
    "render_html",
    "render_text",
    "repr_str_map",
    "require_map",
    "struct_field",
    "uint",
]

T = TypeVar("T")
S = TypeVar("S", bound="Struct")


class Block(NamedTuple):
    """An already rendered nested value (text and HTML) inside a display tree."""

    text: str
    html: str


#: A display tree: a header (may be empty) and ``(name, leaf text | tree | Block)`` rows.
Display = tuple[str, list[tuple[str, "str | Display | Block"]]]
#: What ``str()`` shows for one field.
Shown = str | Display | Block


class ConfigRangeError(InvalidInputError, OverflowError):
    """A numeric setting does not fit the integer type the on-disk format stores it in."""


def config_format_error(message: str) -> FormatError:
    """A :class:`FormatError` for a stored config dict that cannot be decoded."""
    return FormatError(
        f"invalid stored repository config: {message}", ErrorKind.CONFIG_DESERIALIZATION
    )


# --------------------------------------------------------------------------- validation


def _int(value: object, what: str) -> int:
    if not isinstance(value, int):
        raise TypeError(
            f"{what}: {type(value).__name__!r} object cannot be interpreted as an integer"
        )
    return int(value)


def uint(bits: int) -> Callable[[object, str], int]:
    """A checker for a required unsigned integer of ``bits`` bits."""

    def check(value: object, what: str) -> int:
        number = _int(value, what)
        if not 0 <= number < 1 << bits:
            raise ConfigRangeError(f"{what} must be between 0 and {(1 << bits) - 1}, got {number}")
        return number

    return check


def opt_uint(bits: int) -> Callable[[object, str], int | None]:
    """A checker for an optional unsigned integer of ``bits`` bits."""
    inner = uint(bits)
    return lambda value, what: None if value is None else inner(value, what)


def opt_sint(bits: int) -> Callable[[object, str], int | None]:
    """A checker for an optional signed integer of ``bits`` bits."""

    def check(value: object, what: str) -> int | None:
        if value is None:
            return None
        number = _int(value, what)
        low, high = -(1 << (bits - 1)), (1 << (bits - 1)) - 1
        if not low <= number <= high:
            raise ConfigRangeError(f"{what} must be between {low} and {high}, got {number}")
        return number

    return check


def check_bool(value: object, what: str) -> bool:
    """``value`` if it is a bool, else :class:`TypeError`."""
    if not isinstance(value, bool):
        raise TypeError(f"{what}: {type(value).__name__!r} object is not an instance of 'bool'")
    return value


def check_opt_bool(value: object, what: str) -> bool | None:
    """``value`` if it is a bool or None, else :class:`TypeError`."""
    return None if value is None else check_bool(value, what)


def check_str(value: object, what: str) -> str:
    """``value`` if it is a str, else :class:`TypeError`."""
    if not isinstance(value, str):
        raise TypeError(f"{what}: {type(value).__name__!r} object is not an instance of 'str'")
    return value


def check_opt_str(value: object, what: str) -> str | None:
    """``value`` if it is a str or None, else :class:`TypeError`."""
    return None if value is None else check_str(value, what)


def check_instance(value: object, cls: type[T], what: str) -> T:
    """``value`` if it is an instance of ``cls``, else :class:`TypeError`."""
    if not isinstance(value, cls):
        raise TypeError(
            f"{what}: {type(value).__name__!r} object is not an instance of {cls.__name__!r}"
        )
    return value


def opt_instance(cls: type[T]) -> Callable[[object, str], T | None]:
    """A checker for an optional instance of ``cls``."""
    return lambda value, what: None if value is None else check_instance(value, cls, what)


def check_str_map(value: object, what: str) -> dict[str, str] | None:
    """A copy of a ``str -> str`` mapping, or None."""
    if value is None:
        return None
    if not isinstance(value, Mapping):
        raise TypeError(f"{what}: {type(value).__name__!r} object is not a mapping")
    return {check_str(k, what): check_str(v, what) for k, v in value.items()}


def require_map(value: object, what: str) -> Mapping[str, Any]:
    """``value`` as a mapping with str keys, or a config :class:`FormatError`."""
    if not isinstance(value, Mapping) or not all(isinstance(k, str) for k in value):
        raise config_format_error(f"{what} must be a map, got {value!r}")
    return value


# --------------------------------------------------------------------------- rendering


def quote(text: str) -> str:
    """``text`` as a double-quoted Python string literal."""
    out = []
    for ch in text:
        if ch in '\\"':
            out.append("\\" + ch)
        elif ch.isprintable():
            out.append(ch)
        else:
            out.append(repr(ch)[1:-1])
    return '"' + "".join(out) + '"'


def repr_str_map(mapping: Mapping[str, str]) -> str:
    """``{"k": "v"}`` with double quotes, in insertion order."""
    return "{" + ", ".join(f"{quote(k)}: {quote(v)}" for k, v in mapping.items()) + "}"


def indent_tail(text: str, prefix: str = "    ") -> str:
    """Indent every line of ``text`` but the first."""
    return text.replace("\n", "\n" + prefix)


def format_call(name: str, items: list[tuple[str, str]]) -> str:
    """``name(\\n    key=value,\\n)`` with nested multi-line values indented."""
    body = "".join(f"    {key}={indent_tail(value)},\n" for key, value in items)
    return f"{name}(\n{body})"


def render_text(tree: Display) -> str:
    """The plain-text form of a display tree, ending with a newline."""
    header, rows = tree
    lines = [f"<{header}>"] if header else []
    for name, value in rows:
        if isinstance(value, str):
            lines.append(f"{name}: {value}")
        else:
            text = value.text if isinstance(value, Block) else render_text(value)
            lines.append(f"{name}:\n" + "    " + indent_tail(text.rstrip("\n")))
    return "\n".join(lines) + "\n"


_STYLE = """<style>
.icechunk-repr { line-height: 1.6; max-width: 700px; }
.icechunk-repr .icechunk-header { font-weight: 500; padding-bottom: 6px; margin-bottom: 4px;
  border-bottom: solid 1px var(--jp-border-color2, #ddd); }
.icechunk-repr .icechunk-field { padding: 2px 0; }
.icechunk-repr .icechunk-field-name { font-weight: 500;
  color: var(--jp-content-font-color2, rgba(0, 0, 0, 0.54)); }
.icechunk-repr .icechunk-field-value { padding-left: 0.3em; }
.icechunk-repr details > .icechunk-repr { margin-top: 4px; margin-left: 12px; padding: 6px 10px;
  background: var(--jp-layout-color1, #f7f7f7); border-radius: 4px; }
</style>
"""


def _html_body(tree: Display) -> str:
    header, rows = tree
    parts = ['<div class="icechunk-repr">']
    if header:
        parts.append(f'  <div class="icechunk-header">{html.escape(header)}</div>')
    for name, value in rows:
        label = html.escape(name)
        if isinstance(value, str):
            parts.append(
                f'  <div class="icechunk-field"><span class="icechunk-field-name">{label}:</span> '
                f'<span class="icechunk-field-value">{html.escape(value)}</span></div>'
            )
        else:
            parts.append(f'  <details>\n    <summary class="icechunk-field-name">{label}</summary>')
            parts.append(value.html if isinstance(value, Block) else _html_body(value))
            parts.append("  </details>")
    parts.append("</div>")
    return "\n".join(parts)


def render_html(tree: Display) -> str:
    """The Jupyter HTML form of a display tree."""
    return _STYLE + _html_body(tree) + "\n"


# --------------------------------------------------------------------------- fields


class Field(Generic[T]):
    """A validated attribute of a :class:`Struct`, stored in the slot ``_<name>``.

    Parameters
    ----------
    check
        Validates and normalises an assigned value; called with ``(value, name)``.
    doc
        The attribute's docstring.
    shown_default
        What ``str()`` shows, suffixed with ``(default)``, when the value is None; a
        zero-argument callable for nested configs whose defaults are shown expanded.
    merge
        Whether :meth:`Struct._merged` merges nested values field by field instead of
        letting the other side's value replace this one.
    struct
        For a nested config, its class: ``_from_dict`` decodes stored values with it.
    """

    def __init__(
        self,
        check: Callable[[object, str], T],
        doc: str,
        *,
        shown_default: object = None,
        merge: bool = False,
        struct: type[Struct] | None = None,
    ) -> None:
        self.check = check
        self.__doc__ = doc
        self.shown_default = shown_default
        self.merge = merge
        self.struct = struct
        self.name = ""
        self.slot = ""

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name
        self.slot = "_" + name

    @overload
    def __get__(self, obj: None, owner: type | None = None) -> Field[T]: ...

    @overload
    def __get__(self, obj: object, owner: type | None = None) -> T: ...

    def __get__(self, obj: object, owner: type | None = None) -> Field[T] | T:
        if obj is None:
            return self
        value: T = getattr(obj, self.slot)
        return value

    def __set__(self, obj: object, value: T) -> None:
        setattr(obj, self.slot, self.check(value, self.name))


def _rebuild(cls: type[Struct], state: dict[str, Any]) -> Struct:
    obj = cls.__new__(cls)
    for slot, value in state.items():
        object.__setattr__(obj, slot, value)
    return obj


class Struct(Unpicklable):
    """Base of the record-like config classes; see the module docstring."""

    __slots__ = ("_extra",)

    #: Field names, in ``repr`` order; each is a :class:`Field` or a property.
    _FIELDS: ClassVar[tuple[str, ...]] = ()
    #: The dotted name ``repr`` and ``str`` show, e.g. ``icechunk.config.CachingConfig``.
    _REPR_NAME: ClassVar[str] = ""

    __hash__ = None  # type: ignore[assignment]

    def __init__(self) -> None:
        self._extra: dict[str, Any] = {}

    # -- plumbing

    @classmethod
    def _field(cls, name: str) -> Field[Any] | None:
        spec = getattr(cls, name, None)
        return spec if isinstance(spec, Field) else None

    def _items(self) -> Iterator[tuple[str, Any]]:
        for name in self._FIELDS:
            yield name, getattr(self, name)

    def _state(self) -> dict[str, Any]:
        slots = (s for klass in type(self).__mro__ for s in getattr(klass, "__slots__", ()))
        return {s: getattr(self, s) for s in slots if hasattr(self, s)}

    def _pickle_reduce(self) -> tuple[Any, ...]:
        return (_rebuild, (type(self), self._state()))

    def __copy__(self) -> Struct:
        return _rebuild(type(self), self._state())

    def __deepcopy__(self, memo: dict[int, Any]) -> Struct:
        return _rebuild(type(self), copy.deepcopy(self._state(), memo))

    # -- comparison and rendering

    def __eq__(self, other: object) -> bool:
        if type(other) is not type(self):
            return NotImplemented
        return all(value == getattr(other, name) for name, value in self._items())

    def _repr_value(self, name: str, value: Any) -> str:
        return quote(value) if isinstance(value, str) else repr(value)

    def __repr__(self) -> str:
        items = [(name, self._repr_value(name, value)) for name, value in self._items()]
        return format_call(self._REPR_NAME, items)

    def _show_value(self, name: str, value: Any) -> Shown:
        spec = self._field(name)
        default = spec.shown_default if spec is not None else None
        if value is None and default is not None:
            if callable(default):
                return display_of(default())
            return f"{default} (default)"
        if value is None:
            return "None"
        return display_of(value)

    def _display(self) -> Display:
        return (self._REPR_NAME, [(n, self._show_value(n, v)) for n, v in self._items()])

    def __str__(self) -> str:
        return render_text(self._display())

    def _repr_html_(self) -> str:
        """HTML rendering for Jupyter."""
        return render_html(self._display())

    # -- serde dicts

    def _encode(self, name: str, value: Any) -> Any:
        return value._to_dict() if isinstance(value, Struct) else value

    def _to_dict(self) -> dict[str, Any]:
        """The dict serde writes for this value (unknown stored keys included)."""
        out = {name: self._encode(name, value) for name, value in self._items()}
        out.update((k, copy.deepcopy(v)) for k, v in self._extra.items() if k not in out)
        return out

    def _decode(self, name: str, raw: Any) -> Any:
        spec = self._field(name)
        if raw is not None and spec is not None and spec.struct is not None:
            return spec.struct._from_dict(raw)
        return raw

    @classmethod
    def _from_dict(cls: type[S], data: Any) -> S:
        """Build an instance from a stored serde dict, keeping unknown keys."""
        mapping = require_map(data, cls.__name__)
        obj = cls()
        for name in obj._FIELDS:
            if name in mapping:
                try:
                    setattr(obj, name, obj._decode(name, mapping[name]))
                except (TypeError, ValueError) as exc:
                    raise config_format_error(f"{cls.__name__}.{name}: {exc}") from exc
        obj._extra = {k: copy.deepcopy(v) for k, v in mapping.items() if k not in obj._FIELDS}
        return obj

    def _merged(self: S, other: S) -> S:
        """A new value: ``other``'s non-None :class:`Field` values over this one's."""
        result = copy.deepcopy(self)
        for name, theirs in other._items():
            spec = self._field(name)
            if theirs is None or spec is None:
                continue
            mine = getattr(self, name)
            if spec.merge and isinstance(mine, Struct):
                setattr(result, name, mine._merged(theirs))
            else:
                setattr(result, name, copy.deepcopy(theirs))
        result._extra = {**self._extra, **copy.deepcopy(other._extra)}
        return result


def _rebuild_variant(cls: type[Variant], args: tuple[Any, ...]) -> Variant:
    obj = cls.__new__(cls)
    object.__setattr__(obj, "_args", args)
    return obj


class Variant(Unpicklable):
    """Base of the immutable tagged-union values (store kinds, manifest conditions).

    A variant holds its constructor arguments in ``_args``; equality compares the concrete
    class and the arguments, and pickling re-calls the constructor with them.
    """

    __slots__ = ("_args",)

    __hash__ = None  # type: ignore[assignment]

    def __init__(self, *args: Any) -> None:
        self._args: tuple[Any, ...] = args

    def __eq__(self, other: object) -> bool:
        if type(other) is not type(self):
            return NotImplemented
        return bool(self._args == other._args)

    def _pickle_reduce(self) -> tuple[Any, ...]:
        return (_rebuild_variant, (type(self), self._args))

    def __setattr__(self, name: str, value: Any) -> None:
        if name != "_args" or hasattr(self, "_args"):
            raise AttributeError(f"{type(self).__qualname__} objects are immutable")
        object.__setattr__(self, name, value)


def struct_field(
    cls: type[S], doc: str, *, merge: bool = False, shown_default: object = None
) -> Field[S | None]:
    """An optional nested config field; ``str()`` expands its defaults when it is None."""
    shown = cls if shown_default is None else shown_default
    return Field(opt_instance(cls), doc, shown_default=shown, merge=merge, struct=cls)


def display_of(value: Any) -> str | Display:
    """How ``str()`` shows a field value: nested structs expand, the rest is a repr."""
    if isinstance(value, Struct) or hasattr(value, "_display"):
        tree: Display = value._display()
        return tree
    if isinstance(value, str):
        return quote(value)
    return repr(value)
