"""A server's answer, with bounds: how long it may take, how much it may hold, how it may be encoded.

One attempt (``open_answer``) is a GET that follows at most ``MAX_REDIRECTS``
redirects itself (their bodies left unread) and hands back the answer with
its body unread; ``retrying`` runs attempts under a ``RetryPolicy``. Bodies
are read only through ``body_chunks``:

- **at most the bytes asked for**: a ``Content-Length`` above the limit is
  refused before any byte is read, and one byte more than the limit ends the
  read with ``ServerAnswerError`` ("sent more than the N bytes expected");
- **as sent**: every request asks for ``Accept-Encoding: identity``; an
  answer with any other ``Content-Encoding`` is refused unread, and bytes are
  never decompressed (``decode_content=False``);
- **with progress**: the timeout ``t`` (``RetryPolicy.timeout()``:
  ``$PATCHSEQ_INTAKE_TIMEOUT``, 15 s by default) bounds each wait: to
  connect; for the answer's status line and headers, all of them within
  ``t`` seconds of the request (wall clock: a server dripping its headers a
  byte at a time is cut, see ``sessions``); and in the body,
  where each ``MIN_PROGRESS_BYTES`` (or the end) must arrive within ``t``
  seconds of the previous ones. A server that goes silent or drips bytes is
  found stalled ``t`` seconds after its last real progress, while a slow
  transfer that keeps moving (above ``MIN_PROGRESS_BYTES / t``: 550 bytes/s
  by default) goes on.

A server that does not connect, answer or keep sending is given
``RetryPolicy.stall_attempts`` attempts: 2, so one that never answers is
given up after ``2 t``, 30 s, by default. 429, 5xx and cut connections get
``RetryPolicy.attempts`` (5), with backoff honouring ``Retry-After``: a
server asking for more than ``RetryPolicy.max_wait_s`` (30 s) is given up at
once, and one call waits at most ``RetryPolicy.max_total_wait_s`` (60 s) in
all; a wait longer than ``RETRY_NOTICE_S`` is said once (a ``UserWarning``).
``parse_json`` turns a body into JSON, or says what came instead.
"""

from __future__ import annotations

import json
import time
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime
from typing import Any, TypeVar
from urllib.parse import urljoin, urlsplit

import requests
import urllib3

from .. import config
from ..errors import FetchError, PatchseqError, ServerAnswerError, UnresponsiveServerError

CHUNK_BYTES = 256 * 1024
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
MAX_REDIRECTS = 10
MIN_PROGRESS_BYTES = 8 * 1024
"""A body must bring this many bytes (or end) within every timeout, or it is stalled."""
MAX_JSON_DEPTH = 64
"""Arrays and objects nested deeper than this in a JSON answer are refused (DANDI's go 6 deep)."""
RETRY_NOTICE_S = 2.0
"""A wait before a retry longer than this many seconds is said (once per call)."""
_SHOWN_BYTES = 120
_T = TypeVar("_T")


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how patiently to retry a failing request.

    ``timeout_s``: seconds without progress before an attempt is given up
    (None: ``config.timeout_s()``, read at each request). ``attempts``: for
    429, 5xx, cut connections and answers other than the one asked for;
    ``stall_attempts`` (at most ``attempts``): for a server that does not
    connect, answer or keep sending within the timeout. Between attempts:
    ``backoff_s`` doubled each time, or what the server's ``Retry-After``
    asks; a server asking for more than ``max_wait_s`` seconds is given up
    at once, and one call waits ``max_total_wait_s`` seconds at most in all.
    """

    attempts: int = 5
    backoff_s: float = 0.5
    max_wait_s: float = 30.0
    timeout_s: float | None = None
    stall_attempts: int = 2
    max_total_wait_s: float = 60.0

    def wait(self, attempt: int, retry_after: str | None = None) -> float:
        """Seconds to wait before retry number ``attempt`` (1-based).

        What ``retry_after`` (a ``Retry-After`` value: seconds, or an HTTP
        date) asks, as asked, even above ``max_wait_s``; else the backoff,
        at most ``max_wait_s``.
        """
        asked = _retry_after_s(retry_after)
        if asked is not None:
            return asked
        return min(self.backoff_s * 2 ** (attempt - 1), self.max_wait_s)

    def timeout(self) -> float:
        """Seconds without progress before an attempt is given up: ``timeout_s``, else the configured one."""
        return self.timeout_s if self.timeout_s is not None else config.timeout_s()


def _retry_after_s(value: str | None) -> float | None:
    """A ``Retry-After`` header's wait in seconds (0 for a time past), or None if absent or unreadable."""
    if value is None:
        return None
    try:
        seconds = float(value)
    except ValueError:
        pass
    else:
        return None if seconds != seconds else max(seconds, 0.0)  # NaN: unreadable; infinity: too long
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return max((when - datetime.now(timezone.utc)).total_seconds(), 0.0)


