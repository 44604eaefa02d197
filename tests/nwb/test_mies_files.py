"""The release's NWB layout: the test files are written as MIES wrote them, and read as IPFX reads them.

The facts checked on the written files are those of
``shared/reference/release-nwb-files.md`` (sections 1.2, 1.3); the reader is
checked against what each file plants (``WrittenCell`` summaries).
"""

from __future__ import annotations

import json
import warnings
from dataclasses import replace
from pathlib import Path

import h5py
import numpy as np
import pandas as pd
import pytest

from patchseq_intake.errors import NwbFormatError, UnknownHeadstageError, UnknownSweepError
from patchseq_intake.nwb.h5values import text
from patchseq_intake.nwb.sweep_table import read_sweep_table
from patchseq_intake.nwb.sweeps import read_sweep
from patchseq_intake.testing.mies import MiesLayout, write_mies_nwb
from patchseq_intake.testing.physiology import IZERO, CellSpec, WrittenCell, varied_sweeps

RATE = 10_000.0
FAST_CELL = CellSpec(tau_s=0.002)
VARIANTS = {
    "2020": MiesLayout(),
    "newer MIES": MiesLayout(newer_mies=True),
}


def _write(directory: Path, layout: MiesLayout, name: str = "cell.nwb") -> WrittenCell:
    return write_mies_nwb(
        directory / name, specimen_id=1, session_id=2, subject_id=3,
        sweeps=varied_sweeps(scale=0.1, sampling_rate=RATE), cell=FAST_CELL, layout=layout,
    )


@pytest.fixture(scope="module", params=list(VARIANTS))
def written(request, tmp_path_factory) -> WrittenCell:
    return _write(tmp_path_factory.mktemp("mies"), VARIANTS[request.param])


@pytest.fixture(scope="module")
def everything(tmp_path_factory) -> WrittenCell:
    """Two headstages, TTL lines, a sweep number only TTL carries, a rolled-back sweep."""
    layout = MiesLayout(second_headstage=True, ttl=True, ttl_only_sweep=99, rolled_back_sweep=5)
    return _write(tmp_path_factory.mktemp("mies-all"), layout)


def _open(written: WrittenCell) -> h5py.File:
    return h5py.File(written.path, "r")


# --- the files are laid out as the release's ---------------------------------------------------


def test_sweep_data_is_chunked_and_compressed_as_mies_writes_it(written):
    with _open(written) as h5:
        for summary in written.sweeps:
            data = h5[summary.response_name]["data"]
            assert data.dtype == np.float32 and data.maxshape == (None,)
            assert data.chunks == ((8192,) if data.shape[0] > 8192 else (32,))
            assert data.compression == "gzip" and data.compression_opts == 3 and data.shuffle
            assert data.attrs["conversion"].dtype == np.float32 and data.attrs["conversion"].shape == ()
            assert data.attrs["resolution"].dtype == np.float32
            assert len(h5[summary.response_name].attrs["comments"]) > 10  # the Igor wave note


def test_small_values_are_one_element_arrays_and_the_sweep_number_a_uint32_scalar(written):
    with _open(written) as h5:
        summary = written.sweep(4)
        series = h5[summary.response_name]
        for name in ("starting_time", "gain", "bias_current", "bridge_balance"):
            assert series[name].shape == (1,), name
        assert series["starting_time"].attrs["rate"].dtype == np.float32
        number = series.attrs["sweep_number"]
        assert number.dtype == np.uint32 and number.shape == () and number == 4
        assert "bias_current" not in h5[written.sweep(1).response_name]  # voltage clamp


def test_text_is_bytes_in_datasets_and_as_the_mies_version_stored_it_in_attributes(written, request):
    newer = "newer" in request.node.callspec.id
    with _open(written) as h5:
        assert isinstance(h5["session_start_time"][0], bytes)
        assert isinstance(h5["general/intracellular_ephys/electrode_0/description"][0], bytes)
        kind = h5[written.sweep(4).response_name].attrs["neurodata_type"]
        assert isinstance(kind, np.bytes_) if newer else isinstance(kind, str)
        superblock = h5.id.get_create_plist().get_version()[0]
        header = h5py.h5o.get_info(h5["acquisition"].id).hdr.version
        assert (superblock, header) == ((2, 2) if newer else (0, 1))


