"""A cell's IPFX features in the cell browser: cached ones at once, others on a button, IPFX missing in one line.

Against the demo world's replica on 127.0.0.1. The suite's usual files
(10 kHz, 0.3 s sweeps) are ones IPFX refuses ("No long square sweeps were
long enough"): the error's case. For values, the human demo cells are
written at 25 kHz with sweeps long enough (``analysable``: the suite's
``ipfx_world``).
"""

from __future__ import annotations

import asyncio
import math
import sys

import pytest

pytest.importorskip("panel", reason="the browser needs panel: pip install 'patchseq-intake[gui]'")

from patchseq_intake import config  # noqa: E402
from patchseq_intake.features import extraction, ipfx_library  # noqa: E402
from patchseq_intake.gui import browser_features  # noqa: E402
from patchseq_intake.gui.browser_features import COMPUTE_LABEL, FeaturesPane  # noqa: E402
from patchseq_intake.gui.cell_modalities import KEY_FEATURES, cached_features  # noqa: E402
from patchseq_intake.testing.world import DEMO_CELLS  # noqa: E402
from tests.gui.test_cell_modalities import opened  # noqa: E402

HUMAN_PLANS = tuple(plan for plan in DEMO_CELLS if plan.archive == "human")
HUMAN = sorted(plan.specimen_id for plan in HUMAN_PLANS)


@pytest.fixture
def analysable(ipfx_world):
    """The replica of the demo cells written so that IPFX analyses them (``tests/conftest.py: ipfx_world``)."""
    return ipfx_world


@pytest.fixture
def no_ipfx(monkeypatch):
    """IPFX not installed: ``import ipfx`` fails (a None in ``sys.modules``), and the package has not imported it."""
    monkeypatch.setitem(sys.modules, "ipfx", None)
    ipfx_library.ipfx.cache_clear()
    yield
    ipfx_library.ipfx.cache_clear()  # before sys.modules is given back: the next use imports the real one


def shown(pane: FeaturesPane) -> str:
    """The pane's text as the page shows it (``markdown_text``'s backslashes dropped)."""
    return pane.info.object.replace("\\", "")


def never_computed(monkeypatch) -> None:
    def refuse(*args, **kwargs):
        raise AssertionError("IPFX ran: the features were not taken from the cache")

    monkeypatch.setattr(extraction, "cell_features", refuse)


def test_without_ipfx_the_pane_is_one_line_naming_the_extra(world, no_ipfx):
    browser = opened("human", HUMAN[0])
    pane = browser.features
    assert "\n" not in pane.info.object and shown(pane).startswith("**IPFX features**: ")
    assert 'pip install "patchseq-intake[features]"' in shown(pane)
    assert not pane.button.visible
    assert len(browser.sweep_widget.value) > 0 and not browser.cell_error.visible  # the rest of the page works


def test_cached_features_show_at_once_with_units_and_make_no_request(analysable, cat, monkeypatch):
    cell = HUMAN[0]
    row = cat.human.features(specimen_id=cell, access="stream").read().iloc[0]  # computed and cached by the entry
    never_computed(monkeypatch)
    analysable.server.log.clear()
    pane = FeaturesPane(cat, "stream", schedule=None)
    asyncio.run(pane.open(row, "human"))
    assert analysable.server.log == []  # the cache only
    assert not pane.button.visible
    text = shown(pane)
    assert f"**IPFX features** of {cell} (read from the cache; IPFX {ipfx_library.ipfx_version()})" in text
    assert f"| rheobase (rheobase_i) | {row['rheobase_i']:.0f} | pA |" in text
    assert f"| input resistance (input_resistance) | {row['input_resistance']:.1f} | MΩ |" in text
    assert f"| membrane time constant (tau) | {row['tau'] * 1e3:.1f} | ms |" in text  # IPFX gives s
    width = row["ap_1_width_0_long_square"] * 1e3
    assert f"| first spike's width at rheobase (ap_1_width_0_long_square) | {width:.2f} | ms |" in text
    assert 0.1 < width < 5  # a spike's width in ms, not s
    for feature in KEY_FEATURES:
        assert f"({feature.column}) |" in text
    planted = analysable.written[cell].cell
    assert math.isclose(row["input_resistance"], planted.input_resistance_mohm, rel_tol=0.05)
    assert f"cat.human.features(specimen_id={cell}).read()" in text


