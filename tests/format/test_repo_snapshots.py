"""The lazily decoded snapshot list of the repo file (``_repo_snapshots``).

A decoded ``RepoInfo.snapshots`` builds entries on demand and a commit adds its entry on
top; re-encoding must give exactly what encoding the same entries from a plain dict gives.
"""

from __future__ import annotations

import dataclasses

import pytest

from icechunk.errors import ErrorKind, FormatError, InvalidInputError
from icechunk.format._repo_snapshots import SnapshotMap, with_snapshot
from icechunk.format.header import FileType, decode_file, encode_file
from icechunk.format.ids import SnapshotId
from icechunk.format.model import (
    RepoInfo,
    RepoStatusData,
    SnapshotEntry,
    UpdateKind,
    UpdateRecord,
)
from icechunk.format.repo_info import decode_repo_info, encode_repo_info


def sid(n: int) -> SnapshotId:
    # Ids end in NUL bytes on purpose: numpy's fixed-width byte strings drop them.
    return SnapshotId(bytes([n, 7]) + b"\0" * 10)


def chain(n: int, metadata: dict[str, object] | None = None) -> RepoInfo:
    """``n`` snapshots in one line of history, ids not in history order."""
    ids = [sid((37 * i) % 251) for i in range(n)]
    snaps = {}
    for i, s in enumerate(ids):
        snaps[s] = SnapshotEntry(
            s,
            ids[i - 1] if i else None,
            1_700_000_000_000_000 + i,
            f"commit {i} ✓" if i % 3 else f"commit {i}",
            dict(metadata or {}) if i % 2 else {},
            (ids[0],) if i == n - 1 else None,
        )
    return RepoInfo(
        branches={"main": ids[-1]},
        tags={"first": ids[0]},
        deleted_tags=frozenset(),
        snapshots=snaps,
        status=RepoStatusData(set_at=1),
        latest_updates=(UpdateRecord(UpdateKind.REPO_INITIALIZED, 1),),
    )


def test_decoded_snapshots_are_lazy_and_equal_the_written_ones() -> None:
    info = chain(40, {"who": "me", "n": [1, 2]})
    decoded = decode_repo_info(encode_repo_info(info))
    snaps = decoded.snapshots
    assert isinstance(snaps, SnapshotMap)
    assert len(snaps) == 40
    assert sorted(snaps) == list(snaps) == sorted(info.snapshots)
    for s, entry in info.snapshots.items():
        assert s in snaps
        assert snaps[s] == entry
    assert dict(snaps.items()) == info.snapshots
    assert list(snaps.values()) == [info.snapshots[s] for s in snaps]
    assert decoded == info
    assert sid(250) not in snaps and b"short" not in snaps and "text" not in snaps
    assert snaps.get(sid(250)) is None
    with pytest.raises(KeyError):
        snaps[sid(250)]


def test_each_entry_gets_its_own_metadata() -> None:
    decoded = decode_repo_info(encode_repo_info(chain(4, {"n": [1]})))
    a, b = (decoded.snapshots[s] for s in decoded.snapshots if decoded.snapshots[s].metadata)
    assert a.metadata == b.metadata and a.metadata is not b.metadata
    assert a.metadata["n"] is not b.metadata["n"]


@pytest.mark.parametrize("n", [1, 2, 40])
def test_adding_to_a_decoded_list_encodes_like_a_plain_dict(n: int) -> None:
    info = decode_repo_info(encode_repo_info(chain(n, {"k": 1.5})))
    tip = info.branches["main"]
    new = [
        SnapshotEntry(sid(252), tip, 5, "on top", {"k": 1.5}),
        SnapshotEntry(sid(251), sid(252), 6, "", {"other": True}, ()),
    ]
    snaps = info.snapshots
    for entry in new:
        snaps = with_snapshot(snaps, entry)
    assert isinstance(snaps, SnapshotMap) and len(snaps) == n + 2
    assert len(info.snapshots) == n  # the decoded state is unchanged
    assert snaps[sid(251)] is new[1]
    moved = dataclasses.replace(info, snapshots=snaps, branches={"main": sid(251)})
    plain = dataclasses.replace(moved, snapshots=dict(snaps.items()))
    raw = encode_repo_info(moved)
    assert raw == encode_repo_info(plain)
    again = decode_repo_info(raw)
    assert again == plain
    assert again.snapshots[sid(251)].parent_id == sid(252)
    assert again.snapshots[sid(252)].parent_id == tip


