"""The intake driver for reconstructions: cells -> their SWC (or marker) files on BIL -> points."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from intake.source.base import DataSource, Schema

from .. import config
from ..archives.homes import Homes
from ..errors import InvalidQueryError, UnknownCellError, brief
from ..tables.release import Archive
from ..version import __version__
from .parameters import PlainParameters, flag, partition_number, plain, specimen_ids, whole_number

if TYPE_CHECKING:
    import pandas as pd

    from ..archives.cell_files import CellFiles
    from ..morphology.swc import Reconstruction

KINDS = {"transformed": "transformed_swc", "raw": "raw_swc", "marker": "marker_swc"}
"""The ``kind`` parameter's values -> the manifest's file types."""
_WHAT = {"transformed": "transformed SWC reconstruction", "raw": "raw SWC reconstruction", "marker": "marker file"}
SWC_COLUMNS = {"id": "int64", "type": "int64", "x": "float64", "y": "float64", "z": "float64", "radius": "float64",
               "parent": "int64"}
"""An SWC file's columns, as ``morphology.swc.read_swc`` gives them (x, y, z, radius in micrometres)."""


class MorphologySource(PlainParameters, DataSource):
    """Reconstructions of Patch-seq cells from the Brain Image Library, one partition per cell.

    Parameters
    ----------
    archive, metadata_table, manifest_table:
        The archive (``human`` or ``mouse``) and its release tables, as for ``ephys``.
    homes:
        The catalog's rewrites of the manifest's dead links (``archives.homes``).
    specimen_id:
        One cell id or a non-empty list of them; None (default) for every cell the filters choose.
    filters:
        ``[[column, op, value], ...]`` on the cell metadata, as for the tables.
    kind:
        ``transformed`` (default: upright, as the release aligned it), ``raw`` (as traced) or ``marker``
        (the Vaa3D marker file: points of interest, such as where a dendrite was cut).
    accept_other_bytes:
        Take a file whose live home holds other bytes than the manifest's SHA-256 (default False: refused).

    ``read()`` gives one row per SWC sample: ``cell_specimen_id``,
    ``neuron_reconstruction_type`` (the metadata's: ``full`` or
    ``dendrite-only``), then the SWC's ``id, type, x, y, z, radius, parent``
    (micrometres); with ``kind="marker"`` the marker file's columns (see
    ``morphology.markers``). The SWC headers' comments are in
    ``read().attrs["comments"]`` (by cell) and ``reconstruction(id).comments``.
    Constructing the source does no I/O; reading fetches each cell's file
    once (verified against the manifest's SHA-256, then cached).
    ``NoReleaseFileError`` for a cell named by id that has no such file; cells
    chosen by filters without one are left out with a warning naming them.
    """

    container = "dataframe"
    name = "patchseq_morphology"
    version = __version__
    partition_access = True

    def __init__(
        self,
        archive: str,
        metadata_table: dict[str, str],
        manifest_table: dict[str, str],
        homes: Sequence[Mapping[str, Any]],
        specimen_id: int | Sequence[int] | None = None,
        filters: Sequence[Sequence[Any]] | None = None,
        kind: str = "transformed",
        accept_other_bytes: bool = False,
        metadata: dict | None = None,
    ):
        if kind not in KINDS:
            raise InvalidQueryError(f"kind must be one of {', '.join(KINDS)}, not {brief(kind)}")
        self.archive = Archive.from_catalog(archive, metadata_table, manifest_table)
        self.homes = Homes.from_catalog(plain(homes))
        self.kind = kind
        self.accept_other_bytes = flag(accept_other_bytes, "accept_other_bytes")
        self.specimen_ids = specimen_ids(specimen_id)
        self._filters = [] if filters is None else plain(filters)
        super().__init__(metadata=metadata)

    @cached_property
    def cells(self) -> list[CellFiles]:
        """The selected cells' files of this kind, one per partition."""
        from ..archives.cell_files import cell_files
        from ..archives.release_files import release_files

        files = release_files(self.archive, self.homes, "morphology", KINDS[self.kind])
        return cell_files(self.archive, files, self.specimen_ids, self._filters, entry="morphology",
                          what=_WHAT[self.kind], listed=f"cat.{self.archive.name}.files lists them")

    def _get_schema(self) -> Schema:
        dtypes = {name: str(dtype) for name, dtype in _empty(self.kind).dtypes.items()}
        return Schema(dtype=dtypes, shape=(None, len(dtypes)), npartitions=len(self.cells), extra_metadata={})

    def _get_partition(self, i: int) -> pd.DataFrame:
        return read_cell_points(self.cells[i], self.kind, self.accept_other_bytes)

    def read_partition(self, i: int) -> pd.DataFrame:
        """The points of the ``i``-th selected cell (0 to ``npartitions - 1``)."""
        self._load_metadata()
        return self._get_partition(partition_number(i, len(self.cells)))

    def read(self) -> pd.DataFrame:
        """Every selected cell's points, one after the other, with ``attrs["comments"]``: each cell's SWC header."""
        import pandas as pd

        self._load_metadata()
        parts = [self._get_partition(i) for i in range(len(self.cells))]
        frame = pd.concat(parts, ignore_index=True)
        frame.attrs["comments"] = {cell.specimen_id: part.attrs.get("comments", ()) for cell, part in zip(self.cells, parts)}
        return frame

    def to_dask(self):
        """A Dask DataFrame, lazily one cell's file per partition (each task carries this process's settings)."""
        import dask
        import dask.dataframe as dd

        self._load_metadata()
        settings = config.snapshot()
        parts = [dask.delayed(read_cell_points)(cell, self.kind, self.accept_other_bytes, settings) for cell in self.cells]
        return dd.from_delayed(parts, meta=_empty(self.kind), verify_meta=False)

    def fetch(self) -> list[Path]:
        """The selected cells' files in the cache (fetched and verified first where needed), in cell order."""
        from ..archives.fetching import fetch_release_files

        self._load_metadata()
        files = [cell.file for cell in self.cells]
        return [fetched.path for fetched in fetch_release_files(files, accept_other_bytes=self.accept_other_bytes)]

    def reconstruction(self, specimen_id: int | None = None) -> Reconstruction:
        """One cell's SWC: its points and header comments (``morphology.swc.Reconstruction``).

        ``specimen_id`` may be left out where one cell is selected. Not for ``kind="marker"``.
        """
        from ..morphology.swc import read_swc

        path = self._path(specimen_id, "reconstruction")
        return read_swc(path.read_bytes(), str(path))

    def to_morphio(self, specimen_id: int | None = None):
        """One cell's reconstruction as a ``morphio.Morphology`` (the ``morphology`` extra), for morphometrics."""
        from ..morphology.libraries import load_morphio

        return load_morphio(self._path(specimen_id, "to_morphio"))

    def to_neurom(self, specimen_id: int | None = None):
        """One cell's reconstruction as NeuroM's morphology (the ``morphology`` extra), for NeuroM's morphometrics."""
        from ..morphology.libraries import load_neurom

        return load_neurom(self._path(specimen_id, "to_neurom"))

    def _path(self, specimen_id: int | None, method: str) -> Path:
        """The cached, verified SWC file of one selected cell."""
        from ..archives.fetching import fetch_release_files

        if self.kind == "marker":
            raise InvalidQueryError(f"{method}() reads an SWC file: use kind='transformed' or kind='raw', not 'marker'")
        self._load_metadata()
        ids = [cell.specimen_id for cell in self.cells]
        if specimen_id is None:
            if len(ids) != 1:
                raise InvalidQueryError(
                    f"{method}() needs specimen_id: this source has {len(ids)} cells, {brief(ids)}; e.g. "
                    f"{method}(specimen_id={ids[0]})"
                )
            specimen_id = ids[0]
        wanted = whole_number(specimen_id, "specimen_id", "a cell id (cell_specimen_id)")
        cell = next((cell for cell in self.cells if cell.specimen_id == wanted), None)
        if cell is None:
            raise UnknownCellError(f"cell {wanted} is not among this source's cells {brief(ids)}")
        return fetch_release_files([cell.file], accept_other_bytes=self.accept_other_bytes)[0].path

    def _close(self) -> None:
        self.__dict__.pop("cells", None)


