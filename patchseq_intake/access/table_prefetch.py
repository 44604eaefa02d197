"""The bytes a file's first contact reads over HTTP, fetched ahead in a few concurrent waves.

Read on demand, a sweep table and the file's index cost a round trip for
each HDF5 header, attribute heap, chunk index and chunk they touch, one
after the other: hundreds, in the release's files. Here everything
``cell_index.build_index`` reads is walked in rounds (``walk_rounds``):
each object's read is a task, and the blocks all tasks miss come in one
wave. The tasks:

- every series under ``acquisition`` and ``stimulus/presentation``: its
  attributes, its members' attributes and small datasets (``gain``,
  ``starting_time``, ...), and its ``data``'s chunk index (not its samples);
- ``general/intracellular_ephys`` (electrodes, the sweep table's columns),
  ``general/devices`` and the spike times' module, whole (small);
- each device's lab notebook: ``numericalKeys`` whole, ``numericalValues``'
  chunk index, then only its chunks that hold the columns of ``SweepNum``
  and of the keys the sweep table reads (``sweep_table.NOTEBOOK_KEYS``),
  every row and layer.

Before the rounds, version-1 files' group indexes are crawled from the
bytes (``hdf5_layout``): listing a group of symbol-table nodes through h5py
would read the nodes one at a time. Only a speed-up: h5py then reads from
the fetched blocks, and what was not fetched ahead it reads on demand.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np

from ..nwb.devices import NOTEBOOKS
from ..nwb.labnotebook import SWEEP_KEY, key_columns
from ..nwb.mies_series import RESPONSE_GROUP, STIMULUS_GROUP
from ..nwb.spikes import SPIKES_MODULE
from ..nwb.sweep_table import NOTEBOOK_KEYS
from .hdf5_attributes import collection_task
from .hdf5_layout import index_task, readable_layout
from .hdf5_v2 import header_task
from .walk_rounds import Exact, ReadAt, Task, hdf5_survives_probing, in_rounds

logger = logging.getLogger(__name__)

if TYPE_CHECKING:
    import h5py

    from ..transport.remote_file import RemoteFile

SMALL_BYTES = 64 * 1024
"""Datasets stored in at most this many bytes are read whole by the walk (a series' ``data`` never is)."""
SERIES_DATA = "data"
_ELEMENT = np.dtype([("length", "<u4"), ("heap", "<u8"), ("index", "<u4")])
"""A variable-length element as stored: its length, its global heap collection's address, its index there."""
WHOLE = ("general/intracellular_ephys", "general/devices", SPIKES_MODULE)
"""Groups the walk reads whole: attributes, members, small datasets."""


def prefetch_sweep_table(h5: h5py.File, remote: RemoteFile) -> None:
    """Fetch what the sweep table and ``cell_index.build_index`` will read of ``h5``, in a few waves of ranges.

    Nothing where the HDF5 library does not survive the walk's failing reads (``walk_rounds.hdf5_survives_probing``):
    h5py then reads on demand.
    """
    if not hdf5_survives_probing():
        logger.debug("this HDF5 library does not survive the walk's failing reads (walk_rounds): h5py reads on demand")
        return
    walk = _Walk(h5, remote)
    tasks: list[Task] = [walk.attributes("/")]
    tasks += [walk.visit(name, series=True) for name in (RESPONSE_GROUP, STIMULUS_GROUP)]
    tasks += [walk.visit(name, series=False) for name in WHOLE]
    tasks.append(walk.notebooks())
    in_rounds(remote, tasks)


class _Walk:
    """The tasks of one file's walk (see the module)."""

    def __init__(self, h5: h5py.File, remote: RemoteFile):
        self.h5 = h5
        self.remote = remote
        self.parsed = readable_layout(h5)  # 8-byte addresses: hdf5_layout and hdf5_v2 read its structures
        self.seen: set[tuple[object, ...]] = set()  # structures already given to a task, shared by the parsers

    def attributes(self, path: str) -> Task:
        def task() -> None:
            _read_attributes(self.h5[path])

        return task

    def visit(self, path: str, series: bool, address: int | None = None) -> Task:
        """A task reading the object at ``path`` as the index does; a group's members become tasks of their own.

        ``series``: a group of series or below one: ``data`` datasets give their chunk index only.
        ``address``: its header's, where the parent's links gave it.
        """
        import h5py

        def task() -> list[Task] | None:
            obj = self.h5.get(path)
            if obj is None:
                return None
            if series and address is not None and self._version_1_group(obj, address):
                # A series: its members' headers, attributes, small data and chunk indexes all come from the
                # bytes (hdf5_layout), with no h5py call per member.
                return [index_task(self.remote.read_at, address, chunk_index=True, seen=self.seen)]
            structures = self.structures(path if address is None else address)
            if isinstance(obj, h5py.Dataset):
                return [self.dataset(path, whole=not (series and path.rsplit("/", 1)[-1] == SERIES_DATA)),
                        *structures]
            attributes = [] if structures else [self.attributes(path)]  # else the parsers fetch their values
            return [*attributes, self.members(path, series), *structures]

        return task

    def _version_1_group(self, obj: h5py.HLObject, address: int) -> bool:
        import h5py

        return self.parsed and isinstance(obj, h5py.Group) and self.remote.read_at(address, 1) == b"\x01"

    def dataset(self, path: str, whole: bool) -> Task:
        """A task reading a dataset's chunk index, and its values if ``whole`` and small.

        Variable-length values (text: the notebook's keys) lie in global heap collections: their
        addresses are read from the stored elements first, so that the collections come in one wave.
        """

        def task() -> list[Task] | None:
            dataset = self.h5[path]
            if not self.parsed:
                _read_attributes(dataset)
            if dataset.chunks is not None:
                dataset.id.chunk_iter(lambda chunk: None)
            if not whole or dataset.shape is None or dataset.id.get_storage_size() > SMALL_BYTES:
                return None
            if self.parsed and dataset.dtype.kind == "O":
                heaps = _heaps(dataset, self.remote.read_at)
                return [*(collection_task(self.remote.read_at, heap) for heap in heaps), self.values(path)]
            dataset[()]
            return None

        return task

    def values(self, path: str) -> Task:
        def task() -> None:
            self.h5[path][()]

        return task

    def structures(self, where: str | int, chunk_index: bool = False) -> list[Task]:
        """Tasks reading an object's indexes from the bytes (``hdf5_layout``, ``hdf5_v2``): none if not parsed.

        ``where``: its path, or its header's address. ``chunk_index``: a version-1 header's chunk index too
        (a version-2 B-tree one always).
        """
        if not self.parsed:
            return []
        address = where if isinstance(where, int) else self.address(where)
        return [index_task(self.remote.read_at, address, chunk_index=chunk_index, seen=self.seen),
                header_task(self.remote.read_at, address, self.seen)]

    def address(self, path: str) -> int:
        """Where the object at ``path`` (opened already) has its header: from its parent's link to it.

        Not ``h5o.get_info``: HDF5 crashes where a read fails inside it (a block missing, while probing).
        """
        parent, _, name = path.rstrip("/").rpartition("/")
        group = self.h5[parent or "/"]  # held: its links' proxy does not keep it open
        return int(group.id.links.get_info(name.encode()).u)

    def members(self, path: str, series: bool) -> Task:
        """A task listing a group: each member reached by a hard link becomes a task."""
        import h5py

        def task() -> list[Task]:
            group = self.h5[path]
            links = [(name, group.id.links.get_info(name.encode())) for name in group]
            return [self.visit(f"{path.rstrip('/')}/{name}", series, int(info.u))
                    for name, info in links if info.type == h5py.h5l.TYPE_HARD]

        return task

    def notebooks(self) -> Task:
        """A task listing the lab notebooks; each device's becomes a task reading its keys and the chunks needed."""
        import h5py

        def task() -> list[Task]:
            notebooks = self.h5.get(NOTEBOOKS)
            devices = list(notebooks) if isinstance(notebooks, h5py.Group) else []
            return [self.notebook(f"{NOTEBOOKS}/{device}") for device in devices]

        return task

    def notebook(self, path: str) -> Task:
        """A task opening a device's notebook: its keys, its values' chunk index and the chunks needed, as tasks."""
        import h5py

        def task() -> list[Task] | None:
            device = self.h5[path]
            keys, values = device.get("numericalKeys"), device.get("numericalValues")
            if not isinstance(keys, h5py.Dataset) or not isinstance(values, h5py.Dataset):
                return None
            return [self.visit(keys.name, series=False), self.needed_chunks(path), *self.structures(values.name, True)]

        return task

    def needed_chunks(self, path: str) -> Task:
        """A task choosing the notebook values' chunks the sweep table reads; reading each becomes a task."""

        def task() -> list[Task]:
            values = self.h5[path]["numericalValues"]
            return [_chunk(values, offset) for offset, _ in _needed_values(self.h5[path])]

        return task


def _read_attributes(obj: h5py.HLObject) -> None:
    """The values of its attributes that lie outside its header (variable-length: in a global heap)."""
    import h5py

    attrs = obj.attrs
    for name in list(attrs):
        kind = attrs.get_id(name).get_type()
        variable = isinstance(kind, h5py.h5t.TypeStringID) and kind.is_variable_str()
        if variable or isinstance(kind, h5py.h5t.TypeVlenID):
            attrs[name]


def _heaps(dataset: h5py.Dataset, read_at: ReadAt) -> set[int]:
    """The global heap collections a variable-length dataset's stored elements point to (16 bytes each: length,
    the collection's address, the object's index), its chunks' filters undone as ``stored_arrays`` undoes them."""
    import numpy as np

    from .stored_arrays import DECODABLE, _unfiltered

    plist = dataset.id.get_create_plist()
    filters = tuple(plist.get_filter(i)[0] for i in range(plist.get_nfilters()))
    pieces: list[bytes] = []
    if dataset.chunks is None:
        offset = dataset.id.get_offset()
        if offset is not None:
            pieces.append(read_at(int(offset), int(dataset.id.get_storage_size())))
    elif set(filters) <= DECODABLE:
        chunks: list = []
        dataset.id.chunk_iter(chunks.append)
        for chunk in chunks:
            mask, stored = dataset.id.read_direct_chunk(chunk.chunk_offset)
            pieces.append(_unfiltered(stored, filters, mask, _ELEMENT.itemsize))
    found: set[int] = set()
    for piece in pieces:
        elements = np.frombuffer(piece, dtype=_ELEMENT, count=len(piece) // _ELEMENT.itemsize)
        found.update(int(heap) for heap in np.unique(elements["heap"][elements["length"] > 0]))
    return found


def _chunk(values: h5py.Dataset, offset: tuple[int, ...]) -> Task:
    def task() -> None:
        values.id.read_direct_chunk(offset)

    return Exact(task)


def _needed_values(notebook: h5py.Group) -> list[tuple[tuple[int, ...], int]]:
    """The chunks of a notebook's ``numericalValues`` that the sweep table reads: (chunk offset, size) each."""
    values = notebook["numericalValues"]
    if values.chunks is None or values.ndim != 3:
        return []
    width = values.chunks[1]
    blocks = {column // width for column in key_columns(notebook, [SWEEP_KEY, *NOTEBOOK_KEYS]).values()}
    return stored_chunks(values, lambda start: start[1] // width in blocks)


def stored_chunks(
    dataset: h5py.Dataset, keep: Callable[[tuple[int, ...]], bool] = lambda start: True
) -> list[tuple[tuple[int, ...], int]]:
    """The written chunks of ``dataset`` that ``keep`` chooses by their first element's coordinates, each with
    its byte offset in the file."""
    found: list[tuple[tuple[int, ...], int]] = []

    def visit(chunk) -> None:
        start = tuple(int(n) for n in chunk.chunk_offset)
        if keep(start):
            found.append((start, int(chunk.byte_offset)))

    dataset.id.chunk_iter(visit)
    return found
