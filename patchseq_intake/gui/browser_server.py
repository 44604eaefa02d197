"""Serving the cell browser on 127.0.0.1: on the release, or on the offline demo's local replica.

``serve_browser`` gives each browser session its own ``CellBrowser`` (two
tabs never share a selection). ``--demo`` starts the demo's replica of DANDI
and the release tables (``testing.world``) with a throw-away cache, and
points this process at it.
"""

from __future__ import annotations

import errno
import os
import socket
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from .. import config
from ..errors import PatchseqError
from ..tables.shipped import check_archive
from .browser_app import TITLE, CellBrowser
from .serving import require_gui, serve_app

ADDRESS = "127.0.0.1"


class PortInUseError(PatchseqError):
    """The port asked for is taken."""


def serve_browser(port: int = 5006, archive: str = "human", threaded: bool = False) -> Any:
    """Serve the cell browser at ``http://127.0.0.1:<port>/``; ``port=0`` takes a free one.

    ``PortInUseError`` names a port that is taken; ``ValueError`` names the
    archives for an unknown one. With ``threaded``, returns panel's server
    thread at once (``.stop()`` it; ``.port`` is its port); otherwise blocks
    until interrupted.
    """
    require_gui()
    check_archive(archive)
    port = claim_port(port)
    return serve_app(lambda: CellBrowser(archive).layout, port, ADDRESS, TITLE, threaded=threaded, verbose=False)


@contextmanager
def demo_replica() -> Iterator[Any]:
    """The demo's replica of DANDI and the release tables, this process pointed at it, for a ``with`` block."""
    from ..tables.shipped import shipped_listings
    from ..testing.world import build_world

    with tempfile.TemporaryDirectory(prefix="patchseq-browser-demo-") as scratch:
        world = build_world(Path(scratch) / "files", listings=shipped_listings())
        saved = dict(os.environ)
        os.environ.update({**world.environment(), config.CACHE_ENV: str(Path(scratch) / "cache")})
        os.environ.pop(config.OFFLINE_ENV, None)
        try:
            yield world
        finally:
            os.environ.clear()
            os.environ.update(saved)
            world.stop()


def claim_port(port: int) -> int:
    """``port`` if nothing listens on it at 127.0.0.1 (0: a free one); ``PortInUseError`` if something does."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        try:
            probe.bind((ADDRESS, port))
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise PortInUseError(f"port {port} on {ADDRESS} is in use: choose another with --port") from exc
            raise PortInUseError(f"cannot listen on port {port} on {ADDRESS} ({exc.strerror}): "
                                 "choose another with --port, above 1023") from exc
        return probe.getsockname()[1]