class TransientProblem(Exception):
    """An attempt that failed in a way worth another: a cut, a stall, a 429 or 5xx, an answer not as asked."""

    def __init__(
        self, problem: str, *, stalled: bool = False, retry_after: str | None = None, status: int | None = None
    ):
        super().__init__(problem)
        self.problem = problem
        self.stalled = stalled
        self.retry_after = retry_after
        self.status = status


def retrying(url: str, retry: RetryPolicy, attempt: Callable[[], _T]) -> _T:
    """``attempt()``'s result, calling it again after each ``TransientProblem`` as ``retry`` allows.

    ``UnresponsiveServerError`` after ``retry.stall_attempts`` stalls (or
    one on the last attempt), ``FetchError`` after ``retry.attempts``
    problems, or at once when the next wait would be longer than
    ``retry.max_wait_s`` (a ``Retry-After`` asking for it) or take the call's
    waits past ``retry.max_total_wait_s``; each names ``url`` and the last
    problem (the ``FetchError`` its HTTP ``status``, if any). A wait longer
    than ``RETRY_NOTICE_S`` is said once, as a ``UserWarning`` naming the
    server, the problem and the wait. What else ``attempt`` raises goes through at once.
    """
    problem, stalls, status, waited, announced = "no attempt made", 0, None, 0.0, False
    for number in range(1, retry.attempts + 1):
        try:
            return attempt()
        except TransientProblem as failure:
            problem, status = failure.problem, failure.status
            stalls += failure.stalled
            if failure.stalled and (stalls >= retry.stall_attempts or number == retry.attempts):
                raise UnresponsiveServerError(
                    f"{url}: the server is not answering ({problem}; {stalls} attempts); try again later, "
                    f"or for a slow link raise {config.TIMEOUT_ENV} (now {retry.timeout():g} s)"
                ) from None
            retry_after = failure.retry_after
        if number == retry.attempts:
            break
        pause = retry.wait(number, retry_after)
        if pause > retry.max_wait_s:
            raise FetchError(
                f"{url}: {problem}, and the server asks to retry in {pause:g} s "
                f"(more than the {retry.max_wait_s:g} s this waits): try again later",
                status,
            )
        if waited + pause > retry.max_total_wait_s:
            raise FetchError(
                f"{url}: {problem} after {number} attempts and {waited:g} s of waiting; another {pause:g} s "
                f"would pass the {retry.max_total_wait_s:g} s one call waits: try again later",
                status,
            )
        if pause > RETRY_NOTICE_S and not announced:
            announced = True
            why = "as its Retry-After asks" if retry_after is not None else "backing off"
            server = "{0.scheme}://{0.netloc}".format(urlsplit(url))
            warnings.warn(
                f"{server}: {problem}; waiting {pause:g} s before trying again ({why})", UserWarning, stacklevel=3
            )
        time.sleep(pause)
        waited += pause
    raise FetchError(f"{url}: gave up after {retry.attempts} attempts; last problem: {problem}", status)


def open_answer(
    session: requests.Session,
    url: str,
    *,
    params: dict[str, str | int] | None = None,
    headers: dict[str, str] | None = None,
    timeout_s: float,
) -> requests.Response:
    """One attempt at GET ``url``: the final answer after redirects, its body unread (close it).

    ``TransientProblem`` for a failed or timed-out connection, 429 or 5xx;
    ``FetchError`` (with ``status``) for another HTTP error, a URL requests
    cannot use, or more than ``MAX_REDIRECTS`` redirects; ``ServerAnswerError``
    for an answer encoded otherwise than as identity. Each names ``url``.
    """
    location, query = url, params
    for _ in range(MAX_REDIRECTS + 1):
        try:
            reply = session.get(
                location, params=query, headers=headers, stream=True, timeout=(timeout_s, timeout_s),
                allow_redirects=False, hooks={"response": _close_if_redirect},
            )
        except requests.ConnectTimeout:
            raise TransientProblem(f"no connection within {timeout_s:g} s", stalled=True) from None
        except requests.Timeout:
            raise TransientProblem(f"no status line and headers within {timeout_s:g} s", stalled=True) from None
        except requests.ConnectionError as exc:
            raise TransientProblem(f"connection failed or cut ({type(exc).__name__})") from None
        except requests.RequestException as exc:
            raise FetchError(f"{url}: cannot be requested: {exc}") from exc
        via = "" if location == url else f" (redirected to {location})"
        if reply.is_redirect:
            location, query = requests.utils.requote_uri(urljoin(reply.url, reply.headers["Location"])), None
            continue
        if reply.status_code in RETRY_STATUSES:
            reply.close()
            raise TransientProblem(
                f"HTTP {reply.status_code}{via}", retry_after=reply.headers.get("Retry-After"), status=reply.status_code
            )
        if reply.status_code >= 400:
            reply.close()
            raise FetchError(f"{url}: HTTP {reply.status_code} {reply.reason}{via}", reply.status_code)
        encoding = reply.headers.get("Content-Encoding", "identity").strip().lower()
        if encoding not in ("", "identity"):
            reply.close()
            raise ServerAnswerError(
                f"{url}: the server sent its answer encoded as {encoding!r}{via}, which was not asked for "
                "(the request asks for identity): refused unread"
            )
        return reply
    raise FetchError(
        f"{url}: more than {MAX_REDIRECTS} redirects (the last to {location}): the server redirects in a loop"
    )


