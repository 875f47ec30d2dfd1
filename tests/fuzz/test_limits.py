"""Hostile metadata cannot make the decoders allocate without bound.

A zstd frame of run-length blocks inflates 32768-fold (4 bytes -> 128 KiB), so a 256 KiB
"snapshot" can claim 8 GiB. Decoding it in a subprocess whose address space is capped
must end in a FormatError once the (lowered) inflation cap is passed, not in a
MemoryError or the out-of-memory killer.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

import icechunk as ic
from icechunk.format.header import MAGIC, Compression, FileType
from icechunk.format.snapshot import decode_snapshot

CHECKOUT = Path(__file__).parents[2]
ZSTD_MAGIC = bytes.fromhex("28b52ffd")
BLOCK = 128 * 1024


def rle_bomb(blocks: int, byte: int = 0) -> bytes:
    """A zstd frame of ``blocks`` RLE blocks of 128 KiB each, without a content size."""
    frame = bytearray(ZSTD_MAGIC + bytes([0x00, 7 << 3]))  # no FCS, 128 KiB window
    for i in range(blocks):
        last = 1 if i == blocks - 1 else 0
        header = last | (1 << 1) | (BLOCK << 3)  # block type 1 = RLE
        frame += header.to_bytes(3, "little") + bytes([byte])
    return bytes(frame)


def snapshot_file(payload: bytes) -> bytes:
    name = b"bomb".ljust(24)
    return MAGIC + name + bytes((2, FileType.SNAPSHOT, Compression.ZSTD)) + payload


def test_small_bomb_inflates_as_zstd_says() -> None:
    """The crafted frame is valid zstd: decoding gets past zstd to the flatbuffer parser."""
    with pytest.raises(ic.FormatError) as info:
        decode_snapshot(snapshot_file(rle_bomb(2)))
    assert "zstd" not in str(info.value)


CHILD = """
import resource, sys
resource.setrlimit(resource.RLIMIT_AS, (2 << 30, 2 << 30))
import icechunk as ic
from icechunk.format import header
from icechunk.format.snapshot import decode_snapshot
header.MAX_DECOMPRESSED_BYTES = 256 << 20
data = open(sys.argv[1], "rb").read()
try:
    decode_snapshot(data)
except ic.FormatError as err:
    print("FormatError:", err)
"""


def test_decompression_bomb_is_a_format_error_under_a_memory_cap(tmp_path: Path) -> None:
    bomb = tmp_path / "bomb"
    bomb.write_bytes(snapshot_file(rle_bomb(65536)))  # 256 KiB claiming 8 GiB
    env = {**os.environ, "PYTHONPATH": str(CHECKOUT)}
    proc = subprocess.run(
        [sys.executable, "-c", CHILD, str(bomb)],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "FormatError: snapshot payload inflates beyond" in proc.stdout
