"""Intake's panel GUI on the shipped catalog: driven in Python, and served to headless Chromium.

Browsing (selecting catalogs and entries, opening the plot panel) must do no
I/O: the tests point the tables and DANDI at a closed port on 127.0.0.1,
refuse every outgoing connection of this process, and check that the cache
stays empty. Only picking a plot reads a table, served locally.

The browser tests need Chromium (Debian: ``apt-get install chromium``) and
playwright's Python package (only its driver: it launches /usr/bin/chromium,
it downloads no browser). Without them, or without panel and hvplot (the
``gui`` extra), the tests here are skipped.
"""

from __future__ import annotations

import logging
import math
import re
import shutil
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlparse

import pytest
import yaml

pytest.importorskip("panel", reason="the GUI needs panel: pip install 'patchseq-intake[gui]'")
pytest.importorskip("hvplot", reason="the GUI needs hvplot: pip install 'patchseq-intake[gui]'")

from patchseq_intake import config  # noqa: E402
from patchseq_intake.dandi.dandisets import registry  # noqa: E402

# intake 2.0.9's GUI code uses panel widget arguments that panel 1.9 deprecates.
pytestmark = pytest.mark.filterwarnings("ignore::PendingDeprecationWarning:intake.interface")

from patchseq_intake.gui import build_gui, serve  # noqa: E402
from patchseq_intake.gui.catalog_gui import describe_entry  # noqa: E402

WAIT_MS = 10_000  # for the page to show what a click asked for
NOWHERE = "http://127.0.0.1:9"  # the discard port: nothing listens there
ARCHIVES = ("human", "mouse")
ENTRIES = ["metadata", "manifest", "nwb_files", "ephys"]
LISTED = {
    "human": [*ENTRIES, "features", "files", "morphology"],
    "mouse": [*ENTRIES, "features", "files", "morphology", "transcriptomics"],
    "human_l1": ["sessions", "nwb_files", "ephys", "features"],
}
"""Each archive's entries as the catalog lists them: the human release has no transcriptomes; a dandiset beyond
2020 (human_l1, as every one) has its sessions table, ephys and features."""
DANDISETS = [d.name for d in registry().values() if not d.release_2020]
"""The catalogs of the dandisets beyond 2020, beside the 2020 archives in the root."""
TABLE_ENTRIES = ("metadata", "manifest")
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    # Anything but 127.0.0.1 (never proxied) would go to a proxy that is not there.
    f"--proxy-server={NOWHERE}",
]


def files_under(directory: Path) -> list[Path]:
    return [path for path in directory.rglob("*") if path.is_file()] if directory.exists() else []


def tree_label(option: str) -> str:
    """A catalog's name as the GUI's tree shows it: ``'\u2002\u2002└─>human'`` -> ``human``."""
    return option.strip().removeprefix("└─>")


def errors_logged(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [f"{r.name}: {r.getMessage()}" for r in caplog.records if r.levelno >= logging.ERROR]


@pytest.fixture
def nowhere(monkeypatch: pytest.MonkeyPatch, cache_dir: Path) -> Path:
    """Tables and DANDI on a closed port; returns the (empty) cache directory."""
    monkeypatch.setenv(config.TABLES_ENV, f"{NOWHERE}/none")
    monkeypatch.setenv(config.DANDI_API_ENV, f"{NOWHERE}/api")
    return cache_dir


@pytest.fixture
def connections(monkeypatch: pytest.MonkeyPatch) -> list[object]:
    """Every outgoing connection this process attempts, each refused."""
    attempts: list[object] = []

    def refuse(sock, address, *_):
        attempts.append(address)
        raise ConnectionRefusedError(f"test_gui: no connections while browsing ({address})")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)
    return attempts


def expected_description(archive: str, entry: str) -> str:
    import patchseq_intake

    return patchseq_intake.open_catalog()[archive][entry].description


