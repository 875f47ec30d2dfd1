"""Array and dimension predicates of manifest splitting rules.

:class:`ManifestSplitCondition` selects the arrays a splitting rule applies to and
:class:`ManifestSplitDimCondition` the dimensions it splits along. Both are immutable,
hashable tagged unions (they are used as dict keys by ``ManifestSplittingConfig.from_dict``).
"""

from __future__ import annotations

import typing
from typing import Any, ClassVar

from icechunk._config_base import check_str, config_format_error, quote, uint
from icechunk._config_conditions import (
    _attach,
    _Condition,
    _decode_shared,
    _JunctionCondition,
    _RegexCondition,
    _single,
)

__all__ = ["ManifestSplitCondition", "ManifestSplitDimCondition"]

_SPLIT = "icechunk.config.ManifestSplitCondition"
_DIM = "icechunk.config.ManifestSplitDimCondition"


# --------------------------------------------------------------------------- splitting


class ManifestSplitCondition(_Condition):
    """Which arrays a manifest splitting rule applies to; combine with ``&`` and ``|``."""

    __slots__ = ()

    Or: ClassVar[type[_SplitOr]]
    And: ClassVar[type[_SplitAnd]]
    PathMatches: ClassVar[type[_SplitPathMatches]]
    NameMatches: ClassVar[type[_SplitNameMatches]]
    AnyArray: ClassVar[type[_SplitAnyArray]]

    def __init__(self, *args: Any) -> None:
        if type(self) is ManifestSplitCondition:
            raise TypeError("use the ManifestSplitCondition static constructors")
        super().__init__(*args)

    def __hash__(self) -> int:  # type: ignore[override]
        return hash((type(self).__qualname__, self._args))

    @staticmethod
    def or_conditions(conditions: list[ManifestSplitCondition]) -> ManifestSplitCondition:
        """Match when any of ``conditions`` matches.

        Parameters
        ----------
        conditions
            The alternatives.

        Returns
        -------
        ManifestSplitCondition
            The combined condition.
        """
        return _SplitOr(conditions)

    @staticmethod
    def and_conditions(conditions: list[ManifestSplitCondition]) -> ManifestSplitCondition:
        """Match only when all of ``conditions`` match.

        Parameters
        ----------
        conditions
            The requirements.

        Returns
        -------
        ManifestSplitCondition
            The combined condition.
        """
        return _SplitAnd(conditions)

    @staticmethod
    def path_matches(regex: str) -> ManifestSplitCondition:
        """Match arrays whose absolute path (``/a/b/array``) matches ``regex``.

        Parameters
        ----------
        regex
            A regular expression.

        Returns
        -------
        ManifestSplitCondition
            The condition.
        """
        return _SplitPathMatches(regex)

    @staticmethod
    def name_matches(regex: str) -> ManifestSplitCondition:
        """Match arrays whose name (last path segment) matches ``regex``.

        Parameters
        ----------
        regex
            A regular expression.

        Returns
        -------
        ManifestSplitCondition
            The condition.
        """
        return _SplitNameMatches(regex)

    def __or__(self, other: ManifestSplitCondition, /) -> ManifestSplitCondition:
        return _SplitOr([self, other])

    def __and__(self, other: ManifestSplitCondition, /) -> ManifestSplitCondition:
        return _SplitAnd([self, other])

    @staticmethod
    def _from_dict(data: Any) -> ManifestSplitCondition:
        """Decode the serde form of a split condition."""
        if data == "any_array":
            return _SplitAnyArray()
        tag, payload = _single(data, "split condition")
        shared = _decode_shared(
            tag,
            payload,
            ManifestSplitCondition._from_dict,
            (_SplitOr, _SplitAnd),
            (_SplitPathMatches, _SplitNameMatches),
        )
        if shared is not None:
            return shared
        raise config_format_error(f"unknown split condition {tag!r}")


class _SplitJunction(_JunctionCondition, ManifestSplitCondition):
    __slots__ = ()
    _UNION = ManifestSplitCondition
    _PREFIX = _SPLIT


class _SplitOr(_SplitJunction):
    """Matches when any of its conditions matches."""

    __slots__ = ()
    _TAG = "or"
    _CTOR = "or_conditions"


