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
    brief,
)
from ..tables.cells import matching_cells
from ..tables.release import Archive
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
    cells = matching_cells(archive, specimen_ids, filters)
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
