"""What every benchmark script shares: a row of the table, the bench (replica, caches, network), section 2's files.

A row's "requests", "waves" and "MB moved" are what the replica logged while
the case ran (``replica_process.waves``: groups of requests in flight
together, the round trips a case waited for one after another).
"""

from __future__ import annotations

import os
import platform
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from replica_process import ReplicaProcess

import patchseq_intake
from patchseq_intake import config
from patchseq_intake.testing.waves import waves

MB = 1e6
SECOND_WRITER = "second writer"


@dataclass(frozen=True)
class OneFile:
    """A cell of section 2: its id, sweeps, header version, and writer (``second``: ``testing.mies_recorded``)."""

    cell: int
    sweeps: int
    version2: bool
    second: bool = False


ONE_CELLS = {
    "60 sweeps, v1 headers": OneFile(541549258, 60, False),
    "60 sweeps, v2 headers": OneFile(569835804, 60, True),
    "145 sweeps, v1 headers": OneFile(541516999, 145, False),
    f"{SECOND_WRITER}: 60 sweeps, v1 headers": OneFile(800000060, 60, False, second=True),
    f"{SECOND_WRITER}: 145 sweeps, v1 headers": OneFile(800000145, 145, False, second=True),
    f"{SECOND_WRITER}: 60 sweeps, v2 headers": OneFile(810000060, 60, True, second=True),
    f"{SECOND_WRITER}: 145 sweeps, v2 headers": OneFile(810000145, 145, True, second=True),
}
ONE = 10  # a long square sweep in both writers' protocols


@dataclass
class Row:
    section: str
    case: str
    seconds: float | None = None
    megabytes: float | None = None
    requests: int | None = None
    waves: int | None = None
    note: str = ""


@dataclass
class Bench:
    replica: ReplicaProcess
    scratch: Path
    latency: float
    bandwidth: float
    rows: list[Row]
    sizes: dict[int, int]
    total: float | None = None
    """All connections' throughput together (bytes/s; None: no limit): the network of every case but where named."""
    variant: str = ""
    """The second writer's layout variant (``mies_recorded.variants()``) its files are written in."""
    found: dict[tuple[str, str], Row] = field(default_factory=dict)
    """Rows the targets are judged on, by (file label, case key)."""

    @contextmanager
    def cache(self, keep: tuple[str, ...] = ()):
        """A new cache for the block: empty, or holding only the ``keep`` parts of the last one."""
        previous = os.environ.get(config.CACHE_ENV)
        fresh = Path(tempfile.mkdtemp(dir=self.scratch))
        for part in keep:
            if previous and (Path(previous) / part).is_dir():
                shutil.copytree(Path(previous) / part, fresh / part)
        os.environ[config.CACHE_ENV] = str(fresh)
        try:
            yield fresh
        finally:
            os.environ[config.CACHE_ENV] = str(fresh)  # the next block may keep parts of this one

    def measure(self, section: str, case: str, work: Callable[[], object], note: str = "") -> Row:
        """Run ``work`` once: its time, and the requests, waves and bytes the replica saw."""
        self.replica.clear()
        started = time.perf_counter()
        work()
        seconds = time.perf_counter() - started
        log = self.replica.log()
        row = Row(section, case, seconds, sum(e.body_bytes for e in log) / MB, len(log), waves(log), note)
        self.rows.append(row)
        print(f"  {case}: {seconds:.2f} s, {len(log)} requests", file=sys.stderr)
        return row

    def median(self, runs: int, attempt: Callable[[], tuple[Row, object]]) -> tuple[Row, object]:
        """``attempt`` (a ``measure`` and what it learnt) ``runs`` times: the run of the median time, its row alone
        kept in the table (noted), and what that run learnt."""
        done = [attempt() for _ in range(runs)]
        for row, _ in done:
            self.rows.remove(row)
        row, learnt = sorted(done, key=lambda one: one[0].seconds)[len(done) // 2]
        self.rows.append(row)
        if runs > 1:
            row.note = f"median of {runs} ({', '.join(f'{one.seconds:.2f}' for one, _ in done)} s)" + (
                f"; {row.note}" if row.note else "")
        return row, learnt

    def network(self, latency_s: float | None = None, bandwidth: float | None = None, link: float | None = None) -> None:
        """The replica's network: the benchmark's (no argument), or the one given (None link: ``total``)."""
        self.replica.network(self.latency if latency_s is None else latency_s,
                             self.bandwidth if bandwidth is None else bandwidth, link or self.total)


def print_rows(rows: list[Row], args) -> None:
    """The table in markdown, after a line naming the network (``args``: ``latency_ms``, ``bandwidth_mb_s``, and
    ``total_mb_s`` if given) and the machine."""
    total = getattr(args, "total_mb_s", None)
    print(
        f"\npatchseq-intake {patchseq_intake.__version__} benchmark: {args.latency_ms:g} ms per request, "
        f"{args.bandwidth_mb_s:g} MB/s per connection{f', {total:g} MB/s in total' if total else ''}, the replica "
        f"in its own process; Python {platform.python_version()} on {platform.machine()}, {os.cpu_count()} cores\n"
    )
    header = ("section", "case", "time s", "MB moved", "requests", "waves", "note")
    print("| " + " | ".join(header) + " |")
    print("|" + "|".join("---" for _ in header) + "|")
    for row in rows:
        cells = (
            row.section,
            row.case,
            "" if row.seconds is None else f"{row.seconds:.3f}",
            "" if row.megabytes is None else f"{row.megabytes:.2f}",
            "" if row.requests is None else str(row.requests),
            "" if row.waves is None else str(row.waves),
            row.note,
        )
        print("| " + " | ".join(cells) + " |")
