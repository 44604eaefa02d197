"""Count the round trips of a cold first contact with a file in stream mode, on a ``LocalServer`` with latency.

A wave is a group of requests in flight together: the requests a client
waited for one group after another, so a walk's waves are its round trips
(``waves``). ``first_contact`` serves a file on 127.0.0.1 and does what
stream mode does the first time it meets a file (``opening.open_remote``,
``opening.open_h5(..., for_sweep_table=True)``, ``cell_index.build_index``),
and says what each step asked: waves, requests and bytes. With the server's
latency larger than the client's work between answers, requests that
overlap are the ones sent together.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from .server import LocalServer, LoggedRequest

FIRST_CONTACT_STEPS = ("open", "sweep table prefetch", "index")
"""``open_remote`` (the superblock and the file's tail); ``open_h5`` for the sweep table (h5py's open and
``table_prefetch``); ``build_index`` (what it then reads on demand)."""


def waves(log: Sequence[LoggedRequest]) -> int:
    """How many round trips the requests took: groups of requests in flight together, one after another."""
    count, end = 0, float("-inf")
    for entry in sorted(log, key=lambda e: e.started):
        if entry.started > end:
            count += 1
        end = max(end, entry.finished)
    return count


@dataclass(frozen=True)
class Cost:
    """What one step (or the whole walk) asked of the server."""

    waves: int
    requests: int
    bytes: int
    seconds: float
    """Wall-clock time, answers and the client's work between them."""

    @classmethod
    def of(cls, log: Sequence[LoggedRequest], seconds: float) -> Cost:
        return cls(waves(log), len(log), sum(entry.body_bytes for entry in log), seconds)


@dataclass(frozen=True)
class Walk:
    """A first contact's cost, in all and per step (``FIRST_CONTACT_STEPS``), the file's size, and the index built."""

    total: Cost
    steps: dict[str, Cost]
    size: int
    index: object  # cell_index.CellIndex

    @property
    def share(self) -> float:
        """The bytes moved, as a share of the file's."""
        return self.total.bytes / self.size


def first_contact(
    path: Path, latency_s: float = 0.01, sha256: str | None = None, link_bytes_per_s: float | None = None
) -> Walk:
    """Serve ``path`` with ``latency_s`` added to every answer (and all answers sharing a link of
    ``link_bytes_per_s``), and make a cold stream-mode first contact with it."""
    import h5py  # noqa: F401  (the package's HDF5 reader; imported before the clock starts)

    from ..access.cell_index import STREAMED, build_index
    from ..access.modes import Access
    from ..access.opening import open_h5, open_remote
    from ..dandi.assets import Asset
    from ..dandi.nwb_files import CellFile
    from ..transport.checksums import dandi_etag_of

    etag = dandi_etag_of(path)
    size = path.stat().st_size
    with LocalServer() as server:
        url = server.url + server.serve_file(f"/blobs/{path.name}", path, etag=etag)
        asset = Asset(f"sub-1/{path.name}", None, str(uuid.uuid4()), size, sha256, etag)
        cell = CellFile(1, 2, "000023", asset, (url,), None)
        server.faults.latency_s = latency_s
        server.faults.link_bytes_per_s = link_bytes_per_s
        marks = [time.monotonic()]
        remote = open_remote(cell)
        try:
            marks.append(time.monotonic())
            with open_h5(cell, Access("stream"), remote, for_sweep_table=True) as h5:
                marks.append(time.monotonic())
                index = build_index(h5, "0" * 64, size, STREAMED, cell.label, remote.etag)
                marks.append(time.monotonic())
        finally:
            remote.close()
        log = list(server.log)
    steps = {
        name: Cost.of([entry for entry in log if start <= entry.started < end], end - start)
        for name, start, end in zip(FIRST_CONTACT_STEPS, marks, marks[1:])
    }
    return Walk(Cost.of(log, marks[-1] - marks[0]), steps, size, index)
