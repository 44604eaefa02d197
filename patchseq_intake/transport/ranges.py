"""Many byte ranges of one remote file at once: merged where close, fetched together, each checked.

A sweep read through an index (see ``cell_index``) is a list of byte ranges:
one per stored piece of its two series. ``fetch_ranges`` merges ranges that
touch or nearly touch (within ``MERGE_GAP``: a series' chunks, written one
after the other) and sends the merged requests at once, so that the whole
list comes back in one round trip, moving little more than its bytes. Every answer is checked by
``download.get_range``: its ``Content-Range``, its length, the file's size,
and its ``ETag`` against the blob's (``blob_tag``); and
it is read with ``answers``' bounds: at most the range's length (one byte
more, and it is refused), never decompressed, given up when it stalls.
"""

from __future__ import annotations

import bisect
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor

from ..errors import FetchError, UnresponsiveServerError
from .blob_tag import BlobTag

MERGE_GAP = 4096
MAX_CONCURRENT = 32
_pool: ThreadPoolExecutor | None = None
_pool_lock = threading.Lock()

Span = tuple[int, int]
"""(offset, length) in bytes."""


def fetch_ranges(urls: Sequence[str], ranges: Sequence[Span], *, size: int, tag: BlobTag | None = None) -> list[bytes]:
    """The bytes of each ``(offset, length)`` range of the file at ``urls``, in order.

    ``urls`` are places to read the same bytes from, best first: a merged range
    that fails at one (after ``download.get_range``'s retries) is asked of the next,
    unless that one did not answer in time: ``UnresponsiveServerError`` at once
    (DANDI's other URL, its download URL, redirects to the same store).
    ``size`` is the file's size and ``tag`` its blob's ETag, which every answer
    must carry (see ``blob_tag``; None: not checked).
    ``FetchError`` if no URL answers; ``ChecksumError`` if an answer is of another file.
    """
    merged = merge(ranges)
    pieces = _pool_map(lambda span: _fetch(urls, span, size, tag), merged)
    return [_cut(merged, pieces, span) for span in ranges]


def merge(ranges: Sequence[Span], gap: int = MERGE_GAP) -> list[Span]:
    """The ranges' union, with ranges less than ``gap`` bytes apart joined into one."""
    merged: list[list[int]] = []
    for offset, length in sorted(span for span in ranges if span[1] > 0):
        if merged and offset <= merged[-1][0] + merged[-1][1] + gap:
            merged[-1][1] = max(merged[-1][1], offset + length - merged[-1][0])
        else:
            merged.append([offset, length])
    return [(offset, length) for offset, length in merged]


def _fetch(urls: Sequence[str], span: Span, size: int, tag: BlobTag | None) -> bytes:
    from .download import get_range

    offset, length = span
    problems = []
    for url in urls:
        try:
            return get_range(url, offset, offset + length, size=size, tag=tag)
        except UnresponsiveServerError:
            raise  # a dead store: the next URL leads to it too, and would cost as long again
        except FetchError as exc:
            problems.append(str(exc))
    raise FetchError("; ".join(problems))


def _cut(merged: list[Span], pieces: list[bytes], span: Span) -> bytes:
    """``span``'s bytes, from the merged range (sorted, disjoint) that holds it."""
    offset, length = span
    if length == 0:
        return b""
    at = bisect.bisect_right(merged, (offset, float("inf"))) - 1
    start, merged_length = merged[at] if at >= 0 else (0, -1)
    if not (start <= offset and offset + length <= start + merged_length):
        raise AssertionError(f"no merged range holds {span}")
    return pieces[at][offset - start : offset - start + length]


def _pool_map(work: Callable[[Span], bytes], spans: list[Span]) -> list[bytes]:
    """``work`` over ``spans`` on the shared pool: its threads keep their HTTP connections alive."""
    global _pool
    if len(spans) <= 1:
        return [work(span) for span in spans]
    with _pool_lock:
        if _pool is None:
            _pool = ThreadPoolExecutor(MAX_CONCURRENT, thread_name_prefix="ranges")
    return list(_pool.map(work, spans))
