"""On-disk spec versions."""

from __future__ import annotations

from enum import IntEnum

__all__ = ["SpecVersion", "spec_version"]


class SpecVersion(IntEnum):
    """Icechunk on-disk format versions; compares equal to its integer."""

    v1 = 1
    v2 = 2

    @classmethod
    def current(cls) -> SpecVersion:
        """The version this library writes."""
        return cls.v2

    def __repr__(self) -> str:
        suffix = " (current)" if self is SpecVersion.current() else ""
        return f"SpecVersion.{self.name}{suffix}"

    __str__ = __repr__


def spec_version() -> SpecVersion:
    """The spec version new repositories are created with."""
    return SpecVersion.current()
