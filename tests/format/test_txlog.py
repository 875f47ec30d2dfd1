"""Transaction-log codec: round trips, on-disk order, corrupt input, interop."""

from __future__ import annotations

import contextlib
import shutil
import struct
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from interop import harness

from icechunk.errors import FormatError, InvalidInputError
from icechunk.format._fb import Table, root_table
from icechunk.format.header import FileType, decode_file, encode_file
from icechunk.format.ids import NodeId, SnapshotId
from icechunk.format.model import MoveRecord, NodeType, Snapshot, TransactionLog
from icechunk.format.snapshot import decode_snapshot
from icechunk.format.txlog import decode_transaction_log, encode_transaction_log, move_sort_key

from .test_snapshot import build_scenario, read_snapshot

_node_ids = st.binary(min_size=8, max_size=8).map(NodeId)
_id_sets = st.frozensets(_node_ids, max_size=5)
_segment = st.text(
    alphabet=st.characters(blacklist_characters="/", blacklist_categories=("Cs",)),
    min_size=1,
    max_size=5,
).filter(lambda s: s not in (".", ".."))
_path = st.lists(_segment, min_size=1, max_size=3).map(lambda segs: "/" + "/".join(segs))


@st.composite
def _chunks(draw: st.DrawFn) -> frozenset[tuple[int, ...]]:
    ndim = draw(st.integers(0, 4))
    coord = st.tuples(*[st.integers(0, 2**32 - 1)] * ndim)
    return draw(st.frozensets(coord, max_size=6))


_moves = st.builds(MoveRecord, _path, _path, _node_ids, st.sampled_from(NodeType))


@st.composite
def logs(draw: st.DrawFn) -> TransactionLog:
    """Valid logs; moves are drawn already in file order (the encoder sorts them)."""
    moves = sorted(draw(st.lists(_moves, max_size=5)), key=move_sort_key)
    return TransactionLog(
        id=SnapshotId(draw(st.binary(min_size=12, max_size=12))),
        new_groups=draw(_id_sets),
        new_arrays=draw(_id_sets),
        deleted_groups=draw(_id_sets),
        deleted_arrays=draw(_id_sets),
        updated_arrays=draw(_id_sets),
        updated_groups=draw(_id_sets),
        updated_chunks=draw(st.dictionaries(_node_ids, _chunks(), max_size=4)),
        moved_nodes=tuple(moves),
    )


@settings(max_examples=200)
@given(logs())
def test_round_trip(log: TransactionLog) -> None:
    assert decode_transaction_log(encode_transaction_log(log)) == log


def _raw(log: TransactionLog) -> Table:
    spec, payload = decode_file(encode_transaction_log(log), FileType.TRANSACTION_LOG)
    assert spec == 2
    assert payload[4:8] == b"Ichk"
    return root_table(payload)


@given(logs())
def test_on_disk_order(log: TransactionLog) -> None:
    root = _raw(log)
    for slot in range(1, 7):
        ids = root.struct_vector(slot, 8)
        assert ids is not None and ids == sorted(ids)
    entries = root.table_vector(
        7,
        lambda t: (
            t.inline_bytes(0, 8),
            t.table_vector(1, lambda c: tuple(c.scalar_vector(0, "I") or ())),
        ),
    )
    assert entries is not None
    assert [e[0] for e in entries] == sorted(bytes(n) for n in log.updated_chunks)
    for _, coords in entries:
        assert coords == sorted(coords)
    moves = root.table_vector(8, lambda t: t.string(1))
    assert moves is not None and moves == [m.to_path for m in log.moved_nodes]


def test_moves_are_sorted_segment_wise() -> None:
    node = NodeId.random()
    targets = ["/a-b", "/a/b", "/a", "/ab", "/a/b/c"]
    log = TransactionLog(
        id=SnapshotId.random(),
        moved_nodes=tuple(MoveRecord("/x" + t, t, node, NodeType.ARRAY) for t in targets),
    )
    back = decode_transaction_log(encode_transaction_log(log))
    assert [m.to_path for m in back.moved_nodes] == ["/a", "/a/b", "/a/b/c", "/a-b", "/ab"]


def test_empty_log() -> None:
    log = TransactionLog(id=SnapshotId.random())
    root = _raw(log)
    assert root.has(8), "spec v2 logs always carry a (possibly empty) moved_nodes vector"
    assert decode_transaction_log(encode_transaction_log(log)) == log


