"""Every cell's file as DANDI holds it: resolution by session, DANDI's checksums, the nwb_files entry.

Two kinds of tests:

- against the local replica (the ``world`` fixture): real cells with
  synthetic bytes, listed among every real asset when ``../shared`` is there;
- against the real release tables and the pinned listings shipped with the
  catalogs (DANDI's own API, so no request at all is made to DANDI): skipped
  without ``../shared/reference``.
"""

from __future__ import annotations

import csv
import hashlib
import warnings
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import pandas as pd
import pytest

from patchseq_intake import config
from patchseq_intake.dandi.assets import read_listing
from patchseq_intake.dandi.nwb_files import COLUMNS
from patchseq_intake.errors import ChecksumError, InvalidQueryError, ManifestMismatchWarning
from patchseq_intake.tables.shipped import shipped_dandiset, shipped_listings
from patchseq_intake.testing.world import DEMO_CELLS, dandi_path

from ..conftest import REFERENCE_ASSETS, REFERENCE_TABLES

MANIFEST_DIFFERS = 541549258  # human: manifest 29016929 bytes, DANDI (here: synthetic) other bytes
MOUSE_MANIFEST_DIFFERS = 623434306
NOT_IN_MANIFEST = 627867607  # mouse, session 627867536
AS_LISTED = 569835804  # human: the manifest describes DANDI's bytes


def _plan(specimen_id):
    return next(plan for plan in DEMO_CELLS if plan.specimen_id == specimen_id)


def _blob_path(world, specimen_id):
    return urlparse(world.replica.blob_url(world.assets[specimen_id])).path


def _nwb_files_in(cache_dir: Path) -> list[str]:
    """The NWB files in the cache, without their hidden companions (locks, verification records)."""
    folder = cache_dir / config.NWB_DIR
    return sorted(p.name for p in folder.iterdir() if not p.name.startswith(".")) if folder.exists() else []


# --- against the replica ----------------------------------------------------------------------------


def test_a_file_the_manifest_describes_otherwise_is_verified_against_dandi(cat, world, cache_dir):
    written = world.written[MANIFEST_DIFFERS]
    source = cat.human.ephys(specimen_id=MANIFEST_DIFFERS)
    with pytest.warns(ManifestMismatchWarning, match=f"the NWB file of human cell {MANIFEST_DIFFERS}"):
        table = source.read()
    assert len(table) == len(written.sweeps)
    assert _nwb_files_in(cache_dir) == [f"{written.sha256}.nwb"]
    assert (cache_dir / "nwb" / f"{written.sha256}.nwb").read_bytes() == written.path.read_bytes()
    row = cat.human.nwb_files(filters=[["cell_specimen_id", "==", MANIFEST_DIFFERS]]).read().iloc[0]
    assert row["manifest_matches"] == False  # noqa: E712 (a pandas boolean)
    assert row["in_manifest"] and row["manifest_sha256"] == _plan(MANIFEST_DIFFERS).released_as.sha256
    assert (row["sha256"], row["size"]) == (written.sha256, written.size)


def test_a_cell_absent_from_the_manifest_resolves_by_its_session(cat, world):
    written = world.written[NOT_IN_MANIFEST]
    manifest = cat.mouse.manifest(technique="intracellular_electrophysiology").read()
    assert NOT_IN_MANIFEST not in set(manifest["cell_specimen_id"].dropna())
    source = cat.mouse.ephys(specimen_id=NOT_IN_MANIFEST)
    (cell,) = source.cells
    assert (cell.session_id, cell.dandi_path) == (627867536, "sub-617297348/sub-617297348_ses-627867536_icephys.nwb")
    assert cell.manifest is None and cell.sha256 == written.sha256
    assert list(source.read()["sweep_number"]) == [s.sweep_number for s in written.sweeps]
    assert source.sweep(4).stimulus_name == "Long Square"
    streamed = cat.mouse.ephys(specimen_id=NOT_IN_MANIFEST, access="stream")
    assert streamed.sweep(4).sweep_number == 4


