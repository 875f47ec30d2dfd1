"""Log filtering: directives, the environment variable, console routing, misspelling hints."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator

import pytest

import icechunk as ic


@pytest.fixture(autouse=True)
def _restore_filter() -> Iterator[None]:
    yield
    ic.set_logs_filter("warn")


def _create_repo() -> None:
    ic.Repository.create(ic.in_memory_storage())


def test_debug_directive_reports_repository_creation(capfd: pytest.CaptureFixture[str]) -> None:
    ic.set_logs_filter("icechunk=debug")
    _create_repo()
    captured = capfd.readouterr()
    assert "DEBUG icechunk::repository: Creating Repository" in captured.err
    assert captured.out == ""


@pytest.mark.parametrize("directive", ["", "false", "off", "warn", "tokio=debug"])
def test_quiet_directives(capfd: pytest.CaptureFixture[str], directive: str) -> None:
    ic.set_logs_filter(directive)
    _create_repo()
    assert capfd.readouterr().err == ""


def test_none_reads_the_environment(
    capfd: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ICECHUNK_LOG", "debug")
    ic.set_logs_filter(None)
    _create_repo()
    assert "Creating Repository" in capfd.readouterr().err
    monkeypatch.delenv("ICECHUNK_LOG")
    ic.set_logs_filter(None)
    _create_repo()
    assert capfd.readouterr().err == ""


def test_icechunk_target_wins_over_bare_level(capfd: pytest.CaptureFixture[str]) -> None:
    ic.set_logs_filter("debug,icechunk::repository=error")
    _create_repo()
    assert capfd.readouterr().err == ""


@pytest.mark.parametrize("typo", ["icehunk", "iecchunk", "ichunk"])
def test_misspelled_crate_gets_a_hint(capfd: pytest.CaptureFixture[str], typo: str) -> None:
    ic.set_logs_filter(f"{typo}:trace,info")
    err = capfd.readouterr().err
    assert f"WARNING: Did you mean 'icechunk' instead of '{typo}'" in err


@pytest.mark.parametrize(
    "directive", ["icechunk:debug", "icechunk::repository:trace", "serde:info"]
)
def test_correct_or_unrelated_targets_get_no_hint(
    capfd: pytest.CaptureFixture[str], directive: str
) -> None:
    ic.set_logs_filter(directive)
    assert "WARNING" not in capfd.readouterr().err


@pytest.mark.parametrize(
    ("extra", "stream"), [({}, "stderr"), ({"ICECHUNK_LOG_TO_STDOUT": "1"}, "stdout")]
)
def test_console_stream_is_chosen_at_import(extra: dict[str, str], stream: str) -> None:
    code = "import icechunk as ic; ic.Repository.create(ic.in_memory_storage())"
    env = {**os.environ, "ICECHUNK_LOG": "debug", **extra}
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True
    )
    other = "stdout" if stream == "stderr" else "stderr"
    assert "Creating Repository" in getattr(done, stream)
    assert "Creating Repository" not in getattr(done, other)
