"""The cell browser's pane of a cell's IPFX features, beside its sweeps (one per browser session).

``FeaturesPane.open(row, archive)`` runs when ``browser_app.CellBrowser``
opens a cell, alongside its sweep table. Where the cache holds the cell's
features (``cell_modalities.cached_features``: no request, no computation)
a few of them show at once, with their units, and the row's ``error``. It
never computes by itself: otherwise the button "Compute IPFX features" has
the archive's ``features`` entry compute them (the cell's sweeps read, IPFX
run, the result cached), in a worker thread while the page stays usable,
the text saying for how long; then the values. Without IPFX the pane is one
line naming the ``features`` extra. A failure shows as text in the pane (the
row's ``error``, or why the computation stopped), never raised; where the
failure was not cached (the sweeps could not be read), the button offers to
try again. A newer cell drops an older cell's result.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pandas as pd

from ..features.ipfx_library import IpfxMissingError, ipfx_version
from .browser_data import row_key, selection
from .cell_modalities import (
    KEY_FEATURES,
    NOT_COMPUTED,
    cached_features,
    computed_features,
    feature_value,
    features_source,
)
from .page_text import error_text, markdown_text

HEADING = "**IPFX features**"
COMPUTE_LABEL = "Compute IPFX features"
PROGRESS_EVERY_S = 1.0
"""How often the text of a computation under way is renewed, in seconds."""


class FeaturesPane:
    """The features pane of one session; ``layout`` is what the page shows.

    ``catalog``: the session's catalog; ``access``: how the cell's file is
    read (the browser's: ``stream`` reads only the sweeps IPFX needs);
    ``schedule(load, where)``: the app's way to run a coroutine function on
    the session's event loop (errors that escape shown in the pane ``where``).
    """

    def __init__(self, catalog: Any, access: str, schedule: Any):
        import panel as pn

        self.catalog = catalog
        self.access = access
        self._schedule = schedule
        self._load = 0  # the newest cell's load: an older one's result is dropped
        self._source: Any = None  # the opened cell's features entry, once looked up
        self._archive = ""
        self._call = ""  # the opened row's features entry, as Python: cat.human.features(specimen_id=...)
        self.info = pn.pane.Markdown("", name="features")
        self.button = pn.widgets.Button(label=COMPUTE_LABEL, color="primary", visible=False)
        self.button.on_click(lambda event: self._schedule(self.compute, self.info))
        self.layout = pn.Column(self.info, self.button, width=460)

    def forget(self) -> None:
        """No cell: the pane empty, any load of an earlier cell dropped."""
        self._load += 1
        self._source = None
        self.info.object = ""
        self.button.visible = False

    async def open(self, row: pd.Series, archive: str) -> None:
        """The cell of ``row``: its cached features shown, or the button offered; IPFX missing said in one line."""
        self.forget()
        load, specimen_id, chosen = self._load, row_key(row), selection(row)
        self.info.object = f"{HEADING}\n\nLooking for the IPFX features of {specimen_id} in the cache ..."
        try:
            source, found = await asyncio.to_thread(_look_up, self.catalog, archive, chosen, self.access)
        except IpfxMissingError as exc:
            if load == self._load:
                self.info.object = f"{HEADING}: {markdown_text(exc)}"
            return
        except Exception as exc:  # shown in the pane, not raised: the page keeps working
            if load == self._load:
                self.info.object = f"{HEADING}\n\nThose of {specimen_id} cannot be looked up: {error_text(exc)}"
            return
        if load != self._load:
            return
        self._source, self._archive = source, archive
        self._call = f"cat.{archive}.features({', '.join(f'{name}={value!r}' for name, value in chosen.items())})"
        if found is None:
            self.info.object = (f"{HEADING}\n\nNot computed for {specimen_id} yet: computing reads its long squares, "
                                "short squares and ramps and runs IPFX on them, once (the result is cached).")
            self.button.visible = True
        else:
            self._show(found, "read from the cache")

    async def compute(self) -> None:
        """The opened cell's features computed by its ``features`` entry in a worker thread, then shown; the text
        renewed every ``PROGRESS_EVERY_S`` meanwhile. An error is shown in the pane."""
        if self._source is None:
            return
        load, source = self._load, self._source
        specimen_id = source.cells[0].key
        self.button.visible = False
        work = asyncio.ensure_future(asyncio.to_thread(computed_features, source))
        started = time.monotonic()
        while not work.done():
            if load == self._load:
                self.info.object = (f"{HEADING}\n\nComputing the IPFX features of {specimen_id} (reading its sweeps, "
                                    f"then IPFX), {time.monotonic() - started:.0f} s ...")
            await asyncio.wait({work}, timeout=PROGRESS_EVERY_S)
        try:
            found = work.result()
            kept = await asyncio.to_thread(cached_features, source) is not None
        except Exception as exc:
            if load == self._load:
                self.info.object = (f"{HEADING}\n\nThe features of {specimen_id} could not be computed: "
                                    f"{error_text(exc)}")
                self.button.visible = True  # pressing it again tries again
            return
        if load != self._load:
            return
        self._show(found, "computed and cached" if kept else "computed, not cached")
        # A failure to read the sweeps is not cached (nor is anything in ``local`` mode): pressing again tries again.
        self.button.visible = not kept and not pd.isna(found["error"])

    def _show(self, row: pd.Series, how: str) -> None:
        """The key features of ``row`` (a row of the ``features`` entry) with their units, and its ``error``;
        ``how``: where they come from."""
        specimen_id = self._source.cells[0].key
        lines = [f"{HEADING} of {markdown_text(specimen_id)} ({how}; IPFX {markdown_text(ipfx_version())})", ""]
        values = {feature: feature_value(row, feature) for feature in KEY_FEATURES}
        if set(values.values()) == {NOT_COMPUTED}:
            shown = ", ".join(feature.column for feature in KEY_FEATURES)
            lines.append(f"IPFX gave none of the features shown here ({markdown_text(shown)}).")
        else:
            lines += ["| feature | value | unit |", "|---|---:|---|"]
            lines += [f"| {markdown_text(f'{feature.label} ({feature.column})')} | {value} | "
                      f"{markdown_text(feature.unit)} |" for feature, value in values.items()]
        error = row.get("error")
        if error is not None and not pd.isna(error):
            lines += ["", f"**error**: {markdown_text(error)}"]
        lines += ["", f"All of its features: {markdown_text(self._call + '.read()')}"]
        self.info.object = "\n".join(lines)


def _look_up(catalog: Any, archive: str, chosen: dict[str, Any], access: str) -> tuple[Any, pd.Series | None]:
    """The cell's (or recording's: ``chosen``, ``browser_data.selection``) ``features`` entry and its cached row
    (None where not cached)."""
    source = features_source(catalog, archive, chosen, access)
    return source, cached_features(source)
