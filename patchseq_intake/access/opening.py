"""Open a cell's NWB file as HDF5, by one of three access modes.

``download``
    The whole file into ``<cache>/nwb/<checksum>.nwb``, as a few concurrent
    ranges (``download_parts``), verified against DANDI's size and checksum
    of the asset (its SHA-256, else its dandi-etag) before it is used; later
    uses read it with no network access, and only as it was verified
    (``transport.verified``: its stamp checked on every use, its SHA-256
    again when the stamp changed; a copy that fails is removed, with a
    ``CacheIntegrityWarning``, and downloaded again).
``stream``
    HTTP range reads of the blob (``remote_file``), cached in blocks, with the
    headers the sweep table needs fetched in a few concurrent batches: a few
    sweeps of a file without fetching all of it.
``local``
    A directory holding the dandiset as ``dandi download`` lays it out; the
    file's size is checked against DANDI's, and the file must lie inside the
    directory (a path or a link leading out of it is refused).

Every mode reads the URLs, size and checksum the cell was resolved to (see
``nwb_files``), and asks the DANDI API nothing more.
"""

from __future__ import annotations

import contextvars
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from .. import config
from ..dandi.nwb_files import CellFile
from ..errors import (
    AccessError,
    ChecksumError,
    FetchError,
    LocalFileMissingError,
    NwbFormatError,
    OfflineError,
    UnresponsiveServerError,
)
from ..transport.blob_tag import BlobTag
from ..transport.remote_file import RemoteFile
from .modes import Access
from .table_prefetch import prefetch_sweep_table

if TYPE_CHECKING:
    import h5py
    from tqdm import tqdm

PART_BYTES = 4 * 1024 * 1024
MAX_PARTS = 8
"""A download comes as up to ``MAX_PARTS`` concurrent ranges of at least ``PART_BYTES``: one connection is slower."""
NWB_FILE = "NWB file"
"""How integrity warnings name a cached copy."""


@contextmanager
def open_h5(
    cell: CellFile, access: Access, remote: RemoteFile | None = None, for_sweep_table: bool = False
) -> Iterator[h5py.File]:
    """The cell's NWB file, open read-only as an ``h5py.File``.

    In stream mode ``remote`` (from ``open_remote``) keeps fetched blocks between
    calls; ``for_sweep_table`` fetches the headers the sweep table reads in a
    few concurrent batches first (``table_prefetch``). ``NwbFormatError`` if the file is not HDF5.
    """
    if access.mode == "stream":
        own = remote is None
        remote = remote or open_remote(cell)
        try:
            with _hdf5(cell, remote) as h5:
                if for_sweep_table:
                    prefetch_sweep_table(h5, remote)
                yield h5
        finally:
            if own:
                remote.close()
        return
    path = local_copy(cell) if access.mode == "download" else find_local(cell, access)
    with _hdf5(cell, path) as h5:
        yield h5


def _hdf5(cell: CellFile, file: Path | RemoteFile) -> h5py.File:
    """``file`` opened read-only by h5py; what is not HDF5 is refused naming the cell and the file."""
    import h5py

    try:
        return h5py.File(file, "r")
    except OSError as exc:
        where = file if isinstance(file, Path) else cell.urls[0]
        raise NwbFormatError(f"{cell.label}: {where} is not an HDF5 (NWB) file: {exc}") from exc


def open_remote(cell: CellFile) -> RemoteFile:
    """The cell's file on DANDI, read by ranges: from its blob URL, else the API's download URL.

    Every answer must carry the blob's ETag (``transport.blob_tag``): the
    asset's dandi-etag where the listing gives it, else the one the first
    answer carried; and the file's size in its ``Content-Range``. Its first
    bytes are read at once, so that a server holding other bytes is refused
    here (``ChecksumError``), not inside h5py.
    """
    if config.offline():
        raise OfflineError(f"access='stream' reads over the network, which {config.OFFLINE_ENV} forbids")
    remote = RemoteFile(list(cell.urls), cell.size, tag=BlobTag(cell.asset.etag, cell.size))
    try:
        remote.prefetch([(0, 1)])  # and the file's tail, where HDF5 writers leave metadata
    except ChecksumError as exc:
        remote.close()
        listed = f"dandi-etag {cell.asset.etag}" if cell.asset.etag else f"SHA-256 {cell.sha256}"
        raise ChecksumError(
            f"{cell.dandi_path} ({cell.who}) is not the file DANDI lists ({cell.size} bytes, "
            f"{listed}): {exc}"
        ) from exc
    return remote


def local_copy(cell: CellFile, progress: tqdm | None = None) -> Path:
    """The verified cached copy of the cell's file, downloaded on first use and whenever it fails its check.

    ``progress`` is a bar shared with other downloads; by default the file gets its own. Where DANDI gives
    the file's SHA-256 (the name of its copy), a copy cached without a record of its verification (by an
    older version of the package) is taken after one full hash; a copy named by a dandi-etag needs its record.
    """
    from ..transport.verified import verified_file

    return verified_file(cached_path(cell), lambda path: _download(cell, path, progress), cell.sha256, NWB_FILE)


@contextmanager
def transient_copy(cell: CellFile) -> Iterator[Path]:
    """The cell's file, verified as ``local_copy``'s is, for one use: the cached copy if there is one, else a
    download into a temporary folder of the cache, removed afterwards.

    For stream mode's first contact, which needs the bytes once, to index
    them: the cache keeps the index, not the file (``CacheError`` if the
    cache cannot be written).
    """
    import tempfile

    from ..transport.cache import cache_errors

    cached = verified_copy(cell)
    if cached is not None:
        yield cached
        return
    folder = cached_path(cell).parent
    with cache_errors(folder, "write"):
        folder.mkdir(parents=True, exist_ok=True)
        scratch = tempfile.TemporaryDirectory(dir=folder, prefix=".transient-")
    with scratch as name:
        path = Path(name) / cached_path(cell).name
        _download(cell, path, None)
        yield path


