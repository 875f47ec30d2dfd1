"""Round trips, validation and corruption handling of the repo-file codec.

Interop with the real icechunk wheel lives in ``test_repo_info_interop.py``.
"""

from __future__ import annotations

import contextlib
import dataclasses
import struct
from collections.abc import Callable
from typing import Any, cast

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from icechunk.errors import ErrorKind, FormatError, InvalidInputError
from icechunk.format._fb import Table, root_table
from icechunk.format.header import FileType, decode_file, encode_file
from icechunk.format.ids import INITIAL_SNAPSHOT_ID, SnapshotId, crockford_decode
from icechunk.format.model import (
    RepoAvailability,
    RepoInfo,
    RepoStatusData,
    SnapshotEntry,
    UpdateKind,
    UpdateRecord,
)
from icechunk.format.repo_info import (
    backup_object_name,
    decode_repo_info,
    encode_repo_info,
    next_update_time,
)

U32 = struct.Struct("<I")
SHORT_ID = cast(SnapshotId, b"short")  # not 12 bytes: only the encoder's check stops it
T0 = 1_795_426_562_042_141


def sid(n: int) -> SnapshotId:
    return SnapshotId(bytes([n]) * 12)


# ---------------------------------------------------------------- sample data
def all_kinds_updates(a: SnapshotId, b: SnapshotId) -> list[UpdateRecord]:
    """One ops-log entry of every kind, newest first, each with its fields set."""
    K = UpdateKind
    specs: list[tuple[UpdateKind, dict[str, Any]]] = [
        (K.REPO_STATUS_CHANGED, {"status": RepoStatusData(RepoAvailability.READ_ONLY, 7, "x")}),
        (K.FEATURE_FLAG_CHANGED, {"flag_id": 3, "flag_value": False, "flag_is_set": True}),
        (K.EXPIRATION_RAN, {}),
        (K.GC_RAN, {}),
        (K.NEW_DETACHED_SNAPSHOT, {"new_snap_id": b}),
        (K.COMMIT_AMENDED, {"name": "dev", "previous_snap_id": a, "new_snap_id": b}),
        (K.NEW_COMMIT, {"name": "main", "new_snap_id": b}),
        (K.BRANCH_RESET, {"name": "tmp", "previous_snap_id": a}),
        (K.BRANCH_DELETED, {"name": "tmp", "previous_snap_id": b}),
        (K.BRANCH_CREATED, {"name": "tmp"}),
        (K.TAG_DELETED, {"name": "old", "previous_snap_id": a}),
        (K.TAG_CREATED, {"name": "v1"}),
        (K.METADATA_CHANGED, {}),
        (K.CONFIG_CHANGED, {}),
        (K.REPO_MIGRATED, {"from_version": 1, "to_version": 2}),
        (K.REPO_INITIALIZED, {}),
    ]
    return [
        UpdateRecord(kind, T0 - i, None if i == 0 else f"repo.{i:014d}.X", **fields)
        for i, (kind, fields) in enumerate(specs)
    ]


def rich_info() -> RepoInfo:
    """A small repository that uses every field of the format."""
    root, a, b, c = INITIAL_SNAPSHOT_ID, sid(0xAA), sid(0x11), sid(0xEE)
    snapshots = {
        root: SnapshotEntry(
            root, None, T0, "Repository initialized", {"__icechunk": {"is_root": True}}
        ),
        c: SnapshotEntry(c, b, T0 + 3, "third ✓", {"author": "bob", "n": [1, 2.5, None]}),
        a: SnapshotEntry(a, root, T0 + 1, "first", {"author": "alice"}),
        b: SnapshotEntry(b, a, T0 + 2, "second", {}, pruned_ancestor_tx_logs=(sid(9), sid(3))),
    }
    return RepoInfo(
        branches={"main": c, "dev": b, "a-b": a, "a/b": root},
        tags={"v2": b, "v1": a},
        deleted_tags=frozenset({"old", "gone"}),
        snapshots=snapshots,
        status=RepoStatusData(RepoAvailability.ONLINE, T0, None),
        latest_updates=tuple(all_kinds_updates(a, b)),
        metadata={"owner": "me", "k": [1, 2]},
        repo_before_updates="repo.00000000000001.ABC",
        config={"inline_chunk_threshold_bytes": 100, "unknown_key": {"x": None}},
        enabled_feature_flags=(7, 5),
        disabled_feature_flags=(3,),
    )


def payload_of(info: RepoInfo) -> bytearray:
    return bytearray(decode_file(encode_repo_info(info), FileType.REPO_INFO)[1])


