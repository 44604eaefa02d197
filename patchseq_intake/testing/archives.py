"""Stand-ins for BIL and NeMO: the release's SWC files and transcriptomes at the release's paths, packed as NeMO packs them.

``serve_archives(server, cells)`` serves, for each ``ArchiveCell``:

- with a reconstruction: its transformed and raw SWC and its marker file
  (``testing.morphology``), served under ``/bil/biccn/<lab>/pseq/morph/200526/``
  (``lein`` for human, ``zeng`` for mouse, as the manifest's paths);
- with a transcriptome: a tar of its FASTQ pair (``_R1``/``_R2`` ``.fastq.gz``)
  under ``/nemo/other/AIBS/AIBS_patchseq/transcriptome/scell/SMARTseq/raw/20200611/``
  and a tar of its BAM under ``.../processed/align/20200611/``;

and, where any mouse cell has a transcriptome, the four expression matrices
(``testing.transcriptomes``; samples: those cells' ``transcriptomics_sample_id``),
each in a tar holding ``<stem>/<stem>.csv``, under ``.../processed/analysis/20200611/``.
It gives the manifest rows that describe them as the release's do: the dead
``archive_uri`` (BIL's FTP server, NeMO's old ``/other/grant/`` folder) and
the size, SHA-256 and MD5 of each file (of the tar's member, not the tar).
``ServedArchives.environment()`` points ``PATCHSEQ_INTAKE_BIL`` and
``PATCHSEQ_INTAKE_NEMO`` at the server.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import tarfile
from dataclasses import dataclass, field

import numpy as np

from .. import config
from .morphology import marker_bytes, swc_bytes
from .server import LocalServer
from .transcriptomes import gene_symbols, matrix_csv

BIL, NEMO = "/bil", "/nemo"
LABS = {"human": "lein", "mouse": "zeng"}
BIL_DEAD = "ftp://download.brainlib.org:8811/"
NEMO_DEAD = "http://data.nemoarchive.org/other/grant/AIBS_patchseq/"
NEMO_LIVE = "other/AIBS/AIBS_patchseq/"
SMARTSEQ = "transcriptome/scell/SMARTseq"
MATRICES = {"counts": "count", "cpm": "cpm", "exon": "exon", "intron": "intron"}
"""The ``values`` of the transcriptomics entry -> the word in the matrix's file name."""
MATRIX_SEEDS = {"counts": 18, "cpm": 18, "exon": 19, "intron": 20}
"""The seed each matrix is written with (``testing.transcriptomes``: the CPM are those of the counts of its seed)."""
PROJECTS = {"human": "hIVSCC-MET", "mouse": "mIVSCC-MET"}


@dataclass(frozen=True)
class ArchiveCell:
    """A cell's files on BIL and NeMO: ``reconstruction`` (None, ``full`` or ``dendrite-only``), its
    ``sample_id`` (``transcriptomics_sample_id``) and whether it has a transcriptome (FASTQ pair, BAM, matrix column)."""

    archive: str
    specimen_id: int
    sample_id: str
    reconstruction: str | None = None
    transcriptome: bool = False


@dataclass
class ServedArchives:
    """What ``serve_archives`` serves: the manifest rows of each cell's files, those of no cell (the matrices),
    the matrices' genes and samples, and the server."""

    server: LocalServer
    cell_rows: dict[int, list[dict[str, object]]] = field(default_factory=dict)
    release_rows: dict[str, list[dict[str, object]]] = field(default_factory=dict)
    genes: list[str] = field(default_factory=list)
    samples: list[str] = field(default_factory=list)

    def environment(self) -> dict[str, str]:
        """The settings that point the catalogs' homes at this server."""
        return {config.BIL_ENV: f"{self.server.url}{BIL}", config.NEMO_ENV: f"{self.server.url}{NEMO}"}


def serve_archives(server: LocalServer, cells: list[ArchiveCell], genes: int = 80) -> ServedArchives:
    """Serve the cells' files from ``server`` (from memory: they are small), and give their manifest rows."""
    served = ServedArchives(server)
    for cell in cells:
        rows = served.cell_rows.setdefault(cell.specimen_id, [])
        if cell.reconstruction is not None:
            rows += _serve_reconstruction(server, cell)
        if cell.transcriptome:
            rows += _serve_reads(server, cell)
    with_transcriptome = [cell for cell in cells if cell.transcriptome and cell.archive == "mouse"]
    if with_transcriptome:
        served.genes = gene_symbols(genes)
        served.samples = [cell.sample_id for cell in with_transcriptome]
        served.release_rows["mouse"] = _serve_matrices(server, served)
    return served


