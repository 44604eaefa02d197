"""Serving the cell browser on 127.0.0.1: on the release, or on the offline demo's local replica.

``serve_browser`` gives each browser session its own ``CellBrowser`` (two
tabs never share a selection); ``run_browser`` is ``patchseq-intake gui``:
``--demo`` serves it on the demo's replica of DANDI and the release tables
(``testing.world.demo_replica``), ``--cell`` opens it on a cell (``--session``
on a recording of a dandiset beyond 2020), refused up front if the archive's
table (read from the cache or fetched) lacks it.
"""

from __future__ import annotations

from typing import Any

from ..errors import UnknownCellError
from ..tables.shipped import ARCHIVES
from .browser_app import TITLE, CellBrowser
from .browser_data import archive_checked, by_recording, row_keys
from .serving import ADDRESS, PortInUseError, claim_port, require_gui, run_served, serve_app

__all__ = ["PortInUseError", "run_browser", "serve_browser"]


def serve_browser(port: int = 5006, archive: str = "human", threaded: bool = False, cell: int | None = None) -> Any:
    """Serve the cell browser at ``http://127.0.0.1:<port>/``, opening ``cell`` if given; ``port=0`` takes a free one.

    ``PortInUseError`` names a port that is taken; ``ValueError`` names the
    archives for an unknown one (``archive``: human, mouse, or any Allen Patch-seq dandiset by id or short name;
    ``cell``: on a dandiset beyond 2020, an ``ephys_session_id``). With ``threaded``, returns panel's server
    thread at once (``.stop()`` it; ``.port`` is its port); otherwise blocks
    until interrupted.
    """
    require_gui()
    archive = archive_checked(archive)
    port = claim_port(port)
    return serve_app(lambda: CellBrowser(archive, cell=cell).layout, port, ADDRESS, TITLE, threaded=threaded,
                     verbose=False)


def run_browser(port: int, archive: str, demo: bool = False, cell: int | None = None) -> None:
    """``patchseq-intake gui``: serve the browser until Ctrl-C or SIGTERM (see ``serving.run_served``).

    With ``cell``, ``UnknownCellError`` if the archive's table lacks it,
    naming the archive that has it (``--archive``); if the table cannot be
    read, the page says so instead.
    """
    run_served(lambda: CellBrowser(archive, cell=cell).layout, port, TITLE, what="cell browser", demo=demo,
               check=None if cell is None else lambda: check_cell(archive, cell))


def check_cell(archive: str, cell: int) -> None:
    """``UnknownCellError`` if ``archive``'s cells lack ``cell``, naming the archive that holds it, if one does.

    Reads the metadata tables (cached, or fetched); a table that cannot be
    read is no answer: the browser's page will say what failed. On a dandiset
    beyond 2020, ``cell`` is a session: its sessions table is read (the shipped
    listing, or DANDI's), and a session it lacks is refused.
    """
    from ..catalog import open_catalog

    catalog = open_catalog()
    if by_recording(archive):
        try:
            found = (row_keys(catalog[archive].sessions.read()) == cell).any()
        except Exception:  # noqa: BLE001 -- not readable here: the page shows why
            return
        if not found:
            raise UnknownCellError(f"no recording of session {cell} in {archive} (patchseq-intake cells {archive} "
                                   "lists them)")
        return
    holders = []
    for name in (archive, *(a for a in ARCHIVES if a != archive)):
        try:
            if (catalog[name].metadata.read()["cell_specimen_id"] == cell).any():
                holders.append(name)
                break
        except Exception:  # noqa: BLE001 -- not readable here: the page shows why
            return
    if holders == [archive]:
        return
    where = f": it is a {holders[0]} cell (--archive {holders[0]})" if holders else " nor in any other"
    raise UnknownCellError(f"no cell {cell} in the {archive} archive{where}")
