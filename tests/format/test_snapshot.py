"""Snapshot codec: round trips, invariants, corrupt input, and interop with real icechunk."""

from __future__ import annotations

import contextlib
import json
import os
import struct
import subprocess
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from interop import harness

from icechunk.errors import FormatError, InvalidInputError
from icechunk.format._fb import root_table
from icechunk.format._flat import VectorReader, Writer
from icechunk.format.header import FileType, decode_file, encode_file
from icechunk.format.ids import INITIAL_SNAPSHOT_ID, ManifestId, NodeId, SnapshotId
from icechunk.format.model import (
    ArrayNodeData,
    DimensionShape,
    ManifestFileInfo,
    ManifestRef,
    NodeSnapshot,
    Snapshot,
)
from icechunk.format.snapshot import (
    decode_snapshot,
    encode_snapshot,
    new_initial_snapshot,
    path_problem,
    snapshot_problem,
    sort_nodes,
)

# ------------------------------------------------------------------ strategies
_segment = st.text(
    alphabet=st.characters(blacklist_characters="/", blacklist_categories=("Cs",)),
    min_size=1,
    max_size=6,
).filter(lambda s: s not in (".", ".."))
_paths = st.lists(st.lists(_segment, min_size=0, max_size=3), max_size=12).map(
    lambda segs: sorted({"/" + "/".join(s) for s in segs}, key=str.encode)
)
_json_scalars = (
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**63 - 1)
    # The flexbuffers package cannot pack floats beyond the float32 range (metadata.py).
    | st.floats(-1e38, 1e38)
    | st.text(max_size=10)
)
_json = st.recursive(
    _json_scalars,
    # ... nor non-ASCII keys in nested maps.
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.dictionaries(
            st.text(st.characters(min_codepoint=1, max_codepoint=127), max_size=5),
            inner,
            max_size=3,
        )
    ),
    max_leaves=8,
)


@st.composite
def _array(draw: st.DrawFn, manifest_ids: list[ManifestId]) -> ArrayNodeData:
    ndim = draw(st.integers(0, 4))
    shape = tuple(
        DimensionShape(draw(st.integers(0, 2**64 - 1)), draw(st.integers(0, 2**32 - 1)))
        for _ in range(ndim)
    )
    names = draw(st.none() | st.tuples(*[st.none() | st.text(max_size=8)] * ndim))
    refs = []
    for _ in range(draw(st.integers(0, 3)) if manifest_ids else 0):
        extents = []
        for _ in range(ndim):
            a, b = sorted(draw(st.tuples(st.integers(0, 2**32 - 1), st.integers(0, 2**32 - 1))))
            extents.append((a, b))
        refs.append(ManifestRef(draw(st.sampled_from(manifest_ids)), tuple(extents)))
    return ArrayNodeData(shape, names, tuple(refs))


@st.composite
def snapshots(draw: st.DrawFn) -> Snapshot:
    """Valid spec-v2 snapshots (manifest files sorted by id, as the encoder writes them)."""
    manifest_ids = [
        ManifestId(b) for b in draw(st.sets(st.binary(min_size=12, max_size=12), max_size=4))
    ]
    paths = draw(_paths)
    node_ids = draw(
        st.lists(
            st.binary(min_size=8, max_size=8), min_size=len(paths), max_size=len(paths), unique=True
        )
    )
    nodes = []
    for path, raw_id in zip(paths, node_ids, strict=True):
        array = draw(st.none() | _array(manifest_ids))
        nodes.append(NodeSnapshot(NodeId(raw_id), path, draw(st.binary(max_size=40)), array))
    files = tuple(
        ManifestFileInfo(m, draw(st.integers(0, 2**64 - 1)), draw(st.integers(0, 2**32 - 1)))
        for m in sorted(manifest_ids)
    )
    return Snapshot(
        id=SnapshotId(draw(st.binary(min_size=12, max_size=12))),
        flushed_at=draw(st.integers(0, 2**64 - 1)),
        message=draw(st.text(max_size=20)),
        metadata=draw(st.dictionaries(st.text(max_size=8), _json, max_size=3)),
        nodes=tuple(nodes),
        manifest_files=files,
    )


