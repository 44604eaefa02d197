"""The ephys driver against the local replica: cells -> manifest -> DANDI -> sweeps."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from patchseq_intake import config
from patchseq_intake.errors import (
    AccessError,
    ChecksumError,
    InvalidQueryError,
    LocalFileMissingError,
    NoMatchingCellsError,
    NoNwbFileError,
    OfflineError,
    UnknownCellError,
    UnknownSweepError,
    UnknownVersionError,
)
from patchseq_intake.testing.world import DEMO_CELLS, dandi_path

HUMAN_CELL = 541549258  # the manifest describes other bytes than DANDI holds
HUMAN_CELL_AS_LISTED = 569835804
MOUSE_CELL = 601506507
DONOR_331663_ASPINY = [601790961, 601808698]
MOUSE_CELL_NOT_IN_MANIFEST = 627867607  # session 627867536
MOUSE_CELL_MANIFEST_DIFFERS = 623434306
SWEEP_COLUMNS = [
    "cell_specimen_id", "sweep_number", "stimulus_code", "stimulus_code_ext", "stimulus_name", "clamp_mode",
    "stimulus_units", "sampling_rate", "duration", "bridge_balance_mohm", "leak_pa", "gain",
]


def _requests(world, kind):
    return world.replica.requests(kind)


def _cache_tables(cat, archive):
    """Fetch an archive's tables now, so that later faults hit DANDI only."""
    cat[archive].metadata.read()
    cat[archive].manifest.read()


# --- what a user gets ----------------------------------------------------------------------


def test_sweep_table_of_one_cell(cat, world):
    table = cat.human.ephys(specimen_id=HUMAN_CELL).read()
    written = world.written[HUMAN_CELL]
    assert set(SWEEP_COLUMNS) <= set(table.columns)
    assert list(table["sweep_number"]) == [s.sweep_number for s in written.sweeps]
    assert set(table["cell_specimen_id"]) == {HUMAN_CELL}
    by_number = table.set_index("sweep_number")
    for summary in written.sweeps:
        row = by_number.loc[summary.sweep_number]
        assert row["stimulus_code"] == summary.stimulus_code
        assert row["clamp_mode"] == summary.clamp_mode
        assert row["sampling_rate"] == summary.sampling_rate
        assert row["duration"] == pytest.approx(summary.n_samples / summary.sampling_rate)
        assert row["gain"] == pytest.approx(summary.response_gain)
    assert by_number.loc[4, "stimulus_name"] == "Long Square"
    assert by_number.loc[13, "stimulus_name"] == "Short Square"
    assert by_number.loc[16, "stimulus_name"] == "Ramp"
    assert by_number.loc[1, "stimulus_name"] == "Test" and by_number.loc[1, "stimulus_units"] == "Volts"
    assert by_number.loc[4, "bridge_balance_mohm"] == pytest.approx(written.cell.bridge_balance_mohm)  # MOhm, as stored
    assert by_number.loc[4, "leak_pa"] == pytest.approx(written.cell.bias_current_pa)  # pA, as stored
    assert pd.isna(by_number.loc[1, "leak_pa"])  # voltage clamp


def test_current_clamp_sweep_in_ipfx_units(cat, world):
    written = world.written[HUMAN_CELL]
    summary = written.sweep(4)  # the most hyperpolarising long square
    sweep = cat.human.ephys(specimen_id=HUMAN_CELL).sweep(4)
    assert (sweep.sweep_number, sweep.stimulus_code, sweep.stimulus_name, sweep.clamp_mode) == (
        4, "X1PS_SubThresh", "Long Square", "CurrentClamp")
    assert sweep.sampling_rate == summary.sampling_rate
    assert sweep.t[0] == 0.0 and sweep.t[1] == pytest.approx(1 / summary.sampling_rate)
    assert len(sweep.t) == len(sweep.v) == len(sweep.i) == summary.n_samples
    during = (sweep.t > summary.stimulus_start + 0.5 * (summary.stimulus_end - summary.stimulus_start)) & (
        sweep.t < summary.stimulus_end)
    assert np.median(sweep.i[during]) == pytest.approx(summary.amplitude, abs=0.5)  # pA
    before = (sweep.t > summary.stimulus_start - 0.02) & (sweep.t < summary.stimulus_start)
    assert np.median(sweep.v[before]) == pytest.approx(summary.baseline, abs=0.5)  # mV
    deflection = np.median(sweep.v[during]) - summary.baseline
    assert deflection == pytest.approx(summary.expected_deflection, rel=0.05)


