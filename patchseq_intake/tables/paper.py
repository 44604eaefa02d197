"""Per-cell tables that papers publish beside their recordings: typed, and joined to the sessions on DANDI.

A paper's per-cell table (Chartrand et al. 2023's human and mouse L1 cells,
github.com/AllenInstitute/patchseq_human_L1 ``data/*_l1_dataset_2023_02_06.csv``;
Lee, Dalley et al. 2023's human interneurons, github.com/AllenInstitute/human_patchseq_gaba
``data/LeeDalley_manuscript_metadata_v2.csv``) is a table of kind ``"paper"``:
pinned by URL and SHA-256, fetched, verified and cached as Parquet by
``release`` exactly as the release's own tables are. Its light schema
(``normalise_paper``):

- every column of the CSV, under the name pandas gives it (a repeated
  header gets pandas' suffix: the L1 tables' second ``spec_id`` is
  ``spec_id.1``; ``Transcriptomic_type `` keeps its trailing space), typed as
  pandas reads it, in nullable types: integers (no empty cell) ``Int64``,
  other numbers ``float64``, a column of only True/False ``boolean``, the rest text;
  only empty cells are missing (a literal ``NA`` stays text). The columns that
  name ids stay text exactly as written (the L1 tables write sessions as
  floats, ``839897299.0``);
- the ids, appended as pandas ``Int64`` under the release tables' names:
  ``cell_specimen_id`` from the first column of ``SPECIMEN_COLUMNS`` the table
  has (one is required), ``ephys_session_id`` from the first of
  ``SESSION_COLUMNS`` (only where the table has one). A column already named
  so is typed in place. A value that is not a whole number is a
  ``TableFormatError``.

``join_sessions`` adds a paper's columns to the rows of a sessions table (one
row per ``ephys_session_id``, the ``_ses-<id>`` of DANDI paths).
"""

from __future__ import annotations

import io
import re
from collections.abc import Sequence
from typing import Literal

import pandas as pd

from ..errors import InvalidQueryError, TableFormatError

IdColumn = Literal["ephys_session_id", "cell_specimen_id"]
ID_COLUMNS: tuple[IdColumn, ...] = ("ephys_session_id", "cell_specimen_id")

SPECIMEN_COLUMNS: tuple[str, ...] = ("cell_specimen_id", "specimen_id", "spec_id", "specimen_id_x")
"""Names papers give the Allen cell specimen id, in the order they are looked for."""

SESSION_COLUMNS: tuple[str, ...] = ("ephys_session_id", "err_id", "nwb_id")
"""Names papers give the Allen ``ephys_session_id``, in the order they are looked for: ``err_id`` is the id of
the cell's Ephys_Roi_Result in the Institute's LIMS (the L1 tables), ``nwb_id`` the id of its NWB file (the
interneuron table); both are the session id of the cell's NWB file on DANDI."""

DEFAULT_PREFIX = "paper_"

_WHOLE_NUMBER = re.compile(r"\s*(-?\d{1,18})(?:\.0*)?\s*")


def normalise_paper(csv_bytes: bytes, source: str) -> pd.DataFrame:
    """Parse a paper's per-cell CSV into the light schema of the module docstring.

    ``source`` (the URL or path it came from) is named in every ``TableFormatError``.
    """
    id_names = {name: str for name in (*SPECIMEN_COLUMNS, *SESSION_COLUMNS)}
    try:
        raw = pd.read_csv(
            io.BytesIO(csv_bytes), dtype=id_names, keep_default_na=False, na_values=[""], low_memory=False
        )
    except (pd.errors.ParserError, UnicodeDecodeError, ValueError) as exc:
        raise TableFormatError(f"{source}: not a readable CSV table ({exc})") from exc
    specimen = _first_present(SPECIMEN_COLUMNS, raw.columns)
    if specimen is None:
        raise TableFormatError(
            f"{source}: not a per-cell paper table; it has none of the columns {list(SPECIMEN_COLUMNS)} that "
            f"name the cell (found {list(raw.columns)})"
        )
    table = pd.DataFrame({name: _nullable(raw[name]) for name in raw.columns})
    table["cell_specimen_id"] = _ids(raw[specimen], source)
    session = _first_present(SESSION_COLUMNS, raw.columns)
    if session is not None:
        table["ephys_session_id"] = _ids(raw[session], source)
    return table


