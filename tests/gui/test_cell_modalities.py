"""One cell, three modalities in the cell browser: its reconstruction beside its sweeps, its t-type and marker genes.

Against the demo world's replica on 127.0.0.1: the cells' SWC files on its
BIL stand-in, their transcriptomes and the (tiny) matrices on its NeMO
stand-in. The walk in Chromium: test_browser_serving.py.
"""

from __future__ import annotations

import asyncio

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("panel", reason="the browser needs panel: pip install 'patchseq-intake[gui]'")

from patchseq_intake import config  # noqa: E402
from patchseq_intake.gui.browser_app import CellBrowser  # noqa: E402
from patchseq_intake.gui.browser_modalities import NO_RECONSTRUCTION  # noqa: E402
from patchseq_intake.gui.browser_plots import NEURITE_COLORS, shape_figure  # noqa: E402
from patchseq_intake.gui.cell_modalities import (  # noqa: E402
    MARKER_GENES,
    Shape,
    marker_matrix,
    marker_values,
    read_shape,
    soma_depth,
)
from patchseq_intake.testing.archives import MATRIX_SEEDS  # noqa: E402
from patchseq_intake.testing.morphology import synthetic_neuron  # noqa: E402
from patchseq_intake.testing.transcriptomes import matrix_values  # noqa: E402
from patchseq_intake.testing.world import DEMO_CELLS  # noqa: E402

PLANS = {plan.specimen_id: plan for plan in DEMO_CELLS}
WITH_GENES = sorted(i for i, plan in PLANS.items() if plan.transcriptome)
NO_RECONSTRUCTION_CELL = next(i for i, plan in PLANS.items() if plan.archive == "mouse" and plan.reconstruction is None)
HUMAN = sorted(i for i, plan in PLANS.items() if plan.archive == "human")


def nemo_requests(world) -> list[str]:
    return [entry.path for entry in world.server.log if entry.path.startswith("/nemo/")]


def planted_cpm(world, specimen_id: int) -> pd.Series:
    served = world.archives
    values = matrix_values(served.genes, served.samples, "cpm", seed=MATRIX_SEEDS["cpm"])
    return values[PLANS[specimen_id].sample_id]


def opened(archive: str, specimen_id: int) -> CellBrowser:
    """A browser of ``archive`` with the cell opened, as a click on its row does."""
    browser = CellBrowser(archive)
    asyncio.run(browser.load_archive())
    rows = browser.cell_table.value
    browser.cell_table.selection = [int(rows.index[rows["cell_specimen_id"] == specimen_id][0])]
    return browser


# --- the data and the figure -----------------------------------------------------------------------------


def test_a_reconstruction_is_read_with_its_type_and_soma(cat, world):
    cell = WITH_GENES[0]
    shape = read_shape(cat, "mouse", cell)
    truth = synthetic_neuron(cell, dendrite_only=PLANS[cell].reconstruction == "dendrite-only")
    assert shape.reconstruction_type == PLANS[cell].reconstruction == "full"
    assert np.allclose(shape.soma, truth.soma("transformed"), atol=1e-3)  # as the file writes it: 4 decimals
    assert list(shape.points.columns) == ["id", "type", "x", "y", "z", "radius", "parent"]
    assert len(shape.points) == truth.n_points
    assert read_shape(cat, "mouse", NO_RECONSTRUCTION_CELL) is None  # the release has none: not an error


def test_the_soma_depth_is_the_metadatas_in_micrometres_else_normalized():
    assert soma_depth(pd.Series({"depth_from_pia_um": 351.4, "cell_soma_normalized_depth": 0.3})) == (
        "soma 351 µm from the pia")
    assert soma_depth(pd.Series({"depth_from_pia_um": np.nan, "cell_soma_normalized_depth": 0.42})) == (
        "normalized soma depth 0.420 (0 pia, 1 white matter)")
    assert soma_depth(pd.Series({"depth_from_pia_um": np.nan, "cell_soma_normalized_depth": np.nan})) == (
        "soma depth not given")


