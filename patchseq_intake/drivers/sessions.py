"""The intake driver for sessions tables: every Allen Patch-seq recording, or one dandiset's (``patchseq_sessions``)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from ..dandi.dandisets import AllenDandiset, find, registry
from ..errors import InvalidQueryError
from ..tables.shipped import shipped_paper
from ..version import __version__
from .frame import FrameSource
from .parameters import VERSION, flag, list_of, plain, text, untemplated

if TYPE_CHECKING:
    import pandas as pd

ALL = "all"
RELEASE_COLUMNS = {"cell_specimen_id": "Int64", "t_type": "string"}
"""The columns ``release_cells`` adds: the 2020 release's cell and its transcriptomic type."""
T_TYPE = "corresponding_AIT2.3.1_alias"
"""The release metadata's column holding the cell's t-type (its alias in the AIT2.3.1 taxonomy)."""


class SessionsSource(FrameSource):
    """A sessions table (``dandi.sessions.COLUMNS``): a row per recording (``ephys_session_id``; a file without one
    by its path).

    Parameters
    ----------
    dandiset, dandi_assets, version:
        One dandiset's table: its id, the listing the catalog ships for its
        pinned version (``{"version": ..., "path": ...}``, or None) and the
        version to list (a published version or ``draft``). Without
        ``dandiset``, the table across dandisets:
    dandisets:
        The dandisets to gather, by id or short name (``000636``,
        ``human_interneurons``); empty (the default): every one whose listing
        the catalog ships (no request); ``["all"]``: those and the ones the
        DANDI API lists (001359, 001455: one paged listing each). Each at the
        version the catalog pins. Identical copies are one row, differing
        copies a row each (see ``dandi.sessions``).
    paper:
        A paper's per-cell table to join (the name of its root catalog
        entry: ``paper_human_l1``, ``paper_mouse_l1``,
        ``paper_human_interneurons``; see ``tables.paper``): its columns,
        prefixed ``paper_``, added to the rows of its sessions (by
        ``ephys_session_id``; a session whose copies differ gets it on each
        row). Fetched, checked against its pinned SHA-256 and cached on first
        use. None or empty (the default): none. ``InvalidQueryError`` naming
        the papers for another name.
    release_cells:
        Add the 2020 release's ``cell_specimen_id`` and ``t_type`` (the
        metadata's ``corresponding_AIT2.3.1_alias``) to its sessions, joined by
        ``ephys_session_id`` (reads the release's metadata tables, fetched
        and cached on first use). Default False.
    filters, columns:
        ``[[column, op, value], ...]`` on the table's columns, combined with
        AND; the columns to return (empty: all).

    Constructing the source does no I/O; reading it reads asset listings
    (shipped: no request) and never an NWB file. ``UnknownDandisetError``
    for a dandiset the catalog does not know, naming those it knows;
    ``UnknownVersionError`` for a version DANDI does not have.
    """

    name = "patchseq_sessions"
    version = __version__

    def __init__(
        self,
        dandiset: str | None = None,
        dandi_assets: dict[str, str] | None = None,
        version: str | None = None,
        dandisets: Sequence[str] | None = None,
        release_cells: bool = False,
        paper: str | None = None,
        filters: Sequence[Sequence[Any]] | None = None,
        columns: Sequence[str] | None = None,
        metadata: dict | None = None,
    ):
        untemplated(dandisets=dandisets, release_cells=release_cells, paper=paper, filters=filters, columns=columns)
        self.one = None if dandiset is None else find(dandiset)
        if self.one is not None:
            self.dandi = self.one.at(None if version is None else text(version, "version", VERSION), dandi_assets)
        self._named = False
        self.dandisets = self._chosen(dandisets)
        self.release_cells = flag(release_cells, "release_cells")
        self.paper = shipped_paper(paper) if paper else None
        self._filters = [] if filters is None else plain(filters)
        self._columns = [] if columns is None else plain(columns)
        super().__init__(metadata=metadata)

    def _chosen(self, names: Sequence[str] | None) -> list[AllenDandiset]:
        """The dandisets of a table across dandisets (see ``dandisets``); the one, for one dandiset's table."""
        if self.one is not None:
            if names:
                raise InvalidQueryError(f"dandisets: the sessions table of {self.one} holds that dandiset only")
            return [self.one]
        names = plain(names) or []
        if isinstance(names, (str, int)) and not isinstance(names, bool):
            names = [names]  # one dandiset named alone
        names = list_of(names, "dandisets", "a list of dandiset ids or short names, or ['all']")
        if not names:
            return [dandiset for dandiset in registry().values() if dandiset.listing]
        if ALL in names:
            return list(registry().values())
        chosen = [find(name, "each of dandisets") for name in names]
        self._named = True  # some named: their rows only (see _frame)
        return list(dict.fromkeys(chosen))

    def _frame(self) -> pd.DataFrame:
        from ..dandi.recording_files import dandiset_sessions
        from ..dandi.sessions import copies_of, sessions_table, shipped_copies
        from ..tables.filters import query_frame

        if self.one is not None:
            table = dandiset_sessions(self.one, self.dandi)
            title = f"the sessions table of {self.one} at version {self.dandi.version}"
        else:
            copies = [copy for dandiset in self.dandisets for copy in copies_of(dandiset, dandiset.at().index())]
            if self._named:  # the named dandisets' rows; their copies in the others told of
                table = sessions_table(copies + shipped_copies(self.dandisets), own=self.dandisets)
            else:
                table = sessions_table(copies)
            title = f"the sessions table of {len(self.dandisets)} dandisets"
        if self.release_cells:
            table = _with_release_cells(table)
        if self.paper is not None:
            from ..tables.paper import join_sessions
            from ..tables.release import query_table

            table = join_sessions(table, query_table(self.paper).read())
        if not self._filters and not self._columns:
            return table  # as it is: the query's round trip through Arrow costs more than building the table
        return query_frame(table, self._filters, self._columns, title)


def _with_release_cells(table: pd.DataFrame) -> pd.DataFrame:
    """``table`` with the 2020 release's ``cell_specimen_id`` and ``t_type`` of its sessions (missing elsewhere)."""
    import pandas as pd

    from ..tables.release import query_table
    from ..tables.shipped import ARCHIVES, shipped_table

    wanted = ["ephys_session_id", "cell_specimen_id", T_TYPE]
    cells = pd.concat([query_table(shipped_table(archive, "metadata"), columns=wanted).read() for archive in ARCHIVES])
    cells = cells.rename(columns={T_TYPE: "t_type"}).drop_duplicates("ephys_session_id")
    cells["ephys_session_id"] = cells["ephys_session_id"].astype("Int64")
    joined = table.merge(cells, on="ephys_session_id", how="left", validate="many_to_one")
    return joined.astype(RELEASE_COLUMNS)

