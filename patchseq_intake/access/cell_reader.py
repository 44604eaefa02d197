"""A cell's sweep table and sweeps, the cheapest safe way: through the file's index where there is one.

``download``
    The verified file in the cache (checked on every use: see
    ``opening.local_copy``); its index (``cell_index``) is built from it
    once, so later sweep tables need not open the file.
``stream``
    With an index in the cache, a sweep table and the file's spike times
    cost no request, and sweeps one wave of range requests for their bytes
    only (``ranges``), decoded here (``stored_arrays``), their spike times
    from the index. Without one, first contact takes the cheapest
    safe way: build it from the file if the cache holds it; download a small
    file whole (``SMALL_FILE_BYTES``), verified, build it from that and drop
    the file; else measure the link on the first wave of ranges and either download
    the file (verified, indexed, then removed) or read the headers over HTTP ranges (h5py
    over ``RemoteFile``), whichever is cheaper (``first_contact``), and
    build it in the same pass. A walked index is cached only if every
    answer carried the blob's ETag (``transport.blob_tag``: DANDI's
    dandi-etag, else the first answer's); without one to check, it serves
    the call that built it and is dropped. Sweeps that would move most of
    the file, every sweep, and sweeps of a file whose ETag is not known
    (their ranges could not be tied to it) are read from a verified
    download instead.
``local``
    A copy laid out by ``dandi download``, read with h5py; no index is kept,
    as the copy is checked against DANDI's size only, not its checksum.

A read of the cached copy (a sweep, or building the index) that fails with
an HDF5 error audits the copy in full (``transport.verified.read_checked``):
bytes changed behind a restored modification time, which its stamp cannot
see, are warned of (``CacheIntegrityWarning``), the copy is downloaded again
and read once more; a copy that is DANDI's bytes, as verified, gives an
``NwbFormatError`` naming it.
"""

from __future__ import annotations

import logging
import zlib
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

from .. import config
from ..errors import CacheError, ChecksumError, NwbFormatError, OfflineError, PatchseqError
from ..nwb.spikes import spike_times
from ..nwb.sweep import Sweep
from ..nwb.sweep_table import read_sweep_table, table_sweeps
from ..nwb.sweeps import assemble, read_sweep
from ..transport.blob_tag import BlobTag
from ..transport.ranges import fetch_ranges
from ..transport.verified import read_checked
from .cell_index import (
    DOWNLOADED,
    STREAMED,
    CellIndex,
    IndexedSweep,
    build_index,
    index_path,
    load_index,
    save_index,
)
from .modes import Access
from .first_contact import DOWNLOAD, WALK, choose
from .opening import NWB_FILE, download_parts, local_copy, open_h5, open_remote, transient_copy, verified_copy

if TYPE_CHECKING:
    import h5py
    import numpy as np
    import pandas as pd

    from ..dandi.nwb_files import CellFile
    from ..transport.remote_file import RemoteFile
    from .stored_arrays import StoredArray

logger = logging.getLogger(__name__)

SMALL_FILE_BYTES = 8 * 1024 * 1024
"""Files up to this size are downloaded whole on first contact in stream mode: a crawl would cost more."""
MOST_OF_THE_FILE = 0.5
"""Sweeps whose bytes are more than this share of the file are read from a verified download."""
HDF5_READ_ERRORS = (OSError, KeyError, ValueError, TypeError, RuntimeError, NwbFormatError)
"""What reading an HDF5 file whose bytes are not what h5py expects raises (h5py's errors, and the readers' own)."""

T = TypeVar("T")


