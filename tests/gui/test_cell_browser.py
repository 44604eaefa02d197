"""The cell browser: its tables, links and plots, and the app driven in Python.

Everything runs against the demo world's replica on 127.0.0.1 (real cells
with synthetic NWB files). The served browser and its walk in Chromium:
test_browser_serving.py.
"""

from __future__ import annotations

import asyncio

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("panel", reason="the browser needs panel: pip install 'patchseq-intake[gui]'")

from patchseq_intake.gui.browser_app import CellBrowser  # noqa: E402
from patchseq_intake.gui.browser_data import (  # noqa: E402
    cell_links,
    cells_table,
    choices,
    depth_bins,
    filter_cells,
    long_squares,
    range_columns,
    search_cells,
    spans,
)
from patchseq_intake.gui.browser_plots import _envelope, summary_figure, sweep_figure  # noqa: E402
from patchseq_intake.nwb.sweep import Sweep  # noqa: E402
from patchseq_intake.nwb.sweep_table import SWEEP_DTYPES  # noqa: E402
from patchseq_intake.testing.world import DEMO_CELLS  # noqa: E402

MOUSE_CELLS = sorted(plan.specimen_id for plan in DEMO_CELLS if plan.archive == "mouse")


# --- the data ----------------------------------------------------------------------------------------------


def test_the_cells_table_joins_metadata_and_dandis_files(cat, world):
    cells = cells_table(cat, "mouse")
    files = cat.mouse.nwb_files.read().set_index("cell_specimen_id")["size"]
    assert sorted(cells["cell_specimen_id"]) == MOUSE_CELLS
    assert cells["has_nwb_file"].all()
    sizes = cells.set_index("cell_specimen_id")["nwb_size_mb"]
    assert np.allclose(sizes.loc[files.index], files / 1e6)
    assert "t_type" in cells and cells["t_type"].notna().any()
    assert world.replica.requests("blob") == []  # no NWB byte


def test_an_unknown_archive_names_the_archives(cat):
    with pytest.raises(ValueError, match="no archive 'rat': the archives are human, mouse"):
        cells_table(cat, "rat")


def test_cells_are_selected_by_choices_and_ranges():
    cells = pd.DataFrame({
        "cell_specimen_id": [1, 2, 3, 4],
        "structure": ["VISp5", "VISp5", "VISp4", "VISp4"],
        "dendrite_type": ["spiny", "aspiny", "spiny", "spiny"],
        "t_type": ["a", "b", None, "a"],
        "depth_from_pia_um": [100.0, 200.0, np.nan, 400.0],
        "cell_soma_normalized_depth": [0.1, 0.2, 0.3, 0.4],
        "age_days": [50.0, 60.0, 70.0, 80.0],
        "donor_id": ["H16.03.007", "H17.06.009", "H16.03.007", "H18.28.015"],
    })
    whole = spans(cells)
    assert whole["depth_from_pia_um"] == (100.0, 400.0) and choices(cells)["t_type"] == ["a", "b"]
    picked = filter_cells(cells, {"structure": ["VISp5"], "dendrite_type": []}, whole)
    assert list(picked["cell_specimen_id"]) == [1, 2]
    narrowed = filter_cells(cells, {}, {**whole, "depth_from_pia_um": (150.0, 400.0)})
    assert list(narrowed["cell_specimen_id"]) == [2, 4]  # the cell of no depth goes once the range narrows
    assert list(filter_cells(cells, {}, whole)["cell_specimen_id"]) == [1, 2, 3, 4]


BLOB = "https://dandiarchive.s3.amazonaws.com/blobs/2a3/b4c/2a3b4c5d-0000-4000-8000-000000000000"


def test_a_search_finds_cells_by_id_or_donor():
    cells = pd.DataFrame({"cell_specimen_id": [541549258, 601790961, 601808698],
                          "donor_id": ["H16.03.007", "H17.06.009", "h16.03.007"]})
    assert list(search_cells(cells, "  ")) == [True, True, True]
    assert list(search_cells(cells, "601")) == [False, True, True]  # an id's start
    assert list(search_cells(cells, "h16.03")) == [True, False, True]  # a donor, either case
    assert list(search_cells(cells, "541549258, 601808698")) == [True, False, True]  # any of several
    assert list(filter_cells(cells, {}, {}, "601790961")["cell_specimen_id"]) == [601790961]


