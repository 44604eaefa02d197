"""The real release manifest's BIL and NeMO rows (../shared), with the shipped catalog's homes: the URLs asked for
today, and stand-ins at those very paths that hold other bytes than the 2020 manifest (we do not have the real ones).

Skipped when the reference folder is absent.
"""

from __future__ import annotations

import hashlib
import re
import warnings

import pandas as pd
import pytest

from patchseq_intake import config
from patchseq_intake.errors import ChecksumError, FetchError, NoReleaseFileError, OtherBytesWarning
from patchseq_intake.morphology.swc import read_swc
from patchseq_intake.testing.morphology import swc_bytes
from patchseq_intake.testing.server import LocalServer
from patchseq_intake.testing.transcriptomes import matrix_csv, matrix_values
from patchseq_intake.transport import download
from patchseq_intake.testing.archives import tar_bytes as tar_of

from ..conftest import REFERENCE_TABLES

pytestmark = pytest.mark.skipif(
    not REFERENCE_TABLES.is_dir(), reason=f"reference tables not found at {REFERENCE_TABLES}"
)

BIL_DEAD = "ftp://download.brainlib.org:8811/"
NEMO_DEAD = "http://data.nemoarchive.org/other/grant/AIBS_patchseq/"
NEMO_LIVE = "/other/AIBS/AIBS_patchseq/"
CELL = 601506507  # a real mouse cell with a reconstruction and a transcriptome
OTHER_CELL = 601790961
SWC_PATH = f"/biccn/zeng/pseq/morph/200526/{CELL}_transformed.swc"
ANALYSIS = "transcriptome/scell/SMARTseq/processed/analysis/20200611"
COUNT = "20200513_Mouse_PatchSeq_Release_count"


@pytest.fixture(scope="module")
def release_cache(tmp_path_factory):
    """One cache for the module's table reads: the real tables are normalised once."""
    return tmp_path_factory.mktemp("real-manifest-cache")


@pytest.fixture
def real_release(release_server, release_cache, monkeypatch):
    """The catalogs read the real tables locally, with the live homes' default base URLs."""
    monkeypatch.setenv(config.TABLES_ENV, release_server.url)
    monkeypatch.setenv(config.CACHE_ENV, str(release_cache))
    monkeypatch.delenv(config.BIL_ENV, raising=False)
    monkeypatch.delenv(config.NEMO_ENV, raising=False)
    return release_cache


@pytest.fixture
def stand_in(real_release, cache_dir, monkeypatch):
    """A server standing in for BIL and NeMO (both at its root, as the live hosts are), with fast retries; the
    test's own empty cache, so that what a fetch leaves in it is seen."""
    monkeypatch.setenv(config.CACHE_ENV, str(cache_dir))
    with LocalServer() as server:
        monkeypatch.setenv(config.BIL_ENV, server.url)
        monkeypatch.setenv(config.NEMO_ENV, server.url)
        monkeypatch.setattr(download, "DEFAULT_RETRY", download.RetryPolicy(attempts=2, backoff_s=0.01, timeout_s=5))
        yield server


def files_on_disk(path) -> list[str]:
    """The files under ``path``, locks left out (a lock is no data)."""
    return sorted(str(p.relative_to(path)) for p in path.rglob("*") if p.is_file() and not p.name.endswith(".lock"))



# --- the files table ---------------------------------------------------------------------------------------


def test_the_files_tables_count_the_manifests_rows(cat, real_release):
    mouse = cat.mouse.files.read()
    assert len(mouse) == 13138
    assert mouse["technique"].value_counts().to_dict() == {"transcriptomics": 11524, "morphology": 1614}
    assert mouse["file_type"].value_counts().to_dict() == {
        "forward_fastq": 3840, "reverse_fastq": 3840, "bam_file": 3840, "marker_swc": 538, "raw_swc": 538,
        "transformed_swc": 538, "csv": 4}
    assert mouse["cell_specimen_id"].isna().sum() == 4 and set(mouse.loc[mouse["cell_specimen_id"].isna(),
                                                                        "file_type"]) == {"csv"}
    human = cat.human.files.read()
    assert len(human) == 318 and set(human["technique"]) == {"morphology"}
    assert len(cat.mouse.files(technique="morphology").read()) == 1614
    assert len(cat.mouse.files(technique="transcriptomics").read()) == 11524
    for table in (mouse, human):
        assert table["url"].notna().all() and table["bytes_match"].isna().all()


