"""A hostile HTTP server on 127.0.0.1, on raw sockets: it answers as a broken or malicious server would.

``server.LocalServer`` imitates a good server with network faults; this one
breaks HTTP on purpose, where ``http.server`` would not let it: bodies that
never end (with or without a ``Content-Length``), a ``Content-Range`` whose
body goes on past it, gzip bombs sent to a client that asked for identity,
bytes of a body or of the headers dripped one at a time, a connection
accepted and never answered, redirects in a loop, and any status, headers
and body.

Each path answers with a ``Behaviour``, made by the functions below
(``answer``, ``endless``, ``endless_range``, ``gzip_bomb``, ``drip``,
``drip_head``, ``slow_head``, ``paced``, ``silent``, ``redirect_loop``);
``full_backlog`` is a port that never completes a connection at all. Everything it does is bounded:
each connection stops when the client leaves, when the server stops, or
after ``max_seconds`` or ``max_bytes``, whichever comes first. The server
logs every request (with its headers), counts connections and body bytes.
"""

from __future__ import annotations

import gzip
import re
import select
import socket
import socketserver
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from urllib.parse import urlsplit

_HEAD_LIMIT = 64 * 1024
_POLL_S = 0.05
_BLOCK = b"x" * (64 * 1024)
_MIB_OF_ZEROS_GZIPPED = gzip.compress(bytes(1024 * 1024), compresslevel=9)
"""One gzip member that inflates to 1 MiB: members in a row are one valid gzip stream."""


@dataclass(frozen=True)
class Request:
    """A request as the server read it: header names in lower case."""

    method: str
    target: str
    headers: dict[str, str]

    @property
    def path(self) -> str:
        return urlsplit(self.target).path

    @property
    def range(self) -> tuple[int, int] | None:
        """``Range: bytes=a-b`` as ``(a, b + 1)``; None if absent or of another form."""
        found = re.fullmatch(r"bytes=(\d+)-(\d+)", self.headers.get("range", "").strip())
        return (int(found[1]), int(found[2]) + 1) if found else None


class Wire:
    """One client connection, as a behaviour writes to it.

    Every write and wait gives up (returns False) once the client has left,
    the server is stopping, or the connection reached the server's caps.
    """

    def __init__(self, sock: socket.socket, server: HostileServer):
        self._sock = sock
        self._server = server
        self._started = time.monotonic()
        self._sent = 0
        self._gone = False
        sock.settimeout(_POLL_S)

    def alive(self) -> bool:
        """True while the connection may go on."""
        return not (
            self._gone
            or self._server.stopping.is_set()
            or time.monotonic() - self._started > self._server.max_seconds
            or self._sent > self._server.max_bytes
        )

    def send(self, data: bytes) -> bool:
        """Send ``data``, all of it unless the connection ends first; True if it was all sent."""
        view = memoryview(data)
        while view:
            if not self.alive():
                return False
            try:
                sent = self._sock.send(view)
            except TimeoutError:
                continue
            except OSError:
                self._gone = True
                return False
            view = view[sent:]
            self._sent += sent
            self._server.count_sent(sent)
        return True

    def head(self, status: int, headers: dict[str, str]) -> bool:
        """Send a status line and ``headers`` (nothing added), then the blank line."""
        lines = [f"HTTP/1.1 {status} Hostile"] + [f"{name}: {value}" for name, value in headers.items()]
        return self.send(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))

    def wait(self, seconds: float) -> bool:
        """Sleep ``seconds``, or less if the connection ends first; True if it is still alive."""
        deadline = time.monotonic() + seconds
        while self.alive() and (left := deadline - time.monotonic()) > 0:
            self._server.stopping.wait(min(left, _POLL_S))
            self._notice_leaving()
        return self.alive()

    def hold(self) -> None:
        """Send nothing until the connection ends (the client leaves, the server stops, or a cap)."""
        while self.wait(_POLL_S):
            pass

    def read_head(self) -> bytes | None:
        """The next request's head (up to the blank line), or None if the connection ended first."""
        data = b""
        while b"\r\n\r\n" not in data:
            if not self.alive() or len(data) > _HEAD_LIMIT:
                return None
            try:
                chunk = self._sock.recv(4096)
            except TimeoutError:
                continue
            except OSError:
                return None
            if not chunk:
                return None
            data += chunk
        return data.split(b"\r\n\r\n", 1)[0]

    def _notice_leaving(self) -> None:
        """Mark the connection gone if the client closed its end (without waiting)."""
        try:
            readable, _, _ = select.select([self._sock], [], [], 0)
            if readable and self._sock.recv(1, socket.MSG_PEEK) == b"":
                self._gone = True
        except TimeoutError:
            pass
        except OSError:
            self._gone = True


