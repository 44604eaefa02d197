"""The columns of the release tables, and how a raw CSV becomes a typed table.

Every released column keeps its name and values. The CSV is read as text with
only empty cells taken as missing (the release writes a literal ``NA`` in
``apical_dendrite_status``, which stays as released), then each column is
given its type. Derived columns are appended after the released ones:

metadata
    ``age_days``: the donor's age in days, from ``age`` (``P55`` -> 55 days
    postnatal, ``9 wks`` -> 63 days, ``28 yrs`` -> 28 x 365.25 days); missing
    when ``age`` has another form.
manifest
    ``dandi_path``: where an NWB file lives in its dandiset,
    ``sub-<subject>/<file_name>``; missing for files not on DANDI.

A paper's per-cell table (kind ``paper``) has a light schema of its own:
see ``paper``.
"""

from __future__ import annotations

import io
import re
from typing import Literal

import pandas as pd

from ..errors import TableFormatError

TableKind = Literal["metadata", "manifest", "paper"]
TABLE_KINDS: tuple[TableKind, ...] = ("metadata", "manifest", "paper")

# Bump when the normalised layout changes, so that old cached tables are not reused.
SCHEMA_VERSION = 1

TEXT = "text"
INT = "int"  # int64; a missing value is an error
NULLABLE_INT = "nullable int"  # pandas Int64
FLOAT = "float"
INT_OR_TEXT = "int or text"  # int64 when every value is an integer, else text

COLUMNS: dict[TableKind, dict[str, str]] = {
    "metadata": {
        "project": TEXT,
        "cell_specimen_id": INT,
        "cell_specimen_name": TEXT,
        "hemisphere": TEXT,
        "structure": TEXT,
        "donor_id": INT_OR_TEXT,  # text for human (H16.03.007), integer for mouse
        "donor_name": TEXT,
        "biological_sex": TEXT,
        "age": TEXT,
        "ethnicity": TEXT,
        "medical_conditions": TEXT,
        "full_genotype": TEXT,
        "dendrite_type": TEXT,
        "apical_dendrite_status": TEXT,
        "neuron_reconstruction_type": TEXT,
        "cell_soma_normalized_depth": FLOAT,
        "depth_from_pia_um": FLOAT,
        "ephys_session_id": INT,
        "transcriptomics_sample_id": TEXT,
        "transcriptomics_batch": TEXT,
        "corresponding_AIT2.3.1_ID": TEXT,
        "corresponding_AIT2.3.1_alias": TEXT,
    },
    "manifest": {
        "file_id": INT,
        "file_name": TEXT,
        "file_size": INT,
        "sha256_checksum": TEXT,
        "md5_checksum": TEXT,
        "technique": TEXT,
        "file_type": TEXT,
        "archive": TEXT,
        "archive_uri": TEXT,
        "project": TEXT,
        "cell_specimen_id": NULLABLE_INT,  # empty on a few mouse rows
    },
}

DERIVED_COLUMNS: dict[TableKind, dict[str, str]] = {
    "metadata": {"age_days": "donor age in days (P<n>: n; <n> wks: 7n; <n> yrs: 365.25n)"},
    "manifest": {"dandi_path": "path of an NWB file in its dandiset: sub-<subject>/<file_name>"},
}

_POSTNATAL_DAYS = re.compile(r"^\s*P(\d+(?:\.\d+)?)\s*$", re.IGNORECASE)
_AGE_WITH_UNIT = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([a-z]+)\s*$", re.IGNORECASE)
DAYS_PER_UNIT = {
    "day": 1.0, "days": 1.0,
    "wk": 7.0, "wks": 7.0, "week": 7.0, "weeks": 7.0,
    "mo": 365.25 / 12, "mos": 365.25 / 12, "month": 365.25 / 12, "months": 365.25 / 12,
    "yr": 365.25, "yrs": 365.25, "year": 365.25, "years": 365.25,
}
_NWB_SUBJECT = re.compile(r"^sub-([^_/]+)_")
_NWB_SESSION = re.compile(r"_ses-(\d+)_icephys\.nwb$")