class _SplitAnd(_SplitJunction):
    """Matches when all of its conditions match."""

    __slots__ = ()
    _TAG = "and"
    _CTOR = "and_conditions"


class _SplitRegex(_RegexCondition, ManifestSplitCondition):
    __slots__ = ()
    _PREFIX = _SPLIT


class _SplitPathMatches(_SplitRegex):
    """Matches arrays whose absolute path matches ``regex``."""

    __slots__ = ()
    _TAG = "path_matches"


class _SplitNameMatches(_SplitRegex):
    """Matches arrays whose name matches ``regex``."""

    __slots__ = ()
    _TAG = "name_matches"


class _SplitAnyArray(ManifestSplitCondition):
    """Matches every array."""

    __slots__ = ()
    __match_args__ = ()

    def __init__(self) -> None:
        super().__init__()

    def __repr__(self) -> str:
        return f"{_SPLIT}.any_array()"

    def _to_dict(self) -> Any:
        return "any_array"


for _name, _kind in {
    "Or": _SplitOr,
    "And": _SplitAnd,
    "PathMatches": _SplitPathMatches,
    "NameMatches": _SplitNameMatches,
    "AnyArray": _SplitAnyArray,
}.items():
    _attach(ManifestSplitCondition, _name, _kind)


class ManifestSplitDimCondition(_Condition):
    """Which dimension of an array a splitting size applies to."""

    __slots__ = ()

    Axis: ClassVar[type[_DimAxis]]
    DimensionName: ClassVar[type[_DimName]]
    Any: ClassVar[type[_DimAny]]  # (typing.Any is spelled out in this class body)

    def __init__(self, *args: typing.Any) -> None:
        if type(self) is ManifestSplitDimCondition:
            raise TypeError("use ManifestSplitDimCondition.Axis, .DimensionName or .Any")
        super().__init__(*args)

    def __hash__(self) -> int:  # type: ignore[override]
        return hash((type(self).__qualname__, self._args))

    @staticmethod
    def _from_dict(data: typing.Any) -> ManifestSplitDimCondition:
        """Decode the serde form of a dimension condition."""
        if data == "Any":
            return _DimAny()
        tag, payload = _single(data, "split dimension condition")
        try:
            if tag == "Axis":
                return _DimAxis(payload)
            if tag == "DimensionName":
                return _DimName(payload)
        except (TypeError, ValueError) as exc:
            raise config_format_error(f"split dimension {tag}: {exc}") from exc
        raise config_format_error(f"unknown split dimension condition {tag!r}")


class _DimAxis(ManifestSplitDimCondition):
    """Split along the dimension with this index.

    Parameters
    ----------
    axis
        The dimension index.
    """

    __slots__ = ()
    __match_args__ = ("_0",)

    def __init__(self, axis: int) -> None:
        super().__init__(uint(64)(axis, "axis"))

    @property
    def _0(self) -> int:
        axis: int = self._args[0]
        return axis

    def __repr__(self) -> str:
        return f"{_DIM}.axis({self._0})"

    def _to_dict(self) -> Any:
        return {"Axis": self._0}


class _DimName(ManifestSplitDimCondition):
    """Split along dimensions whose name matches this regular expression.

    Parameters
    ----------
    regex
        A regular expression.
    """

    __slots__ = ()
    __match_args__ = ("_0",)

    def __init__(self, regex: str) -> None:
        super().__init__(check_str(regex, "regex"))

    @property
    def _0(self) -> str:
        regex: str = self._args[0]
        return regex

    def __repr__(self) -> str:
        return f"{_DIM}.dimension_name({quote(self._0)})"

    def _to_dict(self) -> Any:
        return {"DimensionName": self._0}


class _DimAny(ManifestSplitDimCondition):
    """Split along every dimension not matched by an earlier entry."""

    __slots__ = ()
    __match_args__ = ()

    def __init__(self) -> None:
        super().__init__()

    def __repr__(self) -> str:
        return f"{_DIM}.any()"

    def _to_dict(self) -> Any:
        return "Any"


for _name, _kind in {"Axis": _DimAxis, "DimensionName": _DimName, "Any": _DimAny}.items():
    _attach(ManifestSplitDimCondition, _name, _kind)
del _name, _kind
