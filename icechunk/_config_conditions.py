"""Array predicates deciding which manifests a session preloads.

:class:`ManifestPreloadCondition` is an immutable tagged union whose kinds are nested classes
(``ManifestPreloadCondition.Or`` ...). The shared helpers here also serve the splitting
conditions in :mod:`icechunk._config_split`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, ClassVar, TypeVar

from icechunk._config_base import (
    Variant,
    check_instance,
    check_str,
    config_format_error,
    opt_uint,
    quote,
    require_map,
    uint,
)

__all__ = ["ManifestPreloadCondition"]

_PRELOAD = "icechunk.config.ManifestPreloadCondition"
_U32 = opt_uint(32)
C = TypeVar("C")


class _Condition(Variant):
    """Shared rendering and serde plumbing of the condition unions."""

    __slots__ = ()
    _TAG: ClassVar[str] = ""

    def __str__(self) -> str:
        return repr(self)

    def _to_dict(self) -> Any:
        """The serde form of this condition."""
        raise NotImplementedError


def _conditions(values: Iterable[Any], cls: type[_Condition], what: str) -> tuple[Any, ...]:
    if isinstance(values, (str, bytes)) or not isinstance(values, Iterable):
        raise TypeError(f"{what}: expected a list of {cls.__name__}, got {type(values).__name__}")
    return tuple(check_instance(v, cls, what) for v in values)


def _single(data: Any, what: str) -> tuple[str, Any]:
    mapping = require_map(data, what)
    if len(mapping) != 1:
        raise config_format_error(f"{what} must have exactly one kind, got {data!r}")
    ((tag, payload),) = mapping.items()
    return tag, payload


def _regex_payload(payload: Any, what: str) -> str:
    regex = require_map(payload, what).get("regex")
    if not isinstance(regex, str):
        raise config_format_error(f"{what} needs a string 'regex', got {payload!r}")
    return regex


class _JunctionCondition(_Condition):
    """``or`` / ``and`` over conditions of one union (``_UNION``); shared by both unions."""

    __slots__ = ()
    __match_args__ = ("_0",)
    _CTOR: ClassVar[str] = ""
    _UNION: ClassVar[type[_Condition]] = _Condition
    _PREFIX: ClassVar[str] = ""

    def __init__(self, conditions: list[Any]) -> None:
        super().__init__(_conditions(conditions, self._UNION, "conditions"))

    @property
    def _0(self) -> list[Any]:
        return list(self._args[0])

    def __repr__(self) -> str:
        inner = ", ".join(repr(c) for c in self._args[0])
        return f"{self._PREFIX}.{self._CTOR}([{inner}])"

    def _to_dict(self) -> Any:
        return {self._TAG: [c._to_dict() for c in self._args[0]]}


class _RegexCondition(_Condition):
    """A condition on a regular expression; shared by both unions."""

    __slots__ = ()
    __match_args__ = ("regex",)
    _PREFIX: ClassVar[str] = ""

    def __init__(self, regex: str) -> None:
        super().__init__(check_str(regex, "regex"))

    @property
    def regex(self) -> str:
        """The regular expression."""
        regex: str = self._args[0]
        return regex

    def __repr__(self) -> str:
        return f"{self._PREFIX}.{self._TAG}({quote(self.regex)})"

    def _to_dict(self) -> Any:
        return {self._TAG: {"regex": self.regex}}


# --------------------------------------------------------------------------- preload


class ManifestPreloadCondition(_Condition):
    """When a session preloads an array's manifest; combine with ``&`` and ``|``."""

    __slots__ = ()

    Or: ClassVar[type[_PreloadOr]]
    And: ClassVar[type[_PreloadAnd]]
    PathMatches: ClassVar[type[_PreloadPathMatches]]
    NameMatches: ClassVar[type[_PreloadNameMatches]]
    NumRefs: ClassVar[type[_PreloadNumRefs]]

    def __init__(self, *args: Any) -> None:
        if type(self) is ManifestPreloadCondition:
            raise TypeError("use the ManifestPreloadCondition static constructors")
        super().__init__(*args)

    @staticmethod
    def or_conditions(conditions: list[ManifestPreloadCondition]) -> ManifestPreloadCondition:
        """Match when any of ``conditions`` matches.

        Parameters
        ----------
        conditions
            The alternatives.

        Returns
        -------
        ManifestPreloadCondition
            The combined condition.
        """
        return _PreloadOr(conditions)

    @staticmethod
    def and_conditions(conditions: list[ManifestPreloadCondition]) -> ManifestPreloadCondition:
        """Match only when all of ``conditions`` match.

        Parameters
        ----------
        conditions
            The requirements.

        Returns
        -------
        ManifestPreloadCondition
            The combined condition.
        """
        return _PreloadAnd(conditions)

    @staticmethod
    def path_matches(regex: str) -> ManifestPreloadCondition:
        """Match arrays whose absolute path (``/a/b/array``) matches ``regex``.

        Parameters
        ----------
        regex
            A regular expression.

        Returns
        -------
        ManifestPreloadCondition
            The condition.
        """
        return _PreloadPathMatches(regex)

    @staticmethod
    def name_matches(regex: str) -> ManifestPreloadCondition:
        """Match arrays whose name (last path segment) matches ``regex``.

        Parameters
        ----------
        regex
            A regular expression.

        Returns
        -------
        ManifestPreloadCondition
            The condition.
        """
        return _PreloadNameMatches(regex)

    @staticmethod
    def num_refs(from_refs: int | None, to_refs: int | None) -> ManifestPreloadCondition:
        """Match manifests with ``from_refs <= chunk references < to_refs``.

        Parameters
        ----------
        from_refs
            Inclusive lower bound, or None for no bound.
        to_refs
            Exclusive upper bound, or None for no bound.

        Returns
        -------
        ManifestPreloadCondition
            The condition.
        """
        return _PreloadNumRefs(from_refs, to_refs)

    @staticmethod
    def true() -> ManifestPreloadCondition:
        """Match every manifest.

        Returns
        -------
        ManifestPreloadCondition
            The condition.
        """
        return _PreloadTrue()

    @staticmethod
    def false() -> ManifestPreloadCondition:
        """Match no manifest.

        Returns
        -------
        ManifestPreloadCondition
            The condition.
        """
        return _PreloadFalse()

    def __and__(self, other: ManifestPreloadCondition, /) -> ManifestPreloadCondition:
        return _PreloadAnd([self, other])

    def __or__(self, other: ManifestPreloadCondition, /) -> ManifestPreloadCondition:
        return _PreloadOr([self, other])

    @staticmethod
    def _from_dict(data: Any) -> ManifestPreloadCondition:
        """Decode the serde form of a preload condition."""
        if data == "true":
            return _PreloadTrue()
        if data == "false":
            return _PreloadFalse()
        tag, payload = _single(data, "preload condition")
        shared = _decode_shared(
            tag,
            payload,
            ManifestPreloadCondition._from_dict,
            (_PreloadOr, _PreloadAnd),
            (_PreloadPathMatches, _PreloadNameMatches),
        )
        if shared is not None:
            return shared
        if tag == "num_refs":
            return _PreloadNumRefs._decode(payload)
        raise config_format_error(f"unknown preload condition {tag!r}")


