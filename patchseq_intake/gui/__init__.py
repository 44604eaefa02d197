"""What people browse with: intake's GUI on the catalog, and the cell browser.

- ``catalog_gui``: intake's panel GUI on the shipped catalog (``build_gui``,
  ``serve``; ``python -m patchseq_intake.gui``);
- the cell browser: ``browser_data`` (its tables and links, no widgets),
  ``cell_modalities`` (a cell's shape, genes and IPFX features, no
  widgets), ``page_text`` (values and errors as text), ``browser_plots``
  (its bokeh figures), ``browser_app`` (the panel app, one per session),
  ``browser_modalities`` (its panes of a cell's shape and genes),
  ``browser_features`` (its pane of a cell's IPFX features),
  ``browser_server`` (serving it on 127.0.0.1, ``patchseq-intake gui``);
- ``serving``: a panel app served on a local address, one per session; both
  GUIs' commands served one way (``run_served``: the same checks, messages
  and ``--demo``).

May import the catalog, the drivers and everything below them, and
``testing`` (the demo's replica, for ``--demo``); nothing imports it but the
command line. Needs the ``gui`` extra (panel, hvplot).
"""

from .catalog_gui import browser, build_gui, serve

__all__ = ["browser", "build_gui", "serve"]
