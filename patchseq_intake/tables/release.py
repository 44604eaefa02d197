"""Release tables in the cache: fetched once, verified, normalised, stored as parquet.

The first use of a table downloads its CSV (from upstream, or from
``PATCHSEQ_INTAKE_TABLES``), checks the pinned SHA-256, normalises it (see
``schema``) and writes it atomically as parquet under ``<cache>/tables/``.
Later uses find the parquet file and touch no network at all.
"""

from __future__ import annotations

import hashlib
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any
from urllib.parse import urlparse

from .. import config
from ..errors import FetchError, OfflineError
from .schema import SCHEMA_VERSION, TableKind

if TYPE_CHECKING:
    import pandas as pd
    import pyarrow as pa

    from .filters import Filter


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
    """A query checked against a cached table: where it is, its schema, the filters and columns."""

    path: Path
    schema: pa.Schema
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

        return pd.read_parquet(self.path, **self.parquet_options())


def query_table(
    spec: TableSpec, filters: Sequence[Sequence[Any]] = (), columns: Sequence[str] = ()
) -> TableQuery:
    """Check ``filters`` and ``columns`` against the table (fetched on first use)."""
    import pyarrow.parquet as pq

    from .filters import check_columns, check_filters

    path = table_path(spec)
    schema = pq.read_schema(path)
    types = dict(zip(schema.names, schema.types))
    return TableQuery(
        path=path,
        schema=schema,
        filters=check_filters(filters, types, spec.title),
        columns=check_columns(columns, types, spec.title),
    )


def table_path(spec: TableSpec) -> Path:
    """The local parquet file of ``spec``, fetched and normalised on first use."""
    from ..transport.cache import cached_file

    source, sha256 = _source(spec)
    return cached_file(_cache_path(spec, source, sha256), lambda path: _build(spec, source, sha256, path))


def _source(spec: TableSpec) -> tuple[str, str | None]:
    """Where to read the CSV from, and the digest it must have (None: unpinned)."""
    base = config.tables_source()
    if base is None:
        return spec.url, spec.sha256
    return f"{base.rstrip('/')}/{spec.file_name}", None


def _cache_path(spec: TableSpec, source: str, sha256: str | None) -> Path:
    key = hashlib.sha256(f"{source}\n{sha256}\n{SCHEMA_VERSION}".encode()).hexdigest()[:16]
    stem = spec.file_name.removesuffix(".csv")
    return config.cache_dir() / config.TABLES_DIR / f"{stem}.{key}.parquet"


def _build(spec: TableSpec, source: str, sha256: str | None, path: Path) -> None:
    from ..transport.atomic import atomic_output
    from ..transport.checksums import Checksum
    from ..transport.download import fetch_file, is_remote
    from .schema import normalise

    if is_remote(source) and config.offline():
        raise OfflineError(
            f"{spec.title} is not cached yet and {config.OFFLINE_ENV} forbids fetching it "
            f"from {source}. {_ways_out(spec)}"
        )
    with tempfile.TemporaryDirectory(dir=path.parent, prefix=f".{path.name}.", suffix=".part") as scratch:
        csv_path = Path(scratch) / spec.file_name
        try:
            pinned = Checksum.sha256(sha256) if sha256 else None
            fetch_file(source, csv_path, checksum=pinned, label=spec.file_name)
        except FetchError as exc:
            raise FetchError(f"could not fetch {spec.title}: {exc}. {_ways_out(spec)}") from exc
        table = normalise(csv_path.read_bytes(), spec.kind, source)
    with atomic_output(path) as parquet_path:
        table.to_parquet(parquet_path, index=False)


def _ways_out(spec: TableSpec) -> str:
    return (
        f"Either set {config.TABLES_ENV} to a directory or base URL that holds "
        f"{spec.file_name}, or retry with network access "
        f"(and {config.OFFLINE_ENV} unset)."
    )