def squeeze(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


# --- in Python -------------------------------------------------------------------------------


def test_browsing_every_entry_shows_its_description_and_does_no_io(nowhere: Path, connections: list):
    import patchseq_intake

    gui = build_gui()

    # intake's tree sorts the catalogs by name: the 2020 archives are not first there, as they are in the catalog
    assert [tree_label(option) for option in gui.catsel.options] == ["patchseq", *sorted([*ARCHIVES, *DANDISETS])]
    root = patchseq_intake.open_catalog()
    assert gui.sourcesel.options == [name for name in root if name not in ("human", "mouse", *DANDISETS)]
    assert "sessions" in gui.sourcesel.options  # the root's own tables: sessions, the papers'
    for archive in LISTED:
        gui.catsel.value = [next(o for o in gui.catsel.options if tree_label(o) == archive)]
        assert gui.sourcesel.options == LISTED[archive]
        for entry in LISTED[archive]:
            gui.sourcesel.value = [entry]
            shown = yaml.safe_load(gui.sourceinf.value)[entry]  # intake's YAML, still made, no longer shown
            assert gui.entry_text.object == describe_entry(entry, gui.sources[0])
            gui.plot_clicked()  # the plot panel lists the entry's plots, and draws none
            assert gui.plots.panel.visible
            assert gui.plots.select.options == ["None", *gui.sources[0].metadata["plots"]]
            assert sorted(gui.plots.select.options[1:]) == sorted(shown["metadata"]["plots"])
            assert gui.plots.select.value == "None"
            # ephys, features: "Create" would fetch every NWB file (and run IPFX on each)
            assert gui.plots.custom.disabled is (entry in ("ephys", "features"))
            gui.plot_clicked()
            assert not gui.plots.panel.visible

    assert connections == []
    assert files_under(nowhere) == []


def test_intake_gui_and_cat_gui_find_the_catalog(nowhere: Path, connections: list):
    import intake

    import patchseq_intake

    cat = patchseq_intake.open_catalog()
    assert cat.gui._cats == {"patchseq": cat}

    gui = intake.gui  # intake's GUI on intake.cat, where the package registers "patchseq"
    gui.catsel.value = ["builtin"]
    patchseq = next(o for o in gui.catsel.options if tree_label(o) == "patchseq")
    gui.catsel.value = [patchseq]
    archives = [o for o in gui.catsel.options if tree_label(o) in ARCHIVES]
    assert [tree_label(o) for o in archives] == list(ARCHIVES)
    gui.catsel.value = [archives[0]]
    assert gui.sourcesel.options == LISTED[ARCHIVES[0]]
    gui.remove_cat(patchseq)

    assert connections == []
    assert files_under(nowhere) == []


def test_every_parameter_and_its_default_is_described(nowhere: Path, connections: list):
    import patchseq_intake

    cat = patchseq_intake.open_catalog()
    for archive in ARCHIVES:
        for entry in ENTRIES:
            source = cat[archive][entry]
            description = source.description
            what = {"metadata": "one row per cell", "manifest": "one row per released file",
                    "nwb_files": "one row per cell with a file", "ephys": "one partition per cell"}[entry]
            assert what in description, (archive, entry)
            assert "Parameters:" in description, (archive, entry)
            for parameter in cat[archive]._entries[entry].describe()["user_parameters"]:
                name, default = parameter["name"], parameter.get("default")  # intake leaves out a default of null
                assert name in description, (archive, entry, name)
                if isinstance(default, str) and default:
                    assert f"default {default}" in description or (
                        f"default the published {default}" in description
                    ), (archive, entry, name, default)
    assert connections == []


@pytest.mark.parametrize("archive", ARCHIVES)
def test_table_plots_render_from_the_table(archive: str, served_tables, caplog: pytest.LogCaptureFixture):
    import holoviews as hv

    gui = build_gui()
    gui.catsel.value = [next(o for o in gui.catsel.options if tree_label(o) == archive)]
    for entry in TABLE_ENTRIES:
        gui.sourcesel.value = [entry]
        gui.plot_clicked()
        source = gui.plots.source
        plots = source.metadata["plots"]
        assert len(plots) >= 2, f"{archive}.{entry} offers no plots"
        table = source.read()
        for name, kwargs in plots.items():
            caplog.clear()
            gui.plots.select.value = name
            element = gui.plots.pane.object
            assert element is not None, name
            figure = hv.render(element, backend="bokeh")
            assert figure.renderers, name
            if kwargs["kind"] == "heatmap":  # a count (or total) per pair of categories
                x, y, value, reduce = kwargs["x"], kwargs["y"], kwargs["C"], kwargs.get("reduce_function")
                assert reduce in ("count", "sum"), (name, "a heatmap here counts or sums", reduce)
                shown = sum(v for v in element.dimension_values(value) if not math.isnan(v))
                rows = table[[x, y, value]].dropna()
                assert shown == (len(rows) if reduce == "count" else rows[value].sum()), name
            else:
                assert len(element) > 0, name
            warnings = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
            assert warnings == [], (name, warnings)  # e.g. an option hvplot or holoviews does not know
        gui.plot_clicked()


def test_the_nwb_file_sizes_plot_counts_every_file(world, caplog: pytest.LogCaptureFixture):
    import holoviews as hv

    gui = build_gui()
    gui.catsel.value = [next(o for o in gui.catsel.options if tree_label(o) == "mouse")]
    gui.sourcesel.value = ["nwb_files"]
    gui.plot_clicked()
    assert gui.plots.select.options == ["None", "file_size"]
    gui.plots.select.value = "file_size"
    element = gui.plots.pane.object
    assert hv.render(element, backend="bokeh").renderers
    counts = element.dimension_values(1)  # a histogram: the files in each size bin
    mouse_cells = [cell for cell in world.cells if cell.archive == "mouse"]
    assert counts.sum() == len(gui.plots.source.read()) == len(mouse_cells)
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING] == []