ELSEWHERE = {config.BIL_ENV: "http://127.0.0.1:9/bil", config.NEMO_ENV: "https://mirror.example/nemo"}


@pytest.mark.parametrize("bases", [{}, ELSEWHERE], ids=["live homes", "mirrors"])
def test_every_url_is_the_manifests_path_under_the_archives_base(cat, real_release, monkeypatch, bases):
    for name, value in bases.items():
        monkeypatch.setenv(name, value)
    bil = bases.get(config.BIL_ENV, "https://download.brainimagelibrary.org")
    nemo = bases.get(config.NEMO_ENV, "https://data.nemoarchive.org")
    for archive, lab in (("mouse", "zeng"), ("human", "lein")):
        table = cat[archive].files.read()
        swc = table[table["archive"] == "BIL"]
        assert len(swc) == (1614 if archive == "mouse" else 318)
        assert (swc["url"] == bil + f"/biccn/{lab}/pseq/morph/200526/" + swc["file_name"]).all()
        assert (swc["manifest_uri"] == BIL_DEAD + f"biccn/{lab}/pseq/morph/200526/" + swc["file_name"]).all()
        assert swc["packed_in"].isna().all()
    nemo_rows = cat.mouse.files(technique="transcriptomics").read()
    assert nemo_rows["manifest_uri"].str.startswith(NEMO_DEAD).all()
    assert (nemo_rows["url"] == nemo + NEMO_LIVE + nemo_rows["manifest_uri"].str.slice(len(NEMO_DEAD))).all()
    assert (nemo_rows["packed_in"] == nemo_rows["url"].str.rsplit("/", n=1).str[1]).all()


def test_fastq_pairs_share_one_tar_and_every_other_file_has_its_own(cat, real_release):
    table = cat.mouse.files(technique="transcriptomics").read()
    fastq = table[table["file_type"].isin(["forward_fastq", "reverse_fastq"])]
    pairs = fastq.groupby("url")
    assert pairs.ngroups == 3840 and (pairs.size() == 2).all()
    assert (pairs["file_type"].apply(sorted).map(tuple) == ("forward_fastq", "reverse_fastq")).all()
    assert (pairs["cell_specimen_id"].nunique() == 1).all()
    assert fastq["packed_in"].str.endswith(".fastq.tar").all()
    names = fastq["file_name"].str.replace(r"_R[12]\.fastq\.gz$", ".fastq.tar", regex=True)
    assert (names == fastq["packed_in"]).all()  # <stem>_R1/_R2.fastq.gz in <stem>.fastq.tar
    single = table[~table["file_type"].isin(["forward_fastq", "reverse_fastq"])]
    assert not single["url"].duplicated().any()
    assert (single["packed_in"] == single["file_name"] + ".tar").all()  # a BAM's, a matrix's tar: <name>.tar


# --- other bytes at a real cell's live path ------------------------------------------------------------------


def test_each_read_of_a_pair_knows_the_size_of_the_whole_tar(cat, real_release):
    # Fetching one read alone downloads the tar holding both: its bound must allow for the other read.
    from patchseq_intake.archives.release_files import release_files

    files = release_files(cat.mouse.files().archive, cat.mouse.files().homes, "transcriptomics")
    by_tar: dict[str, list] = {}
    for file in files:
        by_tar.setdefault(file.url, []).append(file)
    for members in by_tar.values():
        assert all(file.packed_size == sum(other.size for other in members) for file in members)
    forward = next(file for file in files if file.file_type == "forward_fastq")
    assert forward.packed_size > forward.size + 1024 * 1024  # real reads: the other one is tens of MB


def manifest_row(cat, specimen_id: int, file_type: str) -> pd.Series:
    table = cat.mouse.files(filters=[["cell_specimen_id", "==", specimen_id], ["file_type", "==", file_type]]).read()
    (row,) = [row for _, row in table.iterrows()]
    return row


