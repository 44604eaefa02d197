"""Intake's panel GUI on the shipped catalog: in a notebook, or served on 127.0.0.1.

``build_gui()`` is intake's GUI (what ``cat.gui`` gives) on the root catalog,
with the root already selected, so that the tree shows ``human`` and
``mouse`` at once, and with three fixes for intake 2.0.9: an editor wide and
tall enough for the entries' descriptions, no request for the logo its wheel
lacks, and a plot panel whose "Create" button works (tables) or is off
(ephys, where it would fetch every NWB file). In a notebook, show
``build_gui()``; ``serve()`` serves it, one fresh GUI per browser session::

    python -m patchseq_intake.gui --port 5006     # then open http://127.0.0.1:5006/

Browsing does no I/O: selecting a catalog instantiates its entries with their
default parameters, and creating a source fetches nothing. Picking one of an
entry's plots reads its table (the first time, into the cache).

Needs the ``gui`` extra: ``pip install "patchseq-intake[gui]"`` (panel, hvplot).
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from ..catalog import open_catalog
from ..errors import PatchseqError
from .serving import free_port, port_number, require_gui, serve_app

TITLE = "Patch-seq catalog"
DESCRIPTION_WIDTH = 760  # pixels: YAML lines of 80 characters, and the line numbers
DESCRIPTION_HEIGHT = 560  # pixels: about 40 lines, the longest entry (ephys) whole


def build_gui(cat: Any = None, expand: bool = True):
    """Intake's GUI (``intake.interface.gui.GUI``) for ``cat`` (default: the shipped root catalog).

    With ``expand``, the root catalog is selected, so that its archives
    (``human``, ``mouse``) are listed in the tree under it.
    """
    require_gui()
    from intake.interface.gui import GUI

    cat = open_catalog() if cat is None else cat
    gui = GUI({cat.name: cat})
    _hide_missing_images(gui.main)
    # intake's editor is too small for the descriptions: 80-character lines, below 15 lines of args
    gui.sourceinf.param.update(width=DESCRIPTION_WIDTH, height=DESCRIPTION_HEIGHT)
    gui.plots.panel.param.watch(lambda event: _prepare_plots(gui.plots, event.new), "visible")
    if expand:
        gui.catsel.value = [cat.name]
    return gui


def browser(archive: str = "human"):
    """The cell browser (``browser_app.CellBrowser``) for a notebook: display what this returns.

    The same app as ``patchseq-intake gui`` serves: filter an archive's
    cells, open one, see its sweep table and sweeps.
    """
    require_gui()
    from .browser_app import CellBrowser

    return CellBrowser(archive).layout


def _hide_missing_images(layout) -> None:
    """Hide images whose file is missing: intake 2.0.9's wheel lacks the GUI's logo.

    Shown, the page would ask the server for the file by its path and get a 404.
    """
    import panel as pn

    for image in layout.select(pn.pane.PNG):
        if isinstance(image.object, str) and not Path(image.object).is_file():
            image.object = None
            image.visible = False


def _prepare_plots(plots, visible: bool) -> None:
    """Make the plot panel, just opened on a source, safe to use.

    intake leaves the plot selector's value at ``None`` (not the option
    ``"None"``), so that its "Create" button fails with a KeyError; and
    "Create" on an ephys source would have hvplot's explorer compute the whole
    Dask frame: download the NWB file of every selected cell (with the
    defaults, every cell of the archive). It stays disabled there.
    """
    from ..drivers.ephys import EphysSource

    if not visible or plots.select is None:
        return
    if plots.select.value is None and plots.select.options:
        plots.select.value = plots.select.options[0]
    if isinstance(plots.source, EphysSource):
        plots.custom.disabled = True


def serve(port: int = 0, address: str = "127.0.0.1", show: bool = False, threaded: bool = False):
    """Serve the GUI at ``http://<address>:<port>/``; ``port=0`` takes a free one.

    Each browser session gets its own GUI on a freshly opened catalog. With
    ``threaded`` this returns at once with panel's server thread (``.stop()``
    it; its ``port`` attribute is the port); otherwise it blocks until
    interrupted.
    """
    require_gui()
    port = port or free_port(address)
    return serve_app(lambda: build_gui().main, port, address, TITLE, show=show, threaded=threaded)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m patchseq_intake.gui", description="Serve intake's GUI on the Patch-seq catalog."
    )
    parser.add_argument("--port", type=port_number, default=5006, help="port (0: any free one); default 5006")
    parser.add_argument("--address", default="127.0.0.1", help="address to listen on; default 127.0.0.1")
    parser.add_argument("--show", action="store_true", help="open a browser tab on it")
    args = parser.parse_args(argv)
    try:
        require_gui()
    except PatchseqError as error:
        parser.exit(1, f"{parser.prog}: {error}\n")
    port = args.port or free_port(args.address)
    print(f"Serving the catalog GUI at http://{args.address}:{port}/ (Ctrl-C to stop)", flush=True)
    serve(port=port, address=args.address, show=args.show)