def test_filters_and_all_cells_include_cells_absent_from_the_manifest(cat, world):
    aspiny = cat.mouse.ephys(filters=[["dendrite_type", "==", "aspiny"]])
    assert [cell.specimen_id for cell in aspiny.cells] == [601790961, 601808698, 623434306, NOT_IN_MANIFEST]
    every = cat.mouse.ephys()
    assert len(every.cells) == len([plan for plan in DEMO_CELLS if plan.archive == "mouse"])


def test_bytes_that_fail_dandis_digest_are_refused_each_time_and_never_cached(cat, world, cache_dir):
    blob = _blob_path(world, AS_LISTED)
    world.server.files[blob] = world.written[AS_LISTED].path.read_bytes()[:-4] + b"oops"
    path = dandi_path(_plan(AS_LISTED))
    for attempt in (1, 2):
        with pytest.raises(ChecksumError, match=rf"the bytes DANDI served for {path} \(cell {AS_LISTED}.*SHA-256 mismatch"):
            cat.human.ephys(specimen_id=AS_LISTED).read()
        assert _nwb_files_in(cache_dir) == []  # neither the file nor a partial one
        assert len(world.replica.requests("blob")) == attempt  # the second try downloads again


def test_an_asset_with_only_the_dandi_etag_is_verified_against_it(cat, world, cache_dir):
    plan, written = _plan(AS_LISTED), world.written[AS_LISTED]
    dandiset, version = shipped_dandiset("human")
    asset = world.replica.add_asset(dandiset, version, dandi_path(plan), written.path, publish_sha256=False)
    assert asset.sha256 is None and asset.etag.endswith("-1")
    source = cat.human.ephys(specimen_id=AS_LISTED)
    assert source.cells[0].checksum.algorithm == "dandi-etag"
    assert len(source.read()) == len(written.sweeps)
    assert _nwb_files_in(cache_dir) == [f"{asset.etag}.nwb"]
    row = cat.human.nwb_files(filters=[["cell_specimen_id", "==", AS_LISTED]]).read().iloc[0]
    assert pd.isna(row["sha256"]) and pd.isna(row["manifest_matches"])  # nothing to compare the manifest with


def test_etag_only_bytes_that_do_not_match_are_refused(cat, world, cache_dir):
    plan, written = _plan(AS_LISTED), world.written[AS_LISTED]
    dandiset, version = shipped_dandiset("human")
    asset = world.replica.add_asset(dandiset, version, dandi_path(plan), written.path, publish_sha256=False)
    world.server.files[_blob_path(world, AS_LISTED)] = written.path.read_bytes()[:-4] + b"oops"
    assert world.assets[AS_LISTED].blob == asset.blob
    with pytest.raises(ChecksumError, match="dandi-etag mismatch"):
        cat.human.ephys(specimen_id=AS_LISTED).read()
    assert _nwb_files_in(cache_dir) == []


def test_the_index_is_one_listing_with_metadata_from_the_configured_api(cat, world):
    cat.mouse.nwb_files.read()
    cat.mouse.ephys(specimen_id=NOT_IN_MANIFEST).read()
    listings = world.replica.requests("listing")
    first = parse_qs(urlparse(listings[0].path).query)
    assert first["metadata"] == ["1"] and first["page_size"] == ["1000"]
    assert world.replica.index_listings() == 1
    assert world.replica.requests("asset") == []  # the listing carried every asset's digest and URLs
    expected_pages = 5 if world.listed_real_assets else 1  # 4435 real assets, 1000 a page
    assert len(listings) == expected_pages


def test_a_large_selection_warns_once(cat, world):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        cat.mouse.ephys().cells
    mismatch = [w for w in caught if issubclass(w.category, ManifestMismatchWarning)]
    assert len(mismatch) == 1
    assert "for 1 of the 6 selected mouse NWB files" in str(mismatch[0].message)