def test_the_first_sweeps_wave_note_lists_every_setting(written):
    with _open(written) as h5:
        first = h5[written.sweeps[0].response_name]
        later = h5[written.sweep(5).response_name]
        assert len(first.attrs["comments"]) > 2000 > len(later.attrs["comments"])
        assert first["data"].attrs["IGORWaveNote"] == first.attrs["comments"]
        assert "HS#0:Scale Factor: 0.50\r" in text(first.attrs["comments"])


def test_the_lab_notebook_has_the_release_shape(written):
    with _open(written) as h5:
        notebook = h5["general/labnotebook/ITC18USB_Dev_0"]
        keys, values = notebook["numericalKeys"], notebook["numericalValues"]
        assert keys.shape == (3, 204) and values.shape[1:] == (204, 9) and values.shape[0] >= 1024
        assert values.chunks == (32, 32, 32) and values.compression == "gzip"
        names = [name.decode() for name in keys[0]]
        assert {"SweepNum", "Set Sweep Count", "Scale Factor", "AD Gain", "DA Gain"} <= set(names)
        assert notebook["textualValues"].shape[1:] == (49, 9)
        assert np.isnan(values[-1]).all()  # padded at the end


def test_generated_by_names_mies_and_the_specifications_are_cached(written):
    with _open(written) as h5:
        generated = {key.decode(): value.decode() for key, value in h5["general/generated_by"][()]}
        assert generated["Package"] == "MIES" and generated["Program Version"] == "8.0.5.1"
        assert set(h5["specifications"]) == {"core", "hdmf-common", "ndx-mies"}
        assert list(h5["specifications/core"]) == ["2.2.4"] and list(h5["specifications/hdmf-common"]) == ["1.1.3"]
        namespace = json.loads(h5["specifications/ndx-mies/0.1.0/namespace"][0])
        assert namespace["namespaces"][0]["version"] == "0.1.0"


def test_the_sweep_table_has_an_ad_and_a_da_row_per_sweep_and_names_are_a_running_index(written):
    with _open(written) as h5:
        table = h5["general/intracellular_ephys/sweep_table"]
        numbers = table["sweep_number"][()]
        assert numbers.dtype == np.uint32 and table["series"].chunks == (32,)
        with_stimulus = [s.sweep_number for s in written.sweeps if s.kind != IZERO]
        assert len(numbers) == 2 * len(with_stimulus) + 1
        assert [h5[ref].name.split("_")[-1] for ref in table["series"][:4]] == ["AD0", "DA0", "AD0", "DA0"]
    sweep_four = written.sweep(4)
    assert sweep_four.response_name.endswith("data_00003_AD0")  # sweep 3 was aborted: index 3 is sweep 4


def test_ipfx_spikes_module_holds_the_planted_spike_times(written):
    """As IPFX's pipeline wrote them: threshold times (here the onsets, 0.5 ms before each planted peak), in s
    from IPFX's "experiment" epoch (0.5 s before the stimulus), data = timestamps; an empty series for an analysed
    sweep without spikes."""
    with _open(written) as h5:
        spiking = [s for s in written.sweeps if s.spike_peak_times]
        assert spiking
        for summary in spiking:
            series = h5[f"processing/spikes/Sweep_{summary.sweep_number}"]
            expected = np.array(summary.spike_peak_times) - 0.0005 - (summary.stimulus_start - 0.5)
            np.testing.assert_allclose(series["timestamps"][()], expected, atol=0.5 / summary.sampling_rate)
            np.testing.assert_array_equal(series["data"][()], series["timestamps"][()])
        quiet = [s for s in written.sweeps if s.kind == "long_square" and not s.spike_peak_times]
        assert quiet and all(h5[f"processing/spikes/Sweep_{s.sweep_number}/data"].shape == (0,) for s in quiet)
        assert not any(f"Sweep_{s.sweep_number}" in h5["processing/spikes"] for s in written.sweeps if s.kind == IZERO)