def test_identical_depths_make_one_bin_wide_bar_on_an_axis_from_the_pia():
    cells = pd.DataFrame({"cell_specimen_id": [1, 2, 3], "structure": ["VISp5"] * 3, "dendrite_type": ["spiny"] * 3,
                          "depth_from_pia_um": [np.nan] * 3, "cell_soma_normalized_depth": [0.42] * 3})
    _, histogram = summary_figure(cells).children
    bars = histogram.renderers[0].data_source.data
    tall = [i for i, top in enumerate(bars["top"]) if top]
    assert len(tall) == 1 and bars["top"][tall[0]] == 3
    assert np.isclose(bars["right"][tall[0]] - bars["left"][tall[0]], 0.05)  # one bin, not the axis
    assert bars["left"][tall[0]] <= 0.42 <= bars["right"][tall[0]]
    assert (histogram.x_range.start, histogram.x_range.end) == (0.0, 1.0)  # pia to white matter
    edges, span = depth_bins(np.array([350.0, 350.0]), "depth_from_pia_um")
    assert np.allclose(edges, [0.0, 50.0, 100.0, 150.0, 200.0, 250.0, 300.0, 350.0]) and span == (0.0, 350.0)
    edges, _ = depth_bins(np.array([351.0]), "depth_from_pia_um")
    assert edges[-2] <= 351.0 <= edges[-1] and edges[-1] - edges[-2] == 50.0


def test_human_ages_are_filtered_in_years_mouse_ages_in_days(cat, world):
    human, mouse = cells_table(cat, "human"), cells_table(cat, "mouse")
    assert np.allclose(human["age_years"], human["age_days"] / 365.25)  # "28 yrs": 28 x 365.25 days
    assert range_columns(human)[-1] == "age_years"
    assert "age_years" not in mouse and range_columns(mouse)[-1] == "age_days"
    browser = CellBrowser("human")
    asyncio.run(browser.load_archive())
    years = browser.range_widgets["age_years"]
    assert years.visible and not browser.range_widgets["age_days"].visible and years.label == "age (years)"
    assert (years.start, years.end) == (human["age_years"].min(), human["age_years"].max())
    assert years.end < 120  # years, not days
    browser.archive.value = "mouse"
    assert browser.range_widgets["age_days"].visible and not browser.range_widgets["age_years"].visible


def test_a_cells_links_go_by_path_and_by_the_bytes_url_not_by_an_asset_id():
    links = cell_links("000020", "0.210913.1639", "sub-599387254/sub-599387254_ses-601506492_icephys.nwb", BLOB,
                       on_dandi=True)
    assert links.dandi_page == "https://dandiarchive.org/dandiset/000020/0.210913.1639/files?location=sub-599387254"
    assert links.file_url == BLOB
    assert links.neurosift == (
        "https://neurosift.app/nwb?url=https%3A%2F%2Fdandiarchive.s3.amazonaws.com%2Fblobs%2F2a3%2Fb4c%2F"
        "2a3b4c5d-0000-4000-8000-000000000000&dandisetId=000020&dandisetVersion=0.210913.1639"
    )
    elsewhere = cell_links("000020", "0.210913.1639", "sub-1/sub-1_ses-2_icephys.nwb", "http://127.0.0.1:1/s3/b",
                           on_dandi=False)
    assert elsewhere.neurosift is None and elsewhere.file_url == "http://127.0.0.1:1/s3/b"


def test_in_the_demo_a_cells_links_are_the_files_shown_or_say_they_are_the_real_archives(world):
    browser = CellBrowser("mouse")
    asyncio.run(browser.load_archive())
    browser.cell_table.selection = [0]
    shown = browser.cell_info.object
    blob = browser.source.cells[0].urls[0]
    assert blob.startswith(world.replica.api_url.split("/api")[0])  # the replica's bytes: the file shown
    assert f"[download](<{blob}>): the file shown, from 127\\.0\\.0\\.1" in shown
    assert "this path in the real archive, whose file is not the one shown" in shown
    assert "neurosift.app" not in shown and browser.source.cells[0].asset_id not in shown


