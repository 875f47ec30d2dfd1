"""On-disk spec versions."""

from __future__ import annotations

from enum import IntEnum

__all__ = [
    "PACKAGE_VERSION",
    "PYICECHUNK_VERSION",
    "SpecVersion",
    "print_debug_info",
    "spec_version",
    "supported_spec_versions",
    "user_agent",
]

#: The reference ``icechunk`` API version this package implements, with our own release as
#: the local label: code that checks ``Version(icechunk.__version__).major >= 2`` sees 2.x.
#: Files record ``ic-<this>`` as their writer, in a 24-byte header field: keep it short.
PACKAGE_VERSION = "2.3.0+pyicechunk.0.1"
#: This implementation's own release.
PYICECHUNK_VERSION = "0.1.0"


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

    def __call__(self) -> SpecVersion:
        """Return the version itself.

        Older releases exposed ``Repository.spec_version`` as a method, so code written
        for them (``repo.spec_version()``) keeps working against the property.
        """
        return self


def spec_version() -> SpecVersion:
    """The spec version new repositories are created with."""
    return SpecVersion.current()


def supported_spec_versions() -> list[SpecVersion]:
    """The spec versions this library can open, newest first."""
    return [SpecVersion.v2, SpecVersion.v1]


def print_debug_info() -> None:
    """Print platform and package versions, for bug reports."""
    import platform
    from importlib import import_module

    print(f"platform:  {platform.platform()}")
    print(f"python:  {platform.python_version()}")
    print(f"icechunk:  {PACKAGE_VERSION}")
    for package in ("zarr", "numcodecs", "xarray", "virtualizarr"):
        try:
            version = import_module(package).__version__
        except ModuleNotFoundError:
            continue
        print(f"{package}:  {version}")


def user_agent() -> str:
    """The User-Agent product token this library sends to object stores."""
    return f"icechunk-pyicechunk-{PYICECHUNK_VERSION}"
