"""Reclaim the temporary files of local writes that a crash cut off.

A local put writes ``.icechunk-tmp-<uuid>`` next to its target and renames (or links) it into
place; a process killed between the two leaves the temporary file behind. Nothing ever reads
it, and no listing shows it, so garbage collection removes those older than its cutoff: a
write still in flight is younger than any cutoff GC accepts for the objects it publishes.
"""

from __future__ import annotations

import datetime as dt
import os

from icechunk.storage.base import RESERVED_COMPONENT_PREFIX

TEMP_PREFIX = RESERVED_COMPONENT_PREFIX + "tmp-"


def remove_abandoned_temp_files(root: str, older_than: dt.datetime) -> int:
    """Delete temporary files under ``root`` last modified before ``older_than``.

    Returns how many were deleted. Symbolic links are not followed and other reserved
    names (the lock directory) are left alone.
    """
    cutoff = older_than.timestamp()
    removed = 0
    for directory, subdirs, files in os.walk(root, followlinks=False):
        subdirs[:] = [d for d in subdirs if not d.startswith(RESERVED_COMPONENT_PREFIX)]
        for name in files:
            if not name.startswith(TEMP_PREFIX):
                continue
            path = os.path.join(directory, name)
            try:
                if os.lstat(path).st_mtime < cutoff:
                    os.unlink(path)
                    removed += 1
            except FileNotFoundError:
                continue  # its write finished or another GC took it
    return removed
