"""Papers' per-cell tables (kind ``paper``): fetched, verified, cached and typed like the release tables,
and joined to a sessions table.

The tables here are small ones the tests write in the papers' own column
layouts (AllenInstitute/patchseq_human_L1's ``human_l1_dataset_2023_02_06.csv``,
human_patchseq_gaba's ``LeeDalley_manuscript_metadata_v2.csv`` and
``LeeDalley_ephys_fx.csv``): the real ones are not ours to redistribute. Where
``../shared/reference/paper-tables/`` holds copies of the real ones, the last
tests check their pins, rows and joins; they skip without it.
"""

from __future__ import annotations

import hashlib

import pandas as pd
import pytest

from patchseq_intake.drivers.table import ReleaseTableSource
from patchseq_intake.errors import ChecksumError, InvalidQueryError, TableFormatError
from patchseq_intake.tables.paper import join_sessions, normalise_paper
from patchseq_intake.testing.server import LocalServer

from ..conftest import REFERENCE

L1 = (
    "spec_id,cell_name,spec_id,donor_name,species,structure,soma_depth_um,has_ephys,err_id,nwb_path,t-type\n"
    "839897427,H19.06.351.11.16.01.01,839897427,H19.06.351,human,MTG,112.5,True,839897299.0,"
    "/prod259/Ephys_Roi_Result_839897299/nwb2_H19.06.351.11.16.01.01.nwb,Inh L1-2 PAX6 CDH12\n"
    "654144568,H17.03.016.11.16.02,654144568,H17.03.016,human,MTG,80.0,True,654144504.0,"
    "/prod0/Ephys_Roi_Result_654144504/nwb2_H17.03.016.11.16.02.nwb,Inh L1 SST CHRNA4\n"
    "1089231177,H21.03.001.01.01.01,1089231177,H21.03.001,human,MFG,,True,1219763949.0,,NA\n"
    "700000001,H18.03.002.11.01.01,700000001,H18.03.002,human,MTG,95.25,False,,,Inh L1-2 GAD1 MC4R\n"
).encode()
"""Four cells in the layout of the L1 table: ``spec_id`` twice, sessions (``err_id``) written as floats; one
cell's session is on DANDI in two dandisets, one a collaborator's (not on DANDI), one has no recording."""

INTERNEURONS = (
    "specimen_id_x,cell_name,Donor,Transcriptomic_type ,Has_ephys,Genes_Detected,nwb_id\r\n"
    "636982263,H18.06.366.11.06.01,H18.06.366,Inh L1-2 SST BAGE2,TRUE,8123,636982248\r\n"
    "819133824,H19.03.002.12.01.01.01.04,H19.03.002,Inh L1-3 SST CALB1,TRUE,9001,819133336\r\n"
    "819133824,H19.03.002.12.01.01.01.04,H19.03.002,Inh L1-3 SST CALB1,TRUE,9001,819133336\r\n"
    "567737682,H17.06.003.11.06.02,H17.06.003,Inh L1-2 ADARB2 MC4R,,12590,\r\n"
).encode()
"""Three cells in the layout of the interneuron table (CRLF lines): one row repeated whole, as the real one
repeats cell 819133824; one cell without a session."""

FEATURES = b"specimen_id,rheobase_i,tau\n541549258,50.0,0.021\n999999999,70.0,0.018\n"
"""Two cells in the layout of the interneurons' feature table: no session column."""

TABLES = {"human_l1_dataset_2023_02_06.csv": L1, "LeeDalley_manuscript_metadata_v2.csv": INTERNEURONS,
          "LeeDalley_ephys_fx.csv": FEATURES}


def _sha256(content: bytes) -> str:
    return hashlib.sha256(content).hexdigest()


@pytest.fixture(scope="module")
def paper_server():
    """The papers' tables under /papers/, and a copy of the L1 table with one byte changed under /changed/."""
    with LocalServer() as server:
        for name, content in TABLES.items():
            server.serve_file(f"/papers/{name}", content)
        server.serve_file("/changed/human_l1_dataset_2023_02_06.csv", L1.replace(b"112.5", b"112.6"))
        yield server


def _source(server: LocalServer, name: str, folder: str = "papers", **parameters) -> ReleaseTableSource:
    """A paper table's entry as the catalog gives it: its URL on ``server`` and the SHA-256 of the good bytes."""
    return ReleaseTableSource(url=f"{server.url}/{folder}/{name}", sha256=_sha256(TABLES[name]), table="paper",
                              archive="human L1", **parameters)


def _requests_for(server: LocalServer, name: str) -> int:
    return sum(entry.path.endswith(f"/{name}") for entry in server.log)


@pytest.fixture
def sessions() -> pd.DataFrame:
    """A sessions table: one session in two dandisets (two rows), one a file with no session id, one of no
    paper, and a 2020 cell with its ``cell_specimen_id``; a ``species`` column of its own."""
    return pd.DataFrame(
        {
            "ephys_session_id": pd.array([839897299, 654144504, 654144504, None, 636982248, 541549227], "Int64"),
            "dandisets": ["000630", "000142", "000630", "000228", "000636", "000023"],
            "species": ["Homo sapiens"] * 6,
            "cell_specimen_id": pd.array([None, None, None, None, None, 541549258], "Int64"),
        },
        index=pd.Index([10, 11, 12, 13, 14, 15], name="row"),
    )


