"""Figures of the reliability runs (commits landed, crashes survived, files damaged...).

:func:`report` prints one line (visible with ``pytest -s``) and appends it to the file
named by ``$ICECHUNK_FIGURES_FILE``, which tests/conftest.py sets for each pytest run
(xdist workers inherit it) and prints as a "reliability figures" section at the end, so
``make test`` and ``make soak`` show the figures of the run that just finished.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping

FIGURES_ENV = "ICECHUNK_FIGURES_FILE"


def report(title: str, counts: Mapping[str, object]) -> str:
    """Print ``title: k=v, ...`` and record it for the end-of-run summary."""
    line = f"{title}: " + ", ".join(f"{k}={v}" for k, v in sorted(counts.items()))
    print("\n" + line)
    path = os.environ.get(FIGURES_ENV)
    if path:
        with open(path, "a", encoding="utf-8") as out:
            out.write(json.dumps(line) + "\n")
    return line
