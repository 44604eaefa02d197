"""Every cell's NWB file as DANDI holds it: the release tables joined with a version's asset index.

A cell's file is found, in this order:

1. its ``intracellular_electrophysiology`` row in the release manifest, whose
   ``dandi_path`` is an asset of the version;
2. else its ``ephys_session_id``: the asset whose path ends in
   ``_ses-<ephys_session_id>_icephys.nwb`` (595 mouse cells have no manifest
   row, and all have a file on DANDI).

DANDI, not the manifest, is the authority for the file's bytes: its size and
its checksum (the SHA-256, else the dandi-etag) are DANDI's. The manifest's
size and SHA-256 are kept for information: they describe other bytes for 203
mouse and 63 human files (an earlier export of them).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import TYPE_CHECKING

from ..tables.release import Archive, query_table
from ..tables.schema import session_of

if TYPE_CHECKING:
    import pandas as pd

    from ..transport.checksums import Checksum
    from .assets import Asset, AssetIndex

EPHYS = "intracellular_electrophysiology"

COLUMNS: dict[str, tuple[str, str]] = {
    "cell_specimen_id": ("int64", "the cell"),
    "ephys_session_id": ("int64", "the cell's electrophysiology session, named in the file's path"),
    "dandi_path": ("string", "the file's path in the dandiset"),
    "asset_id": (
        "string",
        "DANDI's id of the asset in the version; missing where the catalog's shipped listing does not give it "
        "(000020 at its published version: the ids of that listing came from the dandiset's DataLad mirror, "
        "not from the version; find the file by dandi_path)",
    ),
    "size": ("int64", "bytes, as DANDI holds them"),
    "sha256": ("string", "DANDI's SHA-256 of the bytes (dandi:sha2-256); missing where DANDI gives none"),
    "in_manifest": ("bool", "whether the release manifest has a row for the file"),
    "manifest_sha256": ("string", "the manifest's SHA-256; missing when not in the manifest"),
    "manifest_matches": (
        "boolean",
        "the manifest's size and SHA-256 are DANDI's; missing when not in the manifest "
        "(or DANDI gives no SHA-256 and the sizes agree)",
    ),
}
"""The ``nwb_files`` table's columns: pandas dtype and meaning."""

_MANIFEST_COLUMNS = ["cell_specimen_id", "dandi_path", "sha256_checksum", "file_size"]


@dataclass(frozen=True)
class ManifestFile:
    """What the release manifest says of a cell's NWB file."""

    dandi_path: str | None
    sha256: str
    size: int


@dataclass(frozen=True)
class CellFile:
    """A cell's NWB file on DANDI: its asset, where to read it, and what the manifest said of it.

    ``urls`` are where to read the bytes, best first (the S3 blob, then the
    API's download URL where the version's asset id is known). ``size``
    (bytes) and ``checksum`` are DANDI's.

    A file of the 2020 release is its cell's (``specimen_id``); a file of any
    other dandiset is a recording known by its session (``specimen_id``
    None; ``session_id`` None too for a file without one, known by its path).
    """

    specimen_id: int | None
    session_id: int | None
    dandiset: str
    asset: Asset
    urls: tuple[str, ...]
    manifest: ManifestFile | None

    @property
    def dandi_path(self) -> str:
        return self.asset.path

    @property
    def asset_id(self) -> str | None:
        """The version's id of the asset; None where the listing does not know it (see ``COLUMNS``)."""
        return self.asset.asset_id

    @property
    def size(self) -> int:
        return self.asset.size

    @property
    def checksum(self) -> Checksum | None:
        return self.asset.checksum

    @property
    def file_name(self) -> str:
        return PurePosixPath(self.dandi_path).name

    @property
    def key(self) -> int | str:
        """What names it among a source's files: the cell id, else the session id, else the path."""
        if self.specimen_id is not None:
            return self.specimen_id
        return self.session_id if self.session_id is not None else self.dandi_path

    @property
    def who(self) -> str:
        """Whose file it is, for messages: ``cell <id>``, ``session <id> of dandiset <id>``, ``dandiset <id>``."""
        if self.specimen_id is not None:
            return f"cell {self.specimen_id}"
        if self.session_id is not None:
            return f"session {self.session_id} of dandiset {self.dandiset}"
        return f"dandiset {self.dandiset}"

    @property
    def label(self) -> str:
        """How messages name the file: ``cell <id> (<dandi path>)``, ``session <id> of dandiset <id> (<path>)``."""
        return f"{self.who} ({self.dandi_path})"

    @property
    def sha256(self) -> str | None:
        """DANDI's SHA-256 of the bytes, if it gives one."""
        return self.asset.sha256

    @property
    def manifest_matches(self) -> bool | None:
        """Whether the manifest's size and SHA-256 are DANDI's; None when unknown (see ``COLUMNS``)."""
        if self.manifest is None:
            return None
        if self.manifest.size != self.size:
            return False
        return None if self.sha256 is None else self.manifest.sha256.lower() == self.sha256


