"""Serving a panel app on a local address: one fresh app per browser session, the same way for both GUIs.

``run_served`` is what ``patchseq-intake gui`` and ``python -m
patchseq_intake.gui`` do: the same checks (the ``gui`` extra, the port)
before anything is built or printed, the same messages, optionally on the
demo's replica (``testing.world.demo_replica``), until Ctrl-C or SIGTERM.
"""

from __future__ import annotations

import argparse
import errno
import re
import signal
import socket
import threading
import time
import warnings
from collections.abc import Callable
from contextlib import nullcontext
from typing import Any

from ..errors import PatchseqError

ADDRESS = "127.0.0.1"


class PortInUseError(PatchseqError):
    """The port asked for is taken, or cannot be listened on."""


class GuiNotInstalledError(PatchseqError, ImportError):
    """panel or hvplot, which the GUIs need, is missing or does not work with intake."""


def require_gui() -> None:
    """``GuiNotInstalledError``, saying what to install, unless panel and hvplot work with intake."""
    try:
        with warnings.catch_warnings():  # intake's GUI code uses panel's deprecated names: not the user's concern
            warnings.simplefilter("ignore", PendingDeprecationWarning)
            import intake.interface

            intake.interface.output_notebook()  # intake's own check of panel and hvplot, and pn.extension
    except (ImportError, RuntimeError) as error:
        raise GuiNotInstalledError(
            "the GUI needs panel and hvplot, which are not installed here: pip install 'patchseq-intake[gui]'"
        ) from error


def free_port(address: str = ADDRESS) -> int:
    """A TCP port nobody listens on at ``address`` right now."""
    return claim_port(0, address)


def claim_port(port: int, address: str = ADDRESS) -> int:
    """``port`` if nothing listens on it at ``address`` (0: a free one); ``PortInUseError`` naming both if not."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        try:
            probe.bind((address, port))
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise PortInUseError(f"port {port} on {address} is in use: choose another with --port") from exc
            raise PortInUseError(f"cannot listen on port {port} on {address} ({exc.strerror}): "
                                 "choose another with --port, above 1023") from exc
        return probe.getsockname()[1]


def port_number(text: str) -> int:
    """An argparse type: a TCP port, 0 to 65535 (0: any free one), in ASCII digits; argparse's usage error otherwise."""
    if not re.fullmatch(r"[0-9]{1,5}", text) or int(text) > 65535:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port: give a number from 0 to 65535 (0: any free one)")
    return int(text)


def serve_app(
    make: Callable[[], Any], port: int, address: str, title: str, *, show: bool = False, threaded: bool = False,
    verbose: bool = True,
) -> Any:
    """Serve ``make()`` (called once per browser session) at ``http://<address>:<port>/``.

    Only pages from that address (or ``localhost`` at that port) may open its
    websocket. With ``threaded``, returns panel's server thread at once
    (``.stop()`` it; ``.port`` is its port); otherwise blocks until interrupted.
    """
    import panel as pn

    server = pn.serve(
        {"/": make},
        port=port,
        address=address,
        websocket_origin=[f"{address}:{port}", f"localhost:{port}"],
        show=show,
        threaded=threaded,
        title=title,
        verbose=verbose,
    )
    if threaded:
        server.port = port
    return server


def run_served(
    make: Callable[[], Any], port: int, title: str, *, what: str, demo: bool = False, address: str = ADDRESS,
    show: bool = False, check: Callable[[], None] | None = None,
) -> None:
    """Serve ``make()`` at ``http://<address>:<port>/`` until Ctrl-C or SIGTERM; print ``Serving the <what> at ...``.

    Before anything is built or printed: ``GuiNotInstalledError`` without the
    ``gui`` extra, ``PortInUseError`` for a port that is taken (0: a free
    one). With ``demo``, on the demo's replica (removed at the end);
    ``check()`` runs there before serving (to refuse a bad input in the
    command's words). SIGTERM ends it as Ctrl-C does, then ``SystemExit(128 + SIGTERM)``.
    """
    # The handler only sets a flag: an exception raised inside it can land in a garbage-collection callback,
    # where Python drops it.
    terminated = threading.Event()
    signal.signal(signal.SIGTERM, lambda signum, frame: terminated.set())
    require_gui()
    port = claim_port(port, address)
    with _demo_replica() if demo else nullcontext():
        if check is not None:
            check()
        if not terminated.is_set():
            server = serve_app(make, port, address, title, show=show, threaded=True, verbose=False)
            if _listening(address, port, server):  # said once a browser can connect
                print(f"Serving the {what} at http://{address}:{port}/ (Ctrl-C to stop)", flush=True)
            try:
                while server.is_alive() and not terminated.wait(0.2):
                    pass
            finally:
                server.stop()
            if not terminated.is_set():
                raise PatchseqError(f"the {what}'s server on {address}:{port} stopped by itself (see its messages above)")
    if terminated.is_set():
        raise SystemExit(128 + signal.SIGTERM)


def _demo_replica() -> Any:
    """The demo's replica for a ``with`` block (imported only for ``--demo``: it loads the NWB writer)."""
    from ..testing.world import demo_replica

    return demo_replica()


def _listening(address: str, port: int, server: Any, within_s: float = 30.0) -> bool:
    """Whether ``server`` (a thread) accepts connections at ``address:port`` within ``within_s`` seconds."""
    deadline = time.monotonic() + within_s
    while server.is_alive() and time.monotonic() < deadline:
        try:
            socket.create_connection((address, port), timeout=0.5).close()
            return True
        except OSError:
            time.sleep(0.05)
    return False
