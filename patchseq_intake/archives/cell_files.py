"""The chosen cells' release files (of one reconstruction kind, or of a technique): found, or why not.

Cells named by id must each have a file (``NoReleaseFileError`` names those
that do not, and how many cells have one); cells chosen by filters that have
none are left out, with one warning naming them.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ..errors import NoMatchingCellsError, NoReleaseFileError, brief, caller_stacklevel
from ..tables.cells import matching_cells
from ..tables.release import Archive, query_table
from .release_files import ReleaseFile


@dataclass(frozen=True)
class CellFiles:
    """A cell's files among those asked for, in manifest order, and its metadata's ``neuron_reconstruction_type``
    (None where empty)."""

    specimen_id: int
    reconstruction_type: str | None
    files: tuple[ReleaseFile, ...]

    @property
    def file(self) -> ReleaseFile:
        """The cell's one file, where one type was asked for (a reconstruction kind)."""
        return self.files[0]


def cell_files(
    archive: Archive,
    files: Sequence[ReleaseFile],
    specimen_ids: Sequence[int],
    filters: Sequence[Sequence[Any]],
    *,
    entry: str,
    what: str,
    listed: str,
) -> list[CellFiles]:
    """The ``files`` (release files of cells) of the cells chosen by ``specimen_ids`` and ``filters``
    (``tables.cells``), cell by cell in the order chosen.

    Messages name ``what`` the files are (``transformed SWC reconstruction``), the ``entry`` asked (for a
    cell of the other archive) and where the cells that have one are ``listed`` (``cat.mouse.files lists
    them``, or the command that does). ``NoReleaseFileError`` for named cells without one;
    ``NoMatchingCellsError`` where no chosen cell has one.
    """
    cells = matching_cells(archive, specimen_ids, filters, entry)
    having: dict[int, list[ReleaseFile]] = {}
    for file in files:
        if file.specimen_id is not None:
            having.setdefault(file.specimen_id, []).append(file)
    missing = [cell for cell in cells if cell not in having]
    types = _reconstruction_types(archive)
    if specimen_ids and missing:
        examples = brief(list(having)[:3]) if having else "none"
        typed = [cell for cell in missing if cell in types]
        said = (f" (the metadata gives {brief(typed)} a neuron_reconstruction_type, "
                f"{brief(sorted({types[cell] for cell in typed}))}, yet the manifest lists no file for it)") if typed else ""
        raise NoReleaseFileError(
            f"the release manifest lists no {what} for {archive.name} cell(s) {brief(missing)}{said}: {len(having)} "
            f"of the {archive.name} cells have one (e.g. {examples}); {listed}"
        )
    chosen = [cell for cell in cells if cell in having]
    if not chosen:
        raise NoMatchingCellsError(
            f"none of the {len(cells)} {archive.name} cell(s) chosen has a {what} in the release manifest "
            f"({len(having)} cells have one; {listed})"
        )
    if missing:
        warnings.warn(
            f"{len(missing)} of the {len(cells)} {archive.name} cells chosen have no {what} in the release manifest "
            f"and are left out: {brief(missing)}",
            stacklevel=caller_stacklevel(),
        )
    return [CellFiles(cell, types.get(cell), tuple(having[cell])) for cell in chosen]


def _reconstruction_types(archive: Archive) -> dict[int, str]:
    """Each cell's ``neuron_reconstruction_type`` from the metadata (``full``, ``dendrite-only``), where given."""
    frame = query_table(archive.metadata, columns=["cell_specimen_id", "neuron_reconstruction_type"]).read()
    frame = frame[frame["neuron_reconstruction_type"].notna()]
    return dict(zip(frame["cell_specimen_id"].tolist(), frame["neuron_reconstruction_type"].tolist()))
