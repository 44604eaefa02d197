"""The sessions table across the Allen Patch-seq dandisets, on the listings the catalog ships (real data).

The counts are the reference's (``shared/reference/allen-dandisets/README.md``):
3307 files of 14 dandisets, 2391 distinct, 2257 distinct session ids, 35
sessions with differing bytes in two dandisets, 99 files without a session
id; 000020's 4435 files on top.
"""

from __future__ import annotations

import pytest

from patchseq_intake import config
from patchseq_intake.dandi.assets import Asset, AssetIndex, _draft_index
from patchseq_intake.dandi.dandisets import find, registry
from patchseq_intake.dandi.recordings import Recording
from patchseq_intake.dandi.sessions import COLUMNS, copies_of, sessions_table
from patchseq_intake.testing.dandi import DandiReplica
from patchseq_intake.testing.server import LocalServer

from ..conftest import REFERENCE_TABLES

MOUSE_FILES = 4435


@pytest.fixture(scope="module")
def every_session():
    """The root catalog's table with DANDI's own API set: every shipped listing, no request (conftest refuses any
    but 127.0.0.1's)."""
    import patchseq_intake

    return patchseq_intake.open_catalog().sessions.read()


@pytest.fixture(autouse=True)
def _dandis_own_api(monkeypatch):
    monkeypatch.delenv(config.DANDI_API_ENV, raising=False)


def test_one_row_per_session_and_one_per_differing_copy(every_session):
    table = every_session
    assert list(table.columns) == list(COLUMNS) and len(table) == 6826
    with_session = table.dropna(subset=["ephys_session_id"])
    assert with_session["ephys_session_id"].nunique() == 2257 + MOUSE_FILES
    differing = with_session[with_session["copies_differ"]]
    assert differing["ephys_session_id"].nunique() == 35 and len(differing) == 70  # each copy a row, never merged
    assert not with_session[~with_session["copies_differ"]]["ephys_session_id"].duplicated().any()
    assert table["sha256"].nunique() == 2391 + MOUSE_FILES  # every distinct file is some row's
    assert table["ephys_session_id"].isna().sum() == 99 and not table[["dandiset", "dandi_path"]].duplicated().any()


def test_a_differing_copy_names_the_other(every_session):
    rows = every_session[every_session["ephys_session_id"] == 914396880]  # 000288 against 000570 (and 000636)
    assert sorted(rows["dandisets"]) == ["000288", "000570 000636"]
    reexport = rows.set_index("dandisets").loc["000570 000636"]
    assert reexport["dandiset"] == "000570" and reexport["chosen_because"] == (
        "newest published version of 2 identical copies")  # 000636 is a draft
    assert reexport["other_copies"].startswith("000288 draft sub-") and "SHA-256 adc6922efd8d..." in (
        reexport["other_copies"])


def test_identical_copies_are_one_row_from_the_newest_published_version(every_session):
    paper = every_session[every_session["dandisets"].str.contains("000630")]
    assert len(paper) == 210 and set(paper["dandiset"]) == {"000630"}  # 0.230915.2257: newer than the quarterlies'
    interneurons = every_session[every_session["dandisets"].str.contains("000636")]
    assert len(interneurons) == 706 and "000636" not in set(interneurons["dandiset"])  # a draft: never chosen


def test_one_spelling_of_species_sex_as_dandi_gives_it_and_age_in_days(every_session):
    species = every_session.groupby("species")["dandi_path"].count().to_dict()
    assert species == {"Homo sapiens": 2156, "Macaca nemestrina": 235, "Mus musculus": MOUSE_FILES}
    human = every_session[every_session["species"] == "Homo sapiens"]
    assert set(human["sex"].dropna()) == {"Female", "Male", "Unknown"}
    assert human["age_days"].isna().sum() == 45
    assert human["age_days"].min() > 365  # DANDI's P0.0D, an unknown age, is missing, not a newborn
    collaborators = every_session[every_session["ephys_session_id"].isna()]
    assert set(collaborators["dandiset"]) == {"000228", "000337"}
    assert (collaborators["age_days"] % 365.25 == 0).all()  # P41.0Y: years of 365.25 days
    assert every_session[every_session["dandiset"] == "000020"]["sex"].isna().all()  # no metadata in its listing


def test_named_dandisets_give_their_rows_and_still_tell_of_copies_elsewhere(cat):
    table = cat.sessions(dandisets=["human_l1", "636"]).read()
    assert set(table["dandiset"]) == {"000630", "000636"} and len(table) == 910  # 6 sessions in both: one row
    row = cat.sessions(dandisets="636").read().set_index("ephys_session_id").loc[1002962014]
    assert (row["dandisets"], row["chosen_because"]) == ("000142 000636", "this dandiset's copy")
    assert row["copies_differ"] and row["other_copies"].startswith("000570 ")  # an unnamed dandiset's other bytes