def wrap(payload: bytes | bytearray) -> bytes:
    return encode_file(FileType.REPO_INFO, bytes(payload))


# ---------------------------------------------------------------- strategies
json_scalars = (
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**63 - 1)
    # The Python FlexBuffers writer cannot store finite floats beyond the f32 range.
    | st.floats(allow_nan=False).filter(lambda f: abs(f) <= 3e38 or abs(f) == float("inf"))
    | st.text(max_size=6)
)
# FlexBuffers map keys must be ASCII without NUL (a limit of the Python flexbuffers writer).
json_keys = st.text(st.characters(min_codepoint=1, max_codepoint=127), max_size=5)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(json_keys, inner, max_size=3),
    max_leaves=5,
)
metadata_maps = st.dictionaries(st.text(max_size=6), json_values, max_size=3)
names = st.text(max_size=8)
u64 = st.integers(0, 2**64 - 1)
statuses = st.builds(
    RepoStatusData, st.sampled_from(RepoAvailability), u64, st.none() | st.text(max_size=5)
)


@st.composite
def updates(draw: st.DrawFn, ids: list[SnapshotId]) -> UpdateRecord:
    kind = draw(st.sampled_from(UpdateKind))
    some_id = st.sampled_from(ids) | st.binary(min_size=12, max_size=12).map(SnapshotId)
    fields: dict[str, Any] = {}
    for _, attr, code in _spec(kind):
        fields[attr] = draw(
            {
                "S": names,
                "D": some_id,
                "B": st.integers(0, 255),
                "H": st.integers(0, 0xFFFF),
                "?": st.booleans(),
                "T": st.none() | statuses,
            }[code]
        )
    return UpdateRecord(kind, draw(u64), draw(st.none() | names), **fields)


def _spec(kind: UpdateKind) -> tuple[tuple[int, str, str], ...]:
    from icechunk.format._repo_info_schema import UPDATE_FIELDS

    return UPDATE_FIELDS[kind]


@st.composite
def repo_infos(draw: st.DrawFn) -> RepoInfo:
    raw_ids = draw(
        st.lists(st.binary(min_size=12, max_size=12), min_size=1, max_size=12, unique=True)
    )
    ids = [SnapshotId(r) for r in raw_ids]
    snapshots = {}
    for i, s in enumerate(ids):  # parents come earlier in creation order: no cycles
        parent = draw(st.none() | st.sampled_from(ids[:i])) if i else None
        pruned = draw(st.none() | st.lists(st.sampled_from(ids), max_size=3).map(tuple))
        snapshots[s] = SnapshotEntry(
            s, parent, draw(u64), draw(st.text(max_size=10)), draw(metadata_maps), pruned
        )
    refs = st.dictionaries(names, st.sampled_from(ids), max_size=4)
    branches = {**draw(refs), "main": draw(st.sampled_from(ids))}
    tags = draw(refs)
    deleted = draw(st.frozensets(names, max_size=3)) - tags.keys()
    flags = draw(st.lists(st.integers(0, 0xFFFF), unique=True, max_size=6))
    cut = draw(st.integers(0, len(flags)))
    return RepoInfo(
        branches=branches,
        tags=tags,
        deleted_tags=deleted,
        snapshots=snapshots,
        status=draw(statuses),
        latest_updates=tuple(draw(st.lists(updates(ids), max_size=6))),
        metadata=draw(metadata_maps),
        repo_before_updates=draw(st.none() | names),
        config=draw(st.none() | st.dictionaries(json_keys, json_values, max_size=4)),
        enabled_feature_flags=tuple(flags[:cut]),
        disabled_feature_flags=tuple(flags[cut:]),
    )


def normalized(info: RepoInfo) -> RepoInfo:
    """What a decode returns: feature flags sorted, tuples inside JSON values as lists."""
    return dataclasses.replace(
        info,
        enabled_feature_flags=tuple(sorted(info.enabled_feature_flags)),
        disabled_feature_flags=tuple(sorted(info.disabled_feature_flags)),
    )


# ---------------------------------------------------------------- round trips
def test_rich_round_trip() -> None:
    info = rich_info()
    data = encode_repo_info(info)
    assert data[36:39] == bytes((2, FileType.REPO_INFO, 1))
    assert decode_file(data, FileType.REPO_INFO)[1][4:8] == b"Ichk"
    assert decode_repo_info(data) == normalized(info)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(repo_infos())
def test_round_trip(info: RepoInfo) -> None:
    data = encode_repo_info(info)
    decoded = decode_repo_info(data)
    assert decoded == normalized(info)
    # Re-encoding is stable (bytes may differ only inside FlexBuffers values, whose map
    # layout follows key insertion order).
    assert decode_repo_info(encode_repo_info(decoded)) == decoded


