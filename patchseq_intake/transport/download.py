"""HTTP for the whole package: GETs retried on 429, 5xx, cut connections and stalls, their answers read with bounds.

``fetch_file`` puts one file into place: retried, resumed, verified, written
atomically. ``download_resumable`` downloads a large file that may outlive
its process: what an interrupted call received is kept (under a name the
cache's sweeper of leftovers leaves) and the next call, in any process, goes
on from there with ``Range`` and ``If-Range``. ``get_range`` reads one byte
range, for streaming; ``get_json`` one JSON answer. Every answer is read as ``answers`` says: at most the bytes
asked for (the file's size, the range's length, ``JSON_MAX_BYTES``), as sent
(never decompressed), and given up when the server stops sending.

The bytes go to a temporary file beside the destination while their SHA-256 is
computed; only a complete file whose size and digest match what was pinned is
renamed into place (see ``atomic``). Whatever fails, nothing is left under the
destination's name. What it is checked against is a ``checksums.Checksum``:
the pinned SHA-256 of a table, or DANDI's digest of an asset. A destination
that cannot be written (a full disk, no permission, a file where a folder
should be) is a ``CacheError`` naming the path and what to do.
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
from collections.abc import Callable
from contextlib import nullcontext
from pathlib import Path
from typing import Any, BinaryIO
from urllib.parse import urlparse
from urllib.request import url2pathname

import requests
from tqdm import tqdm

from ..errors import ChecksumError, FetchError, ServerAnswerError, UnresponsiveServerError
from .answers import (
    CHUNK_BYTES,
    RetryPolicy,
    TransientProblem,
    body_chunks,
    open_answer,
    parse_json,
    read_body,
    retrying,
)
from .atomic import atomic_output
from .blob_tag import BlobTag
from .cache import cache_errors
from .checksums import Checksum, sha256_of
from .progress import progress_bar
from .sessions import new_session

JSON_MAX_BYTES = 64 * 1024 * 1024
"""The most a JSON answer may hold (``get_json``): a page of 1000 DANDI assets with their metadata is a few MB."""
UNSIZED_MAX_BYTES = 256 * 1024 * 1024
"""The most a download of no known size may hold (``fetch_file``): the release's largest table is 6 MB."""

SOURCE_MAX_BYTES = 64 * 1024
"""The most a resumable download's record of its source may hold (``source_path``)."""

DEFAULT_RETRY = RetryPolicy()
_local = threading.local()


def _thread_session() -> requests.Session:
    """One HTTP session per thread, so that connections are reused (see ``sessions.new_session``)."""
    if not hasattr(_local, "session"):
        _local.session = new_session()
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
    max_bytes: int = UNSIZED_MAX_BYTES,
) -> str:
    """Copy ``source`` (URL or local path) to ``dest`` and return its SHA-256.

    ``checksum`` and ``size``, when given, must match or ``ChecksumError`` is
    raised and nothing is written; a server that sends more than ``size``
    bytes is refused (``ChecksumError``) as soon as it does, its partial
    file never larger than ``size``. Without ``size``, more than
    ``max_bytes`` is refused so (``ServerAnswerError``). ``check``, when given, is called on the
    verified bytes before they take ``dest``'s name, and what it raises
    leaves nothing written either. ``label`` names the file in its progress
    bar, or ``progress`` is a bar shared with other transfers to count bytes
    on. ``retry`` defaults to ``DEFAULT_RETRY``. With ``parts`` > 1 and a
    ``size``, a remote file comes as that many concurrent ranges (each
    checked as ``get_range`` checks, ``etag`` included), hashed once written.
    ``CacheError`` if ``dest`` cannot be written.
    """
    retry = retry or DEFAULT_RETRY
    with cache_errors(dest, "write"):
        dest.parent.mkdir(parents=True, exist_ok=True)
        with atomic_output(dest) as partial:
            if is_remote(source):
                bar = nullcontext(progress) if progress is not None else progress_bar(size, label or source)
                with bar as counter:
                    digest = None
                    if parts > 1 and size:
                        try:
                            digest = _download_parts(source, partial, size, parts, counter, retry, etag)
                        except (ServerAnswerError, UnresponsiveServerError):
                            raise  # the server is hostile or gone: one stream would fare no better
                        except FetchError:  # e.g. a server that answers no Range: one stream, then
                            digest = None
                    if digest is None:
                        digest = _download(source, partial, counter, retry, size, max_bytes)
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
    try:
        src = path.open("rb")
    except OSError as exc:
        raise FetchError(f"{source}: cannot be read: {exc.strerror or exc}") from exc
    hasher = hashlib.sha256()
    with src, partial.open("wb") as out:
        while chunk := src.read(CHUNK_BYTES):
            hasher.update(chunk)
            out.write(chunk)
    return hasher.hexdigest()


