"""Dependencies between the package's layers flow one way (docs/design/000-architecture.md).

format (pure data + codecs) <- storage (bytes) <- asset manager / refs <- session, repository,
conflicts, ops <- store <- dask, xarray, distributed <- icechunk_widgets (public API only).

The test reads the source with ``ast`` (nothing is imported) and checks every import of a
package module against the layer table below. Imports made only for type checking are free;
an import inside a function that reaches a higher layer must be listed in ``LAZY_UPWARD``
with the reason it is needed, so a new upward dependency fails here until someone decides.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("icechunk", "icechunk_widgets")

# Ordered lowest first; a module belongs to the layer with its longest matching prefix.
LAYERS: list[tuple[str, tuple[str, ...]]] = [
    # Shared by every layer: errors, configs and credentials are plain values (_pickling keeps
    # them out of bare pickles), _logs sets up logging, _html renders values to HTML (it
    # imports the core classes for typing only).
    (
        "foundation",
        (
            "icechunk.errors",
            "icechunk._html",
            "icechunk._sync",
            "icechunk.versions",
            "icechunk._config_",
            "icechunk.config",
            "icechunk._credential_types",
            "icechunk.credentials",
            "icechunk._logs",
            "icechunk._pickling",
        ),
    ),
    ("format", ("icechunk.format",)),
    ("storage", ("icechunk.storage",)),
    (
        "assets",
        (
            "icechunk.asset_manager",
            "icechunk.refs",
            "icechunk._admin_core",
            "icechunk.changeset",
        ),
    ),
    # The engine core: every icechunk module not named by a longer prefix (sessions,
    # repository, conflicts, ops, maintenance, virtual chunks).
    ("core", ("icechunk.",)),
    ("store", ("icechunk.store", "icechunk._store_")),
    ("integrations", ("icechunk.dask", "icechunk.xarray", "icechunk.distributed")),
    ("package", ("icechunk.testing", "icechunk._icechunk_python")),
    ("widgets", ("icechunk_widgets",)),
]
PACKAGE_INIT = "icechunk"  # the public namespace re-exports every layer: it sits on top

# Function-level imports that reach up a layer, each with why it cannot be avoided.
LAZY_UPWARD: dict[tuple[str, str], str] = {
    ("icechunk.session", "icechunk.store"): (
        "Session.store builds the zarr Store view over the session (the real API's shape)"
    ),
}

# icechunk_widgets uses the public API; _html is the shared display toolkit (pure functions
# from values to HTML) so the widgets' static fallbacks look like the core objects' reprs.
WIDGET_PRIVATE_ALLOWED = {"icechunk._html"}


@dataclass(frozen=True)
class Import:
    module: str
    target: str
    line: int
    in_function: bool
    type_only: bool


def layer_of(module: str) -> int:
    if module == PACKAGE_INIT:
        return next(i for i, (name, _) in enumerate(LAYERS) if name == "package")
    matches = [
        (len(prefix), index)
        for index, (_, prefixes) in enumerate(LAYERS)
        for prefix in prefixes
        if _under(module, prefix)
    ]
    assert matches, f"{module} is in no layer: add it to LAYERS"
    return max(matches)[1]


def _under(module: str, prefix: str) -> bool:
    """``icechunk.storage.s3`` is under ``icechunk.storage``; ``icechunk._config_`` and
    ``icechunk.`` name families of modules by their start."""
    if prefix.endswith(("_", ".")):
        return module.startswith(prefix)
    return module == prefix or module.startswith(prefix + ".")


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def all_modules() -> dict[str, Path]:
    found: dict[str, Path] = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            found[module_name(path)] = path
    return found


MODULES = all_modules()


def _resolve(module: str, path: Path, node: ast.ImportFrom) -> str:
    if not node.level:
        return node.module or ""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    base = package.split(".")[: len(package.split(".")) - (node.level - 1)]
    return ".".join([*base, *([node.module] if node.module else [])])


def _targets(module: str, path: Path, node: ast.Import | ast.ImportFrom) -> list[str]:
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    source = _resolve(module, path, node)
    # `from pkg import sub` depends on pkg.sub when that is a module, else on pkg itself.
    return [
        f"{source}.{alias.name}" if f"{source}.{alias.name}" in MODULES else source
        for alias in node.names
    ]


class _Collector(ast.NodeVisitor):
    def __init__(self, module: str, path: Path) -> None:
        self.module, self.path = module, path
        self.depth = 0
        self.type_only = 0
        self.found: list[Import] = []

    def _function(self, node: ast.AST) -> None:
        self.depth += 1
        self.generic_visit(node)
        self.depth -= 1

    visit_FunctionDef = visit_AsyncFunctionDef = visit_Lambda = _function

    def visit_If(self, node: ast.If) -> None:
        test = ast.unparse(node.test)
        if test in {"TYPE_CHECKING", "typing.TYPE_CHECKING"}:
            self.type_only += 1
            for child in node.body:
                self.visit(child)
            self.type_only -= 1
            for child in node.orelse:
                self.visit(child)
        else:
            self.generic_visit(node)

    def _import(self, node: ast.Import | ast.ImportFrom) -> None:
        for target in _targets(self.module, self.path, node):
            if target.split(".")[0] in PACKAGES:
                self.found.append(
                    Import(self.module, target, node.lineno, self.depth > 0, self.type_only > 0)
                )

    visit_Import = visit_ImportFrom = _import


def imports_of(module: str) -> list[Import]:
    path = MODULES[module]
    collector = _Collector(module, path)
    collector.visit(ast.parse(path.read_text(encoding="utf-8"), str(path)))
    return collector.found


def _known(target: str) -> str:
    """The package module an import names (``a.b.Name`` -> ``a.b``)."""
    while target not in MODULES and "." in target:
        target = target.rpartition(".")[0]
    return target


def upward_imports(module: str) -> list[tuple[Import, str]]:
    """Runtime imports of ``module`` that reach a higher layer, with that layer's name."""
    here = layer_of(module)
    result = []
    for imp in imports_of(module):
        target = _known(imp.target)
        if imp.type_only or target == module:
            continue
        if layer_of(target) > here:
            result.append((imp, LAYERS[layer_of(target)][0]))
    return result


