"""The cell browser's panes of a cell's shape and genes, beside its sweeps (one per browser session).

``ModalityPanes.open(row)`` runs when ``browser_app.CellBrowser`` opens a
cell, alongside its sweep table: the reconstruction (fetched once from BIL,
drawn by ``browser_plots.shape_figure``) and the t-type, with the marker
genes' CPM where the mouse CPM matrix's store is already cached. It never
fetches the matrix by itself: where the store is not cached, a button says
what pressing it downloads, and ``load_markers`` (the button) fetches and
converts it, once a session, with progress text, then shows the genes; a
cell opened meanwhile waits for that fetch instead of offering it again.
Each load runs in a worker thread; a newer cell drops an older load's
result. Errors show in the pane they belong to, as text (``markdown_text``).
A recording of a dandiset beyond 2020 has neither: the pane says that only
the 2020 archives have them.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pandas as pd

from ..dandi.dandisets import find
from .browser_data import T_TYPE, by_recording
from .browser_plots import shape_figure
from .cell_modalities import (
    MARKER_VALUES,
    MarkerMatrix,
    download_progress,
    megabytes,
    marker_matrix,
    marker_values,
    read_shape,
    soma_depth,
)
from .page_text import error_text, markdown_text

NO_RECONSTRUCTION = "no reconstruction in the release"
LOAD_LABEL = "Load marker genes (downloads the {size} CPM matrix once)"
"""The button's label; ``size``: the manifest's size of the matrix (866 MB for the release's)."""
PROGRESS_EVERY_S = 1.0
"""How often the progress text of the matrix's download is renewed, in seconds."""


class ModalityPanes:
    """The shape pane and the genes pane of one session; ``layout`` is what the page shows.

    ``catalog``: the session's catalog; ``schedule(load, where)``: the app's
    way to run a coroutine function on the session's event loop (errors
    that escape shown in the Alert ``where``).
    """

    def __init__(self, catalog: Any, schedule: Any):
        import panel as pn

        self.catalog = catalog
        self._schedule = schedule
        self._load = 0  # the newest cell's load: an older one's result is dropped
        self._row: pd.Series | None = None
        self._archive: str | None = None
        self.matrix: MarkerMatrix | None = None
        self._store: asyncio.Future | None = None  # the matrix's fetch, once started: kept across cells
        self._store_started = 0.0
        self.shape_info = pn.pane.Markdown("", name="shape")
        self.shape = pn.pane.Bokeh(None, name="reconstruction")
        self.shape_area = pn.Column(self.shape_info, self.shape, width=440)
        self.genes_info = pn.pane.Markdown("", name="genes")
        self.load_button = pn.widgets.Button(label="Load marker genes", color="primary", visible=False)
        self.load_button.on_click(lambda event: self._schedule(self.load_markers, self.alert))
        self.alert = pn.pane.Alert("", alert_type="danger", visible=False, name="modality message")
        self.layout = pn.Column(self.shape_area, self.genes_info, self.load_button, self.alert, width=460)

    def forget(self) -> None:
        """No cell: both panes empty, any load of an earlier cell dropped."""
        self._load += 1
        self._row = self._archive = self.matrix = None
        self.shape_info.object, self.shape.object, self.genes_info.object = "", None, ""
        self.load_button.visible = self.alert.visible = False
        self.shape_area.loading = False

    async def open(self, row: pd.Series, archive: str) -> None:
        """The cell of ``row`` (a row of ``browser_data.cells_table``): its t-type and genes, and its shape, read at
        the same time; each one's error shown in its pane."""
        self.forget()
        if by_recording(archive):
            self.shape_info.object = (f"No reconstruction or transcriptome: only the 2020 archives (human, mouse) have "
                                      f"them; {markdown_text(str(find(archive)))} has NWB files only.")
            return
        load, self._row, self._archive = self._load, row, archive
        specimen_id = int(row["cell_specimen_id"])
        self.genes_info.object = self._t_type_text(row) + "\n\nLooking for marker genes ..."
        self.shape_info.object = f"Reading the reconstruction of {specimen_id} ..."
        self.shape_area.loading = True
        await asyncio.gather(self._open_genes(load, row, archive), self._open_shape(load, row, archive))

    async def _open_shape(self, load: int, row: pd.Series, archive: str) -> None:
        specimen_id = int(row["cell_specimen_id"])
        try:
            shape = await asyncio.to_thread(read_shape, self.catalog, archive, specimen_id)
        except Exception as exc:  # shown in the pane, not raised: the page keeps working
            if load == self._load:
                self.shape_info.object = f"The reconstruction of {specimen_id} could not be read: {error_text(exc)}"
            return
        finally:
            if load == self._load:
                self.shape_area.loading = False
        if load != self._load:
            return
        if shape is None:
            self.shape_info.object = f"Cell {specimen_id}: {NO_RECONSTRUCTION}."
            return
        self.shape_info.object = ""
        self.shape.object = shape_figure(shape, soma_depth(row))

    async def _open_genes(self, load: int, row: pd.Series, archive: str) -> None:
        try:
            matrix = await asyncio.to_thread(marker_matrix, self.catalog, archive)
        except Exception as exc:
            if load == self._load:
                self.genes_info.object = f"{self._t_type_text(row)}\n\nNo marker genes: {error_text(exc)}"
            return
        if load != self._load:
            return
        self.matrix = matrix
        if matrix is None:
            self.genes_info.object = f"{self._t_type_text(row)}\n\nNo transcriptomes in the {archive} release."
        elif matrix.cached or self._fetching():  # being fetched (for another cell): this one waits for it too
            await self.load_markers()
        else:
            self.genes_info.object = (f"{self._t_type_text(row)}\n\nMarker genes: the CPM matrix "
                                      f"({megabytes(matrix.size)}) is not in the cache yet.")
            self.load_button.param.update(label=LOAD_LABEL.format(size=megabytes(matrix.size)), visible=True)

    async def load_markers(self) -> None:
        """The opened cell's marker genes (CPM); where the matrix's store is not cached, it is fetched and converted
        first (``_fetch_store``)."""
        if self._row is None or self.matrix is None:
            return
        load, row, archive, matrix = self._load, self._row, self._archive, self.matrix
        specimen_id = int(row["cell_specimen_id"])
        self.load_button.visible = self.alert.visible = False
        try:
            if not matrix.cached:
                await self._fetch_store(load, row, matrix)
            values = await asyncio.to_thread(marker_values, matrix, self.catalog, archive, specimen_id)
        except Exception as exc:
            if load == self._load:
                self.genes_info.object = f"{self._t_type_text(row)}\n\nNo marker genes: {error_text(exc)}"
                self.load_button.visible = not matrix.cached  # pressing it again tries again
            return
        if load != self._load:
            return
        self.matrix = MarkerMatrix(matrix.source, matrix.size, cached=True)
        if values is None:
            text = f"the {MARKER_VALUES.upper()} matrix has no sample of this cell."
        elif values.empty:
            text = "none of the marker genes is in the matrix."
        else:
            text = "\n\n| gene | CPM |\n|---|---:|\n" + "\n".join(
                f"| {markdown_text(gene)} | {value:.1f} |" for gene, value in values.items())
        self.genes_info.object = f"{self._t_type_text(row)}\n\nMarker genes ({MARKER_VALUES.upper()}): {text}"

    async def _fetch_store(self, load: int, row: pd.Series, matrix: MarkerMatrix) -> None:
        """The matrix's store fetched and converted in a worker thread, once a session: a cell opened meanwhile
        waits for the same fetch (a failed one is started again); the progress renewed every ``PROGRESS_EVERY_S``
        while ``load`` is the newest. Its error raised."""
        if self._store is None or (self._store.done() and not self._store.cancelled() and self._store.exception()):
            self._store = asyncio.ensure_future(asyncio.to_thread(matrix.source.matrix))
            self._store_started = time.monotonic()
        while not self._store.done():
            if load == self._load:
                self.genes_info.object = (
                    f"{self._t_type_text(row)}\n\nLoading marker genes: fetching the CPM matrix once "
                    f"({download_progress(matrix.size)}; then converted once), "
                    f"{time.monotonic() - self._store_started:.0f} s ...")
            await asyncio.wait({self._store}, timeout=PROGRESS_EVERY_S)
        self._store.result()

    def _fetching(self) -> bool:
        """Whether the matrix's store is being fetched for this session."""
        return self._store is not None and not self._store.done()

    @staticmethod
    def _t_type_text(row: pd.Series) -> str:
        t_type = row.get(T_TYPE)
        return f"**t-type**: {markdown_text(t_type) if t_type is not None and pd.notna(t_type) else 'not given'}"
