"""Which storage the engine suite runs on: the local filesystem (default) or S3 on moto.

``make test`` runs ``tests/engine`` twice: once as is, once with ``ICECHUNK_TEST_STORAGE=s3``.
Tests get their repositories' storage from the ``new_storage`` fixture of
``tests/engine/conftest.py``, so the same test body exercises both backends. In the S3 pass:

* a test that does not request ``new_storage`` is deselected (it never touches the storage
  under test, so running it again would prove nothing);
* a test marked ``local_only(reason=...)`` is deselected: it needs the local filesystem
  itself (paths on disk, other processes opening a directory, sample repositories on disk);
* hypothesis example counts are scaled down with :func:`examples` (every S3 request is an
  HTTP round trip to moto), keeping the extra pass within a few minutes.
"""

from __future__ import annotations

import os
from collections.abc import Callable

import icechunk as ic

__all__ = ["ENV_VAR", "KINDS", "NewStorage", "examples", "storage_kind"]

ENV_VAR = "ICECHUNK_TEST_STORAGE"
KINDS = ("local", "s3")
_S3_EXAMPLE_DIVISOR = 4

#: Type of the ``new_storage`` fixture: ``new_storage(name="repo") -> ic.Storage``.
NewStorage = Callable[..., ic.Storage]


def storage_kind() -> str:
    """The storage kind of this run: ``"local"`` or ``"s3"`` (from ``ICECHUNK_TEST_STORAGE``)."""
    kind = os.environ.get(ENV_VAR, "local").strip().lower() or "local"
    if kind not in KINDS:
        raise ValueError(f"{ENV_VAR}={kind!r}: expected one of {', '.join(KINDS)}")
    return kind


def examples(count: int) -> int:
    """``count`` hypothesis examples on the local filesystem, a quarter (at least 3) on S3."""
    if storage_kind() == "s3":
        return max(3, count // _S3_EXAMPLE_DIVISOR)
    return count
