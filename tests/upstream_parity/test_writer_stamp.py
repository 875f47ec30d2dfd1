"""Files name their writer ``ic-<icechunk.__version__>``, the layout the real package uses."""

from __future__ import annotations

from packaging.version import Version

import icechunk as ic
from icechunk.format.header import FileType, encode_file, read_header


def test_encoded_files_carry_the_package_version_in_full() -> None:
    _, writer = read_header(encode_file(FileType.SNAPSHOT, b"payload"), FileType.SNAPSHOT)
    assert writer == f"ic-{ic.__version__}"  # nothing cut off by the 24-byte field
    assert Version(writer.removeprefix("ic-")) == Version(ic.__version__)
    assert Version(ic.__version__).base_version == "2.3.0"
    assert Version(ic.__version__).local is not None  # still says it is pyicechunk


def test_inspection_splits_the_stamp_into_app_name_and_version() -> None:
    repo = ic.Repository.create(ic.in_memory_storage())
    header = repo.inspect_repo_info()["header"]
    assert header["app_name"] == "ic"
    assert header["app_version"] == ic.__version__
    assert header["written_by"] == f"ic-{header['app_version']}"
