"""From cell ids or metadata filters to the cells' NWB files on DANDI (see ``nwb_files``).

Messages name a few of the ids and filters they concern and how many there
are (``errors.brief``), and the work is linear in the ids asked for
(sets, not list scans): a million unknown ids are refused in about a second.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any

from ..errors import (
    ManifestMismatchWarning,
    NoMatchingCellsError,
    NoNwbFileError,
    PatchseqError,
    UnknownCellError,
    brief,
)
from ..tables.release import Archive, TableQuery, query_table
from ..tables.shipped import ARCHIVES, shipped_table
from .assets import DandisetVersion
from .nwb_files import CellFile, Unresolved, resolve_files


def select_cells(
    archive: Archive, dandi: DandisetVersion, specimen_ids: Sequence[int], filters: Sequence[Sequence[Any]]
) -> list[CellFile]:
    """The NWB files of the chosen cells: by id, by metadata filters, or both (AND).

    With neither, every cell of the archive that has an NWB file. Cells named
    by id must all have one (``NoNwbFileError``); cells chosen otherwise that
    have none are left out with a warning. One ``ManifestMismatchWarning``
    tells how many of the chosen files differ from what the manifest says,
    once a process (see ``_warn_of_manifest_mismatches``).
    """
    cells = _matching_cells(archive, specimen_ids, filters)
    resolution = resolve_files(archive, dandi.index())
    missing = [cell for cell in cells if cell in resolution.unresolved]
    if specimen_ids and missing:
        raise NoNwbFileError(_no_file_message(archive, dandi, {cell: resolution.unresolved[cell] for cell in missing}))
    chosen = [resolution.files[cell] for cell in cells if cell in resolution.files]
    matching = f" matching {brief(list(filters))}" if filters else ""
    if not chosen:
        raise NoMatchingCellsError(f"none of the {len(cells)} {archive.name} cell(s){matching} has an NWB file in {dandi}")
    if missing:
        chosen_by = " matching the filters" if filters else ""
        warnings.warn(
            f"{len(missing)} of the {len(cells)} {archive.name} cells{chosen_by} have no NWB file in {dandi} "
            "and are left out",
            stacklevel=2,
        )
    _warn_of_manifest_mismatches(chosen, archive)
    return chosen


def _warn_of_manifest_mismatches(files: list[CellFile], archive: Archive) -> None:
    """Say, once a process, that the release manifest describes other bytes than DANDI holds for some of ``files``.

    It is information, not a fault (every file is verified against DANDI's
    checksum), so it is said by the first selection that has such files and
    not again in the process, whatever the warning filters (a served GUI
    opens many cells under filters of its own). The ``nwb_files`` entry's
    ``manifest_matches`` column says it of every file.
    """
    differ = [file for file in files if file.manifest_matches is False]
    global _said
    if not differ or _said:
        return
    if len(files) == 1:
        which = f"the NWB file of {archive.name} cell {files[0].specimen_id}"
        how = "it is verified against DANDI's checksum"
    else:
        which = f"{len(differ)} of the {len(files)} selected {archive.name} NWB files"
        how = "they are verified against DANDI's checksums"
    warnings.warn(
        f"the release manifest describes other bytes than DANDI holds for {which} (an earlier export); {how}; "
        "nwb_files' manifest_matches column shows which files of the release this concerns (said once a process)",
        ManifestMismatchWarning,
        stacklevel=3,
    )
    _said = True


_said = False
"""Whether the manifest's other bytes have been said in this process."""


SEARCHES_SHOWN = 5
"""Cells whose search a message describes; the others are counted."""


def _no_file_message(archive: Archive, dandi: DandisetVersion, missing: dict[int, Unresolved]) -> str:
    """What was searched for each cell (the first ``SEARCHES_SHOWN``), and where."""
    searched = []
    for cell, unresolved in list(missing.items())[:SEARCHES_SHOWN]:
        pattern = f"_ses-{unresolved.session_id}_icephys.nwb"
        if unresolved.manifest_path:
            searched.append(
                f"cell {cell}: the release manifest names {unresolved.manifest_path}, which {dandi} does not "
                f"hold, and no asset path ends in {pattern} (its ephys_session_id)"
            )
        else:
            searched.append(
                f"cell {cell} (ephys_session_id {unresolved.session_id}): neither the release manifest nor "
                f"{dandi} has one (no asset path ends in {pattern})"
            )
    more = len(missing) - len(searched)
    if more:
        searched.append(f"and {more} more: {brief(list(missing)[len(searched):])}")
    return f"no NWB file for {len(missing)} {archive.name} cell(s): " + "; ".join(searched)


def _matching_cells(
    archive: Archive, specimen_ids: Sequence[int], filters: Sequence[Sequence[Any]]
) -> list[int]:
    every_cell = _cell_ids(query_table(archive.metadata, columns=["cell_specimen_id"]))
    known = set(every_cell)
    unknown = [cell for cell in specimen_ids if cell not in known]
    if unknown:
        raise UnknownCellError(
            f"cell(s) {brief(unknown)} are not in the {archive.name} Patch-seq dataset ({len(every_cell)} cells)",
            _archive_of(unknown, exclude=archive.name),
        )
    if filters:
        cells = _cell_ids(query_table(archive.metadata, filters, columns=["cell_specimen_id"]))
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


def _cell_ids(query: TableQuery) -> list[int]:
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
            ids = set(_cell_ids(query))
        except PatchseqError:
            continue
        if ids.issuperset(cells):
            return name
    return None
