"""Damaged metadata files of every kind give typed errors: no crash, hang or huge allocation.

Seeds are the metadata files of a sample repository written by pyicechunk (spec v2) and,
when the reference venvs exist, of repositories written by icechunk 2.3.0 and 1.1.21
(spec v1). Each seed is damaged in fixed ways (truncation at every header boundary,
wrong magic, spec version, file type and compression byte, bit flips, random bytes)
and at random (hypothesis); the decoder of its kind, and every other decoder, must
return a value or raise an :class:`icechunk.IcechunkError` (``FormatError`` for a
damaged header). The atheris harness runs briefly on both targets; ``make soak`` runs it
longer. End-to-end reads of damaged repositories are in tests/engine/test_corruption.py
and tests/reliability/test_corrupt_repos.py.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from interop.samples import SampleRepo
from reliability.figures import report

import icechunk as ic
from icechunk.format.header import HEADER_SIZE, MAGIC

sys.path.insert(0, str(Path(__file__).parent))

from targets import (
    DECODERS,
    collect_seeds,
    decode_all,
    decode_payload,
    payload_seed,
    write_sample_repository,
)

SOAK = os.environ.get("ICECHUNK_SOAK") == "1"
HARNESS = Path(__file__).with_name("fuzz_decoders.py")
CHECKOUT = Path(__file__).parents[2]
SPEC_AT, TYPE_AT, COMPRESSION_AT = HEADER_SIZE - 3, HEADER_SIZE - 2, HEADER_SIZE - 1
TALLY: Counter[str] = Counter()


@pytest.fixture(scope="module")
def seeds(tmp_path_factory: pytest.TempPathFactory) -> dict[str, bytes]:
    base = tmp_path_factory.mktemp("fuzz-seeds")
    write_sample_repository(base / "repo")
    collect_seeds([base / "repo"], base / "files")
    return {p.name: p.read_bytes() for p in sorted((base / "files").iterdir())}


def _set(data: bytes, at: int, value: int) -> bytes:
    return data[:at] + bytes([value]) + data[at + 1 :]


def header_damage(data: bytes) -> dict[str, bytes]:
    """Damaged copies whose header is wrong: each must be a FormatError."""
    cases = {f"truncated-{n}": data[:n] for n in (0, 1, len(MAGIC) - 1, SPEC_AT, HEADER_SIZE - 1)}
    cases["magic"] = b"NOTICECHUNK!" + data[len(MAGIC) :]
    cases["magic-flip"] = _set(data, 3, data[3] ^ 0x01)
    for spec in (0, 3, 255):
        cases[f"spec-{spec}"] = _set(data, SPEC_AT, spec)
    for file_type in range(9):
        if file_type != data[TYPE_AT]:
            cases[f"type-{file_type}"] = _set(data, TYPE_AT, file_type)
    for compression in (2, 7, 255):
        cases[f"compression-{compression}"] = _set(data, COMPRESSION_AT, compression)
    cases["header-only"] = data[:HEADER_SIZE]
    return cases


def payload_damage(data: bytes) -> dict[str, bytes]:
    """Damaged copies with a valid header: typed error, or a value if undetectable."""
    rng = np.random.default_rng(len(data))
    body = len(data) - HEADER_SIZE
    cases = {f"truncated-body-{k}": data[: HEADER_SIZE + body * k // 4] for k in (1, 2, 3)}
    cases["uncompressed-flag"] = _set(data, COMPRESSION_AT, 0)  # zstd bytes parsed as raw
    cases["random-body"] = data[:HEADER_SIZE] + rng.bytes(body)
    cases["zero-body"] = data[:HEADER_SIZE] + bytes(body)
    cases["appended-garbage"] = data + rng.bytes(64)
    cases["doubled"] = data + data[HEADER_SIZE:]
    for k in range(8):
        at = HEADER_SIZE + int(rng.integers(0, body))
        cases[f"flip-{k}"] = _set(data, at, data[at] ^ int(rng.integers(1, 256)))
    return cases


def decode_as(kind: str, data: bytes) -> ic.IcechunkError | None:
    try:
        DECODERS[kind](data)
    except ic.IcechunkError as err:
        return err
    return None


def check_seed_matrix(seeds: dict[str, bytes]) -> None:
    for name, data in seeds.items():
        kind = name.split("-")[0]
        assert decode_as(kind, data) is None, f"pristine {name} must decode"
        for case, damaged in header_damage(data).items():
            err = decode_as(kind, damaged)
            assert isinstance(err, ic.FormatError), f"{name}/{case}: {err!r}"
            decode_all(damaged)
            TALLY["files_tried"] += 1
            TALLY["typed_errors"] += 1
        for case, damaged in payload_damage(data).items():
            err = decode_as(kind, damaged)
            TALLY["files_tried"] += 1
            TALLY["typed_errors" if err is not None else "decoded_anyway"] += 1
            if case.startswith(("truncated", "uncompressed", "random", "zero")):
                assert err is not None, f"{name}/{case} decoded"
            decode_all(damaged)


def test_damaged_seed_files_give_typed_errors(seeds: dict[str, bytes]) -> None:
    check_seed_matrix(seeds)
    report("corrupt metadata files (fixed damage matrix)", TALLY)
    assert TALLY["files_tried"] > 300


@pytest.mark.interop
def test_damaged_files_of_the_reference_wheels(
    tmp_path: Path, v1_sample_repo: SampleRepo, real_sample_repo: SampleRepo
) -> None:
    """Spec-v1 files (icechunk 1.1.21) and spec-v2 files of the real 2.3.0 wheel."""
    counts = collect_seeds([v1_sample_repo.path, real_sample_repo.path], tmp_path / "seeds")
    assert counts.get("ref", 0) > 0 and counts["snapshot"] > 2, counts
    files = {p.name: p.read_bytes() for p in sorted((tmp_path / "seeds").iterdir())}
    refs = {k: v for k, v in files.items() if k.startswith("ref-")}
    check_seed_matrix({k: v for k, v in files.items() if k not in refs})
    spec1 = [v for k, v in files.items() if k not in refs and v[SPEC_AT] == 1]
    assert spec1, "the v1 repository contributes spec-1 files"
    for data in refs.values():
        assert decode_as("ref", data) is None
        for damaged in (data[: len(data) // 2], b"", b"{}", b'{"snapshot": 3}', b"\xff" * 9):
            assert isinstance(decode_as("ref", damaged), ic.FormatError)


# --------------------------------------------------------------------------- random
@st.composite
def mutations(draw: st.DrawFn) -> Callable[[bytes], bytes]:
    ops = draw(
        st.lists(
            st.tuples(
                st.sampled_from(["flip", "insert", "delete", "truncate", "splice"]),
                st.floats(0, 1),
                st.binary(min_size=1, max_size=16),
            ),
            min_size=1,
            max_size=6,
        )
    )

    def apply(data: bytes) -> bytes:
        out = bytearray(data)
        for op, where, blob in ops:
            at = int(where * len(out))
            if op == "flip" and out:
                out[min(at, len(out) - 1)] ^= blob[0] or 1
            elif op == "insert":
                out[at:at] = blob
            elif op == "delete":
                del out[at : at + len(blob)]
            elif op == "truncate":
                del out[at:]
            else:
                out[at : at + len(blob)] = blob
        return bytes(out)

    return apply


@settings(
    max_examples=1000 if SOAK else 150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(data=st.data(), mutate=mutations())
def test_random_damage_gives_typed_errors(
    seeds: dict[str, bytes], data: st.DataObject, mutate: Callable[[bytes], bytes]
) -> None:
    name = data.draw(st.sampled_from(sorted(seeds)))
    damaged = mutate(seeds[name])
    decode_all(damaged)  # raises if any decoder fails untyped
    payload = payload_seed(seeds[name])
    assert payload is not None
    decode_payload(payload[:1] + mutate(payload[1:]))


@given(blob=st.binary(max_size=2048))
def test_random_bytes_give_typed_errors(blob: bytes) -> None:
    decode_all(blob)
    decode_all(MAGIC + blob)
    decode_payload(blob)


# --------------------------------------------------------------------------- atheris
def _fuzz(target: str, corpus: Path, seconds: int) -> str:
    env = {**os.environ, "PYTHONPATH": str(CHECKOUT)}
    dirs = ["files", "payloads"] if target == "both" else [target]
    proc = subprocess.run(
        [
            sys.executable,
            str(HARNESS),
            target,
            *[str(corpus / d) for d in dirs],
            f"-max_total_time={seconds}",
            "-timeout=30",  # one input running this long is a hang
            "-rss_limit_mb=2048",  # and a runaway allocation a crash
            "-max_len=65536",
            "-seed=12345",
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=seconds + 300,
        cwd=corpus,
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    assert "Done" in proc.stderr
    return proc.stderr


@pytest.mark.parametrize("target", ["files", "payloads"] if SOAK else ["both"])
def test_atheris_finds_no_crash(tmp_path: Path, target: str) -> None:
    pytest.importorskip("atheris")
    env = {**os.environ, "PYTHONPATH": str(CHECKOUT)}
    subprocess.run(
        [sys.executable, str(HARNESS), "--make-corpus", str(tmp_path)],
        env=env,
        check=True,
        capture_output=True,
    )
    log = _fuzz(target, tmp_path, 600 if SOAK else 6)
    runs = [line for line in log.splitlines() if line.startswith("Done")]
    report(f"atheris {target}", {"last_status": runs[-1].strip()})