def test_reencoding_a_decoded_file_gives_the_same_bytes() -> None:
    raw = encode_repo_info(chain(30, {"x": "y"}))
    assert encode_repo_info(decode_repo_info(raw)) == raw


def test_added_entries_are_validated() -> None:
    info = decode_repo_info(encode_repo_info(chain(3)))
    orphan = SnapshotEntry(sid(200), sid(201), 1, "x")
    bad = dataclasses.replace(info, snapshots=with_snapshot(info.snapshots, orphan))
    with pytest.raises(InvalidInputError) as err:
        encode_repo_info(bad)
    assert err.value.kind == ErrorKind.SNAPSHOT_NOT_FOUND
    late = SnapshotEntry(sid(200), None, -1, "x")
    with pytest.raises(InvalidInputError, match="flushed_at"):
        encode_repo_info(dataclasses.replace(info, snapshots=with_snapshot(info.snapshots, late)))
    not_text = SnapshotEntry(sid(200), None, 1, b"bytes")  # type: ignore[arg-type]
    with pytest.raises(InvalidInputError, match="message"):
        encode_repo_info(
            dataclasses.replace(info, snapshots=with_snapshot(info.snapshots, not_text))
        )


def test_replacing_a_decoded_entry_falls_back_to_a_dict() -> None:
    info = decode_repo_info(encode_repo_info(chain(3)))
    first = next(iter(info.snapshots))
    changed = dataclasses.replace(info.snapshots[first], message="reworded")
    snaps = with_snapshot(info.snapshots, changed)
    assert type(snaps) is dict and snaps[first].message == "reworded"
    assert decode_repo_info(encode_repo_info(dataclasses.replace(info, snapshots=snaps))) == (
        dataclasses.replace(info, snapshots=snaps)
    )


def test_a_message_that_is_not_utf8_fails_on_decode() -> None:
    info = chain(5)
    _, payload = decode_file(encode_repo_info(info), FileType.REPO_INFO)
    at = payload.find(b"commit 3")
    assert at > 0
    corrupt = payload[:at] + b"\xff" + payload[at + 1 :]
    with pytest.raises(FormatError):
        decode_repo_info(encode_file(FileType.REPO_INFO, corrupt))
    ascii_only = payload[:at] + b"C" + payload[at + 1 :]
    assert decode_repo_info(encode_file(FileType.REPO_INFO, ascii_only)).snapshots


def test_many_added_entries_are_folded_into_columns() -> None:
    info = decode_repo_info(encode_repo_info(chain(3)))
    snaps, parent = info.snapshots, info.branches["main"]
    for n in range(70):  # more than one fold
        new = SnapshotId(bytes([n + 1, 9]) + b"\0" * 10)
        snaps = with_snapshot(snaps, SnapshotEntry(new, parent, n, f"m{n}", {"n": n}))
        parent = new
    assert isinstance(snaps, SnapshotMap) and len(snaps.added) < 70
    assert len(snaps) == 73 and snaps[parent].message == "m69"
    moved = dataclasses.replace(info, snapshots=snaps, branches={"main": parent})
    plain = dataclasses.replace(moved, snapshots=dict(snaps.items()))
    assert encode_repo_info(moved) == encode_repo_info(plain)
    assert decode_repo_info(encode_repo_info(moved)) == plain
