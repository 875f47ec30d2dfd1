"""Operations the real 2.3.0 wheel refuses on spec-v1 repositories are refused here too.

Measured with icechunk 2.3.0 on a repository written by 1.1.21: ``ops_log``,
``get/set/update_metadata``, ``rearrange_session`` and ``amend`` raise ``FormatError``
with kind ``unsupported-spec-version`` and a message asking for an upgrade, while plain
commits, branches and tags keep working. Both sides
are checked: the real wheel (in its own venv) and pyicechunk, on copies of the same
repository, and nothing may be written by a refused operation.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
import zarr
from interop.samples import SampleRepo

import icechunk
from icechunk._v1_repo import require_spec_v2
from icechunk.errors import ErrorKind, FormatError

pytestmark = [
    pytest.mark.interop,
    pytest.mark.local_only(reason="the spec-v1 sample repositories are directories written by icechunk 1.1.21"),
]

_REFUSED: dict[str, Callable[[icechunk.Repository], object]] = {
    "ops_log": lambda r: r.ops_log(),
    "ops_log_async": lambda r: r.ops_log_async(),
    "get_metadata": lambda r: r.get_metadata(),
    "metadata": lambda r: r.metadata,
    "set_metadata": lambda r: r.set_metadata({"a": 1}),
    "update_metadata": lambda r: r.update_metadata({"a": 1}),
    "rearrange_session": lambda r: r.rearrange_session("main"),
}


def _files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in root.rglob("*") if p.is_file()}


@pytest.mark.parametrize("operation", sorted(_REFUSED))
def test_v1_refuses_what_the_real_api_refuses(v1_sample_repo: SampleRepo, operation: str) -> None:
    before = _files(v1_sample_repo.path)
    repo = icechunk.Repository.open(icechunk.local_filesystem_storage(str(v1_sample_repo.path)))
    with pytest.raises(FormatError) as info:
        _REFUSED[operation](repo)
    assert info.value.kind == ErrorKind.UNSUPPORTED_SPEC_VERSION
    assert "upgrade" in str(info.value)
    assert _files(v1_sample_repo.path) == before


def test_amend_is_refused_on_v1_and_nothing_moves() -> None:
    repo = icechunk.Repository.create(icechunk.in_memory_storage(), spec_version=1)
    session = repo.writable_session("main")
    zarr.group(store=session.store).create_group("foo")
    tip = session.commit("make group")
    session = repo.writable_session("main")
    zarr.open_group(session.store).create_group("bar")
    with pytest.raises(FormatError, match="upgrade") as info:
        session.amend("amend attempt")
    assert info.value.kind == ErrorKind.UNSUPPORTED_SPEC_VERSION
    assert repo.lookup_branch("main") == tip
    assert session.commit("a plain commit still works") != tip
    with pytest.raises(FormatError, match="upgrade"):
        require_spec_v2(1, "amend a commit")
    require_spec_v2(2, "amend a commit")


_REAL_SCRIPT = """
import json, sys, icechunk as ic
repo = ic.Repository.open(ic.local_filesystem_storage(sys.argv[1]))
ops = {
    "ops_log": lambda: repo.ops_log(),
    "get_metadata": lambda: repo.get_metadata(),
    "set_metadata": lambda: repo.set_metadata({"a": 1}),
    "update_metadata": lambda: repo.update_metadata({"a": 1}),
    "rearrange_session": lambda: repo.rearrange_session("main"),
}
out = {}
for name, op in ops.items():
    try:
        op()
        out[name] = None
    except ic.IcechunkError as err:
        out[name] = [type(err).__name__, err.kind]
print(json.dumps(out))
"""


def test_real_wheel_refuses_the_same_operations(
    v1_sample_repo: SampleRepo, real_python: str, tmp_path: Path
) -> None:
    import json
    import subprocess

    script = tmp_path / "refusals.py"
    script.write_text(_REAL_SCRIPT)
    done = subprocess.run(
        [real_python, str(script), str(v1_sample_repo.path)],
        capture_output=True,
        text=True,
        check=True,
        env={"ICECHUNK_LOG": "error", "PATH": "/usr/bin:/bin"},
        cwd=tmp_path,
    )
    real = json.loads(done.stdout.strip().splitlines()[-1])
    expected = ["FormatError", "unsupported-spec-version"]
    assert real == {name: expected for name in real}
    assert set(real) <= set(_REFUSED)
