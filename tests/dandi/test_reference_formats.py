"""The formats DANDI's answers are checked against accept every real asset of the Allen Patch-seq dandisets.

The checks in ``dandi.answers`` come from dandischema's patterns; this holds
them against ../shared/reference/allen-dandisets/ (14 dandisets, 3307 NWB
assets with DANDI's asset ids, blob ids, SHA-256 and dandi-etags).
"""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from patchseq_intake.dandi.assets import Asset

LISTINGS = Path(__file__).resolve().parents[3] / "shared" / "reference" / "allen-dandisets"


def _listings() -> list[Path]:
    found = sorted(path for path in LISTINGS.glob("0*.csv"))
    if not found:
        pytest.skip(f"the reference listings are not at {LISTINGS}")
    return found


def test_every_real_asset_passes_the_checks():
    checked = 0
    for listing in _listings():
        with listing.open(newline="") as rows:
            for row in csv.DictReader(rows):
                asset = Asset(row["path"], row["asset_id"], row["blob"], int(row["size"]),
                              row["sha256"] or None, row["dandi_etag"] or None)
                assert (asset.path, asset.size) == (row["path"], int(row["size"]))
                checked += 1
    assert checked >= 3307  # every NWB asset the reference lists
