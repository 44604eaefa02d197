"""The command on any Allen Patch-seq dandiset: ARCHIVE by id or short name, recordings by session.

The shipped listings answer the tables (no request); a local DANDI replica
serves a synthetic MIES file at a real session's path of 000630 (human L1),
one listed with no bytes behind it, and one without a session id in 000228,
each with DANDI's metadata of its recording (as tests/drivers/test_dandiset_ephys.py).
"""

from __future__ import annotations

import hashlib
import io
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from patchseq_intake import config, read_nwb
from patchseq_intake.testing.dandi import DandiReplica
from patchseq_intake.testing.recordings import COLLABORATOR, L1_VERSION, SUBJECT, l1_path, serve_recordings
from patchseq_intake.testing.server import LocalServer
from patchseq_intake.transport import download

from .test_cli import fails, misused, ok, run

SESSION = 839897299  # a made-up file at a session of the human L1 paper
PATH = l1_path(SESSION)
UNSERVED = 839918580  # listed, with no bytes behind it
ELSEWHERE = 1000781418  # a session of 000142 and 000636 (their shipped listings), not of 000630


@pytest.fixture(scope="module")
def replica(world_files):
    written = next(iter(world_files.values()))
    with LocalServer() as server:
        dandi = DandiReplica(server)
        serve_recordings(dandi, written.path, [SESSION], unserved=[UNSERVED])
        yield dandi, written


@pytest.fixture
def served(replica, monkeypatch):
    dandi, written = replica
    monkeypatch.setenv(config.DANDI_API_ENV, dandi.api_url)
    monkeypatch.setattr(download, "DEFAULT_RETRY", download.RetryPolicy(attempts=2, backoff_s=0.01))
    return dandi, written


def _csv(text: str) -> pd.DataFrame:
    return pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False)


# --- ARCHIVE: any dandiset, by id or short name ----------------------------------------------------------


def test_cells_of_a_dandiset_is_its_sessions_table_by_id_or_name(capsys, cat):
    expected = cat.human_interneurons.sessions.read()
    by_name = ok(capsys, "cells", "human_interneurons", "--format", "csv")
    assert ok(capsys, "cells", "000636", "--format", "csv") == by_name == ok(capsys, "cells", "636", "--format", "csv")
    shown = _csv(by_name)
    assert list(shown.columns) == list(expected.columns) and len(shown) == len(expected) == 706
    assert shown["ephys_session_id"].tolist() == expected["ephys_session_id"].astype(str).tolist()
    males = _csv(ok(capsys, "cells", "human_l1", "--filter", "sex", "==", "Male", "--columns", "ephys_session_id,donor",
                    "--format", "csv"))
    assert list(males.columns) == ["ephys_session_id", "donor"]
    table = cat.human_l1.sessions(filters=[["sex", "==", "Male"]]).read()
    assert len(males) == len(table) > 0 and males["donor"].tolist() == table["donor"].tolist()
    assert fails(capsys, "cells", "human_l1", "--filter", "sex", "==", "X") == (
        "patchseq-intake: no human_l1 recording matches --filter sex == X")


def test_the_2020_dandisets_by_id_are_the_archives(capsys, served_tables):
    assert ok(capsys, "cells", "000023", "--format", "csv") == ok(capsys, "cells", "human", "--format", "csv")
    assert "cell_specimen_id" in ok(capsys, "cells", "20", "--columns", "cell_specimen_id", "--format", "csv")


def test_files_of_a_dandiset_are_its_nwb_files_as_dandi_lists_them(capsys, served):
    files = _csv(ok(capsys, "files", "human_l1", "--format", "csv"))
    assert files["dandi_path"].tolist() == [PATH, f"sub-{SUBJECT}/sub-{SUBJECT}_ses-{UNSERVED}_icephys.nwb"]
    _, written = served
    assert files.loc[0, "sha256"] == hashlib.sha256(Path(written.path).read_bytes()).hexdigest()
    assert files.loc[0, "version"] == L1_VERSION