def test_the_button_computes_the_features_through_the_entry_and_shows_them(analysable, cat, monkeypatch):
    cell = HUMAN[1]
    browser = opened("human", cell)
    pane = browser.features
    assert pane.button.visible and pane.button.label == COMPUTE_LABEL
    assert shown(pane).startswith(f"**IPFX features**\n\nNot computed for {cell} yet")
    texts: list[str] = []
    pane.info.param.watch(lambda event: texts.append(event.new), "object")
    monkeypatch.setattr(browser_features, "PROGRESS_EVERY_S", 0.05)
    pane.button.clicks += 1  # as a click does
    assert any(t.startswith(f"**IPFX features**\n\nComputing the IPFX features of {cell}") for t in texts)
    assert not pane.button.visible
    text = shown(pane)
    assert f"**IPFX features** of {cell} (computed and cached;" in text
    rheobase = next(line for line in text.splitlines() if line.startswith("| rheobase (rheobase_i) |"))
    assert "not computed" not in rheobase
    row = cat.human.features(specimen_id=cell, access="stream").read().iloc[0]  # from the cache the button filled
    assert f"| input resistance (input_resistance) | {row['input_resistance']:.1f} | MΩ |" in text
    planted = analysable.written[cell].cell
    assert math.isclose(row["input_resistance"], planted.input_resistance_mohm, rel_tol=0.05)
    assert cached_features(cat.human.features(specimen_id=cell, access="stream")) is not None


def test_ipfxs_error_is_shown_as_text_in_the_pane(world):
    cell = HUMAN[0]
    browser = opened("human", cell)
    pane = browser.features
    pane.button.clicks += 1
    text = shown(pane)
    assert "\n\n**error**: " in text and "long_square: FeatureError: No long square sweeps were long enough" in text
    assert "IPFX gave none of the features shown here (rheobase_i, input_resistance, tau, " in text
    assert not pane.button.visible  # IPFX's conclusion is cached: pressing again would say the same
    assert not browser.cell_error.visible and not browser.message.visible


def test_a_network_error_is_shown_and_the_button_offers_to_try_again(world, cat, monkeypatch):
    monkeypatch.setenv(config.TIMEOUT_ENV, "2")
    cell = HUMAN[0]
    pane = FeaturesPane(cat, "stream", schedule=None)
    row = cat.human.metadata(filters=[["cell_specimen_id", "==", cell]]).read().iloc[0]
    asyncio.run(pane.open(row, "human"))
    assert pane.button.visible
    world.server.faults.statuses = [503] * 50  # DANDI answers nothing but errors
    asyncio.run(pane.compute())
    text = shown(pane)
    assert "**error**: FetchError: " in text and "503" in text and f"of {cell} (computed, not cached;" in text
    assert pane.button.visible  # a failure to read is not cached: pressing again tries again
    world.server.faults.statuses = []
    asyncio.run(pane.compute())
    assert "No long square sweeps were long enough" in shown(pane) and not pane.button.visible


def test_a_computation_that_fails_is_said_as_text_never_a_traceback(world, cat, monkeypatch):
    def fails(source):
        raise RuntimeError("IPFX <b>broke</b>\nhere")

    monkeypatch.setattr(browser_features, "computed_features", fails)
    browser = opened("human", HUMAN[0])
    pane = browser.features
    pane.button.clicks += 1
    assert pane.info.object == (f"**IPFX features**\n\nThe features of {HUMAN[0]} could not be computed: "
                                "RuntimeError\\: IPFX &lt;b&gt;broke&lt;/b&gt; here")
    assert pane.button.visible and "Traceback" not in pane.info.object


def test_a_newer_cell_drops_an_older_cells_features(analysable, monkeypatch):
    first, second = HUMAN
    browser = opened("human", first)
    rows = browser.cell_table.value
    compute = browser_features.computed_features

    def another_cell_meanwhile(source):
        browser.cell_table.selection = [int(rows.index[rows["cell_specimen_id"] == second][0])]
        return compute(source)

    monkeypatch.setattr(browser_features, "computed_features", another_cell_meanwhile)
    browser.features.button.clicks += 1
    assert browser.cell_id == second
    assert shown(browser.features).startswith(f"**IPFX features**\n\nNot computed for {second} yet")
    assert browser.features.button.visible


def test_a_cache_that_cannot_be_read_is_said_in_the_pane_and_the_sweeps_still_come(world, monkeypatch):
    from patchseq_intake.errors import CacheError

    def unreadable(source):
        raise CacheError("cannot read /cache/features: permission denied; give PATCHSEQ_INTAKE_CACHE a folder you own")

    monkeypatch.setattr(browser_features, "cached_features", unreadable)
    browser = opened("human", HUMAN[0])
    pane = browser.features
    assert shown(pane) == (f"**IPFX features**\n\nThose of {HUMAN[0]} cannot be looked up: CacheError: cannot read "
                           "/cache/features: permission denied; give PATCHSEQ_INTAKE_CACHE a folder you own")
    assert not pane.button.visible
    assert len(browser.sweep_widget.value) > 0 and not browser.cell_error.visible