def test_nwb_files_entry_columns_types_and_filters(cat, world):
    table = cat.mouse.nwb_files.read()
    assert list(table.columns) == list(COLUMNS)
    assert {name: str(dtype) for name, dtype in table.dtypes.items()} == {n: t for n, (t, _) in COLUMNS.items()}
    by_cell = table.set_index("cell_specimen_id")
    for specimen_id, written in world.written.items():
        if _plan(specimen_id).archive == "mouse":
            assert by_cell.loc[specimen_id, "dandi_path"] == dandi_path(_plan(specimen_id))
            assert by_cell.loc[specimen_id, "asset_id"] == world.assets[specimen_id].asset_id
    assert list(table.loc[~table["in_manifest"], "cell_specimen_id"]) == [NOT_IN_MANIFEST]
    assert list(table.loc[table["manifest_matches"] == False, "cell_specimen_id"]) == [MOUSE_MANIFEST_DIFFERS]  # noqa: E712
    assert pd.isna(by_cell.loc[NOT_IN_MANIFEST, "manifest_sha256"])
    assert pd.isna(by_cell.loc[NOT_IN_MANIFEST, "manifest_matches"])
    chosen = cat.mouse.nwb_files(filters=[["manifest_matches", "==", True], ["size", ">", 0]],
                                 columns=["cell_specimen_id", "size"]).read()
    assert list(chosen.columns) == ["cell_specimen_id", "size"]
    assert sorted(chosen["cell_specimen_id"]) == [601506507, 601790961, 601803754, 601808698]
    lazy = cat.mouse.nwb_files(columns=["cell_specimen_id"]).to_dask()
    assert sorted(lazy.compute()["cell_specimen_id"]) == sorted(table["cell_specimen_id"])


def test_reading_nwb_files_reads_no_nwb_file(cat, world, cache_dir):
    cat.mouse.nwb_files.read()
    cat.human.nwb_files.read()
    assert world.replica.requests("blob", "download") == []
    assert not (cache_dir / config.NWB_DIR).exists()


def test_nwb_files_bad_input_names_what_is_valid(cat, world):
    with pytest.raises(InvalidQueryError, match="unknown column 'file_size'.*valid columns: cell_specimen_id, "
                                                "ephys_session_id, dandi_path, asset_id, size, sha256, in_manifest"):
        cat.human.nwb_files(filters=[["file_size", ">", 0]]).read()
    with pytest.raises(InvalidQueryError, match=r"unknown column\(s\) \['md5'\]"):
        cat.human.nwb_files(columns=["md5"]).read()
    with pytest.raises(InvalidQueryError, match="'maybe' is not a valid bool value"):
        cat.human.nwb_files(filters=[["in_manifest", "==", "maybe"]]).read()


def test_nwb_files_constructs_without_io(cat, cache_dir, monkeypatch):
    monkeypatch.setenv(config.TABLES_ENV, "http://127.0.0.1:9/none")
    monkeypatch.setenv(config.DANDI_API_ENV, "http://127.0.0.1:9/api")
    source = cat.mouse.nwb_files(filters=[["nope", "==", 1]], version="draft")
    assert source.container == "dataframe" and not cache_dir.exists()


# --- the pinned listings and the real release ---------------------------------------------------------


needs_reference = pytest.mark.skipif(
    not (REFERENCE_TABLES.is_dir() and REFERENCE_ASSETS.is_dir()), reason="../shared/reference is not there"
)


