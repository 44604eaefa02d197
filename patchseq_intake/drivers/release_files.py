"""The intake driver for the ``files`` table: the release's files on BIL and NeMO, where they are today."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from intake.source.base import DataSource, Schema

from ..archives.homes import Homes
from ..archives.release_files import TECHNIQUES, ReleaseFile, release_files
from ..errors import InvalidQueryError, brief
from ..tables.release import Archive
from ..version import __version__
from .parameters import PlainParameters, flag, plain

if TYPE_CHECKING:
    import pandas as pd

ALL = "all"


class ReleaseFilesSource(PlainParameters, DataSource):
    """One row per release file not on DANDI (SWC on BIL, transcriptomes on NeMO): see ``archives.release_files.COLUMNS``.

    Parameters
    ----------
    archive, metadata_table, manifest_table:
        The archive (``human`` or ``mouse``) and its release tables, as for ``ephys``.
    homes:
        The catalog's rewrites of the manifest's dead links (``archives.homes``).
    technique:
        ``morphology``, ``transcriptomics`` or ``all`` (default).
    filters:
        ``[[column, op, value], ...]`` on this table's columns, combined with AND.
    columns:
        Columns to return; empty means all.

    Reading it reads the manifest (cached after the first use) and what this
    cache has fetched (``bytes_match``, ``found_*``); never a file's bytes.
    ``fetch()`` fetches the selected rows' files.
    """

    container = "dataframe"
    name = "patchseq_release_files"
    version = __version__
    partition_access = True

    def __init__(
        self,
        archive: str,
        metadata_table: dict[str, str],
        manifest_table: dict[str, str],
        homes: Sequence[Mapping[str, Any]],
        technique: str = ALL,
        filters: Sequence[Sequence[Any]] | None = None,
        columns: Sequence[str] | None = None,
        metadata: dict | None = None,
    ):
        if technique not in (ALL, *TECHNIQUES):
            raise InvalidQueryError(f"technique must be one of {ALL}, {', '.join(TECHNIQUES)}, not {brief(technique)}")
        self.archive = Archive.from_catalog(archive, metadata_table, manifest_table)
        self.homes = Homes.from_catalog(plain(homes))
        self.technique = None if technique == ALL else technique
        self._filters = [] if filters is None else plain(filters)
        self._columns = [] if columns is None else plain(columns)
        super().__init__(metadata=metadata)

    @cached_property
    def files(self) -> list[ReleaseFile]:
        """The archive's release files of the technique, in manifest order (before the filters)."""
        return release_files(self.archive, self.homes, self.technique)

    def _table(self, every_column: bool = False) -> pd.DataFrame:
        """The rows the filters keep, with the columns asked (``every_column``: all), read afresh: what this
        cache has fetched may have changed since the last read."""
        from ..archives.release_files import files_table
        from ..tables.filters import query_frame

        title = f"the {self.archive.name} files table"
        return query_frame(files_table(self.files), self._filters, [] if every_column else self._columns, title)

    def _get_schema(self) -> Schema:
        frame = self._table()
        dtypes = {name: str(dtype) for name, dtype in frame.dtypes.items()}
        return Schema(dtype=dtypes, shape=frame.shape, npartitions=1, extra_metadata={})

    def read(self) -> pd.DataFrame:
        """The selected rows and columns, as a pandas DataFrame."""
        return self._table()

    def _get_partition(self, i: int) -> pd.DataFrame:
        return self.read()

    def to_dask(self):
        """The table as a Dask DataFrame of one partition."""
        import dask.dataframe as dd

        return dd.from_pandas(self.read(), npartitions=1)

    def fetch(self, accept_other_bytes: bool = False) -> list[Path]:
        """Fetch the selected rows' files into the cache, verified; their local paths, in the table's order.

        Each file's size and SHA-256 are checked against the manifest's (a tar's
        member, where NeMO packs it); ``accept_other_bytes=True`` takes bytes the
        live home holds instead, cached under their own SHA-256 (see
        ``archives.fetching``). Files already cached are not fetched again.
        """
        from ..archives.fetching import fetch_release_files

        accept = flag(accept_other_bytes, "accept_other_bytes")
        by_sha256 = {file.sha256: file for file in self.files}
        chosen = [by_sha256[sha256] for sha256 in self._table(every_column=True)["sha256"]]
        return [fetched.path for fetched in fetch_release_files(chosen, accept_other_bytes=accept)]

    def _close(self) -> None:
        self.__dict__.pop("files", None)
