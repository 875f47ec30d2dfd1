"""Run a writer in a child process that may be SIGKILLed (by itself or by the caller)."""

from __future__ import annotations

import os
import signal
from collections.abc import Callable
from multiprocessing.context import ForkServerContext


def run_killable(
    processes: ForkServerContext,
    target: Callable[..., None],
    args: tuple[str, ...],
    kill_after: float,
) -> int:
    """Run ``target(*args)`` in a child; SIGKILL it after ``kill_after`` s (if > 0).

    Returns the exit code: 0, or ``-SIGKILL`` when it was killed (any other outcome fails).
    """
    proc = processes.Process(target=target, args=args)
    proc.start()
    proc.join(timeout=kill_after if kill_after > 0 else 300)
    if proc.exitcode is None:
        os.kill(proc.pid, signal.SIGKILL)  # type: ignore[arg-type]
        proc.join()
    assert proc.exitcode in (0, -signal.SIGKILL), f"writer failed: exit code {proc.exitcode}"
    return proc.exitcode