def test_long_squares_are_chosen_by_ipfxs_name_and_clamp_mode():
    table = pd.DataFrame({
        "sweep_number": [1, 4, 5, 9, 11],
        "stimulus_name": ["Test", "Long Square", "Ramp", "Long Square", "Long Square"],
        "clamp_mode": ["CurrentClamp", "CurrentClamp", "CurrentClamp", "CurrentClamp", "VoltageClamp"],
    })
    assert long_squares(table, "CurrentClamp") == [4, 9] and long_squares(table, "VoltageClamp") == [11]


def test_the_summary_falls_back_to_normalized_depth_and_says_when_there_is_none():
    cells = pd.DataFrame({
        "cell_specimen_id": [1, 2, 3], "structure": ["VISp5", "VISp5", "VISp4"],
        "dendrite_type": ["aspiny", "spiny", "aspiny"],
        "depth_from_pia_um": [np.nan] * 3, "cell_soma_normalized_depth": [0.4, 0.5, np.nan],
    })
    bars, histogram = summary_figure(cells).children
    assert list(bars.x_range.factors) == ["VISp5", "VISp4"]  # most cells first
    assert sorted(r.name for r in bars.renderers) == ["aspiny", "spiny"]  # stacked by dendrite type
    assert histogram.xaxis[0].axis_label.startswith("normalized soma depth")
    assert histogram.title.text == "Soma depth (2 of 3 cells)"
    _, histogram = summary_figure(cells.assign(cell_soma_normalized_depth=np.nan)).children
    assert histogram.title.text == "Soma depth: none of these cells has one" and histogram.renderers == []


def test_a_long_trace_is_drawn_from_each_bins_extremes():
    t = np.arange(1_000_000) / 50_000.0
    y = np.zeros(1_000_000)
    y[123_456] = 40.0  # one spike sample
    y[654_321] = -90.0
    times, values = _envelope(t, y, points=2_000)
    assert len(values) <= 2_000 and values.max() == 40.0 and values.min() == -90.0
    assert np.all(np.diff(times) >= 0)


@pytest.mark.parametrize("clamp_mode", ["CurrentClamp", "VoltageClamp"])
def test_the_sweep_figure_names_its_axes_in_ipfx_units(clamp_mode):
    t = np.arange(100) / 1e4
    sweep = Sweep(t=t, v=np.sin(t), i=np.cos(t), sampling_rate=1e4, sweep_number=7, stimulus_code="X1PS_SubThresh",
                  stimulus_name="Long Square", clamp_mode=clamp_mode)
    figure = sweep_figure(sweep)
    top, bottom = figure.children
    assert top.title.text == "Sweep 7 · X1PS_SubThresh · Long Square"
    units = ("pA", "mV") if clamp_mode == "CurrentClamp" else ("mV", "pA")
    assert (top.yaxis[0].axis_label, bottom.yaxis[0].axis_label) == (f"Command ({units[0]})", f"Response ({units[1]})")
    assert bottom.xaxis[0].axis_label == "Time (s)" and bottom.x_range is top.x_range


# --- the app, driven in Python -------------------------------------------------------------------------


def test_the_app_reads_nothing_of_a_file_until_a_cell_is_chosen(world):
    browser = CellBrowser("mouse")
    asyncio.run(browser.load_archive())
    assert browser.count.object == f"**{len(MOUSE_CELLS)}** of {len(MOUSE_CELLS)} mouse cells"
    assert world.replica.requests("blob") == []
    browser.choice_widgets["structure"].value = ["VISp5"]
    shown = browser.cell_table.value
    assert set(shown["structure"]) == {"VISp5"} and browser.count.object.startswith(f"**{len(shown)}**")
    browser.cell_table.selection = [0]
    specimen_id = int(shown.iloc[0]["cell_specimen_id"])
    assert world.replica.requests("blob")  # now the file is read
    assert f"### Cell {specimen_id}" in browser.cell_info.object
    expected = browser.catalog.mouse.ephys(specimen_id=specimen_id).read()
    pd.testing.assert_frame_equal(browser.sweep_widget.value, expected[list(SWEEP_DTYPES)])  # IPFX's columns, ours
    browser.sweep_widget.selection = [3]
    number = int(browser.sweep_widget.value.iloc[3]["sweep_number"])
    assert browser.plot.object.children[0].title.text.startswith(f"Sweep {number} · ")