def download_resumable(
    url: str,
    partial: Path,
    *,
    size: int | None = None,
    max_bytes: int = UNSIZED_MAX_BYTES,
    label: str | None = None,
    retry: RetryPolicy | None = None,
) -> str:
    """Download ``url`` into ``partial``, going on from what an earlier call left there; the SHA-256 of its bytes.

    For files large enough to be interrupted (NeMO's tars, 370-870 MB): a
    download cut by the network resumes within the call (as ``fetch_file``'s
    does), and one stopped by Ctrl-C or a killed process resumes at the next
    call, in any process, from the bytes ``partial`` holds: with ``Range`` and
    ``If-Range`` (the ETag, else the Last-Modified date, of the answer that
    started it, kept beside it in ``source_path(partial)``). A server whose
    file changed since answers 200, and the download starts again; one whose
    first answer gave neither validator is downloaded again from byte 0.

    ``partial`` must be a name the cache's sweeper of leftovers does not take
    (``resumable_partial(dest)`` gives one), and its caller must hold its lock
    (``cache.locked``). Once whole, it stays there, marked whole (a later call
    returns its SHA-256 without a request) until ``drop_partial``; the caller
    verifies it and moves or removes it. At most ``size`` bytes where known (a
    ``ChecksumError`` for more or fewer), else ``max_bytes`` (a
    ``ServerAnswerError`` for more). ``WebPageError`` (a ``ServerAnswerError``)
    for an answer that is a web page (``Content-Type: text/html``: BIL's and
    NeMO's servers answer missing paths and errors so). After those two errors nothing is kept;
    after others (the server gone, Ctrl-C) the bytes received, if any, are
    kept for the next call. ``label`` names the file in its progress bar; ``CacheError`` if
    ``partial`` cannot be written.
    """
    retry = retry or DEFAULT_RETRY
    most = max_bytes if size is None else size
    with cache_errors(partial, "write"):
        partial.parent.mkdir(parents=True, exist_ok=True)
        source = _read_source(partial, url)
        held = partial.stat().st_size if source is not None and partial.is_file() else 0
        if source is not None and source.get("sha256") and source.get("size") == held and size in (None, held):
            return str(source["sha256"])
        validator = _validator(source) if held <= most else None
        if validator is None:
            held = 0
        try:
            with progress_bar(size, label or url) as bar, partial.open("r+b" if held else "wb") as out:
                hasher = _hashed_prefix(out, held)
                bar.update(held)
                stream = _Stream(
                    url, out, bar, most=most, sized=size is not None, received=held, hasher=hasher,
                    if_range=validator, refuse_pages=True, on_start=lambda reply: _keep_source(partial, url, reply),
                )
                digest = retrying(url, retry, lambda: stream.attempt(retry.timeout()))
            if size is not None and stream.received != size:
                raise ChecksumError(f"{url}: expected {size} bytes, received {stream.received}; nothing was kept")
        except (ChecksumError, ServerAnswerError):
            drop_partial(partial)
            raise
        except FetchError as exc:
            if exc.status != RANGE_NOT_SATISFIABLE or not held:
                _keep_if_any(partial)
                raise
            # Asked for the rest of a partial that already holds every byte (stopped after the last one came,
            # before it was marked whole): start again rather than fail on every call.
            drop_partial(partial)
            return download_resumable(url, partial, size=size, max_bytes=max_bytes, label=label, retry=retry)
        except BaseException:
            _keep_if_any(partial)
            raise
        started = _read_source(partial, url) or {"url": url}
        _write_source(partial, {**started, "sha256": digest, "size": stream.received})
    return digest


