"""Branch and tag names: what is refused, and why (docs/guarantees.md, "Ref names").

Spec v2 keeps every ref inside the repo info file: a name never becomes an object key,
and the spec restricts no name. So pyicechunk accepts exactly the names icechunk 2.3.0
accepts, empty names and control characters included, and behaves like it with them
(sessions, history, tag reuse); only strings that are not UTF-8 text are refused, by
both. Spec-v1 repositories keep each ref in its own object ``refs/branch.NAME/ref.json``:
there the spec forbids ``/``, and pyicechunk also refuses names that would make an
invalid or backend-dependent key (empty, control characters, backslash) with
``InvalidInputError``, writing nothing. Names written by either side are read by the other.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

import icechunk as ic

REF_NAMES = [
    "", "a/b", "..", ".", "a..b", "-x", "a b", "a\x00b", "a\nb", "a\tb", "x" * 5000, "ü",
    "a:b", "@", "a\\b", ".hidden", "trailing/", "/lead", "a~b", "a.lock", "a/../b", "\x7f",
    "%2e%2e", "a\u202eb", "\ud800",
]  # fmt: skip
TEXT_NAMES = [n for n in REF_NAMES if n != "\ud800"]

ACCEPTED = """
import json, sys, tempfile
import icechunk as ic
names = json.loads(sys.stdin.read())
accepted = []
with tempfile.TemporaryDirectory() as d:
    repo = ic.Repository.create(ic.local_filesystem_storage(d + "/r"))
    sid = repo.lookup_branch("main")
    for i, n in enumerate(names):
        try:
            repo.create_branch(n, sid)
            repo.create_tag(n, sid)
            assert repo.lookup_branch(n) == sid and repo.lookup_tag(n) == sid
            accepted.append(i)
        except Exception:
            pass
print(json.dumps(accepted))
"""

#: Every ref operation on a few odd names, outcomes printed one line per name.
BEHAVIOUR = """
import json, sys, tempfile
import icechunk as ic, zarr
repo = ic.Repository.create(ic.local_filesystem_storage(tempfile.mkdtemp() + "/r"))
sid = repo.lookup_branch("main")

def commit(n):
    session = repo.writable_session(n)
    zarr.create_group(session.store, attributes={"n": n})
    return session.commit("on " + n)

for n in json.loads(sys.stdin.read()):
    out = []
    for f in [lambda: repo.create_branch(n, sid), lambda: repo.lookup_branch(n),
              lambda: repo.writable_session(n).branch, lambda: commit(n),
              lambda: [i.message for i in repo.ancestry(branch=n)],
              lambda: repo.readonly_session(branch=n).snapshot_id,
              lambda: repo.create_tag(n, sid), lambda: repo.lookup_tag(n),
              lambda: repo.readonly_session(tag=n).snapshot_id, lambda: repo.delete_tag(n),
              lambda: repo.create_tag(n, sid), lambda: repo.reset_branch(n, sid),
              lambda: repo.delete_branch(n), lambda: sorted(repo.list_branches())]:
        try:
            out.append(repr(f()))
        except Exception as e:
            out.append(type(e).__name__)
    print(json.dumps(out))