def _array_node(
    path: str,
    ndim: int = 2,
    names: tuple[str | None, ...] | None = None,
    refs: tuple[ManifestRef, ...] = (),
) -> NodeSnapshot:
    shape = tuple(DimensionShape(10 * (i + 1), i + 1) for i in range(ndim))
    return NodeSnapshot(
        NodeId.random(), path, b'{"node_type":"array"}', ArrayNodeData(shape, names, refs)
    )


def _snap(nodes: list[NodeSnapshot], files: tuple[ManifestFileInfo, ...] = ()) -> Snapshot:
    return Snapshot(SnapshotId.random(), 1, "m", {}, tuple(nodes), files)


# ------------------------------------------------------------------ round trips
@settings(max_examples=150, suppress_health_check=[HealthCheck.too_slow])
@given(snapshots())
def test_round_trip(snap: Snapshot) -> None:
    data = encode_snapshot(snap)
    assert decode_snapshot(data) == snap


@given(snapshots(), st.integers(1, 19))
@settings(max_examples=20)
def test_compression_level_does_not_change_content(snap: Snapshot, level: int) -> None:
    assert decode_snapshot(encode_snapshot(snap, compression_level=level)) == snap


def test_file_header_and_layout() -> None:
    node = _array_node("/x", names=("a", None))
    snap = _snap([node])
    data = encode_snapshot(snap)
    spec, payload = decode_file(data, FileType.SNAPSHOT)
    assert spec == 2
    assert payload[4:8] == b"Ichk"
    root = root_table(payload)
    assert not root.has(1), "spec v2 snapshots carry no parent_id"
    assert root.struct_vector(6, 32) == [], "manifest_files must be an empty vector"
    assert root.has(7), "manifest_files_v2 must be present"
    node_table = root.table_vector(2, lambda t: t)
    assert node_table is not None
    array_table = node_table[0].table(4)
    assert array_table is not None
    assert array_table.struct_vector(0, 16) == [], "v2 arrays have an empty (required) shape"


def test_manifest_files_are_sorted_on_write() -> None:
    ids = sorted(ManifestId.random() for _ in range(5))
    files = tuple(ManifestFileInfo(i, 100 + n, n) for n, i in enumerate(reversed(ids)))
    snap = _snap([], files)
    back = decode_snapshot(encode_snapshot(snap))
    assert [f.id for f in back.manifest_files] == ids


def test_sort_nodes_uses_utf8_bytes() -> None:
    paths = ["/ab", "/a/b", "/a-b", "/a", "/", "/é", "/z"]
    nodes = sort_nodes(NodeSnapshot(NodeId.random(), p, b"") for p in paths)
    assert [n.path for n in nodes] == ["/", "/a", "/a-b", "/a/b", "/ab", "/z", "/é"]
    assert snapshot_problem(_snap(list(nodes))) is None


def test_initial_snapshot() -> None:
    snap = new_initial_snapshot(1234)
    assert snap.id == INITIAL_SNAPSHOT_ID
    assert str(snap.id) == "1CECHNKREP0F1RSTCMT0"
    assert snap.nodes == ()
    assert snap.manifest_files == ()
    assert snap.metadata == {"__icechunk": {"is_root": True}}
    assert snap.message == "Repository initialized"
    assert decode_snapshot(encode_snapshot(snap)) == snap


# ------------------------------------------------------------------ invariants
@pytest.mark.parametrize(
    ("path", "ok"),
    [
        ("/", True),
        ("/a", True),
        ("/a/b c/é", True),
        ("/.a", True),
        ("/a..", True),
        ("", False),
        ("a", False),
        ("/a/", False),
        ("//a", False),
        ("/a//b", False),
        ("/.", False),
        ("/a/..", False),
        ("/./a", False),
    ],
)
def test_path_problem(path: str, ok: bool) -> None:
    assert (path_problem(path) is None) is ok


