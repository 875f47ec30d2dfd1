"""README's Binder badge is a well-formed mybinder.org link generated from binder/README.md.

The GitHub repository is named once, on binder/README.md's ``BINDER_REPO=`` line;
scripts/binder_badge.py (``make binder-badge``) writes the badge from it.
"""

from __future__ import annotations

import importlib.util
import shutil
import sys
from pathlib import Path
from types import ModuleType
from urllib.parse import parse_qs, urlsplit

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]


def _load_script() -> ModuleType:
    path = REPO_ROOT / "scripts" / "binder_badge.py"
    spec = importlib.util.spec_from_file_location("scripts_binder_badge", path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


badge = _load_script()


def _readme_badge_url() -> str:
    lines = [ln for ln in (REPO_ROOT / "README.md").read_text().splitlines()
             if ln.startswith("[![Binder]")]
    assert len(lines) == 1, lines
    return lines[0].rsplit("](", 1)[1].removesuffix(")")


def test_readme_badge_matches_the_binder_repo_setting() -> None:
    repo = badge.read_setting((REPO_ROOT / "binder" / "README.md").read_text())
    assert _readme_badge_url() == badge.badge_url(repo)
    assert badge.main(["--check"]) == 0


def test_readme_badge_is_a_mybinder_launch_link_to_an_existing_notebook() -> None:
    url = urlsplit(_readme_badge_url())
    assert (url.scheme, url.netloc) == ("https", "mybinder.org")
    prefix, provider, owner, name, ref = url.path.lstrip("/").split("/")
    assert (prefix, provider, ref) == ("v2", "gh", "HEAD")
    assert badge.check_repo(f"{owner}/{name}") == f"{owner}/{name}"
    (lab_path,) = parse_qs(url.query, strict_parsing=True)["labpath"]
    assert (REPO_ROOT / lab_path).is_file(), lab_path


@pytest.fixture
def checkout(tmp_path: Path) -> Path:
    (tmp_path / "binder").mkdir()
    shutil.copy(REPO_ROOT / "README.md", tmp_path / "README.md")
    shutil.copy(REPO_ROOT / "binder" / "README.md", tmp_path / "binder" / "README.md")
    return tmp_path


def test_set_rewrites_the_setting_and_only_the_badge_line(checkout: Path) -> None:
    before = (checkout / "README.md").read_text().splitlines()
    assert badge.main(["--root", str(checkout), "--set", "acme-labs/py.icechunk"]) == 0
    after = (checkout / "README.md").read_text().splitlines()
    changed = [(old, new) for old, new in zip(before, after, strict=True) if old != new]
    expected = badge.badge_line("acme-labs/py.icechunk")
    assert [new for _, new in changed] == ([] if expected in before else [expected])
    setting = (checkout / "binder" / "README.md").read_text()
    assert badge.read_setting(setting) == "acme-labs/py.icechunk"
    assert badge.main(["--root", str(checkout), "--check"]) == 0


def test_check_fails_when_the_badge_is_edited_by_hand(checkout: Path) -> None:
    readme = checkout / "README.md"
    readme.write_text(readme.read_text().replace("/v2/gh/", "/v2/gh/x", 1))
    assert badge.main(["--root", str(checkout), "--check"]) == 1


@pytest.mark.parametrize("bad", ["<org>/pyicechunk", "owner", "-owner/name", "o/n/x", "o/n.git",
                                 "o/", "owner name/x"])
def test_malformed_repositories_are_refused(bad: str, checkout: Path) -> None:
    with pytest.raises(ValueError, match="not a GitHub owner/name"):
        badge.badge_url(bad)
    assert badge.main(["--root", str(checkout), f"--set={bad}"]) == 2


@pytest.mark.parametrize("remote", [
    "https://github.com/acme/pyicechunk.git", "https://github.com/acme/pyicechunk",
    "git@github.com:acme/pyicechunk.git", "ssh://git@github.com/acme/pyicechunk.git",
])
def test_github_remotes_give_owner_and_name(remote: str) -> None:
    assert badge.repo_from_remote(remote + "\n") == "acme/pyicechunk"


@pytest.mark.parametrize("remote", ["https://gitlab.com/acme/pyicechunk.git",
                                    "/srv/git/pyicechunk.git"])
def test_other_remotes_are_refused(remote: str) -> None:
    with pytest.raises(ValueError, match="not a GitHub remote"):
        badge.repo_from_remote(remote)


def test_from_git_remote_without_a_remote_says_so(checkout: Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    assert badge.main(["--root", str(checkout), "--from-git-remote"]) == 2
    assert "no git remote 'origin'" in capsys.readouterr().err