def join_sessions(
    sessions: pd.DataFrame,
    paper: pd.DataFrame,
    on: IdColumn | None = None,
    prefix: str = DEFAULT_PREFIX,
) -> pd.DataFrame:
    """Every row of ``sessions``, in its order and index, with the columns of the ``paper`` row of its session.

    Parameters
    ----------
    sessions:
        A table with the key ``on`` (``ephys_session_id``: pandas ``Int64`` or integers); a row whose key is
        missing (a file without a session id) gets no paper row.
    paper:
        A paper table as ``normalise_paper`` makes it (the catalog's ``paper_*`` entries read it).
    on:
        ``"ephys_session_id"`` (default where the paper has it) or ``"cell_specimen_id"`` (default where it
        has no session column: the sessions table must then have ``cell_specimen_id``, as the 2020 cells do).
    prefix:
        Put before the name of each paper column added (all but ``on``), so that a paper's ``species`` or
        ``structure`` never meets the sessions' own: ``paper_species``.

    Rows of the paper identical in every column count once (the interneuron table repeats one). A session
    with no paper row gets missing values. ``InvalidQueryError`` if ``on`` is in one table only or the
    prefixed names meet the sessions' columns; ``TableFormatError`` if the paper has two different rows
    for one key (which belongs to the session is not the package's to choose).
    """
    if on is not None and on not in ID_COLUMNS:
        raise InvalidQueryError(f"join_sessions(on={on!r}): on is one of {', '.join(ID_COLUMNS)}, or None")
    key = on if on is not None else ("ephys_session_id" if "ephys_session_id" in paper.columns else "cell_specimen_id")
    for name, frame in (("sessions", sessions), ("paper", paper)):
        if key not in frame.columns:
            raise InvalidQueryError(
                f"join_sessions(on={key!r}): the {name} table has no column {key!r} to join on; its columns "
                f"are {', '.join(map(str, frame.columns))}"
            )
    right = _one_row_per_key(paper, key).set_index(key)
    right.columns = [f"{prefix}{name}" for name in right.columns]
    clashes = sorted(set(right.columns) & set(sessions.columns))
    if clashes:
        raise InvalidQueryError(
            f"join_sessions(prefix={prefix!r}): the paper's columns would be named {clashes}, which the sessions "
            "table has already; give another prefix"
        )
    keys = _as_int64(sessions[key], "sessions", key)
    added = right.reindex(pd.Index(keys, dtype="Int64"))
    added.index = sessions.index
    return pd.concat([sessions, added], axis=1)


def _one_row_per_key(paper: pd.DataFrame, key: str) -> pd.DataFrame:
    """The paper's rows with a key, identical rows once; ``TableFormatError`` where one key has different rows."""
    rows = paper.assign(**{key: _as_int64(paper[key], "paper", key)})
    rows = rows[rows[key].notna()].drop_duplicates()
    repeated = rows[key][rows[key].duplicated()]
    if not repeated.empty:
        examples = sorted(int(value) for value in set(repeated))[:3]
        raise TableFormatError(
            f"the paper table has different rows for the same {key} {examples} ({repeated.nunique()} in all): "
            "which one describes the session is not for the package to choose; join on the other id, or drop "
            "the rows you do not want before joining"
        )
    return rows


def _as_int64(values: pd.Series, table: str, key: str) -> pd.Series:
    try:
        return values.astype("Int64")
    except (TypeError, ValueError) as exc:
        raise InvalidQueryError(
            f"join_sessions: the {table} table's {key!r} is not a column of whole numbers ({values.dtype}): {exc}"
        ) from exc


def _first_present(names: Sequence[str], columns: pd.Index) -> str | None:
    return next((name for name in names if name in columns), None)


def _ids(text: pd.Series, source: str) -> pd.Series:
    """Ids written as whole numbers (``839897299`` or ``839897299.0``) as ``Int64``; empty cells missing."""
    text = text.astype(pd.StringDtype())
    bad = ~text.str.fullmatch(_WHOLE_NUMBER.pattern).fillna(True)
    if bad.any():
        raise TableFormatError(
            f"{source}: column {text.name!r} names ids, but has values that are not whole numbers "
            f"{list(text[bad].unique()[:3])}"
        )
    whole = text.str.extract(_WHOLE_NUMBER, expand=False)
    return pd.Series(pd.array([None if pd.isna(v) else int(v) for v in whole], dtype="Int64"), index=text.index)


def _nullable(values: pd.Series) -> pd.Series:
    """A column as pandas read it, in a nullable type: whole numbers ``Int64``, True/False ``boolean``, text."""
    if pd.api.types.is_bool_dtype(values):
        return values.astype("boolean")
    if pd.api.types.is_integer_dtype(values):
        return values.astype("Int64")
    if pd.api.types.is_float_dtype(values):
        return values
    present = values.dropna()
    if len(present) and present.map(type).eq(bool).all():
        return values.astype("boolean")
    return values.astype(pd.StringDtype())