RANGE_NOT_SATISFIABLE = 416


def _keep_if_any(partial: Path) -> None:
    """After a download stopped: keep the bytes received for the next call; nothing received (a 404), nothing kept."""
    if not partial.is_file() or partial.stat().st_size == 0:
        drop_partial(partial)


def resumable_partial(dest: Path) -> Path:
    """Where a resumable download of ``dest`` keeps its bytes: ``.<name>.partial`` beside it (no leftover to sweep)."""
    return dest.with_name(f".{dest.name}.partial")


def source_path(partial: Path) -> Path:
    """Where the URL and validators of ``partial``'s download are kept: ``<partial>.from``."""
    return partial.with_name(f"{partial.name}.from")


def drop_partial(partial: Path) -> None:
    """Remove a resumable download's bytes and what it was started from."""
    with cache_errors(partial, "remove"):
        partial.unlink(missing_ok=True)
        source_path(partial).unlink(missing_ok=True)


def _read_source(partial: Path, url: str) -> dict[str, Any] | None:
    """What ``partial``'s download was started from, if it was started from ``url`` and the record is readable."""
    try:
        values = json.loads(source_path(partial).read_bytes()[:SOURCE_MAX_BYTES])
    except (OSError, ValueError):
        return None
    return values if isinstance(values, dict) and values.get("url") == url else None


def _validator(source: dict[str, Any] | None) -> str | None:
    """The ``If-Range`` value that ties a resumed download to the answer that started it: a strong ETag, else the
    Last-Modified date; None where there is neither (the download cannot be resumed safely)."""
    if source is None:
        return None
    etag, modified = source.get("etag"), source.get("last_modified")
    if isinstance(etag, str) and etag and not etag.startswith("W/"):
        return etag
    return modified if isinstance(modified, str) and modified else None


def _validators(reply: requests.Response) -> dict[str, str | None]:
    """An answer's ``ETag`` and ``Last-Modified``, as ``_validator`` and the record of a download's source take them."""
    return {"etag": reply.headers.get("ETag"), "last_modified": reply.headers.get("Last-Modified")}


def _keep_source(partial: Path, url: str, reply: requests.Response) -> None:
    """Record the URL and validators of the answer that starts ``partial`` from byte 0."""
    _write_source(partial, {"url": url, **_validators(reply)})


def _write_source(partial: Path, values: dict[str, Any]) -> None:
    with atomic_output(source_path(partial)) as written:
        written.write_text(json.dumps(values))


def _hashed_prefix(out: BinaryIO, size: int) -> Any:
    """The running SHA-256 of ``out``'s first ``size`` bytes, read again; ``out`` left at ``size``, cut there."""
    hasher = hashlib.sha256()
    out.seek(0)
    left = size
    while left and (chunk := out.read(min(CHUNK_BYTES, left))):
        hasher.update(chunk)
        left -= len(chunk)
    out.seek(size)
    out.truncate()
    return hasher


def _download(url: str, partial: Path, bar: tqdm, retry: RetryPolicy, size: int | None, max_bytes: int) -> str:
    """Stream ``url`` (at most ``size`` bytes, else ``max_bytes``) into ``partial``, resuming after cuts; its SHA-256."""
    with partial.open("wb") as out:
        stream = _Stream(url, out, bar, most=max_bytes if size is None else size, sized=size is not None)
        return retrying(url, retry, lambda: stream.attempt(retry.timeout()))


