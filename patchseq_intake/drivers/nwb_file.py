"""The intake driver for one local NWB file: its sweep table and sweeps, with no catalog and no network.

``patchseq_intake.read_nwb(path)`` gives the same sweep table, ``sweep(n)``,
``sweeps([...])``, ``spike_times()`` and ``open_nwb()`` as an ``ephys`` source of one cell, read
from any NWB 2 file MIES wrote (and files pynwb writes in the same icephys
layout), by the same readers (``nwb``). Nothing is cached, checked against
DANDI or fetched: the file is read where it lies, as it is.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from intake.source.base import DataSource, Schema

from ..errors import InvalidQueryError, LocalFileMissingError, NwbFormatError
from ..version import __version__
from .parameters import PlainParameters, device_parameter, flag, list_of, text, whole_number

if TYPE_CHECKING:
    import h5py
    import pandas as pd

    from ..nwb.sweep import Sweep

PATH = "an NWB file's path (text or a path)"
GZIP_MAGIC = b"\x1f\x8b"


class NwbFileSource(PlainParameters, DataSource):
    """The sweep table and sweeps of one local NWB file, one partition.

    Parameters
    ----------
    path:
        The NWB file (NWB 2, HDF5).
    headstage:
        The headstage whose recordings to read (default 0), 0 to 7.
    device:
        The device (e.g. ``ITC18USB_Dev_0``) whose sweeps to read, where
        several recorded the headstage; None (the default): every device's
        sweeps in the table (its ``device`` column tells them apart), and a
        sweep number only one device recorded.

    Constructing the source reads nothing; each call opens the file, checked
    first (see ``checked_path``).
    """

    container = "dataframe"
    name = "patchseq_nwb_file"
    version = __version__
    partition_access = True

    def __init__(
        self, path: str | Path, headstage: int | str = 0, device: str | None = None, metadata: dict | None = None
    ):
        self.path = text(path, "path", PATH)
        self.headstage = whole_number(headstage, "headstage", "a whole number from 0 to 7", 0, 7)
        self.device = device_parameter(device)
        super().__init__(metadata=metadata)

    def _get_schema(self) -> Schema:
        dtypes = {name: str(dtype) for name, dtype in _empty_sweep_table().dtypes.items()}
        return Schema(dtype=dtypes, shape=(None, len(dtypes)), npartitions=1, extra_metadata={})

    def _get_partition(self, i: int) -> pd.DataFrame:
        return read_file_sweeps(self.path, self.headstage, self.device)

    def read_partition(self, i: int) -> pd.DataFrame:
        """The sweep table (the one partition, ``i`` = 0)."""
        return self._get_partition(whole_number(i, "i", "the partition number 0", 0, 0))

    def read(self) -> pd.DataFrame:
        """The sweep table of the file's headstage: a row per device's sweep (see ``sweep_table.read_sweep_table``)."""
        return self._get_partition(0)

    def to_dask(self):
        """A Dask DataFrame of one partition: the sweep table, read when computed."""
        import dask
        import dask.dataframe as dd

        part = dask.delayed(read_file_sweeps, pure=True)(self.path, self.headstage, self.device)
        return dd.from_delayed([part], meta=_empty_sweep_table(), verify_meta=False)

    def sweep(self, sweep_number: int, trim: bool = True, device: str | None = None) -> Sweep:
        """One sweep, loading its data only (see ``sweeps.read_sweep``; ``trim``: cut at the last recorded sample).

        ``device``: the device that recorded it, where several did (default: the source's ``device``);
        ``DeviceChoiceError`` naming them where several did and none is named.
        """
        number = whole_number(sweep_number, "sweep_number", "a sweep number (a whole number, e.g. 42)")
        return self.sweeps([number], trim, device)[0]

    def sweeps(
        self, sweep_numbers: Sequence[int] | None = None, trim: bool = True, device: str | None = None
    ) -> list[Sweep]:
        """Several sweeps, in the order asked (default: every sweep of the table, each of its row's device).

        ``device`` as for ``sweep``.
        """
        from ..nwb.sweep_table import table_sweeps
        from ..nwb.sweeps import read_sweep

        trim = flag(trim, "trim")
        device = self.device if device is None else device_parameter(device)
        if sweep_numbers is None:
            table = read_file_sweeps(self.path, self.headstage, device)
            wanted = table_sweeps(table)
        else:
            valid = "a list of sweep numbers (e.g. [4, 5]), or None for every sweep"
            numbers = list_of(sweep_numbers, "sweep_numbers", valid)
            wanted = [(whole_number(n, "each of sweep_numbers", "a whole number"), device) for n in numbers]
        with _opened(self.path) as h5:
            return [read_sweep(h5, n, self.headstage, trim, self.path, device) for n, device in wanted]

    def spike_times(self) -> pd.DataFrame:
        """The spike times the file holds: a row per spike, ``sweep_number`` and ``spike_time`` (s, as stored).

        As ``ephys``'s ``spike_times()`` (see ``Sweep.spike_times``): the
        threshold times IPFX detected, from ``processing/spikes``; no rows
        where the file holds none or a sweep was analysed without a spike.
        ``attrs["analysed_sweeps"]``: the sweeps the module has a series for
        (with or without spikes), None if the file holds no spike times.
        """
        from ..nwb.spikes import spike_table, spike_times

        with _opened(self.path) as h5:
            found = spike_times(h5, self.path)
        table = spike_table(found)
        table.attrs["analysed_sweeps"] = None if found is None else sorted(found)
        return table

    @contextmanager
    def open_nwb(self) -> Iterator[Any]:
        """The file's ``pynwb.NWBFile``, open for the ``with`` block (with the schemas the file caches)."""
        from ..nwb.pynwb_file import read_nwb

        with _opened(self.path) as h5, read_nwb(h5) as nwb:
            yield nwb


def read_file_sweeps(path: str, headstage: int = 0, device: str | None = None) -> pd.DataFrame:
    """The sweep table of the file at ``path`` (of ``headstage``, and ``device`` if given)."""
    from ..nwb.sweep_table import read_sweep_table

    with _opened(path) as h5:
        return read_sweep_table(h5, headstage, path, device=device)


def checked_path(path: str) -> Path:
    """``path``, if it is a file h5py can read as HDF5; else an error that names it and says what it is.

    ``LocalFileMissingError`` (a ``FileNotFoundError``) for nothing there;
    ``InvalidQueryError`` for a directory; ``NwbFormatError`` for a
    gzip-compressed file (MIES's test data are whole-file gzip: gunzip it) and
    for any other file that is not HDF5.
    """
    import h5py

    found = Path(path).expanduser()
    if not found.exists():
        raise LocalFileMissingError(f"there is no file at {found}")
    if found.is_dir():
        raise InvalidQueryError(f"{found} is a directory, not an NWB file")
    with found.open("rb") as file:
        start = file.read(len(GZIP_MAGIC))
    if start == GZIP_MAGIC:
        target = _unzipped_name(found)
        advice = (
            f"{target} exists already: read it if it is this file decompressed, or gunzip into another name"
            if target.exists()
            else f"decompress it first (gunzip -c '{found}' > '{target}') and read the file it gives"
        )
        raise NwbFormatError(
            f"{found} is gzip-compressed (it starts with gzip's bytes 1f 8b), as MIES's test data are: {advice}"
        )
    if not h5py.is_hdf5(found):
        raise NwbFormatError(f"{found} is not an HDF5 file, so not an NWB 2 file")
    return found


@contextmanager
def _opened(path: str) -> Iterator[h5py.File]:
    import h5py

    with h5py.File(checked_path(path), "r") as h5:
        yield h5


def _empty_sweep_table() -> pd.DataFrame:
    import pandas as pd

    from ..nwb.sweep_table import SWEEP_DTYPES

    return pd.DataFrame({name: pd.Series(dtype=dtype) for name, dtype in SWEEP_DTYPES.items()})


def _unzipped_name(path: Path) -> Path:
    """Where the gunzip advice puts the file: ``x.nwb.gz`` -> ``x.nwb``, ``x.nwb`` -> ``x.h5.nwb``."""
    return path.with_suffix("") if path.suffix == ".gz" else path.with_suffix(".h5.nwb")