def other_swc_of_size(size: int) -> bytes:
    """A valid SWC that is not the release's, padded with comment lines to exactly ``size`` bytes."""
    data = swc_bytes(CELL, "transformed", seed=3)
    assert len(data) + 2 <= size, "the real file is smaller than the synthetic one: pick a smaller neuron"
    padding = size - len(data)
    return b"#" + b" " * (padding - 2) + b"\n" + data


def test_other_bytes_at_a_real_cells_url_are_refused_naming_both_checksums(cat, stand_in):
    row = manifest_row(cat, CELL, "transformed_swc")
    other = other_swc_of_size(int(row["size"]))
    stand_in.serve_file(SWC_PATH, other)
    with pytest.raises(ChecksumError) as raised:
        cat.mouse.morphology(specimen_id=CELL).read()
    message = str(raised.value)
    assert row["sha256"] in message and hashlib.sha256(other).hexdigest() in message
    assert f"{stand_in.url}{SWC_PATH}" in message and "accept_other_bytes=True" in message
    assert [entry.path for entry in stand_in.log] == [SWC_PATH]  # that URL, and nothing else
    assert files_on_disk(config.cache_dir() / config.FILES_DIR) == []  # nothing cached, not even the download
    assert pd.isna(manifest_row(cat, CELL, "transformed_swc")["bytes_match"])


def test_other_bytes_of_another_size_are_refused_naming_the_manifests_checksum(cat, stand_in):
    row = manifest_row(cat, OTHER_CELL, "raw_swc")
    other = swc_bytes(OTHER_CELL, "raw", seed=3)
    assert len(other) != row["size"]
    path = f"/biccn/zeng/pseq/morph/200526/{OTHER_CELL}_raw.swc"
    stand_in.serve_file(path, other)
    with pytest.raises(ChecksumError) as raised:
        cat.mouse.morphology(specimen_id=OTHER_CELL, kind="raw").read()
    message = str(raised.value)
    assert f"{stand_in.url}{path}" in message and "accept_other_bytes=True" in message
    assert str(row["size"]) in message and str(len(other)) in message and row["sha256"] in message  # not hashed
    assert files_on_disk(config.cache_dir() / config.FILES_DIR) == []


def test_accepted_other_bytes_are_read_and_reported_as_not_matching(cat, stand_in):
    row = manifest_row(cat, CELL, "transformed_swc")
    other = other_swc_of_size(int(row["size"]))
    stand_in.serve_file(SWC_PATH, other)
    source = cat.mouse.morphology(specimen_id=CELL, accept_other_bytes=True)
    with warnings.catch_warnings(record=True) as said:
        warnings.simplefilter("always")
        frame = source.read()
    assert [w.category for w in said if issubclass(w.category, OtherBytesWarning)] == [OtherBytesWarning]
    points = read_swc(other, "other.swc").points
    pd.testing.assert_frame_equal(frame.drop(columns=["cell_specimen_id", "neuron_reconstruction_type"]), points)
    assert set(frame["neuron_reconstruction_type"]) == {"full"}  # the real metadata's
    seen = manifest_row(cat, CELL, "transformed_swc")
    assert seen["bytes_match"] == False  # noqa: E712
    assert seen["found_sha256"] == hashlib.sha256(other).hexdigest() and seen["sha256"] == row["sha256"]
    assert seen["found_url"] == f"{stand_in.url}{SWC_PATH}"
    stand_in.log.clear()
    pd.testing.assert_frame_equal(cat.mouse.morphology(specimen_id=CELL, accept_other_bytes=True).read(), frame)
    assert stand_in.log == []  # accepted bytes are cached under their own SHA-256
    with pytest.raises(ChecksumError):  # accepting is per call: not accepted, they are refused again
        cat.mouse.morphology(specimen_id=CELL).read()


# --- the matrices: the live name, then the .v2 alternate ------------------------------------------------------