def test_voltage_clamp_sweep_swaps_command_and_response(cat, world):
    summary = world.written[HUMAN_CELL].sweep(1)
    sweep = cat.human.ephys(specimen_id=HUMAN_CELL).sweep(1)
    assert sweep.clamp_mode == "VoltageClamp"
    assert np.max(np.abs(sweep.v)) == pytest.approx(abs(summary.amplitude), rel=0.01)  # the command, mV
    assert np.median(sweep.i) == pytest.approx(summary.baseline, abs=2.0)  # holding current, pA


def test_reading_a_sweep_loads_only_that_sweeps_data(cat, world, monkeypatch):
    import h5py

    read = []
    original = h5py.Dataset.__getitem__

    def spy(self, key):
        if self.name.endswith("/data") and not self.name.startswith("/processing/spikes/"):
            read.append(self.name)  # samples; the spike times are a few numbers a sweep, which the index keeps
        return original(self, key)

    monkeypatch.setattr(h5py.Dataset, "__getitem__", spy)
    source = cat.human.ephys(specimen_id=HUMAN_CELL)
    source.read()
    assert read == []  # the sweep table reads no samples
    source.sweep(5)
    summary = world.written[HUMAN_CELL].sweep(5)
    assert sorted(read) == [f"/{summary.response_name}/data", f"/{summary.stimulus_name}/data"]


def test_open_nwb_gives_the_pynwb_file(cat, world):
    response = world.written[MOUSE_CELL].sweep(4).response_name.removeprefix("acquisition/")
    with cat.mouse.ephys(specimen_id=MOUSE_CELL).open_nwb() as nwb:
        assert nwb.session_id == "601506492"
        assert nwb.acquisition[response].sweep_number == 4


def test_many_cells_by_filters(cat, world):
    filters = [["donor_id", "==", 331663], ["dendrite_type", "==", "aspiny"]]
    many = cat.mouse.ephys(filters=filters)
    many.discover()
    assert many.npartitions == 2
    table = many.read()
    assert sorted(table["cell_specimen_id"].unique()) == DONOR_331663_ASPINY
    first = many.read_partition(0)
    assert set(first["cell_specimen_id"]) == {many.cells[0].specimen_id}
    lazy = many.to_dask()
    assert lazy.npartitions == 2
    pd.testing.assert_frame_equal(lazy.compute().reset_index(drop=True), table, check_dtype=False)
    sweep = many.sweep(4, specimen_id=601790961)
    assert sweep.sweep_number == 4 and sweep.stimulus_name == "Long Square"


def test_ids_and_filters_combine(cat, world):
    source = cat.mouse.ephys(specimen_id=[601790961, 601803754], filters=[["dendrite_type", "==", "aspiny"]])
    assert [cell.specimen_id for cell in source.cells] == [601790961]


def _draft_without(world, specimen_id):
    """Take the cell's file out of the replica's draft of its dandiset, as a new draft may."""
    plan = next(p for p in DEMO_CELLS if p.specimen_id == specimen_id)
    dandiset = "000023" if plan.archive == "human" else "000020"
    world.replica.remove_asset(dandiset, "draft", dandi_path(plan))


def test_cells_without_nwb_are_left_out_of_a_filtered_selection_with_a_warning(cat, world):
    _draft_without(world, 601808698)
    warning = "1 of the 2 mouse cells matching the filters have no NWB file in dandiset 000020 version draft"
    with pytest.warns(UserWarning, match=warning):
        source = cat.mouse.ephys(filters=[["donor_id", "==", 331663], ["dendrite_type", "==", "aspiny"]], version="draft")
        ids = [cell.specimen_id for cell in source.cells]
    assert ids == [601790961]


# --- access modes and the cache -----------------------------------------------------------------


def test_download_is_verified_cached_by_checksum_and_reused_without_network(cat, world, cache_dir):
    written = world.written[MOUSE_CELL]
    first = cat.mouse.ephys(specimen_id=MOUSE_CELL).read()
    assert (cache_dir / "nwb" / f"{written.sha256}.nwb").read_bytes() == written.path.read_bytes()
    assert len(_requests(world, "blob")) == 1
    world.stop()
    again = cat.mouse.ephys(specimen_id=MOUSE_CELL)
    pd.testing.assert_frame_equal(again.read(), first)
    assert again.sweep(4).sweep_number == 4


