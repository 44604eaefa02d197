"""An expression matrix converted once into an HDF5 store that reads any genes x samples without the rest.

Layout of a store (format version ``FORMAT_VERSION``), one HDF5 file:

- ``genes``: the gene symbols (UTF-8 text), in the CSV's row order, repeats kept;
- ``samples``: the sample ids (UTF-8 text), in the CSV's column order;
- ``values``: genes x samples, float64, chunked ``genes_per_chunk`` gene rows x every sample, compressed
  (gzip level ``GZIP_LEVEL`` after byte shuffling);
- attributes: ``format`` (``FORMAT``), ``format_version``, ``source_sha256`` (of the CSV converted),
  ``source_name`` (its file name), ``integral`` (every value of the file is a whole number),
  ``genes_per_chunk``.

Why so: a selection is asked by gene symbols and sample ids, few genes (a
marker panel) of many samples. A chunk holding whole gene rows makes a
gene's values one read of one chunk, whichever samples are asked; a chunk of
``CHUNK_BYTES`` (128 KiB: 3 genes of the release's 4435 samples) keeps what
is read and decompressed for a gene small (50 genes: at most 50 chunks, 6 MiB
before compression) and the chunk index small enough (15 000 chunks of a 45 000-gene
matrix) to be found at once. Values are float64 whatever the file holds, so
that the conversion decides nothing before it has seen every value (one
pass): float64 holds every count exactly (integers up to 2**53) and every
CPM as written (no float32 rounding); ``integral`` then says whether the
file held whole numbers only (counts), which ``select`` gives as int64.
Zeros, most of a single-cell matrix, cost next to nothing once shuffled and
compressed.

``convert`` writes a store from a CSV in one pass with bounded memory (a
block of gene rows at a time, ``BLOCK_CHUNKS`` chunks); ``MatrixStore`` reads
one. Knows nothing of caches or downloads: ``access.expression_store`` keeps
stores in the cache.
"""

from __future__ import annotations

import difflib
import io
import warnings
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import h5py
import numpy as np

from ..errors import InvalidQueryError, ReleaseFileFormatError, brief, caller_stacklevel
from .matrix_csv import MatrixCsv

if TYPE_CHECKING:
    import pandas as pd

FORMAT = "patchseq-intake expression matrix"
FORMAT_VERSION = 1
CHUNK_BYTES = 128 * 1024
"""The uncompressed size aimed at for a chunk of whole gene rows (at least one row)."""
GZIP_LEVEL = 4
BLOCK_CHUNKS = 64
"""Chunks of gene rows parsed and written at a time by ``convert`` (64 x 3 genes x 4435 samples: 9 MiB)."""
READ_RUN_CHUNKS = 64
"""Consecutive chunks ``select`` reads at once, at most (asked genes in neighbouring chunks)."""
CLOSEST = 5
EXACT_INTEGERS = 2**53
"""The largest whole numbers float64 holds exactly: a file of larger ones (no count is) stays float64, not int64."""
SAMPLE_AXIS, GENE_AXIS = "transcriptomics_sample_id", "gene"


