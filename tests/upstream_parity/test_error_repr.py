"""Error reprs use the real package's layout: ``icechunk.<Class>(field="value", ...)``."""

from __future__ import annotations

import pytest

import icechunk as ic


def test_plain_errors_show_qualified_class_message_and_kind() -> None:
    assert (
        repr(ic.IcechunkError("boom")) == 'icechunk.IcechunkError(message="boom", kind="unknown")'
    )
    assert repr(ic.InvalidInputError("bad", "invalid-key")) == (
        'icechunk.InvalidInputError(message="bad", kind="invalid-key")'
    )


def test_message_is_embedded_verbatim_without_escaping() -> None:
    err = ic.StorageError('a "quoted"\nline', "io")
    assert repr(err) == 'icechunk.StorageError(message="a "quoted"\nline", kind="io")'


def test_raised_not_found_error_names_its_runtime_class() -> None:
    repo = ic.Repository.create(ic.in_memory_storage())
    with pytest.raises(ic.RefNotFoundError) as excinfo:
        repo.lookup_branch("absent")
    text = repr(excinfo.value)
    assert text.startswith('icechunk.RefNotFoundError(message="ref not found `absent`')
    assert text.endswith('kind="ref-not-found")')


def test_conflict_errors_show_their_parents_and_snapshot() -> None:
    assert repr(ic.ConflictError("abc", None)) == (
        "icechunk.ConflictError(expected_parent=abc, actual_parent=None)"
    )
    assert repr(ic.RebaseFailedError("SNAP1", [])) == (
        'icechunk.RebaseFailedError(snapshot="SNAP1", conflicts=[])'
    )