def test_a_recordings_sweeps_by_its_session(capsys, served, tmp_path):
    _, written = served
    local = read_nwb(written.path)
    table = pd.read_parquet(_written(capsys, tmp_path, "sweeps", "human_l1", str(SESSION), "-o"))
    assert list(table.columns[:2]) == ["ephys_session_id", "dandi_path"] and set(table["dandi_path"]) == {PATH}
    assert table["sweep_number"].tolist() == local.read()["sweep_number"].tolist()
    number = int(table["sweep_number"].iloc[-1])
    samples = pd.read_parquet(_written(capsys, tmp_path, "sweeps", "630", str(SESSION), "--sweep", str(number),
                                       "--access", "stream", "-o"))
    np.testing.assert_array_equal(samples["v_mv"].to_numpy(), local.sweep(number).v)


def test_fetch_prints_each_recordings_session_or_path_and_its_file(capsys, served):
    _, written = served
    session, path = ok(capsys, "fetch", "human_l1", str(SESSION)).rstrip("\n").split("\t")
    assert session == str(SESSION) and Path(path).read_bytes() == Path(written.path).read_bytes()
    key, same = ok(capsys, "fetch", "human_2022_03", "--filter", "dandi_path", "==", COLLABORATOR).rstrip("\n").split("\t")
    assert key == COLLABORATOR and same == path  # the same bytes, cached once


def test_index_prints_each_recordings_session(capsys, served, tmp_path):
    _, written = served
    line = ok(capsys, "index", "000630", str(SESSION), "--store", str(tmp_path / "store")).rstrip("\n")
    assert line == f"{SESSION}\t{hashlib.sha256(Path(written.path).read_bytes()).hexdigest()}\tbuilt"


def test_a_session_the_dandiset_lacks_names_where_it_is_in_the_commands_words(capsys, served):
    said = fails(capsys, "sweeps", "human_l1", str(ELSEWHERE))
    assert f"holds no session [{ELSEWHERE}] (SPECIMEN_ID is a recording's ephys_session_id here; it holds 2: " \
           "patchseq-intake cells human_l1 lists them)" in said
    assert f"(patchseq-intake sweeps human_2021_09 {ELSEWHERE})" in said and "cat." not in said


# --- what only the 2020 archives have, and names that are not dandisets ----------------------------------


@pytest.mark.parametrize(("argv", "said"), [
    (["morphology", "human_l1", "1"], "morphology: only the 2020 archives (human, mouse) have reconstructions; "
                                      "dandiset 000630 (human_l1) has NWB files only"),
    (["expression", "636", "--genes", "SST"], "expression: only the 2020 archives (human, mouse) have transcriptomes"),
    (["files", "000636", "--technique", "morphology"], "--technique morphology: only the 2020 archives"),
    (["fetch", "human_l1", "1", "--technique", "transcriptomics"], "--technique transcriptomics: only the 2020"),
    (["fetch", "human_l1"], "name the recordings: SPECIMEN_ID (the ephys_session_id of a recording of human_l1) ..."),
    (["gui", "--archive", "636", "--cell", "5"], "--cell names a cell of human or mouse; the recordings of "
                                                 "human_interneurons are named by their ephys_session_id: --session 5"),
    (["gui", "--archive", "mouse", "--session", "5"], "--session names a recording of a dandiset beyond 2020; the "
                                                       "files of mouse are named by cell: --cell CELL_SPECIMEN_ID"),
    (["sessions", "--all", "--dandiset", "630"], "--all gathers every dandiset: give no --dandiset with it"),
])
def test_what_a_dandiset_beyond_2020_lacks_is_a_usage_error(capsys, argv, said):
    assert said in misused(capsys, *argv)


@pytest.mark.parametrize(("argv", "bad"), [(["cells", "000021"], "000021"), (["sweeps", "rat", "1"], "rat"),
                                           (["fetch", "human_l2", "1"], "human_l2"), (["features", "7"], "7"),
                                           (["index", "macaque"], "macaque"), (["morphology", "x", "1"], "x"),
                                           (["sessions", "--dandiset", "000021"], "000021"),
                                           (["gui", "--archive", "0"], "0")])