def _list(payload: Any, what: str) -> list[Any]:
    if not isinstance(payload, (list, tuple)):
        raise config_format_error(f"{what} needs a list, got {payload!r}")
    return list(payload)


def _decode_shared(
    tag: str,
    payload: Any,
    decode: Callable[[Any], C],
    junctions: tuple[Callable[[list[Any]], C], Callable[[list[Any]], C]],
    regexes: tuple[Callable[[str], C], Callable[[str], C]],
) -> C | None:
    """Decode the kinds both unions have: ``or`` / ``and`` over ``decode``d parts, and
    ``path_matches`` / ``name_matches``; None for any other ``tag``."""
    if tag in ("or", "and"):
        parts = [decode(p) for p in _list(payload, tag)]
        return junctions[tag == "and"](parts)
    if tag in ("path_matches", "name_matches"):
        return regexes[tag == "name_matches"](_regex_payload(payload, tag))
    return None


class _PreloadJunction(_JunctionCondition, ManifestPreloadCondition):
    __slots__ = ()
    _UNION = ManifestPreloadCondition
    _PREFIX = _PRELOAD


class _PreloadOr(_PreloadJunction):
    """Matches when any of its conditions matches."""

    __slots__ = ()
    _TAG = "or"
    _CTOR = "or_conditions"


