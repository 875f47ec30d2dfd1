"""The Binder build replay (test_binder_build.py) runs only under ``make binder-check``.

It downloads repo2docker's base environment from PyPI and runs every notebook in it, 10-20
minutes on two cores, so ``make test`` deselects it (and says so in the summary) instead of
reporting a wall of skips; ``BINDER_CHECK=1`` selects it.
"""

from __future__ import annotations

import os

import pytest

ENV_VAR = "BINDER_CHECK"


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", f"binder_build: replays the Binder build; deselected unless {ENV_VAR}=1"
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if os.environ.get(ENV_VAR) == "1":
        return
    dropped = [item for item in items if item.get_closest_marker("binder_build")]
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = [item for item in items if not item.get_closest_marker("binder_build")]


def pytest_report_header(config: pytest.Config) -> str | None:
    if os.environ.get(ENV_VAR) == "1":
        return None
    return f"Binder build replay deselected: run `make binder-check` ({ENV_VAR}=1)"
