"""Binder (repo2docker) can run the notebooks: every import is pinned, postBuild installs us.

repo2docker itself needs Docker, so this checks the files it reads instead: each module the
notebooks import is in the standard library, in this project, or pinned in
binder/requirements.txt; postBuild is executable, stops on errors and installs this package.
"""

from __future__ import annotations

import ast
import os
import re
import sys
import tomllib
from importlib import metadata
from pathlib import Path

import nbformat
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

REPO_ROOT = Path(__file__).resolve().parents[2]
BINDER = REPO_ROOT / "binder"
OUR_PACKAGES = {"icechunk", "icechunk_widgets"}
# Import names whose distribution is named differently.
DISTRIBUTION = {"yaml": "pyyaml", "PIL": "pillow", "sklearn": "scikit-learn"}


def _pinned() -> dict[str, str]:
    pins = {}
    for line in (BINDER / "requirements.txt").read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            name, _, version = line.partition("==")
            assert version, f"binder/requirements.txt: pin every package exactly: {line!r}"
            pins[re.sub(r"\[.*\]", "", name).lower().replace("_", "-")] = version
    return pins


def _notebook_imports() -> set[str]:
    modules: set[str] = set()
    for path in (REPO_ROOT / "notebooks").rglob("*.ipynb"):
        for cell in nbformat.read(path, as_version=4).cells:
            if cell.cell_type != "code":
                continue
            for node in ast.walk(ast.parse(cell.source)):
                if isinstance(node, ast.Import):
                    modules |= {alias.name.split(".")[0] for alias in node.names}
                elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                    modules.add(node.module.split(".")[0])
    return modules


def test_every_notebook_import_is_pinned_for_binder() -> None:
    pins = _pinned()
    third_party = _notebook_imports() - set(sys.stdlib_module_names) - OUR_PACKAGES
    assert third_party, "no third-party imports found: the scan is broken"
    missing = sorted(
        name for name in third_party
        if DISTRIBUTION.get(name, name).lower().replace("_", "-") not in pins
    )
    assert not missing, f"add to binder/requirements.txt: {missing}"


def test_pins_satisfy_the_extras_post_build_installs() -> None:
    """postBuild's ``pip install -e .[extras]`` must not move a pin Binder was meant to run."""
    pins = {canonicalize_name(name): version for name, version in _pinned().items()}
    project = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]
    extras = re.search(r'-e "\.\[([^\]]+)\]"', (BINDER / "postBuild").read_text())
    assert extras, "postBuild must install this checkout with its extras"
    wanted = list(project["dependencies"])
    for extra in extras.group(1).split(","):
        wanted += project["optional-dependencies"][extra]
    checked = 0
    for requirement in map(Requirement, wanted):
        pinned = pins.get(canonicalize_name(requirement.name))
        if pinned is not None:
            checked += 1
            assert requirement.specifier.contains(pinned, prereleases=True), (
                f"binder/requirements.txt pins {requirement.name}=={pinned}, "
                f"pyproject.toml asks for {requirement}"
            )
    assert checked >= 10, f"only {checked} pins matched pyproject.toml: the scan is broken"


def test_pins_agree_with_each_other_where_this_interpreter_knows_them() -> None:
    """A pinned package installed here at its pinned version: its requirements on the other
    pins hold (catches e.g. a jupyterlab pin that the pinned notebook or server rejects)."""
    pins = {canonicalize_name(name): version for name, version in _pinned().items()}
    checked = 0
    for name, version in pins.items():
        try:
            if metadata.version(name) != version:
                continue
            requires = metadata.requires(name) or []
        except metadata.PackageNotFoundError:
            continue
        for requirement in map(Requirement, requires):
            other = pins.get(canonicalize_name(requirement.name))
            if other is None or (requirement.marker and not requirement.marker.evaluate()):
                continue
            checked += 1
            assert requirement.specifier.contains(other, prereleases=True), (
                f"{name}=={version} requires {requirement}, binder pins {other}"
            )
    assert checked, "no pinned package is installed here at its pinned version"


def test_runtime_pins_python_311() -> None:
    assert (BINDER / "runtime.txt").read_text().strip() == "python-3.11"


def test_post_build_installs_this_package_and_stops_on_errors() -> None:
    post_build = BINDER / "postBuild"
    text = post_build.read_text()
    assert text.startswith("#!/bin/bash")
    assert "set -euo pipefail" in text
    assert re.search(r"pip install .*-e \"?\.\[", text), "postBuild must install this checkout"
    assert os.access(post_build, os.X_OK), "repo2docker runs postBuild only if it is executable"
