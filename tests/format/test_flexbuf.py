"""Tests for the FlexBuffers codec in :mod:`icechunk.format.flexbuf`."""

from __future__ import annotations

import contextlib
import json
import math
import os
import struct
import subprocess
from pathlib import Path
from typing import Any

import pytest
from flatbuffers import flexbuffers
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from icechunk.errors import FormatError, InvalidInputError
from icechunk.format import flexbuf
from icechunk.format.metadata import decode_value, encode_value

I64_MIN, U64_MAX = -(2**63), 2**64 - 1

keys = st.text(alphabet=st.characters(blacklist_categories=["Cs"], blacklist_characters="\0"))
scalars = (
    st.none()
    | st.booleans()
    | st.integers(I64_MIN, U64_MAX)
    | st.sampled_from([I64_MIN, 2**63 - 1, 2**63, U64_MAX, 0, -1])
    | st.floats(allow_nan=False)
    | st.sampled_from([1e300, -1e-300, 5e-324, 1.7976931348623157e308, 0.1, -0.0])
    | st.text(alphabet=st.characters(blacklist_categories=["Cs"]))
)
json_like = st.recursive(
    scalars,
    lambda children: st.lists(children, max_size=5) | st.dictionaries(keys, children, max_size=5),
    max_leaves=30,
)


def same(a: Any, b: Any) -> bool:
    """Equality that also tells ``0.0`` from ``-0.0`` and ``1`` from ``True``."""
    if type(a) is not type(b):
        return False
    if isinstance(a, float):
        return struct.pack("<d", a) == struct.pack("<d", b)
    if isinstance(a, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict):
        return sorted(a) == sorted(b) and all(same(a[k], b[k]) for k in a)
    return bool(a == b)


@given(json_like)
@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
def test_round_trip(value: Any) -> None:
    assert same(flexbuf.loads(flexbuf.dumps(value)), value)


def test_specific_values() -> None:
    value = {"é": 1, "big": 1e300, "u": U64_MAX, "nested": {"ü": [1, 2.5, None, True]}}
    assert same(flexbuf.loads(flexbuf.dumps(value)), value)
    assert flexbuf.loads(flexbuf.dumps((1, "a"))) == [1, "a"]


def test_map_keys_sorted_by_bytes() -> None:
    value = {"b": 1, "é": 2, "a": 3, "Z": 4, "": 5}
    decoded = flexbuf.loads(flexbuf.dumps(value))
    assert list(decoded) == sorted(value, key=lambda k: k.encode())
    assert decoded == value


def test_nonfinite_floats() -> None:
    decoded = flexbuf.loads(flexbuf.dumps([math.inf, -math.inf, math.nan]))
    assert decoded[:2] == [math.inf, -math.inf] and math.isnan(decoded[2])
    # Like the Rust implementation (serde_json), metadata stores them as null.
    assert flexbuf.loads(flexbuf.dumps([math.nan, 1.0], nonfinite_as_null=True)) == [None, 1.0]
    assert decode_value(encode_value({"x": math.inf}), 2) == {"x": math.inf}


@pytest.mark.parametrize(
    "bad",
    [2**64, I64_MIN - 1, {"a\0b": 1}, {1: 2}, object(), b"bytes", {"x": "\ud800"}, {"\udc00": 1}],
)
def test_invalid_input(bad: Any) -> None:
    with pytest.raises(InvalidInputError):
        flexbuf.dumps(bad)
    with pytest.raises(InvalidInputError):
        encode_value(bad)


def test_nul_key_message() -> None:
    with pytest.raises(InvalidInputError, match="NUL"):
        flexbuf.dumps({"a\0": 1})


def nested(depth: int) -> Any:
    value: Any = 1
    for i in range(depth):
        value = [value] if i % 2 else {"k": value}
    return value