def test_filters_and_columns_as_for_the_release_tables(cat):
    table = cat.sessions(dandisets=["macaque_2023_06", "000635", "768"], filters=[["sex", "==", "Female"]],
                         columns=["ephys_session_id", "dandiset"]).read()
    assert list(table.columns) == ["ephys_session_id", "dandiset"] and len(table) == 70 + 116
    with pytest.raises(Exception, match=r"no column 'sexx'|'sexx'.*columns"):
        cat.sessions(filters=[["sexx", "==", "Female"]]).read()


def test_a_session_held_twice_in_one_dandiset_is_merged_where_the_bytes_agree():
    dandiset = find("000630")
    sha = "a" * 64
    assets = {path: Asset(path, None, "00000000-0000-4000-8000-00000000000" + str(n), 5, sha)
              for n, path in enumerate(["sub-1/sub-1_ses-7_icephys.nwb", "sub-2/sub-2_ses-7_icephys.nwb"])}
    table = sessions_table(copies_of(dandiset, AssetIndex("http://127.0.0.1:9/api", "000630", "draft", None, assets)))
    assert len(table) == 1 and table["chosen_because"].iloc[0] == "2 identical files in one dandiset: the first path"


@pytest.mark.skipif(not REFERENCE_TABLES.is_dir(), reason="the release's metadata tables are in ../shared")
def test_the_2020_cells_join_with_their_specimen_id_and_t_type(cat, release_server, tmp_path, monkeypatch):
    monkeypatch.setenv(config.TABLES_ENV, release_server.url)
    monkeypatch.setenv(config.CACHE_ENV, str(tmp_path))
    table = cat.sessions(dandisets=["human", "mouse", "000109"], release_cells=True).read()
    released = table[table["dandiset"].isin(["000023", "000020"])]
    assert released["cell_specimen_id"].notna().all() and len(released) == 318 + MOUSE_FILES
    assert released["t_type"].notna().sum() > 4000
    assert table[table["dandiset"] == "000109"]["cell_specimen_id"].isna().all()
    one = released[released["ephys_session_id"] == 541549227].iloc[0]  # human cell 541549258, as released
    assert one["cell_specimen_id"] == 541549258


def test_with_the_api_for_the_two_2025_dandisets_one_paged_listing_each(cat, tmp_path, monkeypatch):
    """``['all']``: the shipped listings where DANDI's API is the one set, and one listing each of the two the
    catalog ships none of (here DANDI's API is a replica at 127.0.0.1, set as DANDI's own)."""
    with LocalServer() as server:
        dandi = DandiReplica(server)
        for n in range(1001):  # two pages of 1000
            asset = Asset(f"sub-9/sub-9_ses-{n + 1}_icephys.nwb", None, f"00000000-0000-4000-8000-{n:012d}", 5,
                          f"{n:064x}")
            dandi.add_listed_asset("001455", "draft", asset, recording=Recording("9", str(n + 1), "Mus musculus"))
        dandi.add_listed_asset("001359", "draft", Asset("sub-8/sub-8_ses-1_icephys.nwb", None,
                                                        "00000000-0000-4000-9000-000000000000", 5, "f" * 64))
        monkeypatch.setattr(config, "DANDI_API", dandi.api_url)
        _draft_index.cache_clear()
        table = cat.sessions(dandisets=["all"]).read()
        listings = [request.path for request in dandi.requests("listing")]
    assert len(listings) == 3 and sum("/001455/" in path for path in listings) == 2  # page 1 and page 2
    assert len(table) == 6826 + 1002
    assert set(table[table["dandiset"] == "001455"]["species"]) == {"Mus musculus"}
    assert registry()["001455"].pinned() is None


def test_a_papers_table_joins_the_sessions_of_its_cells(cat, tmp_path, monkeypatch):
    """``paper``: the paper's columns, prefixed, on the rows of its sessions (a made-up table in the L1 layout,
    served under its real name and taken unpinned: the real one is not ours to ship)."""
    l1 = ("spec_id,cell_name,spec_id,err_id,t-type\n"
          "1,a,1,1001422850.0,Inh L1-2 PAX6 CDH12\n"      # a session of 000630
          "2,b,2,,Inh L1 SST CHRNA4\n"                     # no recording
          "3,c,3,55.0,Inh L1-2 GAD1 MC4R\n").encode()      # a session on no dandiset
    with LocalServer() as server:
        server.serve_file("/papers/human_l1_dataset_2023_02_06.csv", l1)
        monkeypatch.setenv(config.TABLES_ENV, f"{server.url}/papers")
        monkeypatch.setenv(config.UNPINNED_TABLES_ENV, "1")
        monkeypatch.setenv(config.CACHE_ENV, str(tmp_path))
        with pytest.warns(UserWarning, match="taken unverified"):
            table = cat.human_l1.sessions(paper="paper_human_l1").read()
    assert len(table) == 210 and table["paper_t-type"].notna().sum() == 1
    row = table.set_index("ephys_session_id").loc[1001422850]
    assert (row["paper_t-type"], row["paper_cell_specimen_id"]) == ("Inh L1-2 PAX6 CDH12", 1)
    with pytest.raises(Exception, match=r"paper 'paper_x' is not a paper table the catalog pins; they are "
                                        r"paper_human_l1, paper_mouse_l1, paper_human_interneurons"):
        cat.sessions(paper="paper_x")
