"""Any Allen Patch-seq dandiset's catalog against a local DANDI replica: sessions -> DANDI -> sweeps.

The replica holds a synthetic MIES file at a real session's path of 000630
(human L1, a published version) and one without a session id in 000228 (a
draft), each with DANDI's metadata of its recording; the catalog is pointed at
the replica, whose listing is then the authority (not the shipped one).
"""

from __future__ import annotations


import numpy as np
import pandas as pd
import pytest

from patchseq_intake import config, read_nwb
from patchseq_intake.dandi.assets import _draft_index
from patchseq_intake.errors import (
    InvalidQueryError,
    NoMatchingCellsError,
    UnknownCellError,
    UnknownSessionError,
    UnknownVersionError,
)
from patchseq_intake.testing.dandi import DandiReplica
from patchseq_intake.testing.recordings import COLLABORATOR, L1, L1_VERSION, SUBJECT, l1_path, serve_recordings
from patchseq_intake.testing.server import LocalServer
from patchseq_intake.transport import download

SESSION = 839897299  # a session of the human L1 paper (err_id 839897299): made-up file
PATH = l1_path(SESSION)
UNSERVED = 839918580  # listed with no bytes behind it: its blob answers 404


@pytest.fixture(scope="module")
def replica(world_files):
    written = next(iter(world_files.values()))
    with LocalServer() as server:
        dandi = DandiReplica(server)
        serve_recordings(dandi, written.path, [SESSION], unserved=[UNSERVED])
        yield dandi, written


@pytest.fixture
def served(replica, tmp_path, monkeypatch):
    dandi, written = replica
    monkeypatch.setenv(config.DANDI_API_ENV, dandi.api_url)
    monkeypatch.setenv(config.CACHE_ENV, str(tmp_path / "cache"))
    monkeypatch.setattr(download, "DEFAULT_RETRY", download.RetryPolicy(attempts=2, backoff_s=0.01))
    dandi.server.log.clear()
    return dandi, written


def test_a_dandisets_sessions_come_from_the_apis_listing_where_it_points_elsewhere(cat, served):
    dandi, _ = served
    table = cat["000630"].sessions.read()
    assert len(table) == 2 and len(dandi.requests("listing")) == 1  # the replica's listing, not the shipped one
    assert table["ephys_session_id"].tolist() == [SESSION, UNSERVED]
    row = table.iloc[0]
    assert (row.ephys_session_id, row.donor, row.species, row.sex) == (SESSION, SUBJECT, "Homo sapiens", "Female")
    assert row.age_days == 8035.0 and row.dandi_path == PATH and row.version == L1_VERSION
    assert row.chosen_because == "this dandiset's copy" and row.dandisets == L1
    # the session's real file is in 000142 too (its shipped listing); the synthetic bytes here are other bytes
    assert row.copies_differ and row.other_copies.startswith("000142 0.211007.1926 sub-")


def test_a_recordings_sweep_table_and_sweeps_are_read_as_a_2020_cells(cat, served):
    _, written = served
    source = cat.human_l1.ephys(session_id=SESSION)
    table = source.read()
    assert list(table.columns[:2]) == ["ephys_session_id", "dandi_path"]
    assert str(table["ephys_session_id"].dtype) == "Int64" and set(table["dandi_path"]) == {PATH}
    local = read_nwb(written.path)
    expected = local.read().drop(columns=["cell_specimen_id"], errors="ignore")
    pd.testing.assert_frame_equal(table.drop(columns=["ephys_session_id", "dandi_path"]), expected)
    number = int(expected["sweep_number"].iloc[-1])
    sweep, same = source.sweep(number, session_id=SESSION), local.sweep(number)
    np.testing.assert_array_equal(sweep.v, same.v)
    np.testing.assert_array_equal(sweep.i, same.i)
    streamed = cat.human_l1.ephys(session_id=[SESSION], access="stream").read()
    pd.testing.assert_frame_equal(streamed, table)


def test_a_file_without_a_session_is_selected_by_its_path(cat, served):
    sessions = cat.human_2022_03.sessions.read()
    assert sessions["ephys_session_id"].isna().all() and list(sessions["dandi_path"]) == [COLLABORATOR]
    assert sessions["age_days"].iloc[0] == 41 * 365.25
    source = cat.human_2022_03.ephys(filters=[["dandi_path", "==", COLLABORATOR]])
    table = source.read()
    assert table["ephys_session_id"].isna().all() and set(table["dandi_path"]) == {COLLABORATOR}
    number = int(table["sweep_number"].iloc[0])
    assert source.sweep(number).sweep_number == number  # the one file selected: no session id needed



def test_of_several_files_without_a_session_the_error_says_how_to_read_one(cat, served, world_files):
    dandi, written = served
    second = COLLABORATOR.replace("189zl3t", "1piss2h")
    dandi.add_asset("000228", "draft", second, written.path)
    _draft_index.cache_clear()  # a draft's listing is kept for the process
    try:
        source = cat.human_2022_03.ephys()
        with pytest.raises(InvalidQueryError, match=r"^this source selects 2 recordings: name one with session_id="
                                                    r"\.\.\.; a file without a session id is read from a source "
                                                    r"that selects it alone, filters=\[\['dandi_path', '=='"):
            source.sweep(1)
    finally:
        dandi.remove_asset("000228", "draft", second)
        _draft_index.cache_clear()


