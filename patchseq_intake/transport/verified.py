"""Cached files that carry what they were verified as, and are checked whenever they are used.

Beside each verified file ``<name>`` lies ``.<name>.verified``, a small JSON
record: the file's size and SHA-256 when it was verified, and its *stamp*
then (size, modification time in ns, inode). ``verified_file`` returns a
cached file only after ``check``:

- the stamp is unchanged: the file is taken as verified, at the cost of one
  ``stat`` and reading the record (no byte of the file is read);
- the stamp changed (the file was written to, truncated, replaced or copied
  in): its SHA-256 is computed again; if it is the recorded one the stamp is
  renewed, otherwise the file is not what was verified;
- no record, or one that cannot be read: not verified, unless the caller
  knows the SHA-256 the file must have (``expected_sha256``, e.g. a file
  named by it), which is then checked and recorded.

A file that fails is never read: a ``CacheIntegrityWarning`` names it, it is
removed with its record, and made again (``verified_file``), or done without
(``usable``, for stream mode, which can read ranges instead). ``audit``
checks a file's full SHA-256 whatever its stamp says (``patchseq-intake
cache verify``).

A read of a checked file that fails with an error of the file's format
(``read_checked``: pyarrow's on a parquet, h5py's on an NWB file) audits it
in full: the stamp cannot see bytes changed in place behind a restored
modification time, the audit can. A file that fails the audit is discarded,
made again and read once more; one that passes is what was verified, and
the error is the file's own (the caller's format error, naming the file).

Where the full SHA-256 is computed again, then: by the use that finds a
file's stamp changed (``check``, on every ``verified_file`` and ``usable``
call: each open of a cached NWB file, stream mode's look for a cached copy,
``fetch()``), once, after which the renewed stamp makes it cheap again; and
by ``audit`` for every cached file, whatever its stamp
(``patchseq-intake cache verify``), and for a file whose read failed
(``read_checked``). Checking the stamp costs a ``stat`` and reading a
record of a hundred bytes; the SHA-256 reads the whole file
(``benchmarks/cache_check.py`` measures both against opening the file).

What the stamp does not catch: bytes changed in place with the modification
time set back and the inode kept (a deliberate forgery, not bad luck), or
changed within the same tick of the file system's clock as the
verification. ``audit`` catches those; so does a read that they make fail
(``read_checked``). Changed bytes that still read, as other values, only
``audit`` finds.
"""

from __future__ import annotations

import json
import logging
import os
import warnings
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TypeVar

from ..errors import CacheError, CacheIntegrityWarning, PatchseqError
from .atomic import atomic_output
from .cache import cache_error, cache_errors, locked, remove_leftovers
from .checksums import sha256_of

logger = logging.getLogger(__name__)

RECORD_MAX_BYTES = 4096

T = TypeVar("T")


@dataclass(frozen=True)
class Record:
    """What a cached file was verified as: ``size`` (bytes), ``sha256``, and its stamp then."""

    size: int
    sha256: str
    mtime_ns: int
    inode: int

    def stamp_matches(self, status: os.stat_result) -> bool:
        return (status.st_size, status.st_mtime_ns, status.st_ino) == (self.size, self.mtime_ns, self.inode)


def record_path(path: Path) -> Path:
    """Where the record of ``path`` lies: ``.<name>.verified`` beside it."""
    return path.with_name(f".{path.name}.verified")


def record(path: Path, sha256: str) -> Record:
    """Record ``path`` as verified with this SHA-256 (computed by the caller from the bytes it checked)."""
    status = path.stat()
    made = Record(status.st_size, sha256.lower(), status.st_mtime_ns, status.st_ino)
    with cache_errors(record_path(path), "write"), atomic_output(record_path(path)) as partial:
        partial.write_text(json.dumps(asdict(made)))
    return made


