"""The cell browser on a dandiset beyond 2020: its recordings (sessions table), a recording's sweeps, its links.

A local DANDI replica serves a synthetic MIES file at a real session's path
of 000630 (human L1) and one without a session id in 000228, each with DANDI's
metadata of its recording (as tests/drivers/test_dandiset_ephys.py); the
catalog is pointed at it. Driven in Python, as test_cell_browser.py does.
"""

from __future__ import annotations

import asyncio
import importlib.util

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("panel", reason="the browser needs panel: pip install 'patchseq-intake[gui]'")

from patchseq_intake import config, read_nwb  # noqa: E402
from patchseq_intake.gui.browser_app import CellBrowser  # noqa: E402
from patchseq_intake.gui.browser_data import cells_table, search_cells  # noqa: E402
from patchseq_intake.nwb.sweep_table import SWEEP_DTYPES  # noqa: E402
from patchseq_intake.testing.dandi import DandiReplica  # noqa: E402
from patchseq_intake.testing.recordings import COLLABORATOR, L1, L1_VERSION, SUBJECT, l1_path, serve_recordings  # noqa: E402,E501
from patchseq_intake.testing.server import LocalServer  # noqa: E402
from patchseq_intake.transport import download  # noqa: E402

SESSION = 839897299  # a made-up file at a session of the human L1 paper
PATH = l1_path(SESSION)
OTHER = 839897300  # a second recording of the donor, the same bytes


@pytest.fixture(scope="module")
def replica(world_files):
    written = next(iter(world_files.values()))
    with LocalServer() as server:
        dandi = DandiReplica(server)
        serve_recordings(dandi, written.path, [SESSION, OTHER])
        yield dandi, written


@pytest.fixture
def served(replica, monkeypatch):
    dandi, written = replica
    monkeypatch.setenv(config.DANDI_API_ENV, dandi.api_url)
    monkeypatch.setattr(download, "DEFAULT_RETRY", download.RetryPolicy(attempts=2, backoff_s=0.01))
    dandi.server.log.clear()
    return dandi, written


def test_a_dandisets_table_is_its_recordings_found_by_session_or_donor(cat, served):
    table = cells_table(cat, "630")
    sessions = cat.human_l1.sessions.read()
    assert table["ephys_session_id"].tolist() == sessions["ephys_session_id"].tolist() == [SESSION, OTHER]
    assert table["has_nwb_file"].all() and np.allclose(table["nwb_size_mb"], sessions["size"] / 1e6)
    assert np.allclose(table["age_years"], 8035 / 365.25)  # human donors: their age in years too
    assert search_cells(table, "8398972").tolist() == [True, False]  # a session id that starts so
    assert search_cells(table, str(OTHER)).tolist() == [False, True]
    assert search_cells(table, "897123").tolist() == [True, True]  # the donor
    with pytest.raises(ValueError, match=r"no archive 'rat': the archives are human, mouse \(the 2020 release\) and "
                                         r"every Allen Patch-seq dandiset since.*human_l1 \(000630\)"):
        cells_table(cat, "rat")


def test_a_recording_opens_to_its_sweep_table_a_sweep_and_its_dandi_links(cat, served):
    dandi, written = served
    browser = CellBrowser("000630", catalog=cat)
    assert browser.archive.value == "human_l1" and "human_interneurons (000636)" in browser.archive.options
    asyncio.run(browser.load_archive())
    assert browser.count.object == "**2** of 2 human_l1 recordings"
    assert browser.cell_table.frozen_columns == ["ephys_session_id"]
    assert not browser.choice_widgets["structure"].visible and browser.choice_widgets["sex"].options == {
        "Female": "Female"}
    assert dandi.requests("blob") == []  # no NWB byte before a recording is opened
    browser.search.param.update(value=str(OTHER), value_input=str(OTHER))
    assert browser.cell_table.value["ephys_session_id"].tolist() == [OTHER]
    browser.search.param.update(value="", value_input="")
    browser.cell_table.selection = [0]
    assert browser.cell_id == SESSION and f"### Recording {SESSION}" in browser.cell_info.object
    shown = browser.cell_info.object
    assert f"dandiarchive.org/dandiset/{L1}/{L1_VERSION}/files?location=sub-{SUBJECT}" in shown
    assert r"donor\: 839897123" in shown and r"sex\: Female" in shown  # as text, Markdown escaped
    local = read_nwb(written.path)
    pd.testing.assert_frame_equal(browser.sweep_widget.value,
                                  local.read().drop(columns=["cell_specimen_id"], errors="ignore")[list(SWEEP_DTYPES)])
    browser.sweep_widget.selection = [2]
    number = int(browser.sweep_widget.value.iloc[2]["sweep_number"])
    assert browser.plot.object.children[0].title.text.startswith(f"Sweep {number} · ")
    assert "only the 2020 archives (human, mouse) have them" in browser.modalities.shape_info.object
    if importlib.util.find_spec("ipfx") is not None:  # its features: looked up in the cache by session, offered
        assert f"Not computed for {SESSION} yet" in browser.features.info.object and browser.features.button.visible


def test_a_file_without_a_session_opens_by_its_path(cat, served):
    browser = CellBrowser("human_2022_03", catalog=cat)
    asyncio.run(browser.load_archive())
    browser.cell_table.selection = [0]
    assert browser.cell_id == COLLABORATOR and "### Recording sub\\-H18\\-28\\-013" in browser.cell_info.object
    assert len(browser.sweep_widget.value) > 0


def test_a_session_asked_for_is_opened_or_said_missing(cat, served):
    browser = CellBrowser("human_l1", catalog=cat, cell=OTHER)  # outside a server, panel runs its onload at once
    assert browser.cell_id == OTHER and browser.cell_table.value["ephys_session_id"].tolist() == [OTHER]
    assert f"### Recording {OTHER}" in browser.cell_info.object and len(browser.sweep_widget.value) > 0
    missing = CellBrowser("human_l1", catalog=cat, cell=1)
    assert missing.cell_error.visible
    assert missing.cell_error.object == "No recording of session 1 in the human_l1 archive's 2 recordings."



def test_gui_session_is_checked_up_front_against_the_dandisets_sessions(served):
    from patchseq_intake.errors import UnknownCellError
    from patchseq_intake.gui.browser_server import check_cell

    check_cell("human_l1", OTHER)  # there: nothing said
    check_cell("human_2022_03", COLLABORATOR)  # a file without a session, by its path
    with pytest.raises(UnknownCellError, match=r"^no recording of session 1 in human_l1 \(patchseq-intake cells "
                                               r"human_l1 lists them\)$"):
        check_cell("human_l1", 1)
