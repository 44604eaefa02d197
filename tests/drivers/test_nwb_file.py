"""``patchseq_intake.read_nwb``: one local NWB file, with the ephys source's surface; ``sweeps --file`` in the CLI."""

from __future__ import annotations

import gzip

import h5py
import numpy as np
import pytest

import patchseq_intake
from patchseq_intake.cli import main
from patchseq_intake.errors import InvalidQueryError, LocalFileMissingError, NwbFormatError
from patchseq_intake.nwb.devices import DeviceChoiceError
from patchseq_intake.nwb.sweep_table import read_sweep_table
from patchseq_intake.nwb.sweeps import read_sweep
from patchseq_intake.testing.mies import write_mies_nwb
from patchseq_intake.testing.mies_devices import write_mies_devices
from patchseq_intake.testing.nwb import write_cell_nwb
from patchseq_intake.testing.physiology import default_sweeps

RATE = 10_000.0


@pytest.fixture(scope="module")
def mies_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("mies") / "cell.nwb"
    return write_mies_nwb(path, specimen_id=1, session_id=2, subject_id=3, sweeps=default_sweeps(scale=0.1, sampling_rate=RATE))


@pytest.fixture(scope="module")
def two_devices(tmp_path_factory):
    sweeps = default_sweeps(scale=0.1, sampling_rate=RATE)
    return write_mies_devices(tmp_path_factory.mktemp("two") / "two.nwb", {"ITC18USB_Dev_0": sweeps[:4], "Dev1": sweeps[:2]})


def test_read_nwb_gives_the_sweep_table_and_sweeps_of_a_mies_file(mies_file):
    source = patchseq_intake.read_nwb(mies_file.path)
    with h5py.File(mies_file.path, "r") as h5:
        expected, fourth = read_sweep_table(h5), read_sweep(h5, 4)
    table = source.read()
    assert table.equals(expected) and set(table["device"]) == {"ITC18USB_Dev_0"}
    assert source.read_partition(0).equals(expected) and source.to_dask().compute().reset_index(drop=True).equals(expected)
    assert np.array_equal(source.sweep(4).v, fourth.v) and np.array_equal(source.sweep(4, trim=False).t[:10], fourth.t[:10])
    every = source.sweeps()
    assert [sweep.sweep_number for sweep in every] == list(expected["sweep_number"])
    assert [sweep.sweep_number for sweep in source.sweeps([4, 0])] == [4, 0]
    with source.open_nwb() as nwb:
        assert len(nwb.acquisition) == len(expected)


def test_read_nwb_reads_a_pynwb_file(tmp_path):
    written = write_cell_nwb(tmp_path / "pynwb.nwb", specimen_id=1, session_id=2, subject_id=3,
                             sweeps=default_sweeps(scale=0.1, sampling_rate=RATE))
    table = patchseq_intake.read_nwb(str(written.path)).read()
    assert list(table["sweep_number"]) == [s.sweep_number for s in written.sweeps]
    assert table["device"].notna().all()  # the device its electrode links to


def test_read_nwb_names_the_devices_where_a_sweep_number_is_ambiguous(two_devices):
    source = patchseq_intake.read_nwb(two_devices.path)
    assert list(source.read()["device"]) == ["ITC18USB_Dev_0"] * 4 + ["Dev1"] * 2  # in the order they recorded
    with pytest.raises(DeviceChoiceError, match=r"choose one with device='Dev1' or device='ITC18USB_Dev_0'"):
        source.sweep(0)
    assert len(source.sweeps()) == 6  # every row, each of its own device
    dev1 = patchseq_intake.read_nwb(two_devices.path, device="Dev1")
    assert list(dev1.read()["sweep_number"]) == [0, 1] and dev1.sweep(0).sweep_number == 0
    with pytest.raises(InvalidQueryError, match=r"device names no device \(it is empty\)"):
        patchseq_intake.read_nwb(two_devices.path, device="")


