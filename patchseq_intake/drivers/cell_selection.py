"""The cells an electrophysiology entry selects, and how their NWB files are reached: shared by ``ephys`` and ``features``.

``CellSelection`` checks the parameters both entries take (the archive's
tables, the dandiset version, ``specimen_id``, ``filters``, ``access``,
``root``, ``index_store``, ``headstage``, ``device``; see ``ephys.EphysSource``) and resolves
the cells to their files on first use, one partition per cell. The index store is fixed when the
source is made: the parameter, else ``$PATCHSEQ_INTAKE_INDEX_STORE``'s, a plain relative path made
absolute in this process (``index_store.located``), so that every worker uses the same store.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence
from functools import cached_property
from typing import TYPE_CHECKING, Any

from ..access.modes import Access
from ..dandi.assets import DandisetVersion
from ..errors import InvalidQueryError, UnknownCellError, brief
from ..tables.release import Archive
from .parameters import VERSION, PlainParameters, device_parameter, plain, specimen_ids, text, whole_number

if TYPE_CHECKING:
    from ..dandi.nwb_files import CellFile
    from ..transport.remote_file import RemoteFile

KEPT_REMOTE_FILES = 4
CELL_ID = "a cell id (cell_specimen_id: a whole number, e.g. 541549258)"
STORE = "an index store's URL (a folder, file://, s3://, gs://, http(s)://) or None"


class CellSelection(PlainParameters):
    """Mixin for the sources of selected cells' NWB files (before intake's ``DataSource`` in the bases)."""

    def __init__(
        self,
        archive: str,
        dandiset: str,
        metadata_table: dict[str, str],
        manifest_table: dict[str, str],
        version: str,
        dandi_assets: dict[str, str] | None = None,
        specimen_id: int | Sequence[int] | None = None,
        filters: Sequence[Sequence[Any]] | None = None,
        access: str = "download",
        root: str | None = None,
        headstage: int | str = 0,
        device: str | None = None,
        index_store: str | None = None,
        metadata: dict | None = None,
    ):
        self.dandi = DandisetVersion.from_catalog(dandiset, text(version, "version", VERSION), dandi_assets)
        self.archive = Archive.from_catalog(archive, metadata_table, manifest_table)
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
        self._remotes: OrderedDict[int, RemoteFile] = OrderedDict()
        super().__init__(metadata=metadata)

    @cached_property
    def cells(self) -> list[CellFile]:
        """The NWB files of the selected cells, one per partition."""
        from ..dandi.cells import select_cells

        return select_cells(self.archive, self.dandi, self.specimen_ids, self._filters)

    def _cell(self, specimen_id: int | None) -> CellFile:
        wanted = None if specimen_id is None else whole_number(specimen_id, "specimen_id", CELL_ID)
        self._load_metadata()
        if wanted is None:
            if len(self.cells) != 1:
                raise InvalidQueryError(
                    f"this source selects {len(self.cells)} cells: name one with specimen_id=..."
                )
            return self.cells[0]
        for cell in self.cells:
            if cell.specimen_id == wanted:
                return cell
        raise UnknownCellError(f"cell {wanted} is not among this source's cells {brief(self._ids())}")

    def _ids(self) -> list[int]:
        return [cell.specimen_id for cell in self.cells]

    def _remote(self, cell: CellFile) -> RemoteFile | None:
        """In stream mode, the cell's remote file, kept so that fetched blocks are reused.

        The files of the last ``KEPT_REMOTE_FILES`` cells used are kept, so that
        streaming many cells does not keep every one's blocks in memory.
        """
        if self.access.mode != "stream":
            return None
        from ..access.opening import open_remote

        if cell.specimen_id in self._remotes:
            self._remotes.move_to_end(cell.specimen_id)
        else:
            self._remotes[cell.specimen_id] = open_remote(cell)
            if len(self._remotes) > KEPT_REMOTE_FILES:
                self._remotes.popitem(last=False)[1].close()
        return self._remotes[cell.specimen_id]

    def _close(self) -> None:
        self.__dict__.pop("cells", None)
        while self._remotes:
            self._remotes.popitem()[1].close()
