"""A read-only remote file over HTTP range requests, cached in blocks, with batched prefetch.

HDF5 reads many small pieces scattered through a file. Fetched one at a time
over a wide-area network, each costs a round trip. ``RemoteFile`` keeps the
blocks it has fetched and can ``prefetch`` many at once: the caller (see
``access.opening``) tells it which offsets h5py is about to need, and they arrive
in one concurrent batch instead of one round trip each. Adjacent missing
blocks are always fetched in a single request. Blocks are small (4 KiB), so
that a walk that knows the exact bytes it needs (``prefetch_blocks``) moves
little more; a read h5py asks for, and ``prefetch``, fetch the aligned
32 KiB around what is asked (``READ_AHEAD_BYTES``): HDF5's next pieces are
mostly near.

Reads h5py asks for are fetched in the asking thread, never by waiting on
others: h5py holds its global lock while it reads, and a thread that needs
that lock (any thread whose garbage collection frees an h5py object) would
then wait for the reader as the reader waited for it. Only ``prefetch``,
called between h5py calls, fetches concurrently.

``probing()`` turns a thread's reads of blocks not yet fetched into
``BlockMissing`` (nothing is fetched): h5py's call then fails, and the
caller learns which blocks it would have waited for. Many h5py calls probed
this way, their missing blocks fetched in one wave, and probed again: the
walk of many independent objects takes as many round trips as the deepest
one needs, not their sum (``access.walk_rounds``).
"""

from __future__ import annotations

import io
import threading
import time
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager

from .blob_tag import BlobTag

BLOCK_BYTES = 4 * 1024
"""What the cache holds a piece at a time."""
READ_AHEAD_BYTES = 32 * 1024
"""A read or prefetch fetches the whole aligned span of this many bytes around what it asks for."""
MERGE_GAP_BYTES = 32 * 1024
"""Missing blocks at most this far apart are fetched in one request, the gap with them: fewer requests in a wave."""
MAX_CONCURRENT = 32
TAIL_BYTES = 256 * 1024
"""Fetched with the first read: HDF5 writers leave the root's last metadata at the file's end."""
_TAIL_WORTH_IT = 8 * 1024 * 1024  # bytes: in a smaller file the tail is too large a share


class BlockMissing(OSError):
    """A read, while probing, of a block not fetched yet (see ``RemoteFile.probing``)."""


