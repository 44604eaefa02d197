"""The cell browser shows text from the data as text: hostile values in the tables, the files and errors.

The app runs on a stand-in catalog whose tables hold HTML and Markdown
(no server, no file). In Python: the filters' labels, the Markdown panes as
panel renders them, and the tables' formatters. In Chromium (when there is
one): the page runs none of the values' scripts and shows them as written.
"""

from __future__ import annotations

import asyncio
import html
import shutil
from html.parser import HTMLParser
from types import SimpleNamespace
from typing import Any

import pandas as pd
import pytest

pytest.importorskip("panel", reason="the browser needs panel: pip install 'patchseq-intake[gui]'")

from patchseq_intake.gui.browser_app import CellBrowser, markdown_text  # noqa: E402
from patchseq_intake.gui.browser_data import CELL_COLUMNS  # noqa: E402
from patchseq_intake.nwb.sweep_table import SWEEP_DTYPES  # noqa: E402

IMG = '<img src=x onerror="window.pwned=(window.pwned||0)+1">'
MARKDOWN = "**bold** [link](javascript:window.pwned=1) <https://example.org> `code` # not a heading\n\n    indented"
SCRIPT = "<script>window.pwned=1</script>"
CELL = 900000001


class _StandIn:
    """A catalog of one archive whose tables and sweep table hold hostile text."""

    def __init__(self, failing: bool = False):
        metadata = pd.DataFrame({column: ["x"] for column in CELL_COLUMNS})
        metadata["cell_specimen_id"] = [CELL]
        metadata["structure"], metadata["dendrite_type"] = [IMG], [MARKDOWN]
        metadata["corresponding_AIT2.3.1_alias"], metadata["donor_id"] = [SCRIPT], ["&lt;b&gt;"]
        for column in ("cell_soma_normalized_depth", "depth_from_pia_um", "age_days"):
            metadata[column] = [0.5]
        sweeps = pd.DataFrame({name: pd.Series([0], dtype=dtype) if dtype != "string" else
                               pd.Series([IMG], dtype=dtype) for name, dtype in SWEEP_DTYPES.items()})
        file = SimpleNamespace(dandi_path=f"sub-1/{IMG}.nwb", asset_id="0f1e", size=2_000_000,
                               urls=(f"https://dandiarchive.s3.amazonaws.com/blobs/{IMG}",))

        def ephys(**parameters: Any) -> Any:
            if failing:
                raise RuntimeError(f"the server sent {SCRIPT}")
            return SimpleNamespace(read=lambda: sweeps, cells=[file], dandi=SimpleNamespace(dandiset="000023",
                                                                                           version="draft"))

        archive = SimpleNamespace(
            metadata=SimpleNamespace(read=lambda: metadata),
            nwb_files=SimpleNamespace(read=lambda: pd.DataFrame({"cell_specimen_id": [CELL], "size": [2_000_000]})),
            ephys=ephys,
        )
        self.human = archive

    def __getitem__(self, name: str) -> Any:
        return getattr(self, name)


class _Tags(HTMLParser):
    """The tags and the text of an HTML fragment."""

    def __init__(self, fragment: str):
        super().__init__()
        self.tags: list[str] = []
        self.text = ""
        self.feed(fragment)

    def handle_starttag(self, tag: str, attrs: list) -> None:
        self.tags.append(tag)

    def handle_data(self, data: str) -> None:
        self.text += data


def _rendered(pane: Any) -> _Tags:
    """The HTML the page puts into a Markdown pane (panel escapes it once more to send it)."""
    return _Tags(html.unescape(pane._transform_object(pane.object)["object"]))


@pytest.mark.parametrize("value", [IMG, MARKDOWN, SCRIPT, "a\\b &amp; &lt;", "H16.03.007"])
def test_markdown_text_is_shown_as_written(value):
    import panel as pn

    shown = _rendered(pn.pane.Markdown(markdown_text(value)))
    assert shown.tags == ["p"] and shown.text.strip() == " ".join(value.split())


