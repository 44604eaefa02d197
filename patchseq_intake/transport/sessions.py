"""The HTTP sessions requests are sent with: bodies asked for as stored, headers bounded in time.

``new_session`` gives a ``requests.Session`` that sends ``Accept-Encoding:
identity`` (requests asks for gzip by default: see ``answers``) and whose
connections must receive an answer's status line and headers, all of them,
within the read timeout (``HeaderDeadlineAdapter``): http.client reads
headers line by line, each read waiting at most the socket's timeout, so a
server sending a header byte every few seconds would otherwise never be
given up.
"""

from __future__ import annotations

import socket
import threading
from typing import Any

import requests
import requests.adapters
import urllib3
import urllib3.connection


def new_session() -> requests.Session:
    """A requests session for ``open_answer``: it asks for bodies as stored, and bounds each answer's headers in time.

    ``Accept-Encoding: identity`` (requests asks for gzip by default), and
    ``HeaderDeadlineAdapter`` for http and https.
    """
    session = requests.Session()
    session.headers["Accept-Encoding"] = "identity"
    adapter = HeaderDeadlineAdapter()
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return session


class _HeaderDeadline:
    """Mixed into urllib3's connections: an answer's status line and headers all arrive within the read timeout.

    http.client reads them line by line, and each read waits at most the
    socket's timeout: a server sending a byte every few seconds would never
    be given up. Here a watchdog (``threading.Timer``, one per request) shuts
    the socket down if ``getresponse`` has not returned the read timeout
    after it was called (wall clock, from the request sent to the last
    header line), and ``getresponse`` then raises ``TimeoutError``, which
    urllib3 and requests report as a read timeout: ``open_answer`` counts it
    as a stall. Without a read timeout nothing is bounded.
    """

    timeout: Any
    sock: Any

    def getresponse(self) -> Any:
        seconds = self.timeout
        if not isinstance(seconds, (int, float)) or self.sock is None:
            return super().getresponse()  # type: ignore[misc]
        watchdog = _Watchdog(self.sock, seconds)
        try:
            response = super().getresponse()  # type: ignore[misc]
        except Exception:
            if not watchdog.stop():
                raise
        else:
            if not watchdog.stop():
                return response
        raise TimeoutError(f"the status line and headers did not all arrive within {seconds:g} s")


class _Watchdog:
    """Shuts ``sock`` down ``seconds`` from now, unless ``stop()`` comes first."""

    def __init__(self, sock: socket.socket, seconds: float):
        self._sock = sock
        self._lock = threading.Lock()
        self._fired = self._stopped = False
        self._timer = threading.Timer(seconds, self._cut)
        self._timer.daemon = True
        self._timer.start()

    def _cut(self) -> None:
        with self._lock:
            if self._stopped:
                return
            self._fired = True
            try:  # the plain socket's shutdown, also under TLS: ssl's own would drop its state under the reader
                socket.socket.shutdown(self._sock, socket.SHUT_RDWR)
            except (OSError, TypeError):
                pass  # already closed, or not a socket (TLS inside a TLS proxy): its own timeout still holds

    def stop(self) -> bool:
        """Stop the watchdog; True if it had already cut the socket."""
        self._timer.cancel()
        with self._lock:
            self._stopped = True
            return self._fired


class _HTTPConnection(_HeaderDeadline, urllib3.connection.HTTPConnection):
    pass


class _HTTPSConnection(_HeaderDeadline, urllib3.connection.HTTPSConnection):
    pass


class _HTTPPool(urllib3.HTTPConnectionPool):
    ConnectionCls = _HTTPConnection


class _HTTPSPool(urllib3.HTTPSConnectionPool):
    ConnectionCls = _HTTPSConnection


_POOLS = {"http": _HTTPPool, "https": _HTTPSPool}


class HeaderDeadlineAdapter(requests.adapters.HTTPAdapter):
    """requests' adapter, with connections whose answers' headers must all arrive within the read timeout.

    Its pool managers (direct, and through an http(s) proxy) make the pools
    of ``_HTTPConnection`` and ``_HTTPSConnection`` (see ``_HeaderDeadline``).
    """

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = _POOLS

    def proxy_manager_for(self, proxy: str, **proxy_kwargs: Any) -> urllib3.PoolManager:
        manager = super().proxy_manager_for(proxy, **proxy_kwargs)
        if not proxy.lower().startswith("socks"):  # SOCKS proxies bring their own pools
            manager.pool_classes_by_scheme = _POOLS
        return manager