def test_two_sessions_do_not_share_a_selection(world):
    first, second = CellBrowser("mouse"), CellBrowser("mouse")
    asyncio.run(first.load_archive())
    asyncio.run(second.load_archive())
    first.choice_widgets["structure"].value = ["VISp5"]
    first.cell_table.selection = [0]
    assert len(second.cell_table.value) == len(MOUSE_CELLS) and second.cell_table.selection == []
    assert second.source is None and second.sweep_widget.value.empty


def test_the_selection_stays_on_the_opened_cell_as_the_filters_change(world):
    browser = CellBrowser("mouse")
    asyncio.run(browser.load_archive())
    browser.choice_widgets["structure"].value = ["VISp5"]
    browser.cell_table.selection = [0]
    opened = browser.cell_id
    blob_requests = len(world.replica.requests("blob"))
    browser.choice_widgets["structure"].value = []  # every cell again: the opened one is on another row
    shown = browser.cell_table.value
    assert [int(shown.iloc[row]["cell_specimen_id"]) for row in browser.cell_table.selection] == [opened]
    assert len(world.replica.requests("blob")) == blob_requests  # and it is not read again
    browser.choice_widgets["structure"].value = ["VISp2/3"]  # filtered out: nothing selected, the cell stays shown
    assert browser.cell_table.selection == [] and f"### Cell {opened}" in browser.cell_info.object


def test_opening_a_cell_drops_the_previous_cells_sweeps(world):
    browser = CellBrowser("mouse")
    asyncio.run(browser.load_archive())
    browser.cell_table.selection = [0]
    browser.sweep_widget.selection = [3]
    assert browser.plot.object is not None
    first_cell = browser.cell_id
    browser.cell_table.selection = [1]
    assert browser.cell_id != first_cell and f"### Cell {browser.cell_id}" in browser.cell_info.object
    assert browser.sweep_widget.selection == [] and browser.plot.object is None  # no sweep of the first cell stays
    assert list(browser.sweep_widget.value.columns) == list(SWEEP_DTYPES)


def test_switching_archive_switches_the_table_and_forgets_the_cell(world):
    browser = CellBrowser("mouse")
    asyncio.run(browser.load_archive())
    browser.cell_table.selection = [0]
    assert browser.cell_id is not None
    browser.archive.value = "human"
    human = sorted(plan.specimen_id for plan in DEMO_CELLS if plan.archive == "human")
    assert sorted(browser.cell_table.value["cell_specimen_id"]) == human
    assert browser.count.object == f"**{len(human)}** of {len(human)} human cells"
    assert browser.cell_id is None and browser.sweep_widget.value.empty and not browser.sweep_area.loading
    browser.cell_table.selection = [0]  # a human cell opens from the human archive
    assert f"### Cell {human[0]}" in browser.cell_info.object or f"### Cell {human[1]}" in browser.cell_info.object
    assert len(browser.sweep_widget.value) > 0


def test_switching_back_reads_no_table_again(world, monkeypatch):
    from patchseq_intake.gui import browser_app

    reads = []
    read = browser_app.cells_table
    monkeypatch.setattr(browser_app, "cells_table", lambda catalog, archive: reads.append(archive) or read(catalog, archive))
    browser = CellBrowser("mouse")
    asyncio.run(browser.load_archive())
    browser.archive.value = "human"
    browser.archive.value = "mouse"
    assert reads == ["mouse", "human"] and sorted(browser.cell_table.value["cell_specimen_id"]) == MOUSE_CELLS


