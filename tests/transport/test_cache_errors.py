"""The cache's lock and what its file system refuses: a wait is said once; errors name the path and what to do.

Tests run as root, so permissions do not stop them: a refused lock file is
simulated (filelock raising ``PermissionError``), as are a full disk and a
read-only file system; a file, a FIFO or a device where a folder of the
cache should be is real, as is a name too long.
"""

from __future__ import annotations

import errno
import hashlib
import os
import re
import subprocess
import sys
import threading
import time
import warnings
from pathlib import Path

import pytest

from patchseq_intake import config
from patchseq_intake.errors import CacheError
from patchseq_intake.transport import cache, verified
from patchseq_intake.transport.atomic import atomic_output

CONTENT = b"cached bytes" * 100

HOLDER = """
import sys, time
from filelock import FileLock
lock = FileLock(sys.argv[1])
lock.acquire()
print("held", flush=True)
time.sleep(float(sys.argv[2]))
lock.release()
"""


def _make(dest: Path) -> str:
    with atomic_output(dest) as partial:
        partial.write_bytes(CONTENT)
    return hashlib.sha256(CONTENT).hexdigest()


def _waits(caught: list[warnings.WarningMessage]) -> list[str]:
    return [str(w.message) for w in caught if "waiting for another" in str(w.message)]


# --- the lock ----------------------------------------------------------------------------------------


def test_a_lock_held_by_another_process_is_waited_for_and_said_once(tmp_path, monkeypatch):
    monkeypatch.setattr(cache, "WAIT_NOTICE_S", 0.3)
    dest = tmp_path / "nwb" / "file.nwb"
    dest.parent.mkdir()
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(cache.lock_path(dest)), "2.0"], stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout.readline().strip() == "held"
        started = time.monotonic()
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            assert verified.verified_file(dest, _make) == dest
        waited = time.monotonic() - started
    finally:
        holder.wait(timeout=30)
    assert waited > 0.5  # it did wait for the holder...
    said = _waits(caught)
    assert len(said) == 1  # ...and said so once, naming the file being made and the lock
    lock = cache.lock_path(dest)
    assert f"waiting for another process or thread to finish with {dest} (it holds the lock {lock})" in said[0]
    assert dest.read_bytes() == CONTENT


def test_a_short_wait_says_nothing(tmp_path):
    dest = tmp_path / "file.nwb"
    held, release = threading.Event(), threading.Event()

    def hold() -> None:
        with cache.locked(dest):
            held.set()
            release.wait(10)

    holder = threading.Thread(target=hold)
    holder.start()
    assert held.wait(10)
    threading.Timer(0.2, release.set).start()
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            verified.verified_file(dest, _make)
    finally:
        release.set()
        holder.join(10)
    assert _waits(caught) == []
    assert dest.read_bytes() == CONTENT


# --- what the file system refuses --------------------------------------------------------------------


def test_a_file_where_the_caches_folder_should_be(tmp_path):
    blocker = tmp_path / "cache"
    blocker.write_text("a file, not a folder")
    dest = blocker / "nwb" / "file.nwb"
    with pytest.raises(CacheError) as raised:
        verified.verified_file(dest, _make)
    assert str(raised.value) == (
        f"cannot make the folder {dest.parent} in the cache: a file stands where a folder of the cache should be ({blocker}): "
        f"remove it, or set {config.CACHE_ENV} to put the cache elsewhere"
    )
    assert raised.value.errno == errno.ENOTDIR


def test_the_cache_itself_a_file(tmp_path):
    blocker = tmp_path / "cache"
    blocker.write_text("a file")
    with pytest.raises(CacheError, match="a file stands where a folder of the cache should be"):
        cache.cached_file(blocker / "x.json", lambda dest: dest.write_text("{}"))
    with pytest.raises(CacheError, match="a file stands where a folder of the cache should be"):
        cache.make_folder(blocker)


def test_a_full_disk_names_the_file_and_what_to_do(tmp_path):
    dest = tmp_path / "nwb" / "file.nwb"

    def full(path: Path) -> str:
        raise OSError(errno.ENOSPC, "No space left on device")

    expected = (
        rf"cannot write {re.escape(str(dest))} in the cache: no space left on the device that holds "
        rf"{re.escape(str(dest.parent))}: free some space there, or set {config.CACHE_ENV}"
    )
    with pytest.raises(CacheError, match=expected) as raised:
        verified.verified_file(dest, full)
    assert raised.value.errno == errno.ENOSPC
    assert not dest.exists()