def test_a_matrix_is_asked_at_its_live_url_then_at_the_v2_alternate(cat, stand_in):
    with pytest.raises(FetchError) as raised:
        cat.mouse.transcriptomics(genes=["Sst"], specimen_id=CELL).read()
    live = f"{NEMO_LIVE}{ANALYSIS}/{COUNT}.csv.tar"
    alternate = f"{NEMO_LIVE}{ANALYSIS}/{COUNT}.v2.csv.tar"
    assert [(entry.path, entry.status) for entry in stand_in.log] == [(live, 404), (alternate, 404)]
    message = str(raised.value)
    assert f"{stand_in.url}{live}" in message and f"{stand_in.url}{alternate}" in message


def test_a_v2_matrix_is_refused_then_read_when_accepted(cat, stand_in):
    metadata = cat.mouse.metadata(filters=[["cell_specimen_id", "in", [CELL, OTHER_CELL]]],
                                  columns=["cell_specimen_id", "transcriptomics_sample_id"]).read()
    samples = metadata.set_index("cell_specimen_id")["transcriptomics_sample_id"]
    genes = ["Sst", "Pvalb", "Vip"]
    csv = matrix_csv(genes, samples.tolist(), "counts", seed=5)
    stand_in.serve_file(f"{NEMO_LIVE}{ANALYSIS}/{COUNT}.v2.csv.tar", tar_of({f"{COUNT}.v2/{COUNT}.v2.csv": csv}))
    row = cat.mouse.files(filters=[["file_name", "==", f"{COUNT}.csv"]]).read().iloc[0]
    with pytest.raises(ChecksumError) as raised:
        cat.mouse.transcriptomics(genes=genes, specimen_id=CELL).read()
    assert row["sha256"] in str(raised.value) and f"{COUNT}.v2.csv.tar" in str(raised.value)
    assert files_on_disk(config.cache_dir() / config.FILES_DIR) == []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", OtherBytesWarning)
        frame = cat.mouse.transcriptomics(genes=genes, specimen_id=[OTHER_CELL, CELL], accept_other_bytes=True).read()
    planted = matrix_values(genes, samples.tolist(), "counts", seed=5)
    assert frame["cell_specimen_id"].tolist() == [OTHER_CELL, CELL]
    assert frame[genes].to_numpy().tolist() == planted[[samples[OTHER_CELL], samples[CELL]]].T.to_numpy().tolist()
    seen = cat.mouse.files(filters=[["file_name", "==", f"{COUNT}.csv"]]).read().iloc[0]
    assert seen["bytes_match"] == False  # noqa: E712
    assert seen["found_name"] == f"{COUNT}.v2.csv" and seen["found_url"].endswith(f"{COUNT}.v2.csv.tar")
    assert seen["found_sha256"] == hashlib.sha256(csv).hexdigest()
    assert re.fullmatch(r"[0-9a-f]{64}", seen["found_sha256"])


# --- cells without a reconstruction in the manifest -------------------------------------------------------------

RECONSTRUCTED_BUT_NOT_RELEASED = 643021973
"""A real mouse cell whose metadata says ``full`` but which has no SWC row in the manifest (44 such mouse cells)."""


def test_a_cell_the_metadata_calls_reconstructed_without_an_swc_row_is_named(cat, stand_in):
    with pytest.raises(NoReleaseFileError) as raised:
        cat.mouse.morphology(specimen_id=[CELL, RECONSTRUCTED_BUT_NOT_RELEASED]).read()
    message = str(raised.value)
    assert f"[{RECONSTRUCTED_BUT_NOT_RELEASED}]" in message and "538 of the mouse cells have one" in message
    assert "a neuron_reconstruction_type, ['full'], yet the manifest lists no file for it" in message  # not a puzzle
    assert stand_in.log == []  # refused before any request
    with pytest.warns(UserWarning, match=r"(?s)left out: .*\b643021973\b"):
        cells = cat.mouse.morphology(filters=[["structure", "==", "VISp2/3"],
                                              ["neuron_reconstruction_type", "==", "full"]]).cells
    assert RECONSTRUCTED_BUT_NOT_RELEASED not in [cell.specimen_id for cell in cells]
    assert {cell.reconstruction_type for cell in cells} == {"full"} and stand_in.log == []
