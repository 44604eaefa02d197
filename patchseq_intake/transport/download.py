"""HTTP for the whole package: GETs retried on 429, 5xx and cut connections.

``fetch_file`` puts one file into place: retried, resumed, verified, written
atomically. ``get_range`` reads one byte range, for streaming.

The bytes go to a temporary file beside the destination while their SHA-256 is
computed; only a complete file whose size and digest match what was pinned is
renamed into place (see ``atomic``). Whatever fails, nothing is left under the
destination's name. What it is checked against is a ``checksums.Checksum``:
the pinned SHA-256 of a table, or DANDI's digest of an asset.
"""

from __future__ import annotations

import hashlib
import re
import threading
import time
from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlparse
from urllib.request import url2pathname

import requests
from tqdm import tqdm

from ..errors import ChecksumError, FetchError, ServerAnswerError
from .atomic import atomic_output
from .checksums import Checksum
from .progress import progress_bar

CHUNK_BYTES = 256 * 1024
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how patiently to retry a failing request."""

    attempts: int = 5
    backoff_s: float = 0.5
    max_wait_s: float = 60.0
    timeout_s: float = 60.0

    def wait(self, attempt: int, retry_after: str | None = None) -> float:
        """Seconds to wait before retry number ``attempt`` (1-based)."""
        if retry_after is not None:
            try:
                return min(max(float(retry_after), 0.0), self.max_wait_s)
            except ValueError:
                pass  # an HTTP date: fall back to our own backoff
        return min(self.backoff_s * 2 ** (attempt - 1), self.max_wait_s)


DEFAULT_RETRY = RetryPolicy()
_local = threading.local()


def _thread_session() -> requests.Session:
    """One HTTP session per thread, so that connections are reused between requests."""
    if not hasattr(_local, "session"):
        _local.session = requests.Session()
    return _local.session


def is_remote(location: str) -> bool:
    """True for an http(s) URL, False for a local path or file:// URL."""
    return urlparse(location).scheme in ("http", "https")


def local_path(location: str) -> Path:
    """The filesystem path of a plain path or a file:// URL."""
    parsed = urlparse(location)
    if parsed.scheme == "file":
        return Path(url2pathname(parsed.path))
    return Path(location)


def fetch_file(
    source: str,
    dest: Path,
    *,
    checksum: Checksum | None = None,
    size: int | None = None,
    label: str | None = None,
    retry: RetryPolicy | None = None,
    progress: tqdm | None = None,
    check: Callable[[Path], None] | None = None,
    parts: int = 1,
    etag: str | None = None,
) -> str:
    """Copy ``source`` (URL or local path) to ``dest`` and return its SHA-256.

    ``checksum`` and ``size``, when given, must match or ``ChecksumError`` is
    raised and nothing is written; ``check``, when given, is called on the
    verified bytes before they take ``dest``'s name, and what it raises
    leaves nothing written either. ``label`` names the file in its progress
    bar, or ``progress`` is a bar shared with other transfers to count bytes
    on. ``retry`` defaults to ``DEFAULT_RETRY``. With ``parts`` > 1 and a
    ``size``, a remote file comes as that many concurrent ranges (each
    checked as ``get_range`` checks, ``etag`` included), hashed once written.
    """
    retry = retry or DEFAULT_RETRY
    dest.parent.mkdir(parents=True, exist_ok=True)
    with atomic_output(dest) as partial:
        if is_remote(source):
            bar = nullcontext(progress) if progress is not None else progress_bar(size, label or source)
            with bar as counter:
                digest = None
                if parts > 1 and size:
                    try:
                        digest = _download_parts(source, partial, size, parts, counter, retry, etag)
                    except FetchError:  # e.g. a server that answers no Range: one stream, then
                        digest = None
                if digest is None:
                    digest = _download(source, partial, counter, retry)
        else:
            digest = _copy_local(source, partial)
        _verify(source, partial, digest, checksum=checksum, size=size)
        if check is not None:
            check(partial)
    return digest


def _verify(source: str, path: Path, sha256: str, *, checksum: Checksum | None, size: int | None) -> None:
    found_size = path.stat().st_size
    if size is not None and found_size != size:
        raise ChecksumError(
            f"{source}: expected {size} bytes, received {found_size}; nothing was cached"
        )
    if checksum is not None and (found := checksum.of_file(path, sha256)) != checksum.value:
        raise ChecksumError(
            f"{source}: {checksum.label} mismatch: expected {checksum.value}, found {found}; "
            "nothing was cached"
        )