def _bad_snapshots() -> dict[str, Snapshot]:
    m = ManifestId.random()
    files = (ManifestFileInfo(m, 10, 1),)
    same = NodeId.random()
    return {
        "unsorted": _snap([NodeSnapshot(NodeId.random(), p, b"") for p in ("/b", "/a")]),
        "byte order": _snap([NodeSnapshot(NodeId.random(), p, b"") for p in ("/a/b", "/a-b")]),
        "duplicate path": _snap([NodeSnapshot(NodeId.random(), "/a", b"")] * 2),
        "relative path": _snap([NodeSnapshot(NodeId.random(), "a", b"")]),
        "trailing slash": _snap([NodeSnapshot(NodeId.random(), "/a/", b"")]),
        "dot segment": _snap([NodeSnapshot(NodeId.random(), "/a/../b", b"")]),
        "duplicate id": _snap([NodeSnapshot(same, "/a", b""), NodeSnapshot(same, "/b", b"")]),
        "names length": _snap([_array_node("/x", 2, names=("a",))]),
        "extents length": _snap([_array_node("/x", 2, refs=(ManifestRef(m, ((0, 1),)),))], files),
        "extent order": _snap([_array_node("/x", 1, refs=(ManifestRef(m, ((3, 1),)),))], files),
        "extent range": _snap([_array_node("/x", 1, refs=(ManifestRef(m, ((0, 2**32),)),))], files),
        "dimension range": _snap(
            [
                NodeSnapshot(
                    NodeId.random(), "/x", b"", ArrayNodeData((DimensionShape(1, 2**32),), None, ())
                )
            ]
        ),
    }


@pytest.mark.parametrize("case", sorted(_bad_snapshots()))
def test_encode_rejects_invalid_snapshots(case: str) -> None:
    snap = _bad_snapshots()[case]
    assert snapshot_problem(snap) is not None
    with pytest.raises(InvalidInputError):
        encode_snapshot(snap)


def test_encode_rejects_unlisted_manifest() -> None:
    snap = _snap([_array_node("/x", 1, refs=(ManifestRef(ManifestId.random(), ((0, 1),)),))])
    with pytest.raises(InvalidInputError, match="missing from the snapshot's manifest files"):
        encode_snapshot(snap)


def test_encode_rejects_duplicate_manifest_file() -> None:
    m = ManifestId.random()
    with pytest.raises(InvalidInputError, match="listed twice"):
        encode_snapshot(_snap([], (ManifestFileInfo(m, 1, 1), ManifestFileInfo(m, 2, 2))))


def test_encode_rejects_v1_and_bad_metadata() -> None:
    snap = _snap([])
    with pytest.raises(InvalidInputError, match="spec-v2"):
        encode_snapshot(Snapshot(snap.id, 1, "m", {}, (), (), spec_version=1))
    with pytest.raises(InvalidInputError):
        encode_snapshot(Snapshot(snap.id, 1, "m", {"x": object()}, (), ()))
    with pytest.raises(InvalidInputError):
        encode_snapshot(Snapshot(snap.id, 1, "m", {1: 2}, (), ()))  # type: ignore[dict-item]
    with pytest.raises(InvalidInputError):
        encode_snapshot(Snapshot(snap.id, 2**64, "m", {}, (), ()))


