"""Release tables: fetch, verify, normalise, cache, filter; and every way that can fail."""

from __future__ import annotations

import pandas as pd
import pytest

from patchseq_intake import config
from patchseq_intake.drivers.table import ReleaseTableSource
from patchseq_intake.errors import ChecksumError, FetchError, InvalidQueryError, OfflineError, TableFormatError
from patchseq_intake.testing.tables import release_tables, table_file_name


def _pinned_source(server, archive="human", kind="metadata", sha256=None, **kwargs):
    """A table source that fetches from the local server with a pinned checksum."""
    url = f"{server.url}/tables/{table_file_name(archive, kind)}"
    return ReleaseTableSource(url=url, sha256=sha256, table=kind, archive=archive, **kwargs)


def _files_in(directory):
    """The files in ``directory`` and below, leaving out the cache's lock files."""
    if not directory.exists():
        return []
    return sorted(p.name for p in directory.rglob("*") if p.is_file() and not p.name.endswith(".lock"))


# --- normalisation -----------------------------------------------------------------


def test_metadata_columns_keep_released_values_and_get_types(cat, served_tables):
    frame = cat.human.metadata.read().set_index("cell_specimen_id")
    assert frame.index.dtype == "int64"
    assert frame["ephys_session_id"].dtype == "int64"
    assert frame.loc[541549258, "age"] == "28 yrs"
    assert frame.loc[541549258, "age_days"] == pytest.approx(28 * 365.25)
    assert frame.loc[541557114, "apical_dendrite_status"] == "NA"  # a released literal, kept
    assert pd.isna(frame.loc[541557114, "depth_from_pia_um"])  # an empty cell, missing
    assert frame.loc[541549258, "donor_id"] == "H16.03.007"


def test_mouse_ids_are_integers_and_age_in_days(cat, served_tables):
    frame = cat.mouse.metadata.read().set_index("cell_specimen_id")
    assert frame["donor_id"].dtype == "int64"
    assert frame.loc[601506507, "age_days"] == 55.0


def test_manifest_ids_are_nullable_integers_and_nwb_rows_get_dandi_paths(cat, served_tables):
    manifest = cat.mouse.manifest.read()
    assert manifest["cell_specimen_id"].dtype == "Int64"
    assert manifest["cell_specimen_id"].isna().sum() == 2
    nwb = manifest[manifest["technique"] == "intracellular_electrophysiology"]
    assert list(nwb["dandi_path"]) == [
        "sub-599387254/sub-599387254_ses-601506492_icephys.nwb",
        "sub-601462951/sub-601462951_ses-601790945_icephys.nwb",
    ]
    assert manifest.loc[manifest["technique"] != "intracellular_electrophysiology", "dandi_path"].isna().all()


def test_technique_selects_one_modality(cat, served_tables):
    ephys = cat.human.manifest(technique="intracellular_electrophysiology").read()
    assert len(ephys) == 3 and set(ephys["technique"]) == {"intracellular_electrophysiology"}
    morphology = cat.human.manifest(technique="morphology").read()
    assert list(morphology["cell_specimen_id"]) == [541549258]


# --- filters and columns -------------------------------------------------------------


def test_filters_combine_with_and_and_accept_every_operator(cat, served_tables):
    table = cat.human.metadata
    ids = lambda filters: sorted(table(filters=filters).read()["cell_specimen_id"])  # noqa: E731
    assert ids([["structure", "==", "MTG"], ["dendrite_type", "==", "spiny"]]) == [541549258]
    assert ids([["structure", "!=", "MTG"]]) == [569835804]
    assert ids([["age_days", ">", 365.25 * 30]]) == [569835804]
    assert ids([["age_days", "<=", 365.25 * 28]]) == [541549258, 541557114]
    assert ids([["cell_specimen_id", "in", [541557114, 569835804]]]) == [541557114, 569835804]
    assert ids([["cell_specimen_id", "not in", [541557114]]]) == [541549258, 569835804]


def test_filter_values_are_converted_to_the_column_type(cat, served_tables):
    frame = cat.human.metadata(filters=[["cell_specimen_id", "==", "541549258"]]).read()
    assert list(frame["cell_specimen_id"]) == [541549258]


def test_columns_select_and_order_columns(cat, served_tables):
    frame = cat.mouse.metadata(columns=["structure", "cell_specimen_id"]).read()
    assert list(frame.columns) == ["structure", "cell_specimen_id"]


def test_to_dask_matches_read(cat, served_tables):
    source = cat.mouse.manifest(filters=[["archive", "==", "DANDI"]])
    lazy = source.to_dask()
    assert lazy.npartitions >= 1
    pd.testing.assert_frame_equal(
        lazy.compute().reset_index(drop=True), source.read(), check_dtype=False
    )


@pytest.mark.parametrize(
    "query, message",
    [
        ({"filters": [["structur", "==", "MTG"]]}, "unknown column 'structur'.*valid columns: project, cell_specimen_id"),
        ({"filters": [["structure", "~", "MTG"]]}, "unknown operator '~'.*valid operators"),
        ({"filters": [["structure", "MTG"]]}, r"each filter is \[column, op, value\]"),
        ({"filters": [["cell_specimen_id", "in", 5]]}, "'in' takes a list"),
        ({"filters": [["cell_specimen_id", "==", "abc"]]}, "'abc' is not a valid int64 value"),
        ({"columns": ["structure", "depth"]}, r"unknown column\(s\) \['depth'\].*valid columns: .*age_days"),
    ],
)
def test_bad_queries_say_what_is_valid(cat, served_tables, query, message):
    with pytest.raises(InvalidQueryError, match=message):
        cat.human.metadata(**query).read()