def test_vectors_are_sorted_and_indices_remapped() -> None:
    info = rich_info()
    payload = bytes(payload_of(info))
    root = root_table(payload)
    branch_names = root.table_vector(2, lambda t: t.string(0))
    assert branch_names == sorted(info.branches, key=str.encode)
    ids = root.table_vector(4, lambda t: t.inline_bytes(0, 12) or b"")
    assert ids == sorted(info.snapshots)
    parents = root.table_vector(4, lambda t: t.i32(1, 0))
    assert ids is not None and parents is not None
    for raw, parent in zip(ids, parents, strict=True):
        expected = info.snapshots[SnapshotId(raw)].parent_id
        assert (ids[parent] if parent >= 0 else None) == expected
    assert root.string_vector(3) == ["gone", "old"]
    assert root.scalar_vector(10, "H") == [5, 7]


def test_absent_optional_fields_stay_absent() -> None:
    info = dataclasses.replace(
        rich_info(),
        config=None,
        repo_before_updates=None,
        enabled_feature_flags=(),
        disabled_feature_flags=(),
    )
    root = root_table(bytes(payload_of(info)))
    for slot in (8, 9, 10, 11):
        assert not root.has(slot)
    plain = root.table_vector(4, lambda t: t.has(5))
    assert plain is not None and plain.count(True) == 1  # only one snapshot has pruned logs
    assert decode_repo_info(encode_repo_info(info)) == info


def test_shared_metadata_is_decoded_into_independent_dicts() -> None:
    info = rich_info()
    nested = {"deep": {"list": [1]}}
    snaps = {k: dataclasses.replace(v, metadata=dict(nested)) for k, v in info.snapshots.items()}
    decoded = decode_repo_info(encode_repo_info(dataclasses.replace(info, snapshots=snaps)))
    first, second = list(decoded.snapshots.values())[:2]
    assert first.metadata == second.metadata == nested
    first.metadata["deep"]["list"].append(2)
    assert second.metadata == nested


# ---------------------------------------------------------------- encoder validation
def _bad(**changes: Any) -> RepoInfo:
    return dataclasses.replace(rich_info(), **changes)


@pytest.mark.parametrize(
    "make, kind",
    [
        (lambda i: dataclasses.replace(i, branches={"dev": sid(0x11)}), ErrorKind.BRANCH_NOT_FOUND),
        (
            lambda i: dataclasses.replace(i, branches={**i.branches, "x": sid(1)}),
            ErrorKind.SNAPSHOT_NOT_FOUND,
        ),
        (lambda i: dataclasses.replace(i, tags={"t": sid(1)}), ErrorKind.SNAPSHOT_NOT_FOUND),
        (lambda i: dataclasses.replace(i, spec_version=1), ErrorKind.UNSUPPORTED_SPEC_VERSION),
        (
            lambda i: dataclasses.replace(i, tags={"old": sid(0x11)}),
            ErrorKind.TAG_PREVIOUSLY_DELETED,
        ),
        (
            lambda i: dataclasses.replace(i, enabled_feature_flags=(70000,)),
            ErrorKind.INVALID_FEATURE_FLAG,
        ),
        (
            lambda i: dataclasses.replace(i, enabled_feature_flags=(3,)),
            ErrorKind.INVALID_FEATURE_FLAG,
        ),
    ],
)
def test_encode_rejects_broken_invariants(make: Callable[[RepoInfo], RepoInfo], kind: str) -> None:
    with pytest.raises(InvalidInputError) as err:
        encode_repo_info(make(rich_info()))
    assert err.value.kind == kind


def _with_snapshot(info: RepoInfo, key: SnapshotId, **changes: Any) -> RepoInfo:
    snaps = dict(info.snapshots)
    snaps[key] = dataclasses.replace(snaps[key], **changes)
    return dataclasses.replace(info, snapshots=snaps)