"""


OURS = "ours"  # run the script with this checkout's icechunk


def _run(python: str, script: str, names: list[str], *args: str) -> str:
    if python == OURS:
        checkout = str(Path(__file__).parents[2])
        env = {**os.environ, "PYTHONPATH": checkout}
        cmd = [sys.executable, "-c", script, *args]
    else:
        env, cmd = None, [python, "-I", "-c", script, *args]
    proc = subprocess.run(cmd, input=json.dumps(names), capture_output=True, text=True, env=env)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return proc.stdout


def _accepted_by_ours(names: list[str]) -> set[int]:
    repo = ic.Repository.create(ic.in_memory_storage())
    sid = repo.lookup_branch("main")
    accepted = set()
    for i, name in enumerate(names):
        try:
            repo.create_branch(name, sid)
            repo.create_tag(name, sid)
        except ic.InvalidInputError as err:
            assert err.kind == "invalid-ref-name", err.kind
            continue
        assert repo.lookup_branch(name) == sid and repo.lookup_tag(name) == sid
        accepted.add(i)
    return accepted


@pytest.mark.interop
def test_ref_names_accepted_are_those_of_the_real_wheel(real_python: str) -> None:
    names = [n for n in REF_NAMES if n != "main"]
    real = set(json.loads(_run(real_python, ACCEPTED, names)))
    ours = _accepted_by_ours(names)
    assert ours == real, sorted(names[i] for i in ours ^ real)
    assert names.index("\ud800") not in real, "not UTF-8: refused by both"
    assert len(ours) == len(names) - 1


@pytest.mark.interop
def test_odd_ref_names_behave_like_the_real_wheel(real_python: str) -> None:
    """Empty and control-character names work in every ref operation, as in 2.3.0."""
    names = ["", "a\x00b", "a\nb", "\x7f", "a/../b"]
    ids = re.compile(r"'[0-9A-Z]{20}'")
    real = ids.sub("ID", _run(real_python, BEHAVIOUR, names))
    ours = ids.sub("ID", _run(OURS, BEHAVIOUR, names))
    assert ours == real
    assert "Error" not in "".join(real.splitlines()[0].split("AlreadyExistsError"))


WRITE_ODD_REFS = """
import json, sys
import icechunk as ic
repo = ic.Repository.open(ic.local_filesystem_storage(sys.argv[1]))
sid = repo.lookup_branch("main")
for n in json.loads(sys.stdin.read()):
    repo.create_branch(n, sid)
    repo.create_tag(n, sid)
"""

READ_REFS = """
import json, sys
import icechunk as ic
repo = ic.Repository.open(ic.local_filesystem_storage(sys.argv[1]))
sid = repo.lookup_branch("main")
names = json.loads(sys.stdin.read())
assert all(repo.lookup_branch(n) == sid and repo.lookup_tag(n) == sid for n in names)
print(json.dumps([sorted(repo.list_branches()), sorted(repo.list_tags())]))
"""


@pytest.mark.interop
@pytest.mark.parametrize("writer", ["real", "ours"])
def test_odd_ref_names_cross_between_implementations(
    real_python: str, tmp_path: Path, writer: str
) -> None:
    path = str(tmp_path / "repo")
    names = [n for n in TEXT_NAMES if n != "main"]
    ic.Repository.create(ic.local_filesystem_storage(path))
    pythons = {"real": real_python, "ours": OURS}
    _run(pythons[writer], WRITE_ODD_REFS, names, path)
    reader = pythons["ours" if writer == "real" else "real"]
    branches, tags = json.loads(_run(reader, READ_REFS, names, path))
    assert set(branches) == set(names) | {"main"}
    assert set(tags) == set(names)


V1_REFUSED = ["", "a/b", "../x", "trailing/", "a\x00b", "a\nb", "\x7f", "a\\b"]


@pytest.mark.interop
def test_spec_v1_names_that_would_make_bad_keys_are_refused(
    v1_python: str, tmp_path: Path
) -> None:
    path = tmp_path / "v1"
    create = "import icechunk as ic, sys; ic.Repository.create(ic.local_filesystem_storage(sys.argv[1]))"
    _run(v1_python, create, [], str(path))
    repo = ic.Repository.open(ic.local_filesystem_storage(str(path)))
    sid = repo.lookup_branch("main")
    refs_before = sorted(p.name for p in (path / "refs").iterdir())
    for name in V1_REFUSED:
        with pytest.raises(ic.InvalidInputError):
            repo.create_branch(name, sid)
        with pytest.raises(ic.InvalidInputError):
            repo.create_tag(name, sid)
        with pytest.raises(ic.RefNotFoundError):
            repo.lookup_branch(name)
    assert sorted(p.name for p in (path / "refs").iterdir()) == refs_before, "nothing written"
    for name in ["..", "a..b", "a b", "ü", "a.lock"]:  # valid key components
        repo.create_branch(name, sid)
        assert ic.Repository.open(ic.local_filesystem_storage(str(path))).lookup_branch(name) == sid
