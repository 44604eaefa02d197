"""The shipped catalogs; the catalog class that lets an entry be called ``metadata``; entries that take values.

Intake catalogs keep their own metadata in the attribute ``metadata``, which
hides an entry of that name: ``cat.human.metadata`` would be a dict, not the
cell table. ``ArchiveCatalog`` solves this in one place. Its ``metadata``
attribute is a ``CatalogMetadata``: a real dict holding the catalog's metadata,
so everything intake reads from it (``describe``, ``serialize``, the GUI) is
unchanged, that also stands for the entry named ``metadata``: calling it or
asking it for anything a dict does not have (``read``, ``to_dask``,
``discover``...) goes to the entry.

Its entries are ``ValueEntry``s: a user's parameters reach the driver as the
values given, not through intake's templates (see ``ValueEntry``).

``open_catalog()`` gives the root catalog as a ``PatchseqCatalog``; it and
each archive's catalog answer a name they do not hold (``cat.rat``,
``cat["rat"]``, ``cat.human.ephsy``) with an ``UnknownEntryError`` naming
the entries they do hold (``human``, ``mouse``).
"""

from __future__ import annotations

import re
import warnings
from typing import Any

import yaml
from intake.catalog.local import LocalCatalogEntry, UserParameter, YAMLFileCatalog

from .errors import InvalidQueryError, UnknownEntryError, brief
from .tables.shipped import catalog_dir, shipped_dandisets

ENTRY_NAME = "metadata"
CATALOG = str(catalog_dir() / "patchseq.yaml")
"""Path of the root catalog, for ``intake.open_catalog(CATALOG)``."""

# intake 2.0 warns on every string-valued user parameter, whether or not a
# shell() default is involved; the warning says nothing about our catalogs.
warnings.filterwarnings(
    "ignore", message="Shell command not executed due to getshell=False", category=UserWarning
)


def open_catalog() -> PatchseqCatalog:
    """Open the shipped root catalog, with its ``human`` and ``mouse`` archives (a ``PatchseqCatalog``)."""
    return PatchseqCatalog(CATALOG)


class _NamingEntries(YAMLFileCatalog):
    """A catalog whose entries take values (``ValueEntry``) and whose unknown names are an ``UnknownEntryError``
    listing its entries (intake: ``KeyError: 'rat'``)."""

    _kind = ("entry", "entries")

    def parse(self, text: str) -> None:
        """Read the catalog's entries from ``text`` (see intake's ``YAMLFileCatalog.parse``), as ``ValueEntry``s."""
        super().parse(text)
        for name, entry in self._entries.items():
            taking_values = ValueEntry(**entry._captured_init_kwargs)
            taking_values._catalog, taking_values._filesystem = self, entry._filesystem
            self._entries[name] = taking_values

    def __getitem__(self, key: Any) -> Any:
        if isinstance(key, str) and "." not in key and key not in self:
            raise UnknownEntryError(self._unknown(key))
        return super().__getitem__(key)

    def __getattr__(self, name: str) -> Any:
        if not name.startswith("_") and name != "entry" and name not in self:
            raise UnknownEntryError(self._unknown(name))
        return super().__getattr__(name)

    def _unknown(self, name: str) -> str:
        one, many = self._kind
        return f"catalog {self.name!r} has no {one} {brief(name)}; its {many}: {', '.join(self)}"


class PatchseqCatalog(_NamingEntries):
    """The root catalog (``patchseq``): the 2020 archives ``human`` and ``mouse``, ``sessions`` (every recording)
    and a catalog per Allen Patch-seq dandiset since, by short name (``human_l1``) or by id (``cat["000630"]``,
    ``cat["630"]``; ``cat["000023"]`` is ``human``)."""

    _kind = ("archive or dandiset", "entries")

    def __getitem__(self, key: Any) -> Any:
        return super().__getitem__(self._named(key))

    def _named(self, key: Any) -> Any:
        """The entry a dandiset id names (``"000630"`` -> ``human_l1``); any other key as it is."""
        if isinstance(key, int) and not isinstance(key, bool):
            key = str(key)
        if isinstance(key, str) and key.strip().isdigit():
            names = {row["dandiset"]: row["name"] for row in shipped_dandisets()}
            return names.get(key.strip().zfill(6), key)
        return key

    def _unknown(self, name: str) -> str:
        if name.strip().isdigit():
            known = ", ".join(f"{row['dandiset']} ({row['name']})" for row in shipped_dandisets())
            return (f"catalog {self.name!r} has no dandiset {brief(name)}: it is not an Allen Institute Patch-seq "
                    f"dandiset the catalog knows; they are {known}")
        return f"{super()._unknown(name)} (a dandiset also by its id, e.g. cat['000636'])"


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