# --- the sweep table, as IPFX gives it -------------------------------------------------------------


def _expected_row(summary) -> dict:
    return {
        "stimulus_code": summary.stimulus_code,
        "stimulus_code_ext": f"{summary.stimulus_code}[{summary.set_sweep_count or 0}]",
        "clamp_mode": summary.clamp_mode,
        "stimulus_units": "Amps" if summary.clamp_mode == "CurrentClamp" else "Volts",  # I=0: the clamp's unit
        "sampling_rate": summary.sampling_rate,
        "n_samples": summary.n_samples,
        "leak_pa": summary.leak_pa,
        "bridge_balance_mohm": summary.bridge_balance_mohm,
        "stimulus_scale_factor": summary.scale_factor,
        "gain": summary.response_gain,
    }


def _assert_rows(table: pd.DataFrame, summaries) -> None:
    assert list(table["sweep_number"]) == [s.sweep_number for s in summaries]
    for (_, row), summary in zip(table.iterrows(), summaries):
        for column, expected in _expected_row(summary).items():
            if expected is None:
                assert pd.isna(row[column]), (summary.sweep_number, column)
            else:
                assert row[column] == pytest.approx(expected) if isinstance(expected, float) else row[column] == expected


def test_the_sweep_table_gives_every_column_as_planted(written):
    with _open(written) as h5:
        table = read_sweep_table(h5)
    _assert_rows(table, written.sweeps)
    by_number = table.set_index("sweep_number")
    assert by_number.loc[8, "stimulus_code_ext"] == "X1PS_SubThresh[4]"  # the 5th sweep of its stimset
    assert by_number.loc[1, "sampling_rate"] == 4 * RATE  # sweeps of one file differ in rate
    izero = by_number.loc[17]
    assert izero["clamp_mode"] == "CurrentClamp" and izero["stimulus_units"] == "Amps" and izero["stimulus_name"] == "Unknown"


def test_a_second_headstage_and_ttl_lines_do_not_change_headstage_0(everything, written):
    with _open(everything) as h5:
        first, second = read_sweep_table(h5), read_sweep_table(h5, headstage=1)
    _assert_rows(first, everything.sweeps)
    _assert_rows(second, everything.other_headstages[1])
    assert set(first["stimulus_scale_factor"]) == {0.5} and set(second["stimulus_scale_factor"]) == {1.0}


def test_a_rolled_back_sweep_takes_the_notebooks_last_value(everything):
    with _open(everything) as h5:
        table = read_sweep_table(h5).set_index("sweep_number")
        raw = h5["general/labnotebook/ITC18USB_Dev_0/numericalValues"][:, :, 0]
        names = [n.decode() for n in h5["general/labnotebook/ITC18USB_Dev_0/numericalKeys"][0]]
    rows = raw[raw[:, names.index("SweepNum")] == 5]
    scale = rows[:, names.index("Scale Factor")]
    assert list(scale[~np.isnan(scale)]) == [5.0, 0.5]  # the rolled-back attempt, then the sweep
    assert table.loc[5, "stimulus_scale_factor"] == 0.5


@pytest.mark.parametrize(("missing", "column", "expected"), [
    ("Set Sweep Count", "stimulus_code_ext", "X1PS_SubThresh[0]"),
    ("Scale Factor", "stimulus_scale_factor", None),
])
def test_a_notebook_without_a_key_gives_ipfxs_default(tmp_path, missing, column, expected):
    written = _write(tmp_path, MiesLayout(missing_notebook_keys=(missing,), numeric_keys=128))
    with _open(written) as h5:
        value = read_sweep_table(h5).set_index("sweep_number").loc[8, column]
    assert pd.isna(value) if expected is None else value == expected


def test_a_file_without_holding_or_bridge_balance_has_none(tmp_path):
    written = _write(tmp_path, MiesLayout(holding=False, bridge_balance=False))
    with _open(written) as h5:
        table = read_sweep_table(h5)
    izero = [summary.sweep_number for summary in written.sweeps if summary.kind == IZERO]
    current_clamp = table[(table["clamp_mode"] == "CurrentClamp") & ~table["sweep_number"].isin(izero)]
    assert current_clamp["leak_pa"].isna().all() and current_clamp["bridge_balance_mohm"].isna().all()