class CellReader:
    """One cell's file, by its access mode; ``remote`` gives the cell's open remote file in stream mode."""

    def __init__(self, cell: CellFile, access: Access, remote: Callable[[], RemoteFile | None] = lambda: None):
        self.cell = cell
        self.access = access
        self._remote = remote
        self._index: CellIndex | None = None  # once loaded or built: not read and checked again in this reader

    def sweep_table(self, headstage: int = 0, device: str | None = None) -> pd.DataFrame:
        """The sweep table of ``headstage`` (of ``device`` only, if given; see ``sweep_table.read_sweep_table``)."""
        index = self.index()
        if index is not None:
            return index.sweep_table(headstage, self.cell.label, device=device)
        return self._read(
            lambda h5: read_sweep_table(h5, headstage, self.cell.label, device=device), for_sweep_table=True
        )

    def spike_times(self) -> dict[int, np.ndarray] | None:
        """The spike times the file holds, by sweep number (float64 s, as stored; see ``spikes``).

        None if the file holds none (no ``processing/spikes``). From the file's
        index (no request once it is cached), or in local mode from the file.
        """
        index = self.index()
        if index is None:
            return self._read(lambda h5: spike_times(h5, self.cell.label))
        return None if index.spikes is None else {number: index.spike_times(number) for number in index.spikes}

    def sweeps(
        self, numbers: Sequence[int], headstage: int = 0, trim: bool = True, device: str | None = None
    ) -> list[Sweep]:
        """These sweeps of ``headstage`` (of ``device``, where several recorded a number), in order; their data only."""
        return self._sweeps([(int(n), device) for n in numbers], headstage, trim)

    def every_sweep(self, headstage: int = 0, trim: bool = True, device: str | None = None) -> list[Sweep]:
        """Every sweep of the headstage's sweep table (``device``'s only, if given), in its order.

        In stream mode, from a verified download.
        """
        if self.access.mode == "stream" and self.cell.checksum is not None and not self._indexed():
            local_copy(self.cell)  # all of the file is wanted: fetched whole, then indexed from it
        table = self.sweep_table(headstage, device)
        return self._sweeps(table_sweeps(table), headstage, trim)

    def _sweeps(self, wanted: list[tuple[int, str | None]], headstage: int, trim: bool) -> list[Sweep]:
        """The sweeps ``(number, device)`` of ``headstage``: through the index's ranges where that is cheapest."""
        index = self.index()
        label = self.cell.label
        if index is None or self._local_file_ready():
            return self._read(lambda h5: [read_sweep(h5, n, headstage, trim, label, device) for n, device in wanted])
        entries = [index.sweep(n, headstage, label, device) for n, device in wanted]
        for entry in entries:
            entry.parts.check(label, entry.names)
        arrays = [index.arrays[path] for entry in entries for path in entry.names() if path is not None]
        etag = self.cell.asset.etag or index.etag
        if any(array is None for array in arrays) or _share(arrays, self.cell.size) > MOST_OF_THE_FILE or not etag:
            local_copy(self.cell)  # verified; then read from it
            return self._sweeps(wanted, headstage, trim)
        return self._fetch_sweeps(index, entries, trim, etag)

    def index(self) -> CellIndex | None:
        """The file's index: cached, or built now the cheapest safe way; None in local mode or without a checksum."""
        if self.access.mode == "local" or self.cell.checksum is None:
            return None
        if self._indexed():
            return self._index
        checksum, size = self.cell.checksum.value, self.cell.size
        if self.access.mode == "download" or self._cached():
            return self._index_from_file()
        if config.offline():
            raise OfflineError(
                f"{self.cell.label}: its file's index is not cached, and {config.OFFLINE_ENV} forbids reading the "
                "file over the network to build it"
            )
        preference = config.first_contact()
        small = size <= SMALL_FILE_BYTES and preference != WALK  # a walk would cost more than the whole file
        if small and (downloaded := self._index_from_download()) is not None:
            return downloaded
        shared = self._remote()
        remote = shared or open_remote(self.cell)
        try:
            if not small and choose(remote, size, download_parts(size), preference) == DOWNLOAD:
                if (downloaded := self._index_from_download()) is not None:
                    return downloaded
            with open_h5(self.cell, self.access, remote, for_sweep_table=True) as h5:
                index = build_index(h5, checksum, size, STREAMED, self.cell.label, remote.etag)
        finally:
            if shared is None:
                remote.close()
        if index.etag is None:
            logger.info("%s: no dandi-etag to tie the streamed bytes to, so its index is not cached", self.cell.label)
        else:
            save_index(index, self.access.index_store)
        self._index = index
        return index

    def _index_from_file(self) -> CellIndex:
        """The index built from the verified file in the cache (downloaded first if need be), and cached."""
        checksum, size = self.cell.checksum.value, self.cell.size
        built = self._read_cached(
            lambda h5: build_index(h5, checksum, size, DOWNLOADED, self.cell.label, self._etag_of(h5.filename))
        )
        self._index = save_index(built, self.access.index_store)
        return self._index

    def _index_from_download(self) -> CellIndex | None:
        """The index built from the file downloaded and verified for it, then dropped (``opening.transient_copy``);
        cached. None where the cache cannot hold the file (``CacheError``): the caller walks the headers instead."""
        import h5py

        checksum, size = self.cell.checksum.value, self.cell.size
        try:
            with transient_copy(self.cell) as path, h5py.File(path, "r") as h5:
                try:
                    built = build_index(h5, checksum, size, DOWNLOADED, self.cell.label, self._etag_of(str(path)))
                except HDF5_READ_ERRORS as exc:
                    if isinstance(exc, PatchseqError):
                        raise
                    raise self._format_error(path, exc) from exc
        except CacheError as exc:
            logger.info("%s: no room in the cache for its download (%s): walking it", self.cell.label, exc)
            return None
        self._index = save_index(built, self.access.index_store)
        return self._index

    def _etag_of(self, path: str) -> str:
        """The dandi-etag of the verified file at ``path``: the listing's, else computed from its bytes (MD5s)."""
        from ..transport.checksums import dandi_etag_of

        return self.cell.asset.etag or dandi_etag_of(Path(path))

    def _indexed(self) -> bool:
        """Whether the file's index is at hand: held by this reader, or cached (then held)."""
        if self._index is None and self.cell.checksum is not None:
            self._index = load_index(self.cell.checksum.value, self.cell.size, self.access.index_store)
        return self._index is not None

    def _fetch_sweeps(self, index: CellIndex, wanted: list[IndexedSweep], trim: bool, etag: str) -> list[Sweep]:
        """The sweeps' samples in one wave of range requests, each answer carrying the file's ``etag``; decoded."""
        if config.offline():
            raise OfflineError(
                f"the samples of {self.cell.label} are not cached and {config.OFFLINE_ENV} forbids reading them "
                "over the network"
            )
        paths = list(dict.fromkeys(path for entry in wanted for path in entry.names() if path is not None))
        spans = [span for path in paths for span in index.arrays[path].ranges()]
        try:
            pieces = iter(fetch_ranges(self.cell.urls, spans, size=self.cell.size, tag=BlobTag(etag, self.cell.size)))
        except ChecksumError as exc:
            raise ChecksumError(f"{self.cell.label}: the server holds other bytes than DANDI lists: {exc}") from exc
        samples = {
            path: self._decode(path, index.arrays[path], [next(pieces) for _ in index.arrays[path].ranges()])
            for path in paths
        }
        return [
            assemble(
                entry.parts,
                samples[entry.response],
                samples.get(entry.stimulus) if entry.stimulus else None,
                trim,
                entry.device,
                index.spike_times(entry.parts.sweep_number),
            )
            for entry in wanted
        ]

    def _decode(self, path: str, array: StoredArray, pieces: list[bytes]) -> np.ndarray:
        """The series' samples from its stored pieces; ``NwbFormatError`` naming them if they do not decode."""
        try:
            return array.decode(pieces)
        except (ValueError, zlib.error) as exc:
            raise NwbFormatError(
                f"{self.cell.label}: the stored bytes of {path}/data do not decode as the file's index says "
                f"({exc}): the server gave other bytes, or the index at {index_path(self.cell.checksum.value)} "
                "is wrong (delete it to build it again)"
            ) from exc

    def _local_file_ready(self) -> bool:
        """Whether the verified file is at hand (download mode, or cached by an earlier download)."""
        return self.access.mode != "stream" or self._cached()

    def _cached(self) -> bool:
        """Whether the cache holds the file as it was verified (one that fails its check is removed, warned of)."""
        return verified_copy(self.cell) is not None

    def _read(self, read: Callable[[h5py.File], T], for_sweep_table: bool = False) -> T:
        """``read(h5)`` of the file: the verified cached copy in download mode, and in stream mode where the cache
        holds it; else as the access mode reaches it."""
        if self.access.mode == "download" or (self.access.mode == "stream" and self._cached()):
            return self._read_cached(read)
        remote = self._remote() if self.access.mode == "stream" else None
        with open_h5(self.cell, self.access, remote, for_sweep_table) as h5:
            if self.access.mode != "local":
                return read(h5)
            try:
                return read(h5)
            except HDF5_READ_ERRORS as exc:
                if isinstance(exc, PatchseqError):  # the readers' own: a sweep or headstage it has not, ...
                    raise
                raise NwbFormatError(
                    f"{self.cell.label}: its local copy {h5.filename} cannot be read ({type(exc).__name__}: {exc}); "
                    "a local copy is checked against DANDI's size only: its bytes may not be DANDI's "
                    "(access='download' fetches and verifies them)"
                ) from exc

    def _read_cached(self, read: Callable[[h5py.File], T]) -> T:
        """``read(h5)`` of the verified copy in the cache (downloaded first if need be), audited if it fails
        (see the module docstring)."""
        import h5py

        def read_file(path: Path) -> T:
            with h5py.File(path, "r") as h5:
                return read(h5)

        return read_checked(lambda: local_copy(self.cell), read_file, HDF5_READ_ERRORS, self._format_error, NWB_FILE)

    def _format_error(self, path: Path, exc: BaseException) -> NwbFormatError:
        """That the cached copy at ``path``, DANDI's bytes as verified, cannot be read: ``exc``."""
        return NwbFormatError(
            f"{self.cell.label}: its NWB file, cached at {path}, cannot be read ({type(exc).__name__}: {exc}), yet "
            "its bytes are DANDI's, as verified: the file DANDI holds is malformed there, not the copy (another "
            "access mode reads the same bytes)"
        )


def _share(arrays: Sequence[StoredArray], size: int) -> float:
    """The share of the file's bytes these arrays' pieces are."""
    return sum(piece for array in arrays for _, piece in array.ranges()) / max(size, 1)