SHIPPED_LISTINGS_SHA256 = {
    "000020.csv": "b75a940ff34bd319a40e60d68d0455426d22daf43d33c28524b9722dcb4e804c",
    "000023.csv": "c77d760802f10585f5faeb968a43ea279b94c8ea0cae77560303461c894ba8ce",
    "000109.csv": "5f1c1757a88f1914a8bac2a52cc499cc9162eb1304b3c4f80ea2ccf2f888d3f6",
    "000142.csv": "3c627bd00fc520a85fd95ba8697aa1add9fedc47834ee259a614ae782b72b881",
    "000209.csv": "04a736db8ace2784bcf7447d0f86f1832f0fb40e74be159d70f6032bd8a10873",
    "000228.csv": "4b0d0a833b8239831e35c510f6661f66353b042f465cefeda71ea58696c399eb",
    "000288.csv": "48e84ba768bcf754f882c46a550f11c572753e22a4b847f8a75ee124a2cd8a4e",
    "000337.csv": "0787bd1bcbfd45791c31acb8901c6fa3966da3048d16741b881c8325344658db",
    "000569.csv": "9f49071aa2cdcee1986117df85a3cb71d51d2f5214644b3862d2352a4e8908c0",
    "000570.csv": "bb0b4cc1842894c382e4275d4bb99be7c09d06c3bd9d611a3eb39ed563950187",
    "000630.csv": "af08979e17af6d4d7a2783dade43021e30a22826c8a7785b951810438c07bf9d",
    "000635.csv": "2debdd8ba7893783bd3bbd8b44635e1a639e8fda2583339f6ed6c64a57ae83fd",
    "000636.csv": "97104a3bf570d0de904a67fae8f251bb84caab5ab40c67dff143e5b09d12c09a",
    "000768.csv": "7875063d2f04568a4b820ab35f8fcb3e26a7e75afc059a78aa56bc60f37fa555",
    "000769.csv": "1b67b46f2fa632059aaaff4520447dfa6d55ba1683348a551aa9bb28ae99aeea",
}
"""The shipped listings, pinned: a change to them is made on purpose (see catalogs/dandi-assets/README.md)."""
VERSION_LISTINGS = REFERENCE_ASSETS.parent / "allen-dandisets"
"""The versions' own asset listings (DANDI's asset ids and dandi-etags); 000023's among them."""


def test_the_shipped_listings_are_pinned():
    shipped = {path.name: hashlib.sha256(path.read_bytes()).hexdigest() for path in shipped_listings().glob("0*.csv")}
    assert shipped == SHIPPED_LISTINGS_SHA256


@needs_reference
@pytest.mark.parametrize("listing", sorted(path.name for path in VERSION_LISTINGS.glob("0*.csv")))
def test_the_allen_listings_are_the_references_bytes(listing):
    """Each dandiset's shipped listing is the reference's, byte for byte (000023's included: the version's ids)."""
    assert (shipped_listings() / listing).read_bytes() == (VERSION_LISTINGS / listing).read_bytes()


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as listing:
        return list(csv.DictReader(listing))


@needs_reference
def test_000023s_listing_is_the_versions_own_with_the_annexs_bytes():
    """Path, size, SHA-256 and blob as the annex listing had them; asset ids and dandi-etags the version's."""
    shipped, annex = _rows(shipped_listings() / "000023.csv"), _rows(REFERENCE_ASSETS / "000023.csv")
    bytes_of = ("path", "size", "sha256", "blob")
    assert [[row[k] for k in bytes_of] for row in shipped] == [[row[k] for k in bytes_of] for row in annex]
    version = _rows(VERSION_LISTINGS / "000023.csv")
    of_version = ("path", "size", "sha256", "asset_id", "blob", "dandi_etag")
    assert [[row[k] for k in of_version] for row in shipped] == [[row[k] for k in of_version] for row in version]
    assert len(shipped) == 318 and not {row["asset_id"] for row in shipped} & {row["asset_id"] for row in annex}


@needs_reference
def test_000020s_listing_is_the_annexs_without_its_asset_ids():
    shipped, annex = _rows(shipped_listings() / "000020.csv"), _rows(REFERENCE_ASSETS / "000020.csv")
    assert list(shipped[0]) == ["path", "size", "sha256", "blob"]
    assert shipped == [{k: row[k] for k in ("path", "size", "sha256", "blob")} for row in annex]
    assert len(shipped) == 4435


