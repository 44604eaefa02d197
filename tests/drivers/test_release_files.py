"""The ``files`` entry against the test world: every BIL and NeMO file of the world's manifest, where it lives
today (under ``PATCHSEQ_INTAKE_BIL`` / ``PATCHSEQ_INTAKE_NEMO``), and what ``fetch()`` found there."""

from __future__ import annotations

import hashlib
import warnings
from urllib.parse import urlparse

import pandas as pd
import pytest

from patchseq_intake import config
from patchseq_intake.archives.release_files import COLUMNS
from patchseq_intake.errors import ChecksumError, InvalidQueryError, OtherBytesWarning
from patchseq_intake.testing.archives import BIL, BIL_DEAD, NEMO, NEMO_DEAD, NEMO_LIVE
from patchseq_intake.testing.world import DEMO_CELLS

MOUSE_CELL = 601506507


def manifest_rows(world, archive: str) -> list[dict[str, object]]:
    """The rows the world's manifest has for its ``archive``'s BIL and NeMO files, as the stand-in served them."""
    rows = [row for plan in DEMO_CELLS if plan.archive == archive for row in world.archives.cell_rows[plan.specimen_id]]
    return rows + world.archives.release_rows.get(archive, [])


def live_url(world, row: dict[str, object]) -> str:
    """Where a manifest row's file lives on the world's stand-ins: the same path under the archive's base URL."""
    uri = str(row["archive_uri"])
    if row["archive"] == "BIL":
        return f"{world.server.url}{BIL}/{uri.removeprefix(BIL_DEAD)}"
    return f"{world.server.url}{NEMO}/{NEMO_LIVE}{uri.removeprefix(NEMO_DEAD)}"


