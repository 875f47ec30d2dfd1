"""Keep README.md's Binder badge in step with the one line that names the GitHub repository.

The GitHub repository Binder builds from is written once, on the ``BINDER_REPO=owner/name``
line of binder/README.md; the badge at the top of README.md is generated from it.

usage:
  python scripts/binder_badge.py                    rewrite the README badge from BINDER_REPO
  python scripts/binder_badge.py --check            exit 1 when the badge does not match it
  python scripts/binder_badge.py --set OWNER/NAME   set BINDER_REPO, then rewrite the badge
  python scripts/binder_badge.py --from-git-remote  the same, with the GitHub owner/name of
                                                    `git remote get-url origin`
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
from pathlib import Path
from urllib.parse import quote

ROOT = Path(__file__).resolve().parents[1]
SETTING_FILE = Path("binder") / "README.md"
LAB_PATH = "notebooks/01_quickstart.ipynb"
SETTING = re.compile(r"^BINDER_REPO=(.*)$", re.MULTILINE)
# GitHub: owner is 1-39 letters, digits or inner hyphens; a repository name adds . and _.
GITHUB_REPO = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,37}[A-Za-z0-9])?/[A-Za-z0-9._-]{1,100}")
BADGE = re.compile(r"^\[!\[Binder\]\(https://mybinder\.org/badge_logo\.svg\)\]\(.*\)$",
                   re.MULTILINE)
REMOTE = re.compile(
    r"^(?:https://github\.com/|git@github\.com:|ssh://git@github\.com/)"
    r"(?P<repo>[^/]+/[^/]+?)(?:\.git)?/?$"
)


def check_repo(repo: str) -> str:
    """Return ``repo`` if it is a GitHub ``owner/name``; raise ValueError otherwise."""
    if not GITHUB_REPO.fullmatch(repo) or repo.endswith((".", ".git")):
        raise ValueError(f"not a GitHub owner/name: {repo!r}")
    return repo


def badge_url(repo: str) -> str:
    """The mybinder.org launch URL for ``repo``'s default branch, opened at the quickstart."""
    return f"https://mybinder.org/v2/gh/{check_repo(repo)}/HEAD?labpath={quote(LAB_PATH, safe='')}"


def badge_line(repo: str) -> str:
    """The Markdown badge line for ``repo``."""
    return f"[![Binder](https://mybinder.org/badge_logo.svg)]({badge_url(repo)})"


def read_setting(text: str) -> str:
    """The ``BINDER_REPO`` value of binder/README.md's text (exactly one such line)."""
    values = SETTING.findall(text)
    if len(values) != 1:
        raise ValueError(f"{SETTING_FILE} needs exactly one BINDER_REPO= line, found {len(values)}")
    return check_repo(values[0].strip())


def write_setting(text: str, repo: str) -> str:
    """binder/README.md's text with its ``BINDER_REPO`` line set to ``repo``."""
    read_setting(text)
    return SETTING.sub(f"BINDER_REPO={check_repo(repo)}", text)


def rewrite_badge(readme: str, repo: str) -> str:
    """README.md's text with its one Binder badge line pointing at ``repo``."""
    if len(BADGE.findall(readme)) != 1:
        raise ValueError("README.md needs exactly one Binder badge line")
    return BADGE.sub(lambda _: badge_line(repo), readme)


def repo_from_remote(url: str) -> str:
    """The GitHub ``owner/name`` of a git remote URL; ValueError if it is not on GitHub."""
    match = REMOTE.match(url.strip())
    if not match:
        raise ValueError(f"not a GitHub remote: {url.strip()!r}")
    return check_repo(match.group("repo"))


def _origin(root: Path) -> str:
    result = subprocess.run(["git", "remote", "get-url", "origin"], cwd=root,
                            capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise ValueError("this checkout has no git remote 'origin': pass --set OWNER/NAME")
    return result.stdout


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    action = parser.add_mutually_exclusive_group()
    action.add_argument("--check", action="store_true", help="only compare; exit 1 if stale")
    action.add_argument("--set", metavar="OWNER/NAME", help="set BINDER_REPO first")
    action.add_argument("--from-git-remote", action="store_true",
                        help="set BINDER_REPO from the GitHub remote 'origin' first")
    parser.add_argument("--root", type=Path, default=ROOT, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    setting_path, readme_path = args.root / SETTING_FILE, args.root / "README.md"
    try:
        setting = setting_path.read_text()
        new_repo = repo_from_remote(_origin(args.root)) if args.from_git_remote else args.set
        if new_repo:
            setting_path.write_text(write_setting(setting, new_repo))
            setting = setting_path.read_text()
        readme = readme_path.read_text()
        expected = rewrite_badge(readme, read_setting(setting))
    except ValueError as error:
        print(f"binder_badge: {error}", file=sys.stderr)
        return 2
    if args.check:
        if expected != readme:
            print("README.md's Binder badge does not match BINDER_REPO in binder/README.md: "
                  "run `make binder-badge`", file=sys.stderr)
            return 1
        return 0
    readme_path.write_text(expected)
    print(f"README.md Binder badge -> {badge_url(read_setting(setting))}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