def _copy_local(source: str, partial: Path) -> str:
    path = local_path(source)
    if not path.is_file():
        raise FetchError(f"{source}: no such file")
    hasher = hashlib.sha256()
    with path.open("rb") as src, partial.open("wb") as out:
        while chunk := src.read(CHUNK_BYTES):
            hasher.update(chunk)
            out.write(chunk)
    return hasher.hexdigest()


def _download(
    url: str, partial: Path, bar: tqdm, retry: RetryPolicy
) -> str:
    """Stream ``url`` into ``partial``, resuming after cuts; return the SHA-256."""
    hasher = hashlib.sha256()
    received = 0
    with partial.open("wb") as out:
        for attempt in range(1, retry.attempts + 1):
            headers = {"Range": f"bytes={received}-"} if received else {}
            with get(url, headers=headers, retry=retry, stream=True) as reply:
                if received and not _resumes_at(reply, received):
                    # The server ignored Range, or answered another one: start again from byte 0.
                    out.seek(0)
                    out.truncate()
                    hasher = hashlib.sha256()
                    bar.update(-received)
                    received = 0
                try:
                    for chunk in reply.iter_content(CHUNK_BYTES):
                        out.write(chunk)
                        hasher.update(chunk)
                        received += len(chunk)
                        bar.update(len(chunk))
                    return hasher.hexdigest()
                except (requests.ConnectionError, requests.exceptions.ChunkedEncodingError) as exc:
                    problem = f"connection cut after {received} bytes ({type(exc).__name__})"
            if attempt < retry.attempts:
                time.sleep(retry.wait(attempt))
    raise FetchError(f"{url}: gave up after {retry.attempts} attempts; last problem: {problem}")


