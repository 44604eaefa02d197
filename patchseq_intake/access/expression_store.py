"""The release's expression matrices as stores in the cache: converted once from the verified CSV, checked on use.

A matrix's store lies at ``<cache>/stores/<the CSV's SHA-256>.<format version>.h5``
(``transcriptomes.matrix_store``: the layout, and why), with its record of
verification beside it, as every derived file of the cache
(``transport.verified``). It is made once across processes: the first
process to want it takes its lock, gets the CSV (``csv_path_of``: fetched,
verified and cached by whoever calls), converts it under a progress bar
into a temporary file, and renames it into place; the others wait and find
it made. Every use checks it (its stamp, a full SHA-256 if that changed);
one that fails the check, or whose opening fails, is audited, removed with a
``CacheIntegrityWarning`` and made again.

Nothing half-written is ever found under the store's name: a conversion that
fails (a CSV that is not a matrix, no space left, Ctrl-C) leaves no store and
no partial file (the temporary one is removed, and a killed process's is
removed by the next maker), and the next call converts afresh. What the
cache's file system refuses is a ``CacheError`` naming the path and what to
do (``transport.cache.cache_errors``).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from .. import config
from ..errors import CacheError, ReleaseFileFormatError

if TYPE_CHECKING:
    from ..transcriptomes.matrix_store import MatrixStore

STORE = "expression store"
_READ_ERRORS = (OSError, KeyError, ValueError, ReleaseFileFormatError)
"""What opening a damaged store raises (h5py's errors; a store of another layout)."""


def store_path(csv_sha256: str) -> Path:
    """Where the store converted from the CSV whose SHA-256 is ``csv_sha256`` lies in the cache."""
    from ..transcriptomes.matrix_store import FORMAT_VERSION

    return config.cache_dir() / config.STORES_DIR / f"{csv_sha256.lower()}.{FORMAT_VERSION}.h5"


def expression_store(
    csv_path_of: Callable[[], tuple[Path, str]], what: str, *, sha256: str | None = None
) -> MatrixStore:
    """The store of a matrix, opened: checked if cached, else converted from the CSV ``csv_path_of()`` gives.

    ``csv_path_of()`` returns the verified CSV's local path and SHA-256 (it
    may fetch it); ``what`` names the matrix in the progress bar and messages
    (``"the mouse cpm matrix (...csv)"``). ``sha256``: the CSV's SHA-256 when
    known beforehand (the manifest's): then a cached store is used without
    calling ``csv_path_of`` at all, so that the CSV is needed only to convert
    it. Without it, or when ``csv_path_of`` gives other bytes (accepted by the
    user), the store of the bytes it gives is used.

    ``ReleaseFileFormatError`` (from ``transcriptomes.matrix_csv``) for a CSV
    that is not a matrix: nothing is cached. ``CacheError`` if the cache
    cannot be written (no space: the message says so, and no partial store
    is left) or a verified store cannot be read.
    """
    from ..transcriptomes.matrix_store import MatrixStore
    from ..transport.verified import read_checked

    def locate() -> Path:
        return _located(csv_path_of, what, sha256)

    def format_error(path: Path, exc: BaseException) -> CacheError:
        return CacheError(
            f"{path}, the cached {STORE} of {what}, cannot be read ({type(exc).__name__}: {exc}), yet its bytes "
            "are those written and verified; run `patchseq-intake cache clear` to convert it again, and report it "
            "if that does not help"
        )

    return read_checked(locate, MatrixStore, _READ_ERRORS, format_error, what=f"{STORE} of {what}")


def _located(csv_path_of: Callable[[], tuple[Path, str]], what: str, sha256: str | None) -> Path:
    """The store's path, checked, or made from the CSV (only then is ``csv_path_of`` called)."""
    from ..transport.verified import usable, verified_file

    kind = f"{STORE} of {what}"
    if sha256 is not None and usable(store_path(sha256), what=kind):
        return store_path(sha256)
    csv_path, csv_sha256 = csv_path_of()
    return verified_file(store_path(csv_sha256), lambda dest: _convert(csv_path, csv_sha256, dest, what), what=kind)


def _convert(csv_path: Path, csv_sha256: str, dest: Path, what: str) -> str:
    """Convert the CSV into ``dest``, atomically, under a progress bar; the store's SHA-256 (for its record)."""
    from ..transcriptomes.matrix_store import convert
    from ..transport.atomic import atomic_output
    from ..transport.checksums import sha256_of
    from ..transport.progress import progress_bar

    with progress_bar(csv_path.stat().st_size, f"converting {what}") as bar, atomic_output(dest) as partial:
        convert(csv_path, partial, source_sha256=csv_sha256, progress=bar.update)
    return sha256_of(dest)
