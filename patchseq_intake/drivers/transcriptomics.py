"""The intake driver for transcriptomes: cells -> their samples in the release's expression matrix on NeMO."""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from functools import cached_property
from typing import TYPE_CHECKING, Any

from intake.source.base import DataSource, Schema

from ..archives.homes import Homes
from ..errors import (
    InvalidQueryError,
    NoMatchingCellsError,
    NoReleaseFileError,
    UnknownCellError,
    brief,
    caller_stacklevel,
)
from ..tables.release import Archive
from ..version import __version__
from .parameters import PlainParameters, flag, list_of, plain, specimen_ids, text

if TYPE_CHECKING:
    import pandas as pd

    from ..archives.found import Found
    from ..archives.release_files import ReleaseFile
    from ..transcriptomes.matrix_store import MatrixStore

SAMPLE = "transcriptomics_sample_id"


class TranscriptomicsSource(PlainParameters, DataSource):
    """Gene expression of Patch-seq cells: a cells x genes table from one of the release's four matrices.

    Parameters
    ----------
    archive, metadata_table, manifest_table:
        The archive and its release tables, as for ``ephys``.
    homes:
        The catalog's rewrites of the manifest's dead links (``archives.homes``).
    matrices:
        ``{values: file_name}``: the manifest's file of each matrix (``counts``, ``cpm``, ``exon``, ``intron``).
    genes:
        Gene symbols (the matrix's row names, e.g. ``["Pvalb", "Sst"]``); None (default) for every gene.
    specimen_id, filters:
        The cells, as for ``ephys``: ids, metadata filters, or both; neither: every cell.
    values:
        ``counts`` (default: reads per gene, exons and introns), ``cpm`` (counts per million),
        ``exon`` or ``intron`` (counts of exonic or intronic reads).
    accept_other_bytes:
        Take a matrix whose live home holds other bytes than the manifest's SHA-256 (default False: refused).

    ``read()`` gives one row per cell: ``cell_specimen_id``,
    ``transcriptomics_sample_id`` (the metadata's, by which cells are joined
    to the matrix's columns), then one column per gene, in the order asked.
    The first use fetches the matrix (370-870 MB, with progress, resumed if
    cut), verifies it against the manifest's SHA-256 and converts it once
    into a store in the cache; later uses read only the genes and cells asked.
    ``to_anndata()`` gives the same selection as an ``anndata.AnnData``
    (the ``transcriptomics`` extra).
    """

    container = "dataframe"
    name = "patchseq_transcriptomics"
    version = __version__
    partition_access = True

    def __init__(
        self,
        archive: str,
        metadata_table: dict[str, str],
        manifest_table: dict[str, str],
        homes: Sequence[Mapping[str, Any]],
        matrices: Mapping[str, str],
        genes: Sequence[str] | None = None,
        specimen_id: int | Sequence[int] | None = None,
        filters: Sequence[Sequence[Any]] | None = None,
        values: str = "counts",
        accept_other_bytes: bool = False,
        metadata: dict | None = None,
    ):
        if values not in matrices:
            raise InvalidQueryError(f"values must be one of {', '.join(matrices)}, not {brief(values)}")
        self.archive = Archive.from_catalog(archive, metadata_table, manifest_table)
        self.homes = Homes.from_catalog(plain(homes))
        self.values = values
        self.matrix_name = matrices[values]
        self.genes = _genes(genes)
        self.accept_other_bytes = flag(accept_other_bytes, "accept_other_bytes")
        self.specimen_ids = specimen_ids(specimen_id)
        self._filters = [] if filters is None else plain(filters)
        super().__init__(metadata=metadata)

    @cached_property
    def matrix_file(self) -> ReleaseFile:
        """The manifest's row of the matrix of these ``values``."""
        from ..archives.release_files import release_files

        files = release_files(self.archive, self.homes, "transcriptomics", "csv")
        chosen = next((file for file in files if file.file_name == self.matrix_name), None)
        if chosen is None:
            raise NoReleaseFileError(
                f"the {self.archive.name} release manifest has no expression matrix {self.matrix_name} "
                f"(values={self.values!r}); its matrices: {brief([file.file_name for file in files]) if files else 'none'}"
            )
        return chosen

    def matrix(self) -> MatrixStore:
        """The matrix's store in the cache: fetched, verified and converted on first use (``access.expression_store``)."""
        from ..access.expression_store import expression_store
        from ..archives.fetching import announce_other_bytes, fetch_release_files
        from ..archives.found import other_path

        def fetched_csv():
            fetched = fetch_release_files([self.matrix_file], accept_other_bytes=self.accept_other_bytes)[0]
            return fetched.path, fetched.found.sha256

        known, seen = self._converted_from()
        if seen is not None and not seen.matches:  # other bytes: said once a process, as when they were fetched
            announce_other_bytes(self.matrix_file, seen, other_path(seen))
        what = f"the {self.archive.name} {self.values} matrix ({self.matrix_name})"
        return expression_store(fetched_csv, what, sha256=known)

    def is_converted(self) -> bool:
        """Whether the matrix's store is in the cache, as verified: then reading fetches nothing (no request; the
        866 MB CPM matrix is not downloaded). Looks at the cache only."""
        from ..access.expression_store import store_path
        from ..transport.verified import check

        known, _ = self._converted_from()
        return known is not None and check(store_path(known))

    def _converted_from(self) -> tuple[str | None, Found | None]:
        """The SHA-256 of the CSV whose store to read (the manifest's; with ``accept_other_bytes``, that of the bytes
        fetched before, None if none were), and what was fetched (None where unknown or not asked)."""
        from ..archives.found import read_found

        if not self.accept_other_bytes:
            return self.matrix_file.sha256, None  # the manifest's bytes, whose store needs no look at the CSV
        seen = read_found(self.matrix_file.sha256)
        return (seen.sha256 if seen is not None else None), seen

    @cached_property
    def cells(self) -> pd.DataFrame:
        """The selected cells that the matrix has: ``cell_specimen_id`` and ``transcriptomics_sample_id``."""
        from ..tables.cells import matching_cells
        from ..tables.release import query_table

        try:
            chosen = matching_cells(self.archive, self.specimen_ids, self._filters, "transcriptomics")
        except UnknownCellError as exc:
            if exc.elsewhere is None:
                raise
            raise UnknownCellError(  # the other archive has no transcriptomics entry to send the user to
                f"{exc.args[0]}; they are cells of the {exc.elsewhere} dataset, whose release has no transcriptomes"
            ) from None
        samples = query_table(self.archive.metadata, columns=["cell_specimen_id", SAMPLE]).read()
        samples = samples.set_index("cell_specimen_id").loc[chosen].reset_index()
        matrix = self.matrix()
        name = matrix.source_name  # the file read: the manifest's, or other bytes accepted (a .v2 matrix)
        have = set(matrix.samples)
        present = samples[SAMPLE].isin(have)
        missing = samples[~present]
        if len(missing) and self.specimen_ids:
            raise NoReleaseFileError(
                f"{name} has no sample of {self.archive.name} cell(s) "
                f"{brief(missing['cell_specimen_id'].tolist())} (their {SAMPLE}: "
                f"{brief(missing[SAMPLE].tolist())}); it holds {len(have)} samples"
            )
        if not present.any():
            raise NoMatchingCellsError(
                f"none of the {len(samples)} {self.archive.name} cells chosen is in {name}: cell(s) "
                f"{brief(missing['cell_specimen_id'].tolist())} (their {SAMPLE}: {brief(missing[SAMPLE].tolist())}); "
                f"it holds {len(have)} samples: choose other cells"
            )
        if len(missing):
            warnings.warn(
                f"{len(missing)} of the {len(samples)} {self.archive.name} cells chosen have no sample in "
                f"{name} and are left out: {brief(missing['cell_specimen_id'].tolist())}",
                stacklevel=caller_stacklevel(),
            )
        return samples[present].reset_index(drop=True)

    def _get_schema(self) -> Schema:
        genes = self.genes if self.genes is not None else list(self.matrix().genes)
        return Schema(dtype=None, shape=(len(self.cells), 2 + len(genes)), npartitions=1, extra_metadata={})

    def read(self) -> pd.DataFrame:
        """One row per selected cell: ``cell_specimen_id``, ``transcriptomics_sample_id``, then the genes' values."""
        self._load_metadata()
        cells = self.cells
        values = self.matrix().select(self.genes, cells[SAMPLE].tolist())
        frame = values.reset_index(drop=True)
        frame.insert(0, "cell_specimen_id", cells["cell_specimen_id"].to_numpy())
        frame.insert(1, SAMPLE, cells[SAMPLE].to_numpy())
        return frame

    def _get_partition(self, i: int) -> pd.DataFrame:
        return self.read()

    def to_dask(self):
        """The table as a Dask DataFrame of one partition."""
        import dask.dataframe as dd

        return dd.from_pandas(self.read(), npartitions=1)

    def to_anndata(self):
        """The selection as an ``anndata.AnnData``: ``obs`` the cells (indexed by ``transcriptomics_sample_id``,
        with ``cell_specimen_id``), ``var`` the genes, ``X`` the values, ``uns["patchseq_intake"]`` where they come
        from (``values``, the matrix's file name and SHA-256). Needs the ``transcriptomics`` extra."""
        try:
            import anndata
        except ImportError as exc:
            raise ImportError(
                'to_anndata() needs anndata: pip install "patchseq-intake[transcriptomics]" (from a clone of the '
                'project: pip install ".[transcriptomics]")'
            ) from exc
        import pandas as pd

        frame = self.read()
        genes = [column for column in frame.columns if column not in ("cell_specimen_id", SAMPLE)]
        obs = pd.DataFrame({"cell_specimen_id": frame["cell_specimen_id"].to_numpy()},
                           index=pd.Index(frame[SAMPLE].astype(str), name=SAMPLE))
        var = pd.DataFrame(index=pd.Index(genes, name="gene"))
        matrix = self.matrix()
        source = {"values": self.values, "matrix": matrix.source_name, "sha256": matrix.source_sha256}
        return anndata.AnnData(X=frame[genes].to_numpy(), obs=obs, var=var, uns={"patchseq_intake": source})

    def _close(self) -> None:
        self.__dict__.pop("cells", None)
        self.__dict__.pop("matrix_file", None)


def _genes(value: Sequence[str] | None) -> list[str] | None:
    """The ``genes`` parameter: a non-empty list of gene symbols (text), or None for every gene."""
    if value is None:
        return None
    if isinstance(value, str):
        value = [value]
    genes = list_of(value, "genes", "a list of gene symbols (e.g. ['Pvalb', 'Sst']), or None for every gene")
    if not genes:
        raise InvalidQueryError("genes=[] names no gene: give gene symbols, e.g. ['Pvalb', 'Sst'], or None for all")
    symbols = [text(gene, "each of genes", "a gene symbol (text, e.g. 'Pvalb')") for gene in genes]
    return list(dict.fromkeys(symbols))  # a gene named twice is one column
