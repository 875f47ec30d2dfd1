"""The ``icechunk`` logger: filter directives, the console handler, misspelling hints.

Directives follow the real package's ``RUST_LOG`` style: a comma-separated list of
``level`` or ``target=level`` (``target:level`` is accepted too), for example
``"icechunk=debug,warn"``. Only targets naming icechunk (``icechunk``,
``icechunk::repository``, ...) and bare levels affect this logger; a target that looks
like a misspelling of ``icechunk`` gets a warning on stderr.

Records are written to stderr, or to stdout when ``ICECHUNK_LOG_TO_STDOUT`` is set when
the package is imported, in a ``<time> <LEVEL> <target>: <message>`` layout.
"""

from __future__ import annotations

import logging
import os
import re
import sys
import time

__all__ = ["LOGGER", "initialize_logs", "set_logs_filter"]

LOGGER = logging.getLogger("icechunk")
_OFF = logging.CRITICAL + 10
_LEVELS = {
    "trace": logging.DEBUG,
    "debug": logging.DEBUG,
    "info": logging.INFO,
    "warn": logging.WARNING,
    "warning": logging.WARNING,
    "error": logging.ERROR,
    "off": _OFF,
    "false": _OFF,
}
_LEVEL_NAMES = {logging.DEBUG: "DEBUG", logging.INFO: "INFO", logging.WARNING: "WARN"}
_TARGET_LEVEL = re.compile(r"^(?P<target>.*?)(?:=|(?<!:):(?!:))(?P<level>[A-Za-z]+)$")


class _Formatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
        micros = int(record.msecs * 1000)
        level = _LEVEL_NAMES.get(record.levelno, record.levelname)
        target = record.name.replace(".", "::")
        return f"  {stamp}.{micros:06d}Z {level} {target}: {record.getMessage()}"


class _ConsoleHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to whatever ``sys.stderr`` (or ``sys.stdout``) is at the time of the record,
    so redirections made after import (pytest's capture, notebooks) see the logs."""

    def __init__(self, to_stdout: bool) -> None:
        super().__init__()
        self._to_stdout = to_stdout
        self._icechunk_default = True

    def emit(self, record: logging.LogRecord) -> None:
        self.stream = sys.stdout if self._to_stdout else sys.stderr
        super().emit(record)


def _edit_distance(a: str, b: str) -> int:
    """Edits (insert, delete, substitute, swap two neighbours) turning ``a`` into ``b``."""
    rows = [list(range(len(b) + 1))]
    for i, ca in enumerate(a, 1):
        row = [i]
        for j, cb in enumerate(b, 1):
            cost = min(rows[-1][j] + 1, row[j - 1] + 1, rows[-1][j - 1] + (ca != cb))
            if i > 1 and j > 1 and ca == b[j - 2] and a[i - 2] == cb:
                cost = min(cost, rows[-2][j - 2] + 1)
            row.append(cost)
        rows.append(row)
    return rows[-1][-1]


def _parts(directive: str) -> list[tuple[str, str]]:
    """``(target, level)`` pairs of a directive; the target is ``""`` for a bare level."""
    pairs = []
    for part in (p.strip() for p in directive.split(",")):
        if not part:
            continue
        found = _TARGET_LEVEL.match(part)
        pairs.append((found["target"], found["level"]) if found else ("", part))
    return pairs


def _warn_misspellings(pairs: list[tuple[str, str]]) -> None:
    for target, _ in pairs:
        crate = target.split("::", 1)[0]
        if crate and crate != "icechunk" and _edit_distance(crate.lower(), "icechunk") <= 2:
            print(
                f"WARNING: Did you mean 'icechunk' instead of '{crate}' in log filter?",
                file=sys.stderr,
            )


def _level_for(pairs: list[tuple[str, str]]) -> int:
    """The most specific level the directive gives icechunk (a bare level otherwise)."""
    bare = specific = None
    for target, value in pairs:
        level = _LEVELS.get(value.lower())
        if level is None:
            continue
        if target == "":
            bare = level
        elif target.split("::", 1)[0] == "icechunk":
            specific = level
    if specific is not None:
        return specific
    return bare if bare is not None else _OFF


def set_logs_filter(log_filter_directive: str | None) -> None:
    """Choose which icechunk log records are written.

    Parameters
    ----------
    log_filter_directive
        A directive such as ``"debug"`` or ``"icechunk=debug,warn"``; ``""`` or
        ``"false"`` silences the logs. None reads the ``ICECHUNK_LOG`` environment
        variable (``"warn"`` when it is not set).
    """
    directive = log_filter_directive
    if directive is None:
        directive = os.environ.get("ICECHUNK_LOG", "warn")
    pairs = _parts(directive)
    _warn_misspellings(pairs)
    LOGGER.setLevel(_level_for(pairs))


def initialize_logs() -> None:
    """Attach the console handler (once) and apply the ``ICECHUNK_LOG`` directive."""
    if not any(getattr(h, "_icechunk_default", False) for h in LOGGER.handlers):
        handler = _ConsoleHandler(bool(os.environ.get("ICECHUNK_LOG_TO_STDOUT")))
        handler.setFormatter(_Formatter())
        LOGGER.addHandler(handler)
        LOGGER.propagate = False
    set_logs_filter(None)