def read_cell_points(
    cell: CellFiles, kind: str, accept_other_bytes: bool, settings: Mapping[str, str] | None = None
) -> pd.DataFrame:
    """One cell's file fetched (verified, cached) and read: its points (or markers), with the cell's columns first.

    ``settings``: a ``config.snapshot()`` to apply (for a Dask worker).
    """
    from contextlib import nullcontext

    from ..archives.fetching import fetch_release_files
    from ..morphology.markers import read_markers
    from ..morphology.swc import read_swc

    with config.using(settings) if settings is not None else nullcontext():
        path = fetch_release_files([cell.file], accept_other_bytes=accept_other_bytes)[0].path
    data = path.read_bytes()
    if kind == "marker":
        frame, comments = read_markers(data, str(path)), ()
    else:
        reconstruction = read_swc(data, str(path))
        frame, comments = reconstruction.points, reconstruction.comments
    frame.insert(0, "cell_specimen_id", cell.specimen_id)
    frame.insert(1, "neuron_reconstruction_type", _text_column(cell.reconstruction_type, len(frame)))
    frame.attrs["comments"] = tuple(comments)
    return frame


def _text_column(value: str | None, rows: int):
    import pandas as pd

    return pd.Series([value] * rows, dtype="string")


def _empty(kind: str) -> pd.DataFrame:
    import pandas as pd

    from ..morphology.markers import COLUMNS as MARKER_COLUMNS

    columns = MARKER_COLUMNS if kind == "marker" else SWC_COLUMNS
    dtypes = {"cell_specimen_id": "int64", "neuron_reconstruction_type": "string", **columns}
    return pd.DataFrame({name: pd.Series(dtype=dtype) for name, dtype in dtypes.items()})