def test_the_asset_index_is_listed_once_for_many_cells(cat, world):
    cat.mouse.ephys(specimen_id=MOUSE_CELL).read()
    cat.mouse.ephys(specimen_id=601790961).read()
    assert world.replica.index_listings() == 1


def test_stream_reads_ranges_and_matches_download(cat, world, streamed):
    streamed = cat.human.ephys(specimen_id=HUMAN_CELL, access="stream")
    table = streamed.read()
    sweep = streamed.sweep(5)
    blob_reads = _requests(world, "blob")
    assert blob_reads and all(entry.range for entry in blob_reads)
    downloaded = cat.human.ephys(specimen_id=HUMAN_CELL)
    pd.testing.assert_frame_equal(table, downloaded.read())
    np.testing.assert_array_equal(sweep.v, downloaded.sweep(5).v)


@pytest.mark.parametrize("under_dandiset", [False, True])
def test_local_root_in_both_layouts(cat, world, tmp_path, under_dandiset):
    plan = next(p for p in DEMO_CELLS if p.specimen_id == HUMAN_CELL)
    root = tmp_path / "dandi"
    target = root / ("000023" if under_dandiset else "") / dandi_path(plan)
    target.parent.mkdir(parents=True)
    target.write_bytes(world.written[HUMAN_CELL].path.read_bytes())
    cat.human.nwb_files.read()  # cache the tables and the replica's asset index
    world.stop()  # then local access needs no network
    table = cat.human.ephys(specimen_id=HUMAN_CELL, access="local", root=str(root)).read()
    assert len(table) == len(world.written[HUMAN_CELL].sweeps)


def test_local_root_from_the_environment(cat, world, tmp_path, monkeypatch):
    plan = next(p for p in DEMO_CELLS if p.specimen_id == MOUSE_CELL)
    target = tmp_path / dandi_path(plan)
    target.parent.mkdir(parents=True)
    target.write_bytes(world.written[MOUSE_CELL].path.read_bytes())
    monkeypatch.setenv(config.LOCAL_ROOT_ENV, str(tmp_path))
    assert cat.mouse.ephys(specimen_id=MOUSE_CELL, access="local").sweep(4).sweep_number == 4


def test_draft_version_is_allowed(cat, world):
    assert len(cat.human.ephys(specimen_id=HUMAN_CELL, version="draft").read()) > 0


# --- faults ------------------------------------------------------------------------------------


def test_api_and_blob_faults_are_retried(cat, world):
    _cache_tables(cat, "mouse")
    world.server.log.clear()
    world.server.faults.statuses = [503, 429]
    world.server.faults.retry_after = "0"
    assert len(cat.mouse.ephys(specimen_id=MOUSE_CELL).read()) > 0
    listing = [entry.status for entry in _requests(world, "listing")]
    assert listing[:3] == [503, 429, 200] and set(listing[3:]) <= {200}  # the real listing has 5 pages
    world.server.faults.statuses = [502]
    cat.mouse.ephys(specimen_id=601790961).read()
    assert [entry.status for entry in _requests(world, "blob")] == [200, 502, 200]


def test_cut_download_is_resumed(cat, world, cache_dir):
    written = world.written[MOUSE_CELL]
    cat.mouse.ephys(specimen_id=601790961).read()  # tables and asset index in the cache
    world.server.log.clear()
    world.server.faults.cut_after_bytes = written.size // 2
    world.server.faults.cuts = 1
    cat.mouse.ephys(specimen_id=MOUSE_CELL).read()
    cut, resumed = _requests(world, "blob")
    assert cut.body_bytes == written.size // 2
    assert resumed.status == 206 and int(resumed.range.removeprefix("bytes=").rstrip("-")) > 0
    assert (cache_dir / "nwb" / f"{written.sha256}.nwb").stat().st_size == written.size


def test_blob_failure_falls_back_to_the_api_download(cat, world):
    blob_url = _blob_path(world, MOUSE_CELL)
    content = world.server.files.pop(blob_url)
    redirected = {"count": 0}

    def serve_after_redirect(request):
        from patchseq_intake.testing.server import Reply

        redirected["count"] += 1
        return Reply(200, content.read_bytes())

    world.server.add_route(blob_url, serve_after_redirect)
    _cache_tables(cat, "mouse")
    cat.mouse.ephys(specimen_id=601790961).read()  # lists the asset index
    world.server.faults.statuses = [500] * 3  # every try at the blob URL
    assert len(cat.mouse.ephys(specimen_id=MOUSE_CELL).read()) > 0
    assert len(_requests(world, "download")) == 1 and redirected["count"] == 1