def _serve_reconstruction(server: LocalServer, cell: ArchiveCell) -> list[dict[str, object]]:
    folder = f"biccn/{LABS[cell.archive]}/pseq/morph/200526"
    dendrite_only = cell.reconstruction == "dendrite-only"
    files = {
        "marker_swc": (f"{cell.specimen_id}.marker", marker_bytes(cell.specimen_id)),
        "raw_swc": (f"{cell.specimen_id}_raw.swc", swc_bytes(cell.specimen_id, "raw", dendrite_only=dendrite_only)),
        "transformed_swc": (f"{cell.specimen_id}_transformed.swc",
                            swc_bytes(cell.specimen_id, "transformed", dendrite_only=dendrite_only)),
    }
    rows = []
    for file_type, (name, data) in files.items():
        server.serve_file(f"{BIL}/{folder}/{name}", data)
        rows.append(manifest_row(cell.archive, cell.specimen_id, "morphology", file_type, name, data, "BIL",
                         f"{BIL_DEAD}{folder}/{name}"))
    return rows


def _serve_reads(server: LocalServer, cell: ArchiveCell) -> list[dict[str, object]]:
    """A cell's FASTQ pair in one tar and its BAM in another, as NeMO packs them."""
    rng = np.random.default_rng(cell.specimen_id % 2**32)
    stem = f"{cell.sample_id}_ACGTACGT-TGCATGCA"
    pair = {f"{stem}_R{n}.fastq.gz": _fastq_gz(rng, cell.sample_id, n) for n in (1, 2)}
    bam_name = f"ar_{cell.specimen_id}_STAR_Aligned.sortedByCoord.out.bam"
    bam = {bam_name: gzip.compress(b"BAM\x01" + rng.bytes(2048), mtime=0)}
    raw, align = f"{SMARTSEQ}/raw/20200611", f"{SMARTSEQ}/processed/align/20200611"
    server.serve_file(f"{NEMO}/{NEMO_LIVE}{raw}/{stem}.fastq.tar", tar_bytes(pair))
    server.serve_file(f"{NEMO}/{NEMO_LIVE}{align}/{bam_name}.tar", tar_bytes(bam))
    rows = [
        manifest_row(cell.archive, cell.specimen_id, "transcriptomics", file_type, name, data, "NEMO",
             f"{NEMO_DEAD}{raw}/{stem}.fastq.tar")
        for file_type, (name, data) in zip(("forward_fastq", "reverse_fastq"), pair.items())
    ]
    rows.append(manifest_row(cell.archive, cell.specimen_id, "transcriptomics", "bam_file", bam_name, bam[bam_name], "NEMO",
                     f"{NEMO_DEAD}{align}/{bam_name}.tar"))
    return rows


def _serve_matrices(server: LocalServer, served: ServedArchives) -> list[dict[str, object]]:
    """The four matrices, each a tar holding ``<stem>/<stem>.csv``."""
    analysis = f"{SMARTSEQ}/processed/analysis/20200611"
    rows = []
    for values, word in MATRICES.items():
        stem = f"20200513_Mouse_PatchSeq_Release_{word}"
        data = matrix_csv(served.genes, served.samples, values, seed=MATRIX_SEEDS[values])
        server.serve_file(f"{NEMO}/{NEMO_LIVE}{analysis}/{stem}.csv.tar", tar_bytes({f"{stem}/{stem}.csv": data}))
        rows.append(manifest_row("mouse", None, "transcriptomics", "csv", f"{stem}.csv", data, "NEMO",
                         f"{NEMO_DEAD}{analysis}/{stem}.csv.tar"))
    return rows


def _fastq_gz(rng: np.random.Generator, sample_id: str, mate: int) -> bytes:
    """A few reads in FASTQ, gzipped (the bytes only matter as bytes: FASTQ is listed and fetched, not parsed)."""
    reads = []
    for n in range(8):
        bases = "".join(rng.choice(list("ACGT"), 50))
        reads.append(f"@{sample_id}:{n} {mate}:N:0\n{bases}\n+\n{'I' * 50}\n")
    return gzip.compress("".join(reads).encode(), mtime=0)


def tar_bytes(members: dict[str, bytes]) -> bytes:
    """A plain tar holding ``members`` (name -> bytes), as NeMO's are (not compressed)."""
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=tarfile.GNU_FORMAT) as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size, info.mtime, info.mode = len(data), 1591833600, 0o644
            tar.addfile(info, io.BytesIO(data))
    return out.getvalue()


def manifest_row(archive: str, specimen_id: int | None, technique: str, file_type: str, name: str, data: bytes,
         home: str, uri: str) -> dict[str, object]:
    """A manifest row describing ``data`` as the release's rows do (its size, SHA-256 and MD5; the dead link)."""
    return {
        "file_id": int(hashlib.sha256(name.encode()).hexdigest()[:8], 16),
        "file_name": name,
        "file_size": len(data),
        "sha256_checksum": hashlib.sha256(data).hexdigest(),
        "md5_checksum": hashlib.md5(data).hexdigest(),
        "technique": technique,
        "file_type": file_type,
        "archive": home,
        "archive_uri": uri,
        "project": PROJECTS[archive],
        "cell_specimen_id": specimen_id,
    }