class RemoteFile(io.RawIOBase):
    """A remote file of ``size`` bytes as a seekable binary file (pass it to ``h5py.File``).

    ``urls`` are places to read the same bytes from, best first: when one fails
    after its retries (see ``download.get_range``), the next one takes over,
    unless it did not answer in time: that ``UnresponsiveServerError`` is
    raised at once (DANDI's download URL redirects to the same store). A
    server whose file is not ``size`` bytes long, or (with ``tag``) whose
    answer does not carry the blob's ``ETag`` (``blob_tag``: DANDI's
    dandi-etag, else the first answer's), raises ``ChecksumError``: every
    block is then of one blob of the file's size. A server that sends
    more than a block's range or encodes it is refused after at most one
    byte more than the range (see ``answers``), and the next URL takes over.
    Blocks stay in memory until the file is closed. Reads and prefetches may
    come from several threads.
    """

    def __init__(
        self,
        urls: list[str],
        size: int,
        block_bytes: int = BLOCK_BYTES,
        max_concurrent: int = MAX_CONCURRENT,
        tag: BlobTag | None = None,
        read_ahead: int = READ_AHEAD_BYTES,
    ):
        super().__init__()
        self.urls = list(urls)
        self.size = size
        self.tag = tag
        self.block_bytes = block_bytes
        self.span = max(read_ahead // block_bytes, 1)  # blocks fetched together around one asked for
        self.merge_gap = MERGE_GAP_BYTES // block_bytes
        self.max_concurrent = max_concurrent
        self.ranges_fetched = 0
        self.bytes_fetched = 0
        self.answers: list[tuple[int, float]] = []
        """Each range fetched: its bytes and the seconds from asking to the last byte (``first_contact`` reads them)."""
        self._blocks: dict[int, bytes] = {}
        self._position = 0
        self._lock = threading.Lock()
        self._pool: ThreadPoolExecutor | None = None
        self._probe = threading.local()

    @property
    def etag(self) -> str | None:
        """The blob's ETag every answer carried (DANDI's dandi-etag, else the first answer's); None if not tied."""
        return None if self.tag is None else self.tag.value

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._position

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        if whence not in (io.SEEK_SET, io.SEEK_CUR, io.SEEK_END):
            raise ValueError(f"invalid whence {whence}")
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._position, io.SEEK_END: self.size}[whence]
        self._position = max(base + offset, 0)
        return self._position

    def readinto(self, buffer) -> int:
        view = memoryview(buffer).cast("B")
        data = self.read_at(self._position, len(view))
        view[: len(data)] = data
        self._position += len(data)
        return len(data)

    def read_at(self, offset: int, size: int) -> bytes:
        """``size`` bytes from ``offset`` (fewer at the end of the file); the position is left alone."""
        end = min(offset + size, self.size)
        if end <= offset or offset < 0:
            return b""
        first, last = offset // self.block_bytes, (end - 1) // self.block_bytes
        blocks = self._blocks
        if any(index not in blocks for index in range(first, last + 1)):
            missed: set[int] | None = getattr(self._probe, "missed", None)
            if missed is not None:
                missed.update(index for index in range(first, last + 1) if index not in blocks)
                raise BlockMissing(f"bytes {offset} to {end} are not fetched yet")
            self._fetch(self._around(range(first, last + 1)), concurrently=False)
        start = offset - first * self.block_bytes
        if first == last:
            return blocks[first][start : start + end - offset]
        with self._lock:
            joined = b"".join(blocks[index] for index in range(first, last + 1))
        return joined[start : start + end - offset]

    def prefetch(self, ranges: Iterable[tuple[int, int]]) -> None:
        """Fetch the blocks holding these ``(offset, size)`` ranges, concurrently; not from inside an h5py call."""
        wanted = set()
        for offset, size in ranges:
            end = min(offset + max(size, 1), self.size)
            if 0 <= offset < end:
                wanted.update(range(offset // self.block_bytes, (end - 1) // self.block_bytes + 1))
        self._fetch(self._around(wanted), concurrently=True)

    def prefetch_blocks(self, exact: Iterable[int], near: Iterable[int] = ()) -> None:
        """Fetch these blocks (numbers of ``block_bytes``) concurrently: ``exact`` alone, ``near`` with their span.

        Not from inside an h5py call.
        """
        self._fetch(set(exact) | self._around(near), concurrently=True)

    @contextmanager
    def probing(self) -> Iterator[set[int]]:
        """While in it, this thread's reads of blocks not fetched raise ``BlockMissing``; yields the blocks missed."""
        missed: set[int] = set()
        self._probe.missed = missed
        try:
            yield missed
        finally:
            self._probe.missed = None

    def close(self) -> None:
        """Drop the blocks and stop the threads that fetch them."""
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None
        self._blocks.clear()
        super().close()

    def _around(self, blocks: Iterable[int]) -> set[int]:
        """The blocks missing among ``blocks``, each with the aligned span of ``READ_AHEAD_BYTES`` it lies in."""
        with self._lock:
            missing = {block for block in blocks if block not in self._blocks}
        last = (self.size - 1) // self.block_bytes
        return {
            near
            for start in {block - block % self.span for block in missing}
            for near in range(start, min(start + self.span, last + 1))
        }

    def _fetch(self, blocks: Iterable[int], concurrently: bool) -> None:
        wanted = set(blocks)
        last = (self.size - 1) // self.block_bytes
        if not self._blocks and self.size >= _TAIL_WORTH_IT:
            # The first read of a large file: its start and its end, at once.
            wanted.update(range(max(last - TAIL_BYTES // self.block_bytes + 1, 0), last + 1))
        with self._lock:
            missing = sorted(block for block in wanted if block not in self._blocks)
        runs = _runs(missing, self.merge_gap)
        if not concurrently or len(runs) == 1:
            for run in runs:
                self._fetch_run(*run)
        elif runs:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(self.max_concurrent, thread_name_prefix="remote-file")
            list(self._pool.map(lambda run: self._fetch_run(*run), runs))

    def _fetch_run(self, first: int, last: int) -> None:
        start = first * self.block_bytes
        end = min((last + 1) * self.block_bytes, self.size)
        asked = time.perf_counter()
        data = self._read_range(start, end)
        seconds = time.perf_counter() - asked
        with self._lock:
            self.ranges_fetched += 1
            self.bytes_fetched += len(data)
            self.answers.append((len(data), seconds))
            for index in range(first, last + 1):
                offset = (index - first) * self.block_bytes
                self._blocks[index] = data[offset : offset + self.block_bytes]

    def _read_range(self, start: int, end: int) -> bytes:
        """Bytes ``start`` to ``end`` (exclusive), from the first URL that gives them."""
        from ..errors import FetchError, UnresponsiveServerError
        from .download import get_range

        problems = []
        for url in list(self.urls):
            try:
                return get_range(url, start, end, size=self.size, tag=self.tag)
            except UnresponsiveServerError:
                raise  # a dead store: the next URL leads to it too, and would cost as long again
            except FetchError as exc:
                problems.append(str(exc))
            with self._lock:
                if url in self.urls and len(self.urls) > 1:
                    self.urls.remove(url)  # fall back to the next URL from now on
        raise FetchError("; ".join(problems))


def _runs(blocks: list[int], gap: int = 0) -> list[tuple[int, int]]:
    """Sorted block numbers -> (first, last) of each run of them at most ``gap`` blocks apart (one request each)."""
    runs: list[tuple[int, int]] = []
    for block in blocks:
        if runs and block <= runs[-1][1] + 1 + gap:
            runs[-1] = (runs[-1][0], block)
        else:
            runs.append((block, block))
    return runs
