"""What the cell browser shows, as plain tables and links: no widgets here (``browser_app`` draws them).

Every value comes from the catalog: the cells from an archive's ``metadata``
(the release's experiment-metadata table, cached), whether each has an NWB
file and its size from ``nwb_files`` (DANDI's listing of the pinned version:
no request where the catalog ships it), a cell's sweep table and sweeps from
its ``ephys`` entry (stream mode unless the verified file is cached).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from ..tables.shipped import check_archive

if TYPE_CHECKING:
    import pandas as pd

T_TYPE = "t_type"
"""The transcriptomic type: the release's ``corresponding_AIT2.3.1_alias``."""
CELL_COLUMNS = {
    "cell_specimen_id": "cell_specimen_id",
    "structure": "structure",
    "dendrite_type": "dendrite_type",
    "cell_soma_normalized_depth": "cell_soma_normalized_depth",
    "depth_from_pia_um": "depth_from_pia_um",
    "donor_id": "donor_id",
    "age": "age",
    "age_days": "age_days",
    "corresponding_AIT2.3.1_alias": T_TYPE,
}
"""Metadata columns the browser shows, and what it calls them."""
CHOICE_FILTERS = ("structure", "dendrite_type", T_TYPE)
"""Columns filtered by choosing values."""
RANGE_FILTERS = ("depth_from_pia_um", "cell_soma_normalized_depth", "age_days")
"""Columns filtered by a range of values."""
LONG_SQUARE = "Long Square"
DANDI_WEB = "https://dandiarchive.org"
DANDI_API = "https://api.dandiarchive.org/api"
NEUROSIFT = "https://neurosift.app/nwb"


def cells_table(catalog: Any, archive: str) -> pd.DataFrame:
    """The archive's cells: ``CELL_COLUMNS``, then ``has_nwb_file`` (bool) and ``nwb_size_mb`` (MB, 1e6 bytes).

    ``ValueError`` names the archives for an unknown one. Reads the cached
    tables and DANDI's asset listing, no NWB file.
    """
    entries = catalog[check_archive(archive)]
    metadata = entries.metadata.read()
    table = metadata[list(CELL_COLUMNS)].rename(columns=CELL_COLUMNS)
    files = entries.nwb_files.read()[["cell_specimen_id", "size"]]
    merged = table.merge(files, on="cell_specimen_id", how="left")
    merged["has_nwb_file"] = merged["size"].notna()
    merged["nwb_size_mb"] = (merged.pop("size") / 1e6).astype("float64")
    return merged


def filter_cells(
    cells: pd.DataFrame, choices: dict[str, list[str]], ranges: dict[str, tuple[float, float]]
) -> pd.DataFrame:
    """The rows of ``cells`` with a chosen value in every ``choices`` column (none chosen: any) and within ``ranges``.

    A range keeps its ends; a row missing a ranged value is kept only while
    the range is the column's whole span (see ``spans``).
    """
    keep = cells["cell_specimen_id"].notna()
    for column, chosen in choices.items():
        if chosen:
            keep &= cells[column].isin(chosen)
    whole = spans(cells)
    for column, (low, high) in ranges.items():
        values = cells[column]
        inside = (values >= low) & (values <= high)
        keep &= inside.fillna(False) | (values.isna() & (whole.get(column) == (low, high)))
    return cells[keep.astype(bool)]


def choices(cells: pd.DataFrame) -> dict[str, list[str]]:
    """The values each ``CHOICE_FILTERS`` column takes, sorted; missing values left out."""
    return {column: sorted(str(v) for v in cells[column].dropna().unique()) for column in CHOICE_FILTERS}


def spans(cells: pd.DataFrame) -> dict[str, tuple[float, float]]:
    """``(lowest, highest)`` of each ``RANGE_FILTERS`` column that has values."""
    found = {}
    for column in RANGE_FILTERS:
        values = cells[column].dropna()
        if len(values):
            found[column] = (float(values.min()), float(values.max()))
    return found


@dataclass(frozen=True)
class CellLinks:
    """Where to see a cell's file elsewhere: DANDI's page of its folder at the version, its path, neurosift."""

    dandi_page: str
    dandi_path: str
    neurosift: str


def cell_links(dandiset: str, version: str, dandi_path: str, asset_id: str) -> CellLinks:
    """The links of a file of ``dandiset`` at ``version`` (URLs only: nothing is fetched); each value quoted."""
    folder = dandi_path.rsplit("/", 1)[0]
    dandiset, version = quote(dandiset, safe=""), quote(version, safe="")
    download = f"{DANDI_API}/assets/{quote(asset_id, safe='')}/download/"
    return CellLinks(
        dandi_page=f"{DANDI_WEB}/dandiset/{dandiset}/{version}/files?location={quote(folder)}",
        dandi_path=dandi_path,
        neurosift=f"{NEUROSIFT}?url={quote(download, safe='')}&dandisetId={dandiset}&dandisetVersion={version}",
    )


def long_squares(sweep_table: pd.DataFrame, clamp_mode: str) -> list[int]:
    """The sweep numbers of the table's long-square sweeps (IPFX's stimulus name) in ``clamp_mode``, in order."""
    chosen = (sweep_table["stimulus_name"] == LONG_SQUARE) & (sweep_table["clamp_mode"] == clamp_mode)
    return [int(n) for n in sweep_table.loc[chosen, "sweep_number"]]