def _opened() -> CellBrowser:
    browser = CellBrowser("human", catalog=_StandIn())
    asyncio.run(browser.load_archive())
    browser.cell_table.selection = [0]
    return browser


def test_filter_choices_show_the_values_as_text_and_filter_by_them():
    browser = _opened()
    structure = browser.choice_widgets["structure"]
    assert structure.options == {html.escape(IMG): IMG}  # label (HTML in the page) -> value
    assert browser.choice_widgets["t_type"].options == {html.escape(SCRIPT): SCRIPT}
    assert structure.get_root().options == [html.escape(IMG)]  # what the page gets: labels only
    structure.value = [IMG]
    assert list(browser.cell_table.value["cell_specimen_id"]) == [CELL]


def test_the_cells_pane_and_the_message_show_the_values_as_text():
    browser = _opened()
    shown = _rendered(browser.cell_info)
    assert set(shown.tags) <= {"h3", "p", "a"} and shown.tags.count("a") == 3  # the file, DANDI and neurosift
    for value in (IMG, " ".join(MARKDOWN.split()), SCRIPT, "&lt;b&gt;", f"sub-1/{IMG}.nwb"):
        assert value in shown.text
    failing = CellBrowser("human", catalog=_StandIn(failing=True))
    asyncio.run(failing.load_archive())
    failing.cell_table.selection = [0]
    message = _rendered(failing.cell_error)  # a cell's error shows in the cell's pane
    assert failing.cell_error.visible and message.tags == ["p"] and f"the server sent {SCRIPT}" in message.text


def test_the_tables_cells_are_drawn_by_formatters_that_escape():
    from bokeh.models import HTMLTemplateFormatter

    browser = _opened()
    for widget in (browser.cell_table, browser.sweep_widget):
        model = widget.get_root()
        assert model.columns and not any(isinstance(c.formatter, HTMLTemplateFormatter) for c in model.columns)
        given = [c.get("formatter") for c in model.configuration.get("columns", [])]
        assert all(f in (None, "plaintext", "rowSelection") for f in given), given


def test_in_chromium_no_value_runs_and_each_is_shown_as_written(tmp_path):
    from patchseq_intake.gui.serving import free_port, serve_app
    from tests.gui.test_browser_serving import WAIT_MS, _select, _wait_for_port
    from tests.gui.test_gui import CHROMIUM_FLAGS

    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        pytest.skip("no chromium on PATH (Debian: apt-get install chromium)")
    sync_api = pytest.importorskip("playwright.sync_api", reason="pip install playwright (to drive chromium)")
    port = free_port()
    server = serve_app(lambda: CellBrowser("human", catalog=_StandIn()).layout, port, "127.0.0.1", "escaping",
                       threaded=True, verbose=False)
    _wait_for_port(port)
    try:
        with sync_api.sync_playwright() as playwright:
            context = playwright.chromium.launch_persistent_context(
                str(tmp_path / "profile"), executable_path=chromium, headless=True, args=CHROMIUM_FLAGS,
            )
            try:
                tab = context.new_page()
                tab.goto(f"http://127.0.0.1:{port}/")
                tab.get_by_text("of 1 human cells").wait_for(timeout=WAIT_MS)
                tab.locator(".choices").first.click()  # the structure filter's choices, open
                _select(tab.locator(".tabulator").first.locator(".tabulator-row").first)
                tab.locator("h3", has_text=f"Cell {CELL}").wait_for(timeout=WAIT_MS)
                tab.get_by_text(f"sub-1/{IMG}.nwb", exact=False).wait_for(timeout=WAIT_MS)
                tab.wait_for_timeout(500)  # an image's error event, had one been made, comes by now
                assert tab.evaluate("window.pwned") is None
                assert tab.get_by_text(IMG, exact=False).count() >= 3  # the filter's choice, the table, the pane
            finally:
                context.close()
    finally:
        server.stop()
