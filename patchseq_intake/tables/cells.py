"""Choosing cells of an archive: by id, by metadata filters, or both.

Messages name a few of the ids and filters they concern and how many there
are (``errors.brief``), and the work is linear in the ids asked for
(sets, not list scans): a million unknown ids are refused in about a second.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ..errors import NoMatchingCellsError, PatchseqError, UnknownCellError, brief
from .release import Archive, TableQuery, query_table
from .shipped import ARCHIVES, shipped_table


def matching_cells(
    archive: Archive, specimen_ids: Sequence[int], filters: Sequence[Sequence[Any]], entry: str = "ephys"
) -> list[int]:
    """The ids of the cells chosen by ``specimen_ids`` and metadata ``filters`` (AND), in the order named (else the
    metadata's); with neither, every cell of the archive.

    ``UnknownCellError`` for ids the archive does not have (naming the other archive that has them, whose
    ``entry`` to use); ``NoMatchingCellsError`` where nothing is left.
    """
    every_cell = cell_ids(query_table(archive.metadata, columns=["cell_specimen_id"]))
    known = set(every_cell)
    unknown = [cell for cell in specimen_ids if cell not in known]
    if unknown:
        raise UnknownCellError(
            f"cell(s) {brief(unknown)} are not in the {archive.name} Patch-seq dataset ({len(every_cell)} cells)",
            _archive_of(unknown, exclude=archive.name),
            entry,
        )
    if filters:
        cells = cell_ids(query_table(archive.metadata, filters, columns=["cell_specimen_id"]))
        if not cells:
            raise NoMatchingCellsError(f"no {archive.name} cell matches the filters {brief(list(filters))}")
    else:
        cells = every_cell
    if specimen_ids:
        wanted = set(cells)
        cells = [cell for cell in specimen_ids if cell in wanted]
        if not cells:
            raise NoMatchingCellsError(
                f"none of the {len(specimen_ids)} {archive.name} cells {brief(list(specimen_ids))} matches "
                f"the filters {brief(list(filters))}"
            )
    return cells


def cell_ids(query: TableQuery) -> list[int]:
    """The ``cell_specimen_id`` column of a table query, as Python ints."""
    return query.read()["cell_specimen_id"].tolist()


def _archive_of(cells: list[int], exclude: str) -> str | None:
    """The other shipped archive whose metadata has all of ``cells``, if its table can be read.

    On this error path the other archive's metadata table may be fetched (once:
    it is cached); offline or unreachable, the hint is left out.
    """
    for name in ARCHIVES:
        if name == exclude:
            continue
        try:
            query = query_table(shipped_table(name, "metadata"), columns=["cell_specimen_id"])
            ids = set(cell_ids(query))
        except PatchseqError:
            continue
        if ids.issuperset(cells):
            return name
    return None