def _blob_path(world, specimen_id):
    from urllib.parse import urlparse

    return urlparse(world.replica.blob_url(world.assets[specimen_id])).path


def test_corrupt_bytes_are_refused_and_never_cached(cat, world, cache_dir):
    blob_url = _blob_path(world, MOUSE_CELL)
    good = world.server.files[blob_url]
    world.server.files[blob_url] = good.read_bytes()[:-10] + b"0123456789"
    with pytest.raises(ChecksumError, match="SHA-256 mismatch"):
        cat.mouse.ephys(specimen_id=MOUSE_CELL).read()
    left = [p.name for p in (cache_dir / "nwb").iterdir() if not p.name.endswith(".lock")]
    assert left == []  # neither a file under its final name nor a partial one


# --- bad input ----------------------------------------------------------------------------------


def test_unknown_cell_names_the_dataset(cat, world):
    with pytest.raises(UnknownCellError, match=r"cell\(s\) \[123\] are not in the human Patch-seq dataset \(2 cells\)"):
        cat.human.ephys(specimen_id=123).read()


def test_cell_of_the_other_archive_says_so(cat, world):
    with pytest.raises(UnknownCellError, match="they are cells of the mouse dataset: use cat.mouse.ephys"):
        cat.human.ephys(specimen_id=MOUSE_CELL).read()


def test_a_cell_the_version_has_no_file_for_names_cell_session_and_version(cat, world):
    _draft_without(world, MOUSE_CELL_NOT_IN_MANIFEST)
    message = (
        rf"no NWB file for 1 mouse cell\(s\): cell {MOUSE_CELL_NOT_IN_MANIFEST} \(ephys_session_id 627867536\): "
        r"neither the release manifest nor dandiset 000020 version draft has one"
    )
    with pytest.raises(NoNwbFileError, match=message):
        cat.mouse.ephys(specimen_id=MOUSE_CELL_NOT_IN_MANIFEST, version="draft").read()
    # The published version has it.
    assert cat.mouse.ephys(specimen_id=MOUSE_CELL_NOT_IN_MANIFEST).cells[0].session_id == 627867536


def test_a_cell_whose_manifest_path_the_version_lacks_says_what_was_searched(cat, world):
    _draft_without(world, HUMAN_CELL_AS_LISTED)
    path = dandi_path(next(p for p in DEMO_CELLS if p.specimen_id == HUMAN_CELL_AS_LISTED))
    message = (
        rf"no NWB file for 1 human cell\(s\): cell {HUMAN_CELL_AS_LISTED}: the release manifest names {path}, "
        r"which dandiset 000023 version draft does not hold, and no asset path ends in _ses-569835791_icephys.nwb"
    )
    with pytest.raises(NoNwbFileError, match=message):
        cat.human.ephys(specimen_id=[HUMAN_CELL, HUMAN_CELL_AS_LISTED], version="draft").read()


def test_no_cell_matching_the_filters(cat, world):
    with pytest.raises(NoMatchingCellsError, match="no mouse cell matches the filters"):
        cat.mouse.ephys(filters=[["structure", "==", "MOp"]]).read()


def test_filter_on_a_missing_column_lists_the_valid_ones(cat, world):
    with pytest.raises(InvalidQueryError, match="unknown column 'layer'.*valid columns: project, cell_specimen_id"):
        cat.mouse.ephys(filters=[["layer", "==", "5"]]).read()


def test_unknown_sweep_lists_the_sweeps_there_are(cat, world):
    with pytest.raises(UnknownSweepError, match=rf"cell {HUMAN_CELL} \(sub-541516760/.*\.nwb\) has no recorded sweep 3 on headstage 0; its sweeps are \[0, 1, 2, 4, 5"):
        cat.human.ephys(specimen_id=HUMAN_CELL).sweep(3)


def test_sweep_of_many_cells_needs_a_cell(cat, world):
    with pytest.raises(InvalidQueryError, match="selects 2 cells: name one with specimen_id"):
        cat.mouse.ephys(specimen_id=DONOR_331663_ASPINY).sweep(4)
    with pytest.raises(UnknownCellError, match="cell 1 is not among this source's cells"):
        cat.mouse.ephys(specimen_id=DONOR_331663_ASPINY).sweep(4, specimen_id=1)