def test_a_name_that_is_no_dandiset_is_a_usage_error_listing_them(capsys, argv, bad):
    said = misused(capsys, *argv)
    assert f"'{bad}' is not an Allen Institute Patch-seq dandiset the catalog knows: give human, mouse, or a " \
           "dandiset's id or short name; they are 000023 (human), 000020 (mouse)" in said
    assert "001455 (mouse_excitatory_2025), 000630 (human_l1), 000636 (human_interneurons)" in said


# --- sessions: every recording across dandisets ------------------------------------------------------


def test_sessions_gives_the_table_across_the_dandisets_named(capsys, cat):
    shown = _csv(ok(capsys, "sessions", "--dandiset", "human_l1", "--dandiset", "636", "--format", "csv"))
    expected = cat.sessions(dandisets=["000630", "000636"]).read()
    assert len(shown) == len(expected) and list(shown.columns) == list(expected.columns)
    assert set(shown["dandiset"]) <= {"000630", "000636"}
    assert all("000630" in held or "000636" in held for held in shown["dandisets"])  # and the quarterlies' copies
    differ = _csv(ok(capsys, "sessions", "--filter", "copies_differ", "==", "true", "--columns",
                     "ephys_session_id", "dandiset", "--format", "csv"))
    assert list(differ.columns) == ["ephys_session_id", "dandiset"] and len(differ) == 70  # 35 sessions, two copies
    assert differ["ephys_session_id"].value_counts().eq(2).all()
    assert fails(capsys, "sessions", "--filter", "donor", "==", "nobody") == (
        "patchseq-intake: no session matches --filter donor == nobody")


def test_sessions_with_the_release_cells_joins_their_ids(capsys, served_tables, cat):
    shown = _csv(ok(capsys, "sessions", "--dandiset", "mouse", "--release-cells", "--format", "csv"))
    expected = cat.sessions(dandisets=["mouse"], release_cells=True).read()
    assert "cell_specimen_id" in shown and len(shown) == len(expected)
    assert shown["cell_specimen_id"].tolist() == expected["cell_specimen_id"].astype("string").fillna("").tolist()


def _written(capsys, tmp_path: Path, *argv: str) -> Path:
    """Run ``argv`` (ending in ``-o``) writing to a new parquet file; its path."""
    path = tmp_path / f"out{len(list(tmp_path.glob('out*')))}.parquet"
    status, _, err = run(capsys, *argv, str(path))
    assert status == 0, err
    return path


def test_sessions_with_a_paper_adds_its_columns_to_its_sessions(capsys, tmp_path, monkeypatch):
    """--paper: the paper's per-cell table (made up in the L1 layout, served under its real name, unpinned)."""
    l1 = b"spec_id,cell_name,spec_id,err_id,t-type\n1,a,1,1001422850.0,Inh L1-2 PAX6 CDH12\n2,b,2,,Inh L1 SST\n"
    with LocalServer() as server:
        server.serve_file("/papers/human_l1_dataset_2023_02_06.csv", l1)
        monkeypatch.setenv(config.TABLES_ENV, f"{server.url}/papers")
        monkeypatch.setenv(config.UNPINNED_TABLES_ENV, "1")
        shown = _csv(ok(capsys, "sessions", "--dandiset", "human_l1", "--paper", "paper_human_l1", "--filter",
                        "ephys_session_id", "==", "1001422850", "--format", "csv"))
    assert len(shown) == 1 and shown["paper_t-type"].tolist() == ["Inh L1-2 PAX6 CDH12"]
    assert misused(capsys, "sessions", "--paper", "paper_x").startswith("usage: patchseq-intake sessions")


def test_a_session_of_a_2020_cell_is_pointed_to_in_the_commands_words(capsys):
    message = fails(capsys, "sweeps", "human_l1", "541549227")  # human cell 541549258's session, in 000023
    assert "it is in 000023 (patchseq-intake cells human --filter ephys_session_id == 541549227 (its " in message
    assert "cat." not in message