def test_an_archive_that_cannot_be_read_leaves_the_shown_one(world):
    browser = CellBrowser("mouse")
    asyncio.run(browser.load_archive())
    world.stop()  # the human tables were never fetched into this test's cache
    browser.archive.value = "human"
    assert browser.message.visible and "human" in browser.message.object
    assert browser.archive.value == "mouse" and browser.shown_archive == "mouse"
    assert sorted(browser.cell_table.value["cell_specimen_id"]) == MOUSE_CELLS


def test_an_archive_load_overtaken_by_another_keeps_its_error_to_itself(world, monkeypatch):
    from patchseq_intake.gui import browser_app

    browser = CellBrowser("mouse")
    asyncio.run(browser.load_archive())
    read = browser_app.cells_table

    def slow_human(catalog, archive):
        if archive == "human":
            browser.archive.value = "mouse"  # the user goes back before the human tables fail
            raise OSError("cannot read human")
        return read(catalog, archive)

    monkeypatch.setattr(browser_app, "cells_table", slow_human)
    browser.archive.value = "human"
    assert not browser.message.visible and browser.shown_archive == "mouse" and browser.archive.value == "mouse"
    assert sorted(browser.cell_table.value["cell_specimen_id"]) == MOUSE_CELLS


def test_the_overlay_adds_the_long_squares_of_the_sweeps_clamp_mode(world):
    browser = CellBrowser("mouse")
    asyncio.run(browser.load_archive())
    browser.cell_table.selection = [0]
    table = browser.sweep_widget.value
    squares = list(table.index[(table["stimulus_name"] == "Long Square") & (table["clamp_mode"] == "CurrentClamp")])
    voltage_clamp = list(table.index[table["clamp_mode"] == "VoltageClamp"])
    assert len(squares) >= 2 and voltage_clamp  # the demo cells have both
    browser.overlay.value = True
    browser.sweep_widget.selection = [squares[0]]
    top, bottom = browser.plot.object.children
    assert len(top.renderers) == len(bottom.renderers) == len(squares)  # the sweep and the other long squares
    browser.sweep_widget.selection = [voltage_clamp[0]]
    top, bottom = browser.plot.object.children
    assert top.yaxis[0].axis_label == "Command (mV)" and len(top.renderers) == 1  # no pA command on a mV axis


def test_a_cells_error_shows_in_its_pane_and_the_page_keeps_working(world):
    browser = CellBrowser("mouse")
    asyncio.run(browser.load_archive())
    world.stop()  # the network goes down: the file cannot be read
    browser.cell_table.selection = [0]
    assert browser.cell_error.visible and "Error" in browser.cell_error.object and not browser.message.visible
    assert browser.cell_info.object.endswith("Its sweep table could not be read.")
    browser.choice_widgets["structure"].value = ["VISp5"]  # filtering still works
    assert set(browser.cell_table.value["structure"]) == {"VISp5"}


def test_a_sweeps_error_shows_in_the_cells_pane(world, monkeypatch):
    browser = CellBrowser("mouse")
    asyncio.run(browser.load_archive())
    browser.cell_table.selection = [0]

    def unreadable(numbers):
        raise OSError("the file went away")

    monkeypatch.setattr(browser.source, "sweeps", unreadable)
    browser.sweep_widget.selection = [2]
    number = int(browser.sweep_widget.value.iloc[2]["sweep_number"])
    assert browser.cell_error.visible and not browser.message.visible
    assert f"Sweep {number} could not be read" in browser.cell_error.object and "went away" in browser.cell_error.object


def test_without_a_network_the_page_says_what_failed_and_what_to_try(cache_dir, monkeypatch):
    from patchseq_intake import config
    from patchseq_intake.transport import download

    monkeypatch.setenv(config.TABLES_ENV, "http://127.0.0.1:9/tables")  # nothing listens there
    monkeypatch.setenv(config.TIMEOUT_ENV, "2")
    monkeypatch.setattr(download, "DEFAULT_RETRY", download.RetryPolicy(attempts=2, backoff_s=0.01))  # refused at once
    browser = CellBrowser("human")
    browser._schedule(browser.load_archive, browser.message)  # as the page does: the error shown, not raised
    assert browser.message.visible and "FetchError" in browser.message.object
    shown = browser.message.object
    assert "`patchseq-intake gui --demo`" in shown and "PATCHSEQ_INTAKE_DANDI_API" in shown
    assert not any(w.visible for w in [*browser.range_widgets.values(), *browser.choice_widgets.values()])  # no 0 .. 1
    assert browser.count.object == "No cells: the human tables could not be read."


