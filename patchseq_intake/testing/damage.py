"""Bad luck and forgery on a cached file, for tests: one byte changed, with or without its stamp kept."""

from __future__ import annotations

import os
from pathlib import Path


def flip_byte(path: Path, offset: int, *, mask: int = 0xFF, keep_stamp: bool = False) -> None:
    """XOR the byte at ``offset`` of ``path`` with ``mask``.

    ``keep_stamp=False``: the modification time moves on one second, as a
    later write moves it (a write within the same clock tick as the
    verification would keep the stamp: see ``transport.verified``).
    ``keep_stamp=True``: size, modification time and inode are put back, as
    a forgery would: only a full check (or a read it breaks) sees it.
    """
    status = path.stat()
    with path.open("r+b") as stream:
        stream.seek(offset)
        byte = stream.read(1)
        stream.seek(offset)
        stream.write(bytes([byte[0] ^ mask]))
    later = status.st_mtime_ns + (0 if keep_stamp else 10**9)
    os.utime(path, ns=(status.st_atime_ns, later))