# --- in Chromium -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def gui_server() -> Iterator[str]:
    """The GUI served on 127.0.0.1 (a thread of this process); yields its URL."""
    server = serve(port=0, threaded=True)
    url = f"http://127.0.0.1:{server.port}/"
    deadline = time.monotonic() + 20
    while True:
        try:
            socket.create_connection(("127.0.0.1", server.port), timeout=0.5).close()
            break
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)
    yield url
    server.stop()
    server.join(10)


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory):
    """Headless Chromium with a new empty profile, driven by playwright."""
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        pytest.skip("no chromium on PATH (Debian: apt-get install chromium)")
    sync_api = pytest.importorskip("playwright.sync_api", reason="pip install playwright (to drive chromium)")
    with sync_api.sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(tmp_path_factory.mktemp("chromium-profile")),
            executable_path=chromium,
            headless=True,
            args=CHROMIUM_FLAGS,
            viewport={"width": 1400, "height": 1000},
        )
        try:
            yield context
        finally:
            context.close()


class Page:
    """A browser tab on the GUI, recording what the page asks for and what goes wrong in it."""

    def __init__(self, context, url: str):
        self.url = url
        self.page = context.new_page()
        self.requests: list[str] = []
        self.failures: list[str] = []
        self.console_errors: list[str] = []
        self.page.on("request", lambda request: self.requests.append(request.url))
        self.page.on("requestfailed", lambda request: self.failures.append(f"{request.url} {request.failure}"))
        self.page.on("response", self._response)
        self.page.on("console", lambda m: m.type == "error" and self.console_errors.append(m.text))
        self.page.on("pageerror", lambda error: self.console_errors.append(str(error)))
        self.page.goto(url)

    def _response(self, response) -> None:
        if response.status >= 400:
            self.failures.append(f"{response.url} {response.status}")

    def select(self, label: str):
        """The <select> labelled ``label``, once it has options (Bokeh's widgets are in shadow DOMs: playwright pierces them)."""
        locator = self.page.get_by_label(label, exact=True)
        locator.locator("option").first.wait_for(timeout=WAIT_MS)
        return locator

    def plot_chooser(self):
        """The plot panel's <select>, once shown (its first option is "None")."""
        locator = self.page.locator("select").filter(
            visible=True, has=self.page.get_by_role("option", name="None", exact=True)
        )
        locator.wait_for(timeout=WAIT_MS)
        return locator

    def options(self, select) -> list[str]:
        return select.locator("option").evaluate_all("options => options.map(o => o.value)")

    def choose(self, select, label: str) -> None:
        select.select_option(value=next(o for o in self.options(select) if tree_label(o) == label))

    def description_text(self, starts: str) -> str:
        """The text shown for the selected entry, once it shows ``starts``; whitespace squeezed."""
        from playwright.sync_api import expect

        heading = self.page.locator("h3").filter(has_text=re.compile(r"^(metadata|manifest|nwb_files|ephys)$"))
        pane = heading.locator("..")
        expect(pane).to_contain_text(starts, timeout=WAIT_MS)
        return squeeze(pane.inner_text())

    def hosts(self) -> set[str]:
        return {urlparse(url).netloc for url in self.requests if not url.startswith(("blob:", "data:"))}

    def close(self) -> None:
        self.page.close()


