"""Release tables in the cache: fetched once, verified, normalised, stored as parquet.

The first use of a table downloads its CSV (from upstream, or from
``PATCHSEQ_INTAKE_TABLES``, a mirror's base URL or a local directory) and
checks it against the SHA-256 the catalog pins, wherever it came from: a
mirror of the release holds the release's bytes. Bytes that differ are a
``ChecksumError`` and nothing is cached. The CSV is then normalised (see
``schema``) and written atomically as parquet under ``<cache>/tables/``,
recorded with the parquet's own SHA-256 (see ``transport.verified``).

Later uses find the parquet file, check its stamp (one ``stat``; its bytes
are hashed again only if the stamp changed) and touch no network at all. A
parquet file that is not what was written (bytes changed, truncated, emptied)
is never read: a ``CacheIntegrityWarning`` names it, it is removed and built
again from the CSV, fetched and verified again. A read of it that fails
(pyarrow or pandas cannot make sense of its bytes: changed in place behind
a restored modification time, which the stamp cannot see) audits it in full
(``transport.verified.read_checked``): a file that is not what was written
is removed and built again, the same way; one that is gives a
``TableFormatError`` naming it.

One's own edited tables are not the release's: with
``PATCHSEQ_INTAKE_UNPINNED_TABLES=1``, the tables from
``PATCHSEQ_INTAKE_TABLES`` are taken unverified, with a warning once per
process naming their source, and cached apart (``<name>.unpinned.<key>.parquet``):
a pinned read never finds an unpinned table in the cache, nor the other way round.
"""

from __future__ import annotations

import hashlib
import tempfile
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import urlparse

from .. import config
from ..errors import ChecksumError, FetchError, OfflineError, TableFormatError, UnpinnedTablesWarning
from .schema import SCHEMA_VERSION, TableKind

if TYPE_CHECKING:
    import pandas as pd
    import pyarrow as pa

    from .filters import Filter

T = TypeVar("T")

@dataclass(frozen=True)
class TableSpec:
    """One release table as a catalog pins it."""

    url: str
    sha256: str | None
    kind: TableKind
    archive: str

    @property
    def file_name(self) -> str:
        return PurePosixPath(urlparse(self.url).path).name

    @property
    def title(self) -> str:
        return f"the {self.archive} {self.kind} table"


@dataclass(frozen=True)
class Archive:
    """One archive's name (``human`` or ``mouse``) and its two release tables."""

    name: str
    metadata: TableSpec
    manifest: TableSpec

    @classmethod
    def from_catalog(cls, name: str, metadata_table: Mapping[str, str], manifest_table: Mapping[str, str]) -> Archive:
        """From a catalog entry's arguments: each table as ``{"url": ..., "sha256": ...}``."""
        return cls(
            name,
            TableSpec(metadata_table["url"], metadata_table.get("sha256"), "metadata", name),
            TableSpec(manifest_table["url"], manifest_table.get("sha256"), "manifest", name),
        )


@dataclass(frozen=True)
class TableQuery:
    """A query checked against a cached table: the table, its schema and its columns' pandas dtypes (by name),
    the filters and columns."""

    spec: TableSpec
    schema: pa.Schema
    dtypes: dict[str, str]
    filters: list[Filter]
    columns: list[str] | None

    def parquet_options(self) -> dict[str, Any]:
        """``filters`` and ``columns`` as pandas, Dask and intake-parquet take them."""
        options: dict[str, Any] = {}
        if self.filters:
            options["filters"] = self.filters
        if self.columns:
            options["columns"] = self.columns
        return options

    def read(self) -> pd.DataFrame:
        """The selected rows and columns."""
        import pandas as pd

        return self.reading(lambda path: pd.read_parquet(path, **self.parquet_options()))

    def reading(self, read: Callable[[Path], T]) -> T:
        """``read(path)`` of the table's parquet file, checked on every use (``read_table``): a source kept for
        long never reads a file changed since, which is rebuilt instead."""
        return read_table(self.spec, read)


def query_table(
    spec: TableSpec, filters: Sequence[Sequence[Any]] = (), columns: Sequence[str] = ()
) -> TableQuery:
    """Check ``filters`` and ``columns`` against the table (fetched on first use).

    Every catalog entry starts here, so the settings are checked here too
    (``config.check``): a bad ``PATCHSEQ_INTAKE_*`` value is refused whether
    or not the cache holds what it would have governed.
    """
    import pyarrow.parquet as pq

    config.check()

    from .filters import check_columns, check_filters

    def schema_and_dtypes(path: Path) -> tuple[pa.Schema, dict[str, str]]:
        schema = pq.read_schema(path)  # and its pandas metadata, by which every read turns the rows into pandas
        return schema, {name: str(dtype) for name, dtype in schema.empty_table().to_pandas().dtypes.items()}

    schema, dtypes = read_table(spec, schema_and_dtypes)
    types = dict(zip(schema.names, schema.types))
    return TableQuery(
        spec=spec,
        schema=schema,
        dtypes=dtypes,
        filters=check_filters(filters, types, spec.title),
        columns=check_columns(columns, types, spec.title),
    )


