"""The release manifest's files that are not on DANDI, each with where it lives today.

One ``ReleaseFile`` per manifest row of the ``morphology`` and
``transcriptomics`` techniques: the cell (None for the four release-wide
expression matrices), the technique and file type, the manifest's name, size
and SHA-256 (of the file itself, also where NeMO packs it in a tar), the
manifest's dead ``archive_uri``, and the live ``locations`` the catalog's
``homes`` give for it. ``files_table`` makes the ``files`` entry's table of
them, with what the cache has seen of each (``found``).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import TYPE_CHECKING
from urllib.parse import urlparse

from ..tables.release import Archive, query_table
from .found import found_of
from .homes import Homes, Location

if TYPE_CHECKING:
    import pandas as pd

TECHNIQUES = ("morphology", "transcriptomics")
"""The manifest's techniques whose files are not on DANDI."""

COLUMNS: dict[str, tuple[str, str]] = {
    "cell_specimen_id": ("Int64", "the cell; missing for the release-wide expression matrices"),
    "technique": ("string", "morphology or transcriptomics"),
    "file_type": ("string", "the manifest's: transformed_swc, raw_swc, marker_swc, forward_fastq, reverse_fastq, "
                            "bam_file, csv"),
    "file_name": ("string", "the manifest's name of the file"),
    "size": ("int64", "bytes, as the manifest gives them (of the file, also where it is packed in a tar)"),
    "sha256": ("string", "the manifest's SHA-256 of the file: what fetched bytes are verified against"),
    "archive": ("string", "BIL or NEMO"),
    "manifest_uri": ("string", "the manifest's archive_uri (dead: BIL's FTP server, NeMO's old folder)"),
    "url": ("string", "where the file is fetched from today (the catalog's homes); missing where no rule knows the link"),
    "packed_in": ("string", "the tar at url that holds the file; missing where url is the file itself"),
    "bytes_match": ("boolean", "whether the bytes fetched into this cache are the manifest's; missing: not fetched here"),
    "found_url": ("string", "where the fetched bytes came from (the url, or an alternate name); missing: not fetched"),
    "found_name": ("string", "the name of the fetched file (the tar's member, or the file's)"),
    "found_sha256": ("string", "the SHA-256 of the fetched bytes; differs from sha256 where bytes_match is false"),
}
"""The ``files`` table's columns: pandas dtype and meaning."""

_MANIFEST_COLUMNS = ["cell_specimen_id", "technique", "file_type", "file_name", "file_size", "sha256_checksum",
                     "archive", "archive_uri"]


@dataclass(frozen=True)
class ReleaseFile:
    """A manifest row's file on BIL or NeMO: what the manifest pins, and where it lives today.

    ``size`` (bytes) and ``sha256`` are the manifest's, of the file itself;
    ``locations`` are where to fetch it, best first (empty: no rule of the
    catalog's homes knows its ``manifest_uri``).
    """

    specimen_id: int | None
    technique: str
    file_type: str
    file_name: str
    size: int
    sha256: str
    archive: str
    manifest_uri: str
    locations: tuple[Location, ...]
    packed_size: int | None = None
    """Where the file is packed in a tar: the manifest's sizes of every file that tar holds, added up (bytes; a
    FASTQ pair's tar holds both reads, whichever is asked for); None where it is not packed or not known."""

    @property
    def url(self) -> str | None:
        """The first place it is fetched from today."""
        return self.locations[0].url if self.locations else None

    @property
    def packed_in(self) -> str | None:
        """The name of the tar at ``url`` that holds the file; None where ``url`` is the file."""
        if not self.locations or self.locations[0].member is None:
            return None
        return PurePosixPath(urlparse(self.locations[0].url).path).name

    @property
    def label(self) -> str:
        """How messages name the file: ``<file_type> <file_name> of cell <id>`` (or ``of the release``)."""
        owner = f"cell {self.specimen_id}" if self.specimen_id is not None else "the release"
        return f"{self.file_type} {self.file_name} of {owner}"


def release_files(
    archive: Archive, homes: Homes, technique: str | None = None, file_type: str | None = None
) -> list[ReleaseFile]:
    """Every manifest row of ``archive`` not on DANDI (of one ``technique``, and one ``file_type``, if given), in
    manifest order.

    Reads the manifest (cached after the first use); no request for a file.
    """
    techniques = [technique] if technique else list(TECHNIQUES)
    rows = query_table(archive.manifest, [("technique", "in", techniques)], _MANIFEST_COLUMNS).read()
    packed = rows.groupby("archive_uri")["file_size"].sum().to_dict()  # the files sharing a link share its tar
    if file_type is not None:  # after the sums: a FASTQ pair's tar holds both types
        rows = rows[rows["file_type"] == file_type]
    specimens = rows["cell_specimen_id"].astype("Int64").astype(object).where(rows["cell_specimen_id"].notna(), None)
    locate = homes.locator()
    files = []
    for specimen, row in zip(specimens.tolist(), rows.itertuples(index=False)):
        locations = locate(row.archive, row.archive_uri, row.file_name)
        files.append(
            ReleaseFile(
                specimen_id=None if specimen is None else int(specimen),
                technique=row.technique,
                file_type=row.file_type,
                file_name=row.file_name,
                size=int(row.file_size),
                sha256=str(row.sha256_checksum).lower(),
                archive=row.archive,
                manifest_uri=row.archive_uri,
                locations=locations,
                packed_size=int(packed[row.archive_uri]) if locations and locations[0].member else None,
            )
        )
    return files


def files_table(files: list[ReleaseFile]) -> pd.DataFrame:
    """The ``files`` table of ``files``: one row per file, the ``COLUMNS``, with what this cache has found of each."""
    import pandas as pd

    seen = found_of([file.sha256 for file in files])
    found = [seen.get(file.sha256) for file in files]
    values = {
        "cell_specimen_id": [file.specimen_id for file in files],
        "technique": [file.technique for file in files],
        "file_type": [file.file_type for file in files],
        "file_name": [file.file_name for file in files],
        "size": [file.size for file in files],
        "sha256": [file.sha256 for file in files],
        "archive": [file.archive for file in files],
        "manifest_uri": [file.manifest_uri for file in files],
        "url": [file.url for file in files],
        "packed_in": [file.packed_in for file in files],
        "bytes_match": [seen.matches if seen else None for seen in found],
        "found_url": [seen.url if seen else None for seen in found],
        "found_name": [seen.name if seen else None for seen in found],
        "found_sha256": [seen.sha256 if seen else None for seen in found],
    }
    return pd.DataFrame({name: pd.Series(values[name], dtype=dtype) for name, (dtype, _) in COLUMNS.items()})
