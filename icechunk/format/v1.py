"""The spec-v1 repository layout: refs as small JSON objects (pure helpers, no I/O).

A v1 repository has no ``repo`` file. Each branch is ``refs/branch.NAME/ref.json`` and
each tag ``refs/tag.NAME/ref.json``, both holding ``{"snapshot": "<20-char id>"}``; a
deleted tag keeps its ``ref.json`` and gains an empty ``ref.json.deleted`` tombstone.
Ancestry is followed through each snapshot's ``parent_id``.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Iterable

from icechunk.errors import FormatError, InvalidInputError
from icechunk.format.ids import SnapshotId

__all__ = [
    "REFS_PREFIX",
    "REF_FILE",
    "TOMBSTONE_FILE",
    "V1_BRANCH_PREFIX",
    "V1_TAG_PREFIX",
    "branch_names",
    "branch_ref_key",
    "decode_ref",
    "deleted_tag_names",
    "detect_spec_version",
    "encode_ref",
    "tag_names",
    "tag_ref_key",
    "tag_tombstone_key",
]

REFS_PREFIX = "refs/"
#: Key prefix of v1 branch refs, relative to the repository root.
V1_BRANCH_PREFIX = "refs/branch."
#: Key prefix of v1 tag refs, relative to the repository root.
V1_TAG_PREFIX = "refs/tag."
REF_FILE = "ref.json"
TOMBSTONE_FILE = "ref.json.deleted"
_REPO_INFO_KEY = "repo"
_MAIN_REF_KEY = "refs/branch.main/ref.json"


def branch_ref_key(name: str) -> str:
    """Key of a branch's ref file, e.g. ``refs/branch.main/ref.json``."""
    return f"{V1_BRANCH_PREFIX}{_checked_name(name)}/{REF_FILE}"


def tag_ref_key(name: str) -> str:
    """Key of a tag's ref file, e.g. ``refs/tag.v1/ref.json``."""
    return f"{V1_TAG_PREFIX}{_checked_name(name)}/{REF_FILE}"


def tag_tombstone_key(name: str) -> str:
    """Key of the empty object marking a tag as deleted."""
    return f"{V1_TAG_PREFIX}{_checked_name(name)}/{TOMBSTONE_FILE}"


def _checked_name(name: str) -> str:
    if not name or "/" in name:
        raise InvalidInputError(f"invalid ref name {name!r}: must be non-empty without '/'")
    return name


def decode_ref(data: bytes) -> SnapshotId:
    """The snapshot id held by a v1 ``ref.json`` object.

    Raises
    ------
    FormatError
        If the content is not JSON of the form ``{"snapshot": "<id>"}`` with a valid id.
    """
    try:
        doc = json.loads(data)
        text = doc["snapshot"]
        if not isinstance(text, str):
            raise TypeError("snapshot id is not a string")
        return SnapshotId.parse(text)
    except (ValueError, TypeError, KeyError) as exc:  # InvalidInputError is a ValueError
        raise FormatError(f"invalid v1 ref file {bytes(data[:100])!r}: {exc}") from exc


def encode_ref(snapshot_id: SnapshotId) -> bytes:
    """The ``ref.json`` content pointing at ``snapshot_id`` (compact, like icechunk 1.x)."""
    return json.dumps({"snapshot": str(snapshot_id)}, separators=(",", ":")).encode()


def _names(keys: Iterable[str], prefix: str, leaf: str) -> set[str]:
    """Ref names ``N`` with a key ``<prefix>N/<leaf>``; keys may omit the ``refs/`` prefix."""
    out = set()
    for key in keys:
        if not key.startswith(REFS_PREFIX):
            key = REFS_PREFIX + key
        if not key.startswith(prefix):
            continue
        name, sep, rest = key[len(prefix) :].partition("/")
        if sep and rest == leaf and name:
            out.add(name)
    return out


def branch_names(keys: Iterable[str]) -> list[str]:
    """Sorted branch names found among object keys under ``refs/``.

    Keys may be given relative to the repository root (``refs/branch.main/ref.json``) or
    to ``refs/`` (``branch.main/ref.json``).
    """
    return sorted(_names(keys, V1_BRANCH_PREFIX, REF_FILE))


def tag_names(keys: Iterable[str]) -> list[str]:
    """Sorted names of the live tags (a ``ref.json`` and no tombstone) among ``keys``."""
    keys = list(keys)
    live = _names(keys, V1_TAG_PREFIX, REF_FILE) - _names(keys, V1_TAG_PREFIX, TOMBSTONE_FILE)
    return sorted(live)


def deleted_tag_names(keys: Iterable[str]) -> list[str]:
    """Sorted names of deleted tags (those with a tombstone) among ``keys``."""
    return sorted(_names(keys, V1_TAG_PREFIX, TOMBSTONE_FILE))


def detect_spec_version(keys_present: Collection[str]) -> int | None:
    """Which spec a repository follows, judging by which root keys exist.

    A ``repo`` object means spec 2 (also for repositories migrated from v1, which keep
    their ``refs/``); otherwise ``refs/branch.main/ref.json`` means spec 1; otherwise
    there is no repository (``None``).
    """
    if _REPO_INFO_KEY in keys_present:
        return 2
    if _MAIN_REF_KEY in keys_present:
        return 1
    return None
