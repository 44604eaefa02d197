"""A small HTTP server on 127.0.0.1 for tests, the offline demo and benchmarks.

It serves files (with HTTP Range) and JSON routes, logs every request, and can
be told to misbehave like a real network: latency, limited bandwidth, error
statuses with ``Retry-After``, and connections cut in the middle of a body.
"""

from __future__ import annotations

import json
import re
import socket
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlparse

_RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")
_SEND_CHUNK = 64 * 1024


@dataclass
class Faults:
    """How the server misbehaves; change the fields while it runs."""

    latency_s: float = 0.0
    """Delay before every response."""
    bandwidth_bytes_per_s: float | None = None
    """Throughput of each response body (a connection's share); None for as fast as possible."""
    link_bytes_per_s: float | None = None
    """Throughput of all response bodies together (the client's link); None for unlimited."""
    statuses: list[int] = field(default_factory=list)
    """Statuses to answer the next requests with, one each, before serving normally."""
    retry_after: str | None = None
    """``Retry-After`` value sent with injected statuses."""
    cut_after_bytes: int | None = None
    """Cut a body's connection after this many bytes..."""
    cuts: int = 0
    """...this many times."""


@dataclass(frozen=True)
class Reply:
    """What a route answers: a status, a body and headers."""

    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)

    @classmethod
    def json(cls, payload: object, status: int = 200) -> Reply:
        return cls(status, json.dumps(payload).encode(), {"Content-Type": "application/json"})

    @classmethod
    def redirect(cls, location: str) -> Reply:
        return cls(302, b"", {"Location": location})


@dataclass(frozen=True)
class Request:
    """A request as a route sees it."""

    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]


@dataclass(frozen=True)
class LoggedRequest:
    method: str
    path: str
    status: int
    body_bytes: int
    range: str | None
    started: float = 0.0
    """``time.monotonic()`` when the request arrived..."""
    finished: float = 0.0
    """...and when its answer was sent."""


Route = Callable[[Request], Reply]


class LocalServer:
    """An HTTP server on 127.0.0.1 with files, routes, faults and a request log.

    Use as a context manager, or call ``start()`` and ``stop()``.
    """

    def __init__(self) -> None:
        self.files: dict[str, bytes | Path] = {}
        self.etags: dict[str, str] = {}
        """``ETag`` values sent with files, by path, as S3 sends a blob's."""
        self.routes: dict[str, Route] = {}
        self.faults = Faults()
        self._log: list[LoggedRequest] = []
        self._lock = threading.Lock()
        self._in_flight = 0
        self._link_free_at = 0.0
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        """Base URL, e.g. ``http://127.0.0.1:PORT`` (no trailing slash)."""
        if self._httpd is None:
            raise RuntimeError("the server is not running")
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}"

    def serve_file(self, path: str, content: bytes | Path, etag: str | None = None) -> str:
        """Serve ``content`` at ``path`` (starting with /), with an ``ETag`` if given; return its URL path."""
        self.files[path] = content
        if etag is not None:
            self.etags[path] = etag
        return path

    def add_route(self, prefix: str, route: Route) -> None:
        """Answer every request whose path starts with ``prefix`` with ``route``."""
        self.routes[prefix] = route

    @property
    def log(self) -> list[LoggedRequest]:
        """The requests answered since the log was last cleared, once none is still being answered."""
        self.wait_until_idle()
        return self._log

    def wait_until_idle(self, timeout: float = 5.0) -> None:
        """Wait until no request is being answered, so that the log is complete.

        A client may finish reading an answer a moment before the server logs it.
        """
        deadline = time.monotonic() + timeout
        while self._in_flight and time.monotonic() < deadline:
            time.sleep(0.005)

    def most_at_once(self, entries: list[LoggedRequest] | None = None) -> int:
        """The largest number of the logged requests that were being answered at the same time."""
        self.wait_until_idle()
        with self._lock:
            chosen = list(self._log if entries is None else entries)
        events = sorted([(e.started, 1) for e in chosen] + [(e.finished, -1) for e in chosen])
        running = peak = 0
        for _, change in events:
            running += change
            peak = max(peak, running)
        return peak

    def bytes_sent(self) -> int:
        """Body bytes sent since the log was last cleared."""
        self.wait_until_idle()
        with self._lock:
            return sum(entry.body_bytes for entry in self._log)

    def start(self) -> LocalServer:
        handler = type("Handler", (_Handler,), {"server_state": self})
        self._httpd = _Server(("127.0.0.1", 0), handler)
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None

    def __enter__(self) -> LocalServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def _record(self, entry: LoggedRequest) -> None:
        with self._lock:
            self._log.append(entry)

    def _link_slot(self, size: int, rate: float) -> float:
        """When ``size`` more bytes will have crossed the shared link, queued behind what other connections sent."""
        with self._lock:
            self._link_free_at = max(self._link_free_at, time.monotonic()) + size / rate
            return self._link_free_at

    def _take_injected_status(self) -> int | None:
        with self._lock:
            return self.faults.statuses.pop(0) if self.faults.statuses else None

    def _take_cut(self) -> int | None:
        with self._lock:
            if self.faults.cuts > 0 and self.faults.cut_after_bytes is not None:
                self.faults.cuts -= 1
                return self.faults.cut_after_bytes
            return None


