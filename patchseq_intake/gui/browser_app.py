"""The cell browser: filter an archive's cells, open one, see its sweep table and its sweeps.

A panel app, one per browser session (``CellBrowser(...).layout``), so that
two tabs never share a selection. What it shows comes from
``browser_data``; nothing is fetched before it is needed: the page reads the
cached tables, a cell's sweep table is read when the cell is selected
(stream mode, or the cached file), one sweep's samples when the sweep is.
Loads run in a worker thread while the page stays usable; a newer selection
supersedes an older load. Errors show as a message in the page.

Text from the tables, the files and errors is shown as text, never as HTML:
escaped in the filters' choices (whose labels the page renders as HTML), in
the Markdown panes (``markdown_text``) and in the message; the tables'
cells are drawn by formatters that escape (bokeh's ``StringFormatter``,
Tabulator's ``plaintext``); plot titles and labels are drawn as text.
"""

from __future__ import annotations

import asyncio
import html
import re
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd

from ..catalog import open_catalog
from ..nwb.sweep import CURRENT_CLAMP, Sweep
from ..nwb.sweep_table import SWEEP_DTYPES
from ..tables.shipped import ARCHIVES, check_archive
from .browser_data import (
    CHOICE_FILTERS,
    RANGE_FILTERS,
    cell_links,
    cells_table,
    choices,
    filter_cells,
    long_squares,
    spans,
)

TITLE = "Patch-seq cells"
PLOTTED_POINTS = 20_000
"""A trace is drawn from at most this many points: each bin's lowest and highest sample (spikes stay)."""
SWEEP_COLUMNS = list(SWEEP_DTYPES)
"""The sweep table as ``ephys`` reads it: IPFX's columns, then ours."""
TABLE_PAGE = 15
ID_FORMATS = {column: {"type": "plaintext"} for column in ("cell_specimen_id", "donor_id")}
"""Ids as written, not as numbers with thousands separators."""