def test_unknown_access_and_version(cat):
    from patchseq_intake.drivers.ephys import EphysSource

    tables = {"url": "http://127.0.0.1:9/x.csv", "sha256": None}
    with pytest.raises(AccessError, match="unknown access 'ftp'; use one of download, stream, local"):
        EphysSource("human", "000023", tables, tables, "draft", access="ftp")
    with pytest.raises(UnknownVersionError, match="unknown dandiset version 'latest'"):
        cat.human.ephys(version="latest")


def test_well_formed_version_the_api_does_not_have(cat, world):
    with pytest.raises(UnknownVersionError, match="dandiset 000023 has no version '0.999999.9999'"):
        cat.human.ephys(specimen_id=HUMAN_CELL, version="0.999999.9999").read()


def test_local_root_without_the_file(cat, world, tmp_path):
    with pytest.raises(LocalFileMissingError, match=rf"cell {HUMAN_CELL} is not under {tmp_path}; looked for"):
        cat.human.ephys(specimen_id=HUMAN_CELL, access="local", root=str(tmp_path)).read()


def test_local_file_of_the_wrong_size(cat, world, tmp_path):
    plan = next(p for p in DEMO_CELLS if p.specimen_id == HUMAN_CELL)
    target = tmp_path / dandi_path(plan)
    target.parent.mkdir(parents=True)
    target.write_bytes(b"partial")
    size = world.written[HUMAN_CELL].size
    with pytest.raises(ChecksumError, match=rf"7 bytes, but DANDI holds {size} bytes of {dandi_path(plan)}"):
        cat.human.ephys(specimen_id=HUMAN_CELL, access="local", root=str(tmp_path)).read()


def test_local_access_without_a_root(cat, world):
    with pytest.raises(AccessError, match="access='local' needs a directory"):
        cat.human.ephys(specimen_id=HUMAN_CELL, access="local").read()


def test_offline_without_the_file_cached(cat, world, monkeypatch, streamed):
    cat.mouse.nwb_files.read()  # the tables and the asset index are cached
    monkeypatch.setenv(config.OFFLINE_ENV, "1")
    with pytest.raises(OfflineError, match=f"NWB file of cell {MOUSE_CELL}"):
        cat.mouse.ephys(specimen_id=MOUSE_CELL).read()
    with pytest.raises(OfflineError, match=f"cell {MOUSE_CELL} .*: its file's index is not cached"):
        cat.mouse.ephys(specimen_id=MOUSE_CELL, access="stream").read()


def test_bad_specimen_id(cat):
    with pytest.raises(InvalidQueryError, match="specimen_id must be a cell id or a list"):
        cat.human.ephys(specimen_id="abc")


# --- parameters as scientists pass them -----------------------------------------------------------


def test_numpy_and_pandas_values_are_accepted_as_parameters(cat, world):
    import numpy as np

    table = cat.mouse.metadata(filters=[["donor_id", "==", np.int64(331663)], ["age_days", ">", np.float64(55.5)]]).read()
    assert sorted(table["cell_specimen_id"]) == [601790961, 601803754, 601808698]
    by_series = cat.mouse.ephys(specimen_id=table["cell_specimen_id"])
    assert [cell.specimen_id for cell in by_series.cells] == list(table["cell_specimen_id"])
    by_scalar = cat.mouse.ephys(specimen_id=np.int64(MOUSE_CELL))
    assert by_scalar.specimen_ids == [MOUSE_CELL]


def test_repeated_ids_give_one_partition_each(cat, world):
    source = cat.mouse.ephys(specimen_id=[MOUSE_CELL, 601790961, MOUSE_CELL])
    assert source.specimen_ids == [MOUSE_CELL, 601790961]
    with pytest.raises(InvalidQueryError, match="specimen_id must be a cell id"):
        cat.mouse.ephys(specimen_id=[601506507.5])


def test_constructing_an_ephys_entry_does_no_io(cat, table_server, cache_dir, monkeypatch):
    monkeypatch.setenv(config.TABLES_ENV, "http://127.0.0.1:9/none")
    monkeypatch.setenv(config.DANDI_API_ENV, "http://127.0.0.1:9/api")
    source = cat.mouse.ephys(specimen_id=[1, 2], filters=[["nope", "==", 1]], access="stream", version="draft")
    assert source.container == "dataframe" and not cache_dir.exists()


