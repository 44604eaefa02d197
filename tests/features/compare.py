"""Comparing the package's feature tables with IPFX's own results, key by key."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

RTOL = 1e-9
"""Both compute from the same float32 samples with the same code: only float64 round-off may differ."""


def feature_differences(ours: pd.Series, theirs: dict[str, Any], columns: list[str]) -> list[tuple[str, Any, Any]]:
    """Where a cell's row (``ours``) differs from IPFX's features (``theirs``): (name, ours, theirs).

    Every IPFX feature must be a column holding its value (None: NaN), to
    ``RTOL``; every other feature column must be NaN (IPFX gave none).
    """
    differences = []
    for name in sorted(set(theirs) | set(columns)):
        mine = ours.get(name, "<no column>")
        their = theirs.get(name)
        if not _same(mine, their):
            differences.append((name, mine, their))
    return differences


def _same(ours: Any, theirs: Any) -> bool:
    if isinstance(ours, str):
        return False
    if theirs is None or (np.ndim(theirs) == 0 and pd.isna(theirs)):
        return bool(pd.isna(ours))
    return bool(np.isclose(float(ours), float(theirs), rtol=RTOL, atol=0.0))


def assert_same_table(ours: pd.DataFrame, theirs: pd.DataFrame) -> None:
    """IPFX's per-sweep or per-spike table of one stimulus type (led by ``sweep_number``) and the package's rows of it.

    ``ours``: the package's rows of that type with no ``error``; its columns
    IPFX does not give for this type (other types') must be empty.
    """
    assert len(theirs) > 0
    lead = ["cell_specimen_id", "stimulus", "error"]
    others = [c for c in ours.columns if c not in theirs.columns and c not in lead]
    assert ours[others].isna().all().all(), ours[others].dropna(axis=1, how="all").columns.tolist()
    pd.testing.assert_frame_equal(
        ours[list(theirs.columns)].reset_index(drop=True), theirs, check_dtype=False, check_exact=False,
        rtol=RTOL, atol=0.0,
    )