def test_a_recordings_features_rows_are_led_by_its_session(cat, served):
    pytest.importorskip("ipfx")
    with pytest.warns(UserWarning, match=f"^1 of the 1 cells: their sweeps could not be read.*: {UNSERVED} "):
        table = cat.human_l1.features(session_id=UNSERVED, scheduler="sync").read()  # a row saying why
    assert list(table.columns[:2]) == ["ephys_session_id", "dandi_path"] and table["error"].notna().all()
    assert table["ephys_session_id"].tolist() == [UNSERVED] and "HTTP 404" in table["error"].iloc[0]


# --- bad input -----------------------------------------------------------------------------------


def test_a_dandisets_files_are_named_by_session_not_by_cell(cat, served):
    with pytest.raises(InvalidQueryError, match=r"^unknown parameter\(s\) 'specimen_id' for human_l1.ephys; its "
                                                r"parameters: session_id, .* \(a dandiset's recordings are named by "
                                                r"their session \(ephys_session_id\): use session_id\)$"):
        cat.human_l1.ephys(specimen_id=SESSION)
    with pytest.raises(InvalidQueryError, match=r"^unknown parameter\(s\) 'session_id' for human.ephys; .*named by "
                                                r"their cell \(cell_specimen_id\); by session: filters="):
        cat.human.ephys(session_id=SESSION)
    from patchseq_intake.drivers.ephys import EphysSource

    with pytest.raises(InvalidQueryError, match=r"^specimen_id: the files of dandiset 000630 \(human_l1\) are named "
                                                r"by their session.*session_id"):
        EphysSource(None, "000630", None, None, L1_VERSION, specimen_id=SESSION)
    source = cat.human_l1.ephys(session_id=SESSION)
    with pytest.raises(UnknownCellError, match=rf"session 5 is not among this source's sessions \[{SESSION}\]"):
        source.sweep(1, session_id=5)
    with pytest.raises(InvalidQueryError, match="session_id must be a session id"):
        cat.human_l1.ephys(session_id="abc")


def test_a_session_in_no_dandiset_says_where_it_looked_and_where_it_is(cat, served):
    with pytest.raises(UnknownSessionError, match=r"dandiset 000630 \(human_l1\) at version 0.230915.2257 holds no "
                                                  r"session \[1\].*no dandiset the catalog ships a listing of holds "
                                                  r"it \(15 searched; 001359, 001455 are listed by the DANDI API"):
        cat.human_l1.ephys(session_id=1).read()
    with pytest.raises(UnknownSessionError, match=r"holds no session \[1000781418\].*it is in 000142 "
                                                  r"\(cat.human_2021_09.ephys\(session_id=1000781418\)\), 000636"):
        cat.human_l1.ephys(session_id=1000781418).read()
    with pytest.raises(NoMatchingCellsError, match=r"no recording of dandiset 000630 \(human_l1\).*filters"):
        cat.human_l1.ephys(filters=[["sex", "==", "Male"]]).read()


def test_a_version_dandi_does_not_have_is_named_with_the_one_pinned(cat, served):
    with pytest.raises(UnknownVersionError, match=r"dandiset 000630 has no version '0.999999.9999'.*the catalog pins "
                                                  r"0.230915.2257"):
        cat.human_l1.sessions(version="0.999999.9999").read()


def test_an_unknown_dandiset_is_named_with_those_there_are(cat):
    from patchseq_intake.drivers.sessions import SessionsSource
    from patchseq_intake.errors import UnknownDandisetError

    with pytest.raises(UnknownDandisetError, match=r"each of dandisets '000021' is not an Allen Institute Patch-seq "
                                                   r"dandiset the catalog knows; they are 000023 \(human\), 000020 "
                                                   r"\(mouse\), 000109 \(human_2021_06\)"):
        cat.sessions(dandisets=["000021"]).read()
    assert SessionsSource(dandisets=["630", "human_interneurons"]).dandisets[1].dandiset == "000636"


def test_the_demos_replica_lists_every_dandiset_and_serves_a_recording_at_its_real_path(cat, tmp_path, monkeypatch):
    from patchseq_intake.testing.physiology import default_sweeps
    from patchseq_intake.testing.world import DEMO_RECORDINGS, list_every_dandiset, publish_recording

    (dandiset, session), = DEMO_RECORDINGS
    with LocalServer() as server:
        dandi = DandiReplica(server)
        list_every_dandiset(dandi)
        written = publish_recording(dandi, tmp_path, dandiset, session, default_sweeps(scale=0.1, sampling_rate=10e3))
        monkeypatch.setenv(config.DANDI_API_ENV, dandi.api_url)
        monkeypatch.setenv(config.CACHE_ENV, str(tmp_path / "cache"))
        sessions = cat[dandiset].sessions.read()
        table = cat[dandiset].ephys(session_id=session).read()
    assert len(sessions) == 210 and session in set(sessions["ephys_session_id"])
    assert sessions.set_index("ephys_session_id").loc[session, "sha256"] == written.sha256  # the synthetic bytes
    assert list(table["sweep_number"]) == [summary.sweep_number for summary in written.sweeps]
