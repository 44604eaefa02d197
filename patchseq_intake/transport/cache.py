"""Files in the cache that several processes may want at once.

``cached_file(dest, make)`` makes ``dest`` once: the first process to want it
takes an inter-process lock beside it and makes it; the others wait on the
lock and then find it made. ``make`` must write atomically (see ``atomic``),
so ``dest`` is either absent or complete. Leftovers of a process killed while
making it (its ``.part`` files) are removed by the next maker, which holds
the lock and so knows no one else is writing them.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path


def cached_file(dest: Path, make: Callable[[Path], None]) -> Path:
    """``dest``, made first by ``make(dest)`` if it does not exist yet."""
    if dest.exists():
        return dest
    with locked(dest):
        if not dest.exists():
            remove_leftovers(dest)
            make(dest)
    return dest


@contextmanager
def locked(dest: Path) -> Iterator[None]:
    """Hold the inter-process lock of ``dest`` (its folder made first) for the block."""
    from filelock import FileLock

    dest.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(lock_path(dest)):
        yield


def lock_path(dest: Path) -> Path:
    return dest.with_name(f".{dest.name}.lock")


def remove_leftovers(dest: Path) -> None:
    """Remove the partial files and folders a killed maker of ``dest`` left behind."""
    for leftover in dest.parent.glob(f".{dest.name}.*.part"):
        if leftover.is_dir():
            shutil.rmtree(leftover, ignore_errors=True)
        else:
            leftover.unlink(missing_ok=True)