def test_large_chunk_set() -> None:
    node = NodeId.random()
    chunks = frozenset((i // 300, i % 300, 7) for i in range(90_000))
    log = TransactionLog(id=SnapshotId.random(), updated_chunks={node: chunks})
    assert decode_transaction_log(encode_transaction_log(log)).updated_chunks == {node: chunks}


@pytest.mark.parametrize(
    "log",
    [
        TransactionLog(
            id=SnapshotId.random(), updated_chunks={NodeId.random(): frozenset({(1,), (1, 2)})}
        ),
        TransactionLog(
            id=SnapshotId.random(), updated_chunks={NodeId.random(): frozenset({(2**32,)})}
        ),
        TransactionLog(
            id=SnapshotId.random(), updated_chunks={NodeId.random(): frozenset({(-1,)})}
        ),
        TransactionLog(id=SnapshotId.random(), new_groups=frozenset({b"short"})),  # type: ignore[arg-type]
        TransactionLog(
            id=SnapshotId.random(),
            moved_nodes=(MoveRecord("/a", "b", NodeId.random(), NodeType.GROUP),),
        ),
        TransactionLog(
            id=SnapshotId.random(),
            moved_nodes=(MoveRecord("/a/", "/b", NodeId.random(), NodeType.GROUP),),
        ),
    ],
    ids=["ragged", "too-big", "negative", "short-id", "relative-move", "trailing-slash"],
)
def test_encode_rejects_invalid_logs(log: TransactionLog) -> None:
    with pytest.raises(InvalidInputError):
        encode_transaction_log(log)


# ------------------------------------------------------------------ corrupt input
def _sample() -> bytes:
    node = NodeId.random()
    return encode_transaction_log(
        TransactionLog(
            id=SnapshotId.random(),
            new_arrays=frozenset({node}),
            deleted_groups=frozenset({NodeId.random()}),
            updated_chunks={node: frozenset({(0, 1), (2, 3)})},
            moved_nodes=(MoveRecord("/a", "/b", node, NodeType.ARRAY),),
        )
    )


def _decodes_or_format_error(data: bytes) -> None:
    with contextlib.suppress(FormatError):
        decode_transaction_log(data)


def test_truncation_raises_format_error() -> None:
    data = _sample()
    for cut in range(len(data)):
        with pytest.raises(FormatError):
            decode_transaction_log(data[:cut])
    _, payload = decode_file(data, FileType.TRANSACTION_LOG)
    for cut in range(1, len(payload)):
        with pytest.raises(FormatError):
            decode_transaction_log(encode_file(FileType.TRANSACTION_LOG, payload[:cut]))


def test_every_bit_flip_is_handled() -> None:
    _, payload = decode_file(_sample(), FileType.TRANSACTION_LOG)
    for i in range(len(payload)):
        for bit in range(8):
            flipped = bytearray(payload)
            flipped[i] ^= 1 << bit
            _decodes_or_format_error(encode_file(FileType.TRANSACTION_LOG, bytes(flipped)))


@given(st.binary(max_size=300))
def test_random_input(blob: bytes) -> None:
    with pytest.raises(FormatError):
        decode_transaction_log(blob)
    _decodes_or_format_error(encode_file(FileType.TRANSACTION_LOG, blob))


def test_wrong_file_type_and_bad_enum() -> None:
    data = bytearray(_sample())
    data[37] = FileType.SNAPSHOT
    with pytest.raises(FormatError, match="file type"):
        decode_transaction_log(bytes(data))
    log = TransactionLog(
        id=SnapshotId.random(),
        moved_nodes=(MoveRecord("/a", "/b", NodeId.random(), NodeType.ARRAY),),
    )
    _, payload = decode_file(encode_transaction_log(log), FileType.TRANSACTION_LOG)
    move = root_table(payload).table_vector(8, lambda t: t)
    assert move is not None
    broken = bytearray(payload)
    struct.pack_into("<B", broken, move[0].field_pos(3), 9)
    with pytest.raises(FormatError):
        decode_transaction_log(encode_file(FileType.TRANSACTION_LOG, bytes(broken)))


# ------------------------------------------------------------------ real repositories
def _paths_of(snap: Snapshot) -> dict[bytes, str]:
    return {bytes(n.id): n.path for n in snap.nodes}


def check_log_against_diff(
    log: TransactionLog, parent: Snapshot, child: Snapshot, diff: dict[str, Any]
) -> None:
    """Our decoded log, translated to paths, equals the real wheel's diff parent -> child."""
    before, after = _paths_of(parent), _paths_of(child)
    for name in ("new_groups", "new_arrays", "updated_groups", "updated_arrays"):
        assert sorted(after[bytes(i)] for i in getattr(log, name)) == diff[name], name
    for name in ("deleted_groups", "deleted_arrays"):
        assert sorted(before[bytes(i)] for i in getattr(log, name)) == diff[name], name
    chunks = {
        after[bytes(node)]: sorted(list(c) for c in coords)
        for node, coords in log.updated_chunks.items()
        if bytes(node) in after
    }
    assert chunks == diff["updated_chunks"]
    moves = sorted([m.from_path, m.to_path] for m in log.moved_nodes)
    assert moves == sorted(diff.get("moved_nodes", []))


def check_repo_logs(path: Path, dump: dict[str, Any]) -> int:
    checked = 0
    for snapshot_id, described in dump["snapshots"].items():
        parent_id = described["parent_id"]
        if parent_id is None:
            continue
        log = decode_transaction_log((path / "transactions" / snapshot_id).read_bytes())
        assert str(log.id) == snapshot_id
        check_log_against_diff(
            log,
            read_snapshot(path, parent_id),
            read_snapshot(path, snapshot_id),
            described["diff_from_parent"],
        )
        checked += 1
    return checked


@pytest.fixture(scope="module")
def real_scenario(
    tmp_path_factory: pytest.TempPathFactory, real_python: str
) -> tuple[Path, dict[str, Any]]:
    path = tmp_path_factory.mktemp("txlog-scenario") / "repo"
    return path, build_scenario(real_python, path)


@pytest.mark.interop
def test_decode_real_sample_logs(real_sample_repo: Any) -> None:
    assert check_repo_logs(real_sample_repo.path, real_sample_repo.dump) >= 5
    initial = decode_transaction_log(
        (real_sample_repo.path / "transactions" / "1CECHNKREP0F1RSTCMT0").read_bytes()
    )
    assert initial == TransactionLog(id=initial.id)


@pytest.mark.interop
def test_decode_real_moves(real_scenario: tuple[Path, dict[str, Any]]) -> None:
    path, built = real_scenario
    assert check_repo_logs(path, built["dump"]) == 3
    ids = built["ids"]
    log = decode_transaction_log((path / "transactions" / ids["c3"]).read_bytes())
    first = {n.path: n for n in read_snapshot(path, ids["c1"]).nodes}
    kinds = {(m.from_path, m.to_path): (m.node_id, m.node_type) for m in log.moved_nodes}
    assert kinds[("/a", "/b")] == (first["/a"].id, NodeType.GROUP)
    assert kinds[("/a/arr", "/b/arr")] == (first["/a/arr"].id, NodeType.ARRAY)
    assert [m.to_path for m in log.moved_nodes] == sorted(
        (m.to_path for m in log.moved_nodes), key=lambda p: p.split("/")
    )


@pytest.mark.interop
def test_real_wheel_reads_our_logs(
    real_scenario: tuple[Path, dict[str, Any]], real_python: str, tmp_path: Path
) -> None:
    """Re-encode every log under its own id; the real diffs (and a new commit) still work."""
    source, built = real_scenario
    path = tmp_path / "repo"
    shutil.copytree(source, path)
    for file in (path / "transactions").iterdir():
        file.write_bytes(encode_transaction_log(decode_transaction_log(file.read_bytes())))
    after = harness.run_script("dump", path, python=real_python)
    assert harness.normalize_dump(after) == harness.normalize_dump(built["dump"])
    result = harness.run_script("commit_on_top", path, python=real_python)
    log = decode_transaction_log((path / "transactions" / result["snapshot_id"]).read_bytes())
    snap = decode_snapshot((path / "snapshots" / result["snapshot_id"]).read_bytes())
    on_top = next(n for n in snap.nodes if n.path == "/on_top")
    assert on_top.id in log.new_arrays
    assert len(log.updated_chunks[on_top.id]) == 2 * 3