def normalise(csv_bytes: bytes, kind: TableKind, source: str) -> pd.DataFrame:
    """Parse a release table's CSV into typed columns plus the derived ones (a paper's: ``paper.normalise_paper``)."""
    if kind == "paper":
        from .paper import normalise_paper

        return normalise_paper(csv_bytes, source)
    try:
        raw = pd.read_csv(io.BytesIO(csv_bytes), dtype=str, keep_default_na=False, na_values=[""])
    except (pd.errors.ParserError, UnicodeDecodeError, ValueError) as exc:
        raise TableFormatError(f"{source}: not a readable CSV table ({exc})") from exc
    expected = COLUMNS[kind]
    missing = [name for name in expected if name not in raw.columns]
    if missing:
        raise TableFormatError(
            f"{source}: not a Patch-seq {kind} table; it lacks the columns {missing} "
            f"(found {list(raw.columns)})"
        )
    table = pd.DataFrame(
        {name: _typed(raw[name], expected.get(name, TEXT), source) for name in raw.columns}
    )
    if kind == "metadata":
        table["age_days"] = table["age"].map(age_in_days).astype("float64")
    else:
        table["dandi_path"] = dandi_paths(table)
    return table


def age_in_days(age: object) -> float:
    """``P55`` -> 55.0, ``9 wks`` -> 63.0, ``28 yrs`` -> 10227.0; NaN for anything else."""
    if not isinstance(age, str):
        return float("nan")
    if match := _POSTNATAL_DAYS.match(age):
        return float(match.group(1))
    if (match := _AGE_WITH_UNIT.match(age)) and match.group(2).lower() in DAYS_PER_UNIT:
        return float(match.group(1)) * DAYS_PER_UNIT[match.group(2).lower()]
    return float("nan")


def dandi_path(file_name: str) -> str | None:
    """``sub-X_ses-Y_icephys.nwb`` -> ``sub-X/sub-X_ses-Y_icephys.nwb``."""
    match = _NWB_SUBJECT.match(file_name)
    return f"sub-{match.group(1)}/{file_name}" if match else None


def session_of(path: str) -> int | None:
    """The ``ephys_session_id`` an NWB file is named by: ``.../sub-X_ses-<id>_icephys.nwb`` -> id."""
    match = _NWB_SESSION.search(path)
    return int(match.group(1)) if match else None


def dandi_paths(manifest: pd.DataFrame) -> pd.Series:
    """The DANDI path of every NWB row of a manifest, missing elsewhere."""
    on_dandi = manifest["archive"].eq("DANDI") & manifest["file_name"].str.endswith(".nwb")
    paths = manifest["file_name"].where(on_dandi).map(dandi_path, na_action="ignore")
    return paths.astype(pd.StringDtype())


def _typed(values: pd.Series, kind: str, source: str) -> pd.Series:
    text = values.astype(pd.StringDtype())
    if kind == TEXT:
        return text
    if kind == FLOAT:
        return _numbers(text, source).astype("float64")
    if kind == INT_OR_TEXT:
        return text.astype("int64") if _all_integers(text) else text
    numbers = _numbers(text, source)
    if kind == NULLABLE_INT:
        return numbers.astype("Int64")
    if numbers.isna().any():
        raise TableFormatError(f"{source}: column {values.name!r} has empty cells")
    return numbers.astype("int64")


def _numbers(text: pd.Series, source: str) -> pd.Series:
    numbers = pd.to_numeric(text, errors="coerce")
    bad = numbers.isna() & text.notna()
    if bad.any():
        examples = list(text[bad].unique()[:3])
        raise TableFormatError(f"{source}: column {text.name!r} has non-numeric values {examples}")
    return numbers


def _all_integers(text: pd.Series) -> bool:
    return bool(text.notna().all() and text.str.fullmatch(r"-?\d+").all())
