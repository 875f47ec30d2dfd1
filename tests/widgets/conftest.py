"""Fixtures for widget tests: small real repositories with history, branches and conflicts."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import icechunk as ic

from .scenarios import make_history


@pytest.fixture
def history(tmp_path: Path) -> tuple[ic.Repository, list[str]]:
    return make_history(tmp_path / "repo")


class MessageRecorder:
    """Drives an ipywidget without a front-end: records what it sends, feeds it messages."""

    def __init__(self, widget: Any) -> None:
        self.widget = widget
        self.sent: list[dict[str, Any]] = []
        widget.comm.send = self._record  # DummyComm outside a kernel

    def _record(self, data: Any = None, metadata: Any = None, buffers: Any = None) -> None:
        self.sent.append(data or {})

    def custom(self, content: dict[str, Any]) -> dict[str, Any]:
        """Send a custom message as the front-end would; return the widget's reply."""
        before = len(self.sent)
        self.widget._handle_msg(
            {"content": {"data": {"method": "custom", "content": content}}, "buffers": []}
        )
        replies = [m["content"] for m in self.sent[before:] if m.get("method") == "custom"]
        assert replies, f"no reply to {content}"
        reply: dict[str, Any] = replies[-1]
        return reply

    def update(self, **state: Any) -> None:
        """Set traits from the front-end side."""
        self.widget._handle_msg(
            {"content": {"data": {"method": "update", "state": state, "buffer_paths": []}},
             "buffers": []}
        )


@pytest.fixture
def drive() -> Iterator[type[MessageRecorder]]:
    yield MessageRecorder
