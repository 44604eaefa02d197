"""Several devices recording one headstage (MIES multi-device files), NWB 1 files and files without recordings.

The multi-device files are written as MIES's own test file is laid out (see
``testing.mies_devices``): ``Device:`` in the first sweep's wave note of each
device only, later sweeps told apart by their start in each device's notebook.
"""

from __future__ import annotations

import h5py
import numpy as np
import pytest

from patchseq_intake.access.cell_index import DOWNLOADED, CellIndex, build_index
from patchseq_intake.errors import InvalidQueryError, NwbFormatError, UnknownSweepError
from patchseq_intake.nwb.devices import DeviceChoiceError
from patchseq_intake.nwb.sweep_table import SWEEP_DTYPES, read_sweep_table
from patchseq_intake.nwb.sweeps import assemble, read_sweep
from patchseq_intake.testing.mies import MiesLayout
from patchseq_intake.testing.mies_devices import keep_device, write_mies_devices
from patchseq_intake.testing.physiology import default_sweeps

FIRST, SECOND = "ITC18USB_Dev_0", "Dev1"
RATE = 10_000.0


@pytest.fixture(scope="module")
def devices(tmp_path_factory):
    """Sweeps 0-4 of the first device and 0-2 of the second (their numbers overlap), other scale factors."""
    sweeps = default_sweeps(scale=0.1, sampling_rate=RATE)
    path = tmp_path_factory.mktemp("devices") / "two.nwb"
    return write_mies_devices(
        path, {FIRST: sweeps[:5], SECOND: sweeps[:3]}, layouts={SECOND: MiesLayout(scale_factors=(2.0, 1.0))}
    )


def _numbers(devices, device):
    return [summary.sweep_number for summary in devices.cells[device].sweeps]


def test_the_sweep_table_has_a_row_per_devices_sweep_with_its_device(devices):
    with h5py.File(devices.path, "r") as h5:
        table = read_sweep_table(h5)
    rows = [(row.device, row.sweep_number) for row in table.itertuples()]  # devices in the order they recorded
    assert rows == [(FIRST, n) for n in _numbers(devices, FIRST)] + [(SECOND, n) for n in _numbers(devices, SECOND)]
    assert table.groupby("device", sort=False)["starting_time"].min().is_monotonic_increasing
    scale = table.groupby("device")["stimulus_scale_factor"].unique()  # each device's own lab notebook
    assert list(scale[FIRST]) == [0.5] and list(scale[SECOND]) == [2.0]
    rates = {device: set(part["n_samples"]) for device, part in table.groupby("device")}
    assert rates == {device: {s.n_samples for s in devices.cells[device].sweeps} for device in (FIRST, SECOND)}


def test_a_device_parameter_keeps_its_sweeps_and_an_unknown_one_names_the_devices(devices):
    with h5py.File(devices.path, "r") as h5:
        second = read_sweep_table(h5, device=SECOND)
        with pytest.raises(InvalidQueryError, match=rf"no device 'Dev2' recorded there; its devices are '{SECOND}', '{FIRST}'"):
            read_sweep_table(h5, device="Dev2")
        with pytest.raises(UnknownSweepError, match=r"no recorded sweep 4 of device Dev1 on headstage 0; its sweeps are \[0, 1, 2\]"):
            read_sweep(h5, 4, device=SECOND)
    assert set(second["device"]) == {SECOND} and list(second["sweep_number"]) == _numbers(devices, SECOND)


def test_a_sweep_number_two_devices_recorded_needs_the_device_and_one_device_recorded_does_not(devices):
    with h5py.File(devices.path, "r") as h5:
        with pytest.raises(DeviceChoiceError, match=rf"sweep 1 of headstage 0 was recorded by 2 devices, {SECOND} and {FIRST}: "
                                                    rf"choose one with device='{SECOND}' or device='{FIRST}'") as error:
            read_sweep(h5, 1, label="the file")
        assert error.value.devices == [SECOND, FIRST] and isinstance(error.value, InvalidQueryError)
        first, second = read_sweep(h5, 1, device=FIRST), read_sweep(h5, 1, device=SECOND)
        only_first = read_sweep(h5, 4)  # only the first device recorded a sweep 4
        assert np.array_equal(only_first.v, read_sweep(h5, 4, device=FIRST).v)
    assert not (np.array_equal(first.v, second.v) and np.array_equal(first.i, second.i))  # two recordings
    for device, sweep in ((FIRST, first), (SECOND, second)):
        planned = next(s for s in devices.cells[device].sweeps if s.sweep_number == 1)
        assert len(sweep.t) <= planned.n_samples and sweep.sampling_rate == planned.sampling_rate


