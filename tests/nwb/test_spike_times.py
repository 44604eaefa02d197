"""The spike times a file holds (``processing/spikes``, as IPFX's pipeline appended them), read with h5py.

Three answers are told apart: no module (None for the file), a sweep the
module has no series for (None for it), an empty series (an empty array).
The files are the synthetic MIES writer's; damaged copies are made with h5py.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import h5py
import numpy as np
import pytest

from patchseq_intake.access.cell_index import DOWNLOADED, CellIndex, build_index
from patchseq_intake.access.table_prefetch import prefetch_sweep_table
from patchseq_intake.errors import NwbFormatError
from patchseq_intake.nwb.spikes import SPIKES_MODULE, spike_table, spike_times, sweep_spike_times
from patchseq_intake.nwb.sweeps import read_sweep
from patchseq_intake.testing.mies import MiesLayout, threshold_times, write_mies_nwb
from patchseq_intake.testing.physiology import CURRENT_CLAMP, IZERO, TEST, CellSpec, WrittenCell, varied_sweeps
from patchseq_intake.testing.server import LocalServer
from patchseq_intake.transport.remote_file import RemoteFile

RATE = 10_000.0


def _write(path: Path, layout: MiesLayout = MiesLayout()) -> WrittenCell:
    return write_mies_nwb(
        path, specimen_id=1, session_id=2, subject_id=3, sweeps=varied_sweeps(scale=0.1, sampling_rate=RATE),
        cell=CellSpec(tau_s=0.002), layout=layout,
    )


@pytest.fixture(scope="module")
def written(tmp_path_factory) -> WrittenCell:
    return _write(tmp_path_factory.mktemp("spikes") / "cell.nwb")


def _analysed(written: WrittenCell) -> list[int]:
    """The sweeps the writer gives a series: current clamp, not a test or I=0 sweep."""
    return [s.sweep_number for s in written.sweeps if s.clamp_mode == CURRENT_CLAMP and s.kind not in (IZERO, TEST)]


@pytest.fixture
def damaged(written, tmp_path):
    """A copy of the file to damage: ``damaged(edit)`` runs ``edit(module)`` on its spikes module, gives its path."""

    def damage(edit) -> Path:
        path = tmp_path / "damaged.nwb"
        shutil.copyfile(written.path, path)
        with h5py.File(path, "r+") as h5:
            edit(h5[SPIKES_MODULE])
        return path

    return damage


# --- what the file holds ------------------------------------------------------------------------------------


def test_every_analysed_sweep_has_its_spike_times_as_stored(written):
    """In s from IPFX's "experiment" epoch, 0.5 s before the stimulus: neither session time nor ``t``'s axis."""
    with h5py.File(written.path, "r") as h5:
        found = spike_times(h5, "cell")
    assert sorted(found) == _analysed(written)
    assert any(len(times) for times in found.values()) and any(not len(times) for times in found.values())
    for number, times in found.items():
        summary = written.sweep(number)
        assert times.dtype == np.float64
        expected = threshold_times(summary.spike_peak_times, summary.stimulus_start, summary.sampling_rate)
        np.testing.assert_allclose(times, expected)
        on_t = times + summary.stimulus_start - 0.5
        assert np.all((on_t > summary.stimulus_start) & (on_t < summary.stimulus_end))


def test_a_sweep_gets_its_own_spike_times_none_where_not_analysed(written):
    firing = next(s for s in written.sweeps if s.spike_peak_times)
    quiet = next(s for s in written.sweeps if s.kind == "long_square" and not s.spike_peak_times)
    with h5py.File(written.path, "r") as h5:
        sweep = read_sweep(h5, firing.sweep_number)
        np.testing.assert_array_equal(sweep.spike_times, spike_times(h5, "cell")[firing.sweep_number])
        empty = read_sweep(h5, quiet.sweep_number).spike_times
        assert empty is not None and empty.shape == (0,) and empty.dtype == np.float64
        assert read_sweep(h5, 0).spike_times is None  # a test sweep: not analysed
        assert sweep_spike_times(h5, 0, "cell") is None


def test_a_file_without_the_module_holds_no_spike_times(tmp_path):
    bare = _write(tmp_path / "bare.nwb", MiesLayout(spikes=False))
    with h5py.File(bare.path, "r") as h5:
        assert "processing" in h5 and SPIKES_MODULE not in h5
        assert spike_times(h5, "cell") is None
        firing = next(s for s in bare.sweeps if s.spike_peak_times)
        assert read_sweep(h5, firing.sweep_number).spike_times is None
    assert spike_table(None).empty and list(spike_table(None).columns) == ["sweep_number", "spike_time"]


def test_conversion_scales_the_stored_times_to_seconds(written, damaged):
    number = next(s.sweep_number for s in written.sweeps if s.spike_peak_times)

    def in_milliseconds(module):
        data = module[f"Sweep_{number}/data"]
        times = data[()] * 1e3
        del module[f"Sweep_{number}/data"]
        module[f"Sweep_{number}"].create_dataset("data", data=times.astype(np.float32)).attrs["conversion"] = 1e-3

    with h5py.File(written.path, "r") as h5:
        expected = spike_times(h5, "cell")[number]
    with h5py.File(damaged(in_milliseconds), "r") as h5:
        np.testing.assert_allclose(spike_times(h5, "cell")[number], expected, rtol=1e-6)
        assert spike_times(h5, "cell")[number].dtype == np.float64


@pytest.mark.parametrize(
    ("edit", "said"),
    [
        (lambda module: module.move(sorted(module)[0], "Sweep_x"), "Sweep_x is not named Sweep_<whole number>"),
        (lambda module: module.move(sorted(module)[0], "spikes_4"), "spikes_4 is not named Sweep_<whole number>"),
        (lambda module: module.create_dataset("Sweep_99", data=[0.1]), "Sweep_99 is a dataset"),
        (lambda module: module.create_group("Sweep_98"), "Sweep_98 has no data"),
        (lambda module: module.create_group("Sweep_97").create_dataset("data", data=np.zeros((2, 2))), "is 2-D"),
        (lambda module: module.create_group("Sweep_96").create_dataset("data", data=["0.1"]), "1-D and numeric"),
        (lambda module: module.copy(module[sorted(module)[0]], "Sweep_0" + sorted(module)[0][6:]), "repeats sweep"),
    ],
    ids=["not a number", "not Sweep_", "a dataset", "no data", "2-D", "text", "a number twice"],
)
def test_a_malformed_module_is_an_error_naming_the_file_the_group_and_the_right_form(damaged, edit, said):
    path = damaged(edit)
    with h5py.File(path, "r") as h5, pytest.raises(NwbFormatError) as raised:
        spike_times(h5, "the damaged cell")
    message = str(raised.value)
    assert said in message and "the damaged cell" in message and "processing/spikes/" in message
    assert "should be" in message


# --- the index keeps them -----------------------------------------------------------------------------------


def test_the_index_keeps_none_empty_and_times_apart(written, tmp_path):
    bare = _write(tmp_path / "bare.nwb", MiesLayout(spikes=False))
    for cell, expected_none in ((written, False), (bare, True)):
        with h5py.File(cell.path, "r") as h5:
            index = build_index(h5, "x" * 64, cell.size, DOWNLOADED, "cell")
            direct = spike_times(h5, "cell")
        again = CellIndex.from_json(index.to_json())
        assert (again.spikes is None) is expected_none
        for number in range(20):
            from_index = again.spike_times(number)
            if direct is None or number not in direct:
                assert from_index is None
            else:
                np.testing.assert_array_equal(from_index, direct[number])  # exactly, through JSON


# --- streamed: the header crawl fetches them ahead ----------------------------------------------------------


def test_after_the_sweep_tables_prefetch_the_spike_times_need_no_request(written):
    """Version-1 headers (the release's): the crawl takes the module's headers and chunk indexes, the table's
    wave of small datasets their data."""
    with LocalServer() as server:
        server.serve_file("/cell.nwb", written.path)
        remote = RemoteFile([f"{server.url}/cell.nwb"], written.size)
        with h5py.File(remote, "r") as h5:
            prefetch_sweep_table(h5, remote)
            fetched = remote.ranges_fetched
            streamed = spike_times(h5, "cell")
            assert remote.ranges_fetched == fetched
    with h5py.File(written.path, "r") as h5:
        local = spike_times(h5, "cell")
    assert streamed.keys() == local.keys()
    for number, times in local.items():
        np.testing.assert_array_equal(streamed[number], times)


# --- what IPFX's pipeline stores: the writer agrees with IPFX ------------------------------------------------


def test_the_writer_stores_what_ipfxs_feature_extraction_gives(tmp_path):
    """IPFX 2.1.2's ``extract_sweep_features`` (what ``run_feature_extraction`` stores) on a written file: its
    ``threshold_t`` equal the stored times within a sample, so both count from the "experiment" epoch."""
    pytest.importorskip("ipfx")
    from ipfx.data_set_features import extract_sweep_features
    from ipfx.dataset.create import create_ephys_data_set

    from patchseq_intake.testing.physiology import LONG_SQUARE, default_sweeps

    rate = 25_000.0
    firing = [s for s in default_sweeps(sampling_rate=rate) if s.kind == LONG_SQUARE][-2:]
    written = write_mies_nwb(tmp_path / "cell.nwb", specimen_id=1, session_id=2, subject_id=3, sweeps=firing)
    data_set = create_ephys_data_set(nwb_file=str(written.path))
    features, state = extract_sweep_features(data_set, data_set.sweep_table)
    assert not state["failed_fx"]
    with h5py.File(written.path, "r") as h5:
        stored = spike_times(h5, "cell")
    assert sorted(stored) == sorted(features) == [s.sweep_number for s in firing]
    for number, found in features.items():
        ipfx_times = [spike["threshold_t"] for spike in found["spikes"]]
        assert len(ipfx_times) == len(stored[number]) > 1
        np.testing.assert_allclose(stored[number], ipfx_times, atol=1.01 / rate)
        assert stored[number][0] < written.sweep(number).stimulus_start - 0.4  # on t's axis it follows the stimulus