def test_a_full_disk_while_recording(tmp_path, monkeypatch):
    dest = tmp_path / "file.nwb"
    real = verified.atomic_output

    def full(path: Path):
        if path == verified.record_path(dest):
            raise OSError(errno.ENOSPC, "No space left on device")
        return real(path)

    monkeypatch.setattr(verified, "atomic_output", full)
    expected = rf"cannot write {re.escape(str(verified.record_path(dest)))} in the cache: no space left"
    with pytest.raises(CacheError, match=expected):
        verified.verified_file(dest, _make)
    monkeypatch.setattr(verified, "atomic_output", real)
    assert not verified.check(dest)  # made but never recorded: not taken as verified


def test_a_lock_file_that_may_not_be_written(tmp_path, monkeypatch):
    from filelock import FileLock

    dest = tmp_path / "nwb" / "file.nwb"

    def refused(self, *args, **kwargs):
        raise PermissionError(errno.EACCES, "Permission denied", str(self.lock_file))

    monkeypatch.setattr(FileLock, "acquire", refused)
    lock = cache.lock_path(dest)
    expected = (
        rf"cannot take the lock {re.escape(str(lock))} in the cache: permission denied on {re.escape(str(lock))}: "
        rf"fix the permissions of {re.escape(str(dest.parent))}.*{config.CACHE_ENV}"
    )
    with pytest.raises(CacheError, match=expected) as raised:
        verified.verified_file(dest, _make)
    assert raised.value.errno == errno.EACCES


def test_an_error_outside_the_cache_stays_its_own(tmp_path):
    source = tmp_path / "elsewhere" / "table.csv"

    def unreadable(dest: Path) -> str:
        raise PermissionError(errno.EACCES, "Permission denied", str(source))

    with pytest.raises(PermissionError) as raised:
        verified.verified_file(tmp_path / "cache" / "table.parquet", unreadable)
    assert not isinstance(raised.value, CacheError)


def test_a_read_only_file_system_is_named_as_such(tmp_path):
    dest = tmp_path / "nwb" / "file.nwb"

    def read_only(path: Path) -> str:
        raise OSError(errno.EROFS, "Read-only file system", str(path))

    expected = (
        rf"cannot write {re.escape(str(dest))} in the cache: {re.escape(str(dest))} is on a read-only file system: "
        rf"set {config.CACHE_ENV} to a folder on a writable one"
    )
    with pytest.raises(CacheError, match=expected) as raised:
        verified.verified_file(dest, read_only)
    assert "permission" not in str(raised.value) and raised.value.errno == errno.EROFS


@pytest.mark.parametrize("cache_path", ["/dev/null", "/dev/null/tables"])
def test_a_device_as_the_cache_is_not_a_folder_and_is_not_to_be_removed(cache_path):
    folder = Path(cache_path)
    if not Path("/dev/null").is_char_device():
        pytest.skip("no /dev/null here")
    with pytest.raises(CacheError) as raised:
        cache.make_folder(folder)  # fails before writing anything: /dev/null is no folder
    assert str(raised.value) == (
        f"cannot make the folder {folder} in the cache: /dev/null is not a folder: set {config.CACHE_ENV} to a folder"
    )
    assert raised.value.errno in (errno.EEXIST, errno.ENOTDIR)


def test_a_fifo_where_the_caches_folder_should_be_is_not_a_folder(tmp_path):
    fifo = tmp_path / "cache"
    os.mkfifo(fifo)
    dest = fifo / "nwb" / "file.nwb"
    with pytest.raises(CacheError) as raised:
        cache.cached_file(dest, lambda path: path.write_text("{}"))
    assert str(raised.value).endswith(f": {fifo} is not a folder: set {config.CACHE_ENV} to a folder")
    assert "remove" not in str(raised.value)


def test_a_file_in_the_way_is_named_exactly(tmp_path):
    blocker = tmp_path / "cache"
    blocker.write_text("a file")
    with pytest.raises(CacheError) as raised:
        cache.make_folder(blocker / "nwb" / "sub")
    assert f"a file stands where a folder of the cache should be ({blocker}): remove it" in str(raised.value)


def test_a_path_too_long_for_the_file_system(tmp_path):
    folder = tmp_path / ("x" * 300) / "nwb"  # a name longer than any Linux file system takes (255 bytes)
    with pytest.raises(CacheError) as raised:
        cache.make_folder(folder)
    assert str(raised.value) == (
        f"cannot make the folder {folder} in the cache: the path is too long for the file system: "
        f"set {config.CACHE_ENV} to a shorter folder"
    )
    assert raised.value.errno == errno.ENAMETOOLONG