def test_browser_shows_the_tree_and_the_descriptions(
    gui_server: str, browser, nowhere: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
):
    from playwright.sync_api import expect

    page = Page(browser, gui_server)
    try:
        catalogs = page.select("Catalogs")
        assert [tree_label(o) for o in page.options(catalogs)] == ["patchseq", *sorted([*ARCHIVES, *DANDISETS])]

        page.choose(catalogs, "human")
        sources = page.select("Sources")  # the root's tables (sessions, the papers') until the human ones come
        expect(sources.locator("option").first).to_have_attribute("value", "metadata", timeout=WAIT_MS)
        assert page.options(sources) == LISTED["human"]
        sources.select_option("metadata")
        description = expected_description("human", "metadata")
        assert squeeze(description) in page.description_text(description[:40])

        page.choose(catalogs, "mouse")
        page.select("Sources").select_option("ephys")
        description = expected_description("mouse", "ephys")
        shown = page.description_text(description[:40])
        assert squeeze(description) in shown
        assert "000020" in shown and "000023" not in shown  # the mouse entry, not the human one
        assert "parameter default meaning" in shown and "headstage 0 The headstage" in shown  # a table, not YAML
        assert page.page.locator(".ace_text-layer").count() == 0

        page.page.get_by_role("button", name="📊").click()  # the plot panel: for ephys, nothing to draw
        assert page.options(page.plot_chooser()) == ["None"]
        page.page.screenshot(path=str(tmp_path / "gui.png"), full_page=True)
    finally:
        page.close()

    assert (tmp_path / "gui.png").stat().st_size > 10_000
    assert page.hosts() == {urlparse(gui_server).netloc}
    assert page.failures == []
    assert page.console_errors == []
    assert errors_logged(caplog) == []
    assert files_under(nowhere) == []