def test_the_tables_show_a_default_set_of_columns_rounded_and_the_rest_can_be_chosen(world):
    from bokeh.models import NumberFormatter

    browser = CellBrowser("mouse")
    asyncio.run(browser.load_archive())
    cells = browser.cell_table
    shown = [c for c in cells.value.columns if c not in cells.hidden_columns]
    assert {"t_type", "has_nwb_file", "nwb_size_mb", "cell_specimen_id", "structure"} <= set(shown)
    assert "age_days" in cells.hidden_columns and "depth_from_pia_um" in cells.hidden_columns  # no mouse values
    size = cells.formatters["nwb_size_mb"]
    assert isinstance(size, NumberFormatter) and size.format == "0.0"  # shown rounded ...
    files = browser.catalog.mouse.nwb_files.read().set_index("cell_specimen_id")["size"]
    assert np.allclose(cells.value.set_index("cell_specimen_id")["nwb_size_mb"], files / 1e6)  # ... the data is not
    browser.cell_columns.value = [*browser.cell_columns.value, "age_days"]
    assert "age_days" not in cells.hidden_columns
    browser.cell_table.selection = [0]
    sweeps = browser.sweep_widget
    defaults = {"sweep_number", "stimulus_code", "stimulus_name", "clamp_mode", "sampling_rate", "duration",
                "bridge_balance_mohm", "leak_pa", "stimulus_scale_factor"}
    assert [c for c in sweeps.value.columns if c not in sweeps.hidden_columns] == [
        c for c in SWEEP_DTYPES if c in defaults]  # in the table's order
    assert list(sweeps.value.columns) == list(SWEEP_DTYPES)  # every column is there to be opened
    browser.sweep_columns.value = [*browser.sweep_columns.value, "gain"]
    assert "gain" not in sweeps.hidden_columns and sweeps.formatters["gain"].format == "0.0000"


def test_a_cell_is_found_by_the_search_box(world):
    browser = CellBrowser("mouse")
    asyncio.run(browser.load_archive())
    browser.search.value_input = str(MOUSE_CELLS[3])
    assert list(browser.cell_table.value["cell_specimen_id"]) == [MOUSE_CELLS[3]]
    browser.search.value_input = "999"
    assert browser.cell_table.value.empty and "no cell_specimen_id starts with 999" in browser.count.object


def test_the_browser_opens_on_the_cell_asked_for_or_says_the_archive_lacks_it(world):
    browser = CellBrowser("mouse", cell=MOUSE_CELLS[2])  # outside a server, panel runs its onload load at once
    assert browser.cell_id == MOUSE_CELLS[2] and f"### Cell {MOUSE_CELLS[2]}" in browser.cell_info.object
    assert len(browser.sweep_widget.value) > 0 and browser.search.value == str(MOUSE_CELLS[2])
    assert list(browser.cell_table.value["cell_specimen_id"]) == [MOUSE_CELLS[2]]
    missing = CellBrowser("mouse", cell=123)
    assert missing.cell_error.visible
    assert missing.cell_error.object == f"No cell 123 in the mouse archive's {len(MOUSE_CELLS)} cells."
    assert missing.cell_id is None and len(missing.cell_table.value) == len(MOUSE_CELLS)


def test_a_notebook_gets_the_same_app(world):
    import panel as pn

    from patchseq_intake.gui import browser

    app = browser("mouse")
    assert isinstance(app, pn.Row) and any(isinstance(w, pn.widgets.Tabulator) for w in app.select(pn.widgets.Tabulator))
    with pytest.raises(ValueError, match="the archives are human, mouse"):
        browser("rat")