# --- sweeps, as IPFX gives them --------------------------------------------------------------------


def test_a_sweep_is_float32_in_ipfx_units(written):
    summary = written.sweep(4)
    with _open(written) as h5:
        sweep = read_sweep(h5, 4)
        stored = h5[summary.response_name]["data"][()]
        conversion = float(h5[summary.response_name]["data"].attrs["conversion"])
    assert sweep.v.dtype == sweep.i.dtype == np.float32
    np.testing.assert_array_equal(sweep.v, stored * conversion * 1.0e3)  # IPFX's arithmetic, to the bit
    assert len(sweep.t) == summary.n_samples and sweep.t[1] == pytest.approx(1 / RATE)
    settled = sweep.v[int(0.9 * summary.stimulus_end * RATE) : int(summary.stimulus_end * RATE)]
    assert np.median(settled) - summary.baseline == pytest.approx(summary.expected_deflection, rel=0.05)


def test_a_sweep_stopped_early_is_cut_where_the_recording_ends(written):
    summary = written.sweep(11)
    with _open(written) as h5:
        trimmed, whole = read_sweep(h5, 11), read_sweep(h5, 11, trim=False)
    assert len(trimmed.t) == len(trimmed.v) == len(trimmed.i) == summary.recorded_samples < summary.n_samples
    assert not np.isnan(trimmed.v).any() and not np.isnan(trimmed.i).any()
    assert len(whole.v) == summary.n_samples and np.isnan(whole.v[-1]) and np.isnan(whole.i[-1])


def test_a_response_ending_in_zeros_ends_where_ipfx_ends_it(written):
    summary = written.sweep(5)
    with _open(written) as h5:
        trimmed, whole = read_sweep(h5, 5), read_sweep(h5, 5, trim=False)
    assert len(trimmed.v) == summary.recorded_samples < summary.n_samples
    assert trimmed.v[-1] != 0 and (whole.v[summary.recorded_samples :] == 0).all()


def test_an_i_equals_zero_sweep_says_so(written):
    with _open(written) as h5:
        sweep = read_sweep(h5, 17)
    assert sweep.izero and sweep.clamp_mode == "CurrentClamp" and not sweep.i.any()
    assert sweep.stimulus_name == "Unknown" and "I=0" in repr(sweep)


def test_sweeps_of_one_file_keep_their_own_rate(written):
    with _open(written) as h5:
        fast, slow = read_sweep(h5, 1), read_sweep(h5, 0)
    assert (fast.sampling_rate, slow.sampling_rate) == (4 * RATE, RATE)
    assert fast.t[1] == pytest.approx(1 / (4 * RATE))


def test_headstage_1_reads_its_own_series(everything):
    with _open(everything) as h5:
        zero, one = read_sweep(h5, 4), read_sweep(h5, 4, headstage=1)
    expected = everything.sweep(4, headstage=1)
    settled = slice(int(0.9 * expected.stimulus_end * RATE), int(expected.stimulus_end * RATE))
    assert np.median(one.v[settled]) - expected.baseline == pytest.approx(expected.expected_deflection, rel=0.05)
    assert not np.allclose(zero.v, one.v)


# --- bad input ---------------------------------------------------------------------------------------


def test_an_unknown_headstage_lists_those_there_are(everything):
    with _open(everything) as h5:
        with pytest.raises(UnknownHeadstageError, match=r"no recording on headstage 2; its headstages are \[0, 1\]"):
            read_sweep_table(h5, headstage=2)
        with pytest.raises(UnknownHeadstageError, match=r"its headstages are \[0, 1\]"):
            read_sweep(h5, 4, headstage=2)