class _Server(ThreadingHTTPServer):
    request_queue_size = 256  # many concurrent connections, as S3 takes; 5 would drop SYNs
    daemon_threads = True

    def handle_error(self, request: object, client_address: object) -> None:
        """A client that leaves mid-answer (as one that refuses what it reads does) is no error of the server's."""
        if isinstance(sys.exc_info()[1], ConnectionError):
            return
        super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # else headers and body in two packets cost a delayed ACK
    server_state: LocalServer

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        """Quiet: the server keeps its own log."""

    def do_GET(self) -> None:  # noqa: N802
        self._answer(send_body=True)

    def do_HEAD(self) -> None:  # noqa: N802
        self._answer(send_body=False)

    def _answer(self, send_body: bool) -> None:
        state = self.server_state
        with state._lock:
            state._in_flight += 1
        try:
            self._answer_and_log(send_body)
        finally:
            with state._lock:
                state._in_flight -= 1

    def _answer_and_log(self, send_body: bool) -> None:
        started = time.monotonic()
        state = self.server_state
        faults = state.faults
        if faults.latency_s:
            time.sleep(faults.latency_s)
        parsed = urlparse(self.path)
        injected = state._take_injected_status()
        if injected is not None:
            headers = {"Retry-After": faults.retry_after} if faults.retry_after else {}
            reply = Reply(injected, b"injected fault", headers)
        elif parsed.path in state.files:
            reply = self._file_reply(state.files[parsed.path], state.etags.get(parsed.path))
        else:
            try:
                reply = self._route_reply(parsed.path, parse_qs(parsed.query))
            except Exception as exc:  # a broken route answers 500 and is logged, like a real server
                reply = Reply(500, f"{type(exc).__name__}: {exc}".encode())
        sent = self._send(reply, send_body)
        state._record(
            LoggedRequest(
                self.command, self.path, reply.status, sent, self.headers.get("Range"), started, time.monotonic()
            )
        )

    def _route_reply(self, path: str, query: dict[str, list[str]]) -> Reply:
        for prefix, route in sorted(self.server_state.routes.items(), key=lambda r: -len(r[0])):
            if path.startswith(prefix):
                request = Request(self.command, path, query, dict(self.headers.items()))
                return route(request)
        return Reply(404, b"not found")

    def _file_reply(self, content: bytes | Path, etag: str | None) -> Reply:
        size = content.stat().st_size if isinstance(content, Path) else len(content)
        headers = {"Accept-Ranges": "bytes", "Content-Type": "application/octet-stream"}
        if etag is not None:
            headers["ETag"] = f'"{etag}"'  # S3 quotes it
        wanted = self.headers.get("Range")
        if wanted is None:
            return Reply(200, _slice(content, 0, size), headers)
        span = _byte_span(wanted, size)
        if span is None:
            return Reply(416, b"", {"Content-Range": f"bytes */{size}"})
        start, end = span
        headers["Content-Range"] = f"bytes {start}-{end - 1}/{size}"
        return Reply(206, _slice(content, start, end), headers)

    def _send(self, reply: Reply, send_body: bool) -> int:
        self.send_response(reply.status)
        for name, value in reply.headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(reply.body)))
        self.end_headers()
        if not send_body:
            return 0
        cut = self.server_state._take_cut() if reply.status in (200, 206) else None
        body = reply.body if cut is None else reply.body[:cut]
        sent = self._write_throttled(body)
        if cut is not None:
            self.close_connection = True
            self.wfile.flush()
            self.connection.shutdown(socket.SHUT_RDWR)
        return sent

    def _write_throttled(self, body: bytes) -> int:
        faults = self.server_state.faults
        started = time.monotonic()
        for offset in range(0, len(body), _SEND_CHUNK):
            chunk = body[offset : offset + _SEND_CHUNK]
            # Each chunk is sent when a link of that throughput would have delivered its last byte, not before:
            # a body's last chunk does not arrive early (small answers would otherwise seem faster than the link).
            due = started + (offset + len(chunk)) / faults.bandwidth_bytes_per_s if faults.bandwidth_bytes_per_s else 0.0
            if faults.link_bytes_per_s:
                due = max(due, self.server_state._link_slot(len(chunk), faults.link_bytes_per_s))
            wait = due - time.monotonic()
            if wait > 0:
                time.sleep(wait)
            try:
                self.wfile.write(chunk)
            except (BrokenPipeError, ConnectionResetError):
                return offset
        return len(body)


def _slice(content: bytes | Path, start: int, end: int) -> bytes:
    if isinstance(content, bytes):
        return content[start:end]
    with content.open("rb") as file:
        file.seek(start)
        return file.read(end - start)


def _byte_span(header: str, size: int) -> tuple[int, int] | None:
    """``bytes=a-b`` -> (a, b + 1), clipped to ``size``; None if unsatisfiable."""
    match = _RANGE.match(header.strip())
    if not match or match.group(1) == match.group(2) == "":
        return None
    first, last = match.groups()
    if first == "":
        start, end = max(size - int(last), 0), size
    else:
        start = int(first)
        end = size if last == "" else min(int(last) + 1, size)
    return (start, end) if start < end else None
