"""Repository constructors and probes take the real package's parameters, in its order."""

from __future__ import annotations

import inspect
from pathlib import Path

import pytest

import icechunk as ic

_VIRTUAL = "authorize_virtual_chunk_access"
_PARAMETERS = {
    "create": [
        ("storage", inspect.Parameter.empty),
        ("config", None),
        (_VIRTUAL, None),
        ("spec_version", None),
        ("check_clean_root", True),
        ("attribution", None),
    ],
    "open": [
        ("storage", inspect.Parameter.empty),
        ("config", None),
        (_VIRTUAL, None),
        ("attribution", None),
    ],
    "open_or_create": [
        ("storage", inspect.Parameter.empty),
        ("config", None),
        (_VIRTUAL, None),
        ("create_version", None),
        ("check_clean_root", True),
        ("attribution", None),
    ],
    "exists": [("storage", inspect.Parameter.empty), ("storage_settings", None)],
    "fetch_config": [("storage", inspect.Parameter.empty)],
    "fetch_spec_version": [("storage", inspect.Parameter.empty), ("storage_settings", None)],
}


@pytest.mark.parametrize("name", sorted(_PARAMETERS))
@pytest.mark.parametrize("suffix", ["", "_async"])
def test_parameter_names_order_and_defaults(name: str, suffix: str) -> None:
    signature = inspect.signature(getattr(ic.Repository, name + suffix))
    found = [(p.name, p.default) for p in signature.parameters.values()]
    assert found == _PARAMETERS[name]


def test_probes_accept_storage_settings() -> None:
    settings = ic.StorageSettings()
    storage = ic.in_memory_storage()
    assert not ic.Repository.exists(storage, storage_settings=settings)
    ic.Repository.create(storage, spec_version=1)
    assert ic.Repository.exists(storage, storage_settings=settings)
    assert ic.Repository.fetch_spec_version(storage, storage_settings=settings) == 1


def test_open_or_create_honours_check_clean_root(tmp_path: Path) -> None:
    storage = ic.in_memory_storage()
    storage_with_junk = ic.local_filesystem_storage(str(tmp_path))
    (tmp_path / "junk.txt").write_text("x")
    with pytest.raises(ic.InvalidInputError, match="not empty"):
        ic.Repository.open_or_create(storage_with_junk)
    ic.Repository.open_or_create(storage_with_junk, check_clean_root=False)
    assert ic.Repository.open_or_create(storage).spec_version == 2


@pytest.mark.parametrize(
    ("version", "message"),
    [
        (255, "Unsupported version 255"),
        (0, "Unsupported version 0"),
        (3, "Unsupported version 3"),
        (256, "Couldn't parse a valid version"),
        (-1, "Couldn't parse a valid version"),
    ],
)
def test_unknown_spec_versions_are_refused_with_the_reference_wording(
    version: int, message: str
) -> None:
    with pytest.raises(ValueError, match=message) as excinfo:
        ic.Repository.create(ic.in_memory_storage(), spec_version=version)
    assert excinfo.value.kind == ic.ErrorKind.UNSUPPORTED_SPEC_VERSION  # type: ignore[attr-defined]
