"""Jupyter widgets for pyicechunk: history, diffs, conflict resolution, write progress.

Each widget is an ``anywidget`` (plain ES module and CSS shipped in this package, no build
step, nothing loaded from the network), a thin view over data functions that also work
without a browser, with Python methods for every action it offers.
"""

from __future__ import annotations

from .conflicts import ConflictResolver
from .diff import DiffViewer
from .history import HistoryBrowser
from .monitor import WriteMonitor, report_chunks

__all__ = ["ConflictResolver", "DiffViewer", "HistoryBrowser", "WriteMonitor", "report_chunks"]