def read_record(path: Path) -> Record | None:
    """The record of ``path``; None if there is none or it is not a well-formed record."""
    try:
        with record_path(path).open("rb") as stream:
            raw = stream.read(RECORD_MAX_BYTES + 1)
        values = json.loads(raw) if len(raw) <= RECORD_MAX_BYTES else None
        found = Record(**values) if isinstance(values, dict) else None
    except (OSError, ValueError, TypeError, RecursionError):
        return None
    if found is None or not _well_formed(found):
        return None
    return found


def check(path: Path, expected_sha256: str | None = None) -> bool:
    """Whether ``path`` is the file that was verified (see the module docstring); False if it is absent."""
    try:
        status = path.stat()
    except (FileNotFoundError, NotADirectoryError):  # not there, or a file stands where its folder should
        return False
    except OSError as exc:  # a name the file system refuses (too long, a loop of links): named, with what to do
        raise cache_error(exc, path, "read") from exc
    found = read_record(path)
    if found is not None and expected_sha256 is not None and found.sha256 != expected_sha256.lower():
        return False
    if found is not None and found.stamp_matches(status):
        return True
    wanted = found.sha256 if found is not None else expected_sha256
    if wanted is None or (found is not None and status.st_size != found.size):
        return False
    if sha256_of(path) != wanted.lower():
        return False
    _renew(path, wanted)
    return True


def _renew(path: Path, sha256: str) -> None:
    """Record ``path`` again with its new stamp, so that the next check is cheap; in a cache one may read but
    not write (shared, read-only) it stays unrenewed, and is checked in full each time."""
    try:
        record(path, sha256)
    except OSError as exc:
        logger.debug("could not renew the record of %s: %s", path, exc)


def audit(path: Path) -> bool:
    """Whether ``path``'s bytes have the SHA-256 its record gives, read in full whatever the stamp says."""
    return audit_problem(path) is None


def audit_problem(path: Path) -> str | None:
    """What is wrong with ``path`` against its record, its bytes read in full whatever the stamp says; None if
    nothing (then a changed stamp is renewed, so that the next ``check`` is cheap)."""
    found = read_record(path)
    if found is None:
        return "its record of verification is missing or unreadable"
    status = path.stat()
    if status.st_size != found.size:
        return f"{status.st_size} bytes, but {found.size} were verified"
    if sha256_of(path) != found.sha256:
        return f"its SHA-256 is not the {found.sha256} it was verified with"
    if not found.stamp_matches(status):
        _renew(path, found.sha256)
    return None


def discard(path: Path, why: str) -> None:
    """Remove ``path`` and its record, warning once that ``why`` (it is made again when next needed)."""
    warnings.warn(
        f"{path}: {why}; it was removed and will be fetched or derived again", CacheIntegrityWarning, stacklevel=3
    )
    with cache_errors(path, "remove"):
        path.unlink(missing_ok=True)
        record_path(path).unlink(missing_ok=True)


def verified_file(
    dest: Path, make: Callable[[Path], str], expected_sha256: str | None = None, what: str = "cached file"
) -> Path:
    """``dest``, checked (``check``) or made by ``make(dest)``, which writes it atomically and returns its SHA-256.

    ``what`` names the file in the warning given when a cached copy fails its
    check and is made again. Made once across processes (see ``cache``);
    ``CacheError`` if the cache cannot be written (see ``cache.cache_errors``).
    """
    if check(dest, expected_sha256):
        return dest
    with _locked_to_replace(dest, what):
        if _settled(dest, expected_sha256, what):  # made meanwhile by another process
            return dest
        remove_leftovers(dest)
        with cache_errors(dest, "write"):
            sha256 = make(dest)
        record(dest, sha256)
    return dest


def usable(dest: Path, expected_sha256: str | None = None, what: str = "cached file") -> bool:
    """Whether the cache holds ``dest`` as it was verified (``check``); one that fails is removed (``discard``).

    For callers that would rather do without a cached file than make it
    (stream mode, which reads ranges instead). Takes ``dest``'s lock only to
    remove it, so that a file another process is recording is never taken
    for a bad one.
    """
    if check(dest, expected_sha256):
        return True
    if not dest.exists():
        return False
    with _locked_to_replace(dest, what):
        return _settled(dest, expected_sha256, what)