@pytest.mark.parametrize(
    "make",
    [
        lambda i: _with_snapshot(i, sid(0xAA), parent_id=sid(1)),  # unknown parent
        lambda i: _with_snapshot(i, INITIAL_SNAPSHOT_ID, parent_id=sid(0xEE)),  # cycle
        lambda i: _with_snapshot(i, sid(0xAA), parent_id=sid(0xAA)),  # self-parent
        lambda i: _with_snapshot(i, sid(0xAA), id=sid(0x11)),  # filed under the wrong id
        lambda i: _with_snapshot(i, sid(0xAA), message="bad \ud800"),  # not UTF-8
        lambda i: _with_snapshot(i, sid(0xAA), flushed_at=-1),
        lambda i: _with_snapshot(i, sid(0xAA), metadata={"k": object()}),
        lambda i: dataclasses.replace(i, branches={**i.branches, "\udcff": sid(0xAA)}),
        lambda i: dataclasses.replace(i, deleted_tags=frozenset({"\ud800"})),
        lambda i: dataclasses.replace(i, config={"k": object()}),
        lambda i: dataclasses.replace(i, status=RepoStatusData(RepoAvailability.ONLINE, -5)),
        lambda i: dataclasses.replace(
            i,
            latest_updates=(UpdateRecord(UpdateKind.TAG_CREATED, 1),),  # name missing
        ),
        lambda i: dataclasses.replace(
            i,
            latest_updates=(
                UpdateRecord(UpdateKind.NEW_DETACHED_SNAPSHOT, 1, new_snap_id=SHORT_ID),
            ),
        ),
        lambda i: dataclasses.replace(
            i, latest_updates=(UpdateRecord(UpdateKind.FEATURE_FLAG_CHANGED, 1, flag_id=1 << 20),)
        ),
        lambda i: dataclasses.replace(i, latest_updates=(UpdateRecord(UpdateKind.GC_RAN, 2**64),)),
    ],
)
def test_encode_rejects_invalid_input(make: Callable[[RepoInfo], RepoInfo]) -> None:
    with pytest.raises(InvalidInputError):
        encode_repo_info(make(rich_info()))


# ---------------------------------------------------------------- small helpers
def test_backup_object_name_matches_real_names() -> None:
    # Seen in a real 2.3.0 repository: a backup written at 1795426562090 ms.
    random_id = crockford_decode("RZM0ESJPWPXNCRNX4XV0", 12)
    assert (
        backup_object_name(1_795_426_562_090, random_id)
        == "repo.30708253437910.RZM0ESJPWPXNCRNX4XV0"
    )
    assert (
        backup_object_name(32_503_679_999_999, bytes(12))
        == "repo.00000000000001.00000000000000000000"
    )
    with pytest.raises(InvalidInputError):
        backup_object_name(0, b"short")
    with pytest.raises(InvalidInputError):
        backup_object_name(-1, bytes(12))


def test_next_update_time_never_goes_backwards() -> None:
    assert next_update_time(None, 5) == 5
    assert next_update_time(3, 5) == 5
    assert next_update_time(5, 5) == 6
    assert next_update_time(9, 5) == 10


# ---------------------------------------------------------------- corrupt input
def _decodes_or_format_error(data: bytes) -> None:
    with contextlib.suppress(FormatError):
        decode_repo_info(data)


def test_truncated_files_raise_format_error() -> None:
    data = encode_repo_info(rich_info())
    for n in range(len(data)):
        with pytest.raises(FormatError):
            decode_repo_info(data[:n])


def test_truncated_payloads_never_escape_as_other_errors() -> None:
    payload = payload_of(rich_info())
    for n in range(0, len(payload), 3):
        _decodes_or_format_error(wrap(payload[:n]))


def test_bit_flips_never_escape_as_other_errors() -> None:
    payload = payload_of(rich_info())
    for i in range(len(payload)):
        mutated = bytearray(payload)
        mutated[i] ^= (0x01, 0x80, 0xFF, 0x10)[i % 4]
        _decodes_or_format_error(wrap(mutated))


@settings(max_examples=200, deadline=None)
@given(st.binary(min_size=1, max_size=200))
def test_garbage_payloads_raise_format_error(garbage: bytes) -> None:
    with pytest.raises(FormatError):
        decode_repo_info(wrap(garbage))


def test_wrong_file_type_is_rejected() -> None:
    with pytest.raises(FormatError):
        decode_repo_info(encode_file(FileType.SNAPSHOT, bytes(payload_of(rich_info()))))


# Surgery on a valid payload: positions are found through the generic table reader.
def _root(payload: bytearray) -> Table:
    return root_table(bytes(payload))


def _element(payload: bytearray, slot: int, i: int) -> tuple[int, int]:
    """(position of element i's uoffset, its target) in the root's vector at ``slot``."""
    at = _root(payload).field_pos(slot)
    vec = at + U32.unpack_from(payload, at)[0]
    elem = vec + 4 + 4 * i
    return elem, elem + U32.unpack_from(payload, elem)[0]


def _swap(payload: bytearray, slot: int, i: int, j: int) -> None:
    (ei, ti), (ej, tj) = _element(payload, slot, i), _element(payload, slot, j)
    U32.pack_into(payload, ei, tj - ei)
    U32.pack_into(payload, ej, ti - ej)