def test_each_devices_sweeps_equal_those_of_a_copy_holding_that_device_only(devices, tmp_path):
    with h5py.File(devices.path, "r") as h5:
        joined = read_sweep_table(h5)
        sweeps = {(row.device, row.sweep_number): read_sweep(h5, row.sweep_number, device=row.device)
                  for row in joined.itertuples()}
    for device in (FIRST, SECOND):
        alone = keep_device(devices.path, tmp_path / f"{device}.nwb", device, devices.series[device])
        with h5py.File(alone, "r") as h5:
            table = read_sweep_table(h5)
            mine = joined[joined["device"] == device].reset_index(drop=True)
            assert table.drop(columns="starting_time").equals(mine.drop(columns="starting_time"))
            for number in table["sweep_number"]:
                assert np.array_equal(read_sweep(h5, number).v, sweeps[(device, number)].v)


def test_the_files_index_gives_the_same_table_and_sweeps_as_the_file(devices):
    with h5py.File(devices.path, "r") as h5:
        table = read_sweep_table(h5)
        index = build_index(h5, "x", devices.path.stat().st_size, DOWNLOADED, "the file")
    index = CellIndex.from_json(index.to_json())  # as cached
    assert index.sweep_table(0, "the file").equals(table)
    assert index.sweep_table(0, "the file", device=SECOND).reset_index(drop=True).equals(
        table[table["device"] == SECOND].reset_index(drop=True))
    with pytest.raises(DeviceChoiceError, match=r"sweep 1 of headstage 0 was recorded by 2 devices"):
        index.sweep(1, 0, "the file")
    data = devices.path.read_bytes()
    with h5py.File(devices.path, "r") as h5:
        for device in (FIRST, SECOND):
            entry = index.sweep(1, 0, "the file", device)
            samples = [index.arrays[path].decode([data[o:o + n] for o, n in index.arrays[path].ranges()])
                       for path in entry.names()]
            streamed = assemble(entry.parts, samples[0], samples[1], trim=True)  # as stream mode decodes ranges
            assert np.array_equal(streamed.v, read_sweep(h5, 1, device=device).v)
            assert np.array_equal(streamed.i, read_sweep(h5, 1, device=device).i)


def test_without_a_device_line_or_a_notebook_start_the_devices_sweeps_stay_apart_as_ambiguous(devices, tmp_path):
    path = tmp_path / "untold.nwb"
    path.write_bytes(devices.path.read_bytes())
    with h5py.File(path, "r+") as h5:
        for parent in ("acquisition", "stimulus/presentation"):
            for series in h5[parent].values():
                series.attrs["comments"] = "HS#0:Headstage Active: On\r"
    with h5py.File(path, "r") as h5:
        with pytest.warns(UserWarning, match=r"sweeps \[0, 1, 2\] of headstage 0 have two series of a kind"):
            table = read_sweep_table(h5)
        with pytest.raises(NwbFormatError, match=r"sweep 1 of headstage 0 has two series of a kind"):
            read_sweep(h5, 1)
    assert list(table["sweep_number"]) == [4, 5] and table["device"].isna().all()  # the first device's alone


def test_the_columns_are_ipfxs_first_in_ipfxs_order_then_ours(devices):
    from tests.nwb.test_ipfx_agreement import IPFX_COLUMNS

    with h5py.File(devices.path, "r") as h5:
        columns = list(read_sweep_table(h5).columns)
    assert columns[: len(IPFX_COLUMNS)] == IPFX_COLUMNS and columns == list(SWEEP_DTYPES)
    assert columns[len(IPFX_COLUMNS)] == "device"


def test_an_nwb_1_file_says_so_with_its_version(tmp_path):
    path = tmp_path / "old.nwb"
    with h5py.File(path, "w") as h5:
        h5.create_dataset("nwb_version", data=np.array([b"NWB-1.0.5"]))
        h5.create_group("acquisition/timeseries/data_00000_AD0")
    with h5py.File(path, "r") as h5:
        for read in (read_sweep_table, lambda h5: read_sweep(h5, 0)):
            with pytest.raises(NwbFormatError, match=r"old.nwb is an NWB 1 file \(nwb_version 'NWB-1.0.5'\); only NWB 2"):
                read(h5)


def test_a_file_of_stimulus_sets_without_acquisition_series_says_so(tmp_path):
    path = tmp_path / "stimsets.nwb"
    with h5py.File(path, "w") as h5:
        h5.attrs["nwb_version"] = "2.9.0"
        h5.create_group("acquisition")
        h5.create_group("general/stimsets")
    with h5py.File(path, "r") as h5:
        with pytest.raises(NwbFormatError, match=r"stimsets.nwb \(NWB 2.9.0\) has no acquisition series: no recorded "
                                                 r"sweep \(it holds stimulus sets, general/stimsets\)"):
            read_sweep_table(h5)
