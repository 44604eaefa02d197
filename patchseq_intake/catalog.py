"""The shipped catalogs, and the catalog class that lets an entry be called ``metadata``.

Intake catalogs keep their own metadata in the attribute ``metadata``, which
hides an entry of that name: ``cat.human.metadata`` would be a dict, not the
cell table. ``ArchiveCatalog`` solves this in one place. Its ``metadata``
attribute is a ``CatalogMetadata``: a real dict holding the catalog's metadata,
so everything intake reads from it (``describe``, ``serialize``, the GUI) is
unchanged, that also stands for the entry named ``metadata``: calling it or
asking it for anything a dict does not have (``read``, ``to_dask``,
``discover``...) goes to the entry.
"""

from __future__ import annotations

import warnings
from typing import Any

import yaml
from intake.catalog.local import YAMLFileCatalog

from .tables.shipped import catalog_dir

ENTRY_NAME = "metadata"
CATALOG = str(catalog_dir() / "patchseq.yaml")
"""Path of the root catalog, for ``intake.open_catalog(CATALOG)``."""

# intake 2.0 warns on every string-valued user parameter, whether or not a
# shell() default is involved; the warning says nothing about our catalogs.
warnings.filterwarnings(
    "ignore", message="Shell command not executed due to getshell=False", category=UserWarning
)


def open_catalog() -> YAMLFileCatalog:
    """Open the shipped root catalog, with its ``human`` and ``mouse`` archives."""
    import intake

    return intake.open_catalog(CATALOG)


class CatalogMetadata(dict):
    """A catalog's metadata dict that also answers for the catalog's ``metadata`` entry."""

    def __init__(self, values: dict, catalog: YAMLFileCatalog):
        super().__init__(values)
        self._catalog = catalog

    def _entry(self):
        if ENTRY_NAME not in self._catalog:
            raise AttributeError(f"catalog {self._catalog.name!r} has no entry {ENTRY_NAME!r}")
        return self._catalog[ENTRY_NAME]

    def __call__(self, **parameters: Any):
        """The entry, with user parameters: ``cat.human.metadata(filters=...)``."""
        return self._entry()(**parameters)

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__") or name == "_catalog":
            raise AttributeError(name)
        return getattr(self._entry(), name)

    def __dir__(self) -> list[str]:
        try:
            entry_names = dir(self._entry())
        except AttributeError:
            entry_names = []
        return sorted(set(super().__dir__()) | set(entry_names))

    def __reduce__(self):
        return dict, (dict(self),)


def _represent_as_dict(dumper: yaml.BaseDumper, data: CatalogMetadata) -> yaml.Node:
    return dumper.represent_dict(dict(data))


for _dumper in (yaml.Dumper, yaml.SafeDumper):
    yaml.add_representer(CatalogMetadata, _represent_as_dict, Dumper=_dumper)


class ArchiveCatalog(YAMLFileCatalog):
    """The YAML catalog of one archive (human or mouse); see the module docstring."""

    name = "patchseq_archive"

    @property
    def metadata(self) -> CatalogMetadata:
        return self._metadata_with_entry

    @metadata.setter
    def metadata(self, values: dict | None) -> None:
        self._metadata_with_entry = CatalogMetadata(dict(values or {}), self)