def test_read_nwb_refuses_what_is_not_an_nwb_file_naming_it(tmp_path, mies_file):
    with pytest.raises(LocalFileMissingError, match=rf"there is no file at {tmp_path}/none.nwb"):
        patchseq_intake.read_nwb(tmp_path / "none.nwb").read()
    with pytest.raises(InvalidQueryError, match=rf"{tmp_path} is a directory"):
        patchseq_intake.read_nwb(tmp_path).read()
    zipped = tmp_path / "cell.nwb.gz"
    zipped.write_bytes(gzip.compress(mies_file.path.read_bytes()))
    with pytest.raises(NwbFormatError, match=rf"{zipped} is gzip-compressed .*gunzip -c"):
        patchseq_intake.read_nwb(zipped).sweep(0)
    with pytest.raises(NwbFormatError) as refused:  # the advice names the file gunzip makes: cell.nwb
        patchseq_intake.read_nwb(zipped).read()
    assert f"gunzip -c '{zipped}' > '{tmp_path / 'cell.nwb'}'" in str(refused.value)
    (tmp_path / "cell.nwb").write_bytes(b"someone's file")  # the advice never overwrites a file that is there
    with pytest.raises(NwbFormatError) as refused:
        patchseq_intake.read_nwb(zipped).read()
    assert f"{tmp_path / 'cell.nwb'} exists already" in str(refused.value) and "gunzip -c" not in str(refused.value)
    text = tmp_path / "notes.nwb"
    text.write_text("not HDF5")
    with pytest.raises(NwbFormatError, match=rf"{text} is not an HDF5 file"):
        patchseq_intake.read_nwb(text).read()
    with pytest.raises(InvalidQueryError, match=r"path must be an NWB file's path"):
        patchseq_intake.read_nwb(5)


def test_the_cli_reads_a_file_with_file_and_device(two_devices, capsys):
    assert main(["sweeps", "--file", str(two_devices.path), "--format", "csv"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split(",")[9] == "device" and len(lines) == 7
    assert main(["sweeps", "--file", str(two_devices.path), "--sweep", "0"]) == 1
    assert "choose one with --device Dev1 or --device ITC18USB_Dev_0" in capsys.readouterr().err
    assert main(["sweeps", "--file", str(two_devices.path), "--sweep", "0", "--device", "Dev1", "--format", "csv"]) == 0
    assert capsys.readouterr().out.startswith("t_s,v_mv,i_pa")


@pytest.mark.parametrize("extra, message", [
    (["human", "541549258"], "--file reads the NWB file named: give no ARCHIVE or SPECIMEN_ID"),
    (["--access", "stream"], "--access chooses how a cell's file is reached: not with --file"),
    (["--root", "x", "--dandi-version", "draft"], "--root and --dandi-version choose how"),
])
def test_the_cli_refuses_file_with_a_cells_arguments(two_devices, capsys, extra, message):
    with pytest.raises(SystemExit) as done:
        main(["sweeps", "--file", str(two_devices.path), *extra])
    assert done.value.code == 2 and message in capsys.readouterr().err


def test_the_cli_asks_for_a_cell_or_a_file(capsys):
    with pytest.raises(SystemExit) as done:
        main(["sweeps"])
    assert done.value.code == 2 and "ARCHIVE SPECIMEN_ID (e.g. human 541549258), or an NWB file: --file PATH" in capsys.readouterr().err


def test_the_cli_names_a_file_that_is_not_an_nwb_file_without_pythons_words(tmp_path, capsys):
    text = tmp_path / "notes.txt"
    text.write_text("not HDF5")
    for path, said in ((tmp_path / "none.nwb", "there is no file at"), (text, "is not an HDF5 file")):
        assert main(["sweeps", "--file", str(path)]) == 1
        err = capsys.readouterr().err
        assert f"{path}" in err and said in err and "path must" not in err


def test_a_sweep_several_devices_recorded_is_read_by_naming_the_device_in_the_call(two_devices):
    """The choice error says device='...': sweep() and sweeps() take it, over the source's own."""
    source = patchseq_intake.read_nwb(two_devices.path)
    with pytest.raises(DeviceChoiceError):
        source.sweep(0)
    for device in ("Dev1", "ITC18USB_Dev_0"):
        alone = patchseq_intake.read_nwb(two_devices.path, device=device).sweep(0)
        assert np.array_equal(source.sweep(0, device=device).v, alone.v, equal_nan=True)
    assert [s.sweep_number for s in source.sweeps([1, 0], device="ITC18USB_Dev_0")] == [1, 0]
    assert len(source.sweeps(device="Dev1")) == 2  # every sweep of that device
    every = source.sweeps()  # each sweep says its device: sweeps 0 and 1 come twice
    table = source.read()
    assert [(s.device, s.sweep_number) for s in every] == list(zip(table["device"], table["sweep_number"]))
    assert [s.device for s in every][-2:] == ["Dev1", "Dev1"] and {s.device for s in every} == {"Dev1", "ITC18USB_Dev_0"}
    assert source.sweep(0, device="Dev1").device == "Dev1" and "Dev1)" in repr(source.sweep(0, device="Dev1"))
    with pytest.raises(InvalidQueryError, match=r"no device 'Dev7' recorded there"):
        source.sweep(0, device="Dev7")