# --- fetched, verified, cached, typed -------------------------------------------------------------------------


def test_a_paper_table_keeps_its_columns_and_gets_typed_ids(paper_server):
    table = _source(paper_server, "human_l1_dataset_2023_02_06.csv").read()
    assert list(table.columns) == [
        "spec_id", "cell_name", "spec_id.1", "donor_name", "species", "structure", "soma_depth_um", "has_ephys",
        "err_id", "nwb_path", "t-type", "cell_specimen_id", "ephys_session_id",
    ]
    assert str(table["cell_specimen_id"].dtype) == str(table["ephys_session_id"].dtype) == "Int64"
    assert list(table["ephys_session_id"]) == [839897299, 654144504, 1219763949, pd.NA]
    assert list(table["err_id"].iloc[:3]) == ["839897299.0", "654144504.0", "1219763949.0"]  # as written
    assert list(table["cell_specimen_id"]) == [839897427, 654144568, 1089231177, 700000001]
    assert table["soma_depth_um"].dtype == "float64" and pd.isna(table["soma_depth_um"].iloc[2])
    assert str(table["has_ephys"].dtype) == "boolean"
    assert table["t-type"].iloc[2] == "NA"  # a literal, kept


def test_the_interneuron_layout_is_read_as_written(paper_server):
    table = _source(paper_server, "LeeDalley_manuscript_metadata_v2.csv").read()
    assert len(table) == 4  # the repeated row is the paper's: kept in the table
    assert table["Transcriptomic_type "].iloc[0] == "Inh L1-2 SST BAGE2"
    assert str(table["Genes_Detected"].dtype) == "Int64"
    assert list(table["ephys_session_id"]) == [636982248, 819133336, 819133336, pd.NA]
    assert str(table["Has_ephys"].dtype) == "boolean" and pd.isna(table["Has_ephys"].iloc[3])


def test_a_changed_byte_is_refused_naming_the_url_and_both_digests(paper_server, cache_dir):
    source = _source(paper_server, "human_l1_dataset_2023_02_06.csv", folder="changed")
    with pytest.raises(ChecksumError) as caught:
        source.read()
    message = str(caught.value)
    assert f"{paper_server.url}/changed/human_l1_dataset_2023_02_06.csv" in message
    assert f"expected {_sha256(L1)}" in message and f"found {_sha256(L1.replace(b'112.5', b'112.6'))}" in message
    assert "the human L1 paper table" in message and "the release's" not in message
    assert not [path for path in cache_dir.rglob("*.parquet")]


def test_a_second_read_is_from_the_cache(paper_server):
    name = "LeeDalley_ephys_fx.csv"
    before = _requests_for(paper_server, name)
    first = _source(paper_server, name).read()
    again = _source(paper_server, name, filters=[["cell_specimen_id", "==", 541549258]]).read()
    assert _requests_for(paper_server, name) - before == 1
    assert list(again["rheobase_i"]) == [50.0] and len(first) == 2
    assert "ephys_session_id" not in first.columns  # the table has no session column


@pytest.mark.parametrize(
    "content, message",
    [
        (b"cell,rheobase_i\n1,50\n", r"not a per-cell paper table.*\['cell_specimen_id', 'specimen_id'.*found \['cell'"),
        (b"spec_id,err_id\n1,839897299.5\n", r"column 'err_id' names ids.*not whole numbers \['839897299.5'\]"),
        (b"specimen_id,nwb_id\nH17.06.003,1\n", r"column 'specimen_id' names ids.*\['H17.06.003'\]"),
    ],
)
def test_a_table_without_whole_number_ids_is_refused(content, message):
    with pytest.raises(TableFormatError, match=f"^paper.csv: {message}"):
        normalise_paper(content, "paper.csv")


# --- the join -------------------------------------------------------------------------------------------------


def test_join_by_session_adds_the_paper_columns_to_each_row_of_its_session(paper_server, sessions):
    paper = _source(paper_server, "human_l1_dataset_2023_02_06.csv").read()
    joined = join_sessions(sessions, paper)
    assert list(joined.index) == list(sessions.index)
    pd.testing.assert_frame_equal(joined[sessions.columns], sessions)
    assert list(joined.columns[len(sessions.columns):]) == [f"paper_{name}" for name in paper.columns
                                                            if name != "ephys_session_id"]
    assert list(joined["paper_cell_specimen_id"]) == [839897427, 654144568, 654144568, pd.NA, pd.NA, pd.NA]
    assert joined["paper_species"].iloc[0] == "human" and joined["species"].iloc[0] == "Homo sapiens"
    assert str(joined["paper_has_ephys"].dtype) == "boolean"
    assert joined["paper_cell_specimen_id"].notna().sum() == 3  # 2 of the paper's 4 cells, one of them twice


