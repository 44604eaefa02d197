"""The bytes a sweep table reads over HTTP, fetched ahead in a few concurrent waves.

Read on demand, a sweep table costs a round trip for each HDF5 header and for
each chunk of data it touches, one after the other: in the release's files
the lab notebook's values alone are hundreds of chunks (32 rows by 32 keys by
32 layers each), scattered through the file. Here, in order:

1. the series headers (``hdf5_layout.prefetch_series_headers``);
2. the sweep table's columns, each device's lab notebook ``numericalKeys``
   and the spike times' data (``processing/spikes/Sweep_<n>/data``), whole
   (small; the file's index keeps the spike times);
3. the chunks of each device's ``numericalValues`` that hold the columns of
   ``SweepNum`` and of the keys the sweep table reads
   (``sweep_table.NOTEBOOK_KEYS``), every row and layer, and nothing of the
   other columns.

Chunk addresses come from h5py's public API (``DatasetID.chunk_iter``,
``get_offset``, ``get_storage_size``). Only a speed-up: h5py then reads from
the fetched blocks, and what was not fetched ahead it reads on demand.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from ..nwb.devices import notebook_devices
from ..nwb.labnotebook import SWEEP_KEY, device_notebook, key_columns
from ..nwb.mies_series import SWEEP_TABLE
from ..nwb.spikes import SPIKES_MODULE
from ..nwb.sweep_table import NOTEBOOK_KEYS
from .hdf5_layout import prefetch_series_headers

if TYPE_CHECKING:
    import h5py

    from ..transport.remote_file import RemoteFile


def prefetch_sweep_table(h5: h5py.File, remote: RemoteFile) -> None:
    """Fetch what ``sweep_table.read_sweep_table`` will read of ``h5``, in a few batches of concurrent ranges."""
    import h5py

    prefetch_series_headers(h5, remote)
    table = h5.get(SWEEP_TABLE)
    columns = [item for item in table.values() if isinstance(item, h5py.Dataset)] if table is not None else []
    notebooks = [device_notebook(h5, name) for name in notebook_devices(h5)]
    notebooks = [notebook for notebook in notebooks if notebook is not None]
    small = [*columns, *(notebook["numericalKeys"] for notebook in notebooks), *_spike_data(h5)]
    remote.prefetch(span for dataset in small for span in stored_ranges(dataset))
    remote.prefetch(span for notebook in notebooks for span in _needed_values(notebook))


def _spike_data(h5: h5py.File) -> list[h5py.Dataset]:
    """The spike times' datasets, ``processing/spikes/Sweep_<n>/data``, where they are laid out so (checked on reading)."""
    import h5py

    module = h5.get(SPIKES_MODULE)
    series = module.values() if isinstance(module, h5py.Group) else []
    data = [one.get("data") for one in series if isinstance(one, h5py.Group)]
    return [one for one in data if isinstance(one, h5py.Dataset)]


def _needed_values(notebook: h5py.Group) -> list[tuple[int, int]]:
    """The stored ranges of a notebook's ``numericalValues`` that the sweep table reads (all, if not chunked)."""
    values = notebook["numericalValues"]
    if values.chunks is None or values.ndim != 3:
        return stored_ranges(values)
    width = values.chunks[1]
    blocks = {column // width for column in key_columns(notebook, [SWEEP_KEY, *NOTEBOOK_KEYS]).values()}
    return stored_ranges(values, lambda start: start[1] // width in blocks)


def stored_ranges(
    dataset: h5py.Dataset, keep: Callable[[tuple[int, ...]], bool] = lambda start: True
) -> list[tuple[int, int]]:
    """``(offset, size)`` in the file of the dataset's stored bytes: its contiguous extent, or its chunks.

    ``keep`` chooses chunks by their first element's coordinates (HDF5's
    chunk offset, in elements). Nothing for compact or never-written data.
    """
    if dataset.chunks is None:
        offset = dataset.id.get_offset()
        return [] if offset is None else [(int(offset), int(dataset.id.get_storage_size()))]
    found: list[tuple[int, int]] = []

    def visit(chunk) -> None:
        if keep(tuple(int(n) for n in chunk.chunk_offset)):
            found.append((int(chunk.byte_offset), int(chunk.size)))

    dataset.id.chunk_iter(visit)
    return found