def _download_parts(
    url: str, partial: Path, size: int, parts: int, bar: tqdm, retry: RetryPolicy, etag: str | None
) -> str:
    """``url``'s ``size`` bytes into ``partial`` as ``parts`` concurrent ranges; return the SHA-256."""
    from concurrent.futures import ThreadPoolExecutor

    step = -(-size // parts)
    spans = [(start, min(start + step, size)) for start in range(0, size, step)]
    with partial.open("wb") as out:
        out.truncate(size)

    def fetch(span: tuple[int, int]) -> None:
        data = get_range(url, span[0], span[1], retry, size=size, etag=etag)
        with partial.open("r+b") as out:
            out.seek(span[0])
            out.write(data)
        bar.update(len(data))

    with ThreadPoolExecutor(len(spans), thread_name_prefix="download-part") as pool:
        list(pool.map(fetch, spans))
    hasher = hashlib.sha256()
    with partial.open("rb") as written:
        while chunk := written.read(4 * CHUNK_BYTES):
            hasher.update(chunk)
    return hasher.hexdigest()


def _resumes_at(reply: requests.Response, offset: int) -> bool:
    """True if ``reply`` is a 206 whose part of the file starts at ``offset``."""
    return reply.status_code == 206 and _content_range(reply.headers.get("Content-Range", ""))[0] == offset


def get(
    url: str,
    *,
    params: dict[str, str | int] | None = None,
    headers: dict[str, str] | None = None,
    retry: RetryPolicy | None = None,
    stream: bool = False,
) -> requests.Response:
    """GET ``url``, retrying 429, 5xx and failed connections; raise ``FetchError`` on the rest."""
    retry = retry or DEFAULT_RETRY
    http = _thread_session()
    problem = "no attempt made"
    for attempt in range(1, retry.attempts + 1):
        retry_after = None
        try:
            reply = http.get(url, params=params, headers=headers, stream=stream, timeout=retry.timeout_s)
        except (requests.ConnectionError, requests.Timeout, requests.exceptions.ChunkedEncodingError) as exc:
            problem = f"connection failed or cut ({type(exc).__name__})"
        else:
            if reply.status_code not in RETRY_STATUSES:
                if reply.status_code >= 400:
                    reply.close()
                    raise FetchError(f"{url}: HTTP {reply.status_code} {reply.reason}", reply.status_code)
                return reply
            problem = f"HTTP {reply.status_code}"
            retry_after = reply.headers.get("Retry-After")
            reply.close()
        if attempt < retry.attempts:
            time.sleep(retry.wait(attempt, retry_after))
    raise FetchError(f"{url}: gave up after {retry.attempts} attempts; last problem: {problem}")


def get_range(
    url: str,
    start: int,
    end: int,
    retry: RetryPolicy | None = None,
    size: int | None = None,
    etag: str | None = None,
    require_etag: bool = False,
) -> bytes:
    """Bytes ``start`` to ``end`` (exclusive) of ``url``: retried when cut or not what was asked, then refused.

    The answer must be a 206 whose ``Content-Range`` is exactly the range
    asked (with the file's size, where ``size`` is given), with a body of
    that length; else it is asked again, and after
    ``retry.attempts`` a ``FetchError`` names what came back. With ``size``,
    the file's total size in ``Content-Range`` must be ``size``; with
    ``etag`` (DANDI's ``dandi:dandi-etag`` of the asset), the answer's
    ``ETag`` must be it, and with ``require_etag`` must be there at all
    (``ChecksumError`` if not, at once: other bytes, not a glitch).
    """
    retry = retry or DEFAULT_RETRY
    wanted = f"bytes={start}-{end - 1}"
    problem = "no attempt made"
    for attempt in range(1, retry.attempts + 1):
        with get(url, headers={"Range": wanted}, retry=retry, stream=True) as reply:
            answered = reply.headers.get("Content-Range", "")
            first, last, total = _content_range(answered)
            if size is not None and total is not None and total != size:
                raise ChecksumError(f"{url}: the file has {total} bytes, but {size} were expected")
            served = reply.headers.get("ETag", "").removeprefix("W/").strip('"')
            if etag is not None and served and served != etag:
                raise ChecksumError(f"{url}: ETag {served}, but the asset's dandi-etag is {etag}: other bytes")
            if etag is not None and require_etag and not served:
                raise ChecksumError(f"{url}: the answer has no ETag to tie it to the asset's dandi-etag {etag}")
            if reply.status_code != 206 or (first, last) != (start, end - 1) or (size is not None and total is None):
                problem = f"asked for {wanted}, got HTTP {reply.status_code} with Content-Range {answered!r}"
            else:
                try:
                    data = reply.content
                except (requests.ConnectionError, requests.exceptions.ChunkedEncodingError) as exc:
                    problem = f"connection cut ({type(exc).__name__})"
                else:
                    if len(data) == end - start:
                        return data
                    problem = f"{len(data)} bytes instead of {end - start}"
        if attempt < retry.attempts:
            time.sleep(retry.wait(attempt))
    raise FetchError(f"{url}: {wanted}: gave up after {retry.attempts} attempts; last problem: {problem}")


JSON_MAX_BYTES = 64 * 1024 * 1024
"""The most a JSON answer may hold: a page of 1000 DANDI assets with their metadata is a few MB."""


def get_json(
    url: str,
    *,
    params: dict[str, str | int] | None = None,
    max_bytes: int = JSON_MAX_BYTES,
    retry: RetryPolicy | None = None,
) -> Any:
    """The JSON value ``url`` answers with, read to at most ``max_bytes`` bytes.

    ``FetchError`` (with ``status``) for an HTTP error; ``ServerAnswerError``
    naming the URL for a body larger than ``max_bytes``, one that is not JSON,
    or one nested too deeply.
    """
    import json

    with get(url, params=params, retry=retry, stream=True) as reply:
        body = reply.raw.read(max_bytes + 1, decode_content=False)
        content_type = reply.headers.get("Content-Type", "no Content-Type")
    if len(body) > max_bytes:
        raise ServerAnswerError(f"{url}: sent more than the {max_bytes} bytes a JSON answer may have")
    try:
        return json.loads(body)
    except (ValueError, RecursionError) as exc:
        raise ServerAnswerError(
            f"{url}: sent {content_type}, not JSON ({exc}); its first bytes: {body[:200]!r}"
        ) from exc


def _content_range(header: str) -> tuple[int | None, int | None, int | None]:
    """``bytes <first>-<last>/<total>`` -> its three numbers; None for each that is missing or ``*``."""
    found = re.fullmatch(r"bytes (\d+)-(\d+)/(\d+|\*)", header.strip())
    if found is None:
        return None, None, None
    first, last, total = found.groups()
    return int(first), int(last), None if total == "*" else int(total)