def test_browser_draws_a_table_plot(
    gui_server: str, browser, served_tables, cache_dir: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
):
    import patchseq_intake

    plots = list(patchseq_intake.open_catalog().human["metadata"].metadata["plots"])
    assert plots, "human.metadata offers no plots"
    page = Page(browser, gui_server)
    try:
        page.choose(page.select("Catalogs"), "human")
        page.select("Sources").select_option("metadata")
        page.page.get_by_role("button", name="📊").click()
        chooser = page.plot_chooser()
        assert page.options(chooser) == ["None", *plots]
        assert page.page.locator("canvas").count() == 0
        chooser.select_option(plots[0])
        canvas = page.page.locator(".bk-Canvas canvas, canvas").first
        canvas.wait_for(timeout=WAIT_MS)
        box = canvas.bounding_box()
        assert box is not None and box["width"] > 200 and box["height"] > 100
        page.page.wait_for_timeout(500)  # let Bokeh paint, for the screenshot
        page.page.screenshot(path=str(tmp_path / "gui_plot.png"), full_page=True)
    finally:
        page.close()

    assert [p.parent.name for p in files_under(cache_dir) if p.suffix == ".parquet"] == ["tables"]
    assert page.hosts() == {urlparse(gui_server).netloc}
    assert page.failures == []
    assert page.console_errors == []
    assert errors_logged(caplog) == []


# --- the text, the plot panel, the command -----------------------------------------------------


def test_an_entry_is_described_as_text_with_a_table_of_its_parameters(nowhere: Path, connections: list):
    import patchseq_intake

    source = patchseq_intake.open_catalog().human.ephys
    text = describe_entry("ephys", source)
    lines = text.splitlines()
    assert lines[0] == "### ephys" and lines[1].startswith("Electrophysiology of the selected cells")
    assert "| parameter | default | meaning |" in lines and "cls:" not in text and "driver" not in text
    assert any(line.startswith("| access | download | download\\: whole verified file") and
               "one of\\: download, stream, local" in line for line in lines)
    assert "| specimen\\_id | none |" in text and "| version | 0\\.210914\\.1900 |" in text


def test_the_plot_panel_follows_the_entry_selected(nowhere: Path, connections: list):
    gui = build_gui()
    gui.catsel.value = [next(o for o in gui.catsel.options if tree_label(o) == "human")]
    gui.sourcesel.value = ["metadata"]
    gui.plot_clicked()
    metadata = gui.plots.source
    gui.sourcesel.value = ["manifest"]  # the panel stays open: on the manifest's plots now, none drawn
    assert gui.plots.panel.visible and gui.plots.source is gui.sources[0] and gui.plots.source is not metadata
    assert gui.plots.select.options == ["None", *gui.sources[0].metadata["plots"]] and gui.plots.select.value == "None"
    gui.sourcesel.value = ["ephys"]
    assert gui.plots.custom.disabled and gui.plots.select.options == ["None"]
    assert connections == []


def test_the_catalog_gui_refuses_a_port_in_use_as_the_cell_browser_does(capsys):
    from patchseq_intake.cli import main as cli_main
    from patchseq_intake.gui.catalog_gui import main

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(SystemExit) as exit_:
            main(["--port", str(port), "--demo"])
        out, err = capsys.readouterr()
        assert exit_.value.code == 1 and out == ""  # no "Serving", no traceback
        message = f"port {port} on 127.0.0.1 is in use: choose another with --port\n"
        assert err == "python -m patchseq_intake.gui: " + message
        assert cli_main(["gui", "--port", str(port)]) == 1
        assert capsys.readouterr().err == "patchseq-intake: " + message


def test_the_catalog_gui_serves_the_demos_replica_and_stops_cleanly_on_sigterm(tmp_path: Path):
    import signal
    import urllib.request

    from tests.gui.demo_process import demo_process

    with demo_process(tmp_path, "patchseq_intake.gui", "--demo", "--port", "0") as (server, scratch):
        line = server.stdout.readline()
        assert re.fullmatch(r"Serving the catalog GUI at http://127\.0\.0\.1:[0-9]+/ \(Ctrl-C to stop\)\n", line), line
        assert [p.name.startswith("patchseq-demo-") for p in scratch.iterdir()] == [True]  # the replica, served
        with urllib.request.urlopen(line.split()[5], timeout=30) as answer:
            assert answer.status == 200 and b"Patch-seq catalog" in answer.read()
        server.send_signal(signal.SIGTERM)
        assert server.wait(timeout=60) == 128 + signal.SIGTERM
