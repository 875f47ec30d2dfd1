"""The binary header shared by every metadata file, and its zstd envelope.

Layout: 12-byte magic, 24-byte implementation name (space padded), spec version byte,
file type byte, compression byte; then the (compressed) flatbuffer payload.
"""

from __future__ import annotations

from enum import IntEnum

import zstandard

from icechunk.errors import ErrorKind, FormatError
from icechunk.versions import PACKAGE_VERSION

__all__ = [
    "HEADER_SIZE",
    "IMPLEMENTATION_NAME",
    "MAGIC",
    "Compression",
    "FileType",
    "decode_file",
    "encode_file",
    "read_header",
]

MAGIC = "ICE🧊CHUNK".encode()
_NAME_SIZE = 24
_SPEC_AT = len(MAGIC) + _NAME_SIZE
_TYPE_AT = _SPEC_AT + 1
_COMPRESSION_AT = _TYPE_AT + 1
HEADER_SIZE = _COMPRESSION_AT + 1
#: The writer recorded in every file: ``ic-<package version>`` like the real package, so
#: tools that parse the version after ``ic-`` read ours too.
IMPLEMENTATION_NAME = f"ic-{PACKAGE_VERSION}"
SUPPORTED_SPEC_VERSIONS = (1, 2)
#: Refuse to inflate a metadata payload beyond this; real files are far smaller.
MAX_DECOMPRESSED_BYTES = 2**31
#: Compressed bytes fed to zstd per call. A zstd block inflates at most ~32768-fold (a
#: 4-byte RLE block yields 128 KiB), so one call never returns more than ~128 MiB and the
#: size cap is checked before a hostile frame can allocate much past it.
_INFLATE_STEP = 4096


class FileType(IntEnum):
    """What a metadata file holds (byte 37 of the header)."""

    SNAPSHOT = 1
    MANIFEST = 2
    TRANSACTION_LOG = 4
    REPO_INFO = 6


class Compression(IntEnum):
    """How the payload after the header is compressed."""

    NONE = 0
    ZSTD = 1


def _name_field(name: str) -> bytes:
    raw = name.encode()[:_NAME_SIZE]
    return raw + b" " * (_NAME_SIZE - len(raw))


def encode_file(
    file_type: FileType, payload: bytes, *, spec_version: int = 2, level: int = 3
) -> bytes:
    """Prefix ``payload`` with the header and compress it with zstd.

    The real reader only accepts zstd, so every file we write is compressed.
    """
    compressed = zstandard.ZstdCompressor(level=level).compress(payload)
    head = MAGIC + _name_field(IMPLEMENTATION_NAME)
    return head + bytes((spec_version, int(file_type), Compression.ZSTD)) + compressed


def read_header(data: bytes | memoryview, expected: FileType) -> tuple[int, str]:
    """Validate the header and return ``(spec_version, implementation_name)``.

    Raises
    ------
    FormatError
        On a short file, wrong magic, unsupported spec version, unexpected file type or
        unknown compression.
    """
    if len(data) < HEADER_SIZE:
        raise FormatError(
            f"{expected.name.lower()} file is {len(data)} bytes, shorter than the "
            f"{HEADER_SIZE}-byte header: the object is truncated or not an Icechunk file"
        )
    if bytes(data[: len(MAGIC)]) != MAGIC:
        raise FormatError(
            f"{expected.name.lower()} file does not start with the Icechunk magic bytes"
        )
    spec = data[_SPEC_AT]
    if spec not in SUPPORTED_SPEC_VERSIONS:
        raise FormatError(
            f"file uses Icechunk spec version {spec}; this pyicechunk reads versions "
            f"{SUPPORTED_SPEC_VERSIONS}: upgrade pyicechunk",
            ErrorKind.UNSUPPORTED_SPEC_VERSION,
        )
    ftype = data[_TYPE_AT]
    if ftype != expected:
        raise FormatError(f"expected a {expected.name.lower()} file, found file type {ftype}")
    if data[_COMPRESSION_AT] not in (Compression.NONE, Compression.ZSTD):
        raise FormatError(f"unknown compression algorithm {data[_COMPRESSION_AT]}")
    name = bytes(data[len(MAGIC) : _SPEC_AT]).decode("utf-8", "replace").rstrip(" \x00")
    return spec, name


def decode_file(data: bytes | memoryview, expected: FileType) -> tuple[int, bytes]:
    """Validate the header and return ``(spec_version, decompressed payload)``.

    Frames written by the Rust implementation carry no content size, so the payload is
    decompressed by streaming, across frames, with a size cap.
    """
    spec, _ = read_header(data, expected)
    body = bytes(data[HEADER_SIZE:])
    if data[_COMPRESSION_AT] == Compression.NONE:
        return spec, body
    try:
        parts = _inflate(memoryview(body), expected.name.lower())
    except zstandard.ZstdError as exc:
        raise FormatError(f"corrupt zstd data in {expected.name.lower()} file: {exc}") from exc
    payload = b"".join(parts)
    if not payload:
        raise FormatError(f"{expected.name.lower()} file has an empty payload")
    return spec, payload


def _inflate(body: memoryview, what: str) -> list[bytes]:
    """Decompress consecutive zstd frames in bounded steps, enforcing the size cap."""
    parts: list[bytes] = []
    total = 0
    dobj = zstandard.ZstdDecompressor().decompressobj()
    in_frame = False
    pos = 0
    while pos < len(body):
        piece = body[pos : pos + _INFLATE_STEP]
        pos += len(piece)
        in_frame = True
        chunk = dobj.decompress(piece)
        total += len(chunk)
        if total > MAX_DECOMPRESSED_BYTES:
            raise FormatError(f"{what} payload inflates beyond {MAX_DECOMPRESSED_BYTES} bytes")
        parts.append(chunk)
        if dobj.eof:
            # The frame ended inside this piece; the rest starts the next frame.
            pos -= len(dobj.unused_data)
            dobj = zstandard.ZstdDecompressor().decompressobj()
            in_frame = False
    if in_frame:
        raise FormatError(f"{what} payload is truncated (zstd frame)")
    return parts