Behaviour = Callable[[Request, Wire], bool]
"""Answers one request on its wire; True if the connection may carry another request."""


def answer(status: int = 200, body: bytes = b"", headers: dict[str, str] | None = None, *, length: bool = True) -> Behaviour:
    """Any status, headers and body; with ``length``, a ``Content-Length`` of the body, else the body ends the connection."""

    def behave(request: Request, wire: Wire) -> bool:
        framing = {"Content-Length": str(len(body))} if length else {"Connection": "close"}
        return wire.head(status, {**(headers or {}), **framing}) and wire.send(body) and length

    return behave


def endless(
    status: int = 200, headers: dict[str, str] | None = None, *, declared_length: int | None = None, chunked: bool = False
) -> Behaviour:
    """A body that never ends: close-delimited, or ``chunked``, or going on past a ``declared_length``."""

    def behave(request: Request, wire: Wire) -> bool:
        if chunked:
            framing, block = {"Transfer-Encoding": "chunked"}, b"%x\r\n%s\r\n" % (len(_BLOCK), _BLOCK)
        elif declared_length is not None:
            framing, block = {"Content-Length": str(declared_length)}, _BLOCK
        else:
            framing, block = {"Connection": "close"}, _BLOCK
        if wire.head(status, {**(headers or {}), **framing}):
            while wire.send(block):
                pass
        return False

    return behave


def endless_range(total: int, headers: dict[str, str] | None = None) -> Behaviour:
    """A 206 with exactly the ``Content-Range`` asked for (of a ``total``-byte file), then a body without end."""

    def behave(request: Request, wire: Wire) -> bool:
        start, end = request.range or (0, total)
        content_range = {"Content-Range": f"bytes {start}-{end - 1}/{total}"}
        return endless(206, {**content_range, **(headers or {})})(request, wire)

    return behave


def gzip_bomb(inflated_mib: int = 1024, total: int | None = None, headers: dict[str, str] | None = None) -> Behaviour:
    """A ``Content-Encoding: gzip`` body (asked for or not) of about ``inflated_mib`` KB that inflates to that many MiB.

    A range request gets a 206 whose ``Content-Range`` is the range asked, of
    a ``total``-byte file (default: the range's end); others a 200.
    """
    body = _MIB_OF_ZEROS_GZIPPED * inflated_mib

    def behave(request: Request, wire: Wire) -> bool:
        fields = {"Content-Encoding": "gzip", **(headers or {})}
        if request.range is None:
            return answer(200, body, fields)(request, wire)
        start, end = request.range
        fields["Content-Range"] = f"bytes {start}-{end - 1}/{total or end}"
        return answer(206, body, fields)(request, wire)

    return behave


def drip(body: bytes, every_s: float, status: int = 200, headers: dict[str, str] | None = None) -> Behaviour:
    """The headers (with the body's ``Content-Length``) at once, then the body one byte every ``every_s`` seconds."""

    def behave(request: Request, wire: Wire) -> bool:
        if not wire.head(status, {**(headers or {}), "Content-Length": str(len(body))}):
            return False
        return all(wire.wait(every_s) and wire.send(body[at : at + 1]) for at in range(len(body)))

    return behave


def drip_head(every_s: float) -> Behaviour:
    """A status line and the start of a header (``X-Slow: ``) at once, then one more byte of it every ``every_s`` seconds, never ending."""

    def behave(request: Request, wire: Wire) -> bool:
        if wire.send(b"HTTP/1.1 200 OK\r\nX-Slow: "):
            while wire.wait(every_s) and wire.send(b"x"):
                pass
        return False

    return behave


def slow_head(body: bytes, every_s: float, status: int = 200, headers: dict[str, str] | None = None) -> Behaviour:
    """The status line and headers (with the body's ``Content-Length``) one byte every ``every_s`` seconds, then the body."""

    def behave(request: Request, wire: Wire) -> bool:
        fields = {**(headers or {}), "Content-Length": str(len(body))}
        lines = [f"HTTP/1.1 {status} Slow"] + [f"{name}: {value}" for name, value in fields.items()]
        head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
        sent = all(wire.send(head[at : at + 1]) and wire.wait(every_s) for at in range(len(head)))
        return sent and wire.send(body)

    return behave