def test_the_shipped_listings_read_as_they_are_meant():
    human = read_listing(shipped_listings() / "000023.csv")
    assert len(human) == 318 and all(asset.asset_id and asset.etag and asset.sha256 for asset in human.values())
    assert human["sub-541516760/sub-541516760_ses-541549227_icephys.nwb"].asset_id == (
        "a9156bb0-baac-4393-a70c-fd8651aedf8c")  # the version's; the annex gave 379f1129-3caa-46b9-a4e6-6ec91a5986e4
    mouse = read_listing(shipped_listings() / "000020.csv")
    assert len(mouse) == 4435 and all(asset.asset_id is None and asset.etag is None for asset in mouse.values())


@pytest.fixture(scope="module")
def release_cache(tmp_path_factory):
    """One cache for the module: the real tables are normalised once."""
    return tmp_path_factory.mktemp("release-cache")


@pytest.fixture
def real_release(release_server, release_cache, monkeypatch):
    """The catalogs read the real tables locally; DANDI is DANDI's own API, which no test reaches."""
    monkeypatch.setenv(config.TABLES_ENV, release_server.url)
    monkeypatch.setenv(config.CACHE_ENV, str(release_cache))
    monkeypatch.delenv(config.DANDI_API_ENV, raising=False)
    return release_cache


@needs_reference
@pytest.mark.parametrize(("archive", "files", "absent", "differ"), [("mouse", 4435, 595, 203), ("human", 318, 0, 63)])
def test_the_real_release_on_dandi(cat, real_release, archive, files, absent, differ):
    table = cat[archive].nwb_files.read()
    assert len(table) == files == len(cat[archive].metadata.read())
    assert (~table["in_manifest"]).sum() == absent
    assert (table["manifest_matches"] == False).sum() == differ  # noqa: E712
    assert table["manifest_matches"].notna().sum() == files - absent
    assert table["sha256"].notna().all() and not table["dandi_path"].duplicated().any()
    assert not (real_release / config.DANDI_DIR).exists()  # the pinned listing: nothing fetched, nothing cached


@needs_reference
def test_the_asset_id_column_gives_only_the_versions_ids(cat, real_release):
    human = cat.human.nwb_files(columns=["dandi_path", "asset_id"]).read().set_index("dandi_path")["asset_id"]
    version = pd.read_csv(VERSION_LISTINGS / "000023.csv", dtype=str).set_index("path")["asset_id"]
    assert human.to_dict() == version.to_dict()
    assert cat.mouse.nwb_files(columns=["asset_id"]).read()["asset_id"].isna().all()  # not known offline


@needs_reference
def test_the_issues_examples_resolve_with_no_request(cat, real_release):
    table = cat.mouse.nwb_files(filters=[["cell_specimen_id", "in", [627867607, MOUSE_MANIFEST_DIFFERS]]]).read()
    by_cell = table.set_index("cell_specimen_id")
    assert by_cell.loc[627867607, "dandi_path"] == "sub-617297348/sub-617297348_ses-627867536_icephys.nwb"
    assert not by_cell.loc[627867607, "in_manifest"]
    assert by_cell.loc[MOUSE_MANIFEST_DIFFERS, "size"] == 19795174
    assert by_cell.loc[MOUSE_MANIFEST_DIFFERS, "manifest_matches"] == False  # noqa: E712
    (cell,) = cat.mouse.ephys(specimen_id=627867607).cells
    listed = pd.read_csv(REFERENCE_ASSETS / "000020.csv").set_index("path").loc[cell.dandi_path]
    blob = listed["blob"]
    # The blob only: the annex's asset id may not be the version's, so no download URL is made of it.
    assert cell.urls == (f"https://dandiarchive.s3.amazonaws.com/blobs/{blob[:3]}/{blob[3:6]}/{blob}",)
    assert cell.asset_id is None and listed["asset_id"] not in "".join(cell.urls)
    assert (cell.size, cell.checksum.value) == (listed["size"], listed["sha256"])
    (human,) = cat.human.ephys(specimen_id=MANIFEST_DIFFERS).cells
    assert human.urls[1] == "https://api.dandiarchive.org/api/assets/a9156bb0-baac-4393-a70c-fd8651aedf8c/download/"


