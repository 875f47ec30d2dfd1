"""Lazily decoded manifests: single lookups binary-search the file, bulk use decodes it."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from icechunk.errors import FormatError
from icechunk.format._manifest_decode import Buffer, coords_at
from icechunk.format.ids import ManifestId, NodeId
from icechunk.format.manifest import (
    ChunkTable,
    Manifest,
    _LazyRefs,
    decode_manifest,
    encode_manifest,
)
from icechunk.format.model import ChunkPayload, InlinePayload, VirtualPayload

from .test_manifest import Refs, refs_strategy


def _lazy_and_eager(ndim: int, refs: Refs, spec: int = 2) -> tuple[ChunkTable, ChunkTable]:
    node = NodeId.random()
    data = encode_manifest(
        Manifest(ManifestId.random(), {node: ChunkTable.from_payloads(ndim, refs)}, spec)
    )
    return decode_manifest(data, lazy=True).arrays[node], decode_manifest(data).arrays[node]


@settings(max_examples=100, deadline=None)
@given(refs_strategy(), st.sampled_from([1, 2]), st.data())
def test_lazy_lookups_match_eager_ones(
    case: tuple[int, Refs], spec: int, data: st.DataObject
) -> None:
    ndim, refs = case
    lazy, eager = _lazy_and_eager(ndim, refs, spec)
    assert (len(lazy), lazy.ndim) == (len(eager), eager.ndim)
    probes = [*refs, tuple(data.draw(st.integers(0, 2**32 - 1)) for _ in range(ndim))]
    for coords in probes:
        assert lazy.lookup(coords) == eager.lookup(coords) == refs.get(coords)
        assert (coords in lazy) == (coords in refs)
    assert lazy.lookup(tuple([-1] * ndim)) is None if ndim else True
    # The first bulk use decodes every row; the table then equals the eager one.
    assert list(lazy.items()) == list(eager.items())
    assert lazy == eager


def test_lazy_lookup_in_a_dictionary_compressed_manifest() -> None:
    refs: dict[tuple[int, ...], ChunkPayload] = {
        (i,): VirtualPayload(f"s3://bucket/data/file_{i // 7:04d}.nc", 8 * i, 8)
        for i in range(0, 6000, 2)
    }
    refs[(6001,)] = InlinePayload(b"inline")
    lazy, _ = _lazy_and_eager(1, refs)
    for i in (0, 2, 1234, 5998):
        assert lazy.lookup((i,)) == refs[(i,)]
    assert lazy.lookup((6001,)) == refs[(6001,)]
    assert lazy.lookup((1,)) is None and lazy.lookup((7000,)) is None
    with pytest.raises(Exception, match="expected 1 chunk coordinates"):
        lazy.lookup((1, 2))


@pytest.mark.parametrize("slot", [-8, 0, 2, 10**9])
def test_probes_outside_the_file_are_format_errors(slot: int) -> None:
    raw = bytes(range(64))  # offsets in here point outside these 64 bytes
    with pytest.raises(FormatError):
        coords_at(raw, slot)
    table = ChunkTable._from_file(_LazyRefs(Buffer(raw), slot, 5, None, 0))
    with pytest.raises(FormatError):
        table.lookup((1,))
