"""zarr's stateful machines driven against an Icechunk session.

zarr's machine mirrors every operation on a MemoryStore model and checks listings
match; we add commits (the committed state must read back exactly as before) and
full-array comparisons. zarr's key-level store machine draws arbitrary keys, which
Icechunk rejects by design, so it runs here over the keys Icechunk accepts.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import hypothesis.strategies as st
import numpy as np
import zarr
from hypothesis import HealthCheck, assume, note, settings
from hypothesis.stateful import precondition, rule, run_state_machine_as_test
from zarr.abc.store import RangeByteRequest
from zarr.core.buffer import cpu, default_buffer_prototype
from zarr.testing.stateful import (
    SyncStoreWrapper,
    ZarrHierarchyStateMachine,
    ZarrStoreStateMachine,
)
from zarr.testing.strategies import node_names, np_array_and_chunks, numpy_arrays

import icechunk as ic
from engine.storage_kinds import examples

PROTOTYPE = default_buffer_prototype()


class IcechunkHierarchyMachine(ZarrHierarchyStateMachine):
    def __init__(self, storage: ic.Storage) -> None:
        self.repo = ic.Repository.create(storage)
        super().__init__(self.repo.writable_session("main").store)

    def _listing(self) -> list[str]:
        return sorted(self._sync_iter(self.store.list_prefix("")))

    @rule(
        data=st.data(),
        name=node_names,
        array_and_chunks=np_array_and_chunks(arrays=numpy_arrays()),
    )
    def add_array(
        self, data: st.DataObject, name: str, array_and_chunks: tuple[np.ndarray[Any, Any], Any]
    ) -> None:
        array, _ = array_and_chunks
        assume(array.size > 0)  # empty chunks are never written
        super().add_array(data, name, array_and_chunks)

    @precondition(lambda self: self.store.session.has_uncommitted_changes)
    @rule(data=st.data())
    def commit_and_verify(self, data: st.DataObject) -> None:
        before = self._listing()
        path = data.draw(st.sampled_from(before))
        value_before = self._sync(self.store.get(path, prototype=PROTOTYPE))
        sid = self.store.session.commit("step")
        note(f"committed {sid}")
        self.store = self.repo.writable_session("main").store
        assert self._listing() == before
        value_after = self._sync(self.store.get(path, prototype=PROTOTYPE))
        assert value_before is not None and value_after is not None
        if path.endswith("zarr.json"):
            assert json.loads(value_before.to_bytes()) == json.loads(value_after.to_bytes())
        else:
            assert value_before.to_bytes() == value_after.to_bytes()

    @precondition(lambda self: bool(self.all_arrays))
    @rule(data=st.data())
    def compare_array(self, data: st.DataObject) -> None:
        path = data.draw(st.sampled_from(sorted(self.all_arrays)))
        np.testing.assert_equal(
            zarr.open_array(self.store, path=path)[:], zarr.open_array(self.model, path=path)[:]
        )


def test_hierarchy_machine(unique_storage: Callable[[], ic.Storage]) -> None:
    run_state_machine_as_test(
        lambda: IcechunkHierarchyMachine(unique_storage()),
        settings=settings(
            max_examples=examples(25),
            stateful_step_count=20,
            deadline=None,
            report_multiple_bugs=False,
            suppress_health_check=list(HealthCheck),
        ),
    )


# ---------------------------------------------------------------- key-level store machine
ARRAY_DOC = json.dumps(
    {
        "zarr_format": 3,
        "node_type": "array",
        "shape": [4, 4],
        "data_type": "uint8",
        "chunk_grid": {"name": "regular", "configuration": {"chunk_shape": [1, 1]}},
        "chunk_key_encoding": {"name": "default", "configuration": {"separator": "/"}},
        "fill_value": 0,
        "codecs": [{"name": "bytes"}],
    }
).encode()
GROUP_KEYS = [f"g{i}/zarr.json" for i in range(3)]
CHUNK_KEYS = [f"arr/c/{i}/{j}" for i in range(4) for j in range(4)]
valid_keys = st.sampled_from([*GROUP_KEYS, "arr/zarr.json", *CHUNK_KEYS])


def group_doc(title: str) -> bytes:
    return json.dumps({"zarr_format": 3, "node_type": "group", "attributes": {"t": title}}).encode()


class IcechunkKeyMachine(ZarrStoreStateMachine):
    """zarr's key/value machine restricted to keys Icechunk accepts.

    Values must be valid for their key: group documents for group keys, the array
    document for ``arr/zarr.json``, non-empty bytes for chunks (whose array must exist).
    """

    def __init__(self, storage: ic.Storage) -> None:
        repo = ic.Repository.create(storage)
        super().__init__(repo.writable_session("main").store)

    def _put(self, key: str, value: bytes) -> None:
        buf = cpu.Buffer.from_bytes(value)
        self.store.set(key, buf)
        self.model[key] = buf

    @rule(key=valid_keys, data=st.data())
    def set(self, key: str, data: st.DataObject) -> None:  # type: ignore[override]
        if key in GROUP_KEYS:
            self._put(key, group_doc(data.draw(st.text(max_size=8))))
        elif key == "arr/zarr.json":
            self._put(key, ARRAY_DOC)
        else:
            if "arr/zarr.json" not in self.model:
                self._put("arr/zarr.json", ARRAY_DOC)
            self._put(key, data.draw(st.binary(min_size=1, max_size=64)))

    @rule(key=valid_keys, data=st.data())
    def get_invalid_zarr_keys(self, key: str, data: st.DataObject) -> None:
        assume(key not in self.model)
        assert self.store.get(key, self.prototype) is None

    @precondition(lambda self: len(self.model.keys()) > 0)
    @rule(data=st.data())
    def get_partial_values(self, data: st.DataObject) -> None:
        key = data.draw(st.sampled_from(sorted(self.model)))
        size = len(self.model[key])
        start = data.draw(st.integers(0, size - 1))
        stop = data.draw(st.integers(start + 1, size))
        [got] = self.store.get_partial_values([(key, RangeByteRequest(start, stop))], self.prototype)
        assert got is not None
        assert got.to_bytes() == self.model[key].to_bytes()[start:stop]

    @precondition(lambda self: len(self.model.keys()) > 0)
    @rule(data=st.data())
    def delete(self, data: st.DataObject) -> None:
        key = data.draw(st.sampled_from(sorted(self.model)))
        self.store.delete(key)
        del self.model[key]
        if key == "arr/zarr.json":  # deleting an array's document deletes its chunks
            for chunk in [k for k in self.model if k.startswith("arr/")]:
                del self.model[chunk]

    @rule(key=valid_keys)
    def exists(self, key: str) -> None:
        assert self.store.exists(key) == (key in self.model)

    @precondition(lambda self: self.store.store.session.has_uncommitted_changes)
    @rule()
    def commit(self) -> None:
        session = self.store.store.session
        repo = ic.Repository(session._core.repo)
        session.commit("step")
        self.store = SyncStoreWrapper(repo.writable_session("main").store)


def test_key_value_machine(unique_storage: Callable[[], ic.Storage]) -> None:
    run_state_machine_as_test(
        lambda: IcechunkKeyMachine(unique_storage()),
        settings=settings(
            max_examples=examples(25),
            stateful_step_count=25,
            deadline=None,
            report_multiple_bugs=False,
            suppress_health_check=list(HealthCheck),
        ),
    )
