"""The cell browser: find or filter an archive's cells, open one, see its sweep table and its sweeps, and beside
them its reconstruction, t-type and marker genes (``browser_modalities``) and its IPFX features
(``browser_features``). The archive is ``human``, ``mouse`` or any Allen Patch-seq dandiset since: there the
table is its recordings (its sessions table), and a recording opens to its sweep table, sweeps and features.

A panel app, one per browser session (``CellBrowser(...).layout``), so that
two tabs never share a selection. What it shows comes from
``browser_data``, its plots from ``browser_plots``; nothing is fetched before
it is needed: the page reads the cached tables, a cell's sweep table is read
when the cell is selected (stream mode, or the cached file), one sweep's
samples when the sweep is, its reconstruction with its sweep table (the
CPM matrix only where it is cached, or when asked; IPFX's features
likewise). Loads run in a worker thread while the page stays usable; a
newer selection supersedes an older load. An archive's error shows as a
message at the top (with what to try when the tables cannot be fetched), a
cell's or a sweep's in the cell's pane.

The widgets are made once per session and given new values, never replaced:
a bokeh model added to a served page is sent back in full with the browser's
first event on it (a click on a new table), which bokeh's server reports as
"reference already known".

Text from the tables, the files and errors is shown as text, never as HTML:
escaped in the filters' choices (whose labels the page renders as HTML), in
the Markdown panes (``markdown_text``) and in the messages; the tables'
cells are drawn by formatters that escape (bokeh's ``StringFormatter`` and
``NumberFormatter``, Tabulator's ``plaintext``); plot titles and labels are
drawn as text.
"""

from __future__ import annotations

import asyncio
import html
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

import pandas as pd

from .. import config
from ..catalog import open_catalog
from ..errors import FetchError, OfflineError
from ..nwb.sweep_table import SWEEP_DTYPES
from ..dandi.dandisets import registry
from .browser_data import (
    CHOICE_FILTERS,
    DECIMALS,
    LABELS,
    RANGE_FILTERS,
    SHOWN_CELL_COLUMNS,
    SHOWN_SESSION_COLUMNS,
    SHOWN_SWEEP_COLUMNS,
    archive_checked,
    by_recording,
    cell_links,
    cells_table,
    choices,
    donor_column,
    filter_cells,
    key_column,
    long_squares,
    range_columns,
    row_key,
    row_keys,
    row_title,
    selection,
    shown_columns,
    spans,
)
from .browser_features import FeaturesPane
from .browser_modalities import ModalityPanes
from .browser_plots import summary_figure, sweep_figure
from .page_text import error_text, markdown_text

TITLE = "Patch-seq cells"
SWEEP_COLUMNS = list(SWEEP_DTYPES)
"""The sweep table as ``ephys`` reads it: IPFX's columns, then ours."""
TABLE_PAGE = 15
ID_FORMATS = {column: {"type": "plaintext"} for column in ("cell_specimen_id", "donor_id", "ephys_session_id", "donor")}
"""Ids as written, not as numbers with thousands separators."""
NO_NETWORK_HINT = (
    "Without a network, `patchseq-intake gui --demo` serves the browser on the offline demo's local replica; "
    "`PATCHSEQ_INTAKE_TABLES` and `PATCHSEQ_INTAKE_DANDI_API` point the package at a mirror of the tables and of "
    "DANDI, and `PATCHSEQ_INTAKE_OFFLINE=1` reads only what is cached."
)
"""What to try when an archive's tables cannot be fetched (Markdown)."""
ARCHIVE_CHOICES = {f"{d.name} ({d.dandiset}{', 2020' if d.release_2020 else ''})": d.name for d in registry().values()}
"""The archive choice's labels (``human_l1 (000630)``) and values: the 2020 archives, then every dandiset since."""
CELL_FACTS = ("structure", "dendrite_type", "t_type", "age", "donor_id")
RECORDING_FACTS = ("donor", "species", "sex", "age_days", "version", "dandisets", "chosen_because", "other_copies")
"""The row's values a cell's (a recording's) pane names, where it has them."""


