"""From cell ids or metadata filters to the cells' NWB files, through the release tables."""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from .errors import NoMatchingCellsError, NoNwbFileError, PatchseqError, UnknownCellError
from .tables import TableSpec, query_table

EPHYS = "intracellular_electrophysiology"
_MANIFEST_COLUMNS = ["cell_specimen_id", "file_name", "dandi_path", "sha256_checksum", "file_size"]


@dataclass(frozen=True)
class CellFile:
    """A cell's NWB file, as the manifest describes it."""

    specimen_id: int
    file_name: str
    dandi_path: str
    sha256: str
    size: int


@dataclass(frozen=True)
class Archive:
    """One archive's name and release tables."""

    name: str
    metadata: TableSpec
    manifest: TableSpec


def select_cells(
    archive: Archive, specimen_ids: Sequence[int], filters: Sequence[Sequence[Any]]
) -> list[CellFile]:
    """The NWB files of the chosen cells: by id, by metadata filters, or both (AND).

    With neither, every cell of the archive that has an NWB file.
    """
    cells = _matching_cells(archive, specimen_ids, filters)
    files = _ephys_files(archive)
    chosen = [cell for cell in cells if cell in files]
    missing = [cell for cell in cells if cell not in files]
    if specimen_ids and missing:
        raise NoNwbFileError(
            f"cell(s) {missing} of the {archive.name} dataset have no NWB file in the "
            f"release manifest (electrophysiology was not released for them)"
        )
    if not chosen:
        raise NoMatchingCellsError(
            f"the {len(cells)} {archive.name} cell(s) matching {list(filters)} have no NWB file"
        )
    if missing and filters:
        warnings.warn(
            f"{len(missing)} of the {len(cells)} {archive.name} cells matching the filters have "
            "no NWB file and are left out",
            stacklevel=3,
        )
    return [files[cell] for cell in chosen]


def _matching_cells(
    archive: Archive, specimen_ids: Sequence[int], filters: Sequence[Sequence[Any]]
) -> list[int]:
    every_cell = query_table(archive.metadata, columns=["cell_specimen_id"]).read()["cell_specimen_id"]
    known = set(every_cell)
    unknown = [cell for cell in specimen_ids if cell not in known]
    if unknown:
        raise UnknownCellError(_unknown_cells_message(archive, unknown, len(every_cell)))
    if filters:
        matching = query_table(archive.metadata, filters, columns=["cell_specimen_id"]).read()
        cells = list(matching["cell_specimen_id"])
        if not cells:
            raise NoMatchingCellsError(f"no {archive.name} cell matches the filters {list(filters)}")
    else:
        cells = list(every_cell)
    if specimen_ids:
        wanted = set(cells)
        cells = [cell for cell in specimen_ids if cell in wanted]
        if not cells:
            raise NoMatchingCellsError(
                f"none of the {archive.name} cells {list(specimen_ids)} matches the filters {list(filters)}"
            )
    return cells


def _ephys_files(archive: Archive) -> dict[int, CellFile]:
    manifest = query_table(archive.manifest, [("technique", "==", EPHYS)], _MANIFEST_COLUMNS).read()
    manifest = manifest[manifest["cell_specimen_id"].notna()]
    return {
        int(row.cell_specimen_id): CellFile(
            int(row.cell_specimen_id), row.file_name, row.dandi_path, row.sha256_checksum, int(row.file_size)
        )
        for row in manifest.itertuples(index=False)
    }


def _unknown_cells_message(archive: Archive, unknown: list[int], cell_count: int) -> str:
    message = f"cell(s) {unknown} are not in the {archive.name} Patch-seq dataset ({cell_count} cells)"
    elsewhere = _archive_of(unknown, exclude=archive.name)
    if elsewhere:
        message += f"; they are cells of the {elsewhere} dataset: use cat.{elsewhere}.ephys"
    return message


def _archive_of(cells: list[int], exclude: str) -> str | None:
    """The other shipped archive whose metadata has all of ``cells``, if its table can be read.

    On this error path the other archive's metadata table may be fetched (once:
    it is cached); offline or unreachable, the hint is left out.
    """
    from .catalog import shipped_table

    for name in ("human", "mouse"):
        if name == exclude:
            continue
        try:
            query = query_table(shipped_table(name, "metadata"), columns=["cell_specimen_id"])
            ids = set(query.read()["cell_specimen_id"])
        except PatchseqError:
            continue
        if set(cells) <= ids:
            return name
    return None
