"""Serving a panel app on a local address: one fresh app per browser session; the ``--port`` both GUIs take."""

from __future__ import annotations

import argparse
import re
import socket
import warnings
from collections.abc import Callable
from typing import Any

from ..errors import PatchseqError


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


def free_port(address: str = "127.0.0.1") -> int:
    """A TCP port nobody listens on at ``address`` right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((address, 0))
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
