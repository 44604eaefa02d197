"""The intake driver for electrophysiology: cells -> their NWB files on DANDI -> sweeps."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager, nullcontext
from pathlib import Path
from typing import TYPE_CHECKING, Any

from intake.source.base import DataSource, Schema

from .. import config
from ..access.modes import Access
from ..dandi.nwb_files import lead_columns, led
from ..errors import InvalidQueryError, brief
from ..version import __version__
from .cell_selection import CELL_ID, SESSION_ID, CellSelection
from .parameters import device_parameter, flag, list_of, partition_number, plain, whole_number

if TYPE_CHECKING:  # the modules that read NWB files are imported when first used
    import dask.bag
    import pandas as pd

    from ..access.cell_reader import CellReader
    from ..dandi.nwb_files import CellFile
    from .features import FeaturesSource
    from ..nwb.sweep import Sweep
    from ..transport.remote_file import RemoteFile


SWEEP_NUMBER = "a sweep number (a whole number, e.g. 42)"


class EphysSource(CellSelection, DataSource):
    """Sweep tables and sweeps of Patch-seq cells, one partition per cell (NWB file).

    Parameters
    ----------
    archive, dandiset:
        The archive (``human`` or ``mouse``) and its dandiset id; for any
        other Allen Patch-seq dandiset (``dandi.dandisets``) no archive (None)
        and the dandiset's id.
    metadata_table, manifest_table:
        ``{"url": ..., "sha256": ...}`` of the archive's release tables; None
        beyond the 2020 release.
    version:
        The dandiset version: a published version id or ``draft``.
    dandi_assets:
        ``{"version": ..., "path": ...}``: the listing of every asset of a
        published version that the catalog ships (see ``dandi``), used for
        that version when the DANDI API is DANDI's own; None for none.
    specimen_id:
        One cell id or a non-empty list of them (``cell_specimen_id``); None (the default) for every cell.
        Whole numbers, as ``parameters`` says (``"541549258"`` too).
    session_id:
        Beyond the 2020 release, in place of ``specimen_id``: one session id
        (``ephys_session_id``) or a non-empty list of them; a file without
        one is selected by ``filters`` only.
    filters:
        ``[[column, op, value], ...]`` on the cell metadata, as for the tables
        (beyond the 2020 release: on the dandiset's ``sessions`` table).
    access:
        ``download`` (default), ``stream`` or ``local``.
    root:
        For ``access="local"``: the directory holding the dandiset.
    index_store:
        Where files' indexes are shared beyond this cache, read first and
        written back: a folder's path, an fsspec URL (``s3://``, ``gs://``,
        ``file://``) or an ``http(s)://`` base URL (read-only); None or empty
        (the default): ``$PATCHSEQ_INTAKE_INDEX_STORE``'s, if set (see
        ``access.index_store``).
    headstage:
        The headstage whose recordings to read (default 0; the release's
        files have one), 0 to 7.
    device:
        The device (digitizer, e.g. ``ITC18USB_Dev_0``) whose sweeps to read
        where several recorded one headstage (see ``device_parameter``);
        None (the default): every device's sweeps in the table, and a sweep
        number only one device recorded.

    Constructing the source does no I/O; cells are resolved on first use:
    each to its asset in the version (see ``nwb_files``), whose size and
    checksum (DANDI's, not the release manifest's) verify the bytes read.
    """

    container = "dataframe"
    name = "patchseq_nwb"
    version = __version__
    partition_access = True

    def _get_schema(self) -> Schema:
        dtypes = {name: str(dtype) for name, dtype in _empty_sweep_table(self.release).dtypes.items()}
        return Schema(
            dtype=dtypes, shape=(None, len(dtypes)), npartitions=len(self.cells), extra_metadata={}
        )

    def _get_partition(self, i: int) -> pd.DataFrame:
        cell = self.cells[i]
        return read_cell_sweeps(
            cell, self.access, remote=lambda: self._remote(cell), headstage=self.headstage, device=self.device
        )

    def read_partition(self, i: int) -> pd.DataFrame:
        """The sweep table of the ``i``-th selected cell (0 to ``npartitions - 1``)."""
        self._load_metadata()
        return self._get_partition(partition_number(i, len(self.cells)))

    def read(self) -> pd.DataFrame:
        """The sweep tables of every selected cell, led by its ``cell_specimen_id`` (beyond the 2020 release:
        each recording's ``ephys_session_id`` and ``dandi_path``)."""
        import pandas as pd

        self._load_metadata()
        return pd.concat([self._get_partition(i) for i in range(len(self.cells))], ignore_index=True)

    def to_dask(self):
        """A Dask DataFrame, lazily one NWB file per partition.

        Each partition is a small task (the cell's file and how to reach it,
        with this process's settings), so it runs as well on a
        ``dask.distributed`` worker process as here.
        """
        import dask
        import dask.dataframe as dd

        self._load_metadata()
        settings = config.snapshot()
        parts = [
            dask.delayed(read_cell_sweeps, pure=True)(
                cell, self.access, settings, headstage=self.headstage, device=self.device
            )
            for cell in self.cells
        ]
        return dd.from_delayed(parts, meta=_empty_sweep_table(self.release), verify_meta=False)

    def to_dask_sweeps(
        self, sweep_numbers: Sequence[int] | Mapping[int, Sequence[int]] | None = None, trim: bool = True
    ) -> dask.bag.Bag:
        """A Dask bag of ``(cell_specimen_id, Sweep)``: these sweeps of every selected cell, a partition a cell
        (beyond the 2020 release ``(ephys_session_id, Sweep)``; the path for a file without a session).

        ``sweep_numbers``: the same numbers for every cell, ``{cell_specimen_id:
        numbers}`` (only those cells, which must be among the selected ones:
        ``InvalidQueryError``, a ``ValueError``, names a few others), or
        None for every sweep (also as a cell's numbers). Each partition reads
        its cell's sweeps as ``sweeps`` does (in stream mode, one wave of
        range requests). ``InvalidQueryError`` for what is not a sweep number.
        """
        import dask
        import dask.bag as db

        trim = flag(trim, "trim")
        numbers = plain(sweep_numbers)
        by_cell = isinstance(numbers, dict)
        which, valid = ("a cell", CELL_ID) if self.release else ("a session", SESSION_ID)
        chosen = {
            whole_number(cell, f"{which} of sweep_numbers", valid): _sweep_numbers(sweeps)
            for cell, sweeps in (numbers.items() if by_cell else [])
        }
        every_cell = None if by_cell else _sweep_numbers(numbers)
        self._load_metadata()
        settings = config.snapshot()
        unknown = set(chosen) - set(self._ids())
        if unknown:
            raise InvalidQueryError(
                f"to_dask_sweeps: cells {brief(sorted(unknown))} are not among this source's {brief(self._ids())}"
            )
        if by_cell:
            work = [(cell, chosen[cell.key]) for cell in self.cells if cell.key in chosen]
        else:
            work = [(cell, every_cell) for cell in self.cells]
        parts = [
            dask.delayed(read_cell_sweep_list, pure=True)(
                cell, self.access, settings, wanted, self.headstage, trim, self.device
            )
            for cell, wanted in work
        ]
        return db.from_delayed(parts)

    def features(
        self,
        amp_interval: int = 20,
        max_above_rheo: int = 100,
        scheduler: str = "processes",
        num_workers: int | None = None,
    ) -> FeaturesSource:
        """IPFX's features of this source's cells, one row per cell (see ``features.FeaturesSource``).

        The same cells, access mode, headstage and device; IPFX's amplitude
        windows (pA) and how ``read()`` computes the cells not cached. Needs
        IPFX (the ``features`` extra). Creating it reads nothing.
        """
        from .features import FeaturesSource

        return FeaturesSource(
            *self._captured_init_args,
            **self._captured_init_kwargs,
            amp_interval=amp_interval,
            max_above_rheo=max_above_rheo,
            scheduler=scheduler,
            num_workers=num_workers,
        )

    def fetch(self, max_concurrent: int = 4) -> list[Path]:
        """Download every selected cell's NWB file into the cache; return the local paths.

        At most ``max_concurrent`` downloads run at once, under one progress bar;
        files already cached are not fetched again.
        """
        from ..access.opening import fetch_all

        concurrent = whole_number(max_concurrent, "max_concurrent", "a whole number from 1 to 64", 1, 64)
        self._load_metadata()
        return fetch_all(self.cells, concurrent)

    def sweep(
        self,
        sweep_number: int,
        specimen_id: int | None = None,
        trim: bool = True,
        device: str | None = None,
        *,
        session_id: int | None = None,
    ) -> Sweep:
        """One sweep of one cell (``specimen_id`` when the source has several; ``session_id`` beyond the 2020
        release), loading its data only.

        As IPFX gives it (see ``sweeps.read_sweep``): with ``trim``, cut at the
        last recorded response sample; without, every stored sample.
        ``device``: the device that recorded it, where several did (default:
        the source's ``device``). ``InvalidQueryError`` for a ``sweep_number``
        that is not a whole number; ``DeviceChoiceError`` (one) naming the
        devices where several recorded that number and no device is named.
        """
        number = whole_number(sweep_number, "sweep_number", SWEEP_NUMBER)
        return self.sweeps([number], specimen_id, trim, device, session_id=session_id)[0]

    def sweeps(
        self,
        sweep_numbers: Sequence[int] | None = None,
        specimen_id: int | None = None,
        trim: bool = True,
        device: str | None = None,
        *,
        session_id: int | None = None,
    ) -> list[Sweep]:
        """Several sweeps of one cell (default: every sweep of its table), in the order asked.

        In stream mode their bytes come in one wave of range requests, or from
        a verified download where they are most of the file. ``sweep_numbers``
        is a list (tuple, array, Series) of whole numbers; ``device`` as for
        ``sweep``.
        """
        trim = flag(trim, "trim")
        numbers = _sweep_numbers(sweep_numbers)
        device = self.device if device is None else device_parameter(device)
        reader = self._reader(self._cell(specimen_id, session_id))
        if numbers is None:
            return reader.every_sweep(self.headstage, trim, device)
        return reader.sweeps(numbers, self.headstage, trim, device)

    def spike_times(self) -> pd.DataFrame:
        """The spike times every selected cell's file holds: a row per spike, cell after cell.

        Columns ``cell_specimen_id``, ``sweep_number`` and ``spike_time``
        (float64 s): the threshold times IPFX detected when the Allen
        pipeline analysed the release, as the files' ``processing/spikes``
        hold them: from the start of IPFX's "experiment" epoch of the sweep,
        0.5 s before its stimulus, not from ``Sweep.t``'s 0 (see
        ``nwb.spikes`` and ``Sweep.spike_times``). Read from each file's index, a cell (a
        partition) at a time: in stream mode no request once the index is
        cached, and no download (a first contact builds the index as
        ``read()`` does). Numbered as the files number them, whatever the
        source's ``headstage`` and ``device``.

        Cells whose file holds no spike times, and sweeps analysed without a
        spike, have no rows; ``attrs`` tells them apart:
        ``attrs["analysed_sweeps"]`` maps each cell whose file holds spike
        times to the sweeps the pipeline analysed (with or without spikes),
        and ``attrs["without_spike_times"]`` lists the cells whose file holds
        none (never analysed).
        """
        import pandas as pd

        self._load_metadata()
        parts, analysed, without = [], {}, []
        for cell in self.cells:
            table, numbers = read_cell_spike_times(cell, self.access, remote=lambda cell=cell: self._remote(cell))
            parts.append(table)
            if numbers is None:
                without.append(cell.key)
            else:
                analysed[cell.key] = numbers
        table = pd.concat(parts, ignore_index=True) if parts else _empty_spike_table(self.release)
        table.attrs.update(analysed_sweeps=analysed, without_spike_times=without)
        return table

    def _reader(self, cell: CellFile) -> CellReader:
        from ..access.cell_reader import CellReader

        return CellReader(cell, self.access, lambda: self._remote(cell))

    @contextmanager
    def open_nwb(self, specimen_id: int | None = None, *, session_id: int | None = None) -> Iterator[Any]:
        """The cell's ``pynwb.NWBFile``, open for the duration of the ``with`` block.

        Read with the schemas and the ``ndx-mies`` extension cached in the
        file; pynwb's notices about an old file are shown once per process.
        """
        from ..access.opening import open_h5
        from ..nwb.pynwb_file import read_nwb

        cell = self._cell(specimen_id, session_id)
        with open_h5(cell, self.access, self._remote(cell)) as h5, read_nwb(h5) as nwb:
            yield nwb


def read_cell_sweeps(
    cell: CellFile,
    access: Access,
    settings: Mapping[str, str] | None = None,
    remote: Callable[[], RemoteFile | None] | None = None,
    headstage: int = 0,
    device: str | None = None,
) -> pd.DataFrame:
    """One cell's sweep table (of ``headstage``), led by its ``cell_specimen_id``; reads no sweep data.

    ``settings`` (a ``config.snapshot()``) replace this process's environment;
    ``remote`` gives the cell's open remote file, in stream mode (else one is
    opened if needed). The file's index is used, or built (see ``cell_reader``).
    """
    from ..access.cell_reader import CellReader

    with _applied(settings):
        reader = CellReader(cell, access, remote) if remote is not None else CellReader(cell, access)
        table = reader.sweep_table(headstage, device)
    return led(table, cell)


def read_cell_sweep_list(
    cell: CellFile,
    access: Access,
    settings: Mapping[str, str] | None,
    sweep_numbers: Sequence[int] | None,
    headstage: int,
    trim: bool,
    device: str | None = None,
) -> list[tuple[int, Sweep]]:
    """``(cell_specimen_id, Sweep)`` for these sweeps of one cell (None: all), with ``settings`` applied."""
    from ..access.cell_reader import CellReader

    with _applied(settings):
        reader = CellReader(cell, access)
        if sweep_numbers is None:
            sweeps = reader.every_sweep(headstage, trim, device)
        else:
            sweeps = reader.sweeps(list(sweep_numbers), headstage, trim, device)
        return [(cell.key, sweep) for sweep in sweeps]


def read_cell_spike_times(
    cell: CellFile,
    access: Access,
    settings: Mapping[str, str] | None = None,
    remote: Callable[[], RemoteFile | None] | None = None,
) -> tuple[pd.DataFrame, list[int] | None]:
    """One cell's spike times (a row per spike, led by its ``cell_specimen_id``) and the sweeps analysed.

    The sweeps: those the file's ``processing/spikes`` has a series for, with
    or without spikes; None if the file holds no spike times. From the
    file's index (see ``cell_reader``); ``settings`` and ``remote`` as for
    ``read_cell_sweeps``.
    """
    from ..access.cell_reader import CellReader
    from ..nwb.spikes import spike_table

    with _applied(settings):
        reader = CellReader(cell, access, remote) if remote is not None else CellReader(cell, access)
        found = reader.spike_times()
    return led(spike_table(found), cell), None if found is None else sorted(found)


def _applied(settings: Mapping[str, str] | None) -> AbstractContextManager[None]:
    """``settings`` (a ``config.snapshot()``; None: this process's environment) in this context only: what a
    cell's readers see, here or on a Dask worker (the index store travels in their ``Access``)."""
    return config.using(settings) if settings is not None else nullcontext()


def _empty_spike_table(release: bool) -> pd.DataFrame:
    import pandas as pd

    from ..nwb.spikes import spike_table

    table = spike_table(None)
    lead = pd.DataFrame({name: pd.Series(dtype=dtype) for name, dtype in lead_columns(release).items()})
    return pd.concat([lead, table], axis=1)


def _empty_sweep_table(release: bool) -> pd.DataFrame:
    import pandas as pd

    from ..nwb.sweep_table import SWEEP_DTYPES

    dtypes = {**lead_columns(release), **SWEEP_DTYPES}
    return pd.DataFrame({name: pd.Series(dtype=dtype) for name, dtype in dtypes.items()})


def _sweep_numbers(value: Sequence[int] | None) -> list[int] | None:
    """Sweep numbers from a list (tuple, array, Series) of whole numbers; None stays None (every sweep)."""
    if value is None:
        return None
    numbers = list_of(value, "sweep_numbers", "a list of sweep numbers (e.g. [4, 5]), or None for every sweep")
    return [whole_number(number, "each of sweep_numbers", SWEEP_NUMBER) for number in numbers]