class _Stream:
    """A GET of ``url`` into the open file ``out``, resumed with ``Range`` after each cut; the bytes' running SHA-256.

    ``received`` bytes already in ``out`` (hashed into ``hasher``) are asked
    past, with ``If-Range: if_range`` where given, and after a cut with the
    validator of the answer the bytes came from (a server whose file changed
    answers 200, and the stream starts again from byte 0). At most ``most``
    bytes in all: more is a ``ChecksumError`` where that is the file's known
    size (``sized``), else a ``ServerAnswerError``. ``refuse_pages``: an
    answer of ``Content-Type: text/html`` is a ``ServerAnswerError`` (a web
    page, not the file). ``on_start(reply)`` is called when a 200 starts the
    file from byte 0, before its body is read.
    """

    def __init__(
        self, url: str, out: BinaryIO, bar: tqdm, *, most: int, sized: bool, received: int = 0,
        hasher: Any = None, if_range: str | None = None, refuse_pages: bool = False,
        on_start: Callable[[requests.Response], None] | None = None,
    ):
        self.url, self.out, self.bar, self.most, self.sized = url, out, bar, most, sized
        self.received, self.hasher = received, hasher or hashlib.sha256()
        self.if_range, self.refuse_pages, self.on_start = if_range, refuse_pages, on_start

    def attempt(self, timeout: float) -> str:
        """One request for what is missing, its body appended; the SHA-256 of the whole once it has ended."""
        headers = {"Range": f"bytes={self.received}-"} if self.received else {}
        if self.received and self.if_range:
            headers["If-Range"] = self.if_range
        with open_answer(_thread_session(), self.url, headers=headers, timeout_s=timeout) as reply:
            if self.refuse_pages:
                _refuse_page(self.url, reply)
            if self.received and not _resumes_at(reply, self.received):
                # The server ignored Range, answered another one, or its file changed (If-Range): from byte 0.
                self.out.seek(0)
                self.out.truncate()
                self.hasher = hashlib.sha256()
                self.bar.update(-self.received)
                self.received = 0
            if not self.received:  # these bytes are this answer's: a resume after a cut is tied to it
                self.if_range = _validator(_validators(reply))
                if self.on_start is not None:
                    self.on_start(reply)
            too_long = ChecksumError if self.sized else ServerAnswerError
            limit = self.most - self.received
            for chunk in body_chunks(reply, self.url, limit=limit, timeout_s=timeout, too_long=too_long):
                self.out.write(chunk)
                self.hasher.update(chunk)
                self.received += len(chunk)
                self.bar.update(len(chunk))
        return self.hasher.hexdigest()


class WebPageError(ServerAnswerError):
    """A web page (``Content-Type: text/html``) answered where a file is expected: how BIL's and NeMO's servers
    answer a path they do not hold, or an error of theirs."""


def _refuse_page(url: str, reply: requests.Response) -> None:
    """``WebPageError`` for an answer that is a web page where a file is expected."""
    kind = reply.headers.get("Content-Type", "")
    if kind.split(";")[0].strip().lower() in ("text/html", "application/xhtml+xml"):
        raise WebPageError(
            f"{url}: the server answered a web page ({kind}, HTTP {reply.status_code}), not the file: the path may "
            "be missing there, or the server failing; nothing was kept"
        )


