"""What the cell browser shows, as plain tables and links: no widgets here (``browser_app`` draws them).

Every value comes from the catalog: the cells from an archive's ``metadata``
(the release's experiment-metadata table, cached), whether each has an NWB
file and its size from ``nwb_files`` (DANDI's listing of the pinned version:
no request where the catalog ships it), a cell's sweep table and sweeps from
its ``ephys`` entry (stream mode unless the verified file is cached). A
dandiset beyond the 2020 release (any Allen Patch-seq dandiset but ``human``
and ``mouse``) has no cell table: its rows are its recordings, from its
``sessions`` entry (one per NWB file, keyed by ``ephys_session_id``, else by
``dandi_path`` for a file without one), and a recording's file is chosen by
``selection``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import numpy as np
import pandas as pd

from ..dandi.dandisets import find, registry
from ..errors import UnknownDandisetError

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
AGE_YEARS = "age_years"
"""Added where every age of the table is given in years (the human table's ``28 yrs``): ``age_days / 365.25``."""
DAYS_PER_YEAR = 365.25
"""As the package's ``age_days`` counts a year (``28 yrs`` -> 28 x 365.25 days)."""
SESSION_COLUMNS = ("ephys_session_id", "donor", "species", "sex", "age_days", "dandi_path", "version", "dandisets",
                   "chosen_because", "copies_differ", "other_copies")
"""A dandiset's sessions table's columns the browser shows (beyond 2020)."""
CHOICE_FILTERS = ("structure", "dendrite_type", T_TYPE, "sex")
"""Columns filtered by choosing values (those a table has: the cells' first three, the recordings' sex)."""
DEPTHS = ("depth_from_pia_um", "cell_soma_normalized_depth")
RANGE_FILTERS = (*DEPTHS, AGE_YEARS, "age_days")
"""Columns that may be filtered by a range of values (``range_columns``: those of a table)."""
LABELS = {
    "depth_from_pia_um": "soma depth from pia (µm)",
    "cell_soma_normalized_depth": "normalized soma depth (0 pia, 1 white matter)",
    AGE_YEARS: "age (years)",
    "age_days": "age (days)",
}
"""How the range filters are labelled: the quantity and its unit."""
SHOWN_CELL_COLUMNS = ("cell_specimen_id", "structure", "dendrite_type", T_TYPE, *DEPTHS, "donor_id", "age",
                      "has_nwb_file", "nwb_size_mb")
"""The cells table's columns shown at first (a depth column only where the table has values); the rest can be chosen."""
SHOWN_SESSION_COLUMNS = ("ephys_session_id", "donor", "sex", AGE_YEARS, "age_days", "dandi_path", "nwb_size_mb",
                         "copies_differ")
"""A dandiset's recordings table's columns shown at first (``age_years`` where it has it, else ``age_days``)."""
SHOWN_SWEEP_COLUMNS = ("sweep_number", "stimulus_code", "stimulus_name", "clamp_mode", "stimulus_scale_factor",
                       "leak_pa", "bridge_balance_mohm", "sampling_rate", "duration")
"""The sweep table's columns shown at first; the rest can be chosen."""
DECIMALS = {
    "nwb_size_mb": 1, "depth_from_pia_um": 1, "cell_soma_normalized_depth": 3, "age_days": 0, AGE_YEARS: 1,
    "sampling_rate": 0, "duration": 3, "starting_time": 3, "bridge_balance_mohm": 2, "leak_pa": 2, "gain": 4,
    "stimulus_scale_factor": 3,
}
"""Decimals a number is shown with (the values themselves are not rounded)."""
DEPTH_BIN = {"depth_from_pia_um": 50.0, "cell_soma_normalized_depth": 0.05}
"""The soma-depth histogram's bin width, in the column's unit (µm; a fraction of the cortex's thickness)."""
LONG_SQUARE = "Long Square"
DANDI_WEB = "https://dandiarchive.org"
NEUROSIFT = "https://neurosift.app/nwb"


def archive_checked(archive: str) -> str:
    """The root catalog's entry name of ``archive`` (``human``, ``mouse``, a dandiset's id or short name: ``636`` ->
    ``human_interneurons``); ``ValueError`` naming them all for anything else."""
    try:
        return find(archive).name
    except UnknownDandisetError:
        others = ", ".join(f"{d.name} ({d.dandiset})" for d in registry().values() if not d.release_2020)
        raise ValueError(f"no archive {archive!r}: the archives are human, mouse (the 2020 release) and every Allen "
                         f"Patch-seq dandiset since, by short name or id: {others}") from None


def by_recording(archive: str) -> bool:
    """Whether ``archive``'s rows are recordings (a dandiset beyond 2020), not the release's cells."""
    return not find(archive).release_2020


def key_column(table: pd.DataFrame) -> str:
    """The column naming a row: ``cell_specimen_id`` (the release's cells), else ``ephys_session_id``."""
    return "cell_specimen_id" if "cell_specimen_id" in table else "ephys_session_id"


def row_keys(table: pd.DataFrame) -> pd.Series:
    """What names each row (see ``row_key``), as objects."""
    keys = table[key_column(table)].astype(object)
    if "dandi_path" in table:
        keys = keys.where(keys.notna(), table["dandi_path"].astype(object))
    return keys.map(lambda key: int(key) if isinstance(key, (int, np.integer)) else key)


def row_key(row: pd.Series) -> int | str:
    """What names a row: its ``cell_specimen_id``, else its ``ephys_session_id``, else (a file without a session)
    its ``dandi_path``."""
    key = row["cell_specimen_id"] if "cell_specimen_id" in row.index else row["ephys_session_id"]
    return int(key) if pd.notna(key) else str(row["dandi_path"])


def selection(row: pd.Series) -> dict[str, Any]:
    """The ``ephys``/``features`` parameters choosing the row's file: ``specimen_id`` (a cell), ``session_id`` (a
    recording) or ``filters`` on its ``dandi_path`` (a file without a session)."""
    key = row_key(row)
    if isinstance(key, str):
        return {"filters": [["dandi_path", "==", key]]}
    return {"specimen_id" if "cell_specimen_id" in row.index else "session_id": key}


def row_title(row: pd.Series) -> str:
    """``Cell 541549258``, ``Recording 1001422850`` (its session) or ``Recording sub-.../....nwb``."""
    return f"{'Cell' if 'cell_specimen_id' in row.index else 'Recording'} {row_key(row)}"


def cells_table(catalog: Any, archive: str) -> pd.DataFrame:
    """The archive's cells: ``CELL_COLUMNS``, ``age_years`` where ages are in years, ``has_nwb_file`` (bool) and
    ``nwb_size_mb`` (MB, 1e6 bytes); a dandiset beyond 2020's recordings instead (``recordings_table``).

    ``ValueError`` names the archives for an unknown one. Reads the cached
    tables and DANDI's asset listing, no NWB file.
    """
    archive = archive_checked(archive)
    if by_recording(archive):
        return recordings_table(catalog, archive)
    entries = catalog[archive]
    metadata = entries.metadata.read()
    table = metadata[list(CELL_COLUMNS)].rename(columns=CELL_COLUMNS)
    ages = table["age"].dropna().astype(str)
    if len(ages) and ages.str.fullmatch(r"\s*[0-9.]+\s*yrs?\s*").all():
        table.insert(table.columns.get_loc("age_days") + 1, AGE_YEARS, table["age_days"] / DAYS_PER_YEAR)
    files = entries.nwb_files.read()[["cell_specimen_id", "size"]]
    merged = table.merge(files, on="cell_specimen_id", how="left")
    merged["has_nwb_file"] = merged["size"].notna()
    merged["nwb_size_mb"] = (merged.pop("size") / 1e6).astype("float64")
    return merged


def recordings_table(catalog: Any, archive: str) -> pd.DataFrame:
    """A dandiset's recordings: its ``sessions`` table's ``SESSION_COLUMNS``, ``age_years`` where no donor is a mouse
    (``age_days / 365.25``), ``has_nwb_file`` (True: each row is a file DANDI lists) and ``nwb_size_mb`` (MB)."""
    sessions = catalog[archive].sessions.read()
    table = sessions[list(SESSION_COLUMNS)].copy()
    if not (sessions["species"] == "Mus musculus").any():
        table.insert(table.columns.get_loc("age_days") + 1, AGE_YEARS, table["age_days"] / DAYS_PER_YEAR)
    table["has_nwb_file"] = True
    table["nwb_size_mb"] = (sessions["size"] / 1e6).astype("float64")
    return table


def range_columns(cells: pd.DataFrame) -> list[str]:
    """The columns of ``cells`` filtered by a range: the depths, and the age in years where the table has it, else
    in days (the mouse table's ``P55``, ``9 wks``)."""
    age = AGE_YEARS if AGE_YEARS in cells else "age_days"
    return [column for column in (*DEPTHS, age) if column in cells]


def shown_columns(table: pd.DataFrame, defaults: tuple[str, ...]) -> list[str]:
    """The columns of ``table`` shown at first: ``defaults`` that it has, a number column only if it has a value."""
    numeric = table.select_dtypes("number").columns
    return [c for c in defaults if c in table and (c not in numeric or table[c].notna().any() or table.empty)]


def filter_cells(
    cells: pd.DataFrame, choices: dict[str, list[str]], ranges: dict[str, tuple[float, float]], search: str = ""
) -> pd.DataFrame:
    """The rows of ``cells`` with a chosen value in every ``choices`` column (none chosen: any), within ``ranges``
    and found by ``search`` (see ``search_cells``).

    A range keeps its ends; a row missing a ranged value is kept only while
    the range is the column's whole span (see ``spans``).
    """
    keep = search_cells(cells, search)
    for column, chosen in choices.items():
        if chosen:
            keep &= cells[column].isin(chosen)
    whole = spans(cells)
    for column, (low, high) in ranges.items():
        values = cells[column]
        inside = (values >= low) & (values <= high)
        keep &= inside.fillna(False) | (values.isna() & (whole.get(column) == (low, high)))
    return cells[keep.astype(bool)]


def search_cells(cells: pd.DataFrame, text: str) -> pd.Series:
    """Which rows ``text`` finds: a ``cell_specimen_id`` (recordings: ``ephys_session_id``, else ``dandi_path``) that
    starts with it, or a ``donor_id`` (recordings: ``donor``) that contains it (either case); every row for a blank
    ``text``. Several words (or commas) find any of them."""
    words = text.replace(",", " ").lower().split()
    found = pd.Series(not words, index=cells.index)
    if not words:
        return found
    ids, donors = row_keys(cells).astype(str).str.lower(), cells[donor_column(cells)].astype(str).str.lower()
    for word in words:
        found |= ids.str.startswith(word) | donors.str.contains(word, regex=False)
    return found


def donor_column(cells: pd.DataFrame) -> str:
    """The column naming the donor: ``donor_id`` (the release's cells), else ``donor`` (a sessions table)."""
    return "donor_id" if "donor_id" in cells else "donor"


def choices(cells: pd.DataFrame) -> dict[str, list[str]]:
    """The values each ``CHOICE_FILTERS`` column of ``cells`` takes, sorted; missing values left out."""
    return {column: sorted(str(v) for v in cells[column].dropna().unique())
            for column in CHOICE_FILTERS if column in cells}


def spans(cells: pd.DataFrame) -> dict[str, tuple[float, float]]:
    """``(lowest, highest)`` of each ``RANGE_FILTERS`` column that ``cells`` has values in."""
    found = {}
    for column in RANGE_FILTERS:
        values = cells[column].dropna() if column in cells else ()
        if len(values):
            found[column] = (float(values.min()), float(values.max()))
    return found


def depth_bins(depths: np.ndarray, column: str) -> tuple[np.ndarray, tuple[float, float]]:
    """The histogram's bin edges for ``depths`` of ``column`` (``DEPTH_BIN`` wide, on multiples of it), and the
    axis' span: from the pia (0) to the deepest edge, at least to 1 for the normalized depth."""
    step = DEPTH_BIN[column]
    low = min(0.0, np.floor(depths.min() / step) * step)
    high = max(low + step, np.ceil(depths.max() / step) * step)
    edges = low + step * np.arange(round((high - low) / step) + 1)
    if edges[-1] < depths.max():  # rounding of the division: the deepest value is always inside
        edges = np.append(edges, edges[-1] + step)
    reach = max(edges[-1], 1.0) if column == "cell_soma_normalized_depth" else edges[-1]
    return edges, (float(edges[0]), float(reach))


@dataclass(frozen=True)
class CellLinks:
    """Where to see a cell's file elsewhere.

    ``file_url``: the bytes shown (the blob on DANDI's store; a replica's,
    under ``--demo``). ``dandi_page``: DANDI's file browser at the file's
    folder at the version, by path (the listings' asset ids need not be the
    version's). ``neurosift``: neurosift on those bytes, only when they are
    DANDI's (``on_dandi``): off DANDI, the page of the real archive is not
    the file shown, and says so.
    """

    dandi_page: str
    dandi_path: str
    file_url: str
    neurosift: str | None
    on_dandi: bool


def cell_links(dandiset: str, version: str, dandi_path: str, file_url: str, on_dandi: bool) -> CellLinks:
    """The links of a file of ``dandiset`` at ``version`` whose bytes are at ``file_url`` (URLs only: nothing is
    fetched); each value quoted."""
    folder = dandi_path.rsplit("/", 1)[0] if "/" in dandi_path else ""
    dandiset, version = quote(dandiset, safe=""), quote(version, safe="")
    neurosift = f"{NEUROSIFT}?url={quote(file_url, safe='')}&dandisetId={dandiset}&dandisetVersion={version}"
    return CellLinks(
        dandi_page=f"{DANDI_WEB}/dandiset/{dandiset}/{version}/files?location={quote(folder)}",
        dandi_path=dandi_path,
        file_url=file_url,
        neurosift=neurosift if on_dandi else None,
        on_dandi=on_dandi,
    )


def long_squares(sweep_table: pd.DataFrame, clamp_mode: str) -> list[int]:
    """The sweep numbers of the table's long-square sweeps (IPFX's stimulus name) in ``clamp_mode``, in order."""
    chosen = (sweep_table["stimulus_name"] == LONG_SQUARE) & (sweep_table["clamp_mode"] == clamp_mode)
    return [int(n) for n in sweep_table.loc[chosen, "sweep_number"]]