class CellBrowser:
    """The app for one browser session; ``layout`` is what panel shows.

    ``catalog``: default, the shipped one (``open_catalog()``); ``access``:
    how cells' NWB files are read (``stream``: a sweep table without
    downloading the file); ``cell``: a ``cell_specimen_id`` to open once the
    archive's cells are read (on a dandiset beyond 2020: an ``ephys_session_id``; one the archive lacks is said in
    the page). ``archive``: as ``browser_data.archive_checked`` takes it (``ValueError`` naming them).
    """

    def __init__(self, archive: str = "human", catalog: Any = None, access: str = "stream", cell: int | None = None):
        import panel as pn

        archive = archive_checked(archive)
        self.catalog = catalog if catalog is not None else open_catalog()
        self.access = access
        self.wanted = cell  # the cell to open once the cells are read
        self.cells = pd.DataFrame()
        self._read_cells: dict[str, pd.DataFrame] = {}  # by archive: switching back reads no table again
        self.sweep_table = pd.DataFrame()
        self.source: Any = None
        self.cell_id: int | str | None = None  # the cell (or recording: browser_data.row_key) opened, or being opened
        self._cell_load = 0  # the newest cell load: an older one's result is dropped
        self._sweep_load = 0  # the newest sweep load, likewise
        self._archive_load = 0  # the newest archive load, likewise
        self.shown_archive: str | None = None  # whose cells the table holds
        self._reverting = False  # the archive button is being set back: no load

        self.archive = pn.widgets.Select(label="archive", options=ARCHIVE_CHOICES, value=archive, width=260)
        self.search = pn.widgets.TextInput(label="find cells", placeholder="cell_specimen_id or donor", width=260)
        # Hidden until the cells are read: a slider with no values to span would read "0 .. 1".
        self.choice_widgets = {c: pn.widgets.MultiChoice(label=c, options=[], width=260, visible=False)
                               for c in CHOICE_FILTERS}
        self.range_widgets = {c: pn.widgets.RangeSlider(label=LABELS[c], start=0, end=1, width=260, visible=False)
                              for c in RANGE_FILTERS}
        self.count = pn.pane.Markdown("Reading the cells ...", name="count")
        self.cell_columns = pn.widgets.MultiChoice(label="cells table", options=[], width=260)
        self.sweep_columns = pn.widgets.MultiChoice(label="sweep table", options=SWEEP_COLUMNS, width=260,
                                                    value=shown_columns(_no_sweeps(), SHOWN_SWEEP_COLUMNS))
        self.message = pn.pane.Alert("", alert_type="danger", visible=False, name="message")
        self.cell_table = self._table(pd.DataFrame(), frozen_columns=["cell_specimen_id"])
        self.cell_info = pn.pane.Markdown("Select a cell.", name="cell")
        self.cell_error = pn.pane.Alert("", alert_type="danger", visible=False, name="cell message")
        self.sweep_widget = self._table(_no_sweeps(), frozen_columns=["sweep_number"])
        self.sweep_area = pn.Column(self.sweep_widget, sizing_mode="stretch_width")
        self.overlay = pn.widgets.Checkbox(label="overlay the cell's long squares", value=False)
        self.plot = pn.pane.Bokeh(None, name="sweep plot", sizing_mode="stretch_width")
        # The spinner goes on a layout around the plot: on a Bokeh pane holding a figure, ``loading`` writes to
        # the Bokeh model outside the document's lock, which fails in a served page (panel 1.9).
        self.plot_area = pn.Column(self.plot, sizing_mode="stretch_width")
        self.summary = pn.pane.Bokeh(None, name="summary", sizing_mode="stretch_width")
        self.modalities = ModalityPanes(self.catalog, self._schedule)
        self.features = FeaturesPane(self.catalog, access, self._schedule)
        self._hide_columns(self.sweep_widget, self.sweep_columns.value)

        self.archive.param.watch(self._archive_chosen, "value")
        self.search.param.watch(lambda event: self.show_cells(), "value_input")
        for widget in [*self.choice_widgets.values(), *self.range_widgets.values()]:
            widget.param.watch(lambda event: self.show_cells(), "value")
        self.cell_columns.param.watch(lambda event: self._hide_columns(self.cell_table, event.new), "value")
        self.sweep_columns.param.watch(lambda event: self._hide_columns(self.sweep_widget, event.new), "value")
        self.cell_table.param.watch(lambda event: self._schedule(self.open_cell, self.cell_error), "selection")
        self.sweep_widget.param.watch(lambda event: self._schedule(self.open_sweep, self.cell_error), "selection")
        self.overlay.param.watch(lambda event: self._schedule(self.open_sweep, self.cell_error), "value")
        columns = pn.Card(self.cell_columns, self.sweep_columns, title="Columns shown", collapsed=True, width=280)
        self.layout = pn.Row(
            pn.Column(f"## {TITLE}", self.archive, self.search, *self.choice_widgets.values(),
                      *self.range_widgets.values(), self.count, columns, width=300),
            pn.Column(self.message, self.cell_table, self.summary, self.cell_info, self.cell_error,
                      pn.Row(pn.Column(self.sweep_area, self.overlay, self.plot_area, sizing_mode="stretch_width"),
                             pn.Column(self.modalities.layout, self.features.layout, width=460),
                             sizing_mode="stretch_width"),
                      sizing_mode="stretch_width"),
            sizing_mode="stretch_width",
        )
        pn.state.onload(lambda: self._schedule(self.load_archive, self.message))

    # --- loads: each in a worker thread, the page usable meanwhile ---------------------------------------

    async def load_archive(self) -> None:
        """The archive's cells (cached tables), the filters' choices and spans, the summary; then the cell asked for.

        If they cannot be read, the archive shown before stays, and so does
        the archive button; with none shown before, the page says what failed
        and, for a fetch, what to try without a network.
        """
        self._archive_load += 1
        load, archive = self._archive_load, self.archive.value
        self.message.visible = False
        self.cell_table.loading = True
        try:
            cells = self._read_cells.get(archive)
            if cells is None:
                cells = self._read_cells[archive] = await asyncio.to_thread(cells_table, self.catalog, archive)
        except Exception as exc:
            if load != self._archive_load:
                return  # superseded: its error is no longer the page's
            if self.shown_archive is not None:
                self._reverting = True
                try:
                    self.archive.value = self.shown_archive
                finally:
                    self._reverting = False
            else:
                self.count.object = f"No cells: the {archive} tables could not be read."
            if isinstance(exc, (FetchError, OfflineError)):
                raise _Explained(f"{error_text(exc)}\n\n{NO_NETWORK_HINT}") from exc
            raise
        finally:
            if load == self._archive_load:
                self.cell_table.loading = False
        if load != self._archive_load:
            return  # another archive was chosen meanwhile
        self._cell_load += 1  # a cell of the other archive, still loading, is not shown
        self._sweep_load += 1
        self.cells, self.shown_archive = cells, archive
        offered = choices(cells)
        for column, widget in self.choice_widgets.items():  # label -> value: the page renders labels as HTML
            widget.param.update(options={html.escape(v): v for v in offered.get(column, [])}, value=[],
                                visible=column in offered)
        key = key_column(cells)
        self.cell_table.frozen_columns = [key]
        self.search.param.update(placeholder=f"{key} or {donor_column(cells)}", label=f"find {self._rows}")
        found, ranged = spans(cells), range_columns(cells)
        for column, widget in self.range_widgets.items():
            low, high = found.get(column, (0.0, 0.0))
            widget.visible = column in ranged and high > low  # nothing to choose between otherwise
            if widget.visible:
                widget.param.update(start=low, end=high, value=(low, high), step=(high - low) / 100,
                                    format=f"0.{'0' * max(DECIMALS.get(column, 2), 1)}")
        shown = SHOWN_SESSION_COLUMNS if by_recording(archive) else SHOWN_CELL_COLUMNS
        self.cell_columns.param.update(options=list(cells.columns), value=shown_columns(cells, shown))
        self._forget_cell()
        self.show_cells()
        if self.wanted is not None:
            await self._open_wanted()

    async def _open_wanted(self) -> None:
        """The cell asked for (``cell``): found by the search box and opened; one the archive lacks is said."""
        wanted, self.wanted = self.wanted, None
        if not (row_keys(self.cells) == wanted).any():
            what = "cell" if not by_recording(self.shown_archive) else "recording of session"
            self._show_error(self.cell_error, f"No {what} {wanted} in the {self.shown_archive} archive's "
                                              f"{len(self.cells)} {self._rows}.")
            return
        self.search.param.update(value=str(wanted), value_input=str(wanted))
        shown = self.cell_table.value
        await self.open_cell(shown[row_keys(shown) == wanted].iloc[0])
        self.show_cells()  # selected: the row of the cell opened

    async def open_cell(self, row: pd.Series | None = None) -> None:
        """The selected cell (or ``row``'s): its metadata, links and sweep table, and beside them its shape and genes
        (``browser_modalities``) and its cached features (``browser_features``), read at the same time; the sweep
        table's error in the cell's pane."""
        rows = self.cell_table.selection
        if row is None and not rows:
            return
        row = self.cell_table.value.iloc[rows[0]] if row is None else row
        key = row_key(row)
        if key == self.cell_id:
            return  # the same cell, selected again as the filters changed
        load = self._begin_cell()
        self.cell_id = key
        await asyncio.gather(self._open_sweep_table(load, row), self.modalities.open(row, self.shown_archive),
                             self.features.open(row, self.shown_archive))

    async def _open_sweep_table(self, load: int, row: pd.Series) -> None:
        """The cell's metadata, links and sweep table (cell load ``load``); its error raised."""
        title = markdown_text(row_title(row))
        self.cell_info.object = f"### {title}\nReading its sweep table ..."
        self.sweep_area.loading = True
        try:
            source = self.catalog[self.shown_archive].ephys(**selection(row), access=self.access)
            table, file = await asyncio.to_thread(_sweep_table_and_file, source)
        except Exception:
            if load != self._cell_load:
                return  # superseded: its error is no longer the page's
            self.cell_id = None  # selecting it again tries again
            self.cell_info.object = f"### {title}\nIts sweep table could not be read."
            raise
        finally:
            if load == self._cell_load:
                self.sweep_area.loading = False
        if load != self._cell_load:
            return
        self.source, self.sweep_table = source, table
        self.cell_info.object = _describe_cell(row, source, file)
        self.sweep_widget.param.update(value=table[SWEEP_COLUMNS], selection=[])

    async def open_sweep(self) -> None:
        """The selected sweep, drawn; with the overlay on, the cell's long squares too; an error in the cell's pane."""
        rows = self.sweep_widget.selection
        if not rows or self.source is None:
            return
        load = self._begin_sweep()
        number = int(self.sweep_widget.value.iloc[rows[0]]["sweep_number"])
        numbers = [number]
        if self.overlay.value:  # long squares are current clamp: overlaid only on a sweep of the same mode
            clamp_mode = self.sweep_table.loc[self.sweep_table["sweep_number"] == number, "clamp_mode"].iloc[0]
            numbers += [n for n in long_squares(self.sweep_table, clamp_mode) if n != number]
        self.plot_area.loading = True
        try:
            sweeps = await asyncio.to_thread(self.source.sweeps, numbers)
        except Exception as exc:
            if load != self._sweep_load:
                return  # superseded: its error is no longer the page's
            self.plot.object = None
            raise _Explained(f"Sweep {number} could not be read. {error_text(exc)}") from exc
        finally:
            if load == self._sweep_load:
                self.plot_area.loading = False
        if load == self._sweep_load:
            self.plot.object = sweep_figure(sweeps[0], sweeps[1:])

    def _archive_chosen(self, event: Any) -> None:
        if not self._reverting:
            self._schedule(self.load_archive, self.message)

    # --- what needs no load -------------------------------------------------------------------------------

    def show_cells(self) -> None:
        """The cells the search and the filters keep, their count and the summary plots."""
        if self.cells.empty:
            return
        chosen = {column: widget.value for column, widget in self.choice_widgets.items()}
        ranges = {column: tuple(widget.value) for column, widget in self.range_widgets.items() if widget.visible}
        shown = filter_cells(self.cells, chosen, ranges, self.search.value_input or "")
        shown = shown.reset_index(drop=True)
        self.cell_table.value = shown
        # The selection is a row number: keep it on the cell opened, wherever the cell's row now is.
        where = shown.index[row_keys(shown) == self.cell_id] if len(shown) else shown.index
        self.cell_table.selection = [int(where[0])] if len(where) else []
        self.count.object = f"**{len(shown)}** of {len(self.cells)} {self.shown_archive} {self._rows}"
        if shown.empty and (self.search.value_input or "").strip():
            self.count.object += (f": no {key_column(shown)} starts with {markdown_text(self.search.value_input)}, "
                                  f"and no {donor_column(shown)} holds it")
        self.summary.object = summary_figure(shown)

    @property
    def _rows(self) -> str:
        """What the rows of the archive shown are: ``cells``, or ``recordings`` (a dandiset beyond 2020)."""
        return "recordings" if self.shown_archive and by_recording(self.shown_archive) else "cells"

    def _table(self, table: pd.DataFrame, frozen_columns: list[str]) -> Any:
        """A table widget of the page: one row selectable, numbers rounded for display (``DECIMALS``), ids as text."""
        import panel as pn
        from bokeh.models import NumberFormatter

        rounded = {column: NumberFormatter(format=f"0.{'0' * decimals}" if decimals else "0", nan_format="",
                                           null_format="", text_align="right")
                   for column, decimals in DECIMALS.items()}
        return pn.widgets.Tabulator(
            table, selectable=1, disabled=True, show_index=False, formatters={**rounded, **ID_FORMATS},
            frozen_columns=frozen_columns, pagination="local", page_size=TABLE_PAGE, sizing_mode="stretch_width",
            layout="fit_columns",  # every column shown fits the page's width (1400 px: all of the defaults)
        )

    @staticmethod
    def _hide_columns(table: Any, shown: list[str]) -> None:
        table.hidden_columns = [column for column in table.value.columns if column not in shown]

    def _begin_cell(self) -> int:
        """A new cell load: the previous cell's sweeps go (they cannot be chosen meanwhile), older loads are dropped."""
        self._cell_load += 1
        self._begin_sweep()
        self._forget_cell()
        return self._cell_load

    def _begin_sweep(self) -> int:
        self._sweep_load += 1
        self.cell_error.visible = False
        return self._sweep_load

    def _forget_cell(self) -> None:
        self.source, self.sweep_table, self.cell_id = None, pd.DataFrame(), None
        self.sweep_area.loading = self.plot_area.loading = False  # a load it replaces may have left them on
        self.sweep_widget.param.update(value=_no_sweeps(), selection=[])
        self.cell_info.object = "Select a cell."
        self.cell_error.visible = False
        self.plot.object = None
        self.modalities.forget()
        self.features.forget()

    def _schedule(self, load: Callable[[], Any], where: Any) -> None:
        """Run ``load`` on the session's event loop; an error becomes the message ``where`` (an Alert)."""
        import panel as pn

        async def run() -> None:
            try:
                await load()
            except Exception as exc:  # shown, not raised: the page keeps working
                self._show_error(where, str(exc) if isinstance(exc, _Explained) else error_text(exc))

        pn.state.execute(run)

    @staticmethod
    def _show_error(where: Any, text: str) -> None:
        where.param.update(object=text, visible=True)


