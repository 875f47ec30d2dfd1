"""The sample repositories the real wheels write for interop tests (see tests/conftest.py).

Kept in a module of its own so test files import it by package name: a bare
``from conftest import ...`` resolves to whichever conftest module was imported first.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["SampleRepo"]


@dataclass(frozen=True)
class SampleRepo:
    """A copy of a sample repository written by ``write_sample.py``.

    ``path`` is a private copy the test may modify; ``info`` is the script's JSON output
    (``{"snapshots": {label: id}, "branches": [...], "tags": [...]}``); ``dump`` is
    ``dump.py``'s output for the pristine repository, produced by the same wheel that wrote it.
    """

    path: Path
    info: dict[str, Any]
    dump: dict[str, Any]

    @property
    def snapshots(self) -> dict[str, str]:
        return dict(self.info["snapshots"])
