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
connection's throughput (``Link``). Where that settles it (the walk is
cheaper even if the download's ranges shared the link, or dearer even if
each range had the connection's throughput to itself), the choice is made;
else one more wave of ``PROBE_RANGES`` ranges in flight together measures
what concurrent ranges get together (a link shared by all, or a
throughput per connection), and the download is judged by that.

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
FASTEST_BYTES_PER_S = 2e9
"""A throughput too fast to time from small answers is taken as this."""


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
        return WALK_WAVES * self.rtt_s + WALK_SHARE * size / self.connection_bytes_per_s + WALK_CPU_S_PER_MB * size / 1e6

    def download_s(self, size: int, together_bytes_per_s: float) -> float:
        """Seconds the verified download is expected to take, at ``together_bytes_per_s`` for its ranges together."""
        return self.rtt_s + size / together_bytes_per_s + size / HASH_BYTES_PER_S


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
    if walk <= apart or walk > shared:
        choice: Choice = WALK if walk <= apart else DOWNLOAD
        logger.debug("first contact: %s (walk %.2f s; download %.2f-%.2f s; %s)", choice, walk, apart, shared, link)
        return choice
    together = _together(remote, size, link.rtt_s)
    download = link.download_s(size, min(together, parts * link.connection_bytes_per_s))
    choice = WALK if walk <= download else DOWNLOAD
    logger.debug("first contact: %s (walk %.2f s; download %.2f s at %.0f B/s together; %s)",
                  choice, walk, download, together, link)
    return choice


def _together(remote: RemoteFile, size: int, rtt_s: float) -> float:
    """Bytes per second that ``PROBE_RANGES`` ranges in flight together get: one wave of them, from mid-file,
    timed from when the first byte could arrive (``rtt_s`` after asking) to the last."""
    stride = max(size // (PROBE_RANGES + 2), 2 * PROBE_BYTES)
    starts = [stride * (n + 1) for n in range(PROBE_RANGES) if stride * (n + 1) + PROBE_BYTES < size]
    known = len(remote.answers)
    remote.prefetch([(start, PROBE_BYTES) for start in starts])
    probe = remote.answers[known:]
    if not probe:
        return FASTEST_BYTES_PER_S
    spent = max(seconds for _, seconds in probe) - rtt_s
    moved = sum(bytes_ for bytes_, _ in probe)
    return FASTEST_BYTES_PER_S if spent <= 0 else min(moved / spent, FASTEST_BYTES_PER_S)