@pytest.mark.parametrize("module", sorted(m for m in MODULES if m != PACKAGE_INIT))
def test_imports_flow_down_the_layers(module: str) -> None:
    problems = []
    for imp, layer in upward_imports(module):
        key = (module, _known(imp.target))
        if imp.in_function and key in LAZY_UPWARD:
            continue
        where = "inside a function" if imp.in_function else "at module level"
        problems.append(f"line {imp.line}: imports {imp.target} ({layer} layer) {where}")
    assert not problems, f"{module} ({LAYERS[layer_of(module)][0]} layer):\n" + "\n".join(problems)


def test_every_allowed_upward_import_still_exists() -> None:
    # An allowance nobody needs any more must go, or it would hide a later regression.
    seen = {
        (module, _known(imp.target))
        for module in MODULES
        for imp, _ in upward_imports(module)
        if imp.in_function
    }
    assert set(LAZY_UPWARD) <= seen, sorted(set(LAZY_UPWARD) - seen)


@pytest.mark.parametrize("module", sorted(m for m in MODULES if m.startswith("icechunk_widgets")))
def test_widgets_use_only_the_public_api(module: str) -> None:
    private = sorted(
        {
            _known(imp.target)
            for imp in imports_of(module)
            if imp.target.startswith("icechunk.")
            and not imp.type_only
            and any(part.startswith("_") for part in _known(imp.target).split(".")[1:])
            and _known(imp.target) not in WIDGET_PRIVATE_ALLOWED
        }
    )
    assert not private, f"{module} reaches into engine internals: {private}"


def test_the_checker_sees_a_violation() -> None:
    # The check itself must be able to fail: a format module importing storage is upward.
    assert layer_of("icechunk.format.manifest") < layer_of("icechunk.storage.base")
    assert layer_of("icechunk.store") > layer_of("icechunk.session")
    assert layer_of("icechunk.dask") > layer_of("icechunk.store")
    tree = ast.parse("from icechunk.storage.base import Storage\n")
    collector = _Collector("icechunk.format.manifest", MODULES["icechunk.format.manifest"])
    collector.visit(tree)
    [imp] = collector.found
    assert not imp.in_function and not imp.type_only
    assert layer_of(_known(imp.target)) > layer_of(imp.module)