class CellBrowser:
    """The app for one browser session; ``layout`` is what panel shows.

    ``catalog``: default, the shipped one (``open_catalog()``); ``access``:
    how cells' NWB files are read (``stream``: a sweep table without
    downloading the file).
    """

    def __init__(self, archive: str = "human", catalog: Any = None, access: str = "stream"):
        import panel as pn

        check_archive(archive)
        self.catalog = catalog if catalog is not None else open_catalog()
        self.access = access
        self.cells = pd.DataFrame()
        self._read_cells: dict[str, pd.DataFrame] = {}  # by archive: switching back reads no table again
        self.sweep_table = pd.DataFrame()
        self.source: Any = None
        self.cell_id: int | None = None  # the cell opened, or being opened
        self._cell_load = 0  # the newest cell load: an older one's result is dropped
        self._sweep_load = 0  # the newest sweep load, likewise
        self._archive_load = 0  # the newest archive load, likewise
        self.shown_archive: str | None = None  # whose cells the table holds
        self._reverting = False  # the archive button is being set back: no load

        self.archive = pn.widgets.RadioButtonGroup(label="archive", options=list(ARCHIVES), value=archive)
        self.choice_widgets = {c: pn.widgets.MultiChoice(label=c, options=[], width=260) for c in CHOICE_FILTERS}
        self.range_widgets = {c: pn.widgets.RangeSlider(label=c, start=0, end=1, width=260) for c in RANGE_FILTERS}
        self.count = pn.pane.Markdown("", name="count")
        self.message = pn.pane.Alert("", alert_type="danger", visible=False, name="message")
        self.cell_table = pn.widgets.Tabulator(
            pd.DataFrame(), selectable=1, disabled=True, show_index=False, formatters=ID_FORMATS,
            pagination="local", page_size=TABLE_PAGE, sizing_mode="stretch_width",
        )
        self.cell_info = pn.pane.Markdown("Select a cell.", name="cell")
        self.sweep_widget = self._sweep_table_widget(_no_sweeps())
        self.sweep_area = pn.Column(self.sweep_widget, sizing_mode="stretch_width")
        self.overlay = pn.widgets.Checkbox(label="overlay the cell's long squares", value=False)
        self.plot = pn.pane.Bokeh(None, name="sweep plot", sizing_mode="stretch_width")
        # The spinner goes on a layout around the plot: on a Bokeh pane holding a figure, ``loading`` writes to
        # the Bokeh model outside the document's lock, which fails in a served page (panel 1.9).
        self.plot_area = pn.Column(self.plot, sizing_mode="stretch_width")
        self.summary = pn.pane.Bokeh(None, name="summary", sizing_mode="stretch_width")

        self.archive.param.watch(self._archive_chosen, "value")
        for widget in [*self.choice_widgets.values(), *self.range_widgets.values()]:
            widget.param.watch(lambda event: self.show_cells(), "value")
        self.cell_table.param.watch(lambda event: self._schedule(self.open_cell), "selection")
        self.overlay.param.watch(lambda event: self._schedule(self.open_sweep), "value")
        self.layout = pn.Row(
            pn.Column(f"## {TITLE}", self.archive, *self.choice_widgets.values(), *self.range_widgets.values(),
                      self.count, width=300),
            pn.Column(self.message, self.cell_table, self.summary, self.cell_info, self.sweep_area, self.overlay,
                      self.plot_area, sizing_mode="stretch_width"),
            sizing_mode="stretch_width",
        )
        pn.state.onload(lambda: self._schedule(self.load_archive))

    # --- loads: each in a worker thread, the page usable meanwhile ---------------------------------------

    async def load_archive(self) -> None:
        """The archive's cells (cached tables), the filters' choices and spans, the summary.

        If they cannot be read, the archive shown before stays, and so does
        the archive button.
        """
        self._archive_load += 1
        load, archive = self._archive_load, self.archive.value
        self.message.visible = False
        self.cell_table.loading = True
        try:
            cells = self._read_cells.get(archive)
            if cells is None:
                cells = self._read_cells[archive] = await asyncio.to_thread(cells_table, self.catalog, archive)
        except Exception:
            if load != self._archive_load:
                return  # superseded: its error is no longer the page's
            if self.shown_archive is not None:
                self._reverting = True
                try:
                    self.archive.value = self.shown_archive
                finally:
                    self._reverting = False
            raise
        finally:
            if load == self._archive_load:
                self.cell_table.loading = False
        if load != self._archive_load:
            return  # another archive was chosen meanwhile
        self._cell_load += 1  # a cell of the other archive, still loading, is not shown
        self._sweep_load += 1
        self.cells, self.shown_archive = cells, archive
        for column, options in choices(cells).items():  # label -> value: the page renders labels as HTML
            self.choice_widgets[column].param.update(options={html.escape(v): v for v in options}, value=[])
        found = spans(cells)
        for column, widget in self.range_widgets.items():
            low, high = found.get(column, (0.0, 0.0))
            widget.visible = high > low  # nothing to choose between otherwise
            if high > low:
                widget.param.update(start=low, end=high, value=(low, high), step=(high - low) / 100)
        self._forget_cell()
        self.show_cells()

    async def open_cell(self) -> None:
        """The selected cell: its metadata, links and sweep table."""
        rows = self.cell_table.selection
        if not rows:
            return
        row = self.cell_table.value.iloc[rows[0]]
        specimen_id = int(row["cell_specimen_id"])
        if specimen_id == self.cell_id:
            return  # the same cell, selected again as the filters changed
        load = self._begin_cell()
        self.cell_id = specimen_id
        self.cell_info.object = f"### Cell {specimen_id}\nReading its sweep table ..."
        self.sweep_area.loading = True
        try:
            source = self.catalog[self.shown_archive].ephys(specimen_id=specimen_id, access=self.access)
            table, file = await asyncio.to_thread(_sweep_table_and_file, source)
        except Exception:
            if load != self._cell_load:
                return  # superseded: its error is no longer the page's
            self.cell_id = None  # selecting it again tries again
            self.cell_info.object = f"### Cell {specimen_id}\nIts sweep table could not be read."
            raise
        finally:
            if load == self._cell_load:
                self.sweep_area.loading = False
        if load != self._cell_load:
            return
        self.source, self.sweep_table = source, table
        self.cell_info.object = _describe_cell(row, source, file)
        self._show_sweep_table(table[SWEEP_COLUMNS])

    async def open_sweep(self) -> None:
        """The selected sweep, drawn; with the overlay on, the cell's long squares too."""
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
        except Exception:
            if load != self._sweep_load:
                return  # superseded: its error is no longer the page's
            raise
        finally:
            if load == self._sweep_load:
                self.plot_area.loading = False
        if load == self._sweep_load:
            self.plot.object = sweep_figure(sweeps[0], sweeps[1:])

    def _archive_chosen(self, event: Any) -> None:
        if not self._reverting:
            self._schedule(self.load_archive)

    # --- what needs no load -------------------------------------------------------------------------------

    def show_cells(self) -> None:
        """The cells the filters keep, their count and the summary plots."""
        if self.cells.empty:
            return
        chosen = {column: widget.value for column, widget in self.choice_widgets.items()}
        ranges = {column: tuple(widget.value) for column, widget in self.range_widgets.items() if widget.visible}
        shown = filter_cells(self.cells, chosen, ranges)
        shown = shown.reset_index(drop=True)
        self.cell_table.value = shown
        # The selection is a row number: keep it on the cell opened, wherever the cell's row now is.
        where = shown.index[shown["cell_specimen_id"] == self.cell_id]
        self.cell_table.selection = [int(where[0])] if len(where) else []
        self.count.object = f"**{len(shown)}** of {len(self.cells)} {self.shown_archive} cells"
        self.summary.object = summary_figure(shown)

    def _sweep_table_widget(self, table: pd.DataFrame) -> Any:
        import panel as pn

        widget = pn.widgets.Tabulator(
            table, selectable=1, disabled=True, show_index=False, frozen_columns=["sweep_number"],
            pagination="local", page_size=TABLE_PAGE, sizing_mode="stretch_width",
        )
        widget.param.watch(lambda event: self._schedule(self.open_sweep), "selection")
        return widget

    def _show_sweep_table(self, table: pd.DataFrame) -> None:
        """A new widget for each cell's sweep table.

        Replacing a Tabulator's rows while the browser still draws the
        previous ones can leave it ignoring clicks (seen with panel 1.9 on a
        loaded machine); a widget drawn once with its rows does not.
        """
        self.sweep_widget = self._sweep_table_widget(table)
        self.sweep_area.objects = [self.sweep_widget]

    def _begin_cell(self) -> int:
        """A new cell load: the previous cell's sweeps go (they cannot be chosen meanwhile), older loads are dropped."""
        self._cell_load += 1
        self._begin_sweep()
        self._forget_cell()
        return self._cell_load

    def _begin_sweep(self) -> int:
        self._sweep_load += 1
        self.message.visible = False
        return self._sweep_load

    def _forget_cell(self) -> None:
        self.source, self.sweep_table, self.cell_id = None, pd.DataFrame(), None
        self.sweep_area.loading = self.plot_area.loading = False  # a load it replaces may have left them on
        self._show_sweep_table(_no_sweeps())
        self.cell_info.object = "Select a cell."
        self.plot.object = None

    def _schedule(self, load: Callable[[], Any]) -> None:
        """Run ``load`` on the session's event loop; an error becomes the page's message."""
        import panel as pn

        async def run() -> None:
            try:
                await load()
            except Exception as exc:  # shown, not raised: the page keeps working
                self.message.object = markdown_text(f"{type(exc).__name__}: {exc}")
                self.message.visible = True

        pn.state.execute(run)