def test_the_reconstruction_is_drawn_in_micrometres_at_equal_scale_by_swc_type():
    points = pd.DataFrame({
        "id": [1, 2, 3, 4, 5], "type": [1, 2, 3, 3, 4],
        "x": [0.0, 10.0, -5.0, -9.0, 1.0], "y": [-300.0, -320.0, -290.0, -280.0, -200.0], "z": [0.0] * 5,
        "radius": [5.0, 1.0, 1.0, 1.0, 1.0], "parent": [-1, 1, 1, 3, 1],
    })
    figure = shape_figure(Shape(7, points, "dendrite-only", (0.0, -300.0, 0.0)), "soma 300 µm from the pia")
    assert figure.match_aspect and figure.title.text == "Reconstruction of 7 (dendrite-only), transformed SWC"
    assert (figure.xaxis[0].axis_label, figure.yaxis[0].axis_label) == ("x (µm)", "y (µm)")
    by_name = {r.name: r for r in figure.renderers}
    assert set(by_name) == {"axon", "basal dendrite", "apical dendrite", "soma"}
    basal = by_name["basal dendrite"]
    assert basal.glyph.line_color == NEURITE_COLORS["basal dendrite"]
    data = basal.data_source.data
    assert list(data["x0"]) == [0.0, -5.0] and list(data["y1"]) == [-290.0, -280.0]  # parent -> child, as drawn
    assert sorted(item.label["value"] for item in figure.legend[0].items) == sorted(by_name)
    label = next(item for item in figure.center if getattr(item, "name", None) == "soma label")
    assert label.text == "soma y = -300 µm" and (label.x, label.y) == (0.0, -300.0)
    assert [item.text for item in figure.above if getattr(item, "name", None) == "soma depth"] == [
        "soma 300 µm from the pia"]


def test_whether_the_cpm_store_is_cached_is_told_without_a_request(cat, world):
    matrix = marker_matrix(cat, "mouse")
    assert matrix is not None and not matrix.cached and nemo_requests(world) == []
    assert marker_matrix(cat, "human") is None  # the human release has no transcriptomes
    values = marker_values(matrix, cat, "mouse", WITH_GENES[0])
    assert list(values.index) == list(MARKER_GENES)  # the demo's matrices hold every marker
    pd.testing.assert_series_equal(values, planted_cpm(world, WITH_GENES[0])[list(MARKER_GENES)], check_names=False)
    world.server.log.clear()
    assert marker_matrix(cat, "mouse").cached and nemo_requests(world) == []


# --- the app ---------------------------------------------------------------------------------------------


def test_a_mouse_cell_shows_its_reconstruction_and_t_type_and_offers_to_load_the_matrix(world):
    cell = WITH_GENES[0]
    browser = opened("mouse", cell)
    panes = browser.modalities
    figure = panes.shape.object
    assert figure is not None and figure.title.text == f"Reconstruction of {cell} (full), transformed SWC"
    depth = next(item for item in figure.above if getattr(item, "name", None) == "soma depth")
    assert depth.text == "normalized soma depth 0.420 (0 pia, 1 white matter)"  # the mouse table's depth
    assert len(browser.sweep_widget.value) > 0  # beside its sweeps
    assert f"**t-type**: {PLANS[cell].t_type}" in panes.genes_info.object.replace("\\", "")
    assert panes.load_button.visible and panes.load_button.label == (
        "Load marker genes (downloads the 0.0036 MB CPM matrix once)")
    assert nemo_requests(world) == []  # nothing of the matrix without the button


def test_pressing_load_shows_the_marker_genes_and_later_cells_read_them_at_once(world):
    cell, other = WITH_GENES[0], WITH_GENES[1]
    browser = opened("mouse", cell)
    panes = browser.modalities
    panes.load_button.clicks += 1  # as a click does
    assert not panes.load_button.visible and not panes.alert.visible
    shown = panes.genes_info.object
    for gene, value in planted_cpm(world, cell)[list(MARKER_GENES)].items():
        assert f"| {gene} | {value:.1f} |" in shown
    rows = browser.cell_table.value
    browser.cell_table.selection = [int(rows.index[rows["cell_specimen_id"] == other][0])]
    assert not panes.load_button.visible  # the store is cached: read without asking
    for gene, value in planted_cpm(world, other)[list(MARKER_GENES)].items():
        assert f"| {gene} | {value:.1f} |" in panes.genes_info.object


def test_a_cell_without_reconstruction_or_sample_says_so_in_its_panes(world):
    browser = opened("mouse", WITH_GENES[0])
    browser.modalities.load_button.clicks += 1
    rows = browser.cell_table.value
    browser.cell_table.selection = [int(rows.index[rows["cell_specimen_id"] == NO_RECONSTRUCTION_CELL][0])]
    panes = browser.modalities
    assert panes.shape.object is None
    assert panes.shape_info.object == f"Cell {NO_RECONSTRUCTION_CELL}: {NO_RECONSTRUCTION}."
    assert panes.genes_info.object.endswith("the CPM matrix has no sample of this cell.")
    assert not browser.cell_error.visible and len(browser.sweep_widget.value) > 0


