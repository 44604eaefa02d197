"""The four real release tables from ../shared, served locally, read with the shipped pins.

Skipped when the reference folder is absent.
"""

from __future__ import annotations

import hashlib

import pytest

from patchseq_intake.drivers.table import ReleaseTableSource
from patchseq_intake.tables.shipped import shipped_table

from ..conftest import REFERENCE_TABLES

pytestmark = pytest.mark.skipif(
    not REFERENCE_TABLES.is_dir(), reason=f"reference tables not found at {REFERENCE_TABLES}"
)


def _shipped_source(server, archive, kind, **parameters):
    """The catalog's own entry (URL file name and pinned SHA-256), fetched from ``server``."""
    pinned = shipped_table(archive, kind)
    return ReleaseTableSource(
        url=f"{server.url}/{pinned.file_name}", sha256=pinned.sha256, table=kind, archive=archive, **parameters
    )


def test_reference_folder_matches_its_sha256sums():
    for line in (REFERENCE_TABLES / "SHA256SUMS").read_text().splitlines():
        digest, name = line.split()
        assert hashlib.sha256((REFERENCE_TABLES / name).read_bytes()).hexdigest() == digest


@pytest.mark.parametrize(
    "archive, kind, rows",
    [("human", "metadata", 318), ("mouse", "metadata", 4435), ("human", "manifest", 636), ("mouse", "manifest", 16978)],
)
def test_row_counts_with_the_shipped_checksums(release_server, archive, kind, rows):
    assert len(_shipped_source(release_server, archive, kind).read()) == rows


def test_mouse_manifest_types_and_ephys_files(release_server):
    manifest = _shipped_source(release_server, "mouse", "manifest").read()
    assert manifest["cell_specimen_id"].dtype == "Int64"
    assert manifest["cell_specimen_id"].isna().sum() == 4
    assert manifest["file_id"].dtype == "int64" and manifest["file_size"].dtype == "int64"
    ephys = _shipped_source(release_server, "mouse", "manifest", technique="intracellular_electrophysiology").read()
    assert len(ephys) == 3840
    assert ephys["dandi_path"].notna().all()
    assert ephys["dandi_path"].str.fullmatch(r"sub-\d+/sub-\d+_ses-\d+_icephys\.nwb").all()
    assert manifest["dandi_path"].notna().sum() == 3840


@pytest.mark.parametrize("archive, donor_dtype", [("human", "string"), ("mouse", "int64")])
def test_metadata_types(release_server, archive, donor_dtype):
    frame = _shipped_source(release_server, archive, "metadata").read()
    assert frame["cell_specimen_id"].dtype == "int64"
    assert frame["ephys_session_id"].dtype == "int64"
    assert str(frame["donor_id"].dtype) == donor_dtype
    assert frame["age_days"].notna().all()
    assert frame["depth_from_pia_um"].dtype == "float64"


def test_every_human_cell_has_one_manifest_nwb_row_and_595_mouse_cells_have_none(release_server):
    for archive, without in (("human", 0), ("mouse", 595)):
        cells = _shipped_source(release_server, archive, "metadata").read()
        ephys = _shipped_source(release_server, archive, "manifest", technique="intracellular_electrophysiology").read()
        assert not ephys["cell_specimen_id"].duplicated().any()
        assert (~cells["cell_specimen_id"].isin(ephys["cell_specimen_id"])).sum() == without


def test_filters_on_the_real_table(release_server):
    mtg = _shipped_source(release_server, "human", "metadata", filters=[["structure", "==", "MTG"]]).read()
    assert 0 < len(mtg) < 318 and set(mtg["structure"]) == {"MTG"}