def _download_parts(
    url: str, partial: Path, size: int, parts: int, bar: tqdm, retry: RetryPolicy, etag: str | None
) -> str:
    """``url``'s ``size`` bytes into ``partial`` as ``parts`` concurrent ranges, all of one blob (``BlobTag``)."""
    from concurrent.futures import ThreadPoolExecutor

    tag = BlobTag(etag, size, required=False)

    step = -(-size // parts)
    spans = [(start, min(start + step, size)) for start in range(0, size, step)]
    with partial.open("wb") as out:
        out.truncate(size)

    def fetch(span: tuple[int, int]) -> None:
        data = get_range(url, span[0], span[1], retry, size=size, tag=tag)
        with partial.open("r+b") as out:
            out.seek(span[0])
            out.write(data)
        bar.update(len(data))

    with ThreadPoolExecutor(len(spans), thread_name_prefix="download-part") as pool:
        list(pool.map(fetch, spans))
    return sha256_of(partial)


def _resumes_at(reply: requests.Response, offset: int) -> bool:
    """True if ``reply`` is a 206 whose part of the file starts at ``offset``."""
    return reply.status_code == 206 and _content_range(reply.headers.get("Content-Range", ""))[0] == offset


def get_range(
    url: str,
    start: int,
    end: int,
    retry: RetryPolicy | None = None,
    size: int | None = None,
    tag: BlobTag | None = None,
) -> bytes:
    """Bytes ``start`` to ``end`` (exclusive) of ``url``: retried when cut or not what was asked, then refused.

    The answer must be a 206 whose ``Content-Range`` is exactly the range
    asked (with the file's size, where ``size`` is given), with a body of
    that length; else it is asked again, and after
    ``retry.attempts`` a ``FetchError`` names what came back. A body longer
    than the range is refused as soon as it is (``ServerAnswerError``): at
    most one byte more than the range is ever read. With ``size``,
    the file's total size in ``Content-Range`` must be ``size``; with
    ``tag``, the answer's ``ETag`` must be the blob's (see ``blob_tag``:
    ``ChecksumError`` if not, at once: other bytes, not a glitch).
    """
    retry = retry or DEFAULT_RETRY
    timeout = retry.timeout()
    wanted = f"bytes={start}-{end - 1}"

    def attempt() -> bytes:
        with open_answer(_thread_session(), url, headers={"Range": wanted}, timeout_s=timeout) as reply:
            answered = reply.headers.get("Content-Range", "")
            first, last, total = _content_range(answered)
            if size is not None and total is not None and total != size:
                raise ChecksumError(f"{url}: the file has {total} bytes, but {size} were expected")
            if tag is not None:
                tag.check(url, reply.headers.get("ETag", ""))
            if reply.status_code != 206 or (first, last) != (start, end - 1) or (size is not None and total is None):
                raise TransientProblem(f"asked for {wanted}, got HTTP {reply.status_code} with Content-Range {answered!r}")
            data = read_body(reply, url, limit=end - start, timeout_s=timeout)
        if len(data) != end - start:
            raise TransientProblem(f"{len(data)} bytes instead of {end - start}")
        return data

    return retrying(f"{url}: {wanted}", retry, attempt)


def get_json(
    url: str,
    *,
    params: dict[str, str | int] | None = None,
    max_bytes: int = JSON_MAX_BYTES,
    retry: RetryPolicy | None = None,
) -> Any:
    """The JSON value ``url`` answers with (``params``: its query), read to at most ``max_bytes`` bytes.

    Retried on 429, 5xx, failed connections, cuts and stalls (see ``answers``). ``FetchError`` (with ``status``)
    for an HTTP error; ``ServerAnswerError`` naming the URL for a body larger than ``max_bytes``, encoded (gzip,
    ...), not JSON (the message shows its type and first bytes), or nested too deeply.
    """
    return parse_json(url, *get_body(url, max_bytes=max_bytes, params=params, retry=retry))


def get_body(
    url: str, *, max_bytes: int, params: dict[str, str | int] | None = None, retry: RetryPolicy | None = None
) -> tuple[bytes, str | None]:
    """One GET's body (at most ``max_bytes`` bytes) and ``Content-Type``; retried and refused as ``get_json``'s."""
    retry = retry or DEFAULT_RETRY
    timeout = retry.timeout()

    def attempt() -> tuple[bytes, str | None]:
        with open_answer(_thread_session(), url, params=params, timeout_s=timeout) as reply:
            return read_body(reply, url, limit=max_bytes, timeout_s=timeout), reply.headers.get("Content-Type")

    return retrying(url, retry, attempt)


def _content_range(header: str) -> tuple[int | None, int | None, int | None]:
    """``bytes <first>-<last>/<total>`` -> its three numbers; None for each that is missing or ``*``."""
    found = re.fullmatch(r"bytes (\d+)-(\d+)/(\d+|\*)", header.strip())
    if found is None:
        return None, None, None
    first, last, total = found.groups()
    return int(first), int(last), None if total == "*" else int(total)
