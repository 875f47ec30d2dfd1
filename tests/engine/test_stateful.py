"""zarr's stateful hierarchy machine driven against an Icechunk session.

zarr's machine mirrors every operation on a MemoryStore model and checks listings
match; we add commits (the committed state must read back exactly as before) and
full-array comparisons. zarr's key-level store machine writes arbitrary keys, which
Icechunk rejects by design, so only the hierarchy machine applies.
"""

from __future__ import annotations

import json
from typing import Any

import hypothesis.strategies as st
import numpy as np
import zarr
from hypothesis import HealthCheck, assume, note, settings
from hypothesis.stateful import precondition, rule, run_state_machine_as_test
from zarr.core.buffer import default_buffer_prototype
from zarr.testing.stateful import ZarrHierarchyStateMachine
from zarr.testing.strategies import node_names, np_array_and_chunks, numpy_arrays

import icechunk as ic

PROTOTYPE = default_buffer_prototype()


class IcechunkHierarchyMachine(ZarrHierarchyStateMachine):
    def __init__(self) -> None:
        self.repo = ic.Repository.create(ic.in_memory_storage())
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


def test_hierarchy_machine() -> None:
    run_state_machine_as_test(
        IcechunkHierarchyMachine,
        settings=settings(
            max_examples=25,
            stateful_step_count=20,
            deadline=None,
            report_multiple_bugs=False,
            suppress_health_check=list(HealthCheck),
        ),
    )