class _PreloadAnd(_PreloadJunction):
    """Matches when all of its conditions match."""

    __slots__ = ()
    _TAG = "and"
    _CTOR = "and_conditions"


class _PreloadRegex(_RegexCondition, ManifestPreloadCondition):
    __slots__ = ()
    _PREFIX = _PRELOAD


class _PreloadPathMatches(_PreloadRegex):
    """Matches arrays whose absolute path matches ``regex``."""

    __slots__ = ()
    _TAG = "path_matches"


class _PreloadNameMatches(_PreloadRegex):
    """Matches arrays whose name matches ``regex``."""

    __slots__ = ()
    _TAG = "name_matches"


_Bound = tuple[str, int] | None


def _encode_bound(bound: _Bound) -> Any:
    return "Unbounded" if bound is None else {bound[0]: bound[1]}


def _decode_bound(raw: Any) -> _Bound:
    if raw == "Unbounded":
        return None
    kind, value = _single(raw, "num_refs bound")
    if kind not in ("Included", "Excluded") or not isinstance(value, int):
        raise config_format_error(f"invalid num_refs bound {raw!r}")
    return (kind, uint(32)(value, "num_refs bound"))


class _PreloadNumRefs(ManifestPreloadCondition):
    """Matches manifests whose number of chunk references is within a range.

    Parameters
    ----------
    from_refs
        Inclusive lower bound, or None.
    to_refs
        Exclusive upper bound, or None.
    """

    __slots__ = ()
    __match_args__ = ("from", "to")
    _TAG = "num_refs"

    def __init__(self, from_refs: int | None, to_refs: int | None) -> None:
        low = _U32(from_refs, "from_refs")
        high = _U32(to_refs, "to_refs")
        super().__init__(
            None if low is None else ("Included", low), None if high is None else ("Excluded", high)
        )

    def _bound(self, index: int) -> int | None:
        bound: _Bound = self._args[index]
        return None if bound is None else bound[1]

    def __repr__(self) -> str:
        return f"{_PRELOAD}.num_refs({self._bound(0)}, {self._bound(1)})"

    def _to_dict(self) -> Any:
        return {
            "num_refs": {"from": _encode_bound(self._args[0]), "to": _encode_bound(self._args[1])}
        }

    @classmethod
    def _decode(cls, payload: Any) -> _PreloadNumRefs:
        mapping = require_map(payload, "num_refs")
        obj = cls.__new__(cls)
        bounds = (_decode_bound(mapping.get("from")), _decode_bound(mapping.get("to")))
        Variant.__init__(obj, *bounds)
        return obj


setattr(_PreloadNumRefs, "from", property(lambda self: self._bound(0), doc="Lower bound."))
setattr(_PreloadNumRefs, "to", property(lambda self: self._bound(1), doc="Upper bound."))  # noqa: B010


class _PreloadConstant(ManifestPreloadCondition):
    __slots__ = ()
    __match_args__ = ()

    def __init__(self) -> None:
        super().__init__()

    def __repr__(self) -> str:
        return f"{_PRELOAD}.{self._TAG}()"

    def _to_dict(self) -> Any:
        return self._TAG


class _PreloadTrue(_PreloadConstant):
    """Matches every manifest."""

    __slots__ = ()
    _TAG = "true"


class _PreloadFalse(_PreloadConstant):
    """Matches no manifest."""

    __slots__ = ()
    _TAG = "false"


def _attach(outer: type, name: str, kind: type) -> None:
    kind.__name__ = name
    kind.__qualname__ = f"{outer.__name__}.{name}"
    setattr(outer, name, kind)


for _name, _kind in {
    "Or": _PreloadOr,
    "And": _PreloadAnd,
    "PathMatches": _PreloadPathMatches,
    "NameMatches": _PreloadNameMatches,
    "NumRefs": _PreloadNumRefs,
    "True": _PreloadTrue,
    "False": _PreloadFalse,
}.items():
    _attach(ManifestPreloadCondition, _name, _kind)