def table_path(spec: TableSpec) -> Path:
    """The local parquet file of ``spec``: checked if cached (see the module docstring), else fetched and built.

    ``ChecksumError`` if the CSV is not the one the catalog pins, or the
    catalog pins none; ``OfflineError`` and ``FetchError`` as for any fetch.
    """
    from ..transport.verified import verified_file

    source, sha256 = _source(spec)
    return verified_file(
        _cache_path(spec, source, sha256),
        lambda path: _build(spec, source, sha256, path),
        what=f"cached parquet of {spec.title}",
    )


def read_table(spec: TableSpec, read: Callable[[Path], T]) -> T:
    """``read(path)`` of the table's parquet file (``table_path``), which pandas, pyarrow or Dask reads.

    A read that fails with an error of the parquet format audits the file in
    full: one that is not what was written is removed with a
    ``CacheIntegrityWarning``, built again and read once more; one that is
    gives a ``TableFormatError`` naming it (see ``transport.verified.read_checked``).
    """
    import pyarrow as pa

    from ..transport.verified import read_checked

    def format_error(path: Path, exc: BaseException) -> TableFormatError:
        return TableFormatError(
            f"{path}, the cached parquet of {spec.title}, cannot be read ({type(exc).__name__}: {exc}), yet its "
            "bytes are those written and verified; run `patchseq-intake cache clear` to build it again, and "
            "report it if that does not help"
        )

    return read_checked(
        lambda: table_path(spec),
        read,
        (pa.ArrowException, LookupError, TypeError, ValueError, OSError),
        format_error,
        what=f"cached parquet of {spec.title}",
    )


_warned_unpinned: set[str] = set()
"""The unpinned table sources already warned of in this process."""


def _source(spec: TableSpec) -> tuple[str, str | None]:
    """Where to read the CSV from, and the SHA-256 it must have (None: unpinned, by the user's choice)."""
    base = config.tables_source()
    source = spec.url if base is None else f"{base.rstrip('/')}/{spec.file_name}"
    if base is not None and config.unpinned_tables():
        if base not in _warned_unpinned:
            _warned_unpinned.add(base)
            warnings.warn(
                f"the release tables from {base} are taken unverified ({config.UNPINNED_TABLES_ENV} is set): "
                "the catalog's SHA-256 pins are not checked, and they are cached apart from the release's tables",
                UnpinnedTablesWarning,
                stacklevel=2,
            )
        return source, None
    if spec.sha256 is None:
        raise ChecksumError(
            f"{spec.title} ({source}) has no SHA-256 in its catalog entry to check it against: give the table's "
            f"sha256 in the entry. {_own_tables_hint(base)}"
        )
    return source, spec.sha256.lower()


def _own_tables_hint(base: str | None) -> str:
    if base is not None:
        return f"If these are your own edited tables, set {config.UNPINNED_TABLES_ENV}=1 to take them unverified."
    return (
        f"If these are your own edited tables, set {config.TABLES_ENV} to the directory or base URL holding them "
        f"and {config.UNPINNED_TABLES_ENV}=1 to take them unverified."
    )


def _cache_path(spec: TableSpec, source: str, sha256: str | None) -> Path:
    """Pinned tables are named by their SHA-256 (the same bytes from any source), unpinned ones by their source."""
    stem = spec.file_name.removesuffix(".csv")
    if sha256 is not None:
        key = hashlib.sha256(f"pinned\n{spec.kind}\n{sha256}\n{SCHEMA_VERSION}".encode()).hexdigest()[:16]
        return config.cache_dir() / config.TABLES_DIR / f"{stem}.{key}.parquet"
    key = hashlib.sha256(f"unpinned\n{spec.kind}\n{source}\n{SCHEMA_VERSION}".encode()).hexdigest()[:16]
    return config.cache_dir() / config.TABLES_DIR / f"{stem}.unpinned.{key}.parquet"


def _build(spec: TableSpec, source: str, sha256: str | None, path: Path) -> str:
    """Fetch the CSV, check it against ``sha256`` (unless None), write ``path`` atomically; the parquet's SHA-256."""
    from ..transport.atomic import atomic_output
    from ..transport.download import fetch_file, is_remote
    from ..transport.checksums import sha256_of
    from .schema import normalise

    if is_remote(source) and config.offline():
        raise OfflineError(
            f"{spec.title} is not cached yet and {config.OFFLINE_ENV} forbids fetching it "
            f"from {source}. {_ways_out(spec)}"
        )
    with tempfile.TemporaryDirectory(dir=path.parent, prefix=f".{path.name}.", suffix=".part") as scratch:
        csv_path = Path(scratch) / spec.file_name
        try:
            found = fetch_file(source, csv_path, label=spec.file_name)
        except FetchError as exc:
            raise FetchError(f"could not fetch {spec.title}: {exc}. {_ways_out(spec)}") from exc
        if sha256 is not None and found != sha256:
            raise ChecksumError(
                f"{spec.title} ({spec.file_name}) from {source} is not the one the catalog pins: SHA-256 expected "
                f"{sha256} (the catalog's pin), found {found}; nothing was cached. {_own_tables_hint(config.tables_source())}"
            )
        table = normalise(csv_path.read_bytes(), spec.kind, source)
    with atomic_output(path) as parquet_path:
        table.to_parquet(parquet_path, index=False)
        return sha256_of(parquet_path)


def _ways_out(spec: TableSpec) -> str:
    return (
        f"Either set {config.TABLES_ENV} to a directory or base URL that holds "
        f"{spec.file_name}, or retry with network access "
        f"(and {config.OFFLINE_ENV} unset)."
    )