def sha256_of(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.mark.parametrize("archive", ["human", "mouse"])
def test_every_row_of_the_worlds_manifest_is_listed_at_its_live_url(cat, world, archive):
    table = cat[archive].files.read()
    rows = manifest_rows(world, archive)
    assert list(table.columns) == list(COLUMNS)
    assert {name: str(dtype) for name, dtype in table.dtypes.items()} == {
        name: str(pd.Series(dtype=dtype).dtype) for name, (dtype, _) in COLUMNS.items()}
    assert table["file_name"].tolist() == [row["file_name"] for row in rows]
    assert table["sha256"].tolist() == [row["sha256_checksum"] for row in rows]
    assert table["size"].tolist() == [row["file_size"] for row in rows]
    assert table["manifest_uri"].tolist() == [row["archive_uri"] for row in rows]
    assert table["url"].tolist() == [live_url(world, row) for row in rows]
    assert table["cell_specimen_id"].astype(object).where(table["cell_specimen_id"].notna(), None).tolist() == [
        row["cell_specimen_id"] for row in rows]
    bases = {"BIL": world.archives.environment()[config.BIL_ENV], "NEMO": world.archives.environment()[config.NEMO_ENV]}
    for row in table.itertuples(index=False):
        assert row.url.startswith(bases[row.archive] + "/")
        assert urlparse(row.url).path in world.server.files  # the stand-in holds it there
        assert pd.isna(row.packed_in) if row.archive == "BIL" else row.packed_in == row.url.rsplit("/", 1)[1]
    assert table["bytes_match"].isna().all() and table[["found_url", "found_name", "found_sha256"]].isna().all().all()


def test_the_human_table_has_reconstructions_only_and_the_mouse_table_the_matrices(cat, world):
    human = cat.human.files.read()
    assert set(human["technique"]) == {"morphology"} and set(human["archive"]) == {"BIL"}
    assert human["url"].str.contains("/biccn/lein/pseq/morph/200526/", regex=False).all()
    mouse = cat.mouse.files.read()
    matrices = mouse[mouse["file_type"] == "csv"]
    assert matrices["cell_specimen_id"].isna().all() and len(matrices) == 4
    assert matrices["packed_in"].tolist() == [f"{name}.tar" for name in matrices["file_name"]]
    fastq = mouse[mouse["file_type"].isin(["forward_fastq", "reverse_fastq"])]
    assert (fastq.groupby("cell_specimen_id")["packed_in"].nunique() == 1).all()  # a pair shares one tar
    assert fastq["packed_in"].str.endswith(".fastq.tar").all()


def test_fetch_returns_verified_paths_and_the_table_says_what_was_found(cat, world, cache_dir):
    source = cat.mouse.files(filters=[["cell_specimen_id", "==", MOUSE_CELL]])
    before = source.read()
    assert len(before) == 6 and before["bytes_match"].isna().all()
    world.server.log.clear()
    paths = source.fetch()
    assert [path.name for path in paths] == before["file_name"].tolist()
    assert [sha256_of(path) for path in paths] == before["sha256"].tolist()
    assert all(path.is_relative_to(cache_dir) for path in paths)
    # One request per SWC file, one for the FASTQ pair's tar, one for the BAM's tar.
    asked = sorted(entry.path for entry in world.server.log)
    assert asked == sorted({urlparse(url).path for url in before["url"]})
    assert len(asked) == 5
    after = source.read()
    assert after["bytes_match"].tolist() == [True] * 6
    assert after["found_url"].tolist() == before["url"].tolist()
    assert after["found_name"].tolist() == before["file_name"].tolist()
    assert after["found_sha256"].tolist() == before["sha256"].tolist()
    others = cat.mouse.files(filters=[["cell_specimen_id", "!=", MOUSE_CELL]]).read()
    assert others["bytes_match"].isna().all()  # only what was fetched

    world.server.log.clear()
    assert source.fetch() == paths
    assert world.server.log == []  # cached: no request


def test_technique_chooses_the_rows(cat, world):
    every = cat.mouse.files.read()
    morphology = cat.mouse.files(technique="morphology").read()
    transcriptomics = cat.mouse.files(technique="transcriptomics").read()
    assert set(morphology["technique"]) == {"morphology"} and set(morphology["archive"]) == {"BIL"}
    assert set(transcriptomics["technique"]) == {"transcriptomics"} and set(transcriptomics["archive"]) == {"NEMO"}
    assert sorted(morphology["file_name"].tolist() + transcriptomics["file_name"].tolist()) == sorted(
        every["file_name"])
    assert len(morphology) == 15 and len(transcriptomics) == 19  # 5 cells x 3; 5 cells x 3 and 4 matrices


def test_a_technique_not_on_bil_or_nemo_is_refused_naming_the_techniques(cat, world):
    with pytest.raises(InvalidQueryError, match="technique of mouse.files must be one of all, morphology, "
                                                "transcriptomics, not 'intracellular_electrophysiology'"):
        cat.mouse.files(technique="intracellular_electrophysiology")


def test_filters_and_columns_and_fetch_of_what_they_keep(cat, world):
    source = cat.mouse.files(filters=[["file_type", "==", "transformed_swc"], ["cell_specimen_id", "in",
                                                                              [601790961, 601808698]]],
                             columns=["cell_specimen_id", "file_name", "bytes_match"])
    table = source.read()
    assert list(table.columns) == ["cell_specimen_id", "file_name", "bytes_match"]
    assert table["file_name"].tolist() == ["601790961_transformed.swc", "601808698_transformed.swc"]
    world.server.log.clear()
    paths = source.fetch()  # the columns left out (sha256, url) are not needed to fetch
    assert [path.name for path in paths] == table["file_name"].tolist()
    assert sorted(entry.path for entry in world.server.log) == [
        f"{BIL}/biccn/zeng/pseq/morph/200526/{name}" for name in table["file_name"]]
    assert source.read()["bytes_match"].tolist() == [True, True]
    with pytest.raises(InvalidQueryError, match="sha"):
        cat.mouse.files(columns=["sha"]).read()


def test_the_matrices_are_fetched_out_of_their_tars(cat, world):
    source = cat.mouse.files(filters=[["file_type", "==", "csv"]])
    table = source.read()
    paths = source.fetch()
    assert [sha256_of(path) for path in paths] == table["sha256"].tolist()
    assert [path.name for path in paths] == table["file_name"].tolist()  # the CSV, not <stem>/<stem>.csv nor the tar
    found = source.read()
    assert found["bytes_match"].all() and found["found_name"].tolist() == table["file_name"].tolist()


def test_other_bytes_at_the_live_url_are_refused_then_accepted_and_reported(cat, world, cache_dir):
    path = f"{BIL}/biccn/zeng/pseq/morph/200526/{MOUSE_CELL}.marker"
    other = world.server.files[path].replace(b"##x", b"##X")  # of the manifest's size: its SHA-256 is computed
    world.server.serve_file(path, other)
    source = cat.mouse.files(filters=[["file_name", "==", f"{MOUSE_CELL}.marker"]])
    manifest_sha256 = source.read()["sha256"].iloc[0]
    with pytest.raises(ChecksumError) as caught:
        source.fetch()
    message = str(caught.value)
    assert manifest_sha256 in message and hashlib.sha256(other).hexdigest() in message and path in message
    assert source.read()["bytes_match"].isna().all()
    with warnings.catch_warnings(record=True) as said:
        warnings.simplefilter("always")
        (got,) = source.fetch(accept_other_bytes=True)
    assert [w.category for w in said] == [OtherBytesWarning]
    assert got.read_bytes() == other
    row = source.read().iloc[0]
    assert row["bytes_match"] == False  # noqa: E712
    assert row["found_sha256"] == hashlib.sha256(other).hexdigest() and row["sha256"] == manifest_sha256
    with pytest.raises(InvalidQueryError, match="accept_other_bytes"):
        source.fetch(accept_other_bytes="yes")