def _no_sweeps() -> pd.DataFrame:
    """The sweep table before a cell is open: its columns, no rows."""
    return pd.DataFrame(columns=SWEEP_COLUMNS)


def _sweep_table_and_file(source: Any) -> tuple[pd.DataFrame, Any]:
    return source.read(), source.cells[0]


def _describe_cell(row: pd.Series, source: Any, file: Any) -> str:
    links = cell_links(source.dandi.dandiset, source.dandi.version, file.dandi_path, file.asset_id)
    facts = ", ".join(f"{name}: {row[name]}" for name in ("structure", "dendrite_type", "t_type", "age", "donor_id")
                      if pd.notna(row[name]))
    return (
        f"### Cell {int(row['cell_specimen_id'])}\n{markdown_text(facts)}\n\n"
        f"File: {markdown_text(links.dandi_path)} ({file.size / 1e6:.1f} MB) · "
        f"[DANDI](<{html.escape(links.dandi_page)}>) · [neurosift](<{html.escape(links.neurosift)}>)"
    )


_MARKDOWN_PUNCTUATION = re.compile(r"([\\`*_{}\[\]()#+\-.!|~:<>])")


def markdown_text(value: Any) -> str:
    """``value`` as text that a Markdown pane shows as written: on one line, HTML escaped, Markdown's marks
    backslashed (no heading, emphasis, link, autolink or raw HTML can come of it)."""
    one_line = " ".join(str(value).split())
    return _MARKDOWN_PUNCTUATION.sub(r"\\\1", html.escape(one_line, quote=False))