_TEMPLATE = re.compile(r"\{\{\s*(\w+)\s*\}\}")


def _templated_name(template: Any) -> str | None:
    """``NAME`` of an argument written ``"{{ NAME }}"``; None for anything else."""
    match = _TEMPLATE.fullmatch(template) if isinstance(template, str) else None
    return match.group(1) if match else None


class ValueEntry(LocalCatalogEntry):
    """A catalog entry whose user parameters reach its driver as the values given, never as template text.

    Intake renders each argument of an entry as a jinja template: a user
    parameter's value is written out with ``str()``, read back by the
    parameter's type, and a text value is searched for ``env(NAME)`` and
    ``shell(...)`` first (``version="env(SECRET)"`` gave the secret). A value
    that does not survive the round trip arrives as something else (``None``
    as the template's own text, ``"{{ filters }}"``).

    Here each parameter sets the argument of its name, which the catalog
    writes as ``NAME: "{{ NAME }}"`` (checked when the catalog is read: a
    ``ValueError`` names the entry otherwise). The value given is passed as
    it is; None, or none given, is the parameter's default from the YAML as
    written (a default of null: the driver's own default). A value outside
    the parameter's ``allowed`` list, or a name that is not a parameter of
    the entry, is an ``InvalidQueryError`` naming the parameters. The
    drivers check the values themselves. The entry's other arguments
    (``{{ CATALOG_DIR }}``) are rendered by intake, from the catalog alone.
    """

    def __init__(self, *, name: str, args: dict[str, Any] | None = None,
                 parameters: list[UserParameter] | None = None, **more: Any):
        args, parameters = dict(args or {}), list(parameters or [])
        for parameter in parameters:
            template = args.get(parameter.name)
            if _templated_name(template) != parameter.name:
                raise ValueError(
                    f"catalog entry {name!r}: parameter {parameter.name!r} must set the argument of its name, "
                    f"written {parameter.name}: \"{{{{ {parameter.name} }}}}\", not {template!r}"
                )
        self._parameters = {parameter.name: parameter for parameter in parameters}
        self._args_as_written = args
        rendered = {key: value for key, value in args.items() if key not in self._parameters}
        super().__init__(name=name, args=rendered, parameters=parameters, **more)

    def describe(self) -> dict[str, Any]:
        """Intake's description of the entry, with its arguments as the catalog writes them."""
        return {**super().describe(), "args": self._args_as_written}

    def _create_open_args(self, user_parameters: dict[str, Any]) -> tuple[Any, dict[str, Any]]:
        unknown = [name for name in user_parameters if name not in self._parameters]
        if unknown:
            raise InvalidQueryError(
                f"unknown parameter(s) {', '.join(map(repr, unknown))} for {self._title()}; "
                f"its parameters: {', '.join(self._parameters) or 'none'}{self._named_by(unknown)}"
            )
        plugin, open_args = super()._create_open_args({})
        for name, parameter in self._parameters.items():
            value = user_parameters.get(name)
            if name == "filters" and value is not None:  # its form checked before any table is fetched
                from .tables.filters import check_filter_shape  # pyarrow: not loaded by import patchseq_intake

                check_filter_shape(value, self._title())
            if value is None:
                value = parameter.default
            elif parameter.allowed is not None and value not in parameter.allowed:
                raise InvalidQueryError(
                    f"{name} of {self._title()} must be one of {', '.join(map(str, parameter.allowed))}, "
                    f"not {brief(value)}"
                )
            if value is not None:
                open_args[name] = value
        return plugin, open_args

    def _named_by(self, unknown: list[str]) -> str:
        """Where one id parameter was given for the other: which one names this entry's files, and why."""
        for given, taken, why in (
            ("specimen_id", "session_id", "a dandiset's recordings are named by their session (ephys_session_id)"),
            ("session_id", "specimen_id", "the 2020 archives' files are named by their cell (cell_specimen_id); "
                                          "by session: filters=[['ephys_session_id', '==', <id>]]"),
        ):
            if given in unknown and taken in self._parameters:
                return f" ({why}: use {taken})"
        return ""

    def _title(self) -> str:
        catalog = getattr(self._catalog, "name", None)
        return f"{catalog}.{self.name}" if catalog else self.name


class ArchiveCatalog(_NamingEntries):
    """The YAML catalog of one archive (human or mouse); see the module docstring."""

    name = "patchseq_archive"


    @property
    def metadata(self) -> CatalogMetadata:
        return self._metadata_with_entry

    @metadata.setter
    def metadata(self, values: dict | None) -> None:
        self._metadata_with_entry = CatalogMetadata(dict(values or {}), self)