@dataclass(frozen=True)
class Unresolved:
    """A cell the version has no file for: its session, and the path the manifest gives (None: no row)."""

    session_id: int
    manifest_path: str | None


@dataclass(frozen=True)
class Resolution:
    """Every cell of an archive, in metadata order: its file in a version, or why there is none."""

    files: dict[int, CellFile]
    unresolved: dict[int, Unresolved]


def resolve_files(archive: Archive, index: AssetIndex) -> Resolution:
    """The NWB file of every cell of ``archive`` in ``index``.

    Reads the two release tables (cached after the first use) and the index; no NWB file.
    """
    cells = query_table(archive.metadata, columns=["cell_specimen_id", "ephys_session_id"]).read()
    manifest = _manifest_files(archive)
    by_session = {session: asset for asset in index.assets.values() if (session := session_of(asset.path))}
    resolution = Resolution({}, {})
    for specimen_id, session_id in zip(cells["cell_specimen_id"].tolist(), cells["ephys_session_id"].tolist()):
        listed = manifest.get(specimen_id)
        asset = index.assets.get(listed.dandi_path) if listed and listed.dandi_path else None
        asset = asset or by_session.get(session_id)
        if asset is None:
            resolution.unresolved[specimen_id] = Unresolved(session_id, listed.dandi_path if listed else None)
        else:
            resolution.files[specimen_id] = CellFile(
                specimen_id, session_id, index.dandiset, asset, index.urls(asset), listed
            )
    return resolution


CELL_COLUMNS = {"cell_specimen_id": "int64"}
"""The columns that lead a 2020 cell's rows in the ``ephys`` and ``features`` tables, and their dtypes."""
RECORDING_COLUMNS = {"ephys_session_id": "Int64", "dandi_path": "string"}
"""... and a recording's, beyond the 2020 release: its session (missing for a file without one), its path."""


def lead_columns(release: bool) -> dict[str, str]:
    """The columns (and dtypes) that name the file a row comes from: ``CELL_COLUMNS`` or ``RECORDING_COLUMNS``."""
    return CELL_COLUMNS if release else RECORDING_COLUMNS


def lead_values(cell: CellFile) -> dict[str, int | str | None]:
    """The values of the columns that name ``cell``'s file (see ``lead_columns``)."""
    values = {"cell_specimen_id": cell.specimen_id, "ephys_session_id": cell.session_id, "dandi_path": cell.dandi_path}
    return {name: values[name] for name in lead_columns(cell.specimen_id is not None)}


def lead_frame(cells: Sequence[CellFile], release: bool) -> pd.DataFrame:
    """A row per cell of ``cells``: the columns that name its file, typed (see ``lead_columns``)."""
    import pandas as pd

    rows = [lead_values(cell) for cell in cells]
    return pd.DataFrame({
        name: pd.array([row[name] for row in rows], dtype=dtype) for name, dtype in lead_columns(release).items()
    })


def led(table: pd.DataFrame, cell: CellFile) -> pd.DataFrame:
    """``table`` (rows of ``cell``'s file) with the columns naming the file first (see ``lead_columns``)."""
    import pandas as pd

    lead = lead_frame([cell] * len(table), cell.specimen_id is not None)
    return pd.concat([lead, table.reset_index(drop=True)], axis=1)


def files_table(files: dict[int, CellFile]) -> pd.DataFrame:
    """The ``nwb_files`` table of ``files``: one row per cell, the ``COLUMNS``."""
    import pandas as pd

    values = {
        "cell_specimen_id": [file.specimen_id for file in files.values()],
        "ephys_session_id": [file.session_id for file in files.values()],
        "dandi_path": [file.dandi_path for file in files.values()],
        "asset_id": [file.asset_id for file in files.values()],
        "size": [file.size for file in files.values()],
        "sha256": [file.sha256 for file in files.values()],
        "in_manifest": [file.manifest is not None for file in files.values()],
        "manifest_sha256": [file.manifest.sha256 if file.manifest else None for file in files.values()],
        "manifest_matches": [file.manifest_matches for file in files.values()],
    }
    return pd.DataFrame({name: pd.Series(values[name], dtype=dtype) for name, (dtype, _) in COLUMNS.items()})


def _manifest_files(archive: Archive) -> dict[int, ManifestFile]:
    rows = query_table(archive.manifest, [("technique", "==", EPHYS)], _MANIFEST_COLUMNS).read()
    rows = rows[rows["cell_specimen_id"].notna()]
    return {
        int(row.cell_specimen_id): ManifestFile(
            row.dandi_path if isinstance(row.dandi_path, str) else None, row.sha256_checksum, int(row.file_size)
        )
        for row in rows.itertuples(index=False)
    }
