"""A failing credentials callback surfaces its own message, so users can see why.

The real package reports the callback's exception type and text (and, for a wrong return
type, which class it wanted); `match=` patterns written against it must match ours.
"""

from __future__ import annotations

import pytest

import icechunk as ic


def _refuses() -> ic.S3StaticCredentials:
    raise ic.IcechunkError("token service said no")


def _returns_a_number() -> int:
    return 7


def test_callback_exception_text_is_in_the_error() -> None:
    refreshable = ic.s3_refreshable_credentials(_refuses)
    with pytest.raises(ic.StorageError, match="IcechunkError: token service said no") as info:
        refreshable.get()
    assert info.value.kind == ic.ErrorKind.INVALID_CREDENTIALS


def test_a_non_callable_callback_says_so() -> None:
    refreshable = ic.s3_refreshable_credentials(7)  # type: ignore[arg-type]
    with pytest.raises(ic.StorageError, match="'int' object is not callable"):
        refreshable.get()


def test_a_wrong_result_type_names_the_expected_class() -> None:
    refreshable = ic.s3_refreshable_credentials(_returns_a_number)  # type: ignore[arg-type]
    with pytest.raises(
        ic.StorageError, match="'int' object is not an instance of 'S3StaticCredentials'"
    ):
        refreshable.get()


def test_repository_calls_report_the_callback_message() -> None:
    # The callback fails before any request is sent, so no server is needed.
    storage = ic.s3_storage(
        bucket="nobody",
        prefix="nowhere",
        region="us-east-1",
        endpoint_url="http://127.0.0.1:9",
        allow_http=True,
        get_credentials=_refuses,
    )
    with pytest.raises(ic.IcechunkError, match="token service said no"):
        ic.Repository.exists(storage)