# --- every column, every kind of sweep ---------------------------------------------------------


def test_every_sweep_table_column_holds_what_the_file_says(cat, world):
    written = world.written[HUMAN_CELL]
    table = cat.human.ephys(specimen_id=HUMAN_CELL).read().set_index("sweep_number")
    for summary in written.sweeps:
        row = table.loc[summary.sweep_number]
        assert row["n_samples"] == summary.n_samples
        assert row["starting_time"] == pytest.approx(summary.starting_time)
        assert row["stimulus_code_ext"] == f"{summary.stimulus_code}[{summary.set_sweep_count}]"
        assert row["stimulus_scale_factor"] == summary.scale_factor  # the lab notebook's "Scale Factor"
        for column, planted in (("leak_pa", summary.leak_pa), ("bridge_balance_mohm", summary.bridge_balance_mohm)):
            assert pd.isna(row[column]) if planted is None else row[column] == planted


def test_an_i_equals_zero_sweep_has_a_zero_command(cat, world):
    izero = next(s for s in world.written[HUMAN_CELL].sweeps if s.kind == "izero")
    sweep = cat.human.ephys(specimen_id=HUMAN_CELL).sweep(izero.sweep_number)
    assert sweep.clamp_mode == "CurrentClamp"
    assert not sweep.i.any()
    assert np.median(sweep.v) == pytest.approx(izero.baseline, abs=0.5)


# --- stream mode, in depth ----------------------------------------------------------------------


def test_stream_reads_a_sweep_again_in_one_wave_of_its_own_bytes(cat, world, streamed):
    source = cat.human.ephys(specimen_id=HUMAN_CELL, access="stream")
    source.sweep(4)  # the file's index is built and cached on the way
    world.server.faults.latency_s = 0.2  # so that requests in flight together overlap at the server, even on a busy machine
    world.server.log.clear()
    sweep = source.sweep(4)
    again = world.replica.requests("blob")
    summary = world.written[HUMAN_CELL].sweep(4)
    assert sweep.sweep_number == 4 and len(sweep.v) == summary.recorded_samples
    assert again and all(entry.range for entry in again)  # the two series' chunks, merged where they touch
    assert world.server.most_at_once(again) == len(again)  # together: one round trip
    assert sum(entry.body_bytes for entry in again) < 0.25 * world.written[HUMAN_CELL].size


def test_stream_retries_faults_and_falls_back_to_the_api_url(cat, world, streamed):
    cat.human.ephys(specimen_id=569835804).read()  # tables and asset index cached
    world.server.log.clear()
    world.server.faults.statuses = [503, 429]
    world.server.faults.retry_after = "0"
    table = cat.human.ephys(specimen_id=HUMAN_CELL, access="stream").read()
    assert len(table) == len(world.written[HUMAN_CELL].sweeps)
    blob = _blob_path(world, HUMAN_CELL)
    del world.server.files[blob]
    # The blob URL now always fails; reached through the API's (signed) redirect, it works.
    etag = world.assets[HUMAN_CELL].etag
    world.server.add_route(blob, lambda request: _serve_range(request, world.written[HUMAN_CELL].path, etag))
    sweep = cat.human.ephys(specimen_id=HUMAN_CELL, access="stream").sweep(5)
    assert sweep.sweep_number == 5
    assert world.replica.requests("download")  # fell back to the API's download URL


def _serve_range(request, path, etag):
    """Answer a Range request for ``path``, as S3 does (with its ``etag``), but only through a signed URL."""
    from patchseq_intake.testing.server import Reply

    if "X-Amz-Signature" not in request.query:
        return Reply(500, b"this blob URL is broken")
    start, end = request.headers["Range"].removeprefix("bytes=").split("-")
    data = path.read_bytes()[int(start) : int(end) + 1]
    return Reply(206, data, {"Content-Range": f"bytes {start}-{end}/{path.stat().st_size}", "ETag": f'"{etag}"'})


def test_stream_open_nwb(cat, world, streamed):
    response = world.written[HUMAN_CELL].sweep(4).response_name.removeprefix("acquisition/")
    with cat.human.ephys(specimen_id=HUMAN_CELL, access="stream").open_nwb() as nwb:
        assert nwb.acquisition[response].sweep_number == 4



# --- files that are not NWB --------------------------------------------------------------------


