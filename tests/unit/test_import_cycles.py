"""The provider's modules import each other in one direction: no cycle, not even behind a function-level import.

The imports are read from the source with :mod:`ast`, so the test sees every module of the package as it
is on disk, whatever its role, and an import inside a function counts as much as one at the top: it only
postpones the cycle to the first call. Imports under ``if TYPE_CHECKING:`` never run and are left out.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import airflow_dask_provider

PACKAGE = Path(airflow_dask_provider.__file__).parent


def module_files(package: Path) -> dict[str, Path]:
    """Return every module of ``package`` by dotted name (a subpackage by its own name, for its ``__init__``)."""
    modules = {}
    for path in sorted(package.rglob("*.py")):
        parts = list(path.relative_to(package.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        modules[".".join(parts)] = path
    return modules


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _import_nodes(tree: ast.AST) -> list[ast.Import | ast.ImportFrom]:
    """Return the import statements anywhere in ``tree`` except the bodies of ``if TYPE_CHECKING:``."""
    found: list[ast.Import | ast.ImportFrom] = []

    def visit(node: ast.AST) -> None:
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            found.append(node)
        for child in ast.iter_child_nodes(node):
            if isinstance(node, ast.If) and _is_type_checking(node) and child in node.body:
                continue
            visit(child)

    visit(tree)
    return found


def imported_modules(name: str, path: Path, modules: dict[str, Path]) -> set[str]:
    """Return the package's modules that module ``name`` imports, at any depth of its code."""

    def known(dotted: str) -> str | None:
        """The module itself, else the closest package that holds it (a name imported from its ``__init__``)."""
        while dotted and dotted not in modules:
            dotted = dotted.rpartition(".")[0]
        return dotted or None

    root = name.split(".")[0]
    here = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
    targets: set[str | None] = set()
    for node in _import_nodes(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            targets.update(known(alias.name) for alias in node.names if alias.name.split(".")[0] == root)
            continue
        if node.level:
            base = here[: len(here) - node.level + 1]
            source = ".".join([*base, node.module] if node.module else base)
        else:
            source = node.module or ""
        if source.split(".")[0] != root:
            continue
        for alias in node.names:
            submodule = f"{source}.{alias.name}"
            targets.add(submodule if submodule in modules else known(source))
    return {target for target in targets if target is not None and target != name}


def import_graph(package: Path) -> dict[str, set[str]]:
    """Return, for every module of ``package``, the modules of the package it imports."""
    modules = module_files(package)
    return {name: imported_modules(name, path, modules) for name, path in modules.items()}


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """Return one import cycle as the modules along it, the first repeated at the end; None if there is none."""
    done: set[str] = set()
    path: list[str] = []
    on_path: set[str] = set()

    def visit(module: str) -> list[str] | None:
        path.append(module)
        on_path.add(module)
        for target in sorted(graph.get(module, ())):
            if target in on_path:
                return [*path[path.index(target) :], target]
            if target not in done:
                cycle = visit(target)
                if cycle:
                    return cycle
        path.pop()
        on_path.discard(module)
        done.add(module)
        return None

    for module in sorted(graph):
        if module not in done:
            cycle = visit(module)
            if cycle:
                return cycle
    return None


def test_the_provider_has_no_import_cycle():
    graph = import_graph(PACKAGE)
    assert "airflow_dask_provider.validation" in graph  # the walk sees the package

    cycle = find_cycle(graph)

    assert cycle is None, "Import cycle: " + " -> ".join(cycle or [])


def write_package(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root / "pkg"


def test_a_function_level_import_that_closes_a_cycle_is_found(tmp_path):
    package = write_package(
        tmp_path,
        {
            "pkg/__init__.py": "",
            "pkg/spec.py": "from pkg.settings import read\n",
            "pkg/settings.py": "def read():\n    from pkg import spec\n    return spec\n",
        },
    )

    assert find_cycle(import_graph(package)) == ["pkg.settings", "pkg.spec", "pkg.settings"]


def test_relative_imports_and_submodules_imported_from_a_package_are_followed(tmp_path):
    package = write_package(
        tmp_path,
        {
            "pkg/__init__.py": "",
            "pkg/hooks/__init__.py": "",
            "pkg/hooks/one.py": "from .. import config\n",
            "pkg/config.py": "def hook():\n    from pkg.hooks import one\n",
        },
    )

    assert find_cycle(import_graph(package)) == ["pkg.config", "pkg.hooks.one", "pkg.config"]


@pytest.mark.parametrize("guard", ["TYPE_CHECKING", "typing.TYPE_CHECKING"])
def test_imports_for_type_hints_only_are_no_cycle(tmp_path, guard):
    package = write_package(
        tmp_path,
        {
            "pkg/__init__.py": "",
            "pkg/spec.py": "import typing\nfrom typing import TYPE_CHECKING\nfrom pkg import settings\n",
            "pkg/settings.py": (
                f"import typing\nfrom typing import TYPE_CHECKING\nif {guard}:\n    from pkg import spec\n"
            ),
        },
    )

    assert find_cycle(import_graph(package)) is None
