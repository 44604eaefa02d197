"""The intake driver for the ``nwb_files`` table: every cell's NWB file as DANDI holds it."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from ..dandi.assets import DandisetVersion
from ..tables.release import Archive
from ..version import __version__
from .frame import FrameSource
from .parameters import VERSION, plain, text

if TYPE_CHECKING:
    import pandas as pd


class NwbFilesSource(FrameSource):
    """One row per cell that has an NWB file in the dandiset version (see ``nwb_files.COLUMNS``).

    Parameters
    ----------
    archive, dandiset, metadata_table, manifest_table, version, dandi_assets:
        As for the ``ephys`` entry (``EphysSource``).
    filters:
        ``[[column, op, value], ...]`` on this table's columns, combined with AND.
    columns:
        Columns to return; empty means all.

    Constructing the source does no I/O. Reading it reads the release tables
    and the version's asset index (cached after the first use), never an NWB
    file. ``InvalidQueryError`` for a filter or column the table does not
    have, listing the valid columns.
    """

    name = "patchseq_nwb_files"
    version = __version__

    def __init__(
        self,
        archive: str,
        dandiset: str,
        metadata_table: dict[str, str],
        manifest_table: dict[str, str],
        version: str,
        dandi_assets: dict[str, str] | None = None,
        filters: Sequence[Sequence[Any]] | None = None,
        columns: Sequence[str] | None = None,
        metadata: dict | None = None,
    ):
        self.dandi = DandisetVersion.from_catalog(dandiset, text(version, "version", VERSION), dandi_assets)
        self.archive = Archive.from_catalog(archive, metadata_table, manifest_table)
        self._filters = [] if filters is None else plain(filters)
        self._columns = [] if columns is None else plain(columns)
        super().__init__(metadata=metadata)

    def _frame(self) -> pd.DataFrame:
        from ..dandi.nwb_files import files_table, resolve_files
        from ..tables.filters import query_frame

        every_file = files_table(resolve_files(self.archive, self.dandi.index()).files)
        title = f"the {self.archive.name} nwb_files table"
        return query_frame(every_file, self._filters, self._columns, title)