def genes_per_chunk(n_samples: int) -> int:
    """Gene rows per chunk for a matrix of ``n_samples`` columns: ``CHUNK_BYTES`` of float64, at least one row."""
    return max(1, CHUNK_BYTES // (8 * n_samples))


def convert(
    csv_path: Path, store_path: Path, *, source_sha256: str, progress: Callable[[int], None] | None = None,
    chunk_genes: int | None = None,
) -> None:
    """Convert the matrix CSV at ``csv_path`` into a store at ``store_path`` (created or overwritten).

    ``source_sha256``: the CSV's SHA-256 (kept in the store, which is named by
    it in the cache). ``progress(n)`` is called with each ``n`` bytes of CSV
    read. ``chunk_genes``: gene rows per chunk (default ``genes_per_chunk``).
    ``ReleaseFileFormatError`` naming the file, the line and the fault for a
    CSV that is not a matrix (see ``matrix_csv``). On any error the partial
    store is removed; the caller writes to a temporary name and renames it
    into place (``transport.atomic``), so that no half-written store is ever
    found under its final name.
    """
    try:
        with MatrixCsv(csv_path, progress) as matrix, _Output(store_path) as output:
            with h5py.File(output, "w") as store:
                _write(matrix, store, output, source_sha256, chunk_genes or genes_per_chunk(len(matrix.samples)))
            output.check()  # closing wrote the last chunks and the metadata
    except BaseException:
        Path(store_path).unlink(missing_ok=True)
        raise


class _Output(io.FileIO):
    """The store's file as HDF5 writes it (h5py's ``fileobj`` driver): what the file system refuses is kept.

    A write refused (no space left, a quota, an I/O error) is kept in
    ``refused`` and every later write is dropped, unseen by HDF5, so that the
    library stays sound and the file closes cleanly; ``check()`` raises the
    refusal (``convert`` checks after each block and after closing, then
    removes the file). HDF5 told of a failed write by its own file driver
    keeps the file half-closed and may crash the process at exit.
    """

    refused: OSError | None = None

    def __init__(self, path: Path):
        super().__init__(path, "w+")

    def write(self, data) -> int:  # type: ignore[no-untyped-def, override]
        view = memoryview(data).cast("B")
        if self.refused is None:
            try:
                while view.nbytes:
                    view = view[super().write(view) or 0:]
            except OSError as exc:
                self.refused = exc
        return memoryview(data).nbytes

    def truncate(self, size: int | None = None) -> int:
        if self.refused is None:
            try:
                return super().truncate(size)
            except OSError as exc:
                self.refused = exc
        return size if size is not None else self.tell()

    def flush(self) -> None:
        if self.refused is None:
            super().flush()

    def check(self) -> None:
        """Raise what the file system refused, if it refused a write."""
        if self.refused is not None:
            raise self.refused


def _write(matrix: MatrixCsv, store: h5py.File, output: _Output, source_sha256: str, chunk_genes: int) -> None:
    n_samples = len(matrix.samples)
    values = store.create_dataset(
        "values", shape=(0, n_samples), maxshape=(None, n_samples), dtype=np.float64, chunks=(chunk_genes, n_samples),
        compression="gzip", compression_opts=GZIP_LEVEL, shuffle=True,
    )
    genes: list[str] = []
    integral = True
    for block in matrix.blocks(chunk_genes * BLOCK_CHUNKS):
        start = len(genes)
        values.resize(start + len(block.genes), axis=0)
        values[start:] = block.values
        output.check()
        genes.extend(block.genes)
        read = block.values
        integral = integral and bool((read == np.floor(read)).all() and (np.abs(read) <= EXACT_INTEGERS).all())
    text = h5py.string_dtype("utf-8")
    store.create_dataset("genes", data=np.array(genes, dtype=object), dtype=text)
    store.create_dataset("samples", data=np.array(matrix.samples, dtype=object), dtype=text)
    store.attrs.update({
        "format": FORMAT, "format_version": FORMAT_VERSION, "source_sha256": source_sha256.lower(),
        "source_name": matrix.path.name, "integral": integral, "genes_per_chunk": chunk_genes,
    })


def _open(path: Path) -> h5py.File:
    """The store's HDF5 file, open for reading."""
    return h5py.File(path, "r")


class MatrixStore:
    """A store written by ``convert``, read by selection.

    ``genes`` (file order, repeats kept), ``samples``, ``source_sha256``,
    ``source_name`` (the CSV's name, for messages), ``integral``,
    ``duplicated_genes`` (each repeated symbol -> its rows, 0-based positions
    in ``genes``). Opening reads the attributes and the two lists of names,
    not the values. ``ReleaseFileFormatError`` if ``path`` is not a store of
    this format version; h5py's ``OSError`` if it is not an HDF5 file.
    """

    def __init__(self, path: Path):
        self.path = Path(path)
        with _open(self.path) as store:
            attrs = dict(store.attrs)
            if attrs.get("format") != FORMAT or attrs.get("format_version") != FORMAT_VERSION:
                raise ReleaseFileFormatError(
                    f"{self.path} is not a {FORMAT} of format version {FORMAT_VERSION} (it says "
                    f"{attrs.get('format')!r}, version {attrs.get('format_version')!r})"
                )
            self.genes: tuple[str, ...] = tuple(store["genes"].asstr()[()].tolist())
            self.samples: tuple[str, ...] = tuple(store["samples"].asstr()[()].tolist())
            shape = store["values"].shape
        if shape != (len(self.genes), len(self.samples)):
            raise ReleaseFileFormatError(f"{self.path}: values of shape {shape} for {len(self.genes)} genes x "
                                         f"{len(self.samples)} samples")
        self.source_sha256: str = str(attrs["source_sha256"])
        self.source_name: str = str(attrs["source_name"])
        self.integral: bool = bool(attrs["integral"])
        self._chunk_genes = int(attrs["genes_per_chunk"])
        last = len(self.genes) - 1  # each symbol's first row: the earlier rows written over the later ones
        self._gene_rows: dict[str, int] = dict(zip(reversed(self.genes), range(last, -1, -1)))
        self.duplicated_genes: dict[str, tuple[int, ...]] = {}
        if len(self._gene_rows) < len(self.genes):
            repeated = {gene for gene, count in Counter(self.genes).items() if count > 1}
            for row, gene in enumerate(self.genes):
                if gene in repeated:
                    self.duplicated_genes[gene] = (*self.duplicated_genes.get(gene, ()), row)
        self._sample_columns = {sample: column for column, sample in enumerate(self.samples)}

    def __repr__(self) -> str:
        return f"<MatrixStore of {self.source_name}: {len(self.genes)} genes x {len(self.samples)} samples>"

    def missing(self, samples: Sequence[str]) -> list[str]:
        """The ``samples`` the matrix has no column of, in the order given."""
        return [sample for sample in samples if sample not in self._sample_columns]

    def select(self, genes: Sequence[str] | None = None, samples: Sequence[str] | None = None) -> pd.DataFrame:
        """The values of ``genes`` (symbols; None: every row) in ``samples`` (ids; None: every column).

        Rows are the samples and columns the genes, each in the order asked
        (index ``transcriptomics_sample_id``, columns ``gene``); int64 where
        the file held whole numbers only, else float64. Only the chunks
        holding the asked genes are read. A repeated symbol asked gives its
        first row, and a ``UserWarning`` naming it and its rows; with
        ``genes=None`` every row is given, a repeated symbol as several
        columns. ``InvalidQueryError`` (``parameter`` ``genes`` or
        ``samples``) for a name the matrix does not have: an unknown gene with
        the closest symbols, unknown samples listed (``missing`` gives them).
        """
        import pandas as pd

        rows = list(range(len(self.genes))) if genes is None else self._rows(genes)
        columns = None if samples is None else self._columns(samples)
        data = self._read(rows, columns)
        if self.integral:
            data = data.astype(np.int64)
        return pd.DataFrame(
            data.T,
            index=pd.Index(list(self.samples if samples is None else samples), name=SAMPLE_AXIS),
            columns=pd.Index(list(self.genes if genes is None else genes), name=GENE_AXIS),
        )

    def _rows(self, genes: Sequence[str]) -> list[int]:
        """The row of each gene asked; the errors and warnings of ``select``."""
        if isinstance(genes, str):
            genes = [genes]
        unknown = [gene for gene in genes if gene not in self._gene_rows]
        if unknown:
            hints = "; ".join(f"{gene!r} (closest: {', '.join(map(repr, self.closest(gene))) or 'none'})"
                              for gene in unknown[:CLOSEST])
            more = f"; and {len(unknown) - CLOSEST} more" if len(unknown) > CLOSEST else ""
            problem = f"{len(unknown)} of the genes asked are not in {self.source_name}: {hints}{more}"
            raise InvalidQueryError(f"genes: {problem}", problem=problem, parameter="genes", given=unknown)
        repeated = {gene: self.duplicated_genes[gene] for gene in dict.fromkeys(genes) if gene in self.duplicated_genes}
        if repeated:
            said = "; ".join(f"{gene!r} is on rows {', '.join(map(str, rows))}" for gene, rows in repeated.items())
            warnings.warn(f"{self.source_name} has several rows of the same gene symbol: {said} (0-based gene rows); "
                          "the first row of each is given", UserWarning, stacklevel=caller_stacklevel())
        return [self._gene_rows[gene] for gene in genes]

    def closest(self, gene: str) -> list[str]:
        """Up to five symbols of the matrix closest to ``gene``: those equal but for case first, then by likeness."""
        same = [symbol for symbol in self._gene_rows if symbol.lower() == gene.lower()]
        alike = difflib.get_close_matches(gene, list(self._gene_rows), n=CLOSEST, cutoff=0.6)
        return list(dict.fromkeys(same + alike))[:CLOSEST]

    def _columns(self, samples: Sequence[str]) -> list[int]:
        if isinstance(samples, str):
            samples = [samples]
        missing = self.missing(samples)
        if missing:
            problem = (f"{len(missing)} of the samples asked are not columns of {self.source_name}: {brief(missing)} "
                       f"(it has {len(self.samples)}, e.g. {brief(list(self.samples[:3]))})")
            raise InvalidQueryError(f"samples: {problem}", problem=problem, parameter="samples", given=missing)
        return [self._sample_columns[sample] for sample in samples]

    def _read(self, rows: list[int], columns: list[int] | None) -> np.ndarray:
        """``values[rows][:, columns]`` (genes x samples), reading only the chunks that hold ``rows``."""
        wanted = sorted(set(rows))
        width = len(self.samples) if columns is None else len(columns)
        found = np.empty((len(wanted), width), dtype=np.float64)
        with _open(self.path) as store:
            values = store["values"]
            done = 0
            for start, stop in self._runs(wanted):
                inside = [row for row in wanted[done:] if row < stop]
                block = values[start:stop]
                picked = block[np.asarray(inside) - start]
                found[done:done + len(inside)] = picked if columns is None else picked[:, columns]
                done += len(inside)
        position = {row: at for at, row in enumerate(wanted)}
        return found[[position[row] for row in rows]]

    def _runs(self, wanted: list[int]) -> Iterator[tuple[int, int]]:
        """Row ranges ``[start, stop)`` of whole chunks covering ``wanted`` (sorted rows): neighbouring chunks
        together, at most ``READ_RUN_CHUNKS`` of them."""
        size = self._chunk_genes
        chunks = sorted({row // size for row in wanted})
        run: list[int] = []
        for chunk in chunks:
            if run and (chunk != run[-1] + 1 or len(run) == READ_RUN_CHUNKS):
                yield run[0] * size, min((run[-1] + 1) * size, len(self.genes))
                run = []
            run.append(chunk)
        if run:
            yield run[0] * size, min((run[-1] + 1) * size, len(self.genes))