@contextmanager
def _locked_to_replace(dest: Path, what: str) -> Iterator[None]:
    """``locked(dest)``, for a ``dest`` that failed its check; a cache that cannot be written names that file.

    The ``CacheError`` of a lock that cannot be taken (a read-only cache)
    then says which cached file is not what was verified, and why, before
    what the file system refused.
    """
    with ExitStack() as held:
        try:
            held.enter_context(locked(dest))
        except CacheError as exc:
            if not dest.exists():
                raise
            problem = audit_problem(dest) or "not the file this call expects"
            raise CacheError(
                f"the {what} {dest} is not what was verified ({problem}); it cannot be replaced: {exc}"
            ) from exc
        yield


def read_checked(
    locate: Callable[[], Path],
    read: Callable[[Path], T],
    errors: tuple[type[BaseException], ...],
    format_error: Callable[[Path, BaseException], Exception],
    what: str = "cached file",
) -> T:
    """``read(locate())``, where ``locate`` gives a checked file (``verified_file``), made again if need be.

    If ``read`` fails with one of ``errors`` (those of the file's format), the
    file is audited in full (``audit_problem``): if it is not what was
    verified, it is discarded (a ``CacheIntegrityWarning`` naming it), made
    again by ``locate`` and read once more; if it is, the error is the file's
    own: ``format_error(path, error)`` is raised (the package's own errors
    pass unchanged). The package's errors count only where ``errors`` names
    their class (an unknown sweep is the caller's, not the file's); what the
    file system refuses while reading (no permission) is a ``CacheError``
    naming the file, never audited.
    """
    for attempt in range(2):
        path = locate()
        try:
            with cache_errors(path, "read"):
                return read(path)
        except errors as exc:
            if not _of_the_format(exc, errors):
                raise
            if attempt == 0 and _discarded_unless_verified(path, what, exc):
                continue
            if isinstance(exc, PatchseqError):
                raise
            raise format_error(path, exc) from exc
    raise AssertionError("unreachable: the second attempt returns or raises")


def _of_the_format(exc: BaseException, errors: tuple[type[BaseException], ...]) -> bool:
    """Whether ``exc`` may come of the file's bytes: not one of the package's errors, unless ``errors`` names it."""
    if not isinstance(exc, PatchseqError):
        return True
    return any(issubclass(kind, PatchseqError) and isinstance(exc, kind) for kind in errors)


def _discarded_unless_verified(path: Path, what: str, error: BaseException) -> bool:
    """Whether ``path`` is gone, or discarded now for failing its audit (reading it gave ``error``); False if it
    is what was verified. Its lock is taken only to discard it: a verified file in a read-only cache needs none
    (files are replaced whole, so an audit without the lock sees a whole file and, at worst, a stale record,
    which the audit under the lock then settles)."""
    if path.exists() and audit_problem(path) is None:
        return False
    with _locked_to_replace(path, what):  # a read-only cache names the file and its problem, not only the lock
        if not path.exists():  # removed meanwhile by another process: made again when next located
            return True
        problem = audit_problem(path)
        if problem is None:
            return False
        discard(path, f"reading this {what} failed ({type(error).__name__}: {error}), and {problem}")
    return True


def _settled(dest: Path, expected_sha256: str | None, what: str) -> bool:
    """Under ``dest``'s lock: True if it is there as verified; if it is there otherwise, it is discarded."""
    if not dest.exists():
        return False
    if check(dest, expected_sha256):
        return True
    discard(dest, f"this {what} is not the one that was verified (changed, truncated or unrecorded)")
    return False


def _well_formed(found: Record) -> bool:
    return (
        all(isinstance(value, int) and not isinstance(value, bool) and value >= 0
            for value in (found.size, found.mtime_ns, found.inode))
        and isinstance(found.sha256, str)
        and len(found.sha256) == 64
        and all(c in "0123456789abcdef" for c in found.sha256)
    )
