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

BASE = {"errors", "config", "version"}
BELOW_CATALOG = BASE | {
    "transport", "tables", "dandi", "archives", "nwb", "morphology", "transcriptomes", "features", "access", "drivers"
}
ALLOWED = {
    "errors": set(),
    "config": {"errors"},
    "version": set(),
    "transport": {"errors", "config"},
    "tables": {"transport", "errors", "config"},
    "dandi": {"tables", "transport", "errors", "config"},
    "archives": {"tables", "transport", "errors", "config"},
    "nwb": {"errors"},
    "morphology": {"errors"},
    "transcriptomes": {"errors"},
    "features": {"nwb", "errors"},
    "access": {
        "nwb", "morphology", "transcriptomes", "features", "dandi", "archives", "tables", "transport", "errors", "config"
    },
    "drivers": {
        "access", "nwb", "morphology", "transcriptomes", "features", "dandi", "archives", "tables", "transport"
    } | BASE,
    "catalog": {"tables"} | BASE,
    "entrypoint": {"catalog"},
    "testing": {"catalog"} | BELOW_CATALOG,
    "gui": {"catalog", "testing"} | BELOW_CATALOG,
    "cli": {"catalog", "entrypoint", "testing", "gui"} | BELOW_CATALOG,
    "__init__": {"catalog", "version", "drivers"},
    "__main__": {"cli"},
}
"""What each top-level module or subpackage may import besides itself, as its docstring says: down the pipeline."""


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE).with_suffix("").parts)
    if parts[-1] == "__init__" and len(parts) > 1:
        parts.pop()
    return ".".join(parts)


MODULES = {_module_name(path): path for path in PACKAGE.rglob("*.py")}


def _resolve(base: str, name: str) -> str:
    """``from base import name``: the module ``base.name`` if there is one, else ``base`` (the root is ``__init__``)."""
    joined = f"{base}.{name}" if base else name
    if joined in MODULES:
        return joined
    return base or "__init__"


def _imports(path: Path, source: str | None = None) -> set[str]:
    """The package's modules ``path`` imports, anywhere (in functions, under ``TYPE_CHECKING`` too).

    ``source``: the text to read as if it were ``path``'s (default: the file's).
    """
    name = _module_name(path)
    package = [] if name == "__init__" else name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
    found = set()
    for node in ast.walk(ast.parse(source if source is not None else path.read_text())):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = ".".join(package[: len(package) - (node.level - 1)] + (node.module or "").split("."))
            elif node.module == "patchseq_intake" or (node.module or "").startswith("patchseq_intake."):
                base = node.module.removeprefix("patchseq_intake").lstrip(".")
            else:
                continue
            found.update(_resolve(base.strip("."), alias.name) for alias in node.names)
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name == "patchseq_intake":
                    found.add("__init__")
                elif alias.name.startswith("patchseq_intake."):
                    found.add(alias.name.removeprefix("patchseq_intake."))
    return found


def _graph() -> dict[str, set[str]]:
    graph = {}
    for name, path in MODULES.items():
        targets = set()
        for target in _imports(path):
            while target not in MODULES and "." in target:
                target = target.rpartition(".")[0]
            if target in MODULES and target != name:
                targets.add(target)
        graph[name] = targets
    return graph


def _top(module: str) -> str:
    top = module.split(".")[0]
    assert top in ALLOWED, f"module {module} is not in ALLOWED: say what its folder may import"
    return top


def test_no_module_imports_one_above_it():
    upward = [
        f"{module} imports {target}"
        for module, targets in _graph().items()
        for target in targets
        if _top(target) != _top(module) and _top(target) not in ALLOWED[_top(module)]
    ]
    assert upward == []


def test_the_rules_allow_only_downward_imports():
    order = list(graphlib.TopologicalSorter(ALLOWED).static_order())  # CycleError if two parts may import each other
    assert order.index("transport") < order.index("access") < order.index("drivers") < order.index("cli")


def test_there_is_no_import_cycle():
    graphlib.TopologicalSorter(_graph()).prepare()  # CycleError names the cycle


def test_no_module_imports_by_a_name_in_a_string():
    dynamic = [
        f"{name}: line {node.lineno}"
        for name, path in MODULES.items()
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, ast.Call)
        and (getattr(node.func, "attr", None) == "import_module" or getattr(node.func, "id", None) == "__import__")
    ]
    assert dynamic == []  # such imports would escape the checks above


@pytest.mark.parametrize("form, target", [
    ("from patchseq_intake import gui", "gui"),
    ("import patchseq_intake", "__init__"),
    ("import patchseq_intake.cli as c", "cli"),
    ("from ..gui import browser_app", "gui.browser_app"),
    ("from .. import cli", "cli"),
    ("from ..nwb import sweep_table", "nwb.sweep_table"),
])
def test_the_checks_see_every_form_of_import(form, target):
    probe = PACKAGE / "transport" / "atomic.py"
    late = probe.read_text() + f"\n\ndef _late():\n    {form}\n"  # an import inside a function
    assert target in _imports(probe, late) - _imports(probe)


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
    from patchseq_intake.testing import dandi, labnotebook, mies, nwb, physiology, server, tables, traces, world

    assert patchseq_intake.__version__ == "0.1.0" and Path(CATALOG).name == "patchseq.yaml"
    assert callable(open_catalog) and callable(main) and ArchiveCatalog.name == "patchseq_archive"
    testing = (dandi, labnotebook, mies, nwb, physiology, server, tables, traces, world)
    assert all(module.__doc__ for module in testing)
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
        "patchseq_release_files": "ReleaseFilesSource",
        "patchseq_morphology": "MorphologySource",
        "patchseq_transcriptomics": "TranscriptomicsSource",
        "patchseq_features": "FeaturesSource",
        "patchseq_sessions": "SessionsSource",
    }
    (catalogs,) = [e for e in entry_points(group="intake.catalogs") if e.name == "patchseq"]
    assert catalogs.value == "patchseq_intake.entrypoint:patchseq"


def test_importing_the_package_stays_light():
    import subprocess
    import sys

    code = "import sys, patchseq_intake; print(sorted(m for m in ('pandas', 'pyarrow', 'h5py') if m in sys.modules))"
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert loaded.strip() == "[]"  # the catalog class, its path and the version: no table or HDF5 library
