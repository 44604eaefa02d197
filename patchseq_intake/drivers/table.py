"""The intake driver for a release table: metadata or file manifest of one archive."""

from __future__ import annotations

from collections.abc import Sequence
from functools import cached_property
from pathlib import Path
from typing import Any

from intake.source.base import DataSource, Schema

from ..errors import InvalidQueryError
from ..tables.release import TableQuery, TableSpec, query_table
from ..tables.schema import TABLE_KINDS, TableKind
from ..version import __version__
from .parameters import PlainParameters, plain, untemplated

ALL_TECHNIQUES = "all"
TECHNIQUES = (ALL_TECHNIQUES, "intracellular_electrophysiology", "morphology", "transcriptomics")


class ReleaseTableSource(PlainParameters, DataSource):
    """A Patch-seq release table, as a pandas or Dask DataFrame.

    Parameters
    ----------
    url, sha256:
        Where the table's CSV lives upstream, and its pinned SHA-256.
    table:
        ``"metadata"`` (one row per cell) or ``"manifest"`` (one row per file).
    archive:
        ``"human"`` or ``"mouse"``: named in messages.
    filters:
        ``[[column, op, value], ...]``, combined with AND; ops ``== != < <= > >= in, not in``.
    columns:
        Columns to return; empty means all.
    technique:
        Manifest only: keep the files of one modality, or ``"all"``.

    Constructing the source does no I/O; the table is fetched and cached on
    the first ``discover()``, ``read()`` or ``to_dask()``.
    """

    container = "dataframe"
    name = "patchseq_table"
    version = __version__
    partition_access = True

    def __init__(
        self,
        url: str,
        sha256: str | None,
        table: TableKind,
        archive: str,
        filters: Sequence[Sequence[Any]] | None = None,
        columns: Sequence[str] | None = None,
        technique: str = ALL_TECHNIQUES,
        metadata: dict | None = None,
    ):
        untemplated(filters=filters, columns=columns, technique=technique)
        if table not in TABLE_KINDS:
            raise InvalidQueryError(f"unknown table kind {table!r}; expected one of {TABLE_KINDS}")
        if technique not in TECHNIQUES:
            raise InvalidQueryError(f"unknown technique {technique!r}; expected one of {TECHNIQUES}")
        if technique != ALL_TECHNIQUES and table != "manifest":
            raise InvalidQueryError("technique selects files: it applies to the manifest only")
        self.spec = TableSpec(url=url, sha256=sha256, kind=table, archive=archive)
        filters = [] if filters is None else plain(filters)
        if technique != ALL_TECHNIQUES and isinstance(filters, list):  # other filters are refused when read
            filters = [*filters, ["technique", "==", technique]]
        self._filters = filters
        self._columns = [] if columns is None else plain(columns)
        super().__init__(metadata=metadata)

    @cached_property
    def _query(self) -> TableQuery:
        """The cached table's path and schema, with the user's query checked against it."""
        return query_table(self.spec, self._filters, self._columns)

    def _parquet(self, path: Path):
        """intake-parquet's source of the table's parquet file at ``path``, with the query's filters and columns."""
        from intake_parquet import ParquetSource

        return ParquetSource(str(path), **self._query.parquet_options())

    def _get_schema(self) -> Schema:
        import pyarrow.parquet as pq

        query = self._query
        selected = query.columns or query.schema.names
        dtypes = {name: query.dtypes[name] for name in selected}
        rows = None if query.filters else query.reading(lambda path: pq.read_metadata(path).num_rows)
        return Schema(dtype=dtypes, shape=(rows, len(selected)), npartitions=1, extra_metadata={})

    def read(self):
        """The whole (filtered) table as a pandas DataFrame."""
        self._load_metadata()
        return self._query.reading(lambda path: self._parquet(path).read())

    def _get_partition(self, i: int):
        return self.read()

    def to_dask(self):
        """The table as a lazy Dask DataFrame (its parquet file's footer read now, its rows when computed)."""
        self._load_metadata()
        return self._query.reading(lambda path: self._parquet(path).to_dask())

    def _close(self) -> None:
        self.__dict__.pop("_query", None)