def paced(body: bytes, bytes_per_s: float, status: int = 200, headers: dict[str, str] | None = None) -> Behaviour:
    """The body at a steady ``bytes_per_s``, in twentieths of a second, with its ``Content-Length``: slow, never stalled."""
    step = max(1, int(bytes_per_s / 20))

    def behave(request: Request, wire: Wire) -> bool:
        if not wire.head(status, {**(headers or {}), "Content-Length": str(len(body))}):
            return False
        return all(wire.send(body[at : at + step]) and wire.wait(step / bytes_per_s) for at in range(0, len(body), step))

    return behave


def silent() -> Behaviour:
    """Read the request and never answer."""

    def behave(request: Request, wire: Wire) -> bool:
        wire.hold()
        return False

    return behave


def redirect_loop(status: int = 302) -> Behaviour:
    """Redirect every request to its own path, forever."""

    def behave(request: Request, wire: Wire) -> bool:
        return answer(status, b"round and round", {"Location": request.target})(request, wire)

    return behave


@contextmanager
def full_backlog() -> Iterator[str]:
    """The URL of a listener on 127.0.0.1 whose connections never complete: it accepts none, its queue is full.

    The kernel drops the SYNs of a listener whose queue (of one) is taken,
    as a host behind a firewall that drops packets does.
    """
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(0)
        with socket.create_connection(listener.getsockname(), timeout=5):  # takes the queue's only place
            yield f"http://127.0.0.1:{listener.getsockname()[1]}"


class HostileServer:
    """The hostile server: ``on(path, behaviour)`` says how a path answers; others get 404.

    Use as a context manager, or call ``start()`` and ``stop()``. Each
    connection is cut after ``max_seconds`` or ``max_bytes`` at the latest.
    """

    def __init__(self, max_seconds: float = 20.0, max_bytes: int = 256 * 1024 * 1024):
        self.max_seconds = max_seconds
        self.max_bytes = max_bytes
        self.behaviours: dict[str, Behaviour] = {}
        self.requests: list[Request] = []
        self.connections = 0
        self.stopping = threading.Event()
        self._sent = 0
        self._lock = threading.Lock()
        self._tcp: socketserver.ThreadingTCPServer | None = None

    @property
    def url(self) -> str:
        """Base URL, ``http://127.0.0.1:PORT`` (no trailing slash)."""
        if self._tcp is None:
            raise RuntimeError("the hostile server is not running")
        return f"http://127.0.0.1:{self._tcp.server_address[1]}"

    def on(self, path: str, behaviour: Behaviour) -> str:
        """Answer requests for ``path`` with ``behaviour``; return its URL."""
        self.behaviours[path] = behaviour
        return self.url + path

    def bytes_sent(self) -> int:
        """Bytes written to clients (heads and bodies) so far."""
        with self._lock:
            return self._sent

    def count_sent(self, count: int) -> None:
        with self._lock:
            self._sent += count

    def start(self) -> HostileServer:
        state = self

        class Handler(socketserver.BaseRequestHandler):
            def handle(self) -> None:
                state._serve(self.request)

        self.stopping.clear()
        self._tcp = _TCPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self._tcp.serve_forever, kwargs={"poll_interval": _POLL_S}, daemon=True).start()
        return self

    def stop(self) -> None:
        """Stop accepting, end every connection, and wait for their threads."""
        if self._tcp is not None:
            self.stopping.set()
            self._tcp.shutdown()
            self._tcp.server_close()
            self._tcp = None

    def __enter__(self) -> HostileServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def _serve(self, sock: socket.socket) -> None:
        with self._lock:
            self.connections += 1
        wire = Wire(sock, self)
        while (head := wire.read_head()) is not None:
            request = _parse(head)
            if request is None:
                return
            with self._lock:
                self.requests.append(request)
            behaviour = self.behaviours.get(request.path, answer(404, b"not found"))
            if not behaviour(request, wire):
                return


class _TCPServer(socketserver.ThreadingTCPServer):
    daemon_threads = False  # stop() waits for every connection's thread: none outlives the server
    block_on_close = True
    allow_reuse_address = True


def _parse(head: bytes) -> Request | None:
    lines = head.decode("latin-1").split("\r\n")
    parts = lines[0].split(" ")
    if len(parts) != 3:
        return None
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return Request(parts[0], parts[1], headers)