@pytest.mark.parametrize(
    "case", ["unsorted", "byte order", "duplicate id", "dot segment", "extent order"]
)
def test_decode_rejects_invalid_snapshots(case: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """A file breaking an invariant (written here by bypassing the encoder's checks)."""
    from icechunk.format import snapshot as module

    monkeypatch.setattr(module, "snapshot_problem", lambda snap: None)
    data = encode_snapshot(_bad_snapshots()[case])
    monkeypatch.undo()
    with pytest.raises(FormatError, match="invalid"):
        decode_snapshot(data)


# ------------------------------------------------------------------ corrupt input
def _sample_file() -> bytes:
    m = ManifestId.random()
    nodes = [
        NodeSnapshot(NodeId.random(), "/", b"{}"),
        _array_node("/a", 2, ("x", None), (ManifestRef(m, ((0, 1), (0, 2))),)),
        _array_node("/b", 0, None, ()),
    ]
    return encode_snapshot(_snap(nodes, (ManifestFileInfo(m, 99, 2),)))


def _decodes_or_format_error(data: bytes) -> None:
    with contextlib.suppress(FormatError):
        decode_snapshot(data)


def test_truncated_files_raise_format_error() -> None:
    data = _sample_file()
    for cut in range(len(data)):
        with pytest.raises(FormatError):
            decode_snapshot(data[:cut])


def test_truncated_payloads_raise_format_error() -> None:
    _, payload = decode_file(_sample_file(), FileType.SNAPSHOT)
    for cut in range(1, len(payload)):
        with pytest.raises(FormatError):
            decode_snapshot(encode_file(FileType.SNAPSHOT, payload[:cut]))


def test_every_payload_bit_flip_is_handled() -> None:
    _, payload = decode_file(_sample_file(), FileType.SNAPSHOT)
    for i in range(len(payload)):
        for bit in (0, 3, 7):
            flipped = bytearray(payload)
            flipped[i] ^= 1 << bit
            _decodes_or_format_error(encode_file(FileType.SNAPSHOT, bytes(flipped)))


@given(st.data())
def test_random_payload_mutations(data: st.DataObject) -> None:
    _, payload = decode_file(_sample_file(), FileType.SNAPSHOT)
    mutated = bytearray(payload)
    for _ in range(data.draw(st.integers(1, 8))):
        mutated[data.draw(st.integers(0, len(mutated) - 1))] = data.draw(st.integers(0, 255))
    _decodes_or_format_error(encode_file(FileType.SNAPSHOT, bytes(mutated)))


@given(st.binary(max_size=300))
def test_random_bytes_raise_format_error(blob: bytes) -> None:
    with pytest.raises(FormatError):
        decode_snapshot(blob)


@given(st.binary(min_size=0, max_size=300))
def test_random_payloads_are_handled(blob: bytes) -> None:
    _decodes_or_format_error(encode_file(FileType.SNAPSHOT, blob))


def test_wrong_file_type_and_spec_byte() -> None:
    data = bytearray(_sample_file())
    data[37] = FileType.MANIFEST
    with pytest.raises(FormatError, match="file type"):
        decode_snapshot(bytes(data))
    data[37] = FileType.SNAPSHOT
    data[36] = 3
    with pytest.raises(FormatError, match="spec version"):
        decode_snapshot(bytes(data))


def test_missing_required_field() -> None:
    _, payload = decode_file(_sample_file(), FileType.SNAPSHOT)
    root = struct.unpack_from("<I", payload, 0)[0]
    vtable = root - struct.unpack_from("<i", payload, root)[0]
    broken = bytearray(payload)
    struct.pack_into("<H", broken, vtable + 4 + 2 * 2, 0)  # drop Snapshot.nodes
    with pytest.raises(FormatError, match="required"):
        decode_snapshot(encode_file(FileType.SNAPSHOT, bytes(broken)))


def test_shared_vectors_cannot_inflate() -> None:
    """Many tables pointing at one large vector are refused instead of expanded."""
    w = Writer()
    big = w.vector(bytes(4 * 1000), 1000, 4)
    root = w.offset_vector([big] * 1000)
    buf = w.finish(root)
    reader = VectorReader(buf)
    vector_at = struct.unpack_from("<I", buf, 0)[0]
    positions, _ = reader.table_vectors(np.array([vector_at], dtype=np.int64))
    assert len(positions) == 1000
    with pytest.raises(FormatError, match="far more data"):
        reader.elements(positions, 4)


# ------------------------------------------------------------------ real repositories
SCENARIO = """
import json, sys
import numpy as np, zarr, icechunk
split = icechunk.ManifestSplittingConfig.from_dict(
    {icechunk.ManifestSplitCondition.name_matches("split.*"):
        {icechunk.ManifestSplitDimCondition.Any(): 2}})
config = icechunk.RepositoryConfig(manifest=icechunk.ManifestConfig(splitting=split))
repo = icechunk.Repository.create(icechunk.local_filesystem_storage(sys.argv[1]), config=config)
ids = {"init": repo.lookup_branch("main")}
s = repo.writable_session("main")
root = zarr.create_group(s.store, attributes={"t": 1})
g = root.create_group("a", attributes={"x": 1})
root.create_group("a-b")
root.create_group("\\u00e9t\\u00e9 \\U0001f9ca")
arr = g.create_array("arr", shape=(10, 7), chunks=(3, 2), dtype="i4",
                     dimension_names=["x", None], fill_value=0)
arr[:] = np.arange(70).reshape(10, 7)
sc = root.create_array("scalar", shape=(), dtype="f8", fill_value=0.0)
sc[()] = 3.5
root.create_array("zero", shape=(0, 5), chunks=(2, 2), dtype="u1", fill_value=0)
sp = root.create_array("split3", shape=(8, 6), chunks=(2, 2), dtype="u2", fill_value=0,
                       dimension_names=["p", "q"])
sp[:] = np.arange(48).reshape(8, 6) + 1
b = root.create_array("bools", shape=(5,), chunks=(5,), dtype="bool", fill_value=False)
b[:] = [True, False, True, True, False]
ids["c1"] = s.commit("first", metadata={"n": 1})
s = repo.writable_session("main")
root = zarr.open_group(s.store, mode="r+")
root["a/arr"][0:3, 0:2] = 0
del root["zero"]
root["split3"][0:2, 0:2] = 0
root["a"].attrs["y"] = 2
ids["c2"] = s.commit("second", metadata={"k": [1, 2]})
if hasattr(repo, "rearrange_session"):
    rs = repo.rearrange_session("main")
    rs.move("/a", "/b")
    rs.move("/a-b", "/b/inner")
    ids["c3"] = rs.commit("moved")
print(json.dumps(ids))
"""


def run_python(python: str, source: str, *args: str | Path) -> Any:
    """Run ``source`` under another interpreter (no PYTHONPATH), return its last JSON line."""
    env = {k: v for k, v in os.environ.items() if k not in {"PYTHONPATH", "PYTHONHOME"}}
    env["ICECHUNK_LOG"] = "error"
    proc = subprocess.run(
        [python, "-c", source, *map(str, args)],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
        check=False,
        cwd="/",
    )
    assert proc.returncode == 0, f"{python} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-5000:]}"
    return json.loads(proc.stdout.strip().splitlines()[-1])


def build_scenario(python: str, path: Path) -> dict[str, Any]:
    """Write the scenario repository and return its ids and its ``dump.py`` description."""
    ids = run_python(python, SCENARIO, path)
    return {"ids": ids, "dump": harness.run_script("dump", path, python=python)}


@pytest.fixture(scope="module")
def real_scenario(
    tmp_path_factory: pytest.TempPathFactory, real_python: str
) -> tuple[Path, dict[str, Any]]:
    path = tmp_path_factory.mktemp("scenario") / "repo"
    return path, build_scenario(real_python, path)


def read_snapshot(repo: Path, snapshot_id: str) -> Snapshot:
    return decode_snapshot((repo / "snapshots" / snapshot_id).read_bytes())


def check_against_dump(snap: Snapshot, described: dict[str, Any]) -> None:
    """Our decoded snapshot agrees with what the real wheel reported for it."""
    tree = described["tree"]
    assert [n.path for n in snap.nodes] == sorted(tree, key=str.encode)
    for node in snap.nodes:
        entry = tree[node.path]
        assert json.loads(node.user_data) == entry["zarr_json"]
        assert entry["node_type"] == ("group" if node.array is None else "array")
        if node.array is not None:
            summary = entry["summary"]
            assert [d.array_length for d in node.array.shape] == summary["shape"]
            chunks = summary["chunks"]
            expected = [
                -(-n // c) if c else 0 for n, c in zip(summary["shape"], chunks, strict=True)
            ]
            if "sharding_indexed" not in json.dumps(entry["zarr_json"]):
                assert [d.num_chunks for d in node.array.shape] == expected
            names = summary["dimension_names"]
            assert node.array.dimension_names == (None if names is None else tuple(names))
            for ref in node.array.manifests:
                assert len(ref.extents) == len(summary["shape"])
    assert snap.message == described["message"]
    assert snap.metadata == described["metadata"]


@pytest.mark.interop
def test_real_initial_snapshot_matches_ours(real_sample_repo: Any) -> None:
    real = read_snapshot(real_sample_repo.path, "1CECHNKREP0F1RSTCMT0")
    assert real == new_initial_snapshot(real.flushed_at)


@pytest.mark.interop
def test_decode_real_sample_snapshots(real_sample_repo: Any) -> None:
    dump = real_sample_repo.dump
    for snapshot_id, described in dump["snapshots"].items():
        snap = read_snapshot(real_sample_repo.path, snapshot_id)
        assert str(snap.id) == snapshot_id
        assert snap.spec_version == 2 and snap.parent_id is None
        check_against_dump(snap, described)
        listed = {f.id for f in snap.manifest_files}
        for node in snap.nodes:
            for ref in node.array.manifests if node.array else ():
                assert ref.object_id in listed
        for info in snap.manifest_files:
            size = (real_sample_repo.path / "manifests" / str(info.id)).stat().st_size
            assert info.size_bytes == size


@pytest.mark.interop
def test_decode_real_scenario_snapshots(real_scenario: tuple[Path, dict[str, Any]]) -> None:
    path, built = real_scenario
    ids, dump = built["ids"], built["dump"]
    for snapshot_id, described in dump["snapshots"].items():
        check_against_dump(read_snapshot(path, snapshot_id), described)
    first = {n.path: n for n in read_snapshot(path, ids["c1"]).nodes}
    assert first["/zero"].array == ArrayNodeData(
        (DimensionShape(0, 0), DimensionShape(5, 3)), None, ()
    )
    scalar = first["/scalar"].array
    assert scalar is not None and scalar.shape == () and scalar.dimension_names is None
    assert [ref.extents for ref in scalar.manifests] == [()]
    assert len(first["/split3"].array.manifests) == 4  # type: ignore[union-attr]
    moved = {n.path: n for n in read_snapshot(path, ids["c3"]).nodes}
    assert moved["/b/arr"].id == first["/a/arr"].id
    assert moved["/b/inner"].id == first["/a-b"].id


def _rewrite_snapshots(repo: Path) -> list[str]:
    rewritten = []
    for file in sorted((repo / "snapshots").iterdir()):
        snap = decode_snapshot(file.read_bytes())
        if snap.spec_version == 2:
            file.write_bytes(encode_snapshot(snap))
            rewritten.append(file.name)
    return rewritten


@pytest.mark.interop
@pytest.mark.parametrize("which", ["sample", "scenario"])
def test_real_wheel_reads_our_snapshots(
    which: str, request: pytest.FixtureRequest, real_python: str, tmp_path: Path
) -> None:
    """Re-encode every snapshot under its own id: the real wheel sees the same repository."""
    if which == "sample":
        sample = request.getfixturevalue("real_sample_repo")
        path, before = sample.path, sample.dump
    else:
        source, built = request.getfixturevalue("real_scenario")
        path = tmp_path / "scenario"
        import shutil

        shutil.copytree(source, path)
        before = built["dump"]
    assert _rewrite_snapshots(path)
    after = harness.run_script("dump", path, python=real_python)
    assert harness.normalize_dump(after) == harness.normalize_dump(before)
    result = harness.run_script("commit_on_top", path, python=real_python)
    on_top = read_snapshot(path, result["snapshot_id"])
    assert "/on_top" in {n.path for n in on_top.nodes}


def _zarr_json(shape: tuple[int, ...], names: tuple[str | None, ...] | None) -> bytes:
    doc: dict[str, Any] = {
        "shape": list(shape),
        "data_type": "int16",
        "chunk_grid": {"name": "regular", "configuration": {"chunk_shape": [3] * len(shape)}},
        "chunk_key_encoding": {"name": "default", "configuration": {"separator": "/"}},
        "fill_value": 7,
        "codecs": [{"name": "bytes", "configuration": {"endian": "little"}}],
        "attributes": {"made": "by pyicechunk"},
        "zarr_format": 3,
        "node_type": "array",
    }
    if names is not None:
        doc["dimension_names"] = list(names)
    return json.dumps(doc).encode()


READ_ARRAYS = """
import json, sys, zarr, icechunk
repo = icechunk.Repository.open(icechunk.local_filesystem_storage(sys.argv[1]))
store = repo.readonly_session("main").store
root = zarr.open_group(store, mode="r")
out = {}
for name in sys.argv[2:]:
    a = root[name]
    out[name] = [list(a.shape), list(a.metadata.dimension_names or []) or None,
                 sorted(set(a[...].ravel().tolist()))]
print(json.dumps(out))
"""


@pytest.mark.interop
def test_real_wheel_reads_every_array_layout(
    real_scenario: tuple[Path, dict[str, Any]], real_python: str, tmp_path: Path
) -> None:
    """Arrays of 0-4 dimensions with every kind of dimension names, added by us."""
    import shutil

    source, built = real_scenario
    path = tmp_path / "repo"
    shutil.copytree(source, path)
    tip = built["ids"]["c3"]
    snap = read_snapshot(path, tip)
    layouts: dict[str, tuple[tuple[int, ...], tuple[str | None, ...] | None]] = {
        "d0": ((), None),
        "d1": ((5,), ("t",)),
        "d2": ((4, 6), None),
        "d2n": ((4, 6), (None, "é")),
        "d3": ((2, 0, 7), ("", "y", None)),
        "d4": ((1, 2, 3, 4), ("a", "b", "c", "d")),
    }
    extra = []
    for name, (shape, names) in layouts.items():
        dims = tuple(DimensionShape(n, -(-n // 3)) for n in shape)
        extra.append(
            NodeSnapshot(
                NodeId.random(),
                f"/new/{name}",
                _zarr_json(shape, names),
                ArrayNodeData(dims, names, ()),
            )
        )
    group = NodeSnapshot(NodeId.random(), "/new", b'{"zarr_format":3,"node_type":"group"}')
    nodes = sort_nodes([*snap.nodes, group, *extra])
    (path / "snapshots" / tip).write_bytes(
        encode_snapshot(
            Snapshot(
                snap.id, snap.flushed_at, snap.message, snap.metadata, nodes, snap.manifest_files
            )
        )
    )
    seen = run_python(real_python, READ_ARRAYS, path, *(f"new/{n}" for n in layouts))
    for name, (shape, names) in layouts.items():
        got_shape, got_names, values = seen[f"new/{name}"]
        assert tuple(got_shape) == shape
        assert got_names == (None if names is None else list(names))
        assert values in ([7], [])


# ------------------------------------------------------------------ speed (reported, not asserted)
def test_large_snapshot_round_trip_speed(capsys: pytest.CaptureFixture[str]) -> None:
    user_data = json.dumps({"shape": [100, 200], "pad": "x" * 700}).encode()
    files = []
    nodes = [NodeSnapshot(NodeId.random(), "/", b"{}")]
    for i in range(5000):
        m = ManifestId.random()
        files.append(ManifestFileInfo(m, 1000, 100))
        array = ArrayNodeData(
            (DimensionShape(100, 10), DimensionShape(200, 10)),
            ("y", "x"),
            (ManifestRef(m, ((0, 10), (0, 10))),),
        )
        nodes.append(NodeSnapshot(NodeId.random(), f"/g{i // 100:03d}/a{i:05d}", user_data, array))
    nodes += [NodeSnapshot(NodeId.random(), f"/g{g:03d}", b"{}") for g in range(50)]
    snap = Snapshot(
        SnapshotId.random(),
        1,
        "big",
        {},
        sort_nodes(nodes),
        tuple(sorted(files, key=lambda f: bytes(f.id))),
    )
    t0 = time.perf_counter()
    data = encode_snapshot(snap)
    t1 = time.perf_counter()
    back = decode_snapshot(data)
    t2 = time.perf_counter()
    assert back == snap
    with capsys.disabled():
        print(
            f"\n5000-array snapshot: encode {1e3 * (t1 - t0):.0f} ms, "
            f"decode {1e3 * (t2 - t1):.0f} ms, {len(data)} bytes"
        )