def _set_field(payload: bytearray, table_pos: int, slot: int, fmt: str, value: int) -> None:
    at = Table(bytes(payload), table_pos).field_pos(slot)
    assert at, "the field must be present to be patched"
    struct.pack_into(fmt, payload, at, value)


def _expect_format_error(payload: bytearray, match: str | None = None) -> FormatError:
    with pytest.raises(FormatError, match=match) as err:
        decode_repo_info(wrap(payload))
    return err.value


@pytest.mark.parametrize(
    "slot, what", [(1, "tags"), (2, "branches"), (3, "deleted tags"), (4, "snapshots")]
)
def test_unsorted_vectors_are_rejected(slot: int, what: str) -> None:
    payload = payload_of(rich_info())
    _swap(payload, slot, 0, 1)
    _expect_format_error(payload, f"{what} are not sorted")


def test_unsorted_feature_flags_are_rejected() -> None:
    payload = payload_of(rich_info())
    at = _root(payload).field_pos(10)
    vec = at + U32.unpack_from(payload, at)[0]
    struct.pack_into("<HH", payload, vec + 4, 7, 5)
    _expect_format_error(payload, "feature flags are not sorted")


def test_out_of_range_indices_are_rejected() -> None:
    payload = payload_of(rich_info())
    _set_field(payload, _element(payload, 2, 0)[1], 1, "<I", 4)  # 4 snapshots: 0..3
    _expect_format_error(payload, "points to snapshot 4")
    payload = payload_of(rich_info())
    _set_field(payload, _element(payload, 4, 0)[1], 1, "<i", 4)
    _expect_format_error(payload, "parent_offset is out of range")
    payload = payload_of(rich_info())
    _set_field(payload, _element(payload, 4, 0)[1], 1, "<i", -2)
    _expect_format_error(payload, "parent_offset is out of range")


def test_parent_cycles_are_rejected() -> None:
    payload = payload_of(rich_info())
    ids = sorted(rich_info().snapshots)
    root_pos = ids.index(INITIAL_SNAPSHOT_ID)
    _set_field(payload, _element(payload, 4, root_pos)[1], 1, "<i", ids.index(sid(0xEE)))
    _expect_format_error(payload, "cycle")


@pytest.mark.parametrize("version", [0, 1, 3])
def test_other_spec_versions_are_rejected(version: int) -> None:
    payload = payload_of(rich_info())
    root = _root(payload)
    struct.pack_into("<B", payload, root.field_pos(0), version)
    assert _expect_format_error(payload).kind == ErrorKind.UNSUPPORTED_SPEC_VERSION


def _clear_vtable_entry(payload: bytearray, table_pos: int, slot: int) -> None:
    vt = table_pos - struct.unpack_from("<i", payload, table_pos)[0]
    struct.pack_into("<H", payload, vt + 4 + 2 * slot, 0)


def test_missing_spec_version_is_unsupported() -> None:
    payload = payload_of(rich_info())
    _clear_vtable_entry(payload, U32.unpack_from(payload, 0)[0], 0)
    assert _expect_format_error(payload).kind == ErrorKind.UNSUPPORTED_SPEC_VERSION


@pytest.mark.parametrize("slot", [1, 2, 3, 4, 5, 7])
def test_missing_required_repo_fields_are_rejected(slot: int) -> None:
    payload = payload_of(rich_info())
    _clear_vtable_entry(payload, U32.unpack_from(payload, 0)[0], slot)
    _expect_format_error(payload, "required")


def test_missing_snapshot_message_is_rejected() -> None:
    payload = payload_of(rich_info())
    _clear_vtable_entry(payload, _element(payload, 4, 0)[1], 3)  # shared vtable
    _expect_format_error(payload, "required")


def test_unknown_update_type_is_rejected() -> None:
    payload = payload_of(rich_info())
    _set_field(payload, _element(payload, 7, 0)[1], 0, "<B", 17)
    _expect_format_error(payload, "update type 17")


def test_unknown_availability_is_rejected() -> None:
    payload = payload_of(rich_info())
    at = _root(payload).field_pos(5)
    _set_field(payload, at + U32.unpack_from(payload, at)[0], 0, "<B", 3)
    _expect_format_error(payload, "availability 3")


def test_invalid_utf8_is_rejected() -> None:
    payload = payload_of(rich_info())
    name_at = Table(bytes(payload), _element(payload, 2, 0)[1]).field_pos(0)
    string = name_at + U32.unpack_from(payload, name_at)[0]
    payload[string + 4] = 0xFF
    _expect_format_error(payload)