def test_bytes_that_are_not_hdf5_are_refused_by_every_access_mode_and_never_cached(cat, world, cache_dir, tmp_path, streamed):
    from patchseq_intake.errors import NwbFormatError

    plan = next(p for p in DEMO_CELLS if p.specimen_id == MOUSE_CELL)
    garbage = b"<html>not an NWB file</html>" * 1000
    world.replica.add_asset("000020", "0.210913.1639", dandi_path(plan), garbage)  # DANDI's digest is of these bytes
    with pytest.raises(NwbFormatError, match=rf"cell {MOUSE_CELL} \(sub-599387254/.*\.nwb\): the bytes DANDI serves"):
        cat.mouse.ephys(specimen_id=MOUSE_CELL).read()
    assert not list((cache_dir / "nwb").glob("*.nwb"))
    with pytest.raises(NwbFormatError, match=rf"cell {MOUSE_CELL} .* is not an HDF5 \(NWB\) file"):
        cat.mouse.ephys(specimen_id=MOUSE_CELL, access="stream").read()
    local = tmp_path / dandi_path(plan)
    local.parent.mkdir(parents=True)
    local.write_bytes(garbage)
    with pytest.raises(NwbFormatError, match=rf"cell {MOUSE_CELL} .*: {local} is not an HDF5 \(NWB\) file"):
        cat.mouse.ephys(specimen_id=MOUSE_CELL, access="local", root=str(tmp_path)).read()


def test_an_hdf5_file_that_is_not_nwb_names_the_cell(cat, world, tmp_path, streamed):
    import h5py

    from patchseq_intake.errors import NwbFormatError

    plan = next(p for p in DEMO_CELLS if p.specimen_id == MOUSE_CELL)
    other = tmp_path / "other.h5"
    with h5py.File(other, "w") as h5:
        h5["numbers"] = [1, 2, 3]
    world.replica.add_asset("000020", "0.210913.1639", dandi_path(plan), other.read_bytes())
    with pytest.raises(NwbFormatError, match=rf"cell {MOUSE_CELL} .* is not an NWB file of recordings"):
        cat.mouse.ephys(specimen_id=MOUSE_CELL).read()


# --- the device dimension (issue 17) ------------------------------------------------------------


def _with_device(cat, device):
    """The human ephys source of HUMAN_CELL with ``device``, a parameter of the shipped catalogs' entry."""
    return cat.human.ephys(specimen_id=HUMAN_CELL, device=device)


def test_the_sweep_table_has_ipfxs_columns_first_then_the_device_of_a_release_file(cat, world):
    from tests.nwb.test_ipfx_agreement import IPFX_COLUMNS

    table = cat.human.ephys(specimen_id=HUMAN_CELL).read()
    assert list(table.columns)[: len(IPFX_COLUMNS) + 2] == ["cell_specimen_id", *IPFX_COLUMNS, "device"]
    assert set(table["device"]) == {"ITC18USB_Dev_0"}  # the release's one device
    izero = table[table["sweep_number"] == 17].iloc[0]
    assert izero["stimulus_units"] == "Amps" and izero["clamp_mode"] == "CurrentClamp"  # the clamp's unit


def test_the_device_parameter_reads_that_devices_sweeps_and_names_the_devices_otherwise(cat, world):
    same = _with_device(cat, "ITC18USB_Dev_0")
    assert same.read().equals(cat.human.ephys(specimen_id=HUMAN_CELL).read())
    assert np.array_equal(same.sweep(4).v, cat.human.ephys(specimen_id=HUMAN_CELL).sweep(4).v)
    with pytest.raises(InvalidQueryError, match=r"no device 'Dev1' recorded there; its devices are 'ITC18USB_Dev_0'"):
        _with_device(cat, "Dev1").read()
    with pytest.raises(InvalidQueryError, match=r"device must be a device's name"):
        _with_device(cat, 3)
    every = cat.human.ephys(specimen_id=HUMAN_CELL)  # the device named in the call, not the source
    assert np.array_equal(every.sweep(4, device="ITC18USB_Dev_0").v, same.sweep(4).v, equal_nan=True)
    assert [s.sweep_number for s in every.sweeps([5, 4], device="ITC18USB_Dev_0")] == [5, 4]
    with pytest.raises(InvalidQueryError, match=r"no device 'Dev1' recorded there"):
        every.sweep(4, device="Dev1")
