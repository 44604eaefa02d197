"""Stream mode's first contact with a file: walk its headers, or download it, whichever the link makes cheaper.

A file's index (``cell_index``) is built once, from one of two sources:

walk
    h5py over HTTP ranges (``RemoteFile``), its headers fetched ahead a level
    per wave (``table_prefetch``): at most ``WALK_WAVES`` round trips and
    about ``WALK_SHARE`` of the file's bytes, plus Python's own work between
    the answers (``WALK_CPU_S_PER_MB``), on top of reading the index's values.
download
    The whole file in ``opening.download_parts`` concurrent ranges, verified
    (SHA-256), then indexed from the disk: one round trip, every byte, and a
    hash (``HASH_BYTES_PER_S``), on top of reading the same values locally.

Which is cheaper depends on the link, so it is measured, not assumed: the
first wave (``opening.open_remote``: the file's first block and its tail,
ranges of two sizes in flight together) gives the round-trip time and one
connection's throughput (``Link``). Where that settles it by a ``MARGIN``
(the walk is cheaper even if each of the download's ranges had the
connection's throughput to itself, or dearer even if they all shared it),
the choice is made; else one more wave of ``PROBE_RANGES`` ranges in flight
together measures what concurrent ranges get together (a link shared by
all, or a throughput per connection) and, on connections already set up
(the first wave paid for TCP's and TLS's set-up), the round trip again.

``PATCHSEQ_INTAKE_FIRST_CONTACT`` (``config.first_contact``) overrides the
choice: ``walk`` or ``download``; ``auto`` (the default) measures.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from ..transport.remote_file import RemoteFile

logger = logging.getLogger(__name__)

Choice = Literal["walk", "download"]
WALK, DOWNLOAD = "walk", "download"

WALK_WAVES = 11
"""Round trips of a cold walk: 6-9 on version-1 files, 11 on version-2 (tests/access/test_walk_waves.py: both
writers, 60-300 sweeps)."""
ON_DEMAND_WAVES = 100
"""Round trips of a cold first contact where the walk cannot run in rounds (``walk_rounds.hdf5_survives_probing``):
h5py's reads on demand, 92-98 on the benchmark's 60-sweep files (benchmarks/README.md, "headers read on demand"),
more on larger ones."""
WALK_SHARE = 0.18
"""The share of a file's bytes a cold walk moves: 14-22% on the test writers' files (the most where version-1
headers carry long wave notes)."""
WALK_CPU_S_PER_MB = 0.025
"""Seconds of Python between the walk's answers, per MB of file, beyond reading the index's values: 0.017-0.03
measured (it grows with the sweeps, about 7 ms a sweep on version-1 files and 11 ms on version-2)."""
HASH_BYTES_PER_S = 500e6
"""SHA-256 of a downloaded file, bytes per second (one core)."""
PROBE_RANGES = 4
PROBE_BYTES = 128 * 1024
"""The concurrency probe: ``PROBE_RANGES`` ranges of ``PROBE_BYTES`` in flight together."""
ROUND_TRIP_AT = 32 * 1024
"""The probe's small range, just after the file's first block (fetched by the first wave): the first one asked."""
FASTEST_BYTES_PER_S = 2e9
"""A throughput too fast to time from small answers is taken as this."""
MARGIN = 1.5
"""Without a probe, one way's estimate must beat the other's most favourable one by this factor."""


@dataclass(frozen=True)
class Link:
    """What the first answers showed: ``rtt_s`` (s) and one connection's throughput (bytes/s)."""

    rtt_s: float
    connection_bytes_per_s: float

    @classmethod
    def of(cls, answers: list[tuple[int, float]]) -> Link:
        """From ranges fetched together (their bytes and seconds): a small and a larger one give both figures."""
        small, large = min(answers), max(answers)
        extra_bytes, extra_s = large[0] - small[0], large[1] - small[1]
        rate = FASTEST_BYTES_PER_S if extra_bytes <= 0 or extra_s <= 0 else min(extra_bytes / extra_s, FASTEST_BYTES_PER_S)
        return cls(max(small[1] - small[0] / rate, 0.0), rate)

    def walk_s(self, size: int) -> float:
        """Seconds a walk of a file of ``size`` bytes is expected to take, beyond reading the index's values."""
        transfer = WALK_SHARE * size / self.connection_bytes_per_s
        return walk_waves() * self.rtt_s + transfer + WALK_CPU_S_PER_MB * size / 1e6

    def download_s(self, size: int, together_bytes_per_s: float) -> float:
        """Seconds the verified download is expected to take, at ``together_bytes_per_s`` for its ranges together."""
        return self.rtt_s + size / together_bytes_per_s + size / HASH_BYTES_PER_S


