"""Small synthetic release tables with the real columns, for tests and the demo.

``release_tables(cells)`` gives the four CSV files, named as upstream names
them, for a handful of made-up cells of both archives.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass

from ..tables.schema import COLUMNS, TableKind
from ..tables.shipped import shipped_table

ARCHIVES = ("human", "mouse")


@dataclass(frozen=True)
class NwbFile:
    """A cell's NWB file as the manifest describes it."""

    subject_id: int
    size: int
    sha256: str
    md5: str

    def file_name(self, session_id: int) -> str:
        return f"sub-{self.subject_id}_ses-{session_id}_icephys.nwb"


@dataclass(frozen=True)
class Cell:
    """One made-up cell: what the metadata and manifest say of it."""

    archive: str
    specimen_id: int
    session_id: int
    structure: str
    dendrite_type: str
    age: str
    donor_id: str
    depth_from_pia_um: float | None = None
    nwb: NwbFile | None = None
    has_morphology: bool = False
    """A made-up manifest row of a transformed SWC (checksums of no file), where ``files`` are not given."""
    reconstruction_type: str | None = None
    """The metadata's ``neuron_reconstruction_type`` (None: ``full`` with ``has_morphology``, else empty)."""
    sample_id: str | None = None
    """The metadata's ``transcriptomics_sample_id`` (None: one made up from the cell id)."""
    t_type: str | None = None
    """The metadata's ``corresponding_AIT2.3.1_alias`` (None: a made-up one)."""
    files: tuple[dict[str, object], ...] = ()
    """Manifest rows of the cell's files on BIL and NeMO (``testing.archives``)."""


def table_file_name(archive: str, kind: TableKind) -> str:
    """The upstream file name of a table, as the shipped catalog pins it."""
    return shipped_table(archive, kind).file_name


def release_tables(
    cells: list[Cell], unassigned_files: int = 0, release_rows: dict[str, list[dict[str, object]]] | None = None
) -> dict[str, bytes]:
    """The four release CSV files for ``cells``, keyed by upstream file name.

    ``unassigned_files`` adds that many made-up mouse manifest rows with no
    ``cell_specimen_id``, as the real mouse manifest has; ``release_rows``
    (by archive) adds rows of real files of no cell (``testing.archives``' matrices).
    """
    tables = {}
    for archive in ARCHIVES:
        mine = [cell for cell in cells if cell.archive == archive]
        extra = unassigned_files if archive == "mouse" else 0
        tables[table_file_name(archive, "metadata")] = _csv(
            "metadata", [_metadata_row(cell) for cell in mine]
        )
        manifest_rows = [row for cell in mine for row in _manifest_rows(cell)]
        manifest_rows += [_unassigned_row(archive, n) for n in range(extra)]
        manifest_rows += (release_rows or {}).get(archive, [])
        tables[table_file_name(archive, "manifest")] = _csv("manifest", manifest_rows)
    return tables


def _csv(kind: TableKind, rows: list[dict[str, object]]) -> bytes:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(COLUMNS[kind]), lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({name: "" if value is None else value for name, value in row.items()})
    return out.getvalue().encode()


def _project(archive: str) -> str:
    return "hIVSCC-MET" if archive == "human" else "mIVSCC-MET"


def _metadata_row(cell: Cell) -> dict[str, object]:
    human = cell.archive == "human"
    return {
        "project": _project(cell.archive),
        "cell_specimen_id": cell.specimen_id,
        "cell_specimen_name": f"{cell.donor_id}.01.01.{cell.specimen_id % 100:02d}",
        "hemisphere": "left",
        "structure": cell.structure,
        "donor_id": cell.donor_id,
        "donor_name": cell.donor_id,
        "biological_sex": "F",
        "age": cell.age,
        "ethnicity": "White or Caucasian" if human else None,
        "medical_conditions": "epilepsy" if human else None,
        "full_genotype": None if human else "Sst-IRES-Cre/wt;Ai14(RCL-tdT)/wt",
        "dendrite_type": cell.dendrite_type,
        "apical_dendrite_status": "NA" if cell.dendrite_type == "aspiny" else "intact",
        "neuron_reconstruction_type": cell.reconstruction_type or ("full" if cell.has_morphology else None),
        "cell_soma_normalized_depth": 0.42,
        "depth_from_pia_um": cell.depth_from_pia_um,
        "ephys_session_id": cell.session_id,
        "transcriptomics_sample_id": cell.sample_id or f"PS{cell.specimen_id % 10000:04d}_S01",
        "transcriptomics_batch": "BT001",
        "corresponding_AIT2.3.1_ID": None if human else f"CS{cell.specimen_id}",
        "corresponding_AIT2.3.1_alias": cell.t_type or "Sst Tac2 Myh4",
    }


def _manifest_rows(cell: Cell) -> list[dict[str, object]]:
    rows = []
    if cell.nwb is not None:
        rows.append(
            {
                "file_id": cell.session_id,
                "file_name": cell.nwb.file_name(cell.session_id),
                "file_size": cell.nwb.size,
                "sha256_checksum": cell.nwb.sha256,
                "md5_checksum": cell.nwb.md5,
                "technique": "intracellular_electrophysiology",
                "file_type": "nwb",
                "archive": "DANDI",
                "archive_uri": f"https://girder.dandiarchive.org/api/v1/item/{cell.session_id:024x}/download",
                "project": _project(cell.archive),
                "cell_specimen_id": cell.specimen_id,
            }
        )
    rows += cell.files
    if cell.has_morphology and not cell.files:
        rows.append(
            {
                "file_id": cell.specimen_id,
                "file_name": f"{cell.specimen_id}.swc",
                "file_size": 1234,
                "sha256_checksum": "0" * 64,
                "md5_checksum": "0" * 32,
                "technique": "morphology",
                "file_type": "transformed_swc",
                "archive": "BIL",
                "archive_uri": f"ftp://download.brainlib.org/{cell.specimen_id}.swc",
                "project": _project(cell.archive),
                "cell_specimen_id": cell.specimen_id,
            }
        )
    return rows


def _unassigned_row(archive: str, n: int) -> dict[str, object]:
    return {
        "file_id": 900000 + n,
        "file_name": f"batch_{n}.csv",
        "file_size": 100,
        "sha256_checksum": "1" * 64,
        "md5_checksum": "1" * 32,
        "technique": "transcriptomics",
        "file_type": "csv",
        "archive": "NEMO",
        "archive_uri": f"http://data.nemoarchive.org/batch_{n}.csv",
        "project": _project(archive),
        "cell_specimen_id": None,
    }