def test_a_sweep_number_only_ttl_carries_is_no_recorded_sweep(everything):
    with _open(everything) as h5:
        assert 99 in h5["general/intracellular_ephys/sweep_table/sweep_number"][()]
        with pytest.raises(UnknownSweepError, match=r"no recorded sweep 99 on headstage 0; its sweeps are \[0, 1, 2, 4"):
            read_sweep(h5, 99, label="cell 1")
        assert 99 not in set(read_sweep_table(h5)["sweep_number"])


def test_a_stimulus_of_another_length_is_an_error_naming_both(tmp_path):
    written = _write(tmp_path, MiesLayout())
    stimulus = written.sweep(4).stimulus_name
    with h5py.File(written.path, "r+") as h5:
        h5[stimulus]["data"].resize((100,))
    with h5py.File(written.path, "r") as h5:
        with pytest.raises(NwbFormatError, match=rf"sweep 4: the stimulus /{stimulus} has 100 samples .* the response"):
            read_sweep(h5, 4, label="cell 1")
        assert len(read_sweep_table(h5)) == len(written.sweeps)  # the table is not the sweep


# --- reading as little as it can ---------------------------------------------------------------------


def test_the_sweep_table_reads_no_samples_and_a_few_notebook_columns(written, monkeypatch):
    reads: list[tuple[str, object]] = []
    original = h5py.Dataset.__getitem__

    def spy(self, key):
        reads.append((self.name, key))
        return original(self, key)

    monkeypatch.setattr(h5py.Dataset, "__getitem__", spy)
    with _open(written) as h5:
        read_sweep_table(h5)
    names = [name for name, _ in reads]
    assert not any(name.endswith("/data") for name in names)
    assert not any("textualValues" in name for name in names)
    notebook = [key for name, key in reads if name.endswith("numericalValues")]
    with _open(written) as h5:
        names = [name.decode() for name in h5["general/labnotebook/ITC18USB_Dev_0/numericalKeys"][0]]
    blocks = {names.index(key) // 32 for key in ("SweepNum", "Set Sweep Count", "Scale Factor")}
    assert len(blocks) == 2  # the test notebook spreads them, as real ones do
    assert len(notebook) == len(blocks)  # one read per 32-column block, never the whole notebook
    for key in notebook:
        assert key[1].stop - key[1].start <= 32 and key[2] == slice(None, 1)  # a block's columns, layer 0


def test_one_sweep_reads_its_two_series_only(written, monkeypatch):
    reads: list[str] = []
    original = h5py.Dataset.__getitem__

    def spy(self, key):
        reads.append(self.name)
        return original(self, key)

    monkeypatch.setattr(h5py.Dataset, "__getitem__", spy)
    with _open(written) as h5:
        read_sweep(h5, 9)
    summary = written.sweep(9)
    spikes = [name for name in reads if name.startswith("/processing/")]
    assert sorted(name for name in reads if name.endswith("/data") and name not in spikes) == [
        f"/{summary.response_name}/data", f"/{summary.stimulus_name}/data"]
    assert spikes == ["/processing/spikes/Sweep_9/data"]  # and its spike times, no other sweep's


# --- pynwb ----------------------------------------------------------------------------------------------


def test_pynwb_opens_both_variants_and_its_notices_are_shown_once(tmp_path):
    import patchseq_intake.nwb.pynwb_file as pynwb_file
    from patchseq_intake.nwb.pynwb_file import read_nwb

    pynwb_file._shown.clear()
    files = [_write(tmp_path, layout, f"{name}.nwb") for name, layout in VARIANTS.items()]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for written in files * 2:
            with _open(written) as h5, read_nwb(h5) as nwb:
                response = nwb.acquisition[written.sweep(4).response_name.split("/")[1]]
                assert response.sweep_number == 4 and response.bias_current == pytest.approx(-12.0)
                assert len(nwb.sweep_table.get_series(4)) == 2
    texts = [str(w.message) for w in caught]
    assert texts and len(texts) == len({pynwb_file._QUOTED.sub("'…'", text) for text in texts})


def test_the_pynwb_default_layout_still_reads(tmp_path):
    from patchseq_intake.testing.nwb import write_cell_nwb

    written = write_cell_nwb(tmp_path / "pynwb.nwb", specimen_id=1, session_id=2, subject_id=3,
                             sweeps=varied_sweeps(scale=0.1, sampling_rate=RATE), cell=FAST_CELL)
    with _open(written) as h5:
        table = read_sweep_table(h5)
    summaries = [replace(s, set_sweep_count=None, scale_factor=None) for s in written.sweeps]  # no notebook
    _assert_rows(table, summaries)


# --- what real files may hold that the defaults do not ------------------------------------------------


def test_sweep_numbers_in_the_notebooks_first_layer_only_still_give_headstage_1_its_values(tmp_path):
    layout = MiesLayout(second_headstage=True, sweep_numbers_in_first_layer_only=True)
    written = _write(tmp_path, layout)
    with _open(written) as h5:
        notebook = h5["general/labnotebook/ITC18USB_Dev_0/numericalValues"]
        assert np.isnan(notebook[:64, 0, 1]).all()  # SweepNum: layer 0 only
        table = read_sweep_table(h5, headstage=1)
    _assert_rows(table, written.other_headstages[1])
    assert set(table["stimulus_scale_factor"]) == {1.0}


def test_the_headstage_is_the_electrodes_description_whatever_its_name(everything, tmp_path):
    renamed = tmp_path / "renamed.nwb"
    renamed.write_bytes(everything.path.read_bytes())
    with h5py.File(renamed, "r+") as h5:
        ephys = h5["general/intracellular_ephys"]
        ephys.move("electrode_0", "electrode_A")
        ephys.move("electrode_1", "electrode_B")
        for parent in ("acquisition", "stimulus/presentation"):
            for series in h5[parent].values():
                link = series.get("electrode", getlink=True)
                if link is not None:
                    del series["electrode"]
                    letter = "A" if link.path.endswith("_0") else "B"
                    series["electrode"] = h5py.SoftLink(f"/general/intracellular_ephys/electrode_{letter}")
    with h5py.File(renamed, "r") as h5:
        _assert_rows(read_sweep_table(h5, headstage=1), everything.other_headstages[1])
        assert read_sweep(h5, 4, headstage=1).v[0] == pytest.approx(
            read_sweep(h5py.File(everything.path, "r"), 4, headstage=1).v[0])


def test_a_stimulus_that_is_no_patch_clamp_series_is_an_error_not_an_i_equals_zero_sweep(tmp_path):
    written = _write(tmp_path, MiesLayout())
    with h5py.File(written.path, "r+") as h5:
        h5[written.sweep(4).stimulus_name].attrs["neurodata_type"] = "TimeSeries"
    with _open(written) as h5:
        with pytest.raises(NwbFormatError, match=r"sweep 4 has a response .* but no stimulus series, and is not an I=0"):
            read_sweep(h5, 4, label="cell 1")
        row = read_sweep_table(h5).set_index("sweep_number").loc[4]
    assert row["stimulus_units"] == "Amps" and row["clamp_mode"] == "CurrentClamp"  # the clamp's unit


def test_a_sweep_with_two_responses_is_left_out_of_the_table_and_refused(tmp_path):
    written = _write(tmp_path, MiesLayout())
    response = written.sweep(4).response_name
    with h5py.File(written.path, "r+") as h5:
        h5.copy(h5[response], "acquisition/data_00099_AD0")  # as a second device's, on the same headstage
        table = h5["general/intracellular_ephys/sweep_table"]
        for name, value in (("sweep_number", 4), ("series", h5["acquisition/data_00099_AD0"].ref)):
            table[name].resize((table[name].shape[0] + 1,))
            table[name][-1] = value
    with _open(written) as h5:
        with pytest.warns(UserWarning, match=r"sweeps \[4\] of headstage 0 have two series of a kind"):
            table = read_sweep_table(h5, label="cell 1")
        with pytest.raises(NwbFormatError, match=rf"sweep 4 of headstage 0 of device ITC18USB_Dev_0 has two series of a kind, /{response}"):
            read_sweep(h5, 4, label="cell 1")
    assert 4 not in set(table["sweep_number"]) and len(table) == len(written.sweeps) - 1
