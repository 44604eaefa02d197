"""Files in the cache that several processes may want at once.

``cached_file(dest, make)`` makes ``dest`` once: the first process to want it
takes an inter-process lock beside it and makes it; the others wait on the
lock and then find it made. ``make`` must write atomically (see ``atomic``),
so ``dest`` is either absent or complete. Leftovers of a process killed while
making it (its ``.part`` files) are removed by the next maker, which holds
the lock and so knows no one else is writing them.

Waiting: a process that finds the lock held waits for as long as the other
holds it (a download may take minutes; the lock goes when its holder ends,
even killed). If that takes more than ``WAIT_NOTICE_S`` seconds, it says so
once, as a ``UserWarning`` (shown by default, in a terminal, a notebook or
the command's stderr): ``waiting for another process or thread to finish
with <dest> (it holds the lock <lock file>) ...``. Waits that end sooner say
nothing.

What the cache's file system refuses (no space, no permission, a read-only
file system, a file or a device where a folder should be, a path too long)
is a ``CacheError`` naming the path and what to do, at the cache's edges:
making its folders, taking a lock, writing a file (``cache_errors``).
"""

from __future__ import annotations

import errno
import os
import shutil
import stat
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from .. import config
from ..errors import CacheError, PatchseqError

WAIT_NOTICE_S = 2.0
"""Seconds of waiting on another process's lock after which the wait is announced (once)."""

_FULL = {errno.ENOSPC, errno.EDQUOT}
_FORBIDDEN = {errno.EACCES, errno.EPERM, errno.EROFS}
_NOT_A_FOLDER = {errno.ENOTDIR, errno.EEXIST}
_CACHE_ERRNOS = _FULL | _FORBIDDEN | _NOT_A_FOLDER | {errno.EISDIR, errno.ENAMETOOLONG, errno.ELOOP}
"""What a file system answers when the cache cannot be written where it is."""


def cached_file(dest: Path, make: Callable[[Path], None]) -> Path:
    """``dest``, made first by ``make(dest)`` if it does not exist yet."""
    if dest.exists():
        return dest
    with locked(dest):
        if not dest.exists():
            remove_leftovers(dest)
            with cache_errors(dest, "write"):
                make(dest)
    return dest


@contextmanager
def locked(dest: Path) -> Iterator[None]:
    """Hold the inter-process lock of ``dest`` (its folder made first) for the block.

    Announces a wait longer than ``WAIT_NOTICE_S`` once (see the module
    docstring). ``CacheError`` if the folder or the lock file cannot be made.
    """
    from filelock import FileLock, Timeout

    make_folder(dest.parent)
    lock = FileLock(lock_path(dest))
    with cache_errors(lock_path(dest), "take the lock"):
        try:
            lock.acquire(timeout=WAIT_NOTICE_S)
        except Timeout:
            warnings.warn(
                f"waiting for another process or thread to finish with {dest} (it holds the lock "
                f"{lock_path(dest)}); this goes on when that one is done",
                UserWarning,
                stacklevel=4,
            )
            lock.acquire()
    try:
        yield
    finally:
        lock.release()


def lock_path(dest: Path) -> Path:
    return dest.with_name(f".{dest.name}.lock")


def make_folder(folder: Path) -> None:
    """Make ``folder`` and its parents; ``CacheError`` naming it if the file system refuses."""
    with cache_errors(folder, "make the folder"):
        folder.mkdir(parents=True, exist_ok=True)


def remove_leftovers(dest: Path) -> None:
    """Remove the partial files and folders a killed maker of ``dest`` left behind."""
    for leftover in dest.parent.glob(f".{dest.name}.*.part"):
        if leftover.is_dir():
            shutil.rmtree(leftover, ignore_errors=True)
        else:
            leftover.unlink(missing_ok=True)


@contextmanager
def cache_errors(path: Path, doing: str) -> Iterator[None]:
    """Turn what the file system refuses while the block is ``doing`` something to ``path`` into a ``CacheError``.

    Only errors of the cache's place count (no space, no permission, a file
    where a folder should be), and only for ``path``'s folder and what lies
    under it (a source file elsewhere that cannot be read stays its own
    error); the package's own errors pass unchanged.
    """
    try:
        yield
    except OSError as exc:
        if not of_the_cache(exc, path):
            raise
        raise cache_error(exc, path, doing) from exc


def of_the_cache(exc: OSError, path: Path) -> bool:
    """Whether ``exc``, met while using ``path``, is the cache's place refusing (see ``cache_errors``)."""
    return not isinstance(exc, PatchseqError) and exc.errno in _CACHE_ERRNOS and _concerns(exc, path)


def cache_error(exc: OSError, path: Path, doing: str) -> CacheError:
    """A ``CacheError`` for ``exc``, raised while ``doing`` something to ``path``: what failed and what to do."""
    where = Path(exc.filename) if exc.filename else path
    move = f"or set {config.CACHE_ENV} to put the cache elsewhere"
    if exc.errno in _FULL:
        advice = f"no space left on the device that holds {path.parent}: free some space there, {move}"
    elif exc.errno == errno.EROFS and doing == "remove":
        advice = f"{where} is on a read-only file system: only where it is mounted writable can it be removed"
    elif exc.errno == errno.EROFS:
        advice = f"{where} is on a read-only file system: set {config.CACHE_ENV} to a folder on a writable one"
    elif exc.errno in _FORBIDDEN and doing == "remove":
        advice = f"permission denied on {where}: fix the permissions of {where.parent} (or of the file)"
    elif exc.errno in _FORBIDDEN:
        advice = f"permission denied on {where}: fix the permissions of {where.parent} (or of the file), {move}"
    elif exc.errno in _NOT_A_FOLDER:
        advice = _not_a_folder(where, move)
    elif exc.errno == errno.ENAMETOOLONG:
        advice = f"the path is too long for the file system: set {config.CACHE_ENV} to a shorter folder"
    else:
        advice = f"{exc.strerror or exc}; {move.removeprefix('or ')}"
    error = CacheError(f"cannot {doing} {path} in the cache: {advice}")
    error.errno = exc.errno
    return error


def _not_a_folder(where: Path, move: str) -> str:
    """What to do when ``where``, or the first of its parents that exists, is not a folder."""
    blocker = next((p for p in (where, *where.parents) if os.path.lexists(p)), where)
    if stat.S_ISREG(_mode(blocker)) and not blocker.is_relative_to("/dev"):
        return f"a file stands where a folder of the cache should be ({blocker}): remove it, {move}"
    return f"{blocker} is not a folder: set {config.CACHE_ENV} to a folder"


def _mode(path: Path) -> int:
    """``path``'s file type and mode, links followed; 0 if it cannot be read."""
    try:
        return path.stat().st_mode
    except OSError:
        return 0


def _concerns(exc: OSError, path: Path) -> bool:
    """Whether ``exc`` is about ``path``, its folder or what lies under that folder (no file named: assumed so)."""
    if not exc.filename:
        return True
    named = Path(exc.filename)
    return named == path or named.is_relative_to(path.parent) or path.is_relative_to(named)
