"""Fixtures for widget tests: small real repositories with history, branches and conflicts."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import zarr

import icechunk as ic


def make_history(path: Path) -> tuple[ic.Repository, list[str]]:
    """A local repository with three commits on ``main``, a ``dev`` branch and a tag.

    Returns the repository and the snapshot ids, oldest first (the initial one included).
    """
    repo = ic.Repository.create(ic.local_filesystem_storage(str(path)))
    ids = [repo.lookup_branch("main")]
    s = repo.writable_session("main")
    root = zarr.group(s.store)
    arr = root.create_array("temp", shape=(4, 6), chunks=(2, 2), dtype="f4", fill_value=0)
    root.create_group("obs")
    arr[:] = np.arange(24, dtype="f4").reshape(4, 6)
    ids.append(s.commit("create temp", metadata={"author": "ana"}))
    s = repo.writable_session("main")
    zarr.open_array(s.store, path="temp")[0:2, 0:2] = -1
    zarr.open_group(s.store).attrs["title"] = "<b>demo</b>"
    ids.append(s.commit("edit corner <script>", metadata={"author": "bo"}))
    repo.create_branch("dev", ids[1])
    repo.create_tag("v1", ids[2])
    return repo, ids


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
