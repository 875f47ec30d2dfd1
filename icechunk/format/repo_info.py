"""Codec for the ``repo`` file (spec v2): refs, the snapshot list, status, ops log, config.

The file is rewritten on every repository change and lists every snapshot, so neither
direction uses the generic flatbuffers APIs: the writer lays the buffer out by hand
(``_repo_info_write``) and the reader unpacks it with ``struct`` (``_repo_info_read``).
Both validate what the real reader silently relies on: refs, deleted tags and feature
flags sorted, snapshots sorted by id (it binary-searches them), every index in range.

Also here: the naming of repo-file backups and the ops-log clock rule.
"""

from __future__ import annotations

import struct

from icechunk.errors import ErrorKind, FormatError, InvalidInputError
from icechunk.format import _repo_info_schema as s
from icechunk.format._repo_info_read import read_payload
from icechunk.format._repo_info_write import write_payload
from icechunk.format._repo_snapshots import columns_of
from icechunk.format.header import FileType, decode_file, encode_file
from icechunk.format.ids import crockford_encode
from icechunk.format.model import RepoInfo

__all__ = [
    "BACKUP_EPOCH_MS",
    "REPO_SPEC_VERSION",
    "backup_object_name",
    "decode_repo_info",
    "encode_repo_info",
    "next_update_time",
]

#: The only ``Repo.spec_version`` this module reads and writes.
REPO_SPEC_VERSION = s.REPO_SPEC_VERSION
#: 3000-01-01 in milliseconds since the Unix epoch; backup names count down to it.
BACKUP_EPOCH_MS = 32_503_680_000_000


def encode_repo_info(info: RepoInfo, *, compression_level: int = 3) -> bytes:
    """Serialize a :class:`RepoInfo` as a complete repo file (header + zstd payload).

    Refs and snapshots are sorted and every index is remapped to the sorted order.

    Parameters
    ----------
    info
        The repository state to write.
    compression_level
        zstd level of the payload.

    Returns
    -------
    bytes
        The file, ready to be stored as ``repo``.

    Raises
    ------
    InvalidInputError
        If ``main`` is missing, a ref or parent names an unknown snapshot, the parent
        links form a cycle, a name is not valid UTF-8, a number is out of range, a tag is
        both live and deleted, or a required ops-log field is missing.
    """
    if info.spec_version != REPO_SPEC_VERSION:
        raise InvalidInputError(
            f"cannot write a repo file with spec version {info.spec_version}; only "
            f"{REPO_SPEC_VERSION} is supported",
            ErrorKind.UNSUPPORTED_SPEC_VERSION,
        )
    if "main" not in info.branches:
        raise InvalidInputError(
            "the repository must have a `main` branch", ErrorKind.BRANCH_NOT_FOUND
        )
    clash = info.deleted_tags & info.tags.keys()
    if clash:
        raise InvalidInputError(
            f"tags {sorted(clash)} are both live and deleted", ErrorKind.TAG_PREVIOUSLY_DELETED
        )
    return encode_file(
        FileType.REPO_INFO, write_payload(info, columns_of(info.snapshots)), level=compression_level
    )


def decode_repo_info(data: bytes) -> RepoInfo:
    """Parse and validate a complete repo file.

    Parameters
    ----------
    data
        The bytes of a ``repo`` object (header + compressed payload).

    Returns
    -------
    RepoInfo
        Refs map to snapshot ids, each snapshot entry carries its parent id, and the ops
        log is newest first. Unknown config keys are kept.

    Raises
    ------
    FormatError
        On any corruption: a bad header, a missing required field, an index out of range,
        unsorted refs or snapshots, a parent cycle or an undecodable value; with kind
        ``UNSUPPORTED_SPEC_VERSION`` when ``Repo.spec_version`` is not 2.
    """
    _, payload = decode_file(data, FileType.REPO_INFO)
    try:
        return read_payload(payload)
    except FormatError:
        raise
    except (struct.error, ValueError, IndexError, OverflowError, RecursionError) as exc:
        raise FormatError(f"corrupt repo file: {exc}") from exc


def backup_object_name(now_ms: int, random_id: bytes) -> str:
    """Name (without the ``overwritten/`` prefix) of a backup of the repo file.

    Parameters
    ----------
    now_ms
        Current time in milliseconds since the Unix epoch.
    random_id
        12 random bytes that make the name unique.

    Returns
    -------
    str
        ``repo.<14-digit countdown to year 3000>.<20-char Crockford id>``, so a listing
        shows the newest backup first.
    """
    if len(random_id) != s.ID_SIZE:
        raise InvalidInputError(f"backup id needs {s.ID_SIZE} bytes, got {len(random_id)}")
    if not 0 <= now_ms <= BACKUP_EPOCH_MS:
        raise InvalidInputError(f"backup time {now_ms} ms is outside the years 1970..3000")
    return f"repo.{BACKUP_EPOCH_MS - now_ms:014d}.{crockford_encode(bytes(random_id))}"


def next_update_time(previous_top_us: int | None, now_us: int) -> int:
    """Timestamp for a new ops-log entry: ``now``, but strictly after the current top.

    Parameters
    ----------
    previous_top_us
        ``updated_at`` of the newest ops-log entry, or None for an empty log.
    now_us
        Current time in microseconds since the Unix epoch.

    Returns
    -------
    int
        ``max(now_us, previous_top_us + 1)``; the real writer refuses a time that is not
        after the top entry's.
    """
    if previous_top_us is None:
        return now_us
    return max(now_us, previous_top_us + 1)