def test_deep_nesting() -> None:
    ok = nested(flexbuf.MAX_DEPTH)
    assert flexbuf.loads(flexbuf.dumps(ok)) == ok
    with pytest.raises(InvalidInputError, match="nested"):
        flexbuf.dumps(nested(flexbuf.MAX_DEPTH + 1))
    with pytest.raises(InvalidInputError):
        flexbuf.dumps(nested(5000))


def test_deep_nesting_rejected_on_read() -> None:
    # 300 nested single-element vectors written by hand (8-bit offsets).
    buf = bytearray([0])  # innermost: empty vector, length 0 at byte 0
    start = 1
    for _ in range(300):
        buf += bytes([1])  # length
        pos = len(buf)
        buf += bytes([pos - start, (10 << 2) | 0])  # offset, packed type VECTOR/8-bit
        start = pos
    buf += bytes([len(buf) - start, (10 << 2) | 0, 1])
    with pytest.raises(FormatError, match="nested"):
        flexbuf.loads(bytes(buf))


def test_shared_subtrees_cannot_explode() -> None:
    # Each level is a 2-element vector whose elements both point at the previous level:
    # 60 levels would expand to 2**60 nodes.
    buf = bytearray(8)  # innermost empty vector: length 0
    start = 8
    for _ in range(60):
        buf += (2).to_bytes(8, "little")
        pos = len(buf)
        buf += (pos - start).to_bytes(8, "little") + (pos + 8 - start).to_bytes(8, "little")
        buf += bytes([(10 << 2) | 3] * 2) + bytes(6)
        start = pos
    at = len(buf)
    buf += (at - start).to_bytes(8, "little") + bytes([(10 << 2) | 3, 8])
    with pytest.raises(FormatError, match="too many"):
        flexbuf.loads(bytes(buf))


@given(json_like, st.data())
@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
def test_corrupt_input_raises_format_error(value: Any, data: st.DataObject) -> None:
    raw = bytearray(flexbuf.dumps(value))
    for _ in range(data.draw(st.integers(1, 4))):
        i = data.draw(st.integers(0, len(raw) - 1))
        raw[i] = data.draw(st.integers(0, 255))
    cut = data.draw(st.integers(0, len(raw)))
    for candidate in (bytes(raw), bytes(raw[:cut]), bytes(raw[cut:])):
        with contextlib.suppress(FormatError):
            flexbuf.loads(candidate)


@given(st.binary(max_size=200))
@settings(max_examples=500)
def test_random_bytes_raise_format_error(raw: bytes) -> None:
    with contextlib.suppress(FormatError):
        flexbuf.loads(raw)


@pytest.mark.parametrize("raw", [b"", b"\x00", b"\x00\x00", b"\x00\x00\x03", b"\x01\x2b\x08"])
def test_short_or_bad_root(raw: bytes) -> None:
    with pytest.raises(FormatError):
        flexbuf.loads(raw)


def test_decode_value_wraps_errors() -> None:
    with pytest.raises(FormatError):
        decode_value(b"\xff\xff\xff", 2)


# Values the ``flatbuffers`` package can write: ASCII keys, i64 ints, floats in f32 range
# or exact f64 (it picks typed/fixed vectors, indirect values and narrow widths itself).
ascii_keys = st.text(alphabet=st.characters(min_codepoint=1, max_codepoint=127))
compat_scalars = (
    st.none()
    | st.booleans()
    | st.integers(I64_MIN, 2**63 - 1)
    | st.floats(allow_nan=False, allow_infinity=False, width=32)
    | st.text()
)
compat_values = st.recursive(
    compat_scalars,
    lambda children: (
        st.lists(children, max_size=6) | st.dictionaries(ascii_keys, children, max_size=5)
    ),
    max_leaves=30,
)


@given(compat_values)
@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
def test_decodes_flatbuffers_package_output(value: Any) -> None:
    raw = bytes(flexbuffers.Dumps(value))
    assert same(flexbuf.loads(raw), flexbuffers.Loads(raw))