def walk_waves() -> int:
    """The round trips a walk is expected to take with this HDF5 library: ``WALK_WAVES`` where it runs in rounds,
    else ``ON_DEMAND_WAVES``."""
    from .walk_rounds import hdf5_survives_probing

    return WALK_WAVES if hdf5_survives_probing() else ON_DEMAND_WAVES


def choose(remote: RemoteFile, size: int, parts: int, preference: str = "auto") -> Choice:
    """Walk or download a file of ``size`` bytes whose first wave ``remote`` fetched (``download`` in ``parts``).

    ``preference`` ``walk`` or ``download`` is taken as it is; ``auto``
    measures (see the module docstring). A first wave of one answer (a small
    file, read whole by then) cannot time the link: the walk is taken.
    """
    if preference in (WALK, DOWNLOAD):
        return preference  # type: ignore[return-value]
    if len(remote.answers) < 2:
        return WALK
    link = Link.of(remote.answers[:2])
    walk = link.walk_s(size)
    shared = link.download_s(size, link.connection_bytes_per_s)
    apart = link.download_s(size, parts * link.connection_bytes_per_s)
    if walk * MARGIN <= apart or walk >= shared * MARGIN:
        choice: Choice = WALK if walk * MARGIN <= apart else DOWNLOAD
        logger.debug("first contact: %s (walk %.2f s; download %.2f-%.2f s; %s)", choice, walk, apart, shared, link)
        return choice
    link, together = _probe(remote, size, link)
    walk = link.walk_s(size)
    download = link.download_s(size, min(together, parts * link.connection_bytes_per_s))
    choice = WALK if walk <= download else DOWNLOAD
    logger.debug("first contact: %s (walk %.2f s; download %.2f s at %.0f B/s together; %s)",
                  choice, walk, download, together, link)
    return choice


def _probe(remote: RemoteFile, size: int, first: Link) -> tuple[Link, float]:
    """One wave from mid-file, in flight together: ``PROBE_RANGES`` ranges of ``PROBE_BYTES``, and a small one
    (``ROUND_TRIP_AT``): the link again, and the bytes per second the large ranges got together.

    The first wave's round trip included setting up its connections (TCP,
    and TLS on HTTPS). The small range goes first, to a connection the first
    wave set up: its time is the round trip the walk's waves will see. The
    large ranges' time together counts from when their first bytes could
    arrive.
    """
    stride = max(size // (PROBE_RANGES + 2), 2 * PROBE_BYTES)
    starts = [stride * (n + 1) for n in range(PROBE_RANGES) if stride * (n + 1) + PROBE_BYTES < size]
    known = len(remote.answers)
    remote.prefetch([(ROUND_TRIP_AT, 1), *((start, PROBE_BYTES) for start in starts)])
    probe = sorted(remote.answers[known:])
    if len(probe) < 2:
        return first, FASTEST_BYTES_PER_S
    (small, small_s), large = probe[0], probe[1:]
    link = Link(max(min(first.rtt_s, small_s - small / first.connection_bytes_per_s), 0.0), first.connection_bytes_per_s)
    spent = max(seconds for _, seconds in large) - link.rtt_s
    moved = sum(bytes_ for bytes_, _ in large)
    return link, FASTEST_BYTES_PER_S if spent <= 0 else min(moved / spent, FASTEST_BYTES_PER_S)