def test_a_human_cell_shows_its_t_type_and_that_the_release_has_no_transcriptomes(world):
    browser = opened("human", HUMAN[0])
    panes = browser.modalities
    assert panes.genes_info.object.replace("\\", "") == (
        f"**t-type**: {PLANS[HUMAN[0]].t_type}\n\nNo transcriptomes in the human release.")
    assert not panes.load_button.visible
    assert panes.shape.object.title.text == f"Reconstruction of {HUMAN[0]} (full), transformed SWC"


def test_a_reconstruction_that_cannot_be_fetched_is_said_in_its_pane_and_the_sweeps_still_come(world, monkeypatch):
    monkeypatch.setenv(config.BIL_ENV, "http://127.0.0.1:9/bil")  # nothing listens there
    monkeypatch.setenv(config.TIMEOUT_ENV, "2")
    browser = opened("mouse", WITH_GENES[0])
    panes = browser.modalities
    assert panes.shape.object is None and not panes.shape_area.loading
    assert panes.shape_info.object.startswith(f"The reconstruction of {WITH_GENES[0]} could not be read: ")
    assert "127\\.0\\.0\\.1\\:9/bil" in panes.shape_info.object
    assert len(browser.sweep_widget.value) > 0 and not browser.cell_error.visible and not browser.message.visible


def test_a_newer_cell_drops_an_older_cells_reconstruction(world, monkeypatch):
    from patchseq_intake.gui import browser_modalities

    first, second = WITH_GENES[0], WITH_GENES[1]
    browser = CellBrowser("mouse")
    asyncio.run(browser.load_archive())
    rows = browser.cell_table.value
    row_of = {int(c): i for i, c in enumerate(rows["cell_specimen_id"])}
    read = browser_modalities.read_shape

    def slow_first(catalog, archive, specimen_id):
        if specimen_id == first:
            browser.cell_table.selection = [row_of[second]]  # the user opens another cell meanwhile
        return read(catalog, archive, specimen_id)

    monkeypatch.setattr(browser_modalities, "read_shape", slow_first)
    browser.cell_table.selection = [row_of[first]]
    assert browser.cell_id == second
    assert browser.modalities.shape.object.title.text.startswith(f"Reconstruction of {second} ")


def test_the_matrix_is_fetched_in_the_background_with_progress_text(world, monkeypatch):
    from patchseq_intake.gui import browser_modalities

    browser = opened("mouse", WITH_GENES[0])
    panes = browser.modalities
    shown = []
    monkeypatch.setattr(browser_modalities, "PROGRESS_EVERY_S", 0.05)
    progress = browser_modalities.download_progress
    monkeypatch.setattr(browser_modalities, "download_progress",
                        lambda size: shown.append(panes.genes_info.object) or progress(size))
    world.server.faults.latency_s = 0.5  # a slow NeMO: the fetch takes a while
    panes.load_button.clicks += 1
    assert len(shown) >= 2  # renewed while the fetch ran
    assert "Loading marker genes: fetching the CPM matrix once (0 MB of 0.0036 MB downloaded; then converted once)" in shown[1]
    assert "| Gad1 |" in panes.genes_info.object and "Loading" not in panes.genes_info.object


def test_a_cell_opened_while_the_matrix_is_fetched_waits_for_that_fetch(world, monkeypatch):
    from patchseq_intake.gui import browser_modalities

    first, second = WITH_GENES[0], WITH_GENES[1]
    browser = opened("mouse", first)
    panes = browser.modalities
    rows = browser.cell_table.value
    offered = []
    monkeypatch.setattr(browser_modalities, "PROGRESS_EVERY_S", 0.05)
    progress = browser_modalities.download_progress

    def another_cell_meanwhile(size):
        if browser.cell_id == first:
            panes.load_button.param.watch(lambda event: offered.append(event.new), "visible")
            browser.cell_table.selection = [int(rows.index[rows["cell_specimen_id"] == second][0])]
        return progress(size)

    monkeypatch.setattr(browser_modalities, "download_progress", another_cell_meanwhile)
    world.server.faults.latency_s = 0.5  # a slow NeMO: the second cell opens while the matrix is fetched

    async def press_and_wait() -> None:  # on one event loop, as a served page's: the second cell's load goes on
        await panes.load_markers()
        for _ in range(200):
            if "| Gad1 |" in panes.genes_info.object:
                return
            await asyncio.sleep(0.05)

    asyncio.run(press_and_wait())
    matrix_tars = [path for path in nemo_requests(world) if path.endswith("_cpm.csv.tar")]
    assert True not in offered and browser.cell_id == second  # the button was not offered again
    assert len(matrix_tars) == 1  # one fetch for both cells
    for gene, value in planted_cpm(world, second)[list(MARKER_GENES)].items():
        assert f"| {gene} | {value:.1f} |" in panes.genes_info.object