def verified_copy(cell: CellFile) -> Path | None:
    """The cached copy of the cell's file if the cache holds it as verified, else None (nothing downloaded).

    A copy that fails its check is removed, with a ``CacheIntegrityWarning``.
    """
    from ..transport.verified import usable

    path = cached_path(cell)
    return path if usable(path, cell.sha256, NWB_FILE) else None


def cached_path(cell: CellFile) -> Path:
    """Where the cache keeps the cell's file: named by DANDI's checksum of it (SHA-256, else dandi-etag)."""
    if cell.checksum is None:
        raise ChecksumError(
            f"{cell.dandi_path} ({cell.who}): DANDI gives no checksum of this asset "
            "(neither dandi:sha2-256 nor dandi:dandi-etag), so its bytes cannot be verified; "
            "use access='stream', or a version whose listing has them"
        )
    return config.cache_dir() / config.NWB_DIR / f"{cell.checksum.value}.nwb"


def fetch_all(cells: Sequence[CellFile], max_concurrent: int = 4) -> list[Path]:
    """Download the cells' files into the cache, a few at a time, under one progress bar.

    A cached copy is checked (see ``local_copy``), not fetched again, unless it fails.
    """
    from concurrent.futures import ThreadPoolExecutor

    from ..transport.progress import progress_bar

    missing = sum(cell.size for cell in cells if verified_copy(cell) is None)
    pool = ThreadPoolExecutor(max_concurrent, thread_name_prefix="fetch")
    with progress_bar(missing, f"{len(cells)} NWB files") as bar:
        try:
            # Each task runs in a copy of this context, so settings applied here (config.using) hold there.
            tasks = [pool.submit(contextvars.copy_context().run, local_copy, cell, bar) for cell in cells]
            paths = [task.result() for task in tasks]
        except BaseException:
            pool.shutdown(wait=False, cancel_futures=True)  # a failure or Ctrl-C stops what is queued
            raise
    pool.shutdown()
    return paths


def _download(cell: CellFile, path: Path, progress: tqdm | None) -> str:
    """Download the cell's file to ``path``, verified against DANDI's checksum; the SHA-256 of its bytes."""
    from ..transport.download import fetch_file

    if config.offline():
        raise OfflineError(
            f"the NWB file of {cell.who} ({cell.dandi_path}) is not cached and "
            f"{config.OFFLINE_ENV} forbids downloading it"
        )
    problems = []
    for url in cell.urls:
        try:
            return fetch_file(
                url, path, checksum=cell.checksum, size=cell.size, label=cell.file_name, progress=progress,
                check=lambda partial: _require_hdf5(cell, partial), parts=download_parts(cell.size),
                etag=cell.asset.etag,
            )
        except ChecksumError as exc:
            raise ChecksumError(
                f"the bytes DANDI served for {cell.dandi_path} ({cell.who}, blob {cell.asset.blob}) "
                f"are not the ones its listing describes: {exc}"
            ) from exc
        except UnresponsiveServerError:
            raise  # the other URL leads to the same store (the API redirects to the blob): it would wait as long
        except FetchError as exc:
            problems.append(str(exc))
    raise FetchError(f"could not download {cell.dandi_path} ({cell.who}): " + "; ".join(problems))


def download_parts(size: int) -> int:
    """How many concurrent ranges download a file of ``size`` bytes: one per ``PART_BYTES``, up to ``MAX_PARTS``."""
    return max(1, min(MAX_PARTS, size // PART_BYTES))


def _require_hdf5(cell: CellFile, path: Path) -> None:
    """Refuse bytes that are not an HDF5 file, before they are cached."""
    import h5py

    if not h5py.is_hdf5(path):
        raise NwbFormatError(
            f"{cell.label}: the bytes DANDI serves for it are not an HDF5 (NWB) file; nothing was cached"
        )


def find_local(cell: CellFile, access: Access) -> Path:
    """The cell's file under the local root, checked against DANDI's size of it.

    The file must lie inside the root once every link is followed: a listing
    path with ``..`` or an absolute one, or a link out of the root, is an
    ``AccessError`` naming the root and the path, never read.
    """
    root = Path(access.root) if access.root else config.local_root()
    if root is None:
        raise AccessError(
            f"access='local' needs a directory: pass root=... or set {config.LOCAL_ROOT_ENV}"
        )
    candidates = [root / cell.dandi_path, root / cell.dandiset / cell.dandi_path]
    found = next((path for path in candidates if _inside(root, path, cell).is_file()), None)
    if found is None:
        tried = ", ".join(str(path) for path in candidates)
        raise LocalFileMissingError(f"the NWB file of {cell.who} is not under {root}; looked for {tried}")
    if found.stat().st_size != cell.size:
        raise ChecksumError(
            f"{found}: {found.stat().st_size} bytes, but DANDI holds {cell.size} bytes of "
            f"{cell.dandi_path}: an incomplete or different file"
        )
    return found


def _inside(root: Path, path: Path, cell: CellFile) -> Path:
    """``path``, if it lies inside ``root`` with every link followed; else ``AccessError`` naming both."""
    resolved = path.resolve()
    if not resolved.is_relative_to(root.resolve()):
        raise AccessError(
            f"access='local': the path {cell.dandi_path!r} of {cell.who} leads to {resolved}, "
            f"outside the root {root}; a file of the dandiset lies inside it (refused, not read)"
        )
    return path