def _close_if_redirect(reply: requests.Response, *args: object, **kwargs: object) -> requests.Response:
    """Close a redirect unread: requests reads (and decodes) its body, even when not following it."""
    if reply.is_redirect:
        reply.close()
    return reply


def body_chunks(
    reply: requests.Response,
    url: str,
    *,
    limit: int,
    timeout_s: float,
    too_long: type[PatchseqError] = ServerAnswerError,
) -> Iterator[bytes]:
    """``reply``'s body as it arrives, undecoded, at most ``limit`` bytes.

    ``too_long`` as soon as the body is longer than ``limit`` (no chunk past
    it is yielded; a ``Content-Length`` above it is refused before reading);
    ``TransientProblem`` if it is cut or stalls (see the module's docstring).
    """
    declared = reply.headers.get("Content-Length", "").strip()
    if declared.isdigit() and int(declared) > limit:
        raise too_long(f"{url}: sent more than the {limit} bytes expected (Content-Length {declared}): refused")
    received = since = 0
    deadline = time.monotonic() + timeout_s
    while True:
        if since >= MIN_PROGRESS_BYTES:
            deadline, since = time.monotonic() + timeout_s, 0
        _wait_at_most(reply, deadline - time.monotonic())
        wanted = min(CHUNK_BYTES, limit - received + 1)
        try:
            chunk = reply.raw.read1(wanted, decode_content=False)
        except urllib3.exceptions.ReadTimeoutError:
            chunk = None
        except (urllib3.exceptions.HTTPError, OSError) as exc:
            raise TransientProblem(f"connection cut after {received} bytes ({type(exc).__name__})") from None
        if chunk == b"":
            return
        if chunk is None or (time.monotonic() > deadline and since + len(chunk) < MIN_PROGRESS_BYTES):
            raise TransientProblem(
                f"stalled after {received} bytes: fewer than {MIN_PROGRESS_BYTES} bytes in {timeout_s:g} s",
                stalled=True,
            )
        received += len(chunk)
        since += len(chunk)
        if received > limit:
            raise too_long(f"{url}: sent more than the {limit} bytes expected: refused")
        yield chunk


def read_body(reply: requests.Response, url: str, *, limit: int, timeout_s: float) -> bytes:
    """``reply``'s whole body, of at most ``limit`` bytes, as ``body_chunks`` reads it."""
    return b"".join(body_chunks(reply, url, limit=limit, timeout_s=timeout_s))


def _wait_at_most(reply: requests.Response, seconds: float) -> None:
    """Let the next read of ``reply``'s body wait at most ``seconds`` (its socket's timeout).

    Without it each read could wait the request's whole timeout, so a drip
    would be found stalled only after up to twice the timeout.
    """
    sock = getattr(getattr(reply.raw, "connection", None), "sock", None)
    if sock is not None:
        sock.settimeout(max(seconds, 0.001))


def parse_json(url: str, body: bytes, content_type: str | None) -> Any:
    """The JSON value of ``body``, which ``url`` sent as ``content_type``.

    ``ServerAnswerError`` naming ``url``, the type and the first bytes for
    a body that is not JSON (``NaN`` and ``Infinity`` included), and for one
    nested more than ``MAX_JSON_DEPTH`` deep.
    """
    sent = f"{url}: sent {content_type or 'an answer without Content-Type'} ({len(body)} bytes)"
    try:
        value = json.loads(body, parse_constant=_refuse_constant)
    except RecursionError:
        raise ServerAnswerError(f"{sent}, JSON nested too deeply to read (more than {MAX_JSON_DEPTH} levels)") from None
    except ValueError as exc:
        raise ServerAnswerError(f"{sent}, not JSON ({exc}); it begins {_shown(body)}") from None
    if _depth_exceeds(value, MAX_JSON_DEPTH):
        raise ServerAnswerError(f"{sent}, JSON nested more than {MAX_JSON_DEPTH} levels deep: refused")
    return value


def _refuse_constant(name: str) -> float:
    raise ValueError(f"{name} is not a JSON value")


def _shown(body: bytes) -> str:
    """The first bytes of ``body`` as printable text, quoted, with a mark where it was cut."""
    text = body[:_SHOWN_BYTES].decode("utf-8", errors="replace")
    return repr(text) + (" ..." if len(body) > _SHOWN_BYTES else "")


def _depth_exceeds(value: Any, limit: int) -> bool:
    """True if ``value`` nests lists and dicts more than ``limit`` deep (walked without recursion)."""
    pending = [(value, 1)]
    while pending:
        item, depth = pending.pop()
        if isinstance(item, (list, dict)):
            if depth > limit:
                return True
            children = item.values() if isinstance(item, dict) else item
            pending.extend((child, depth + 1) for child in children if isinstance(child, (list, dict)))
    return False