def sweep_figure(sweep: Sweep, overlaid: list[Sweep] = ()):
    """Command above response, in IPFX's units against time (s), sharing the time axis; zoomable.

    Current clamp: command ``i`` (pA), response ``v`` (mV); voltage clamp the
    other way round. ``overlaid`` sweeps are drawn faintly behind.
    """
    from bokeh.layouts import column
    from bokeh.plotting import figure

    current_clamp = sweep.clamp_mode == CURRENT_CLAMP
    command_label, response_label = ("Command (pA)", "Response (mV)") if current_clamp else (
        "Command (mV)", "Response (pA)")
    tools = "xpan,xwheel_zoom,box_zoom,reset,save"
    top = figure(height=180, sizing_mode="stretch_width", tools=tools, y_axis_label=command_label,
                 title=f"Sweep {sweep.sweep_number} · {sweep.stimulus_code} · {sweep.stimulus_name}")
    bottom = figure(height=320, sizing_mode="stretch_width", tools=tools, x_range=top.x_range,
                    x_axis_label="Time (s)", y_axis_label=response_label)
    top.title.name, top.yaxis.name, bottom.xaxis.name, bottom.yaxis.name = "title", "command", "time", "response"
    for other in overlaid:
        command, response = _traces(other)
        bottom.line(*_envelope(other.t, response), color="#999999", alpha=0.5, line_width=1)
        top.line(*_envelope(other.t, command), color="#999999", alpha=0.5, line_width=1)
    command, response = _traces(sweep)
    top.line(*_envelope(sweep.t, command), color="#1f77b4", line_width=1.5)
    bottom.line(*_envelope(sweep.t, response), color="#d62728", line_width=1.5)
    return column(top, bottom, sizing_mode="stretch_width")


def summary_figure(cells: pd.DataFrame):
    """The shown cells by structure, stacked by dendrite type, and their soma depths (a histogram).

    Depth is ``depth_from_pia_um`` (µm from pia) where the cells have it,
    else ``cell_soma_normalized_depth`` (0 at pia, 1 at white matter): the
    release's mouse table has only the latter.
    """
    from bokeh.layouts import row
    from bokeh.palettes import Category10
    from bokeh.plotting import figure

    counts = cells.fillna({"structure": "unknown", "dendrite_type": "unknown"}).pivot_table(
        index="structure", columns="dendrite_type", values="cell_specimen_id", aggfunc="count", fill_value=0)
    counts = counts.loc[counts.sum(axis=1).sort_values(ascending=False).index]
    structures, types = [str(s) for s in counts.index], [str(t) for t in counts.columns]
    bars = figure(x_range=structures or [""], height=260, width=min(max(420, 18 * len(structures)), 700),
                  title="Cells by structure and dendrite type", y_axis_label="cells", tools="")
    if types:
        data = {"structure": structures, **{t: counts[t].to_numpy() for t in counts.columns}}
        colors = Category10[10][: len(types)]
        bars.vbar_stack(types, x="structure", width=0.8, color=colors, source=data, legend_label=types)
        bars.legend.location = "top_right"
    bars.xaxis.major_label_orientation = 1.0
    histogram = figure(height=260, width=420, y_axis_label="cells", tools="")
    for column, label in (("depth_from_pia_um", "depth from pia (µm)"),
                          ("cell_soma_normalized_depth", "normalized soma depth (0 pia, 1 white matter)")):
        depths = cells[column].dropna().to_numpy(dtype=float)
        if len(depths):
            heights, edges = np.histogram(depths, bins=min(30, len(depths)))
            histogram.quad(top=heights, bottom=0, left=edges[:-1], right=edges[1:])
            histogram.title.text = f"Soma depth ({len(depths)} of {len(cells)} cells)"
            histogram.xaxis.axis_label = label
            break
    else:
        histogram.title.text = "Soma depth: none of these cells has one"
    return row(bars, histogram)


def _traces(sweep: Sweep) -> tuple[np.ndarray, np.ndarray]:
    """(command, response) of the sweep in its clamp mode."""
    return (sweep.i, sweep.v) if sweep.clamp_mode == CURRENT_CLAMP else (sweep.v, sweep.i)


def _envelope(t: np.ndarray, y: np.ndarray, points: int = PLOTTED_POINTS) -> tuple[np.ndarray, np.ndarray]:
    """``(t, y)`` with at most about ``points`` points: each bin's lowest, then highest sample, at the bin's start."""
    if len(y) <= points:
        return t, y
    bins = points // 2
    edges = np.linspace(0, len(y), bins + 1, dtype=int)
    low = np.minimum.reduceat(np.nan_to_num(y, nan=np.inf), edges[:-1])
    high = np.maximum.reduceat(np.nan_to_num(y, nan=-np.inf), edges[:-1])
    starts = t[edges[:-1]]
    times = np.repeat(starts, 2)
    values = np.column_stack([low, high]).ravel()
    values[~np.isfinite(values)] = np.nan
    return times, values
