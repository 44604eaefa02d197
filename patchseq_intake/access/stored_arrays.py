"""Where a 1-D HDF5 dataset's bytes lie in its file, and how to turn them back into the array.

``StoredArray.of(dataset)`` learns it through h5py's public API, without
reading the data: a contiguous dataset's offset and size
(``DatasetID.get_offset``, ``get_storage_size``), or a chunked one's chunk
length, filter pipeline (``get_create_plist().get_filter``) and every
chunk's offset, size and filter mask (``DatasetID.chunk_iter``). With those,
the bytes can be fetched as ranges (see ``ranges``) and ``decode`` rebuilds
the array: the filters undone in reverse order with numcodecs (deflate:
``Zlib``; shuffle: ``Shuffle``), chunks placed at their logical offsets,
chunks never written holding the fill value. Datasets with other filters,
layouts or external storage are not described (``of`` gives None): their
sweeps are read with h5py from the verified file.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    import h5py

DEFLATE, SHUFFLE = 1, 2
"""HDF5's filter ids (H5Z_FILTER_DEFLATE, H5Z_FILTER_SHUFFLE)."""
DECODABLE = frozenset({DEFLATE, SHUFFLE})
_CONTIGUOUS, _CHUNKED = 1, 2
"""HDF5's layout classes (H5D_CONTIGUOUS, H5D_CHUNKED)."""


@dataclass(frozen=True)
class StoredArray:
    """A 1-D dataset as stored: ``dtype`` (numpy's string, e.g. ``<f4``), ``length`` and its pieces.

    Contiguous: one piece, ``offsets[0]``/``sizes[0]`` (no piece if never
    written). Chunked: ``chunk_length`` elements a chunk; per written chunk
    its index (``starts``, in chunks), ``offsets`` and ``sizes`` in the file,
    and ``masks`` (HDF5 filter masks, bit i set: filter i was skipped);
    ``filters`` the pipeline's ids, in the order they were applied.
    """

    dtype: str
    length: int
    fill: float | int
    chunk_length: int | None
    filters: tuple[int, ...]
    starts: tuple[int, ...]
    offsets: tuple[int, ...]
    sizes: tuple[int, ...]
    masks: tuple[int, ...]

    @classmethod
    def of(cls, dataset: h5py.Dataset) -> StoredArray | None:
        """How ``dataset`` is stored; None for what ``decode`` cannot rebuild (h5py reads it then)."""
        if dataset.ndim != 1 or dataset.dtype.kind not in "fiu":
            return None
        plist = dataset.id.get_create_plist()
        if plist.get_external_count():
            return None  # its bytes are in other files
        filters = tuple(plist.get_filter(i)[0] for i in range(plist.get_nfilters()))
        common = {"dtype": dataset.dtype.str, "length": int(dataset.shape[0]), "fill": _fill(dataset)}
        layout = plist.get_layout()
        if layout == _CONTIGUOUS and not filters:
            offset = dataset.id.get_offset()
            pieces = ((0,), (int(offset),), (int(dataset.id.get_storage_size()),)) if offset is not None else ((), (), ())
            return cls(chunk_length=None, filters=(), starts=pieces[0], offsets=pieces[1], sizes=pieces[2], masks=(), **common)
        if layout != _CHUNKED or not set(filters) <= DECODABLE:
            return None
        chunks: list[Any] = []
        dataset.id.chunk_iter(chunks.append)
        length = int(dataset.chunks[0])
        return cls(
            chunk_length=length,
            filters=filters,
            starts=tuple(int(chunk.chunk_offset[0]) // length for chunk in chunks),
            offsets=tuple(int(chunk.byte_offset) for chunk in chunks),
            sizes=tuple(int(chunk.size) for chunk in chunks),
            masks=tuple(int(chunk.filter_mask) for chunk in chunks),
            **common,
        )

    def ranges(self) -> list[tuple[int, int]]:
        """The ``(offset, length)`` byte ranges of the stored pieces, in order."""
        return list(zip(self.offsets, self.sizes))

    def decode(self, pieces: list[bytes]) -> np.ndarray:
        """The array, from the bytes of ``ranges()`` (in that order)."""
        dtype = np.dtype(self.dtype)
        array = np.full(self.length, self.fill, dtype=dtype)
        if self.chunk_length is None:
            if pieces:
                array[:] = np.frombuffer(pieces[0], dtype=dtype, count=self.length)
            return array
        for start, piece, mask in zip(self.starts, pieces, self.masks):
            values = np.frombuffer(_unfiltered(piece, self.filters, mask, dtype.itemsize), dtype=dtype)
            first = start * self.chunk_length
            end = min(first + self.chunk_length, self.length)
            array[first:end] = values[: end - first]
        return array

    def to_json(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self.__dataclass_fields__}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> StoredArray:
        tuples = {name: tuple(data[name]) for name in ("filters", "starts", "offsets", "sizes", "masks")}
        return cls(**{**data, **tuples})


def _fill(dataset: h5py.Dataset) -> float | int:
    """The dataset's fill value as a Python number (an int stays exact in JSON)."""
    value = dataset.fillvalue
    return value.item() if hasattr(value, "item") else (value if value is not None else 0)


def _unfiltered(piece: bytes, filters: tuple[int, ...], mask: int, itemsize: int) -> bytes:
    """A chunk's bytes with the filters undone, last applied first; masked filters were not applied."""
    import numcodecs

    data: Any = piece
    for position in reversed(range(len(filters))):
        if mask & (1 << position):
            continue
        codec = numcodecs.Zlib() if filters[position] == DEFLATE else numcodecs.Shuffle(elementsize=itemsize)
        data = codec.decode(data)
    return bytes(data)