@pytest.mark.parametrize(
    "value",
    [[1, 2, 3], [0.5, 1.5], [1.0, 2.0, 3.0, 4.0], [True, False], ["a", "b"], [-1, 2, -3, 4]],
)
def test_typed_vectors_from_flatbuffers_package(value: Any) -> None:
    raw = bytes(flexbuffers.Dumps(value))
    assert flexbuf.loads(raw) == value


def test_blob_indirect_and_typed_vectors() -> None:
    builder = flexbuffers.Builder()
    with builder.Map():
        builder.Key("blob")
        builder.Blob(b"\x00\x01")
        builder.Key("ii")
        builder.IndirectInt(-7)
        builder.Key("iu")
        builder.IndirectUInt(7)
        builder.Key("if")
        builder.IndirectFloat(2.5)
        builder.Key("tv")
        builder.TypedVectorFromElements([1, 2, 3, 4, 5])
        builder.Key("fv")
        builder.FixedTypedVectorFromElements([1.5, 2.5, 3.5])
    raw = bytes(builder.Finish())
    assert flexbuf.loads(raw) == {
        "blob": b"\x00\x01",
        "ii": -7,
        "iu": 7,
        "if": 2.5,
        "tv": [1, 2, 3, 4, 5],
        "fv": [1.5, 2.5, 3.5],
    }


def test_bytes_written_by_rust() -> None:
    """Buffers captured from commit metadata written by the real icechunk 2.x wheel."""
    samples = {
        "9c 75 00 88 3c e4 37 7e 0f 08": 1e300,
        "9a 99 99 99 99 99 b9 3f 0f 08": 0.1,
        "00 00 00 3f 0e 04": 0.5,
        "00 00 00 3f 00 00 c0 3f 08 4a 01": [0.5, 1.5],
        "01 02 03 03 50 01": [1, 2, 3],
        "fb 04 01": -5,
        "ff ff ff ff ff ff ff ff 0b 08": U64_MAX,
        "01 78 00 00 05 00 00 00 01 00 00 00 00 00 20 40 00 00 00 00 01 00 00 00 17 00 00 00"
        " 0a 0e 02 6a 14 19 2a 01": [1, 2.5, None, True, "x"],
        "69 73 5f 72 6f 6f 74 00 01 09 01 01 01 01 68 02 24 01": {"is_root": True},
    }
    for hex_bytes, expected in samples.items():
        assert same(flexbuf.loads(bytes.fromhex(hex_bytes)), expected), hex_bytes


# --------------------------------------------------------------------------- interop

INTEROP_META = {"é": 1, "big": 1e300, "u": U64_MAX, "nested": {"ü": [1, 2.5, None, True]}}

_SCRIPT = """
import json, sys
import icechunk, zarr
mode, path = sys.argv[1], sys.argv[2]
storage = icechunk.local_filesystem_storage(path)
if mode == "write":
    repo = icechunk.Repository.create(storage)
    session = repo.writable_session("main")
    zarr.group(store=session.store)
    session.commit("metadata", metadata=json.loads(sys.argv[3]))
    print("{}")
else:
    repo = icechunk.Repository.open(storage)
    print(json.dumps([a.metadata for a in repo.ancestry(branch="main")][0]))
"""


def _run(python: str, *args: str) -> Any:
    env = {k: v for k, v in os.environ.items() if k not in {"PYTHONPATH", "PYTHONHOME"}}
    env["PYTHONIOENCODING"] = "utf-8"
    env.setdefault("ICECHUNK_LOG", "error")
    proc = subprocess.run(
        [python, "-c", _SCRIPT, *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
        cwd="/",
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1])


@pytest.mark.interop
@pytest.mark.parametrize("writer,reader", [("ours", "real"), ("real", "ours")])
def test_metadata_interop(writer: str, reader: str, tmp_path: Path) -> None:
    from interop.harness import ours_python, real_python

    pythons = {"ours": ours_python(), "real": real_python()}
    path = str(tmp_path / "repo")
    _run(pythons[writer], "write", path, json.dumps(INTEROP_META))
    assert same(_run(pythons[reader], "read", path), INTEROP_META)