def test_identical_rows_of_a_paper_count_once(paper_server, sessions):
    paper = _source(paper_server, "LeeDalley_manuscript_metadata_v2.csv").read()
    sessions.loc[15, "ephys_session_id"] = 819133336
    joined = join_sessions(sessions, paper, prefix="lee_")
    assert len(joined) == len(sessions)
    assert list(joined["lee_cell_specimen_id"].dropna()) == [636982263, 819133824]


def test_different_rows_for_one_session_are_refused(sessions):
    paper = normalise_paper(INTERNEURONS.replace(b"9001,819133336\r\n", b"9002,819133336\r\n", 1), "v2.csv")
    with pytest.raises(TableFormatError, match=r"different rows for the same ephys_session_id \[819133336\]"):
        join_sessions(sessions, paper)


def test_without_a_session_column_the_join_is_by_cell(paper_server, sessions):
    paper = _source(paper_server, "LeeDalley_ephys_fx.csv").read()
    joined = join_sessions(sessions, paper)
    assert list(joined["paper_rheobase_i"].notna()) == [False] * 5 + [True]
    assert "paper_cell_specimen_id" not in joined.columns  # the key joined on is the sessions' own


@pytest.mark.parametrize(
    "change, arguments, message",
    [
        (lambda s: s.drop(columns="cell_specimen_id"), {},
         r"join_sessions\(on='cell_specimen_id'\): the sessions table has no column 'cell_specimen_id'.*"
         r"its columns are ephys_session_id, dandisets, species"),
        (lambda s: s.assign(paper_rheobase_i=1.0), {},
         r"prefix='paper_'.*\['paper_rheobase_i'\], which the sessions table has already"),
        (lambda s: s, {"on": "ephys_session_id"}, r"the paper table has no column 'ephys_session_id'"),
        (lambda s: s, {"on": "spec_id"}, r"on='spec_id'\): on is one of ephys_session_id, cell_specimen_id, or None"),
    ],
)
def test_a_join_that_cannot_be_made_says_why(sessions, change, arguments, message):
    paper = normalise_paper(FEATURES, "fx.csv")
    with pytest.raises(InvalidQueryError, match=message):
        join_sessions(change(sessions), paper, **arguments)


# --- the real tables, where ../shared holds copies ------------------------------------------------------------

REAL_TABLES = REFERENCE / "paper-tables"
REAL = {
    # file name: SHA-256 of the bytes at the pinned commit, rows, sessions of DANDI listings it joins, by dandiset
    "human_l1_dataset_2023_02_06.csv": (
        "1f08047bfc92a2a62a8e6ec4fca55ee82f19ff1d4bbde9bd2c7d105b9f2b4542", 419, 261,
        {"000109": 84, "000142": 129, "000209": 14, "000288": 4, "000570": 34, "000630": 210, "000636": 38},
    ),
    "mouse_l1_dataset_2023_02_06.csv": (
        "d3c9c8957236bdd2e30a5575a59502a43f9e6b5b1a1e6c050bcf096f74800405", 547, 476, {"000020": 476},
    ),
    "LeeDalley_manuscript_metadata_v2.csv": (
        "c6c72fd87a9fdd67b08ed105f46529383962d05c1617b3fe2220e46e8af14b17", 779, 693,
        {"000109": 153, "000142": 273, "000209": 152, "000288": 31, "000570": 116, "000630": 4, "000636": 690},
    ),
}


@pytest.fixture(scope="module")
def listed_sessions() -> pd.DataFrame:
    """One row per session id of the shipped-reference listings, with the dandisets holding it."""
    listings = REFERENCE / "allen-dandisets"
    if not REAL_TABLES.is_dir() or not listings.is_dir():
        pytest.skip(f"copies of the papers' tables not found at {REAL_TABLES} (or the listings at {listings})")
    rows = []
    for path in [*sorted(listings.glob("0*.csv")), REFERENCE / "dandi-assets" / "000020.csv"]:
        paths = pd.read_csv(path, usecols=["path"], dtype=str)["path"]
        rows.append(pd.DataFrame({"ephys_session_id": paths.str.extract(r"_ses-(\d+)_icephys")[0],
                                  "dandiset": path.stem}))
    found = pd.concat(rows).dropna()
    by_session = found.groupby("ephys_session_id")["dandiset"].agg(lambda held: ",".join(sorted(set(held))))
    return pd.DataFrame({"ephys_session_id": by_session.index.astype("int64").astype("Int64"),
                         "dandisets": by_session.to_numpy()})


@pytest.mark.parametrize("name", sorted(REAL))
def test_a_real_table_has_its_pin_rows_and_joins(listed_sessions, name):
    path = REAL_TABLES / name
    if not path.is_file():
        pytest.skip(f"no copy of {name} in {REAL_TABLES}")
    sha256, rows, joined_sessions, by_dandiset = REAL[name]
    content = path.read_bytes()
    assert _sha256(content) == sha256
    paper = normalise_paper(content, str(path))
    assert len(paper) == rows
    joined = join_sessions(listed_sessions, paper)
    hit = joined[joined["paper_cell_specimen_id"].notna()]
    assert len(hit) == joined_sessions
    assert hit["dandisets"].str.split(",").explode().value_counts().to_dict() == by_dandiset
