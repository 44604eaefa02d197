"""The chosen cells' files of one file type (a reconstruction kind): found, or why not.

Cells named by id must each have the file (``NoReleaseFileError`` names
those that do not, and how many cells have one); cells chosen by filters that
have none are left out, with one warning naming them.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ..errors import NoMatchingCellsError, NoReleaseFileError, brief
from ..tables.cells import matching_cells
from ..tables.release import Archive, query_table
from .homes import Homes
from .release_files import ReleaseFile, release_files


@dataclass(frozen=True)
class CellFile:
    """A cell's file of one type: the cell, its metadata's ``neuron_reconstruction_type`` (None where empty), the file."""

    specimen_id: int
    reconstruction_type: str | None
    file: ReleaseFile


def cell_files(
    archive: Archive,
    homes: Homes,
    technique: str,
    file_type: str,
    specimen_ids: Sequence[int],
    filters: Sequence[Sequence[Any]],
    entry: str,
    what: str,
) -> list[CellFile]:
    """The ``file_type`` files (of the manifest's ``technique``) of the cells chosen by ``specimen_ids`` and ``filters`` (see ``tables.cells``).

    ``what`` names the file in messages (``transformed SWC reconstruction``), ``entry`` the catalog entry asked.
    ``NoReleaseFileError`` for named cells without one; ``NoMatchingCellsError`` where no chosen cell has one.
    """
    cells = matching_cells(archive, specimen_ids, filters, entry)
    having = {file.specimen_id: file for file in release_files(archive, homes, technique) if file.file_type == file_type}
    missing = [cell for cell in cells if cell not in having]
    if specimen_ids and missing:
        examples = brief(list(having)[:3]) if having else "none"
        raise NoReleaseFileError(
            f"the release manifest lists no {what} for {archive.name} cell(s) {brief(missing)}: {len(having)} of "
            f"the {archive.name} cells have one (e.g. {examples}); cat.{archive.name}.files lists them"
        )
    chosen = [cell for cell in cells if cell in having]
    if not chosen:
        raise NoMatchingCellsError(
            f"none of the {len(cells)} {archive.name} cell(s) chosen has a {what} in the release manifest "
            f"({len(having)} cells have one)"
        )
    if missing:
        warnings.warn(
            f"{len(missing)} of the {len(cells)} {archive.name} cells chosen have no {what} in the release manifest "
            f"and are left out: {brief(missing)}",
            stacklevel=3,
        )
    types = _reconstruction_types(archive)
    return [CellFile(cell, types.get(cell), having[cell]) for cell in chosen]


def _reconstruction_types(archive: Archive) -> dict[int, str]:
    """Each cell's ``neuron_reconstruction_type`` from the metadata (``full``, ``dendrite-only``), where given."""
    frame = query_table(archive.metadata, columns=["cell_specimen_id", "neuron_reconstruction_type"]).read()
    frame = frame[frame["neuron_reconstruction_type"].notna()]
    return dict(zip(frame["cell_specimen_id"].tolist(), frame["neuron_reconstruction_type"].tolist()))