class _Explained(Exception):
    """An error already written for the page (Markdown, values escaped), what to try added."""


def _no_sweeps() -> pd.DataFrame:
    """The sweep table before a cell is open: its columns, no rows."""
    return pd.DataFrame(columns=SWEEP_COLUMNS)


def _sweep_table_and_file(source: Any) -> tuple[pd.DataFrame, Any]:
    return source.read(), source.cells[0]


def _describe_cell(row: pd.Series, source: Any, file: Any) -> str:
    """The cell's pane: its metadata, its file and links to it (see ``browser_data.CellLinks``)."""
    links = cell_links(source.dandi.dandiset, source.dandi.version, file.dandi_path, file.urls[0],
                       on_dandi=config.dandi_api() == config.DANDI_API)
    named = CELL_FACTS if "cell_specimen_id" in row.index else RECORDING_FACTS
    facts = ", ".join(f"{name}: {row[name]}" for name in named if name in row.index and pd.notna(row[name]))
    where = f"<{html.escape(links.file_url)}>"
    if links.on_dandi:
        elsewhere = (f"[download]({where}) · [DANDI](<{html.escape(links.dandi_page)}>) · "
                     f"[neurosift](<{html.escape(links.neurosift)}>)")
    else:
        server = markdown_text(urlsplit(links.file_url).netloc)
        elsewhere = (f"[download]({where}): the file shown, from {server} (not DANDI) · "
                     f"[DANDI](<{html.escape(links.dandi_page)}>): this path in the real archive, whose file is not "
                     "the one shown; neurosift opens only files on DANDI")
    return (
        f"### {markdown_text(row_title(row))}\n{markdown_text(facts)}\n\n"
        f"File: {markdown_text(links.dandi_path)} ({file.size / 1e6:.1f} MB) · {elsewhere}"
    )