@needs_reference
def test_selecting_every_mouse_cell_warns_once_of_203_files(cat, real_release):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        cells = cat.mouse.ephys().cells
    assert len(cells) == 4435
    (warning,) = [w for w in caught if issubclass(w.category, ManifestMismatchWarning)]
    assert "for 203 of the 4435 selected mouse NWB files" in str(warning.message)


@needs_reference
def test_offline_the_pinned_listing_still_resolves(cat, real_release, monkeypatch):
    cat.human.metadata.read(), cat.human.manifest.read()
    monkeypatch.setenv(config.OFFLINE_ENV, "1")
    assert len(cat.human.nwb_files.read()) == 318
    (cell,) = cat.human.ephys(specimen_id=MANIFEST_DIFFERS).cells
    assert cell.size == 29377521  # DANDI's; the manifest says 29016929


@needs_reference
def test_a_local_copy_is_checked_against_dandis_size(cat, real_release, tmp_path):
    target = tmp_path / "sub-541516760" / "sub-541516760_ses-541549227_icephys.nwb"
    target.parent.mkdir()
    target.write_bytes(b"\0" * 29016929)  # the size the manifest gives
    with pytest.raises(ChecksumError, match="29016929 bytes, but DANDI holds 29377521 bytes"):
        cat.human.ephys(specimen_id=MANIFEST_DIFFERS, access="local", root=str(tmp_path)).read()


def test_stream_refuses_a_file_of_another_size_than_dandis(cat, world, streamed):
    blob = _blob_path(world, AS_LISTED)
    world.server.files[blob] = world.written[AS_LISTED].path.read_bytes() + b"more"
    size = world.written[AS_LISTED].size
    with pytest.raises(ChecksumError, match=rf"is not the file DANDI lists \({size} bytes, dandi-etag .*\): "
                                            rf".*the file has {size + 4} bytes, but {size} were expected"):
        cat.human.ephys(specimen_id=AS_LISTED, access="stream").read()


@needs_reference
@pytest.mark.parametrize("plan", DEMO_CELLS, ids=lambda plan: str(plan.specimen_id))
def test_the_worlds_cells_are_real_cells_as_released(plan):
    """The demo's and the tests' cells: ids, metadata, paths and manifest rows as the release has them."""
    dandiset, _ = shipped_dandiset(plan.archive)
    metadata = pd.read_csv(REFERENCE_TABLES / f"20200625_patchseq_metadata_{plan.archive}.csv", dtype=str,
                           keep_default_na=False).set_index("cell_specimen_id").loc[str(plan.specimen_id)]
    assert (metadata["ephys_session_id"], metadata["structure"], metadata["dendrite_type"]) == (
        str(plan.session_id), plan.structure, plan.dendrite_type)
    assert (metadata["age"], metadata["donor_id"]) == (plan.age, plan.donor_id)
    listing = pd.read_csv(REFERENCE_ASSETS / f"{dandiset}.csv", dtype=str).set_index("path")
    assert dandi_path(plan) in listing.index
    manifest = pd.read_csv(REFERENCE_TABLES / f"2020-06-26_{plan.archive}_file_manifest.csv", dtype=str, keep_default_na=False)
    rows = manifest[(manifest["cell_specimen_id"] == str(plan.specimen_id)) & manifest["file_name"].str.endswith(".nwb")]
    assert len(rows) == (1 if plan.in_manifest else 0)
    if plan.in_manifest:
        row, listed = rows.iloc[0], listing.loc[dandi_path(plan)]
        assert row["file_name"] == dandi_path(plan).split("/")[1]
        released = (int(row["file_size"]), row["sha256_checksum"], row["md5_checksum"])
        on_dandi = (int(listed["size"]), listed["sha256"])
        if plan.released_as is not None:
            assert released == (plan.released_as.size, plan.released_as.sha256, plan.released_as.md5)
            assert released[:2] != on_dandi
        else:
            assert released[:2] == on_dandi
