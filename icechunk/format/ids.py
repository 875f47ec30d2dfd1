"""Object identifiers and their Crockford base32 text form.

Ids are ``bytes`` subclasses so they hash, compare and sort by their raw bytes (the order
the spec sorts by) at no extra cost; ``str(id)`` gives the text used in file names.
"""

from __future__ import annotations

import os
from typing import ClassVar, Self

from icechunk.errors import ErrorKind, InvalidInputError

__all__ = [
    "INITIAL_SNAPSHOT_ID",
    "ChunkId",
    "ManifestId",
    "NodeId",
    "ObjectId",
    "SnapshotId",
    "crockford_decode",
    "crockford_encode",
]

_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
_DECODE = {c: i for i, c in enumerate(_ALPHABET)}
_DECODE.update({c.lower(): i for c, i in list(_DECODE.items())})
# Crockford's aliases for easily confused letters.
_DECODE.update({"O": 0, "o": 0, "I": 1, "i": 1, "L": 1, "l": 1})


def crockford_encode(raw: bytes) -> str:
    """Encode bytes as unpadded uppercase Crockford base32 (bits right-padded with zeros)."""
    nbits = len(raw) * 8
    value = int.from_bytes(raw, "big")
    nchars = -(-nbits // 5)
    value <<= nchars * 5 - nbits
    out = []
    for shift in range((nchars - 1) * 5, -1, -5):
        out.append(_ALPHABET[(value >> shift) & 31])
    return "".join(out)


def crockford_decode(text: str, nbytes: int) -> bytes:
    """Decode Crockford base32 text into exactly ``nbytes`` bytes.

    Raises
    ------
    InvalidInputError
        If the text has the wrong length or a character outside the alphabet.
    """
    nchars = -(-nbytes * 8 // 5)
    if len(text) != nchars:
        raise InvalidInputError(
            f"invalid object id {text!r}: expected {nchars} base32 characters",
            ErrorKind.INVALID_SNAPSHOT_ID,
        )
    value = 0
    for ch in text:
        digit = _DECODE.get(ch)
        if digit is None:
            raise InvalidInputError(
                f"invalid object id {text!r}: {ch!r} is not a Crockford base32 character",
                ErrorKind.INVALID_SNAPSHOT_ID,
            )
        value = (value << 5) | digit
    # The bits past the last byte are ignored, as the real package's decoder does.
    pad = nchars * 5 - nbytes * 8
    return (value >> pad).to_bytes(nbytes, "big")


class ObjectId(bytes):
    """Base class of the fixed-size ids; compares and sorts by raw bytes."""

    SIZE: ClassVar[int] = 12

    def __new__(cls, raw: bytes | bytearray | memoryview) -> Self:
        raw = bytes(raw)
        if len(raw) != cls.SIZE:
            raise InvalidInputError(
                f"{cls.__name__} needs {cls.SIZE} bytes, got {len(raw)}",
                ErrorKind.INVALID_SNAPSHOT_ID,
            )
        return super().__new__(cls, raw)

    @classmethod
    def random(cls) -> Self:
        """A new id from the operating system's random source."""
        return cls(os.urandom(cls.SIZE))

    @classmethod
    def parse(cls, text: str) -> Self:
        """Parse the base32 text form (case-insensitive)."""
        if not isinstance(text, str):
            raise InvalidInputError(
                f"expected an id string, got {type(text).__name__}", ErrorKind.INVALID_SNAPSHOT_ID
            )
        return cls(crockford_decode(text, cls.SIZE))

    def __str__(self) -> str:
        return crockford_encode(self)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({crockford_encode(self)!r})"

    def __reduce__(self) -> tuple[type[Self], tuple[bytes]]:
        return (type(self), (bytes(self),))


class SnapshotId(ObjectId):
    """Id of a snapshot (and of its transaction log)."""


class ManifestId(ObjectId):
    """Id of a manifest file."""


class ChunkId(ObjectId):
    """Id of a native chunk file."""


class NodeId(ObjectId):
    """Id of a node (group or array), stable for the node's lifetime; 8 bytes."""

    SIZE: ClassVar[int] = 8


#: Every spec-v2 repository's first snapshot has this fixed id (``1CECHNKREP0F1RSTCMT0``).
INITIAL_SNAPSHOT_ID = SnapshotId(bytes.fromhex("0b1cc8d6787580f0e33a6534"))
