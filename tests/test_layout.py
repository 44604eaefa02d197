"""The package's layout: every public name where the README says, and imports that only go down the pipeline.

The import graph is read from the source with ``ast``, so imports inside
functions and under ``TYPE_CHECKING`` count as much as those at the top.
"""

from __future__ import annotations

import ast
import graphlib
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "patchseq_intake"
MAX_LINES = 500

LAYERS = [
    {"errors", "config", "version"},
    {"transport"},
    {"tables"},
    {"dandi"},
    {"nwb"},
    {"access"},
    {"sources"},
    {"catalog", "entrypoint"},
    {"testing"},
    {"gui"},
    {"cli"},
    {"__init__", "__main__"},
]
"""From the bytes up to people: a module may import its own layer's modules and those of the layers before it."""


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE).with_suffix("").parts)
    if parts[-1] == "__init__" and len(parts) > 1:
        parts.pop()
    return ".".join(parts)


def _imports(path: Path) -> set[str]:
    """The package's modules ``path`` imports, anywhere in it, as dotted names below ``patchseq_intake``."""
    name = _module_name(path)
    package = name.split(".")[:-1] if path.name != "__init__.py" else name.split(".")
    if name == "__init__":
        package = []
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.level:
            base = package[: len(package) - (node.level - 1)]
            if node.module:
                found.add(".".join(base + node.module.split(".")))
            else:
                found.update(".".join(base + [alias.name]) for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("patchseq_intake."):
            found.add(node.module.removeprefix("patchseq_intake."))
        elif isinstance(node, ast.Import):
            found.update(a.name.removeprefix("patchseq_intake.") for a in node.names if a.name.startswith("patchseq_intake."))
    return found


def _graph() -> dict[str, set[str]]:
    modules = {_module_name(path): path for path in PACKAGE.rglob("*.py")}
    graph = {}
    for name, path in modules.items():
        targets = set()
        for target in _imports(path):
            while target and target not in modules:  # ``from .x import name``: x is the module
                target = target.rpartition(".")[0]
            if target and target != name:
                targets.add(target)
        graph[name] = targets
    return graph


def _layer(module: str) -> int:
    top = module.split(".")[0]
    for rank, layer in enumerate(LAYERS):
        if top in layer:
            return rank
    raise AssertionError(f"module {module} is in no layer of LAYERS: add its folder there")


def test_no_module_imports_one_above_it():
    upward = [
        f"{module} imports {target}"
        for module, targets in _graph().items()
        for target in targets
        if _layer(target) > _layer(module)
    ]
    assert upward == []


def test_there_is_no_import_cycle():
    graphlib.TopologicalSorter(_graph()).prepare()  # CycleError names the cycle


def test_the_top_holds_a_handful_of_modules_and_none_is_long():
    top = sorted(path.name for path in PACKAGE.glob("*.py"))
    assert top == ["__init__.py", "__main__.py", "catalog.py", "config.py", "entrypoint.py", "errors.py", "version.py"]
    long = {str(p.relative_to(PACKAGE)): n for p in PACKAGE.rglob("*.py") if (n := len(p.read_text().splitlines())) > MAX_LINES}
    assert long == {}


def test_every_subpackage_says_what_it_does_and_what_it_may_import():
    for init in PACKAGE.glob("*/__init__.py"):
        doc = ast.get_docstring(ast.parse(init.read_text())) or ""
        assert len(doc) > 80, f"{init.parent.name}/__init__.py needs a docstring saying what it does"
        if init.parent.name != "testing":
            assert "import" in doc, f"{init.parent.name}/__init__.py's docstring should say what it may import"


def test_the_public_names_are_where_the_readme_says():
    import patchseq_intake
    from patchseq_intake import CATALOG, open_catalog
    from patchseq_intake.catalog import ArchiveCatalog
    from patchseq_intake.cli import main
    from patchseq_intake.testing import dandi, mies, nwb, physiology, server, tables, world

    assert patchseq_intake.__version__ == "0.1.0" and Path(CATALOG).name == "patchseq.yaml"
    assert callable(open_catalog) and callable(main) and ArchiveCatalog.name == "patchseq_archive"
    assert all(module.__doc__ for module in (dandi, mies, nwb, physiology, server, tables, world))
    pytest.importorskip("panel")
    from patchseq_intake.gui import browser, build_gui, serve

    assert callable(browser) and callable(build_gui) and callable(serve)


def test_the_driver_entry_points_keep_their_names():
    from importlib.metadata import entry_points

    drivers = {e.name: e.load() for e in entry_points(group="intake.drivers") if e.value.startswith("patchseq_intake")}
    assert {name: cls.__name__ for name, cls in drivers.items()} == {
        "patchseq_table": "ReleaseTableSource",
        "patchseq_archive": "ArchiveCatalog",
        "patchseq_nwb": "EphysSource",
        "patchseq_nwb_files": "NwbFilesSource",
    }
    (catalogs,) = [e for e in entry_points(group="intake.catalogs") if e.name == "patchseq"]
    assert catalogs.value == "patchseq_intake.entrypoint:patchseq"