# --- fetching, verifying, caching ----------------------------------------------------------


def test_later_reads_come_from_the_cache_without_any_request(cat, served_tables):
    first = cat.mouse.metadata.read()
    requests_made = len(served_tables.log)
    served_tables.stop()
    again = cat.mouse.metadata(filters=[["structure", "==", "VISp5"]]).read()
    assert len(served_tables.log) == requests_made == 1
    assert sorted(again["cell_specimen_id"]) == sorted(first.loc[first.structure == "VISp5", "cell_specimen_id"])


def test_offline_reads_a_cached_table(cat, served_tables, monkeypatch):
    cat.human.metadata.read()
    served_tables.stop()
    monkeypatch.setenv(config.OFFLINE_ENV, "1")
    assert len(cat.human.metadata.read()) == 3


def test_offline_without_cache_says_how_to_get_the_table(cat, served_tables, monkeypatch, cache_dir):
    monkeypatch.setenv(config.OFFLINE_ENV, "1")
    with pytest.raises(OfflineError, match="not cached yet.*PATCHSEQ_INTAKE_TABLES.*20200625_patchseq_metadata_human.csv"):
        cat.human.metadata.read()
    assert len(served_tables.log) == 0
    assert _files_in(cache_dir) == []


def test_offline_may_read_tables_from_a_local_directory(cat, cells, tmp_path, monkeypatch):
    for name, content in release_tables(cells).items():
        (tmp_path / name).write_bytes(content)
    monkeypatch.setenv(config.TABLES_ENV, str(tmp_path))
    monkeypatch.setenv(config.UNPINNED_TABLES_ENV, "1")  # made-up tables, not the release's
    monkeypatch.setenv(config.OFFLINE_ENV, "1")
    assert len(cat.mouse.metadata.read()) == 3


def test_pinned_checksum_is_verified(table_server, cells):
    import hashlib

    content = release_tables(cells)[table_file_name("human", "metadata")]
    good = hashlib.sha256(content).hexdigest()
    assert len(_pinned_source(table_server, sha256=good).read()) == 3


def test_checksum_mismatch_names_url_and_digests_and_caches_nothing(table_server, cache_dir):
    wrong = "0" * 64
    source = _pinned_source(table_server, sha256=wrong)
    with pytest.raises(ChecksumError) as caught:
        source.read()
    message = str(caught.value)
    assert f"{table_server.url}/tables/20200625_patchseq_metadata_human.csv" in message
    assert f"expected {wrong}" in message and "found " in message
    assert _files_in(cache_dir) == []


def test_missing_table_names_the_url_and_the_ways_out(cat, served_tables, monkeypatch, cache_dir):
    monkeypatch.setenv(config.TABLES_ENV, f"{served_tables.url}/nowhere")
    with pytest.raises(FetchError, match=r"nowhere/20200625_patchseq_metadata_human.csv: HTTP 404.*PATCHSEQ_INTAKE_TABLES.*retry"):
        cat.human.metadata.read()
    assert _files_in(cache_dir) == []


def test_refused_connection_is_a_clear_error(cat, served_tables, monkeypatch):
    from patchseq_intake.transport import download

    monkeypatch.setattr(download, "DEFAULT_RETRY", download.RetryPolicy(attempts=2, backoff_s=0.01))
    served_tables.stop()
    with pytest.raises(FetchError, match="could not fetch the human metadata table.*gave up after 2 attempts"):
        cat.human.metadata.read()


def test_server_errors_are_retried(cat, served_tables):
    served_tables.faults.statuses = [503, 429]
    served_tables.faults.retry_after = "0"
    assert len(cat.human.metadata.read()) == 3
    assert [entry.status for entry in served_tables.log] == [503, 429, 200]


def test_cut_download_is_retried(table_server, cells):
    import hashlib

    content = release_tables(cells)[table_file_name("human", "metadata")]
    table_server.faults.cut_after_bytes = 100
    table_server.faults.cuts = 1
    frame = _pinned_source(table_server, sha256=hashlib.sha256(content).hexdigest()).read()
    assert len(frame) == 3
    assert len(table_server.log) == 2 and table_server.log[0].body_bytes == 100


def test_garbage_never_reaches_the_cache(cat, served_tables, cache_dir):
    served_tables.serve_file(f"/tables/{table_file_name('human', 'metadata')}", b"<html>Rate limited</html>")
    with pytest.raises(TableFormatError, match="not a Patch-seq metadata table"):
        cat.human.metadata.read()
    assert _files_in(cache_dir) == []


def test_source_constructor_rejects_bad_arguments():
    with pytest.raises(InvalidQueryError, match="unknown technique"):
        ReleaseTableSource(url="x", sha256=None, table="manifest", archive="human", technique="ephys")
    with pytest.raises(InvalidQueryError, match="manifest only"):
        ReleaseTableSource(url="x", sha256=None, table="metadata", archive="human", technique="morphology")


@pytest.mark.parametrize(
    "age, days",
    [("P55", 55.0), ("9 wks", 63.0), ("28 yrs", 28 * 365.25), ("1 yr", 365.25), ("unknown", None), (None, None)],
)
def test_age_in_days(age, days):
    from patchseq_intake.tables.schema import age_in_days

    result = age_in_days(age)
    assert (pd.isna(result) if days is None else result == pytest.approx(days))
