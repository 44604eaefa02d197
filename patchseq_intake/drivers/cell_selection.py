"""The cells an electrophysiology entry selects, and how their NWB files are reached: shared by ``ephys`` and ``features``.

``CellSelection`` checks the parameters both entries take (the archive's
tables, the dandiset version, ``specimen_id``, ``filters``, ``access``,
``root``, ``index_store``, ``headstage``, ``device``; see ``ephys.EphysSource``) and resolves
the cells to their files on first use, one partition per cell. An entry of a
dandiset beyond the 2020 release has no release tables: it names recordings
by ``session_id`` and filters its sessions table (``dandi.recording_files``). The index store is fixed when the
source is made: the parameter, else ``$PATCHSEQ_INTAKE_INDEX_STORE``'s, a plain relative path made
absolute in this process (``index_store.located``), so that every worker uses the same store.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence
from functools import cached_property
from typing import TYPE_CHECKING, Any

from ..access.modes import Access
from ..dandi.dandisets import find
from ..errors import InvalidQueryError, UnknownCellError, brief
from ..tables.release import Archive
from .parameters import VERSION, PlainParameters, device_parameter, plain, specimen_ids, text, whole_number

if TYPE_CHECKING:
    from ..dandi.nwb_files import CellFile
    from ..transport.remote_file import RemoteFile

KEPT_REMOTE_FILES = 4
CELL_ID = "a cell id (cell_specimen_id: a whole number, e.g. 541549258)"
SESSION_ID = "a session id (ephys_session_id: a whole number, e.g. 1000781418)"
STORE = "an index store's URL (a folder, file://, s3://, gs://, http(s)://) or None"


class CellSelection(PlainParameters):
    """Mixin for the sources of selected cells' NWB files (before intake's ``DataSource`` in the bases)."""

    def __init__(
        self,
        archive: str | None,
        dandiset: str,
        metadata_table: dict[str, str] | None,
        manifest_table: dict[str, str] | None,
        version: str,
        dandi_assets: dict[str, str] | None = None,
        specimen_id: int | Sequence[int] | None = None,
        filters: Sequence[Sequence[Any]] | None = None,
        access: str = "download",
        root: str | None = None,
        headstage: int | str = 0,
        device: str | None = None,
        index_store: str | None = None,
        session_id: int | Sequence[int] | None = None,
        metadata: dict | None = None,
    ):
        self.dandiset = find(dandiset)
        self.dandi = self.dandiset.at(text(version, "version", VERSION), dandi_assets)
        self.archive = Archive.from_catalog(archive, metadata_table, manifest_table) if archive else None
        self.session_ids = specimen_ids(session_id, "session_id")
        self._check_names(specimen_id, session_id)
        root = None if root is None else text(root, "root", "a directory (text or a path)")
        store = None if index_store is None else text(index_store, "index_store", STORE)
        if not (store or "").strip():  # the variable's store, located here, not in each worker (see Access)
            from ..access.index_store import configured

            store = configured()
        self.access = Access(access, root or None, store)
        self.headstage = whole_number(headstage, "headstage", "a whole number from 0 to 7", 0, 7)
        self.device = device_parameter(device)
        self.specimen_ids = specimen_ids(specimen_id)
        self._filters = [] if filters is None else plain(filters)
        self._remotes: OrderedDict[int | str, RemoteFile] = OrderedDict()
        super().__init__(metadata=metadata)

    def _check_names(self, specimen_id: Any, session_id: Any) -> None:
        """Refuse the id parameter the entry's files are not named by: cells in the 2020 archives, sessions elsewhere."""
        if self.archive is None and specimen_id is not None:
            raise InvalidQueryError(
                f"specimen_id: the files of {self.dandiset} are named by their session, not by a cell id; "
                f"select them with session_id (ephys_session_id) or filters on its sessions table"
            )
        if self.release and session_id is not None:
            raise InvalidQueryError(
                f"session_id: the {self.archive.name} archive's files are named by their cell (specimen_id); "
                f"select by session with filters=[['ephys_session_id', '==', <id>]]"
            )

    @property
    def release(self) -> bool:
        """Whether the files are the 2020 release's cells' (named by ``cell_specimen_id``), not recordings."""
        return self.archive is not None

    @property
    def id_parameter(self) -> str:
        """The parameter that names one of this source's files: ``specimen_id``, or ``session_id`` beyond 2020."""
        return "specimen_id" if self.release else "session_id"

    @cached_property
    def cells(self) -> list[CellFile]:
        """The NWB files of the selected cells (recordings, beyond the 2020 release), one per partition."""
        if self.archive is None:
            from ..dandi.recording_files import select_recordings

            return select_recordings(self.dandiset, self.dandi, self.session_ids, self._filters)
        from ..dandi.cells import select_cells

        return select_cells(self.archive, self.dandi, self.specimen_ids, self._filters)

    def _cell(self, specimen_id: int | None, session_id: int | None = None) -> CellFile:
        """The file named by ``specimen_id`` (2020 archives) or ``session_id`` (other dandisets); the only one where
        neither is given."""
        self._check_names(specimen_id, session_id)
        given = specimen_id if self.release else session_id
        valid = CELL_ID if self.release else SESSION_ID
        wanted = None if given is None else whole_number(given, self.id_parameter, valid)
        self._load_metadata()
        if wanted is None:
            if len(self.cells) != 1:
                what = "cells" if self.release else "recordings"
                pathless = "" if self.release or all(cell.session_id is not None for cell in self.cells) else (
                    "; a file without a session id is read from a source that selects it alone, "
                    "filters=[['dandi_path', '==', <its path>]]"
                )
                raise InvalidQueryError(
                    f"this source selects {len(self.cells)} {what}: name one with {self.id_parameter}=...{pathless}"
                )
            return self.cells[0]
        for cell in self.cells:
            if cell.key == wanted:
                return cell
        what = "cell" if self.release else "session"
        raise UnknownCellError(f"{what} {wanted} is not among this source's {what}s {brief(self._ids())}")

    def _ids(self) -> list[int | str]:
        return [cell.key for cell in self.cells]

    def _remote(self, cell: CellFile) -> RemoteFile | None:
        """In stream mode, the cell's remote file, kept so that fetched blocks are reused.

        The files of the last ``KEPT_REMOTE_FILES`` cells used are kept, so that
        streaming many cells does not keep every one's blocks in memory.
        """
        if self.access.mode != "stream":
            return None
        from ..access.opening import open_remote

        if cell.key in self._remotes:
            self._remotes.move_to_end(cell.key)
        else:
            self._remotes[cell.key] = open_remote(cell)
            if len(self._remotes) > KEPT_REMOTE_FILES:
                self._remotes.popitem(last=False)[1].close()
        return self._remotes[cell.key]

    def _close(self) -> None:
        self.__dict__.pop("cells", None)
        while self._remotes:
            self._remotes.popitem()[1].close()
