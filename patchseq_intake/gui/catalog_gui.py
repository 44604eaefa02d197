"""Intake's panel GUI on the shipped catalog: in a notebook, or served on 127.0.0.1.

``build_gui()`` is intake's GUI (what ``cat.gui`` gives) on the root catalog,
with the root already selected, so that the tree shows ``human`` and
``mouse`` at once, and with these changes to intake 2.0.9's: each entry is
described as text (its description, then a table of its parameters: default,
allowed values, meaning) instead of a YAML dump of its definition; the plot
panel follows the entry selected (intake's keeps the previous entry's plot
until its button is clicked twice); no request for the logo its wheel lacks;
and a plot panel whose "Create" button works (tables) or is off (ephys,
where it would fetch every NWB file). In a notebook, show ``build_gui()``;
``serve()`` serves it, one fresh GUI per browser session::

    python -m patchseq_intake.gui --port 5006     # then open http://127.0.0.1:5006/
    python -m patchseq_intake.gui --demo          # on the offline demo's local replica

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
from .serving import ADDRESS, claim_port, port_number, require_gui, run_served, serve_app

TITLE = "Patch-seq catalog"
DESCRIPTION_WIDTH = 760  # pixels: the description's lines, and the parameters' table


def build_gui(cat: Any = None, expand: bool = True):
    """Intake's GUI (``intake.interface.gui.GUI``, with this module's changes) for ``cat`` (default: the shipped
    root catalog).

    With ``expand``, the root catalog is selected, so that its archives
    (``human``, ``mouse``) are listed in the tree under it. The selected
    entry's description is the Markdown pane ``gui.entry_text``.
    """
    require_gui()
    import panel as pn
    from intake.interface.gui import GUI

    class CatalogGui(GUI):
        """intake's GUI, describing entries as text and keeping the plot panel on the entry selected."""

        def __init__(self, cats: dict[str, Any]):
            self.entry_text = pn.pane.Markdown("Select a catalog, then one of its entries.", width=DESCRIPTION_WIDTH,
                                               name="description")
            super().__init__(cats)
            place = next(column for column in self.main.select(pn.Column) if self.sourceinf in column.objects)
            place.objects = [self.entry_text]  # intake's YAML editor stays, unshown: its value is still set
            self.plots.panel.param.watch(lambda event: _prepare_plots(self.plots, event.new), "visible")

        def source_selected(self, *events: Any) -> None:
            super().source_selected(*events)
            if not self.sources:
                return
            self.entry_text.object = describe_entry(self.sourcesel.value[0], self.sources[0])
            if self.plots.panel.visible and self.plots.source is not self.sources[0]:
                self.plots.source = self.sources[0]  # its plots, none drawn yet
                self.plots.select.value = "None"
                _prepare_plots(self.plots, True)

    cat = open_catalog() if cat is None else cat
    gui = CatalogGui({cat.name: cat})
    _hide_missing_images(gui.main)
    if expand:
        gui.catsel.value = [cat.name]
    return gui


def describe_entry(name: str, source: Any) -> str:
    """An entry as Markdown text: its name, its description, and a table of its parameters (name, default, allowed
    values, meaning) from its definition. Values are shown as text."""
    from .browser_app import markdown_text

    lines = [f"### {markdown_text(name)}", markdown_text(source.description or "")]
    entry = getattr(source, "entry", None)
    parameters = entry.describe().get("user_parameters", []) if entry is not None else []
    if parameters:
        lines += ["", "| parameter | default | meaning |", "|---|---|---|"]
        for parameter in parameters:
            default = parameter.get("default")
            shown = "none" if default in (None, "") else repr(default) if isinstance(default, (list, dict)) else default
            meaning = parameter.get("description", "")
            if parameter.get("allowed"):
                meaning += f" (one of: {', '.join(str(a) for a in parameter['allowed'])})"
            lines.append(f"| {markdown_text(parameter['name'])} | {markdown_text(shown)} | {markdown_text(meaning)} |")
    return "\n".join(lines)


def browser(archive: str = "human", cell: int | None = None):
    """The cell browser (``browser_app.CellBrowser``) for a notebook: display what this returns.

    The same app as ``patchseq-intake gui`` serves: find or filter an
    archive's cells, open one (``cell``: this ``cell_specimen_id`` at once),
    see its sweep table and sweeps.
    """
    require_gui()
    from .browser_app import CellBrowser

    return CellBrowser(archive, cell=cell).layout


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
    "Create" on an ephys or features source would have hvplot's explorer
    compute the whole Dask frame: download the NWB file of every selected
    cell (with the defaults, every cell of the archive), and run IPFX on each.
    It stays disabled there.
    """
    from ..drivers.cell_selection import CellSelection

    if not visible or plots.select is None:
        return
    if plots.select.value is None and plots.select.options:
        plots.select.value = plots.select.options[0]
    if isinstance(plots.source, CellSelection):
        plots.custom.disabled = True


def serve(port: int = 0, address: str = ADDRESS, show: bool = False, threaded: bool = False):
    """Serve the GUI at ``http://<address>:<port>/``; ``port=0`` takes a free one.

    Each browser session gets its own GUI on a freshly opened catalog.
    ``PortInUseError`` names a port that is taken. With ``threaded`` this
    returns at once with panel's server thread (``.stop()`` it; its ``port``
    attribute is the port); otherwise it blocks until interrupted.
    """
    require_gui()
    port = claim_port(port, address)
    return serve_app(lambda: build_gui().main, port, address, TITLE, show=show, threaded=threaded)


def main(argv: list[str] | None = None) -> None:
    """``python -m patchseq_intake.gui``: serve the GUI until Ctrl-C or SIGTERM, as ``patchseq-intake gui`` serves
    the cell browser (``serving.run_served``: the same checks and messages)."""
    parser = argparse.ArgumentParser(
        prog="python -m patchseq_intake.gui", description="Serve intake's GUI on the Patch-seq catalog."
    )
    parser.add_argument("--port", type=port_number, default=5006, help="port (0: any free one); default 5006")
    parser.add_argument("--address", default=ADDRESS, help=f"address to listen on; default {ADDRESS}")
    parser.add_argument("--show", action="store_true", help="open a browser tab on it")
    parser.add_argument("--demo", action="store_true", help="on the demo's local replica: no network needed")
    args = parser.parse_args(argv)
    try:
        run_served(lambda: build_gui().main, args.port, TITLE, what="catalog GUI", demo=args.demo,
                   address=args.address, show=args.show)
    except PatchseqError as error:
        parser.exit(1, f"{parser.prog}: {error}\n")
    except KeyboardInterrupt:
        parser.exit(130)
